"""Wiring for the agent: open its directory, talk to the pinned registry, serve Check.

`opened()` gives the CLI's one-shot commands (screen, check, alerts) an AgentService;
`running()` adds the gRPC server for ticketing systems, the snapshot follower and the
daily retention sweep.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date

import grpc
import structlog

from lanyard.agent.v1 import incidents_pb2_grpc, screening_pb2_grpc
from services.core import auth, serving
from services.core.channels import open_channel
from services.core.errors import Error as CoreError
from services.core.nonces import SqliteNonces
from services.event_agent.datadir import AgentConfig, AgentDir
from services.event_agent.errors import DataDirError
from services.event_agent.incidents import crypto
from services.event_agent.incidents.service import IncidentService
from services.event_agent.incidents.servicer import IncidentsServicer
from services.event_agent.incidents.store import IncidentStore
from services.event_agent.outbox import Outbox
from services.event_agent.registry_client import RegistryClient
from services.event_agent.reports import ReportSender
from services.event_agent.screening_servicer import ScreeningServicer
from services.event_agent.service import AgentService
from services.event_agent.sqlite_store import SqliteStore
from services.event_agent.transparency import service as transparency_service

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


def init_incidents(adir: AgentDir, unlock: crypto.Unlock, strength: str = "moderate") -> None:
    """`lanyard agent incidents-init`: the master key for incident records."""
    adir.check()
    crypto.create_master(adir.master_path, unlock, strength)


def init_agent(adir: AgentDir, listen: str | None = None) -> bytes:
    """`lanyard agent init`: the data directory and the event's key; returns its public key."""
    return adir.create(**({"listen": listen} if listen else {}))


@asynccontextmanager
async def opened(
    adir: AgentDir, config: AgentConfig | None = None, verifier: auth.TokenVerifier | None = None
) -> AsyncIterator[AgentService]:
    adir.check()
    config = config or adir.load_config()
    enrolment = adir.enrolment()
    key = adir.event_key()
    store = await SqliteStore.open(adir.db_path)
    executor = ThreadPoolExecutor(
        max_workers=os.cpu_count() or 1, thread_name_prefix="lanyard-blind"
    )
    try:
        channel = open_channel(
            enrolment.endpoint, config.registry_ca, insecure=config.registry_insecure
        )
    except CoreError as exc:
        await store.close()
        raise DataDirError(str(exc)) from exc
    try:
        client = RegistryClient(channel, enrolment.event_id, key, enrolment.registry_public_key)
        agent = AgentService(store, enrolment, client, executor, verifier=verifier)
        await agent.start()
        yield agent
    finally:
        await channel.close()
        await store.close()
        executor.shutdown(wait=True)


@asynccontextmanager
async def running(
    adir: AgentDir,
    listen: str | None = None,
    insecure: bool = False,
    unlock: crypto.Unlock | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[RunningAgent]:
    """Serve Check (and Incidents, when set up: unlocked before anything listens, so a
    wrong passphrase changes nothing)."""
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
        # Before anything listens: nonces go to agent.db, through the store's connection.
        store = agent.store
        if not isinstance(store, SqliteStore):
            raise DataDirError("the agent's store is not on SQLite: nowhere to keep nonces")
        verifier.use_nonces(SqliteNonces(store.connection))
        server = serving.new_server()
        screening_pb2_grpc.add_ScreeningServicer_to_server(ScreeningServicer(agent), server)
        incidents: IncidentService | None = None
        incident_store: IncidentStore | None = None
        if master is not None:
            incident_store = await IncidentStore.open(adir.db_path, adir.keyring_path)
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
            incidents_pb2_grpc.add_IncidentsServicer_to_server(IncidentsServicer(incidents), server)
        names = SERVICE_NAMES + (("lanyard.agent.v1.Incidents",) if incidents else ())
        await serving.add_health(server, names)
        tasks: list[asyncio.Task[None]] = []
        try:
            try:
                bound = serving.bind(server, address, tls, insecure)
            except CoreError as exc:
                raise DataDirError(str(exc)) from exc
            await server.start()
            endpoint.write(bound)
            tasks.append(asyncio.create_task(agent.follow()))
            tasks.append(asyncio.create_task(_drain_outbox(adir, agent)))
            tasks.append(
                asyncio.create_task(
                    _retention(adir, agent, incidents, config.attendee_retention_days)
                )
            )
            log.info(
                "agent.listening",
                address=bound,
                event_id=agent.enrolment.event_id,
                tls=tls is not None,
                incidents=incidents is not None,
            )
            yield RunningAgent(server, agent, bound, incidents)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.stop(GRACE_SECONDS)
            endpoint.remove()
            if incident_store is not None:
                await incident_store.close()
            log.info("agent.stopped")


@asynccontextmanager
async def report_sender(adir: AgentDir, agent: AgentService) -> AsyncIterator[ReportSender]:
    """The outbox of sealed reports, and the sender that empties it."""
    outbox = await Outbox.open(adir.db_path)
    try:
        yield ReportSender(outbox, agent.registry, agent.enrolment, adir.event_key())
    finally:
        await outbox.close()


@asynccontextmanager
async def incident_records(
    adir: AgentDir, unlock: crypto.Unlock | None = None
) -> AsyncIterator[IncidentService]:
    """The incident records on this machine, unlocked, for the operator's own commands
    (transparency and end-of-event reports): no gRPC, the passphrase or key file is the
    authority."""
    adir.check()
    enrolment = adir.enrolment()
    master = crypto.unlock_master(
        adir.master_path, unlock or crypto.Unlock(passphrase=crypto.passphrase_from_env())
    )
    store = await IncidentStore.open(adir.db_path, adir.keyring_path)
    try:
        dates = (
            (enrolment.starts_on, enrolment.ends_on)
            if enrolment.starts_on and enrolment.ends_on
            else None
        )
        yield IncidentService(
            store, master, enrolment.event_id, bytes(adir.event_key().verify_key), dates
        )
    finally:
        await store.close()


OUTBOX_INTERVAL_SECONDS = 60.0


async def _drain_outbox(adir: AgentDir, agent: AgentService) -> None:
    """Reports sealed while the registry was away are sent when it comes back."""
    async with report_sender(adir, agent) as sender:
        while True:
            try:
                await sender.drain()
            except Exception:
                log.exception("agent.outbox_failed")
            await asyncio.sleep(OUTBOX_INTERVAL_SECONDS)


async def _retention(
    adir: AgentDir, agent: AgentService, incidents: IncidentService | None, days: int
) -> None:
    while True:
        try:
            await agent.apply_retention(days)
            if incidents is not None:
                await incidents.apply_retention(agent.enrolment.ends_on)
            # Logs transparency.final_overdue once a day while the final report is late.
            transparency_service.reminder(adir, date.today())
        except Exception:
            log.exception("agent.retention_failed")
        await asyncio.sleep(RETENTION_INTERVAL_SECONDS)


async def serve(
    adir: AgentDir,
    listen: str | None = None,
    insecure: bool = False,
    unlock: crypto.Unlock | None = None,
) -> None:
    """`lanyard agent serve`: until SIGTERM or SIGINT, then stop gracefully."""
    async with running(adir, listen, insecure, unlock):
        await serving.until_signalled()
        log.info("agent.stopping")
