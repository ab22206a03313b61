"""The incident team's domain logic, free of gRPC: who may do what, and the audit trail.

Volunteers file reports and read none; responders read and work incidents they are not
recused from; chairs also manage the team and read audit trails. Every read and change of
an incident is audited, refused attempts included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import structlog

from lanyard.agent.errors import Conflict as VersionConflict
from lanyard.agent.errors import InvalidRequest, NotFound, PermissionDenied, Unauthenticated
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import (
    ROLES,
    Communication,
    Conflict,
    Decision,
    Incident,
    Note,
    Report,
)
from lanyard.agent.incidents.rules import (
    apply_communication,
    apply_decision,
    apply_update,
    check_communication,
    check_decision,
    check_report,
    check_text,
    check_update,
)
from lanyard.agent.incidents.store import IncidentStore, MemberRow, Row
from lanyard.core import auth, keys
from lanyard.core.auth import MEMBER_NAME
from lanyard.core.errors import AuthError
from lanyard.core.errors import Error as CoreError

log = structlog.get_logger("lanyard.incidents")

ACK_WITHIN = timedelta(hours=1)
ACT_WITHIN = timedelta(hours=12)
WARNING_RETENTION = timedelta(days=2 * 365)


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: str  # volunteer | responder | chair | operator

    @property
    def works_incidents(self) -> bool:
        return self.role in ("responder", "chair")


@dataclass(frozen=True, slots=True)
class Summary:
    incident_id: int
    version: int
    status: str
    filed_at: str
    updated_at: str
    overdue: str
    awaiting_second: bool


def _now() -> datetime:
    return datetime.now(UTC)


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        master: bytes,
        event_id: str,
        event_key: bytes,
        event_dates: tuple[date, date] | None = None,
        clock: Callable[[], datetime] = _now,
        verifier: auth.TokenVerifier | None = None,
    ) -> None:
        self._store = store
        self._master = master
        self._event_id = event_id
        self._event_key = event_key
        self._dates = event_dates
        self._clock = clock
        self._verifier = verifier or auth.TokenVerifier(clock=lambda: self._clock().timestamp())
        self._lock = asyncio.Lock()

    @property
    def write_lock(self) -> asyncio.Lock:
        """Held around every transaction on the incident records' one connection."""
        return self._lock

    def _stamp(self) -> str:
        return self._clock().isoformat(timespec="seconds")

    # -- who is calling ------------------------------------------------------------------
    async def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, method: str
    ) -> Caller:
        try:
            token = auth.parse_token(metadata)
            if token.kind == "member":
                member = await self._store.member(token.subject)
                if member is None:
                    raise AuthError(f"{token.subject} is not on the team (or was removed)")
                await self._verifier.verify(token, method, member.public_key)
                return Caller(member.name, member.role)
            if token.kind == "event" and token.subject == self._event_id:
                await self._verifier.verify(token, method, self._event_key)
                return Caller("operator", "operator")
            raise AuthError(f"{token.key_id} is not a key of this event's team")
        except AuthError as exc:
            raise Unauthenticated(auth.refused(exc, metadata, method)) from exc

    # -- team ----------------------------------------------------------------------------
    def _manages_team(self, caller: Caller) -> None:
        if caller.role not in ("chair", "operator"):
            raise PermissionDenied("only a chair (or the event's operator) manages the team")

    async def add_member(
        self, caller: Caller, name: str, role: str, public_key: bytes
    ) -> MemberRow:
        self._manages_team(caller)
        if not MEMBER_NAME.match(name):
            raise InvalidRequest(
                "member name must be 1 to 64 lowercase letters, digits, dots, dashes or underscores"
            )
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        try:
            keys.parse_public_key(public_key, "public_key")
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from exc
        await self._store.add_member(name, role, public_key, self._stamp())
        log.info("incidents.member_added", member=name, role=role, by=caller.name)
        member = await self._store.member(name)
        assert member is not None
        return member

    async def remove_member(self, caller: Caller, name: str) -> None:
        self._manages_team(caller)
        if not await self._store.remove_member(name, self._stamp()):
            raise NotFound(f"{name} is not on the team")
        log.info("incidents.member_removed", member=name, by=caller.name)

    async def members(self, caller: Caller) -> list[MemberRow]:
        if caller.role not in ("chair", "responder", "operator"):
            raise PermissionDenied("volunteers cannot list the team")
        return await self._store.members()

    # -- reading -------------------------------------------------------------------------
    async def _load(self, incident_id: int) -> tuple[Row, Incident, bytes]:
        row = await self._store.get(incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        incident, key = await self._open(row)
        return row, incident, key

    async def _open(self, row: Row, wrapped: bytes | None = None) -> tuple[Incident, bytes]:
        """Unwrap the row's key (read now unless given) and open its contents."""
        if wrapped is None:
            wrapped = await self._store.key(row.incident_id)
        if wrapped is None:
            raise NotFound(f"no incident {row.incident_id}")
        key = crypto.unwrap(self._master, wrapped)
        content = crypto.open_sealed(key, row.incident_id, row.sealed)
        return Incident.from_content(content, row.status, row.version, row.updated_at), key

    async def _may_work(self, caller: Caller, incident_id: int, action: str) -> None:
        """Refuse (and audit the refusal) unless the caller works incidents and is not
        recused from this one."""
        reason = None
        if not caller.works_incidents:
            reason = f"the {caller.role} role cannot read or work incidents"
        elif caller.name in await self._store.recused(incident_id):
            reason = f"{caller.name} is recused from incident {incident_id}"
        if reason is not None:
            if await self._store.get(incident_id) is not None:
                await self._store.audit(incident_id, self._stamp(), caller.name, f"denied:{action}")
            log.warning(
                "incidents.denied", incident_id=incident_id, member=caller.name, action=action
            )
            raise PermissionDenied(reason)

    async def incident_key(
        self, caller: Caller, incident_id: int, action: str, filer_may: bool = False
    ) -> tuple[Incident, bytes]:
        """The incident and its own key, for `action` on it (attachments). Members who
        work incidents may; with `filer_may`, so may the volunteer who filed it."""
        if filer_may and caller.role == "volunteer":
            try:
                _, incident, key = await self._load(incident_id)
            except NotFound:
                pass  # refused below, as for any incident a volunteer did not file
            else:
                if incident.filed_by == caller.name:
                    return incident, key
        await self._may_work(caller, incident_id, action)
        _, incident, key = await self._load(incident_id)
        return incident, key

    async def get(self, caller: Caller, incident_id: int) -> Incident:
        await self._may_work(caller, incident_id, "read")
        _, incident, _ = await self._load(incident_id)
        await self._store.audit(incident_id, self._stamp(), caller.name, "read")
        return incident

    def overdue(self, row: Row, now: datetime) -> str:
        filed = datetime.fromisoformat(row.filed_at)
        if row.status == "new" and now - filed > ACK_WITHIN:
            return "no acknowledgement within 1 hour"
        during = self._dates is None or self._dates[0] <= now.date() <= self._dates[1]
        if (
            row.status in ("new", "acknowledged", "in-review", "needs-info")
            and during
            and now - filed > ACT_WITHIN
        ):
            return "no action within half a day"
        return ""

    async def list_incidents(self, caller: Caller, overdue_only: bool = False) -> list[Summary]:
        if not caller.works_incidents:
            raise PermissionDenied(f"the {caller.role} role cannot list incidents")
        hidden = await self._store.recused_from(caller.name)
        now = self._clock()
        out = [
            Summary(
                r.incident_id,
                r.version,
                r.status,
                r.filed_at,
                r.updated_at,
                self.overdue(r, now),
                r.awaiting_second,
            )
            for r in await self._store.rows()
            if r.incident_id not in hidden
        ]
        return [s for s in out if s.overdue] if overdue_only else out

    async def export_all(self, purpose: str) -> list[Incident]:
        """Every incident, decrypted, for the event's own reports (transparency report,
        end-of-event report) run by the operator on the agent's machine. Each read is
        audited with its purpose."""
        rows, wrapped = await self._store.rows(), await self._store.all_keys()
        out = [(await self._open(row, wrapped.get(row.incident_id)))[0] for row in rows]
        stamp = self._stamp()
        await self._store.audit_many(
            [(row.incident_id, stamp, "operator", f"export:{purpose}") for row in rows]
        )
        return out

    async def export_key(self, incident_id: int, purpose: str) -> bytes:
        """An incident's own key, for the operator's reports on this machine (its files
        go into the end-of-event report); audited with its purpose."""
        _, _, key = await self._load(incident_id)
        await self._store.audit(incident_id, self._stamp(), "operator", f"export:{purpose}")
        return key

    async def audit(self, caller: Caller, incident_id: int) -> list[tuple[str, str, str]]:
        if caller.role != "chair":
            raise PermissionDenied("only a chair reads an incident's audit trail")
        if await self._store.get(incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        return await self._store.audit_trail(incident_id)

    # -- writing -------------------------------------------------------------------------
    async def file(self, caller: Caller, report: Report) -> Incident:
        if caller.role == "operator":
            raise PermissionDenied("the operator key manages the team; file reports as a member")
        check_report(report)
        async with self._lock:
            incident_id = await self._store.next_id()
            key = crypto.new_incident_key()
            now = self._stamp()
            incident = Incident(incident_id, report, caller.name, now, updated_at=now)
            await self._store.put_key(incident_id, crypto.wrap(self._master, key))
            await self._store.insert(
                Row(
                    incident_id,
                    1,
                    "new",
                    now,
                    now,
                    None,
                    None,
                    False,
                    crypto.seal(key, incident_id, incident.content()),
                ),
                caller.name,
            )
        log.info("incidents.filed", incident_id=incident_id, by=caller.name)
        return incident

    async def _change(
        self,
        caller: Caller,
        incident_id: int,
        action: str,
        mutate: Callable[[Incident], None],
        expected_version: int | None = None,
    ) -> Incident:
        await self._may_work(caller, incident_id, action)
        async with self._lock:
            row, incident, key = await self._load(incident_id)
            if expected_version is not None and expected_version != row.version:
                raise VersionConflict(
                    f"incident {incident_id} changed since version {expected_version} "
                    f"(now {row.version}); reload it and try again"
                )
            mutate(incident)
            now = self._stamp()
            incident.version = row.version + 1
            incident.updated_at = now
            decision = incident.decision
            new_row = replace(
                row,
                version=incident.version,
                status=incident.status,
                updated_at=now,
                acknowledged_at=row.acknowledged_at or (now if incident.status != "new" else None),
                decided_at=decision.decided_at if decision and decision.final else None,
                awaiting_second=bool(decision and not decision.final),
                sealed=crypto.seal(key, incident_id, incident.content()),
            )
            recused = {c.member for c in incident.conflicts if c.recused}
            await self._store.update(new_row, row.version, caller.name, action, recused)
        log.info(
            "incidents.changed",
            incident_id=incident_id,
            action=action,
            by=caller.name,
            version=incident.version,
        )
        return incident

    async def update(
        self,
        caller: Caller,
        incident_id: int,
        expected_version: int,
        status: str = "",
        report: Report | None = None,
    ) -> Incident:
        check_update(status, report)

        def mutate(incident: Incident) -> None:
            apply_update(incident, incident_id, status, report)

        return await self._change(caller, incident_id, "update", mutate, expected_version)

    async def add_note(
        self, caller: Caller, incident_id: int, text: str, present: list[str]
    ) -> Incident:
        if not text.strip():
            raise InvalidRequest("a note needs text")
        check_text(text, "note")

        def mutate(incident: Incident) -> None:
            next_id = max((n.note_id for n in incident.notes), default=0) + 1
            incident.notes.append(
                Note(next_id, caller.name, self._stamp(), text, sorted(set(present)))
            )

        return await self._change(caller, incident_id, "note", mutate)

    async def declare_conflict(
        self, caller: Caller, incident_id: int, member: str, reason: str, recuse: bool
    ) -> Incident:
        member = member or caller.name
        if member != caller.name and await self._store.member(member) is None:
            raise NotFound(f"{member} is not on the team")
        check_text(reason, "reason")

        def mutate(incident: Incident) -> None:
            incident.conflicts = [c for c in incident.conflicts if c.member != member]
            incident.conflicts.append(Conflict(member, caller.name, reason, recuse, self._stamp()))

        return await self._change(caller, incident_id, "conflict", mutate)

    async def decide(self, caller: Caller, incident_id: int, decision: Decision) -> Incident:
        check_decision(decision)

        def mutate(incident: Incident) -> None:
            apply_decision(incident, incident_id, decision, caller.name, self._stamp)

        return await self._change(caller, incident_id, "decide", mutate)

    async def communicate(
        self, caller: Caller, incident_id: int, communication: Communication
    ) -> Incident:
        check_communication(communication)

        def mutate(incident: Incident) -> None:
            apply_communication(incident, communication)

        return await self._change(caller, incident_id, "communicate", mutate)

    # -- retention -----------------------------------------------------------------------
    async def apply_retention(self, event_end: date | None, today: date | None = None) -> int:
        """Destroy incidents whose only resolution was a warning, two years after the
        event; the rest are kept until an operator decides."""
        if event_end is None:
            return 0
        today = today or self._clock().date()
        if today < event_end + WARNING_RETENTION:
            return 0
        destroyed = 0
        wrapped = await self._store.all_keys()
        for row in await self._store.rows():
            incident, _ = await self._open(row, wrapped.get(row.incident_id))
            if incident.warning_only:
                await self._store.destroy(row.incident_id)
                destroyed += 1
        if destroyed:
            log.info("incidents.retention_applied", destroyed=destroyed)
        return destroyed
