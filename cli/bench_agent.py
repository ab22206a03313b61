"""`lanyard bench agent`: how the event agent's own work compares with the crypto floor.

The registry benchmark (cli/bench.py) says how fast Evaluate is; an organiser feels the
agent's speed instead: how long screening a ticketing export takes, how long a ticket sale
waits on Check, how soon a WG change reaches everyone already screened, and whether a huge
export fits in a small machine. This module measures those four from one run, against a
real registry on loopback and a real agent data directory, and prints each as a ratio to a
floor measured in the same run, because the machines here are shared and noisy:

* screening throughput of a generated pretix-style export (read, normalise, blind,
  evaluate, finalise, match, store), against the ideal wall time of the same identities'
  libsodium work spread over every core (agent and registry share this machine's cores);
* Check latency over loopback gRPC, p50 and p99, for people the agent has not seen (a
  blinded round to the registry) and people it has, next to the p50 of a gRPC health check
  on the same server: the floor of one round trip;
* re-checking every stored attendee against a new snapshot version (sync: fetch, verify,
  persist, re-check) and the re-check alone, against a tight loop over the tags it derives;
* the peak RSS of `lanyard screen` in a child process on a large generated export and on
  one a tenth its size: a ratio near 1.0 shows memory does not grow with the file.

The generator lives here, not in scripts/, because scripts/ is not part of the package.
Every generated person is unique (a family name coded from the row number), so each
identity costs one blinded round: nothing is answered from the store and the floor is
exactly the work done.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.admin_client import AdminClient, Identifier
from cli.bench import (
    BUSY_ENOUGH,
    FLOOR_ROUNDS,
    FLOOR_WARMUP,
    agent_floor_seconds,
    available_cores,
    registry_floor_seconds,
)
from cli.output import CliError, console, table
from lanyard.agent.v1 import screening_pb2, screening_pb2_grpc
from services.core import auth, screen
from services.core.channels import open_channel
from services.core.identity import Kind
from services.event_agent import server as agent_server
from services.event_agent.csv_import import open_export
from services.event_agent.datadir import AgentDir
from services.event_agent.screening import screen_export
from services.registry import server

TARGET_THROUGHPUT_RATIO = 0.85
TARGET_CHECK_P99_MS = 5.0
TARGET_RECHECK_S = 0.2
TARGET_PEAK_MB = 300.0
MIN_ROWS = 100
EVENT_PREFIX = "bench-agent"
BACKGROUND_RECORDS = 50  # WG records nobody in the file matches: a snapshot of some size
BACKGROUND_FIRST = 10**9  # their people's numbers, far past any generated file
WARMUP_CHECKS = 20
CHECK_METHOD = "/lanyard.agent.v1.Screening/Check"
INTEGRATION = "bench"
MB = 1_000_000
MEMORY_POLL_SECONDS = 0.05

# --- a synthetic pretix export --------------------------------------------------------------

HEADER = (
    "Order code",
    "Position ID",
    "Status",
    "Email",
    "Order date",
    "Product",
    "Price",
    "Attendee name",
    "Attendee email",
    "Company",
)
# Given names in several scripts, so normalisation does the work a real list costs it.
_GIVEN = (
    "Alex",
    "Priya",
    "Daniel",
    "Chloe",
    "Amara",
    "Lucas",
    "Hannah",
    "Kofi",
    "Léonie",
    "Björn",
    "Søren",
    "Łukasz",
    "Ana Lúcia",
    "Íñigo",
    "Renée",
    "Ömer",
    "Νίκος",
    "Ελένη",
    "Ольга",
    "Дмитрий",
    "ليلى",
    "נועה",
    "अनन्या",
    "さくら",
    "민준",
    "芳",
)
# Sixteen syllables, distinct after normalisation: family names code the row number.
_SYLLABLES = (
    "ba",
    "ke",
    "lo",
    "mi",
    "nu",
    "ra",
    "se",
    "ti",
    "vo",
    "za",
    "dré",
    "fe",
    "gø",
    "ho",
    "ju",
    "py",
)
_DOMAINS = ("example.org", "example.com", "example.net")
_PRODUCTS = (
    ("Conference ticket", "240.00"),
    ("Student ticket", "60.00"),
    ("Supporter ticket", "400.00"),
    ("Workshop day", "90.00"),
)
_COMPANIES = ("", "", "", "Example Cooperative", "Demo Labs", "Sample University")
_NO_EMAIL_EVERY = 20  # one attendee in twenty gave no e-mail: screened by name alone
_ASCII_SPELLINGS = str.maketrans({"ł": "l", "ø": "o"})


def _family(index: int) -> str:
    """A family name unique to `index`: its last syllable, then bijective base 16."""
    parts = [_SYLLABLES[index % 16]]
    n = index // 16 + 1
    while n:
        n, digit = divmod(n - 1, 16)
        parts.append(_SYLLABLES[digit])
    return "".join(parts).capitalize()


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_ASCII_SPELLINGS))
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


@dataclass(frozen=True, slots=True)
class Person:
    """One generated attendee; `email` is None when the ticket did not ask for one."""

    name: str
    email: str | None

    @property
    def identifiers(self) -> list[Identifier]:
        found = [Identifier(Kind.NAME, self.name)]
        return found if self.email is None else [Identifier(Kind.EMAIL, self.email), *found]


def person(index: int) -> Person:
    """The person on generated row `index` (0-based): the same one in every file."""
    given, family = _GIVEN[(index * 7) % len(_GIVEN)], _family(index)
    email = f"{_ascii(given) or 'attendee'}.{_ascii(family)}@{_DOMAINS[index % 3]}"
    no_email = index % _NO_EMAIL_EVERY == _NO_EMAIL_EVERY - 1
    return Person(f"{given} {family}", None if no_email else email)


def write_export(path: Path, rows: int) -> int:
    """Write a pretix-style export of `rows` people, one row at a time (never the whole
    file in memory); returns the identities it holds (a name each, most an e-mail too)."""
    identities = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for index in range(rows):
            p = person(index)
            product, price = _PRODUCTS[index % len(_PRODUCTS)]
            identities += 1 if p.email is None else 2
            writer.writerow(
                (
                    f"B{index:07d}",
                    "1",
                    "Paid",
                    p.email or f"buyer.{index}@example.org",
                    (date(2027, 1, 4) + timedelta(days=index % 120)).isoformat(),
                    product,
                    price,
                    p.name,
                    p.email or "",
                    _COMPANIES[index % len(_COMPANIES)],
                )
            )
    return identities


# --- floors -----------------------------------------------------------------------------


def tag_floor_seconds(iterations: int) -> float:
    """One core's cost of the tag a re-check derives per stored identity (spec §3)."""
    ys = [os.urandom(screen.POINT_BYTES) for _ in range(iterations)]

    def one_round(count: int) -> float:
        started = time.perf_counter()
        for y in ys[:count]:
            screen.tag(1, y)
        return (time.perf_counter() - started) / count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return min(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was really observed, never an interpolation."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# --- set-up -----------------------------------------------------------------------------


@dataclass
class Bench:
    """The registry every phase talks to, and how to enrol one more agent against it."""

    workdir: Path
    reg: server.RunningRegistry
    admin: AdminClient

    async def enrolled_agent(self, name: str, quota: int) -> AgentDir:
        """A fresh agent data directory, enrolled as its own event (its own quota)."""
        event_id = f"{EVENT_PREFIX}-{name}"
        adir = AgentDir(self.workdir / event_id)
        public = agent_server.init_agent(adir, "127.0.0.1:0")
        today = date.today()
        ends = today + timedelta(days=1)
        response = await self.admin.enroll_event(
            event_id, f"Agent benchmark {name}", today, ends, public, quota
        )
        bundle = self.workdir / f"{event_id}.json"
        bundle.write_text(
            json.dumps(
                {
                    "format": "lanyard-enrolment/1",
                    "event_id": event_id,
                    "event_name": f"Agent benchmark {name}",
                    "endpoint": self.reg.address,
                    "registry_public_key": response.registry_public_key.hex(),
                    "suite": response.suite,
                    "starts_on": today.isoformat(),
                    "ends_on": ends.isoformat(),
                }
            ),
            encoding="utf-8",
        )
        adir.pin(bundle)
        return adir

    async def evaluations_used(self, adir: AgentDir) -> int:
        event_id = adir.enrolment().event_id
        events = await self.admin.list_events()
        return next(int(e.evaluations_used) for e in events if e.event_id == event_id)

    async def add_record(self, ref: str, status: str, p: Person) -> None:
        await self.admin.add_record(ref, status, p.identifiers)


def _quota(evaluations: int) -> int:
    return 2 * evaluations + 1000


# --- throughput and re-check ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Screening:
    """One timed `screen_export` of the whole file into a fresh agent."""

    adir: AgentDir
    seconds: float
    cpu_seconds: float  # this process's: agent, registry and their threads together
    screened: int
    identities: int
    evaluations: int


async def _screen_once(bench: Bench, name: str, path: Path, quota: int) -> Screening:
    adir = await bench.enrolled_agent(name, quota)
    async with agent_server.opened(adir) as agent:
        cpu_started, started = time.process_time(), time.perf_counter()
        outcome = await screen_export(agent, open_export(path))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stored = len(await agent.store.identities(agent.snapshot.epoch))
    return Screening(
        adir,
        wall,
        cpu,
        outcome.report.screened,
        stored,
        await bench.evaluations_used(adir),
    )


@dataclass(frozen=True, slots=True)
class Recheck:
    sync_s: float
    recheck_s: float
    attendees: int
    identities: int
    alerts: int


async def _recheck(bench: Bench, adir: AgentDir, rows: int, rounds: int) -> Recheck:
    """Best of `rounds`: the WG adds a record for someone already screened, the agent
    syncs (fetch, verify, persist, re-check everyone); then the re-check alone."""
    sync_times: list[float] = []
    recheck_times: list[float] = []
    alerts = 0
    async with agent_server.opened(adir) as agent:
        attendees = await agent.store.attendee_count()
        identities = len(await agent.store.identities(agent.snapshot.epoch))
        for r in range(rounds):
            await bench.add_record(f"BENCH-NEW-{r}", "banned", person(rows // 2 + 2 + r))
            started = time.perf_counter()
            raised = await agent.sync()
            sync_times.append(time.perf_counter() - started)
            alerts += len(raised)
            started = time.perf_counter()
            await agent.recheck()
            recheck_times.append(time.perf_counter() - started)
    return Recheck(min(sync_times), min(recheck_times), attendees, identities, alerts)


# --- Check latency ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    new_ms: list[float]
    known_ms: list[float]
    health_ms: list[float]


async def _check_latency(adir: AgentDir, rows: int, checks: int) -> Latency:
    """`checks` Check calls, alternately someone new and someone already screened, each
    after one health check on the same channel (the round-trip floor, under the same
    noise). Nothing else is in flight: this is the latency one ticket sale sees."""
    async with agent_server.running(adir, "127.0.0.1:0") as ra:
        agent = ra.agent
        key = await agent.add_integration(INTEGRATION)
        signer = auth.CallSigner(f"integration:{INTEGRATION}", key)
        channel = open_channel(ra.address)
        try:
            stub = screening_pb2_grpc.ScreeningStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            # The follower syncs as the server starts; wait for it, not in the timings.
            await agent.sync()
            new_people = iter(range(rows, rows + WARMUP_CHECKS + checks))

            async def one(i: int, new: bool) -> tuple[float, float]:
                started = time.perf_counter()
                await health.Check(health_pb2.HealthCheckRequest(service=""))
                health_s = time.perf_counter() - started
                p = person(next(new_people) if new else (i * 7919) % rows)
                request = screening_pb2.CheckRequest(
                    name=p.name,
                    email=p.email or "",
                    role=screening_pb2.ROLE_ATTENDEE,
                    caller_ref=f"bench-{i}",
                )
                metadata = signer.metadata(CHECK_METHOD)  # the caller's work, not the agent's
                started = time.perf_counter()
                await stub.Check(request, metadata=metadata)
                return health_s * 1000, (time.perf_counter() - started) * 1000

            for i in range(WARMUP_CHECKS):
                await one(i, i % 2 == 0)
            result = Latency([], [], [])
            for i in range(checks):
                new = i % 2 == 0
                health_ms, check_ms = await one(i, new)
                result.health_ms.append(health_ms)
                (result.new_ms if new else result.known_ms).append(check_ms)
        finally:
            await channel.close()
    return result


# --- peak memory ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Memory:
    rows: int
    identities: int
    peak_mb: float
    seconds: float  # the whole child process: start-up, screening, report


def _high_water_bytes(pid: int) -> int | None:
    """VmHWM of a live process: the peak RSS of its own address space, never shrinking.

    Not wait4's ru_maxrss: Linux carries the parent's high-water mark into a child across
    vfork and exec, so every child would report at least this process's peak."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # exited (and perhaps already reaped) between polls
        return None
    return None  # a zombie's status has no Vm lines


async def _peak_memory(bench: Bench, rows: int) -> Memory:
    """`lanyard screen` on a generated export of `rows` rows in a child process, served
    by this process's registry; its peak RSS is its VmHWM, polled until it exits."""
    if _high_water_bytes(os.getpid()) is None:
        raise CliError("peak memory is read from /proc/PID/status (Linux); use --skip-memory")
    path = bench.workdir / f"memory-{rows}.csv"
    identities = await asyncio.to_thread(write_export, path, rows)
    adir = await bench.enrolled_agent(f"mem-{rows}", _quota(identities))
    out, err = bench.workdir / f"memory-{rows}.out", bench.workdir / f"memory-{rows}.err"
    argv = ["-m", "cli.main", "screen", str(path), "--data-dir", str(adir.path), "--json"]
    peak = 0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
        exited = asyncio.ensure_future(proc.wait())
        try:
            while not exited.done():
                peak = max(peak, _high_water_bytes(proc.pid) or 0)
                await asyncio.wait({exited}, timeout=MEMORY_POLL_SECONDS)
        finally:
            if not exited.done():
                proc.kill()
                await exited
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = err.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise CliError(
            f"`lanyard screen` of {rows} rows exited with status {proc.returncode}: "
            + " / ".join(tail)
        )
    screened = int(json.loads(out.read_text(encoding="utf-8"))["summary"]["screened"])
    if screened != rows:
        raise CliError(f"`lanyard screen` screened {screened} of {rows} generated rows")
    path.unlink()  # a million rows is ~140 MB: not kept while the next one is written
    return Memory(rows, identities, peak / MB, seconds)


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
            # last one also serves the Check calls: at most two evaluations each.
            quota = _quota(identities + 2 * (WARMUP_CHECKS + checks))
            passes = [await _screen_once(bench, str(r + 1), path, quota) for r in range(rounds)]
            # The last agent holds exactly the file's attendees: re-check them, then serve
            # Check from it (which adds people, so it comes after).
            last = passes[-1].adir
            recheck = await _recheck(bench, last, rows, rounds)
            latency = await _check_latency(last, rows, checks)
            memory = [await _peak_memory(bench, n) for n in memory_sizes]
        finally:
            await channel.close()
    return Run(min(passes, key=lambda p: p.seconds), recheck, latency, memory)


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
    agent_s = agent_floor_seconds(floor_iterations)
    registry_s = registry_floor_seconds(floor_iterations)
    tag_s = tag_floor_seconds(floor_iterations)
    cores = available_cores()
    sizes = () if skip_memory else memory_sizes(memory_rows)
    with tempfile.TemporaryDirectory(prefix="lanyard-bench-agent-") as tmp:
        run = await _run(Path(tmp), rows, checks, sizes, rounds)

    best, recheck, lat = run.best, run.recheck, run.latency
    identity_s = agent_s + registry_s
    ideal = best.identities * identity_s / cores
    everyone = lat.new_ms + lat.known_ms
    round_trip = percentile(lat.health_ms, 50)
    recheck_floor = recheck.identities * tag_s
    f: dict[str, float] = {
        "rows": rows,
        "checks": checks,
        "rounds": rounds,
        "cores": cores,
        "agent_floor_us": agent_s * 1e6,
        "registry_floor_us": registry_s * 1e6,
        "tag_floor_us": tag_s * 1e6,
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
        "throughput_ratio": ideal / best.seconds,
        "target_throughput_ratio": TARGET_THROUGHPUT_RATIO,
        # Check
        "check_new_p50_ms": percentile(lat.new_ms, 50),
        "check_new_p99_ms": percentile(lat.new_ms, 99),
        "check_known_p50_ms": percentile(lat.known_ms, 50),
        "check_known_p99_ms": percentile(lat.known_ms, 99),
        "check_p50_ms": percentile(everyone, 50),
        "check_p99_ms": percentile(everyone, 99),
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
        "sync_ratio": recheck_floor / recheck.sync_s,
        "recheck_ratio": recheck_floor / recheck.recheck_s,
        "target_recheck_s": TARGET_RECHECK_S,
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

    recheck_floor = f"floor {f['recheck_floor_seconds'] * 1000:.1f} ms"
    recheck_target = f"target ≤ {f['target_recheck_s']} s"
    lines: list[tuple[str, str, str]] = [
        ("agent floor, 1 core", f"{f['agent_floor_us']:.1f} µs/identity", ""),
        ("registry floor, 1 core", f"{f['registry_floor_us']:.1f} µs/identity", ""),
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
            "  process CPU",
            f"{f['screen_cpu_seconds']:.2f} s: {f['screen_cpu_busy']:.0%} of {cores} cores busy",
            f"floor CPU / CPU used: {f['screen_cpu_efficiency']:.2f}",
        ),
        (
            "gRPC round trip (health)",
            f"p50 {rt:.2f} ms, p99 {f['round_trip_p99_ms']:.2f} ms",
            "the floor",
        ),
        ("Check, new people", *check("check_new")),
        ("Check, known people", *check("check_known")),
        (
            f"Check, all {int(f['checks']):,} calls",
            check("check")[0],
            f"{check('check')[1]} (target p99 ≤ {f['target_check_p99_ms']} ms: "
            f"{_verdict(f['check_p99_ms'] <= f['target_check_p99_ms'])})",
        ),
        (
            f"sync + re-check {int(f['recheck_attendees']):,}",
            f"{f['sync_seconds'] * 1000:.1f} ms",
            f"{recheck_floor}: ratio {f['sync_ratio']:.2f} ({recheck_target}: "
            f"{_verdict(f['sync_seconds'] <= f['target_recheck_s'])})",
        ),
        (
            "  re-check alone",
            f"{f['recheck_seconds'] * 1000:.1f} ms",
            f"{recheck_floor}: ratio {f['recheck_ratio']:.2f} ({recheck_target}: "
            f"{_verdict(f['recheck_seconds'] <= f['target_recheck_s'])})",
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
        console.print(
            f"Screening kept only {f['screen_cpu_busy']:.0%} of {cores} cores busy: if "
            "anything else was running, run again on a quiet machine before reading the ratio."
        )
