"""`lanyard bench agent`: how the event agent's own work compares with the crypto floor.

The registry benchmark (commands.py) says how fast Evaluate is; an organiser feels the
agent's speed instead: how long screening a ticketing export takes, how long a ticket sale
waits on Check, how soon a WG change reaches everyone already screened, and whether a huge
export fits in a small machine. This module measures those four from one run, against a
real registry on loopback and a real agent data directory, and prints each as a ratio to a
floor measured in the same run, because the machines here are shared and noisy:

* screening throughput of a generated pretix-style export (read, normalise, blind,
  evaluate, finalise, match, store), against the ideal wall time of the same identities'
  libsodium work spread over every core (agent and registry share this machine's cores);
* Check latency over loopback gRPC to the agent serving as its own process (`lanyard
  agent serve`), p50 and p99, for people the agent has not seen (a blinded round to the
  registry) and people it has, next to the p50 of a gRPC health check on the same server:
  the floor of one round trip; then from 8 and 32 callers at once, next to as many health
  checks from as many callers (the floor under that crowd: each call waits for those
  queued ahead of it);
* a sync of a one-record change (fetch, verify, persist, re-check whom it concerns), and
  a full re-check of every stored attendee against a tight loop over the tags it derives;
* the peak RSS of `lanyard screen` in a child process on a large generated export and on
  one a tenth its size: a ratio near 1.0 shows memory does not grow with the file.

The phases are timed in agent_phases.py on exports from export.py;
this module runs them, computes the figures and prints them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lanyard.cli.bench import agent_phases as phases
from lanyard.cli.bench.agent_phases import WARMUP_CHECKS, Bench, Latency, Memory, Recheck, Screening
from lanyard.cli.bench.export import Person, person, write_export
from lanyard.cli.bench.floors import (
    BUSY_ENOUGH,
    FLOOR_ROUNDS,
    FLOOR_WARMUP,
    agent_floor_seconds,
    available_cores,
    bytecode_note,
    point_check_seconds,
    proof_floor_seconds,
    registry_floor_seconds,
)
from lanyard.cli.output import CliError, console, table
from lanyard.client.admin import AdminClient
from lanyard.core import screen
from lanyard.core.channels import open_channel
from lanyard.registry import server

PROOF_BATCH = 1000  # points per Evaluate when screening (2 identities × 500 rows)
CHECK_POINTS = 2  # a new person's Check: a name and an e-mail, one Evaluate of 2 points
TARGET_THROUGHPUT_RATIO = 0.85
TARGET_CHECK_P99_MS = 3.0
TARGET_CHECK_P99_32_MS = 10.0
TARGET_RECHECK_S = 0.2
TARGET_PEAK_MB = 300.0
MIN_ROWS = 100
BACKGROUND_RECORDS = 50  # WG records nobody in the file matches: a snapshot of some size
BACKGROUND_FIRST = 10**9  # their people's numbers, far past any generated file
# --- floors -----------------------------------------------------------------------------


def tag_floor_seconds(iterations: int) -> float:
    """One core's cost of the tag a re-check derives per stored identity (spec §3)."""
    ys = [os.urandom(screen.POINT_BYTES) for _ in range(iterations)]

    def one_round(count: int) -> float:
        started = time.thread_time()
        for y in ys[:count]:
            screen.tag(1, y)
        return (time.thread_time() - started) / count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return min(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was really observed, never an interpolation."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# --- the whole run ----------------------------------------------------------------------


def _setup_records(rows: int) -> Iterator[tuple[str, str, Person]]:
    """Two people in the file are on the WG's list; the rest of the list matches nobody."""
    yield "BENCH-BAN", "banned", person(rows // 2)
    yield "BENCH-FLAG", "flagged", Person(person(rows // 2 + 1).name, None)
    for i in range(BACKGROUND_RECORDS):
        yield f"BENCH-BG-{i}", "flagged" if i % 2 else "banned", person(BACKGROUND_FIRST + i)


@dataclass(frozen=True, slots=True)
class Run:
    """What one run measured, before it becomes figures."""

    best: Screening
    recheck: Recheck
    latency: Latency
    memory: list[Memory]
    process: Memory  # `lanyard screen` of the same number of rows as a whole process


async def _run(
    workdir: Path, rows: int, checks: int, memory_sizes: Sequence[int], rounds: int
) -> Run:
    rdir = await server.init_registry(workdir / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as reg:
        channel = open_channel(reg.address)
        try:
            bench = Bench(workdir, reg, AdminClient(channel, rdir.admin_key()))
            for ref, status, p in _setup_records(rows):
                await bench.add_record(ref, status, p)
            path = workdir / "export.csv"
            identities = await asyncio.to_thread(write_export, path, rows)
            # Each pass screens the same file into a fresh agent: nothing is known yet. The
            # last one also serves the Check calls (one caller, then 8 and 32 at once): at
            # most two evaluations each.
            calls = WARMUP_CHECKS + (1 + len(phases.CONCURRENT_CALLERS)) * checks
            quota = phases.quota(identities + 2 * calls)
            passes = [
                await phases.screen_once(bench, str(r + 1), path, quota) for r in range(rounds)
            ]
            # The last agent holds exactly the file's attendees: re-check them, then serve
            # Check from it (which adds people, so it comes after).
            last = passes[-1].adir
            recheck = await phases.recheck(bench, last, rows, rounds)
            latency = await phases.check_latency(last, rows, checks)
            # Best of `rounds`, like the passes above: a noisy second does not decide it.
            runs = [
                await phases.peak_memory(bench, rows, label=f"process{r + 1}")
                for r in range(rounds)
            ]
            process = min(runs, key=lambda m: m.seconds)
            memory = [await phases.peak_memory(bench, n) for n in memory_sizes]
        finally:
            await channel.close()
    return Run(min(passes, key=lambda p: p.seconds), recheck, latency, memory, process)


def memory_sizes(memory_rows: int) -> tuple[int, int]:
    """The large export and the one a tenth its size that it is compared with."""
    return max(1, memory_rows // 10), memory_rows


async def measure(
    rows: int = 10_000,
    checks: int = 1000,
    memory_rows: int = 1_000_000,
    skip_memory: bool = False,
    rounds: int = 3,
    floor_iterations: int = 3000,
) -> dict[str, float]:
    """Every figure of `lanyard bench agent`, measured in one run, nothing printed."""
    if rows < MIN_ROWS:
        raise CliError(f"rows must be at least {MIN_ROWS}")
    if checks < 2:
        raise CliError("checks must be at least 2: someone new and someone known")
    if min(rounds, floor_iterations) < 1:
        raise CliError("rounds and floor iterations must be ≥ 1")
    if not skip_memory and memory_rows < MIN_ROWS:
        raise CliError(f"memory rows must be at least {MIN_ROWS}")
    # Floors first, on an otherwise idle process: single thread, nothing else running.
    agent_eval_s = agent_floor_seconds(floor_iterations)
    registry_eval_s = registry_floor_seconds(floor_iterations)
    # The proof's share (spec §3a), over batches the size screening sends.
    agent_s = agent_eval_s + proof_floor_seconds(floor_iterations, PROOF_BATCH, verifier=True)
    registry_s = registry_eval_s + proof_floor_seconds(
        floor_iterations, PROOF_BATCH, verifier=False
    )
    tag_s = tag_floor_seconds(floor_iterations)
    check_b_s = point_check_seconds(floor_iterations)
    # A new person's Check: its 2 identities' spec operations, both sides, with the
    # proof over a batch of 2 (dearer per point than over a screening batch).
    check_crypto_s = CHECK_POINTS * (
        agent_eval_s
        + registry_eval_s
        + proof_floor_seconds(floor_iterations, CHECK_POINTS, verifier=True)
        + proof_floor_seconds(floor_iterations, CHECK_POINTS, verifier=False)
    )
    cores = available_cores()
    sizes = () if skip_memory else memory_sizes(memory_rows)
    with tempfile.TemporaryDirectory(prefix="lanyard-bench-agent-") as tmp:
        run = await _run(Path(tmp), rows, checks, sizes, rounds)

    best, recheck, lat = run.best, run.recheck, run.latency
    identity_s = agent_s + registry_s
    # The floor counts what the registry actually evaluated (a row's attendee and buyer,
    # each identical identifier once), not what the file names.
    ideal = best.evaluations * identity_s / cores
    everyone = lat.new_ms + lat.known_ms
    round_trip = percentile(lat.health_ms, 50)
    recheck_floor = recheck.identities * tag_s
    f: dict[str, float] = {
        "rows": rows,
        "checks": checks,
        "rounds": rounds,
        "cores": cores,
        "agent_floor_us": agent_s * 1e6,
        "agent_eval_floor_us": agent_eval_s * 1e6,
        "agent_proof_cost": agent_s / agent_eval_s,
        "registry_floor_us": registry_s * 1e6,
        "registry_eval_floor_us": registry_eval_s * 1e6,
        "registry_proof_cost": registry_s / registry_eval_s,
        "tag_floor_us": tag_s * 1e6,
        "point_check_us": check_b_s * 1e6,
        # throughput
        "screen_seconds": best.seconds,
        "screen_rows_per_s": rows / best.seconds,
        "screen_screened": best.screened,
        "screen_identities": best.identities,
        "screen_evaluations": best.evaluations,
        "screen_cpu_seconds": best.cpu_seconds,
        "screen_ideal_seconds": ideal,
        # ratio = cpu_efficiency * cpu_busy: work beyond the floor, or cores left idle?
        "screen_cpu_efficiency": ideal * cores / best.cpu_seconds,
        "screen_cpu_busy": best.cpu_seconds / (best.seconds * cores),
        # The whole machine meanwhile, whoever used it: near 1 with screen_cpu_busy well
        # below it means other programs took the cores (-1: unknown here).
        "screen_machine_busy": best.machine_busy,
        "throughput_ratio": ideal / best.seconds,
        "throughput_ratio_eval_floor": (
            best.identities * (agent_eval_s + registry_eval_s) / cores / best.seconds
        ),
        "target_throughput_ratio": TARGET_THROUGHPUT_RATIO,
        # Check
        "check_new_p50_ms": percentile(lat.new_ms, 50),
        "check_new_p99_ms": percentile(lat.new_ms, 99),
        "check_known_p50_ms": percentile(lat.known_ms, 50),
        "check_known_p99_ms": percentile(lat.known_ms, 99),
        "check_p50_ms": percentile(everyone, 50),
        "check_p99_ms": percentile(everyone, 99),
        **{
            f"check_{n}_callers_{key}": value
            for n, (answered, failed) in lat.concurrent.items()
            for key, value in (
                ("p50_ms", percentile(answered or [float("inf")], 50)),
                ("p99_ms", percentile(answered or [float("inf")], 99)),
                ("errors", failed),
            )
        },
        **{
            f"health_{n}_callers_{key}": percentile(floor or [float("inf")], q)
            for n, floor in lat.concurrent_health.items()
            for key, q in (("p50_ms", 50), ("p99_ms", 99))
        },
        # The floor of a new person's Check: two round trips (caller to agent, agent to
        # registry) and the crypto; of a known person's, one round trip.
        "check_crypto_floor_ms": check_crypto_s * 1000,
        "check_new_floor_ms": 2 * round_trip + check_crypto_s * 1000,
        "check_new_ratio": (2 * round_trip + check_crypto_s * 1000) / percentile(lat.new_ms, 50),
        "check_known_ratio": round_trip / percentile(lat.known_ms, 50),
        "round_trip_p50_ms": round_trip,
        "round_trip_p99_ms": percentile(lat.health_ms, 99),
        "check_p99_round_trips": percentile(everyone, 99) / round_trip,
        "target_check_p99_ms": TARGET_CHECK_P99_MS,
        # re-check
        "recheck_attendees": recheck.attendees,
        "recheck_identities": recheck.identities,
        "recheck_alerts": recheck.alerts,
        "sync_seconds": recheck.sync_s,
        "recheck_seconds": recheck.recheck_s,
        "recheck_floor_seconds": recheck_floor,
        "recheck_ratio": recheck_floor / recheck.recheck_s,
        "target_recheck_s": TARGET_RECHECK_S,
        # `lanyard screen` as a person runs it: a new process, start-up included.
        "process_seconds": run.process.seconds,
        "process_ratio": run.process.identities * identity_s / cores / run.process.seconds,
        "process_peak_mb": run.process.peak_mb,
        # Where that run's CPU went, per identity, beside each side's floor: the agent's
        # own process (file, normalisation, storage, gRPC), its crypto workers, the
        # registry's process (gRPC, quota, evaluation log) and its workers.
        **{
            f"process_{part}_cpu_us": cpu / run.process.identities * 1e6
            for part, cpu in (
                ("agent", run.process.agent_cpu),
                ("agent_workers", run.process.agent_workers_cpu),
                ("registry", run.process.registry_cpu),
                ("registry_workers", run.process.registry_workers_cpu),
            )
        },
    }
    if run.memory:
        small, large = run.memory
        f |= {
            "memory_small_rows": small.rows,
            "memory_small_peak_mb": small.peak_mb,
            "memory_small_seconds": small.seconds,
            "memory_rows": large.rows,
            "memory_peak_mb": large.peak_mb,
            "memory_seconds": large.seconds,
            "memory_rows_per_s": large.rows / large.seconds,
            # The same throughput ratio, sustained over the large file in `lanyard screen`.
            "memory_throughput_ratio": large.identities * identity_s / cores / large.seconds,
            "memory_growth": large.peak_mb / small.peak_mb,
            "target_peak_mb": TARGET_PEAK_MB,
        }
    return f


def figures(
    rows: int = 10_000,
    checks: int = 1000,
    memory_rows: int = 1_000_000,
    skip_memory: bool = False,
    rounds: int = 3,
    floor_iterations: int = 3000,
) -> dict[str, float]:
    """measure(), from synchronous code."""
    return asyncio.run(measure(rows, checks, memory_rows, skip_memory, rounds, floor_iterations))


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(f: dict[str, float]) -> None:
    rows, cores, rt = int(f["rows"]), int(f["cores"]), f["round_trip_p50_ms"]

    def check(key: str) -> tuple[str, str]:
        p50, p99 = f[f"{key}_p50_ms"], f[f"{key}_p99_ms"]
        return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", f"{p50 / rt:.1f} / {p99 / rt:.1f} round trips"

    def crowd(n: int) -> tuple[str, str]:
        p99, failed = f[f"check_{n}_callers_p99_ms"], int(f[f"check_{n}_callers_errors"])
        floor99 = f[f"health_{n}_callers_p99_ms"]
        verdict = ""
        if n == 32:
            ok = p99 <= TARGET_CHECK_P99_32_MS and failed == 0
            verdict = f" (target p99 ≤ {TARGET_CHECK_P99_32_MS:g} ms, none: {_verdict(ok)})"
        return (
            f"p50 {f[f'check_{n}_callers_p50_ms']:.2f} ms, p99 {p99:.2f} ms",
            f"p99 ×{p99 / floor99:.1f} of the health crowd's; {failed} failed{verdict}",
        )

    def health_crowd(n: int) -> tuple[str, str, str]:
        p50, p99 = f[f"health_{n}_callers_p50_ms"], f[f"health_{n}_callers_p99_ms"]
        return (
            f"  health, {n} callers at once",
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
            f"the floor under {n} callers",
        )

    recheck_floor = f"floor {f['recheck_floor_seconds'] * 1000:.1f} ms"
    recheck_target = f"target ≤ {f['target_recheck_s']} s"
    lines: list[tuple[str, str, str]] = [
        (
            "agent floor, 1 core",
            f"{f['agent_floor_us']:.1f} µs/identity",
            f"with the proof check; ×{f['agent_proof_cost']:.2f} of "
            f"{f['agent_eval_floor_us']:.1f} without",
        ),
        (
            "registry floor, 1 core",
            f"{f['registry_floor_us']:.1f} µs/identity",
            f"with the proof; ×{f['registry_proof_cost']:.2f} of "
            f"{f['registry_eval_floor_us']:.1f} without",
        ),
        ("tag floor, 1 core", f"{f['tag_floor_us']:.2f} µs/tag", ""),
        ("cores", f"{cores}, shared by agent and registry", ""),
        (
            f"screen {rows:,} rows",
            f"{f['screen_seconds']:.2f} s, {f['screen_rows_per_s']:,.0f} rows/s, "
            f"{int(f['screen_identities']):,} identities",
            f"ideal {f['screen_ideal_seconds']:.2f} s: ratio {f['throughput_ratio']:.2f} "
            f"(target ≥ {f['target_throughput_ratio']}: "
            f"{_verdict(f['throughput_ratio'] >= f['target_throughput_ratio'])})",
        ),
        (
            "  against the floor without the proof",
            "",
            f"ratio {f['throughput_ratio_eval_floor']:.2f}",
        ),
        (
            "  process CPU",
            f"{f['screen_cpu_seconds']:.2f} s: {f['screen_cpu_busy']:.0%} of {cores} cores busy"
            + (
                f" (machine: {f['screen_machine_busy']:.0%})"
                if f["screen_machine_busy"] >= 0
                else ""
            ),
            f"floor CPU / CPU used: {f['screen_cpu_efficiency']:.2f}",
        ),
        (
            "gRPC round trip (health)",
            f"p50 {rt:.2f} ms, p99 {f['round_trip_p99_ms']:.2f} ms",
            "the floor",
        ),
        ("Check, new people", *check("check_new")),
        (
            "  its floor",
            f"{f['check_new_floor_ms']:.2f} ms: 2 round trips + "
            f"{f['check_crypto_floor_ms']:.2f} ms of crypto",
            f"p50 ratio {f['check_new_ratio']:.2f}",
        ),
        ("Check, known people", *check("check_known")),
        ("  its floor", f"{rt:.2f} ms: 1 round trip", f"p50 ratio {f['check_known_ratio']:.2f}"),
        (
            f"Check, all {int(f['checks']):,} calls",
            check("check")[0],
            f"{check('check')[1]} (target p99 ≤ {f['target_check_p99_ms']} ms: "
            f"{_verdict(f['check_p99_ms'] <= f['target_check_p99_ms'])})",
        ),
        *(
            line
            for n in phases.CONCURRENT_CALLERS
            for line in (health_crowd(n), (f"Check, {n} callers at once", *crowd(n)))
        ),
        (
            f"sync of one new record, {int(f['recheck_attendees']):,} attendees held",
            f"{f['sync_seconds'] * 1000:.1f} ms",
            f"its re-check included ({recheck_target}: "
            f"{_verdict(f['sync_seconds'] <= f['target_recheck_s'])})",
        ),
        (
            "  full re-check of everyone",
            f"{f['recheck_seconds'] * 1000:.1f} ms",
            f"{recheck_floor}: ratio {f['recheck_ratio']:.2f} ({recheck_target}: "
            f"{_verdict(f['recheck_seconds'] <= f['target_recheck_s'])})",
        ),
    ]
    lines.append(
        (
            "`lanyard screen`, whole process",
            f"{f['process_seconds']:.2f} s (start-up included), {f['process_peak_mb']:.0f} MB",
            f"ratio {f['process_ratio']:.2f} (target ≥ {f['target_throughput_ratio']}: "
            f"{_verdict(f['process_ratio'] >= f['target_throughput_ratio'])})",
        )
    )
    # The registry's workers against what the spec has them do: the floor and the check.
    registry_due = f["registry_floor_us"] + f["point_check_us"]
    lines += [
        (
            "  its CPU per identity: agent",
            f"{f['process_agent_cpu_us']:.0f} µs itself + "
            f"{f['process_agent_workers_cpu_us']:.0f} µs in workers",
            f"floor {f['agent_floor_us']:.0f} µs (workers: ×"
            f"{f['process_agent_workers_cpu_us'] / f['agent_floor_us']:.2f})",
        ),
        (
            "  its CPU per identity: registry",
            f"{f['process_registry_cpu_us']:.0f} µs itself + "
            f"{f['process_registry_workers_cpu_us']:.0f} µs in workers",
            f"floor {f['registry_floor_us']:.0f} µs + {f['point_check_us']:.0f} µs of the "
            f"§3 check on B (workers: ×"
            f"{f['process_registry_workers_cpu_us'] / registry_due:.2f})",
        ),
    ]
    if "memory_rows" in f:
        small = int(f["memory_small_rows"])
        lines += [
            (
                f"peak RSS, {small:,} rows",
                f"{f['memory_small_peak_mb']:.1f} MB ({f['memory_small_seconds']:.0f} s)",
                "",
            ),
            (
                f"peak RSS, {int(f['memory_rows']):,} rows",
                f"{f['memory_peak_mb']:.1f} MB ({f['memory_seconds']:.0f} s, "
                f"{f['memory_rows_per_s']:,.0f} rows/s: ratio "
                f"{f['memory_throughput_ratio']:.2f})",
                f"×{f['memory_growth']:.2f} of {small:,} rows (target ≤ "
                f"{f['target_peak_mb']:.0f} MB: "
                f"{_verdict(f['memory_peak_mb'] <= f['target_peak_mb'])})",
            ),
        ]
    else:
        lines.append(("peak RSS", "skipped (--skip-memory)", ""))
    table(
        f"Agent benchmark: {rows:,} rows, best of {int(f['rounds'])}",
        ["figure", "value", "against the floor (target)"],
        lines,
    )
    if f["throughput_ratio"] < f["target_throughput_ratio"] and f["screen_cpu_busy"] < BUSY_ENOUGH:
        others = f["screen_machine_busy"] - f["screen_cpu_busy"]
        console.print(
            f"Screening kept only {f['screen_cpu_busy']:.0%} of {cores} cores busy"
            + (
                f" while the machine was {f['screen_machine_busy']:.0%} busy: other programs "
                f"took about {others:.0%} of it"
                if f["screen_machine_busy"] >= 0
                else ""
            )
            + "; run again on a quiet machine before reading the ratio (the CPU ratio, floor "
            "CPU / CPU used, does not depend on it)."
        )
    if note := bytecode_note():
        console.print(note)
