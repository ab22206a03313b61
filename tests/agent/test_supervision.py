"""Background work cannot die silently: a failing task is logged at error level with its
cause, retried with backoff, and the agent's gRPC health says NOT_SERVING meanwhile."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.status import agent_status, problems
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.core.sqlite import DEFERRED_CHECKPOINT_PAGES, fetch_one
from lanyard.core.supervise import Supervisor
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from tests.agent.conftest import AgentSetup, enrolled_agent_dir

BOUND = 20.0


async def _health(address: str) -> int:
    channel = open_channel(address)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(
            health_pb2.HealthCheckRequest(service="lanyard.agent.v1.Screening")
        )
        return int(response.status)
    finally:
        await channel.close()


async def _until(tasks: Supervisor, name: str, state: str) -> None:
    async def reached() -> None:
        while tasks.states[name].state != state:
            tasks.changed.clear()
            if tasks.states[name].state == state:
                return
            await tasks.changed.wait()

    await asyncio.wait_for(reached(), BOUND)


async def _enrolled(tmp_path: Path, rdir: RegistryDir, address: str) -> AgentDir:
    channel = open_channel(address)
    try:
        return await enrolled_agent_dir(tmp_path, AdminClient(channel, rdir.admin_key()), address)
    finally:
        await channel.close()


async def test_a_failing_follower_turns_health_not_serving_and_recovers(tmp_path: Path) -> None:
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as registry:
        adir = await _enrolled(tmp_path, rdir, registry.address)
        port = registry.port
    # The registry is gone: the follower fails, says why, and health follows.
    with structlog.testing.capture_logs() as logs:
        async with agent_server.running(adir, "127.0.0.1:0") as served:
            tasks = served.tasks
            assert tasks is not None
            await _until(tasks, "snapshot-follower", "failing")
            assert await _health(served.address) == health_pb2.HealthCheckResponse.NOT_SERVING
            failed = [e for e in logs if e["event"] == "task.failed"]
            assert failed, logs
            assert failed[0]["log_level"] == "error"
            assert failed[0]["task"] == "snapshot-follower"
            assert failed[0]["cause"] == "RpcFailed"
            # `agent status` (another process, through tasks.json) says the same.
            status = await agent_status(served.agent, adir)
            assert status["serve"]["running"] is True
            assert status["serve"]["tasks"]["snapshot-follower"]["state"] == "failing"
            assert status["registry"]["reachable"] is False
            assert any("task snapshot-follower is failing" in p for p in problems(status))
            # A Check meanwhile: no snapshot at all, so UNAVAILABLE, never ALLOW.
            with pytest.raises(Exception, match="registry") as info:
                await served.agent.check("Any One", "", "attendee", "X")
            assert not isinstance(info.value, AssertionError)
            # The registry comes back on its address: the retry with backoff finds it.
            async with server.running(rdir, f"127.0.0.1:{port}"):
                await _until(tasks, "snapshot-follower", "ok")
                assert await _health(served.address) == health_pb2.HealthCheckResponse.SERVING
                assert served.agent.snapshot.version > 0
                recovered = [e for e in logs if e["event"] == "task.recovered"]
                assert recovered
                assert recovered[0]["task"] == "snapshot-follower"


async def test_supervisor_restarts_with_backoff_and_reports_health() -> None:
    seen: list[bool] = []

    async def hook(ok: bool) -> None:
        seen.append(ok)

    tasks = Supervisor(hook, first_retry=0.01, max_retry=0.04)
    calls = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise OSError(f"failure {calls}")
        done.set()

    tasks.every("job", 3600.0, flaky)
    try:
        await asyncio.wait_for(done.wait(), BOUND)
        await _until(tasks, "job", "ok")
    finally:
        await tasks.stop()
    assert calls == 4
    assert seen == [False, True]
    assert tasks.states["job"].state == "stopped"


async def test_a_task_that_returns_is_restarted(tmp_path: Path) -> None:
    tasks = Supervisor(first_retry=0.01)
    runs = 0
    again = asyncio.Event()

    async def body() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            again.set()
            await asyncio.Event().wait()

    tasks.run("body", body)
    try:
        await asyncio.wait_for(again.wait(), BOUND)
        assert tasks.states["body"].last_error == "body stopped by itself"
    finally:
        await tasks.stop()


@pytest.mark.parametrize("periodic", [True, False])
async def test_stop_ends_a_task_whose_cancellation_came_up_as_an_error(periodic: bool) -> None:
    """grpc.aio can report a cancelled call as an error (status CANCELLED) instead of
    CancelledError: stop() must still end the task rather than see it retried."""
    tasks = Supervisor()
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("the call was cancelled") from None

    if periodic:
        tasks.every("job", 60.0, job)
    else:
        tasks.run("job", job)
    await asyncio.wait_for(started.wait(), BOUND)
    await asyncio.wait_for(tasks.stop(), BOUND)
    assert tasks.states["job"].state == "stopped"
    assert tasks.states["job"].failures == 0


async def test_stop_ends_a_periodic_job_that_took_its_cancellation_for_a_refusal() -> None:
    tasks = Supervisor()
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        with suppress(asyncio.CancelledError):  # as a delivery keeps a refused one for later
            await asyncio.Event().wait()

    tasks.every("job", 60.0, job)
    await asyncio.wait_for(started.wait(), BOUND)
    await asyncio.wait_for(tasks.stop(), BOUND)
    assert tasks.states["job"].state == "stopped"


async def test_both_services_fold_their_wal_beside_the_calls(tmp_path: Path) -> None:
    """`agent serve` and `registry serve` leave WAL checkpoints to a supervised task (a
    Check never waits for one): the task runs and reports ok, and the stores' connections
    no longer checkpoint at SQLite's default 1,000 pages."""
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as registry:
        adir = await _enrolled(tmp_path, rdir, registry.address)
        assert registry.tasks is not None
        async with agent_server.running(adir, "127.0.0.1:0") as served:
            assert served.tasks is not None
            await asyncio.gather(
                *(served.agent.check(f"Person {i}", "", "attendee", f"T{i}") for i in range(16))
            )
            for tasks in (served.tasks, registry.tasks):
                await _until(tasks, "wal-checkpoint", "ok")
            store = served.agent.store
            assert isinstance(store, SqliteStore)
            for pool in (store.pool, registry.store.pool):
                async with pool.read() as db:
                    (pages,) = await fetch_one(db, "PRAGMA wal_autocheckpoint")
                assert pages == DEFERRED_CHECKPOINT_PAGES
                in_wal, folded = await pool.checkpoint_passive()
                assert folded == in_wal


async def test_retention_leaves_nothing_in_the_wal_while_checkpoints_run_beside_it(
    tmp_path: Path,
) -> None:
    """The serving agent deletes its attendees under the retention policy while its own
    checkpoints run: the write-ahead log is emptied all the same (no order reference of
    a deleted attendee lingers in agent.db-wal), and the store goes on working."""
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as registry:
        adir = await _enrolled(tmp_path, rdir, registry.address)
        async with agent_server.running(adir, "127.0.0.1:0") as served:
            agent = served.agent
            store = agent.store
            assert isinstance(store, SqliteStore)
            refs = [f"ORDER-LINGER-{i:04d}" for i in range(40)]
            await asyncio.gather(
                *(agent.check(f"Person {i}", "", "attendee", ref) for i, ref in enumerate(refs))
            )
            ends = agent.enrolment.ends_on
            assert ends is not None
            today = ends + timedelta(days=400)
            deleted, *_ = await asyncio.gather(
                agent.apply_retention(30, today=today),
                *(store.pool.checkpoint_passive() for _ in range(4)),
            )
            assert deleted == len(refs)
            wal = adir.db_path.with_name(adir.db_path.name + "-wal")
            left = wal.read_bytes() if wal.exists() else b""
            assert not any(ref.encode() in left for ref in refs)
            assert await store.attendee_count() == 0
            await store.add_integration("after-retention", bytes(32))


async def test_a_quiet_registry_is_routine_for_the_follower(setup: AgentSetup) -> None:
    """No announcement for several refresh intervals: each quiet interval ends in a
    refresh that confirms the list held, on the same announcement stream, with no error,
    no restart and health SERVING throughout; a change afterwards still comes in."""
    quiet = 0.2
    with structlog.testing.capture_logs() as logs:
        async with agent_server.running(setup.adir, "127.0.0.1:0", refresh_seconds=quiet) as served:
            tasks, agent = served.tasks, served.agent
            assert tasks is not None
            await _until(tasks, "snapshot-follower", "ok")
            # The first sync, then the announcement of the version held, then at least
            # three refreshes after a quiet interval each.
            quiet_periods = asyncio.create_task(agent.wait_confirmed(agent.confirmations + 4))
            failed = asyncio.create_task(_until(tasks, "snapshot-follower", "failing"))
            done, pending = await asyncio.wait(
                {quiet_periods, failed}, timeout=BOUND, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
            follower = tasks.states["snapshot-follower"]
            assert quiet_periods in done, follower.last_error
            assert (follower.state, follower.failures) == ("ok", 0)
            assert await _health(served.address) == health_pb2.HealthCheckResponse.SERVING
            assert agent.snapshot_age() < timedelta(seconds=BOUND)
            held = agent.snapshot.version
            agent.updated.clear()
            await setup.admin.add_record(
                "WG-AFTER-QUIET", "flagged", [Identifier(Kind.NAME, "Quinn Later")]
            )
            await asyncio.wait_for(agent.updated.wait(), BOUND)
            assert agent.snapshot.version > held
            assert tasks.states["snapshot-follower"].failures == 0
    assert not [e for e in logs if e["event"] == "task.failed"], logs
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
    assert not [e for e in logs if e["event"] == "health.failing"], logs
