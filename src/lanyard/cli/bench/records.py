"""`lanyard bench registry`'s record figures: importing, adding one record, syncing.

What the WG feels when its list grows, measured against a real registry on loopback:

* importing `records` two-identifier records (an e-mail address and a one-form name)
  through `AdminClient.add_records` in batches, exactly as `lanyard registry record import`
  does (blinded round, AddRecords, one transaction and one snapshot version per batch),
  against the crypto floor for the same identifiers: the agent-side floor (hash to group,
  blind, finalise) plus the registry floor (one multiplication), one core, from the same
  run. The goal is at most twice that floor;
* one AddRecord (blinded round included) and an event's sync of the one-record delta it
  causes (StreamSnapshot since the version held, verified), at each size the snapshot passes
  through: about 100 entries, then the size after the import, then (with --million) about
  1,000,000 entries, where the extra entries are seeded through AddRecords with random
  points, which needs no blinded round;
* the full download and verification of the snapshot at each of those sizes.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import grpc
import nacl.signing

from lanyard.cli.bench.child import lanyard_argv, require_proc, run_measured, serving
from lanyard.cli.bench.enrol import enrol_agent
from lanyard.cli.output import CliError, table
from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import screen
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.core.workers import Workers
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir

IMPORT_BATCH = 500  # the CLI's default --batch-size
TARGET_IMPORT_RATIO = 2.0
# Record adds (each followed by a sync) timed at each size; the median is reported. A
# handful more than the few of a quiet machine: on a shared one a burst of other work
# (the registry folding the import's write-ahead log, say) moves a median of five.
SAMPLES = 15
ADD_GOAL_MS = 20.0
SYNC_GOAL_MS = 20.0
FIRST_SYNC_GOAL_S = 30.0
MEMORY_GOAL_MB = 300.0
SEED_RECORDS = 1000
SEED_POINTS = 10  # per seeded record: 10,000 points per AddRecords call
EVENT_ID = "bench-records"


def bench_record(prefix: str, i: int) -> NewRecord:
    """Two identifiers, two forms: an e-mail address and a name with no §5a variant."""
    return NewRecord(
        f"{prefix}-{i}",
        "flagged",
        [
            Identifier(Kind.EMAIL, f"{prefix.lower()}{i}@example.org"),
            Identifier(Kind.NAME, f"Bench Listed {prefix}{i}"),
        ],
    )


async def _import(channel: grpc.aio.Channel, rdir: RegistryDir, prefix: str, count: int) -> float:
    """Seconds to add `count` records in IMPORT_BATCH batches, as `record import` does
    (its crypto in worker processes)."""
    batches = (
        [bench_record(prefix, i) for i in range(start, min(count, start + IMPORT_BATCH))]
        for start in range(0, count, IMPORT_BATCH)
    )
    workers = Workers("lanyard-import")
    try:
        admin = AdminClient(channel, rdir.admin_key(), executor=workers)
        started = time.perf_counter()
        async for _ in admin.add_record_batches(batches):
            pass
        return time.perf_counter() - started
    finally:
        workers.shutdown(cancel_futures=True)


async def _seed(admin: AdminClient, prefix: str, points: int) -> None:
    """About `points` more snapshot entries, through AddRecords with random valid points."""
    epoch = await admin.current_epoch()
    for batch_no, start in enumerate(range(0, points, SEED_RECORDS * SEED_POINTS)):
        count = min(SEED_RECORDS * SEED_POINTS, points - start)
        items = [
            (
                f"{prefix}-{batch_no}-{i}",
                "flagged",
                None,
                [screen.hash_to_group(os.urandom(16)) for _ in range(SEED_POINTS)],
            )
            for i in range(-(-count // SEED_POINTS))
        ]
        await admin.upload_points(items, epoch)


async def _one_change(
    admin: AdminClient, client: RegistryClient, held: LocalSnapshot, prefix: str
) -> tuple[float, float, float, LocalSnapshot]:
    """(median AddRecord ms, median one-record delta sync ms, full download+verify s)."""
    adds: list[float] = []
    syncs: list[float] = []
    for i in range(SAMPLES):
        record = bench_record(prefix, i)
        started = time.perf_counter()
        await admin.add_record(record.record_ref, record.status, record.identifiers)
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        held = await client.refresh(held)
        syncs.append(time.perf_counter() - started)
    started = time.perf_counter()
    held = await client.refresh(LocalSnapshot())
    full = time.perf_counter() - started
    return statistics.median(adds) * 1e3, statistics.median(syncs) * 1e3, full, held


async def _first_sync(
    admin: AdminClient, workdir: Path, address: str, label: str
) -> tuple[float, float]:
    """(seconds, peak MB) of `lanyard check` in a new process for a freshly enrolled agent:
    start-up, the whole snapshot streamed, verified and stored, then one blinded Check."""
    adir = await enrol_agent(admin, workdir, address, f"{EVENT_ID}-{label}", quota=10)
    argv = lanyard_argv(
        "check", "--data-dir", str(adir.path), "--email", "nobody@example.org", "--json"
    )
    done = await run_measured(argv, workdir, f"first-sync-{label}")
    if done.returncode != 0:
        raise CliError(f"`lanyard check` exited with status {done.returncode}: {done.stderr_tail}")
    if json.loads(done.stdout)["decision"] != "allow":
        raise CliError("`lanyard check` of a person on no list did not answer allow")
    return done.seconds, done.peak_mb


async def measure(
    records: int, agent_floor_s: float, registry_floor_s: float, million: bool
) -> dict[str, float]:
    """The record figures, against a registry served by a child process (so that its
    memory is its own); nothing printed."""
    if records < 1:
        raise CliError("--records must be at least 1")
    require_proc()
    out: dict[str, float] = {"records": records}
    with tempfile.TemporaryDirectory(prefix="lanyard-bench-records-") as tmp:
        work = Path(tmp)
        rdir = await server.init_registry(work / "registry", listen="127.0.0.1:0")
        argv = lanyard_argv("registry", "serve", "--data-dir", str(rdir.path))
        async with serving(argv, rdir.endpoint_path, work / "registry.log") as reg:
            channel = open_channel(reg.address)
            try:
                admin = AdminClient(channel, rdir.admin_key())
                key = nacl.signing.SigningKey.generate()
                today = date.today()
                enrolled = await admin.enroll_event(
                    EVENT_ID, "Records benchmark", today, today + timedelta(days=1),
                    bytes(key.verify_key), quota=1,
                )  # fmt: skip
                client = RegistryClient(channel, EVENT_ID, key, enrolled.registry_public_key)
                held = LocalSnapshot()

                async def at_size(size: str, prefix: str) -> None:
                    nonlocal held
                    add, sync, full, held = await _one_change(admin, client, held, prefix)
                    out.update(
                        {
                            f"{size}_entries": len(held.entries),
                            f"{size}_add_ms": add,
                            f"{size}_sync_ms": sync,
                            f"{size}_full_s": full,
                        }
                    )
                    seconds, peak = await _first_sync(admin, work, reg.address, size)
                    out[f"{size}_first_sync_s"] = seconds
                    out[f"{size}_first_sync_mb"] = peak

                await _import(channel, rdir, "SMALL", 50)
                held = await client.refresh(LocalSnapshot())
                await at_size("small", "S")
                seconds = await _import(channel, rdir, "IMP", records)
                floor = 2 * records * (agent_floor_s + registry_floor_s)
                out |= {"import_s": seconds, "import_floor_s": floor}
                out |= {"import_ratio": seconds / floor, "import_target": TARGET_IMPORT_RATIO}
                await at_size("large", "L")
                if million:
                    started = time.perf_counter()
                    await _seed(admin, "SEED", 1_000_000 - len(held.entries))
                    out["million_seed_s"] = time.perf_counter() - started
                    await at_size("million", "M")
                out["registry_peak_mb"] = reg.peak_mb()
            finally:
                await channel.close()
    out["bench_peak_mb"] = _rss_mb()
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(f: dict[str, float]) -> None:
    """The record figures of `lanyard bench registry`."""
    verdict = "meets target" if f["import_ratio"] <= TARGET_IMPORT_RATIO else "ABOVE target"
    rows = [
        (
            f"import {int(f['records']):,} records (2 identifiers each)",
            f"{f['import_s']:.2f} s",
        ),
        ("  crypto floor for them, 1 core", f"{f['import_floor_s']:.2f} s"),
        (
            "  import / floor",
            f"{f['import_ratio']:.2f} (target ≤ {TARGET_IMPORT_RATIO:g}: {verdict})",
        ),
    ]

    def goal(value: float, target: float) -> str:
        return f"(goal ≤ {target:g}: {'met' if value <= target else 'NOT met'})"

    for size in ("small", "large", "million"):
        if f"{size}_entries" not in f:
            continue
        entries = int(f[f"{size}_entries"])
        add, sync = f[f"{size}_add_ms"], f[f"{size}_sync_ms"]
        first, first_mb = f[f"{size}_first_sync_s"], f[f"{size}_first_sync_mb"]
        rows += [
            (f"one AddRecord at {entries:,} entries", f"{add:.1f} ms {goal(add, ADD_GOAL_MS)}"),
            (
                f"  one-record delta sync at {entries:,}",
                f"{sync:.1f} ms {goal(sync, SYNC_GOAL_MS)}",
            ),
            (
                f"  full download + verify at {entries:,} (in process)",
                f"{f[f'{size}_full_s']:.2f} s",
            ),
            (
                "  a new agent's first `lanyard check` (whole process)",
                f"{first:.1f} s {goal(first, FIRST_SYNC_GOAL_S)}, peak {first_mb:.0f} MB "
                f"{goal(first_mb, MEMORY_GOAL_MB)}",
            ),
        ]
    if "million_seed_s" in f:
        rows.append(("seeding to 1,000,000 entries", f"{f['million_seed_s']:.0f} s"))
    registry_mb = f["registry_peak_mb"]
    rows.append(
        (
            "peak RSS of the registry process",
            f"{registry_mb:.0f} MB {goal(registry_mb, MEMORY_GOAL_MB)}",
        )
    )
    rows.append(("peak RSS of this process (the event's client)", f"{f['bench_peak_mb']:.0f} MB"))
    table("Records: import, add and sync (same run, same floors)", ["figure", "value"], rows)
