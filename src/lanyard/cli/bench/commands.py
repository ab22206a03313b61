"""`lanyard bench registry`: how close the registry's Evaluate comes to the crypto floor.

Performance budgets here are ratios against the crypto floor measured in the same run
(DESIGN.md, "Performance budgets"), so they hold on any machine. This command is where
those numbers come from: a benchmark a person runs, not a timed test. From one run it
prints

* the crypto floor per core: a tight single-thread loop over the libsodium calls one
  identity costs on the agent's side (spec SCREEN-v1 §2-§3: hash to group, blind,
  finalise) and on the registry's side (§3: check the point, multiply by k), each with
  its share of the batch's evaluation proof (§3a: the registry proves, the agent
  verifies), and what the proof costs as a multiple of the floor without it;
* the registry's Evaluate throughput over loopback gRPC, batches of `--batch` points, one
  call at a time and `--in-flight` calls at once, through the real server, store and
  client;
* the ratio of the better throughput to the floor of what this process does per point
  times the cores the registry's evaluation pool used: the registry's evaluation and
  proof, and the client's check of that proof (it runs here too, on the same cores, as
  every caller's does); and the same throughput against the old floor, evaluation alone.
  The target is at least 0.8: PyNaCl releases the GIL inside libsodium, so evaluation
  and proof in a thread pool can use every core, and the rest is overhead.

Floors and passes are each the best of a few rounds, so a noisy second does not decide the
ratio. The registry, its store and the client share this process, so the process CPU time
per pass says whether the cores were really the registry's: a low ratio with idle cores
means another program was using them, not that the registry is slow.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import nacl.signing
import typer

from lanyard.cli.bench import records as bench_records
from lanyard.cli.bench.child import tree_cpu_seconds
from lanyard.cli.bench.floors import (
    BUSY_ENOUGH,
    agent_floor_seconds,
    available_cores,
    bench_messages,
    proof_floor_seconds,
    registry_floor_seconds,
)
from lanyard.cli.output import CliError, console, emit_json, table
from lanyard.client.admin import AdminClient
from lanyard.client.registry import RegistryClient
from lanyard.core import blinding, screen
from lanyard.core.channels import open_channel
from lanyard.registry import server

TARGET_RATIO = 0.8
EVENT_ID = "bench-registry"

bench_app = typer.Typer(
    help="Benchmarks against the crypto floor (not tests: run them, read the figures).",
    no_args_is_help=True,
)


@dataclass(frozen=True, slots=True)
class Pass:
    """One timed pass over every batch."""

    per_s: float  # identities evaluated per second of wall time
    cpu_busy: float  # process CPU seconds / (wall seconds * cores): 1.0 = every core busy


async def _evaluate_all(
    client: RegistryClient, epoch: int, batches: Sequence[list[bytes]], in_flight: int
) -> Pass:
    """Evaluate every batch, keeping `in_flight` calls outstanding."""
    pending = iter(batches)

    async def worker() -> None:
        for b in pending:  # one shared iterator: each batch goes to exactly one worker
            evaluated = await client.evaluate(epoch, b)
            if len(evaluated) != len(b):
                raise CliError(f"registry answered {len(evaluated)} points for {len(b)} sent")

    # This process's CPU and its worker processes' (the registry evaluates in them).
    cpu_started, started = tree_cpu_seconds(os.getpid()), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    wall = time.perf_counter() - started
    cpu = tree_cpu_seconds(os.getpid()) - cpu_started
    return Pass(sum(map(len, batches)) / wall, cpu / (wall * available_cores()))


async def _throughput(
    workdir: Path, points: list[bytes], batch: int, in_flight: int, rounds: int
) -> tuple[Pass, Pass]:
    """The best of `rounds` passes one call at a time, and `in_flight` calls at a time."""
    batches = [points[i : i + batch] for i in range(0, len(points), batch)]
    warmup = batches[:in_flight]
    rdir = await server.init_registry(workdir / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as reg:
        if batch > reg.service.max_batch:
            raise CliError(
                f"batch of {batch} is over the registry's limit of {reg.service.max_batch}"
            )
        channel = open_channel(reg.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            event_key = nacl.signing.SigningKey.generate()
            today = date.today()
            enrolled = await admin.enroll_event(
                EVENT_ID,
                "Registry benchmark",
                today,
                today + timedelta(days=1),
                bytes(event_key.verify_key),
                quota=2 * rounds * len(points) + sum(map(len, warmup)),
            )
            client = RegistryClient(channel, EVENT_ID, event_key, enrolled.registry_public_key)
            epoch = reg.service.epoch
            # Warm-up: connection, auth path, and every evaluation thread started.
            await _evaluate_all(client, epoch, warmup, in_flight)
            passes: dict[int, list[Pass]] = {1: [], in_flight: []}
            for _ in range(rounds):  # interleaved, so a noisy second hurts both alike
                for n in (1, in_flight):
                    passes[n].append(await _evaluate_all(client, epoch, batches, n))
        finally:
            await channel.close()

    def best(n: int) -> Pass:
        return max(passes[n], key=lambda p: p.per_s)

    return best(1), best(in_flight)


async def measure(
    identities: int = 20_000,
    batch: int = 1000,
    in_flight: int = 2,
    rounds: int = 3,
    floor_iterations: int = 3000,
    records: int = 0,
    million: bool = False,
) -> dict[str, float]:
    """Every figure of `lanyard bench registry`, measured in one run, nothing printed.
    `records` > 0 adds the record figures (bench/records.py); `million` their 1M size."""
    if min(identities, batch, in_flight, rounds, floor_iterations) < 1:
        raise CliError("identities, batch, in-flight, rounds and floor iterations must be ≥ 1")
    # Floors first, on an otherwise idle process: single thread, nothing else running.
    agent_eval_s = agent_floor_seconds(floor_iterations)
    registry_eval_s = registry_floor_seconds(floor_iterations)
    verify_s = proof_floor_seconds(floor_iterations, batch, verifier=True)
    prove_s = proof_floor_seconds(floor_iterations, batch, verifier=False)
    agent_s, registry_s = agent_eval_s + verify_s, registry_eval_s + prove_s
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # Client-side blinding happens here, outside every timed region.
        points = await blinding.run_chunked(
            bench_messages(identities), lambda ms, _o: [screen.blind(m).blinded for m in ms], pool
        )
    with tempfile.TemporaryDirectory(prefix="lanyard-bench-") as tmp:
        sequential, concurrent = await _throughput(Path(tmp), points, batch, in_flight, rounds)
    cores = available_cores()
    # Per point, this process evaluates and proves (the registry) and verifies (the client).
    floor_per_s = 1.0 / (registry_s + verify_s)
    headline = max(sequential, concurrent, key=lambda p: p.per_s)
    extra = await bench_records.measure(records, agent_s, registry_s, million) if records else {}
    return extra | {
        "identities": identities,
        "batch": batch,
        "in_flight": in_flight,
        "rounds": rounds,
        "agent_floor_us": agent_s * 1e6,
        "agent_eval_floor_us": agent_eval_s * 1e6,
        "agent_proof_cost": agent_s / agent_eval_s,
        "registry_floor_us": registry_s * 1e6,
        "registry_eval_floor_us": registry_eval_s * 1e6,
        "registry_proof_cost": registry_s / registry_eval_s,
        "client_verify_floor_us": verify_s * 1e6,
        "floor_per_s": floor_per_s,
        "cores": cores,
        "sequential_per_s": sequential.per_s,
        "concurrent_per_s": concurrent.per_s,
        "throughput_per_s": headline.per_s,
        "cpu_busy": headline.cpu_busy,
        "ratio": headline.per_s / (floor_per_s * cores),
        "ratio_eval_floor": headline.per_s * registry_eval_s / cores,
        "target_ratio": TARGET_RATIO,
    }


def figures(
    identities: int = 20_000,
    batch: int = 1000,
    in_flight: int = 2,
    rounds: int = 3,
    floor_iterations: int = 3000,
    records: int = 0,
    million: bool = False,
) -> dict[str, float]:
    """measure(), from synchronous code."""
    return asyncio.run(
        measure(identities, batch, in_flight, rounds, floor_iterations, records, million)
    )


def _print_table(f: dict[str, float]) -> None:
    verdict = "meets target" if f["ratio"] >= TARGET_RATIO else "BELOW target"
    cores = int(f["cores"])
    table(
        f"Registry benchmark: {int(f['identities'])} identities, batches of {int(f['batch'])}, "
        f"best of {int(f['rounds'])}",
        ["figure", "value"],
        [
            (
                "agent floor, 1 core",
                f"{f['agent_floor_us']:.1f} µs/identity with the proof check, "
                f"{f['agent_eval_floor_us']:.1f} without: ×{f['agent_proof_cost']:.2f}",
            ),
            (
                "registry floor, 1 core",
                f"{f['registry_floor_us']:.1f} µs/identity with the proof, "
                f"{f['registry_eval_floor_us']:.1f} without: ×{f['registry_proof_cost']:.2f}",
            ),
            ("client's proof check, 1 core", f"{f['client_verify_floor_us']:.1f} µs/identity"),
            (
                "floor of this process, 1 core",
                f"{f['floor_per_s']:,.0f} identities/s (registry and its client)",
            ),
            ("cores (evaluation threads)", f"{cores}"),
            ("Evaluate, 1 call at a time", f"{f['sequential_per_s']:,.0f} identities/s"),
            (
                f"Evaluate, {int(f['in_flight'])} calls in flight",
                f"{f['concurrent_per_s']:,.0f} identities/s",
            ),
            ("Evaluate throughput (better)", f"{f['throughput_per_s']:,.0f} identities/s"),
            ("  process CPU / (wall × cores)", f"{f['cpu_busy']:.0%}"),
            (
                "ratio to floor × cores",
                f"{f['ratio']:.2f} (target ≥ {TARGET_RATIO}: {verdict})",
            ),
            ("  against evaluation alone (no proof)", f"{f['ratio_eval_floor']:.2f}"),
        ],
    )
    if "import_s" in f:
        bench_records.print_table(f)
    if f["ratio"] < TARGET_RATIO and f["cpu_busy"] < BUSY_ENOUGH:
        console.print(
            f"The registry kept only {f['cpu_busy']:.0%} of {cores} cores busy: if anything "
            "else was running, run again on a quiet machine before reading the ratio."
        )


FloorIterations = Annotated[
    int, typer.Option(min=1, help="Iterations of each single-thread floor loop.")
]


@bench_app.command("registry")
def bench_registry(
    identities: Annotated[
        int, typer.Option(min=1, help="Identities evaluated per throughput pass.")
    ] = 20_000,
    batch: Annotated[int, typer.Option(min=1, help="Points per Evaluate call.")] = 1000,
    in_flight: Annotated[
        int, typer.Option(min=1, help="Evaluate calls outstanding in the concurrent passes.")
    ] = 2,
    rounds: Annotated[
        int, typer.Option(min=1, help="Passes of each kind; the fastest is reported.")
    ] = 3,
    floor_iterations: FloorIterations = 3000,
    records: Annotated[
        int,
        typer.Option(
            min=0,
            help="Two-identifier records imported (record import, add and sync figures); "
            "0 leaves them out.",
        ),
    ] = 10_000,
    million: Annotated[
        bool,
        typer.Option(
            "--million",
            help="Also grow the snapshot to about 1,000,000 entries and time add and sync "
            "there (minutes, and hundreds of MB).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> dict[str, float]:
    """Measure the crypto floor, the registry's Evaluate throughput, and record import,
    add and sync against it."""
    if not json_out:
        console.print("Measuring the crypto floor, then Evaluate over loopback gRPC…")
    result = figures(identities, batch, in_flight, rounds, floor_iterations, records, million)
    if json_out:
        emit_json(result)
    else:
        _print_table(result)
    return result


@bench_app.command("agent")
def bench_agent(
    rows: Annotated[
        int, typer.Option(min=100, help="Rows of the generated export screened per pass.")
    ] = 10_000,
    checks: Annotated[
        int, typer.Option(min=2, help="Check calls timed over gRPC, half of them new people.")
    ] = 1000,
    memory_rows: Annotated[
        int,
        typer.Option(
            min=100, help="Rows of the export whose peak memory is measured (and a tenth of it)."
        ),
    ] = 1_000_000,
    skip_memory: Annotated[
        bool, typer.Option("--skip-memory", help="Leave out the peak-memory screens (slow).")
    ] = False,
    rounds: Annotated[
        int, typer.Option(min=1, help="Screening and re-check passes; the fastest is reported.")
    ] = 3,
    floor_iterations: FloorIterations = 3000,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> dict[str, float]:
    """Measure the agent: screening throughput, Check latency, re-check time, peak memory."""
    from lanyard.cli.bench import agent

    if not json_out:
        console.print(
            "Measuring the crypto floor, then screening, Check and re-check against a "
            "loopback registry"
            + ("…" if skip_memory else f", then peak memory over {memory_rows:,} rows…")
        )
    result = agent.figures(rows, checks, memory_rows, skip_memory, rounds, floor_iterations)
    if json_out:
        emit_json(result)
    else:
        agent.print_table(result)
    return result


@bench_app.command("peer")
def bench_peer(
    server_set: Annotated[
        int, typer.Option("--server", min=1, help="Identifiers in the server's set.")
    ] = 10_000,
    client_set: Annotated[
        int, typer.Option("--client", min=1, help="Identifiers in the client's set.")
    ] = 10_000,
    overlap: Annotated[
        int, typer.Option(min=0, help="Identifiers in both sets (the first of each).")
    ] = 1000,
    rounds: Annotated[
        int, typer.Option(min=1, help="Runs of each side, interleaved; the best is reported.")
    ] = 3,
    floor_iterations: FloorIterations = 3000,
    psi_python: Annotated[
        Path | None,
        typer.Option(
            help="An interpreter that already imports OpenMined PSI (nothing is installed "
            "into it); without it, a venv of its own is built under --venv on first use."
        ),
    ] = None,
    venv: Annotated[
        Path | None,
        typer.Option(help="Where PSI's own venv is built and reused (default: the cache dir)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> dict[str, float]:
    """Run the same job through OpenMined PSI 2.0.6 and through Lanyard; print Lanyard / PSI.

    PSI runs in a venv of its own, in a separate process: openmined.psi pins protobuf
    6.30.2 exactly and Lanyard pins protobuf 7, so they cannot share an environment and
    PSI cannot be an optional extra of Lanyard's. The first run builds that venv (pip
    installs openmined.psi, which needs a package index); later runs reuse it.
    """
    from lanyard.cli.bench import peer

    python = peer.ensure_psi(psi_python, venv or peer.default_venv())
    if not json_out:
        console.print(
            f"Measuring the crypto floor, then {rounds} run(s) of each side: OpenMined PSI, "
            "then record import and `lanyard screen` against a loopback registry…"
        )

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="lanyard-bench-peer-") as tmp:
            return await peer.measure(
                python, Path(tmp), server_set, client_set, overlap, rounds, floor_iterations
            )

    result = asyncio.run(run())
    if json_out:
        emit_json(result)
    else:
        peer.print_table(result)
    return result
