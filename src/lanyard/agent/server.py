"""Wiring for the agent's gRPC server: Check for ticketing systems, Incidents for the team.

`running()` takes the agent `operator.opened()` gives and adds the gRPC server, the
snapshot follower, the outbox drain and the daily retention sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date

import grpc
import structlog

from lanyard.agent.datadir import AgentConfig, AgentDir
from lanyard.agent.errors import DataDirError
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.service import IncidentService
from lanyard.agent.incidents.servicer import IncidentsServicer
from lanyard.agent.incidents.store import IncidentStore
from lanyard.agent.operator import opened, report_sender, retention_policy
from lanyard.agent.screening.servicer import ScreeningServicer
from lanyard.agent.service import AgentService
from lanyard.agent.transparency import service as transparency_service
from lanyard.core import files, serving
from lanyard.core.errors import Error as CoreError
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


@asynccontextmanager
async def running(
    adir: AgentDir,
    listen: str | None = None,
    insecure: bool = False,
    unlock: crypto.Unlock | None = None,
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
    async with opened(adir, config) as agent:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
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
            files.write_atomically(adir.endpoint_path, bound + "\n")
            tasks.append(asyncio.create_task(agent.follow()))
            tasks.append(asyncio.create_task(_drain_outbox(adir, agent)))
            tasks.append(asyncio.create_task(_retention(adir, agent, incidents)))
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
            with suppress(FileNotFoundError):
                adir.endpoint_path.unlink()
            if incident_store is not None:
                await incident_store.close()
            log.info("agent.stopped")


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
    adir: AgentDir, agent: AgentService, incidents: IncidentService | None
) -> None:
    while True:
        try:
            policy = await retention_policy(adir)
            await agent.apply_retention(policy.attendee_days)
            if incidents is not None:
                await incidents.apply_retention(
                    agent.enrolment.ends_on, warning_days=policy.warning_incident_days
                )
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
