"""The registry's domain logic, free of gRPC: who may call, evaluation, snapshots, admin.

Servicers translate requests into calls here and errors out via grpc_errors.py. State that
every call reads (the live snapshot and its signature) is kept in memory and changed only
under one lock, after the store has committed the same change.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import nacl.signing
import structlog

from lanyard.core import auth, keys, limits, proof, screen, snapshot
from lanyard.core.blinding import run_chunked
from lanyard.core.errors import AuthError, InvalidPoint
from lanyard.core.errors import Error as CoreError
from lanyard.core.evaluation_log import ADMIN_EVENT
from lanyard.registry.epoch_keys import EpochKeys
from lanyard.registry.errors import (
    InvalidRequest,
    OutsideWindow,
    PermissionDenied,
    QuotaExhausted,
    Unauthenticated,
    WrongEpoch,
)
from lanyard.registry.evaluations import Evaluation, EvaluationLog, evaluate_and_prove
from lanyard.registry.record_changes import RANK
from lanyard.registry.record_ops import RecordOps
from lanyard.registry.retention import utc_today
from lanyard.registry.snapshots import DeltaSnapshot, FullSnapshot, LiveSnapshot
from lanyard.registry.store import (
    Entry,
    Event,
    LoggedEvaluation,
    Store,
)

log = structlog.get_logger("lanyard.registry")

EVENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "event" | "admin"
    subject: str
    role: str = ""  # for admins: "operator" or "reader"
    event: Event | None = None  # for events: the enrolment the token was checked against


class KeyFiles(Protocol):
    """Where OPRF keys live: never in the database (spec SCREEN-v1 "what each party learns")."""

    def save_oprf_key(self, epoch: int, k: bytes) -> None: ...

    def destroy_oprf_key(self, epoch: int) -> None: ...


class RegistryService(RecordOps):
    def __init__(
        self,
        store: Store,
        signing_key: nacl.signing.SigningKey,
        oprf_keys: dict[int, bytes] | EpochKeys,
        executor: Executor | None,
        max_batch: int = 10_000,
        verifier: auth.TokenVerifier | None = None,
        key_files: KeyFiles | None = None,
        evaluation_days_after_end: int = 30,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._store = store
        self.today = today  # what record expiries are measured against
        self._signing_key = signing_key
        self._oprf_keys = oprf_keys if isinstance(oprf_keys, EpochKeys) else EpochKeys(oprf_keys)
        self._executor = executor
        self.max_batch = max_batch
        self._verifier = verifier or auth.TokenVerifier()
        self._key_files = key_files
        self.evaluation_days_after_end = evaluation_days_after_end
        self._lock = asyncio.Lock()
        self._snap = LiveSnapshot(store, signing_key)
        self.evaluation_log = EvaluationLog(store, signing_key)
        self._revoked: set[str] = set()  # revoked while running: their streams end

    @property
    def store(self) -> Store:
        """The registry's store, for use cases kept beside this service (event_keys.py)."""
        return self._store

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing_key.verify_key)

    async def rekey(self, signing_key: nacl.signing.SigningKey) -> None:
        """Sign snapshots and evaluation-log heads with `signing_key` from now on
        (registry/signing.py)."""
        # The log first: a client that learns the new key from a snapshot must never then
        # meet a head the old one signed (it would read as a registry fault). A head the
        # new key signs before the client knows it sends the client along the key chain.
        await self.evaluation_log.rekey(signing_key)
        async with self._lock:
            self._signing_key = signing_key
            self._snap.rekey(signing_key)
        await self._snap.notify()

    @property
    def epoch(self) -> int:
        return self._snap.epoch

    @property
    def version(self) -> int:
        return self._snap.version

    @property
    def epoch_public_key(self) -> bytes:
        """pk = k * G of the current epoch (32 bytes, spec §3a)."""
        return self._oprf_keys.public_key(self._snap.epoch)

    @property
    def snapshot_entries(self) -> int:
        """Entries of the live snapshot, padding included."""
        return self._snap.count

    async def start(self) -> None:
        """Load the live snapshot from the store; pad a brand-new one."""
        self._snap.epoch = await self._store.current_epoch()
        if self._snap.epoch not in self._oprf_keys:
            raise InvalidRequest(f"no OPRF key file for the current epoch {self._snap.epoch}")
        self._snap.public_key = self._oprf_keys.public_key(self._snap.epoch)
        await self._snap.load()
        await self.evaluation_log.load()
        log.info(
            "registry.snapshot_loaded",
            epoch=self._snap.epoch,
            version=self._snap.version,
            entries=self._snap.count,
        )

    # -- authentication ------------------------------------------------------------------
    async def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, method: str, allowed: str
    ) -> Principal:
        """Verify the call token; `allowed` is the principal kind the service serves."""
        try:
            token = auth.parse_token(metadata)
            self._verifier.check_time(token)
            public_key, role, event = await self._public_key_for(token)
            await self._verifier.verify(token, method, public_key)
        except AuthError as exc:
            raise Unauthenticated(auth.refused(exc, metadata, method)) from exc
        principal = Principal(token.kind, token.subject, role, event)
        if principal.kind != allowed:
            raise PermissionDenied(
                f"{token.key_id} may not call {method}: it is for {allowed} keys only"
            )
        return principal

    async def _public_key_for(self, token: auth.Token) -> tuple[bytes, str, Event | None]:
        if token.kind == "event":
            event = await self._store.get_event(token.subject)
            if event is None:
                raise AuthError(f"unknown event {token.subject}")
            if event.revoked_at is not None:
                raise AuthError(f"event {token.subject} was revoked")
            return event.public_key, "", event
        if token.kind == "admin":
            admin = await self._store.admin(token.subject)
            if admin is None:
                raise AuthError(f"unknown admin key {token.subject}")
            return admin[0], admin[1], None
        raise AuthError(f"unknown key kind {token.kind}")

    # -- evaluation ----------------------------------------------------------------------
    def _check_suite_epoch(self, suite: str, epoch: int) -> None:
        if suite != screen.SUITE:
            raise InvalidRequest(f"suite must be {screen.SUITE}, got {suite[:40]!r}")
        current = self._snap.epoch
        if epoch != current:
            raise WrongEpoch(f"epoch {epoch} is not served; the current epoch is {current}")

    def _check_batch(self, points: Sequence[bytes]) -> None:
        if not points:
            raise InvalidRequest("blinded_points is empty")
        if len(points) > min(self.max_batch, proof.MAX_BATCH):
            raise InvalidRequest(
                f"batch of {len(points)} points is over the limit of "
                f"{min(self.max_batch, proof.MAX_BATCH)} per call"
            )

    async def _evaluate(
        self, caller: str, epoch: int, points: Sequence[bytes]
    ) -> tuple[list[bytes], bytes]:
        """Z for each point and the §3a proof; the caller has checked the batch."""
        k = self._oprf_keys.secret(epoch, caller)
        try:
            return await evaluate_and_prove(
                k, self._oprf_keys.public_key(epoch), points, self._executor
            )
        except InvalidPoint as exc:
            raise InvalidRequest(f"blinded_points: {exc}") from exc

    def window(self, event: Event) -> tuple[date, date]:
        """The first and last day an event may evaluate: from its enrolment to its end
        plus `evaluation_days_after_end` (the attendee retention period)."""
        first = event.created_at.date() if event.created_at else event.starts_on
        return first, event.ends_on + timedelta(days=self.evaluation_days_after_end)

    def _check_window(self, event: Event, today: date | None = None) -> None:
        today = today or datetime.now(UTC).date()
        first, last = self.window(event)
        if not first <= today <= last:
            raise OutsideWindow(
                f"event {event.event_id} may evaluate from {first.isoformat()} to "
                f"{last.isoformat()} (enrolment to {self.evaluation_days_after_end} days "
                f"after the event); today is {today.isoformat()}"
            )

    async def evaluate(
        self, event: Event, suite: str, epoch: int, points: Sequence[bytes]
    ) -> Evaluation:
        """Z = k * B for each point with the §3a proof, counted against the event's quota
        and logged (spec §3, §3b, §7). `event` is the enrolment authentication just read:
        its count is a first, cheap check; the store's atomic reservation is the one that
        holds under races, and it appends the log leaf in the same transaction."""
        started = time.perf_counter()
        event_id = event.event_id
        self._check_window(event)
        self._check_suite_epoch(suite, epoch)
        self._check_batch(points)
        if event.used + len(points) > event.quota:
            raise QuotaExhausted(
                f"evaluation quota of {event.quota} for event {event_id} would be exceeded: "
                f"{event.used} used, {len(points)} requested"
            )
        caller = f"event:{event_id}"
        evaluated, made = await self._evaluate(caller, epoch, points)
        remaining, entry = await self.evaluation_log.record(
            caller,
            event_id,
            epoch,
            points,
            lambda logged: self._store.reserve_evaluations(event_id, len(points), logged),
        )
        log.info(
            "registry.evaluated",
            event_id=event_id,
            count=len(points),
            epoch=epoch,
            log_index=entry.log_index,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return Evaluation(evaluated, made, remaining, entry)

    async def evaluate_for_record(
        self, admin: str, suite: str, epoch: int, points: Sequence[bytes]
    ) -> Evaluation:
        """An admin key's blinded round (spec §5): no quota, but logged like any other."""
        self._check_suite_epoch(suite, epoch)
        self._check_batch(points)
        caller = f"admin:{admin}"
        evaluated, made = await self._evaluate(caller, epoch, points)

        async def append(logged: LoggedEvaluation) -> int:
            await self._store.append_evaluation(logged)
            return 0

        _, entry = await self.evaluation_log.record(caller, ADMIN_EVENT, epoch, points, append)
        log.info(
            "registry.evaluated_for_record",
            admin=admin,
            count=len(points),
            epoch=epoch,
            log_index=entry.log_index,
        )
        return Evaluation(evaluated, made, 0, entry)

    # -- snapshots -----------------------------------------------------------------------
    @asynccontextmanager
    async def snapshot(self, since_version: int) -> AsyncIterator[FullSnapshot | DeltaSnapshot]:
        """A delta since `since_version`, or the whole snapshot: its header and a reader
        of its entries pinned at the header's version, taken under the lock and read
        after it (a change committed meanwhile is not seen). Closed on leaving."""
        async with self._lock:
            snap = await self._snap.since(since_version)
        try:
            yield snap
        finally:
            if isinstance(snap, FullSnapshot):
                await snap.close()

    def watch(self, event_id: str | None = None) -> AsyncIterator[tuple[int, int]]:
        """(epoch, version) now, then each time it changes; for `event_id`, ends when that
        event is revoked."""
        return self._snap.watch(stop=lambda: event_id in self._revoked)

    async def list_evaluations(
        self, event_id: str | None, since: str | None
    ) -> list[LoggedEvaluation]:
        """The evaluation log's leaves (spec §3b), of one event or "admin", from `since`."""
        return await self._store.list_evaluations(event_id, since)

    # -- key rotation --------------------------------------------------------------------
    async def rotate_key(self, from_epoch: int) -> tuple[int, int, int]:
        """Spec §6: k -> k', every Y -> delta * Y, tags under epoch + 1, no names needed.
        Returns (new epoch, snapshot version, points moved)."""
        if self._key_files is None:
            raise InvalidRequest("this registry was started without its key directory")
        async with self._lock:
            old_epoch, new_epoch = self._snap.epoch, self._snap.epoch + 1
            if from_epoch != old_epoch:
                raise WrongEpoch(
                    f"asked to rotate from epoch {from_epoch}; the current epoch is {old_epoch}"
                )
            k_new = screen.random_scalar()
            delta = screen.rotation_delta(self._oprf_keys.secret(old_epoch, "rotation"), k_new)
            stored = await self._store.points(old_epoch)
            moved = await run_chunked(
                [y for _, y in stored],
                lambda ys, _o: [screen.rotate(delta, y) for y in ys],
                self._executor,
            )
            points = [(ref, y) for (ref, _), y in zip(stored, moved, strict=True)]
            records = {r.record_ref: r for r in await self._store.list_records()}
            best: dict[bytes, tuple[int, Entry]] = {}
            for ref, y in points:
                record = records[ref]
                tag, sealed = snapshot.seal_status(
                    new_epoch, y, snapshot.Status(record.status, ref, record.expires_on)
                )
                rank = RANK[record.status]
                if rank > best.get(tag, (0, Entry(tag, sealed, ref)))[0]:
                    best[tag] = (rank, Entry(tag, sealed, ref))
            entries = [e for _, e in best.values()]
            entries += self._snap.padding_for(len(entries), 0)
            self._key_files.save_oprf_key(new_epoch, k_new)
            version = await self._store.rotate(new_epoch, points, entries)
            self._oprf_keys.install(new_epoch, k_new, only=True)
            self._snap.public_key = self._oprf_keys.public_key(new_epoch)
            await self._snap.reload(new_epoch, version)
            # The old key file is destroyed; k and delta live on only until collected.
            self._key_files.destroy_oprf_key(old_epoch)
        await self._snap.notify()
        log.info("registry.key_rotated", epoch=new_epoch, points=len(points), version=version)
        return new_epoch, version, len(points)

    # -- events --------------------------------------------------------------------------
    async def enroll_event(self, event: Event) -> Event:
        if not EVENT_ID.match(event.event_id):
            raise InvalidRequest(
                "event_id must be 1 to 64 lowercase letters, digits and dashes, "
                "starting with a letter or digit"
            )
        if not event.name.strip() or len(event.name) > 200:
            raise InvalidRequest("name must be 1 to 200 characters")
        if event.ends_on < event.starts_on:
            raise InvalidRequest("ends_on must not be before starts_on")
        if len(event.public_key) != 32:
            raise InvalidRequest(
                f"public_key must be a 32-byte Ed25519 key, got {len(event.public_key)} bytes"
            )
        try:
            keys.parse_public_key(event.public_key, "public_key")
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from exc
        if not limits.QUOTA_MIN <= event.quota <= limits.QUOTA_MAX:
            raise InvalidRequest(
                f"quota must be {limits.QUOTA_MIN:,} to {limits.QUOTA_MAX:,} evaluations"
            )
        stored = await self._store.add_event(event)
        log.info("registry.event_enrolled", event_id=event.event_id, quota=event.quota)
        return stored

    async def revoke_event(self, event_id: str) -> Event:
        event = await self._store.revoke_event(event_id, datetime.now(UTC))
        self._revoked.add(event_id)
        await self._snap.notify()  # its open WatchSnapshot streams end now
        log.info("registry.event_revoked", event_id=event_id)
        return event

    async def list_events(self) -> list[Event]:
        return await self._store.list_events()

    async def set_quota(self, event_id: str, quota: int) -> Event:
        if quota <= 0:
            raise InvalidRequest("quota must be a positive number of evaluations")
        event = await self._store.set_quota(event_id, quota)
        log.info("registry.quota_set", event_id=event_id, quota=quota, used=event.used)
        return event
