"""The agent's domain logic, free of gRPC: snapshot sync, matching, checks, alerts.

The agent holds the newest snapshot it has verified against the registry key pinned at
enrolment. Matching is always local; the registry only ever sees blinded points. When a
new snapshot arrives, every stored attendee is re-checked locally (no evaluation, nothing
sent) and each change raises an alert.

A key rotation (spec §6) is switched to only once every distinct stored identity has a
point under the new epoch; until then the new epoch's snapshot waits beside the old one,
people already re-evaluated are matched against it, the others against the old one, and
the rotation task keeps trying (rotation.py). Every answer knows how old its snapshot is
(the last time the registry confirmed it was the newest); past `max_snapshot_age` a person
the agent has not screened before gets UNAVAILABLE, never ALLOW.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
import nacl.signing
import structlog

from services.core import auth
from services.core.enrolment import Enrolment
from services.core.errors import AuthError, InvalidIdentifier, SealError, SignatureError
from services.core.identity import Kind, message
from services.core.snapshot import Status
from services.event_agent.decision import Decision, Result, decide
from services.event_agent.errors import (
    Error,
    InvalidRequest,
    NotFound,
    RegistryRefused,
    RetentionApplied,
    RotationPending,
    SnapshotRejected,
    Unauthenticated,
    Unavailable,
)
from services.event_agent.registry_client import LocalSnapshot, RegistryClient
from services.event_agent.store import Alert, Change, Identity, Screened, SnapshotState, Store

log = structlog.get_logger("lanyard.agent")

ROLES = ("attendee", "speaker")
CALLER_REF = re.compile(r"^[!-~]{0,64}$")
INTEGRATION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REEVALUATE_BATCH = 1000
MAX_SNAPSHOT_AGE = timedelta(minutes=10)
REFRESH_SECONDS = 60.0  # the follower asks even when nothing was announced
INLINE_SYNC_SECONDS = 5.0  # a Check facing a stale snapshot tries this long to refresh it


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


def registry_failure(exc: grpc.aio.AioRpcError, endpoint: str, unreachable: str) -> Error:
    """A network fault (Unavailable, with `unreachable` said) or a refusal the registry
    explained (RegistryRefused, with its reason and what to do) — never one for the other."""
    code = exc.code()
    if code in _UNREACHABLE:
        return Unavailable(f"cannot reach the registry at {endpoint} ({code.name}); {unreachable}")
    hint = _HINTS.get(code)
    return RegistryRefused(
        f"the registry refused: {exc.details()} ({code.name})" + (f"; {hint}" if hint else "")
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
        out.append((Kind.EMAIL, f"lanyard:v1:email:{email}".encode()))
    if name:
        out.append((Kind.NAME, f"lanyard:v1:name:{name}".encode()))
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
        # A new epoch's snapshot, held until every stored identity is evaluated under it.
        self.next_snapshot: LocalSnapshot | None = None
        self.confirmed_at: datetime | None = None  # the newest snapshot known, confirmed
        self.rotation_seen_at: datetime | None = None
        self.max_snapshot_age = MAX_SNAPSHOT_AGE
        self.rotation_wanted = asyncio.Event()
        self.updated = asyncio.Event()  # set whenever a newer snapshot is taken in
        self._verifier = verifier or auth.TokenVerifier()
        self._sync_lock = asyncio.Lock()
        self._rotation_lock = asyncio.Lock()
        # One-shot commands finish a rotation inside sync(); `agent serve` has a task.
        self.rotate_inline = True

    async def start(self) -> None:
        state = await self.store.load_snapshot()
        if state is not None:
            self.snapshot = LocalSnapshot(state.epoch, state.version, state.entries)
            self.confirmed_at = state.confirmed_at
        pending = await self.store.load_next_snapshot()
        if pending is not None and pending.epoch > self.snapshot.epoch:
            self.next_snapshot = LocalSnapshot(pending.epoch, pending.version, pending.entries)
            self.rotation_seen_at = pending.confirmed_at
            self.rotation_wanted.set()

    # -- snapshots -----------------------------------------------------------------------
    @property
    def newest(self) -> LocalSnapshot:
        """The newest snapshot held: the next epoch's while a rotation is pending."""
        return self.next_snapshot or self.snapshot

    def snapshot_age(self, now: datetime | None = None) -> timedelta:
        """How long since the registry last confirmed the newest snapshot held."""
        if self.confirmed_at is None:
            return timedelta.max
        return max(timedelta(0), (now or datetime.now(UTC)) - self.confirmed_at)

    def _old_epoch_age(self, now: datetime) -> timedelta:
        """The old epoch's snapshot stopped being the newest when the rotation was seen."""
        seen = self.rotation_seen_at or self.confirmed_at
        return timedelta.max if seen is None else max(timedelta(0), now - seen)

    async def sync(self) -> list[Alert]:
        """Fetch what is new, verify it, keep it, re-check everyone; returns new alerts.
        A snapshot that does not verify is refused and the one held is kept. A new
        epoch's snapshot is kept beside the old one until the rotation completes; with
        `rotate_inline` (one-shot commands) this call tries to complete it at once."""
        raised = await self._sync()
        if self.rotate_inline and self.next_snapshot is not None:
            try:
                raised += await self.finish_rotation()
            except (RotationPending, RegistryRefused, Unavailable) as exc:
                log.warning("agent.rotation_pending", reason=str(exc))
        return raised

    async def _sync(self) -> list[Alert]:
        async with self._sync_lock:
            base = self.newest
            try:
                fresh = await self.registry.refresh(base)
            except SignatureError as exc:
                log.error("agent.snapshot_rejected", version=base.version, reason=str(exc))
                raise SnapshotRejected(
                    f"the registry's snapshot was refused: {exc}; keeping version {base.version}"
                ) from exc
            now = datetime.now(UTC)
            if (fresh.epoch, fresh.version) == (base.epoch, base.version):
                self.confirmed_at = now
                if self.next_snapshot is None:
                    await self.store.confirm_snapshot(now)
                return []
            state = SnapshotState(fresh.epoch, fresh.version, fresh.entries, now)
            if self.snapshot.epoch and fresh.epoch != self.snapshot.epoch:
                await self.store.save_next_snapshot(
                    SnapshotState(
                        fresh.epoch, fresh.version, fresh.entries, self.rotation_seen_at or now
                    )
                )
                if self.next_snapshot is None:
                    self.rotation_seen_at = now
                    log.warning(
                        "agent.rotation_started",
                        epoch=fresh.epoch,
                        pending=await self.store.pending_count(fresh.epoch),
                    )
                self.next_snapshot = fresh
                self.rotation_wanted.set()
            else:
                await self.store.save_snapshot(state)
                self.snapshot = fresh
            self.confirmed_at = now
            self.updated.set()
            log.info(
                "agent.snapshot_updated",
                epoch=fresh.epoch,
                version=fresh.version,
                entries=len(fresh.entries),
            )
            return await self.recheck()

    async def ensure_snapshot(self) -> None:
        if self.snapshot.version == 0:
            await self.sync()

    async def finish_rotation(self) -> list[Alert]:
        """Evaluate every stored identity still missing a point under the next epoch, then
        switch to it; returns the alerts the re-check raised. Raises RotationPending
        (quota, outage) with the number still pending; the old epoch keeps answering."""
        async with self._rotation_lock:
            return await self._finish_rotation()

    async def _finish_rotation(self) -> list[Alert]:
        pending = self.next_snapshot
        if pending is None:
            return []
        epoch = pending.epoch
        done = 0
        while True:
            stale = await self.store.stale_identities(epoch, REEVALUATE_BATCH)
            if not stale:
                break
            try:
                ys = await self.registry.evaluate_messages(
                    epoch, [m for _, m in stale], self.executor
                )
            except grpc.aio.AioRpcError as exc:
                left = await self.store.pending_count(epoch)
                quota = self.registry.quota_remaining
                raise RotationPending(
                    f"the key rotation to epoch {epoch} cannot finish yet: {left} stored "
                    f"identities still need evaluating under it"
                    + (f", {quota} evaluations left on the quota" if quota is not None else "")
                    + f"; the registry said: {exc.details()} ({exc.code().name}); the old "
                    "epoch keeps answering meanwhile"
                ) from exc
            await self.store.stage_points(
                epoch, [(m, y) for (_, m), y in zip(stale, ys, strict=True)]
            )
            done += len(stale)
        async with self._sync_lock:
            newest = self.next_snapshot
            if newest is None or newest.epoch != epoch:
                return []
            await self.store.switch_epoch(
                SnapshotState(newest.epoch, newest.version, newest.entries, self.confirmed_at)
            )
            self.snapshot, self.next_snapshot, self.rotation_seen_at = newest, None, None
            self.rotation_wanted.clear()
        log.info("agent.rotation_finished", epoch=epoch, identities=done)
        return await self.recheck()

    async def _persons(self) -> dict[int, tuple[LocalSnapshot, dict[Kind, bytes]]]:
        """Each stored person with the snapshot to match them against and their points:
        the next epoch's once all their identities have a point there, else the old."""
        people: dict[int, tuple[LocalSnapshot, dict[Kind, bytes]]] = {}
        current: dict[int, dict[Kind, bytes]] = {}
        for attendee_id, kind, y in await self.store.identities(self.snapshot.epoch):
            current.setdefault(attendee_id, {})[kind] = y
        nxt: dict[int, dict[Kind, bytes]] = {}
        if self.next_snapshot is not None:
            for attendee_id, kind, y in await self.store.identities(self.next_snapshot.epoch):
                nxt.setdefault(attendee_id, {})[kind] = y
        for attendee_id, points in current.items():
            people[attendee_id] = (self.snapshot, points)
        if self.next_snapshot is not None:
            for attendee_id, points in nxt.items():
                if len(points) >= len(current.get(attendee_id, {})):
                    people[attendee_id] = (self.next_snapshot, points)
        return people

    async def recheck(self) -> list[Alert]:
        """Match every stored person against the snapshot held; alert once per person
        and change (one person named by several runs and checks raises one alert)."""
        started = time.perf_counter()
        version = self.newest.version
        people = await self._persons()
        current = await self.store.results()
        results: list[tuple[int, Result]] = []
        alerts: list[tuple[int, str, Result]] = []
        alerted: set[tuple[frozenset[tuple[Kind, bytes]], Result]] = set()
        unreadable = 0
        for attendee_id, (snap, person) in people.items():
            try:
                result = match_result(snap, person)
            except SealError:
                unreadable += 1
                continue
            before = current.get(attendee_id)
            if before is None or before == result:
                continue
            results.append((attendee_id, result))
            key = (frozenset(person.items()), result)
            if key in alerted:
                continue
            alerted.add(key)
            if not before.reason:
                change = "new-match"
            elif not result.reason:
                change = "cleared"
            else:
                change = "changed"
            alerts.append((attendee_id, change, result))
        raised = await self.store.apply(Change(results, alerts, version)) if results else []
        for alert in raised:
            log.warning(
                "agent.alert",
                alert_id=alert.alert_id,
                attendee_id=alert.attendee_id,
                kind=alert.kind,
                reason=alert.result.reason.value,
                record_ref=alert.result.record_ref,
                version=version,
            )
        if unreadable:
            log.error("agent.snapshot_entry_unreadable", count=unreadable, version=version)
        log.info(
            "agent.rechecked",
            attendees=len(people),
            changes=len(results),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return raised

    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]:
        return await self.store.alerts(include_acknowledged)

    async def acknowledge(self, alert_ids: list[int] | None) -> list[int]:
        """Acknowledge open alerts by id (None: all of them); NotFound names ids that are
        not open, and then nothing is acknowledged."""
        if alert_ids is not None:
            open_ids = {a.alert_id for a in await self.store.alerts()}
            unknown = sorted(set(alert_ids) - open_ids)
            if unknown:
                raise NotFound("no open alert " + ", ".join(str(i) for i in unknown))
        done = await self.store.acknowledge(alert_ids, datetime.now(UTC))
        log.info("agent.alerts_acknowledged", count=len(done))
        return done

    async def follow(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        on_progress: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Follow the registry's announcements, and ask anyway every `refresh_seconds`
        (so a silent stream cannot leave the snapshot behind). Any failure ends this
        coroutine with the exception: its supervisor logs it and restarts with backoff."""
        await self.sync()
        if on_progress is not None:
            await on_progress()
        updates = self.registry.watch()
        try:
            while True:
                try:
                    epoch, version = await asyncio.wait_for(anext(updates), refresh_seconds)
                except TimeoutError:
                    await self.sync()
                    continue
                if (epoch, version) != (self.newest.epoch, self.newest.version):
                    await self.sync()
                else:
                    self.confirmed_at = datetime.now(UTC)
                if on_progress is not None:
                    await on_progress()
        finally:
            await updates.aclose()

    # -- points --------------------------------------------------------------------------
    async def points_for(self, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message under the newest epoch (see points_in_epoch)."""
        return (await self.points_in_epoch(messages))[1]

    async def points_in_epoch(self, messages: Sequence[bytes]) -> tuple[int, list[bytes]]:
        """(epoch, Y for each message) under the newest epoch: from the store when known,
        else evaluated. If the registry has moved to a new epoch, follow it once and
        retry. Match the points only against the snapshot of that epoch (snapshot_for)."""
        try:
            return await self._points_for(messages)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            await self.sync()
            return await self._points_for(messages)

    async def _points_for(self, messages: Sequence[bytes]) -> tuple[int, list[bytes]]:
        epoch = self.newest.epoch
        known = await self.store.known_points(list(messages), epoch)
        missing = [m for m in dict.fromkeys(messages) if m not in known]
        if missing:
            ys = await self.registry.evaluate_messages(epoch, missing, self.executor)
            known.update(zip(missing, ys, strict=True))
        return epoch, [known[m] for m in messages]

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
        if self.snapshot.version and self.snapshot_age() <= self.max_snapshot_age:
            return
        try:
            await asyncio.wait_for(self.sync(), INLINE_SYNC_SECONDS)
        except (grpc.aio.AioRpcError, SnapshotRejected, TimeoutError) as exc:
            if self.snapshot.version == 0:
                raise
            log.warning("agent.stale_refresh_failed", reason=type(exc).__name__)

    async def check_answer(self, name: str, email: str, role: str, caller_ref: str) -> Checked:
        """Screen one person against the newest snapshot held, with that snapshot's age.
        Raises InvalidRequest, RetentionApplied, or Unavailable/RegistryRefused when there
        is no way to decide — including a person never screened before while the snapshot
        is older than `max_snapshot_age`."""
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
        await self.refuse_after_retention()
        messages = [m for _, m in wanted]
        try:
            await self._refresh_if_stale()
            known = await self.store.known_points(messages, self.newest.epoch)
            try:
                epoch, ys = await self.points_in_epoch(messages)
                snap = self.snapshot_for(epoch)
            except grpc.aio.AioRpcError:
                # During a rotation, a person already screened under the old epoch can
                # still be answered from the old snapshot when the new epoch cannot help.
                old = await self.store.known_points(messages, self.snapshot.epoch)
                if self.next_snapshot is None or len(old) < len(set(messages)):
                    raise
                snap, known = self.snapshot, old
                ys = [old[m] for m in messages]
        except grpc.aio.AioRpcError as exc:
            raise registry_failure(
                exc,
                self.enrolment.endpoint,
                "cannot decide: this person has not been screened before",
            ) from exc
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
        unseen = old_epoch or len(known) < len(set(messages))
        if age > self.max_snapshot_age and result.decision == Decision.ALLOW and unseen:
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
            await self.store.commit_rows(
                None, 0, snap.epoch, [Screened(caller_ref or "check", role, identities, result)], []
            )
        log.info(
            "agent.checked",
            decision=result.decision.value,
            reason=result.reason.value,
            version=snap.version,
        )
        seconds = 0 if age == timedelta.max else int(age.total_seconds())
        return Checked(result, snap.version, seconds)

    async def refuse_after_retention(self) -> None:
        """RetentionApplied once the retention sweep has deleted the attendee data."""
        done = await self.store.retention_done()
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
