"""The agent's domain logic, free of gRPC: snapshot sync, matching, checks, alerts.

The agent holds the newest snapshot it has verified against the registry key pinned at
enrolment. Matching is always local; the registry only ever sees blinded points. When a
new snapshot arrives, every stored attendee is re-checked locally (no evaluation, nothing
sent) and each change raises an alert.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from datetime import date, timedelta

import grpc
import nacl.signing
import structlog

from lanyard.agent.errors import (
    Error,
    InvalidRequest,
    NotFound,
    RegistryFaulted,
    RegistryRefused,
    SnapshotRejected,
    Unauthenticated,
    Unavailable,
)
from lanyard.agent.screening.decision import Result, decide
from lanyard.agent.store import (
    Alert,
    Change,
    FaultAlert,
    Identity,
    Screened,
    SnapshotState,
    Store,
)
from lanyard.client.errors import EvaluationProofFailed, RegistryFault, RpcFailed
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import auth
from lanyard.core.enrolment import Enrolment
from lanyard.core.errors import AuthError, InvalidIdentifier, SealError, SignatureError
from lanyard.core.identity import Kind, message, message_of
from lanyard.core.snapshot import Status

log = structlog.get_logger("lanyard.agent")

ROLES = ("attendee", "speaker")
CALLER_REF = re.compile(r"^[!-~]{0,64}$")
INTEGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REEVALUATE_BATCH = 1000


_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_HINTS = {
    grpc.StatusCode.UNAUTHENTICATED: "the event's enrolment may have been revoked, or this "
    "agent's key is not the one the WG enrolled: contact the WG",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ask the WG to raise the event's evaluation quota",
}


def registry_failure(exc: RpcFailed, endpoint: str, unreachable: str) -> Error:
    """A network fault (Unavailable, with `unreachable` said) or a refusal the registry
    explained (RegistryRefused, with its reason and what to do) — never one for the other."""
    code = exc.code
    if code in _UNREACHABLE:
        return Unavailable(f"cannot reach the registry at {endpoint} ({code.name}); {unreachable}")
    hint = _HINTS.get(code)
    return RegistryRefused(
        f"the registry refused: {exc.details} ({code.name})" + (f"; {hint}" if hint else "")
    )


def match_result(snapshot: LocalSnapshot, points: dict[Kind, bytes]) -> Result:
    """Decide from whichever of the person's identities match. A tag whose box does not
    open raises SealError: an error, not a match (spec §4)."""
    hits: dict[Kind, Status | None] = {kind: snapshot.match(y) for kind, y in points.items()}
    return decide(hits.get(Kind.EMAIL), hits.get(Kind.NAME))


def messages_for(name: str | None, email: str | None) -> list[tuple[Kind, bytes]]:
    """Already-normalised identifiers to spec §1 messages (e-mail first)."""
    out: list[tuple[Kind, bytes]] = []
    if email:
        out.append((Kind.EMAIL, message_of(Kind.EMAIL, email)))
    if name:
        out.append((Kind.NAME, message_of(Kind.NAME, name)))
    return out


class AgentService:
    def __init__(
        self,
        store: Store,
        enrolment: Enrolment,
        registry: RegistryClient,
        executor: Executor | None,
        verifier: auth.TokenVerifier | None = None,
    ) -> None:
        self.store = store
        self.enrolment = enrolment
        self.registry = registry
        self.executor = executor
        self.snapshot = LocalSnapshot()
        self._verifier = verifier or auth.TokenVerifier()
        self._sync_lock = asyncio.Lock()

    async def start(self) -> None:
        state = await self.store.load_snapshot()
        if state is not None:
            self.snapshot = LocalSnapshot(state.epoch, state.version, state.entries)

    # -- snapshots -----------------------------------------------------------------------
    async def sync(self) -> list[Alert]:
        """Fetch what is new, verify it, keep it, re-check everyone; returns new alerts.
        A snapshot that does not verify is refused and the one held is kept."""
        async with self._sync_lock:
            try:
                fresh = await self.registry.refresh(self.snapshot)
            except SignatureError as exc:
                log.error("agent.snapshot_rejected", version=self.snapshot.version, reason=str(exc))
                raise SnapshotRejected(
                    f"the registry's snapshot was refused: {exc}; keeping version "
                    f"{self.snapshot.version}"
                ) from exc
            pinned = self.enrolment.epoch_public_key
            if pinned and fresh.epoch == self.enrolment.epoch and fresh.public_key != pinned:
                log.error("agent.snapshot_rejected", version=fresh.version, reason="epoch key")
                raise SnapshotRejected(
                    f"the registry's snapshot publishes another public key for epoch "
                    f"{fresh.epoch} than the enrolment bundle; keeping version "
                    f"{self.snapshot.version}"
                )
            if (fresh.epoch, fresh.version) == (self.snapshot.epoch, self.snapshot.version):
                # Nothing new, but the epoch's public key is now known from a signature.
                self.snapshot.public_key = fresh.public_key
                return []
            old_epoch = self.snapshot.epoch
            await self.store.save_snapshot(SnapshotState(fresh.epoch, fresh.version, fresh.entries))
            self.snapshot = fresh
            log.info(
                "agent.snapshot_updated",
                epoch=fresh.epoch,
                version=fresh.version,
                entries=len(fresh.entries),
            )
            if old_epoch and fresh.epoch != old_epoch:
                await self.reevaluate()
            return await self.recheck()

    async def ensure_snapshot(self) -> None:
        if self.snapshot.version == 0:
            await self.sync()

    async def recheck(self) -> list[Alert]:
        """Match every stored identity against the snapshot held; alert on each change."""
        started = time.perf_counter()
        snap = self.snapshot
        points: dict[int, dict[Kind, bytes]] = {}
        for attendee_id, kind, y in await self.store.identities(snap.epoch):
            points.setdefault(attendee_id, {})[kind] = y
        current = await self.store.results()
        results: list[tuple[int, Result]] = []
        alerts: list[tuple[int, str, Result]] = []
        unreadable = 0
        for attendee_id, person in points.items():
            try:
                result = match_result(snap, person)
            except SealError:
                unreadable += 1
                continue
            before = current.get(attendee_id)
            if before is None or before == result:
                continue
            results.append((attendee_id, result))
            if not before.reason:
                change = "new-match"
            elif not result.reason:
                change = "cleared"
            else:
                change = "changed"
            alerts.append((attendee_id, change, result))
        raised = await self.store.apply(Change(results, alerts, snap.version)) if results else []
        for alert in raised:
            log.info(
                "agent.alert",
                alert_id=alert.alert_id,
                attendee_id=alert.attendee_id,
                kind=alert.kind,
                reason=alert.result.reason.value,
                record_ref=alert.result.record_ref,
                version=snap.version,
            )
        if unreadable:
            log.error("agent.snapshot_entry_unreadable", count=unreadable, version=snap.version)
        log.info(
            "agent.rechecked",
            attendees=len(points),
            changes=len(results),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return raised

    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]:
        return await self.store.alerts(include_acknowledged)

    async def reevaluate(self) -> int:
        """After an epoch change: evaluate stored identities again under the new key."""
        epoch = self.snapshot.epoch
        done = 0
        while True:
            stale = await self.store.stale_identities(epoch, REEVALUATE_BATCH)
            if not stale:
                break
            ys = await self.evaluate(epoch, [m for _, _, m in stale])
            await self.store.update_points(
                epoch, [(aid, kind, y) for (aid, kind, _), y in zip(stale, ys, strict=True)]
            )
            done += len(stale)
        log.info("agent.reevaluated", epoch=epoch, identities=done)
        return done

    async def follow(self, first_retry: float = 1.0, max_retry: float = 60.0) -> None:
        """Follow the registry's announcements for as long as the agent runs; when the
        registry is away, retry with a doubling pause (up to a minute)."""
        pause = first_retry
        while True:
            try:
                await self.sync()
                pause = first_retry
                async for epoch, version in self.registry.watch():
                    if (epoch, version) != (self.snapshot.epoch, self.snapshot.version):
                        await self.sync()
            except (RpcFailed, SnapshotRejected, RegistryFaulted) as exc:
                log.warning(
                    "agent.follow_retry",
                    reason=type(exc).__name__,
                    seconds=pause,
                    version=self.snapshot.version,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_retry)

    # -- points --------------------------------------------------------------------------
    async def evaluate(self, epoch: int, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message through the registry, every answer's proof (spec §3a) and
        log entry (§3b) verified first. An answer that does not verify is a registry
        fault: nothing of it is used, an operator alert is raised, RegistryFaulted."""
        try:
            return await self.registry.evaluate_messages(epoch, messages, self.executor)
        except RegistryFault as exc:
            kind = (
                "evaluation-proof" if isinstance(exc, EvaluationProofFailed) else "evaluation-log"
            )
            fault = await self.store.add_registry_fault(kind, str(exc))
            # Logged like every alert (info); the alert row is what `lanyard alerts` shows.
            log.info(
                "agent.registry_fault",
                kind=kind,
                fault_id=fault.fault_id,
                epoch=epoch,
                identities=len(messages),
            )
            raise RegistryFaulted(str(exc)) from exc

    async def registry_faults(self, include_acknowledged: bool = False) -> list[FaultAlert]:
        return await self.store.registry_faults(include_acknowledged)

    async def points_for(self, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message: from the store when known in this epoch, else evaluated.
        If the registry has moved to a new epoch, follow it once and try again."""
        try:
            return await self._points_for(messages)
        except RpcFailed as exc:
            if exc.code != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            await self.sync()
            return await self._points_for(messages)

    async def _points_for(self, messages: Sequence[bytes]) -> list[bytes]:
        epoch = self.snapshot.epoch
        known = await self.store.known_points(list(messages), epoch)
        missing = [m for m in dict.fromkeys(messages) if m not in known]
        if missing and self.registry.epoch_key(epoch) is None:
            # Proofs are checked against the epoch's key from a signed snapshot (spec §3a):
            # after a restart, fetch what is new first (people already known need none).
            await self.sync()
            epoch = self.snapshot.epoch
            known = await self.store.known_points(list(messages), epoch)
            missing = [m for m in dict.fromkeys(messages) if m not in known]
        if missing:
            ys = await self.evaluate(epoch, missing)
            known.update(zip(missing, ys, strict=True))
        return [known[m] for m in messages]

    # -- registration checks -------------------------------------------------------------
    async def check(self, name: str, email: str, role: str, caller_ref: str) -> Result:
        """Screen one person; UNAVAILABLE when there is no way to decide."""
        role = role or "attendee"
        if role not in ROLES:
            raise InvalidRequest(f"role must be attendee or speaker, got {role[:20]!r}")
        if not CALLER_REF.match(caller_ref):
            raise InvalidRequest("caller_ref must be at most 64 printable ASCII characters")
        wanted: list[tuple[Kind, bytes]] = []
        if email.strip():
            try:
                wanted.append((Kind.EMAIL, message(Kind.EMAIL, email)))
            except InvalidIdentifier as exc:
                raise InvalidRequest(f"email is not usable: {exc}") from exc
        if name.strip():
            try:
                wanted.append((Kind.NAME, message(Kind.NAME, name)))
            except InvalidIdentifier as exc:
                if not wanted:
                    raise InvalidRequest(f"name is not usable: {exc}") from exc
        if not wanted:
            raise InvalidRequest("a check needs a name or an e-mail address")
        try:
            await self.ensure_snapshot()
            ys = await self.points_for([m for _, m in wanted])
        except RpcFailed as exc:
            raise registry_failure(
                exc,
                self.enrolment.endpoint,
                "cannot decide: this person has not been screened before",
            ) from exc
        except RegistryFaulted as exc:
            raise RegistryFaulted(f"cannot decide: {exc}") from exc
        if self.snapshot.version == 0:
            raise Unavailable("cannot decide: no snapshot of the WG's list has been received")
        points = {kind: y for (kind, _), y in zip(wanted, ys, strict=True)}
        try:
            result = match_result(self.snapshot, points)
        except SealError as exc:
            raise Unavailable(f"cannot decide: {exc}") from exc
        identities = [Identity(k, m, y) for (k, m), y in zip(wanted, ys, strict=True)]
        await self.store.commit_rows(
            None,
            0,
            self.snapshot.epoch,
            [Screened(caller_ref or "check", role, identities, result)],
            [],
        )
        log.info(
            "agent.checked",
            decision=result.decision.value,
            reason=result.reason.value,
            version=self.snapshot.version,
        )
        return result

    async def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, method: str
    ) -> str:
        """An integration's call token; returns the integration's name."""
        try:
            token = auth.parse_token(metadata)
            if token.kind != "integration":
                raise AuthError(f"{token.key_id} is not an integration key of this agent")
            key = await self.store.integration_key(token.subject)
            if key is None:
                raise AuthError(f"unknown or revoked integration {token.subject}")
            self._verifier.verify(token, method, key)
        except AuthError as exc:
            raise Unauthenticated(str(exc)) from exc
        return token.subject

    # -- integrations --------------------------------------------------------------------
    async def add_integration(self, name: str) -> nacl.signing.SigningKey:
        """A new key for a ticketing system; its public half is kept, the rest returned."""
        if not INTEGRATION_NAME.match(name):
            raise InvalidRequest(
                "integration name must be 1 to 64 lowercase letters, digits, dots, dashes "
                "or underscores"
            )
        key = nacl.signing.SigningKey.generate()
        await self.store.add_integration(name, bytes(key.verify_key))
        log.info("agent.integration_added", integration=name)
        return key

    async def revoke_integration(self, name: str) -> None:
        if await self.store.integration_key(name) is None:
            raise NotFound(f"no active integration {name}")
        await self.store.revoke_integration(name)
        log.info("agent.integration_revoked", integration=name)

    # -- retention -----------------------------------------------------------------------
    async def apply_retention(self, retention_days: int, today: date | None = None) -> int:
        """Delete attendee lists and results `retention_days` after the event's end."""
        ends = self.enrolment.ends_on
        today = today or date.today()
        if ends is None or today < ends + timedelta(days=retention_days):
            return 0
        deleted = await self.store.delete_attendees()
        log.info("agent.retention_applied", attendees=deleted, days=retention_days)
        return deleted
