"""The agent's domain logic, free of gRPC: checks, points, integrations, retention.

Matching is always local; the registry only ever sees blinded points. Following the WG's
list (snapshot sync, key rotation, re-checks, alerts) is in following.py, which this
class inherits. Every answer knows how old its snapshot is (the last time the registry
confirmed it was the newest); past `max_snapshot_age` a person the agent has not screened
before — or one not yet evaluated under a new key — gets UNAVAILABLE, never ALLOW.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import grpc
import nacl.signing
import structlog

from lanyard.agent.errors import (
    Error,
    InvalidRequest,
    NotFound,
    RegistryFaulted,
    RegistryRefused,
    RetentionApplied,
    SnapshotCorrupt,
    SnapshotRejected,
    Unauthenticated,
    Unavailable,
)
from lanyard.agent.following import SnapshotFollower
from lanyard.agent.recheck import match_result
from lanyard.agent.screening.decision import Decision, Result
from lanyard.agent.store import FaultAlert, Identity, Screened, SnapshotState, Store
from lanyard.client.errors import EvaluationProofFailed, RegistryFault, RpcFailed
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import auth
from lanyard.core.address import screenable_email
from lanyard.core.coalesce import Coalescer
from lanyard.core.enrolment import Enrolment
from lanyard.core.errors import AuthError, InvalidIdentifier, SealError
from lanyard.core.identity import Kind, message, message_of

log = structlog.get_logger("lanyard.agent")

ROLES = ("attendee", "speaker")
CALLER_REF = re.compile(r"^[!-~]{0,64}$")
INTEGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_SNAPSHOT_AGE = timedelta(minutes=10)
INLINE_SYNC_SECONDS = 5.0  # a Check facing a stale snapshot tries this long to refresh it
RETENTION_RECHECK_SECONDS = 30.0  # `agent retention apply` may run in another process
# Evaluations of at most this many messages (a Check's) share registry calls when they
# overlap (core/coalesce.py), up to COALESCED_POINTS a call; larger ones (screening) go
# as they are. Checks' rows share transactions the same way.
COALESCE_UP_TO = 8
COALESCED_POINTS = 256
COALESCED_ROWS = 256


def _over_quota(exc: Exception) -> bool:
    """A shared evaluation refused for quota: its callers go one call each."""
    return isinstance(exc, RpcFailed) and exc.code == grpc.StatusCode.RESOURCE_EXHAUSTED


class Points(NamedTuple):
    """Points of one epoch for a list of messages; `evaluated` of them were new (asked
    of the registry just now), the rest known from the store."""

    epoch: int
    ys: list[bytes]
    evaluated: int


@dataclass(frozen=True, slots=True)
class Checked:
    """A Check's answer: the decision, and the snapshot it was made against."""

    result: Result
    snapshot_version: int
    snapshot_age_seconds: int


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
    if code == grpc.StatusCode.UNAVAILABLE and exc.answered:
        # The registry is up and said it cannot serve now (its disk, its own state).
        return Unavailable(
            f"the registry at {endpoint} answered that it cannot serve now ({exc.details}); "
            f"{unreachable}"
        )
    if code in _UNREACHABLE:
        return Unavailable(f"cannot reach the registry at {endpoint} ({code.name}); {unreachable}")
    hint = _HINTS.get(code)
    return RegistryRefused(
        f"the registry refused: {exc.details} ({code.name})" + (f"; {hint}" if hint else "")
    )


def messages_for(name: str | None, email: str | None) -> list[tuple[Kind, bytes]]:
    """Already-normalised identifiers to spec §1 messages (e-mail first)."""
    out: list[tuple[Kind, bytes]] = []
    if email:
        out.append((Kind.EMAIL, message_of(Kind.EMAIL, email)))
    if name:
        out.append((Kind.NAME, message_of(Kind.NAME, name)))
    return out


def _local(state: SnapshotState) -> LocalSnapshot:
    """The stored snapshot as held in memory. Its epoch key stays unknown until a
    snapshot signed with it comes in this process (RegistryClient.epoch_key)."""
    return LocalSnapshot(
        state.epoch,
        state.version,
        state.entries,
        signature=state.signature,
        verified=state.verified,
    )


class AgentService(SnapshotFollower):
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
        # A new epoch's snapshot, held until every stored identity is evaluated under it.
        self.next_snapshot: LocalSnapshot | None = None
        self.confirmed_at: datetime | None = None  # the newest snapshot known, confirmed
        self.rotation_seen_at: datetime | None = None
        self.max_snapshot_age = MAX_SNAPSHOT_AGE
        self.rotation_wanted = asyncio.Event()
        self.updated = asyncio.Event()  # set whenever a newer snapshot is taken in
        self._verifier = verifier or auth.TokenVerifier()
        self._sync_lock = asyncio.Lock()
        self._index = None
        self._rotation_lock = asyncio.Lock()
        # One-shot commands finish a rotation inside sync(); `agent serve` has a task.
        self.rotate_inline = True
        self._refresh_tried = -INLINE_SYNC_SECONDS
        self._retention_done: datetime | None = None
        self._retention_asked = -RETENTION_RECHECK_SECONDS
        self._evaluations = Coalescer(
            self._evaluate_now, COALESCED_POINTS, distinct=True, alone=_over_quota
        )
        self._check_rows = Coalescer(self._commit_checks, COALESCED_ROWS)

    async def start(self) -> None:
        """Take in the snapshots stored (the next epoch's too). A stored snapshot whose
        entries do not lead to the root stored with it is not used: logged, and fetched
        again in full by the next sync (until then checks say UNAVAILABLE)."""
        state = await self._stored(self.store.load_snapshot, "held")
        if state is not None:
            self.snapshot = _local(state)
            self.confirmed_at = state.confirmed_at
        pending = await self._stored(self.store.load_next_snapshot, "next")
        if pending is not None and pending.epoch > self.snapshot.epoch:
            self.next_snapshot = _local(pending)
            self.rotation_seen_at = pending.confirmed_at
            self.rotation_wanted.set()

    @staticmethod
    async def _stored(
        load: Callable[[], Awaitable[SnapshotState | None]], which: str
    ) -> SnapshotState | None:
        try:
            state = await load()
        except SnapshotCorrupt as exc:
            log.error("agent.snapshot_corrupt", snapshot=which, reason=str(exc))
            return None
        if state is not None and not state.verified:
            log.warning("agent.snapshot_unverified", snapshot=which, version=state.version)
        return state

    # -- points --------------------------------------------------------------------------
    async def evaluate(self, epoch: int, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message through the registry, every answer's proof (spec §3a) and
        log entry (§3b) verified first. An answer that does not verify is a registry
        fault: nothing of it is used, an operator alert is raised, RegistryFaulted.
        A few messages (a Check's) may share a call with other callers' (coalesce.py)."""
        if len(messages) <= COALESCE_UP_TO:
            return await self._evaluations.submit(epoch, messages)
        return await self._evaluate_now(epoch, list(messages))

    async def _evaluate_now(self, epoch: int, messages: list[bytes]) -> list[bytes]:
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

    async def _commit_checks(self, epoch: int, screened: list[Screened]) -> list[int]:
        """Checks' people of one epoch, in one transaction (coalesced, see __init__)."""
        return await self.store.commit_rows(None, 0, epoch, screened, [])

    async def registry_faults(self, include_acknowledged: bool = False) -> list[FaultAlert]:
        return await self.store.registry_faults(include_acknowledged)

    async def points_for(self, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message under the newest epoch (see points_in_epoch)."""
        return (await self.points_in_epoch(messages)).ys

    async def points_in_epoch(self, messages: Sequence[bytes]) -> Points:
        """Y for each message under the newest epoch: from the store when known, else
        evaluated. If the registry has moved to a new epoch, follow it once and retry.
        Match the points only against the snapshot of that epoch (snapshot_for)."""
        try:
            return await self._points_for(messages)
        except RpcFailed as exc:
            if exc.code != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            await self.sync()
            return await self._points_for(messages)

    async def _points_for(self, messages: Sequence[bytes]) -> Points:
        epoch = self.newest.epoch
        known = await self.store.known_points(list(messages), epoch)
        missing = [m for m in dict.fromkeys(messages) if m not in known]
        if missing and self.registry.epoch_key(epoch) is None:
            # Proofs are checked against the epoch's key from a signed snapshot (spec §3a):
            # after a restart, fetch what is new first (people already known need none).
            await self.sync()
            epoch = self.newest.epoch
            known = await self.store.known_points(list(messages), epoch)
            missing = [m for m in dict.fromkeys(messages) if m not in known]
        if missing:
            ys = await self.evaluate(epoch, missing)
            known.update(zip(missing, ys, strict=True))
        return Points(epoch, [known[m] for m in messages], len(missing))

    def snapshot_for(self, epoch: int) -> LocalSnapshot:
        """The snapshot held for `epoch`; Unavailable when it is neither held one (the
        points would match nothing: never a silent ALLOW)."""
        for snap in (self.next_snapshot, self.snapshot):
            if snap is not None and snap.epoch == epoch:
                return snap
        raise Unavailable(
            f"cannot decide: no snapshot of epoch {epoch} is held (newest {self.newest.epoch})"
        )

    # -- registration checks -------------------------------------------------------------
    async def check(self, name: str, email: str, role: str, caller_ref: str) -> Result:
        """Screen one person; UNAVAILABLE when there is no way to decide."""
        return (await self.check_answer(name, email, role, caller_ref)).result

    async def _refresh_if_stale(self) -> None:
        """A stale (or missing) list: try once to refresh it, unless another call is at
        it or tried moments ago (callers never queue behind an unreachable registry)."""
        if self.snapshot.version and self.snapshot_age() <= self.max_snapshot_age:
            return
        now = time.monotonic()
        if self.snapshot.version and (
            self._sync_lock.locked() or now - self._refresh_tried < INLINE_SYNC_SECONDS
        ):
            return
        self._refresh_tried = now
        try:
            await asyncio.wait_for(self.sync(), INLINE_SYNC_SECONDS)
        except (RpcFailed, SnapshotRejected, TimeoutError) as exc:
            if self.snapshot.version == 0:
                raise
            log.warning("agent.stale_refresh_failed", reason=type(exc).__name__)

    async def check_answer(self, name: str, email: str, role: str, caller_ref: str) -> Checked:
        """Screen one person against the newest snapshot held, with that snapshot's age.
        Raises InvalidRequest (also when the name or the e-mail given is not usable, even
        beside a usable one), RetentionApplied, or Unavailable/RegistryRefused when there
        is no way to decide — including a person never screened before while the snapshot
        is older than `max_snapshot_age`."""
        role = role or "attendee"
        if role not in ROLES:
            raise InvalidRequest(f"role must be attendee or speaker, got {role[:20]!r}")
        if not CALLER_REF.match(caller_ref):
            raise InvalidRequest("caller_ref must be at most 64 printable ASCII characters")
        # Everything given is screened, or the call is refused (INVALID_ARGUMENT, which
        # integrations hold for review): an answer never stands for a part left out.
        wanted: list[tuple[Kind, bytes]] = []
        if email.strip():
            try:
                wanted.append((Kind.EMAIL, message_of(Kind.EMAIL, screenable_email(email))))
            except InvalidIdentifier as exc:
                raise InvalidRequest(f"email is not usable: {exc}") from exc
        if name.strip():
            try:
                wanted.append((Kind.NAME, message(Kind.NAME, name)))
            except InvalidIdentifier as exc:
                raise InvalidRequest(f"name is not usable: {exc}") from exc
        if not wanted:
            raise InvalidRequest("a check needs a name or an e-mail address")
        await self.refuse_after_retention()
        messages = [m for _, m in wanted]
        try:
            await self._refresh_if_stale()
            try:
                found = await self.points_in_epoch(messages)
                snap, ys, unseen = self.snapshot_for(found.epoch), found.ys, found.evaluated
            except RpcFailed:
                # During a rotation, a person already screened under the old epoch can
                # still be answered from the old snapshot when the new epoch cannot help.
                old = await self.store.known_points(messages, self.snapshot.epoch)
                if self.next_snapshot is None or len(old) < len(set(messages)):
                    raise
                snap, ys, unseen = self.snapshot, [old[m] for m in messages], 0
        except RpcFailed as exc:
            raise registry_failure(
                exc,
                self.enrolment.endpoint,
                "cannot decide: this person has not been screened before",
            ) from exc
        except RegistryFaulted as exc:
            raise RegistryFaulted(f"cannot decide: {exc}") from exc
        if snap.version == 0:
            raise Unavailable("cannot decide: no snapshot of the WG's list has been received")
        now = datetime.now(UTC)
        old_epoch = snap.epoch != self.newest.epoch
        age = self._old_epoch_age(now) if old_epoch else self.snapshot_age(now)
        points = {kind: y for (kind, _), y in zip(wanted, ys, strict=True)}
        try:
            result = match_result(snap, points)
        except SealError as exc:
            raise Unavailable(f"cannot decide: {exc}") from exc
        # A stale list may still say REVIEW or DENY; it may not clear someone it has not
        # cleared before, nor anyone from an epoch the registry has left behind.
        not_cleared_before = old_epoch or unseen > 0
        if age > self.max_snapshot_age and result.decision == Decision.ALLOW and not_cleared_before:
            raise Unavailable(
                "cannot decide: the WG's list held here was last confirmed "
                + ("never" if age == timedelta.max else f"{int(age.total_seconds())} s ago")
                + f" (the bound is {int(self.max_snapshot_age.total_seconds())} s)"
                + (
                    " and this person is not yet evaluated under the registry's new key"
                    if old_epoch
                    else " and this person has not been screened before"
                )
                + "; is `lanyard agent serve` following the registry?"
            )
        identities = [Identity(k, m, y) for (k, m), y in zip(wanted, ys, strict=True)]
        if not old_epoch:
            screened = Screened(caller_ref or "check", role, identities, result)
            await self._check_rows.submit(snap.epoch, [screened])
            if self.newest.version != snap.version:
                # A newer list arrived while this person was being stored; its re-check
                # may have missed them: check everyone again (alerts on any change).
                await self.recheck_now()
        log.info(
            "agent.checked",
            decision=result.decision.value,
            reason=result.reason.value,
            version=snap.version,
        )
        seconds = 0 if age == timedelta.max else int(age.total_seconds())
        return Checked(result, snap.version, seconds)

    async def refuse_after_retention(self) -> None:
        """RetentionApplied once the retention sweep has deleted the attendee data (asked
        of the store at most every RETENTION_RECHECK_SECONDS; once done, it stays done)."""
        done = self._retention_done
        now = time.monotonic()
        if done is None and now - self._retention_asked >= RETENTION_RECHECK_SECONDS:
            self._retention_asked = now
            done = self._retention_done = await self.store.retention_done()
        if done is not None:
            raise RetentionApplied(
                f"the attendee data was deleted on {done.date().isoformat()} under the "
                "retention policy; this event's screening is over"
            )

    async def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, method: str
    ) -> str:
        """An integration's call token; returns the integration's name."""
        try:
            token = auth.parse_token(metadata)
            if token.kind != "integration":
                raise AuthError(f"{token.key_id} is not an integration key of this agent")
            candidates = await self.store.integration_keys(token.subject)
            if not candidates:
                raise AuthError(f"unknown or revoked integration {token.subject}")
            # During a rotation's overlap the previous key still works (rotate_integration).
            for key in candidates[1:]:
                try:
                    await self._verifier.verify(token, method, key)
                    return token.subject
                except AuthError:
                    continue
            await self._verifier.verify(token, method, candidates[0])
        except AuthError as exc:
            raise Unauthenticated(auth.refused(exc, metadata, method)) from exc
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

    async def rotate_integration(self, name: str) -> nacl.signing.SigningKey:
        """A new key for an active integration. Its old key keeps working until
        `retire_previous_integration_key`, so the ticketing system can move over with no
        call failing in between. Raises NotFound."""
        key = nacl.signing.SigningKey.generate()
        if not await self.store.rotate_integration(name, bytes(key.verify_key)):
            raise NotFound(f"no active integration {name}")
        log.info("agent.integration_rotated", integration=name)
        return key

    async def retire_previous_integration_key(self, name: str) -> None:
        """After a rotation: refuse the old key from now on. Raises NotFound."""
        if not await self.store.retire_previous_integration_key(name):
            raise NotFound(f"integration {name} has no previous key to retire")
        log.info("agent.integration_previous_key_retired", integration=name)

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
        self._retention_done = await self.store.retention_done()
        log.info("agent.retention_applied", attendees=deleted, days=retention_days)
        return deleted
