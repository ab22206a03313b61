"""Wiring for the agent's gRPC server: Check for ticketing systems, Incidents for the team.

`running()` takes the agent `operator.opened()` gives and adds the gRPC server for
ticketing systems and, supervised (core/supervise.py: logged, restarted with backoff,
health NOT_SERVING while failing), the snapshot follower, the key-rotation catch-up, the
outbox drain and the daily retention sweep.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime

import grpc
import structlog

from lanyard.agent.datadir import AgentConfig, AgentDir
from lanyard.agent.errors import DataDirError, Unavailable
from lanyard.agent.following import REFRESH_SECONDS
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.attachments import AttachmentService
from lanyard.agent.incidents.service import IncidentService
from lanyard.agent.incidents.servicer import IncidentsServicer
from lanyard.agent.incidents.store import IncidentStore
from lanyard.agent.operator import opened, report_sender, retention_policy
from lanyard.agent.screening.servicer import ScreeningServicer
from lanyard.agent.service import AgentService
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.transparency import service as transparency_service
from lanyard.agent.webhooks import server as webhook_server
from lanyard.core import auth, files, serving
from lanyard.core.errors import Error as CoreError
from lanyard.core.nonces import SqliteNonces
from lanyard.core.supervise import Supervisor
from lanyard.wire.agent.v1 import incidents_pb2_grpc, screening_pb2_grpc

log = structlog.get_logger("lanyard.agent")

SERVICE_NAMES = ("lanyard.agent.v1.Screening",)
RETENTION_INTERVAL_SECONDS = 24 * 3600.0
GRACE_SECONDS = 5.0


@dataclass
class RunningAgent:
    server: grpc.aio.Server
    agent: AgentService
    address: str
    incidents: IncidentService | None = None
    tasks: Supervisor | None = None
    tls: bool = False


@asynccontextmanager
async def running(
    adir: AgentDir,
    listen: str | None = None,
    insecure: bool = False,
    unlock: crypto.Unlock | None = None,
    clock: Callable[[], float] = time.time,
    refresh_seconds: float = REFRESH_SECONDS,
) -> AsyncIterator[RunningAgent]:
    """Serve Check (and Incidents, when set up: unlocked before anything listens, so a
    wrong passphrase changes nothing). One `serve` per data directory; call tokens are
    checked against `clock` and their nonces kept in agent.db. The snapshot follower asks
    the registry after `refresh_seconds` without an announcement."""
    config = adir.load_config() if adir.config_path.exists() else AgentConfig()
    master = None
    if adir.master_path.exists():
        master = crypto.unlock_master(
            adir.master_path, unlock or crypto.Unlock(passphrase=crypto.passphrase_from_env())
        )
    address = listen or config.listen
    tls = (
        serving.Tls(config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None
    )
    adir.check()
    async with AsyncExitStack() as stack:
        try:
            stack.enter_context(serving.exclusive(adir.path, "lanyard agent serve"))
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc
        endpoint = serving.EndpointFile(adir.endpoint_path)
        verifier = auth.TokenVerifier(clock)
        agent = await stack.enter_async_context(opened(adir, config, verifier))
        # Before anything listens: nonces go to agent.db, through the store's pool.
        store = agent.store
        if not isinstance(store, SqliteStore):
            raise DataDirError("the agent's store is not on SQLite: nowhere to keep nonces")
        verifier.use_nonces(SqliteNonces(store.pool))
        server = serving.new_server()
        screening_pb2_grpc.add_ScreeningServicer_to_server(ScreeningServicer(agent), server)
        incidents: IncidentService | None = None
        incident_store: IncidentStore | None = None
        if master is not None:
            incident_store = await IncidentStore.open(adir.db_path, adir.keyring_path)
            await incident_store.attachments.discard_incomplete()
            enrolment = agent.enrolment
            dates = (
                (enrolment.starts_on, enrolment.ends_on)
                if enrolment.starts_on and enrolment.ends_on
                else None
            )
            incidents = IncidentService(
                incident_store,
                master,
                enrolment.event_id,
                bytes(adir.event_key().verify_key),
                dates,
                verifier=verifier,
            )
            incidents_pb2_grpc.add_IncidentsServicer_to_server(
                IncidentsServicer(incidents, AttachmentService(incidents, incident_store)), server
            )
        names = SERVICE_NAMES + (("lanyard.agent.v1.Incidents",) if incidents else ())
        health = await serving.add_health(server, names)
        agent.rotate_inline = False
        tasks = Supervisor(
            serving.health_hook(health, names), on_change=lambda s: write_tasks(adir, s)
        )
        try:
            try:
                bound = serving.bind(server, address, tls, insecure)
            except CoreError as exc:
                raise DataDirError(str(exc)) from exc
            await server.start()
            endpoint.write(bound)
            start_tasks(tasks, adir, agent, incidents, refresh_seconds)
            log.info(
                "agent.listening",
                address=bound,
                event_id=agent.enrolment.event_id,
                tls=tls is not None,
                incidents=incidents is not None,
            )
            yield RunningAgent(server, agent, bound, incidents, tasks, tls is not None)
        finally:
            await tasks.stop()
            await server.stop(GRACE_SECONDS)
            endpoint.remove()
            if incident_store is not None:
                await incident_store.close()
            log.info("agent.stopped")


OUTBOX_INTERVAL_SECONDS = 60.0


def write_tasks(adir: AgentDir, states: dict[str, dict[str, object]]) -> None:
    """For `lanyard agent status`: which task runs, which fails and why (no identifiers)."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    files.write_atomically(
        adir.tasks_path, json.dumps({"pid": os.getpid(), "at": at, "tasks": states}) + "\n"
    )


def start_tasks(
    tasks: Supervisor,
    adir: AgentDir,
    agent: AgentService,
    incidents: IncidentService | None,
    refresh_seconds: float = REFRESH_SECONDS,
) -> None:
    """The agent's long-lived work, each under `tasks`."""

    async def follow() -> None:
        await agent.follow(refresh_seconds, on_progress=lambda: tasks.healthy("snapshot-follower"))

    async def rotation() -> None:
        while True:
            if not agent.rotation_wanted.is_set():
                await tasks.healthy("key-rotation")  # idle until the registry rotates
            await agent.rotation_wanted.wait()
            await agent.finish_rotation()
            await tasks.healthy("key-rotation")

    async def outbox() -> None:
        # Reports sealed while the registry was away are sent when it comes back; the
        # WG's recipient set is kept fresh so a report can be sealed during an outage.
        async with report_sender(adir, agent) as sender:
            await sender.drain()
            with suppress(Unavailable):
                await sender.recipients()

    async def retention() -> None:
        # The schedule is read each time: `agent retention set` takes effect without a restart.
        store = agent.store
        pool = store.pool if isinstance(store, SqliteStore) else None
        policy = await retention_policy(adir, pool)
        await agent.apply_retention(policy.attendee_days)
        if incidents is not None:
            await incidents.apply_retention(
                agent.enrolment.ends_on, warning_days=policy.warning_incident_days
            )
        # Logs transparency.final_overdue once a day while the final report is late.
        transparency_service.reminder(adir, date.today())

    tasks.run("snapshot-follower", follow)
    tasks.run("key-rotation", rotation)
    tasks.every("outbox-drain", OUTBOX_INTERVAL_SECONDS, outbox)
    tasks.every("retention-sweep", RETENTION_INTERVAL_SECONDS, retention)
    store = agent.store
    if isinstance(store, SqliteStore):
        # No Check waits while the WAL is folded into agent.db (sqlite.Pool.defer_checkpoints).
        store.pool.defer_checkpoints()
        tasks.every("wal-checkpoint", serving.CHECKPOINT_SECONDS, store.pool.checkpoint_passive)


async def serve(
    adir: AgentDir,
    listen: str | None = None,
    insecure: bool = False,
    unlock: crypto.Unlock | None = None,
    webhooks: str | None = None,
    announce: Callable[[str, bool], None] | None = None,
) -> None:
    """`lanyard agent serve`: until SIGTERM or SIGINT, then stop gracefully. With
    `webhooks` ("host:port"), the ticketing systems' webhook receivers listen there too.
    `announce(address, tls)` is called once the port is bound (the CLI prints it on a
    terminal)."""
    async with AsyncExitStack() as stack:
        agent = await stack.enter_async_context(running(adir, listen, insecure, unlock))
        if webhooks is not None:
            receivers = webhook_server.running(adir.path, agent.agent, webhooks, tasks=agent.tasks)
            await stack.enter_async_context(receivers)
        stop = serving.stop_on_signals()
        if announce is not None:
            announce(agent.address, agent.tls)
        await stop.wait()
        log.info("agent.stopping")
