"""The operator's in-process use cases: what `lanyard` runs on the agent's own machine.

Setting up the data directory and the incident records' master key, opening the agent for
one-shot commands (screen, check, alerts, status), the unlocked incident records for the
operator's reports, and the outbox of sealed end-of-event reports. The CLI calls these and
never opens a store itself; `server.py` builds the long-running service on `opened()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import nacl.signing
import structlog

from lanyard.agent import retention
from lanyard.agent.datadir import AgentConfig, AgentDir
from lanyard.agent.errors import DataDirError, InvalidRequest, NotAllowed
from lanyard.agent.outbox import Entry as OutboxEntry
from lanyard.agent.outbox import Outbox
from lanyard.agent.service import AgentService
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.store import Alert, FaultAlert
from lanyard.client.registry import RegistryClient
from lanyard.core import auth, files, sqlite
from lanyard.core.channels import open_channel
from lanyard.core.errors import Error as CoreError
from lanyard.core.workers import Workers

# Incident records and end-of-event reports are imported where they are used: a screen
# or a check does not pay for them at start-up.
if TYPE_CHECKING:
    from lanyard.agent.incidents import crypto
    from lanyard.agent.incidents.model import Incident
    from lanyard.agent.incidents.service import IncidentService
    from lanyard.agent.incidents.store import IncidentStore
    from lanyard.agent.report_files import ReportFile
    from lanyard.agent.reports import ReportSender

# The CLI's door into the agent: these use cases, and the values they hand back (the CLI
# never imports a store itself).
__all__ = [
    "Alert",
    "FaultAlert",
    "OutboxEntry",
    "incident_records",
    "init_agent",
    "init_incidents",
    "opened",
    "parse_file_choice",
    "rekey_event",
    "report_sender",
    "report_sources",
    "retention_policy",
    "retention_sweep",
    "set_retention_policy",
]

log = structlog.get_logger("lanyard.agent")


def init_incidents(adir: AgentDir, unlock: crypto.Unlock, strength: str = "moderate") -> None:
    """`lanyard agent incidents-init`: the master key for incident records."""
    from lanyard.agent.incidents import crypto

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
    try:
        channel = open_channel(
            enrolment.endpoint, config.registry_ca, insecure=config.registry_insecure
        )
    except CoreError as exc:
        await store.close()
        raise DataDirError(str(exc)) from exc
    # Threads for checks; worker processes, started on first bulk use, for screening.
    executor = Workers("lanyard-blind")
    try:
        client = RegistryClient(channel, enrolment.event_id, key, enrolment.registry_public_key)
        agent = AgentService(store, enrolment, client, executor, verifier=verifier)
        agent.max_snapshot_age = timedelta(seconds=config.max_snapshot_age_seconds)
        await agent.start()
        yield agent
    finally:
        await channel.close()
        await store.close()
        # Work not started is dropped (an interrupted screen keeps what it committed).
        executor.shutdown(wait=True, cancel_futures=True)


@asynccontextmanager
async def report_sender(adir: AgentDir, agent: AgentService) -> AsyncIterator[ReportSender]:
    """The outbox of sealed reports, and the sender that empties it."""
    from lanyard.agent.reports import ReportSender

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
    async with _records(adir, unlock) as (service, _):
        yield service


def parse_file_choice(choice: str) -> set[tuple[int, int]] | None:
    """`--attachments`: "none" (the empty set), "all" (None) or "N:ID,N:ID…"."""
    if choice == "all":
        return None
    if choice in ("", "none"):
        return set()
    chosen: set[tuple[int, int]] = set()
    for part in choice.split(","):
        incident, _, attachment = part.strip().partition(":")
        if not (incident.isdigit() and attachment.isdigit()):
            raise InvalidRequest(
                f"--attachments takes none, all or INCIDENT:ATTACHMENT,…; got {part.strip()!r}"
            )
        chosen.add((int(incident), int(attachment)))
    return chosen


@asynccontextmanager
async def report_sources(
    adir: AgentDir, unlock: crypto.Unlock | None, choice: set[tuple[int, int]] | None
) -> AsyncIterator[tuple[list[Incident], list[ReportFile]]]:
    """The incidents and the chosen files (`choice`: None for all), readable while the
    context is open. A chosen file that does not exist is InvalidRequest."""
    from lanyard.agent.incidents.attachments import AttachmentService
    from lanyard.agent.report_files import ReportFile

    async with _records(adir, unlock) as (service, store):
        incidents = await service.export_all("report")
        files_of = AttachmentService(service, store)
        files: list[ReportFile] = []
        for incident in incidents:
            if choice is not None and not any(i == incident.incident_id for i, _ in choice):
                continue
            for attachment, stream in await files_of.for_report(incident.incident_id):
                if choice is None or (incident.incident_id, attachment.attachment_id) in choice:
                    files.append(ReportFile(incident.incident_id, attachment, stream))
        found = {(f.incident_id, f.attachment.attachment_id) for f in files}
        missing = sorted((choice or set()) - found)
        if missing:
            raise InvalidRequest(
                f"incident {missing[0][0]} has no attachment {missing[0][1]} to include"
            )
        yield incidents, files


@asynccontextmanager
async def _records(
    adir: AgentDir, unlock: crypto.Unlock | None
) -> AsyncIterator[tuple[IncidentService, IncidentStore]]:
    from lanyard.agent.incidents import crypto
    from lanyard.agent.incidents.service import IncidentService
    from lanyard.agent.incidents.store import IncidentStore

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
        yield (
            IncidentService(
                store, master, enrolment.event_id, bytes(adir.event_key().verify_key), dates
            ),
            store,
        )
    finally:
        await store.close()


# -- retention (agent/retention.py) --------------------------------------------------------
async def retention_policy(adir: AgentDir, pool: sqlite.Pool | None = None) -> retention.Policy:
    """The schedule in force: agent.db's (through `pool`, or a store opened for the
    purpose), with agent.toml's attendee days over it."""
    adir.check()
    days = adir.load_config().attendee_retention_days
    if pool is not None:
        return await retention.load(pool, days)
    store = await SqliteStore.open(adir.db_path, pool_size=1)
    try:
        return await retention.load(store.pool, days)
    finally:
        await store.close()


async def set_retention_policy(
    adir: AgentDir, attendee_days: int | None, warning_incident_days: int | None
) -> retention.Policy:
    """Change the stored schedule; NotAllowed for attendee days agent.toml overrides."""
    adir.check()
    store = await SqliteStore.open(adir.db_path, pool_size=1)
    try:
        current = await retention_policy(adir, store.pool)
        if attendee_days is not None and current.attendee_days_from_config:
            raise NotAllowed(
                f"{adir.config_path.name} sets attendee_retention_days; change or remove it there"
            )
        stored = await retention.load(store.pool)
        await retention.save(
            store.pool,
            replace(
                stored,
                attendee_days=stored.attendee_days if attendee_days is None else attendee_days,
                warning_incident_days=(
                    stored.warning_incident_days
                    if warning_incident_days is None
                    else warning_incident_days
                ),
            ),
        )
        log.info("agent.retention_set", attendee_days=attendee_days, warning=warning_incident_days)
        return await retention_policy(adir, store.pool)
    finally:
        await store.close()


async def retention_sweep(
    adir: AgentDir, today: date, unlock: crypto.Unlock | None, apply: bool
) -> retention.Plan:
    """What the schedule removes on `today` — and, with `apply`, remove exactly that.
    Incidents are checked only when the records can be unlocked (`unlock`, or
    LANYARD_AGENT_PASSPHRASE); the plan says when they were not."""
    policy = await retention_policy(adir)
    end = adir.enrolment().ends_on
    cutoff = retention.attendee_cutoff(end, policy)
    store = await SqliteStore.open(adir.db_path)
    try:
        due = cutoff is not None and today >= cutoff
        attendees = await store.attendee_count() if due else 0
        if due and apply:
            attendees = await store.delete_attendees()
            log.info("agent.retention_applied", attendees=attendees, days=policy.attendee_days)
    finally:
        await store.close()
    plan = retention.Plan(today, policy, end, attendees, cutoff)
    if not adir.master_path.exists():
        return plan
    from lanyard.agent.incidents import crypto

    if unlock is None and crypto.passphrase_from_env() is None:
        return replace(plan, incidents_checked=False)
    async with incident_records(adir, unlock) as records:
        warned, waiting = await records.retention_due(end, today, policy.warning_incident_days)
        if apply:
            await records.destroy_expired(warned)
    return replace(
        plan,
        warning_incidents=[(i.incident_id, i.updated_at) for i in warned],
        waiting=[(i.incident_id, i.status) for i in waiting],
    )


# -- the event's key -----------------------------------------------------------------------
async def rekey_event(adir: AgentDir) -> tuple[bytes, int]:
    """Replace the event's key: the registry takes the new one on a statement both keys
    signed, and the enrolment keeps its history. Returns (new public key, keys retired).
    NotAllowed while sealed reports wait in the outbox (they carry the old key's
    signature); a running `agent serve` must be restarted to use the new key."""
    adir.check()
    outbox = await Outbox.open(adir.db_path)
    try:
        waiting = len(await outbox.pending())
    finally:
        await outbox.close()
    if waiting:
        raise NotAllowed(
            f"{waiting} sealed report(s) still wait in the outbox, signed by the current "
            "key: deliver them first with `lanyard report submit`"
        )
    old = adir.event_key()
    new = nacl.signing.SigningKey.generate()
    # Kept beside the key until the registry confirms: if its answer is lost, the key it
    # may already hold is not (`registry event list` shows which one it has).
    files.write_atomically(adir.key_path.with_name("event.key.pending"), bytes(new))
    async with opened(adir) as agent:
        retired = await agent.registry.rekey_event(agent.enrolment.event_id, old, new)
    files.write_atomically(adir.key_path, bytes(new))
    files.write_atomically(adir.public_key_path, bytes(new.verify_key).hex() + "\n")
    adir.key_path.with_name("event.key.pending").unlink(missing_ok=True)
    log.info("agent.event_rekeyed", retired=retired)
    return bytes(new.verify_key), retired
