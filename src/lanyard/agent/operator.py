"""The operator's in-process use cases: what `lanyard` runs on the agent's own machine.

Setting up the data directory and the incident records' master key, opening the agent for
one-shot commands (screen, check, alerts, status), the unlocked incident records for the
operator's reports, and the outbox of sealed end-of-event reports. The CLI calls these and
never opens a store itself; `server.py` builds the long-running service on `opened()`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from lanyard.agent.datadir import AgentConfig, AgentDir
from lanyard.agent.errors import DataDirError
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.service import IncidentService
from lanyard.agent.incidents.store import IncidentStore
from lanyard.agent.outbox import Outbox
from lanyard.agent.reports import ReportSender
from lanyard.agent.service import AgentService
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.client.registry import RegistryClient
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.core.errors import Error as CoreError


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
    """The agent for one piece of work (a one-shot command, or `serve`'s whole run):
    its store, the pinned registry, the snapshot held. `verifier` checks Check tokens."""
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
        agent.max_snapshot_age = timedelta(seconds=config.max_snapshot_age_seconds)
        await agent.start()
        yield agent
    finally:
        await channel.close()
        await store.close()
        executor.shutdown(wait=True)


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
