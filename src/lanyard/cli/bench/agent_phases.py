"""The phases `lanyard bench agent` times against one loopback registry: screening a
whole export, sync and re-check, Check latency over gRPC, and peak memory of `lanyard
screen` in a child process. Each returns raw measurements; agent.py turns them
into figures."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import nacl.signing
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.screening.batch import screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.cli.bench.child import (
    cpu_seconds,
    high_water_bytes,
    lanyard_argv,
    run_measured,
    serving,
    tree_cpu_seconds,
)
from lanyard.cli.bench.enrol import enrol_agent
from lanyard.cli.bench.export import Person, person, write_export
from lanyard.cli.bench.floors import machine_busy, machine_ticks
from lanyard.cli.output import CliError
from lanyard.client.admin import AdminClient
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.registry import server
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc

EVENT_PREFIX = "bench-agent"
WARMUP_CHECKS = 20
CHECK_METHOD = "/lanyard.agent.v1.Screening/Check"
INTEGRATION = "bench"

# --- set-up -----------------------------------------------------------------------------


@dataclass
class Bench:
    """The registry every phase talks to, and how to enrol one more agent against it."""

    workdir: Path
    reg: server.RunningRegistry
    admin: AdminClient

    async def enrolled_agent(self, name: str, quota: int) -> AgentDir:
        """A fresh agent data directory, enrolled as its own event (its own quota)."""
        return await enrol_agent(
            self.admin, self.workdir, self.reg.address, f"{EVENT_PREFIX}-{name}", quota
        )

    async def evaluations_used(self, adir: AgentDir) -> int:
        event_id = adir.enrolment().event_id
        events = await self.admin.list_events()
        return next(int(e.evaluations_used) for e in events if e.event_id == event_id)

    async def add_record(self, ref: str, status: str, p: Person) -> None:
        await self.admin.add_record(ref, status, p.identifiers)


def quota(evaluations: int) -> int:
    return 2 * evaluations + 1000


# --- throughput and re-check ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Screening:
    """One timed `screen_export` of the whole file into a fresh agent."""

    adir: AgentDir
    seconds: float
    cpu_seconds: float  # this process's and its workers': agent, registry, threads
    screened: int
    identities: int
    evaluations: int
    machine_busy: float = -1.0  # every core's busy share meanwhile, by anyone (-1: unknown)


async def screen_once(bench: Bench, name: str, path: Path, quota: int) -> Screening:
    adir = await bench.enrolled_agent(name, quota)
    async with agent_operator.opened(adir) as agent:
        ticks = machine_ticks()
        # This process's CPU and its worker processes' (the registry's and the agent's).
        cpu_started, started = tree_cpu_seconds(os.getpid()), time.perf_counter()
        outcome = await screen_export(agent, open_export(path))
        wall = time.perf_counter() - started
        cpu = tree_cpu_seconds(os.getpid()) - cpu_started
        busy = machine_busy(ticks, machine_ticks())
        stored = len(await agent.store.identities(agent.snapshot.epoch))
    return Screening(
        adir,
        wall,
        cpu,
        outcome.report.screened,
        stored,
        await bench.evaluations_used(adir),
        busy,
    )


@dataclass(frozen=True, slots=True)
class Recheck:
    sync_s: float
    recheck_s: float
    attendees: int
    identities: int
    alerts: int


async def recheck(bench: Bench, adir: AgentDir, rows: int, rounds: int) -> Recheck:
    """Best of `rounds`: the WG adds a record for someone already screened, the agent
    syncs (fetch the delta, verify, persist, re-check the people its entries concern);
    then a full re-check of everyone held, alone."""
    sync_times: list[float] = []
    recheck_times: list[float] = []
    alerts = 0
    async with agent_operator.opened(adir) as agent:
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


CONCURRENT_CALLERS = (8, 32)


@dataclass(frozen=True, slots=True)
class Latency:
    new_ms: list[float]
    known_ms: list[float]
    health_ms: list[float]
    # The same mix from each number of CONCURRENT_CALLERS callers at once: each answered
    # call's latency, and how many calls failed (any status; the agent must answer all).
    concurrent: dict[int, tuple[list[float], int]] = field(default_factory=dict)
    # As many health checks from as many callers at once, just before: the floor under
    # that crowd. A caller waits for the calls queued ahead of it, however little each
    # one does (Little's law), so no Check crowd can beat the health crowd.
    concurrent_health: dict[int, list[float]] = field(default_factory=dict)


async def check_latency(adir: AgentDir, rows: int, checks: int) -> Latency:
    """`checks` Check calls, alternately someone new and someone already screened, each
    after one health check on the same channel (the round-trip floor, under the same
    noise). The agent runs as `lanyard agent serve` and the callers in a process of their
    own, as in production: neither shares an event loop (or the GIL) with the other or
    with the registry. Nothing else is in flight in the one-caller pass: this is the
    latency one ticket sale sees; then the same mix from 8 and 32 callers at once."""
    async with agent_operator.opened(adir) as agent:
        key = await agent.add_integration(INTEGRATION)
    argv = lanyard_argv("agent", "serve", "--data-dir", str(adir.path), "--listen", "127.0.0.1:0")
    log = adir.path.parent / "agent-serve.log"
    # The callers run in a process of their own too: a ticketing system is not in the
    # agent's process, nor in the registry's (which is this one).
    spawn = multiprocessing.get_context("spawn")
    async with serving(argv, adir.endpoint_path, log) as served:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as callers:
            return await asyncio.get_running_loop().run_in_executor(
                callers, timed_checks, served.address, bytes(key), rows, checks
            )


def timed_checks(address: str, key: bytes, rows: int, checks: int) -> Latency:
    """The Check calls of check_latency, made from the process this runs in."""

    async def run() -> Latency:
        signer = auth.CallSigner(f"integration:{INTEGRATION}", nacl.signing.SigningKey(key))
        channel = open_channel(address)
        try:
            return await _timed_checks(channel, signer, rows, checks)
        finally:
            await channel.close()

    return asyncio.run(run())


async def _timed_checks(
    channel: grpc.aio.Channel, signer: auth.CallSigner, rows: int, checks: int
) -> Latency:
    stub = screening_pb2_grpc.ScreeningStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    new_people = iter(range(rows, rows + WARMUP_CHECKS + (1 + len(CONCURRENT_CALLERS)) * checks))

    def request(i: int, new: bool, tag: str) -> screening_pb2.CheckRequest:
        p = person(next(new_people) if new else (i * 7919) % rows)
        return screening_pb2.CheckRequest(
            name=p.name, email=p.email or "", role=screening_pb2.ROLE_ATTENDEE, caller_ref=tag
        )

    async def one(i: int, new: bool) -> tuple[float, float]:
        started = time.perf_counter()
        await health.Check(health_pb2.HealthCheckRequest(service=""))
        health_s = time.perf_counter() - started
        call = request(i, new, f"bench-{i}")
        metadata = signer.metadata(CHECK_METHOD, call)  # the caller's work, not the agent's
        started = time.perf_counter()
        await stub.Check(call, metadata=metadata)
        return health_s * 1000, (time.perf_counter() - started) * 1000

    # The first calls also wait for the agent's start-up sync: not in the timings.
    for i in range(WARMUP_CHECKS):
        await one(i, i % 2 == 0)
    result = Latency([], [], [])
    for i in range(checks):
        new = i % 2 == 0
        health_ms, check_ms = await one(i, new)
        result.health_ms.append(health_ms)
        (result.new_ms if new else result.known_ms).append(check_ms)

    async def caller(c: int, callers: int, out: list[float]) -> int:
        errors = 0
        for i in range(c, checks, callers):
            call = request(i, i % 2 == 0, f"bench-{callers}-{i}")
            metadata = signer.metadata(CHECK_METHOD, call)
            started = time.perf_counter()
            try:
                await stub.Check(call, metadata=metadata)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            out.append((time.perf_counter() - started) * 1000)
        return errors

    async def health_caller(c: int, callers: int, out: list[float]) -> None:
        for _ in range(c, checks, callers):
            started = time.perf_counter()
            await health.Check(health_pb2.HealthCheckRequest(service=""))
            out.append((time.perf_counter() - started) * 1000)

    for callers in CONCURRENT_CALLERS:
        floor: list[float] = []
        await asyncio.gather(*(health_caller(c, callers, floor) for c in range(callers)))
        result.concurrent_health[callers] = floor
        answered: list[float] = []
        failed = await asyncio.gather(*(caller(c, callers, answered) for c in range(callers)))
        result.concurrent[callers] = (answered, sum(failed))
    return result


# --- peak memory ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Memory:
    rows: int
    identities: int
    peak_mb: float
    seconds: float  # the whole child process: start-up, screening, report
    # CPU seconds meanwhile: the `lanyard screen` process itself and its crypto workers;
    # this process (the registry serving it, and the polling) and the registry's workers.
    agent_cpu: float = 0.0
    agent_workers_cpu: float = 0.0
    registry_cpu: float = 0.0
    registry_workers_cpu: float = 0.0


async def peak_memory(bench: Bench, rows: int, label: str = "memory") -> Memory:
    """`lanyard screen` on a generated export of `rows` rows in a child process, served
    by this process's registry; its peak RSS is its VmHWM, polled until it exits. The
    seconds are the whole process's: interpreter and import start-up included."""
    if high_water_bytes(os.getpid()) is None:
        raise CliError("peak memory is read from /proc/PID/status (Linux); use --skip-memory")
    path = bench.workdir / f"{label}-{rows}.csv"
    identities = await asyncio.to_thread(write_export, path, rows)
    adir = await bench.enrolled_agent(f"{label}-{rows}", quota(identities))
    argv = lanyard_argv("screen", str(path), "--data-dir", str(adir.path), "--json")
    # The registry's side: this process and its descendants but the child, which is not
    # one yet before and reaped after.
    own, tree = cpu_seconds(os.getpid()) or 0.0, tree_cpu_seconds(os.getpid())
    done = await run_measured(argv, bench.workdir, f"{label}-{rows}")
    own = (cpu_seconds(os.getpid()) or 0.0) - own
    tree = tree_cpu_seconds(os.getpid()) - tree
    if done.returncode != 0:
        raise CliError(
            f"`lanyard screen` of {rows} rows exited with status {done.returncode}: "
            + done.stderr_tail
        )
    screened = int(json.loads(done.stdout)["summary"]["screened"])
    if screened != rows:
        raise CliError(f"`lanyard screen` screened {screened} of {rows} generated rows")
    path.unlink()  # a million rows is ~140 MB: not kept while the next one is written
    return Memory(
        rows,
        identities,
        done.peak_mb,
        done.seconds,
        done.root_cpu_seconds,
        done.cpu_seconds - done.root_cpu_seconds,
        own,
        tree - own,
    )
