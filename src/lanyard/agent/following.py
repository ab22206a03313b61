"""Following the WG's list: snapshot sync, key rotation catch-up, re-checks and alerts.

AgentService (service.py) inherits this. The agent holds the newest snapshot it has
verified against the pinned registry key. A key rotation (spec §6) is switched to only
once every distinct stored identity has a point under the new epoch; until then the new
epoch's snapshot waits beside the old one, people already re-evaluated are matched against
it and the others against the old one, and finish_rotation keeps being retried. Every
change a re-check finds raises one alert per person and change (logged at warning, ids
only); a delta on the held snapshot re-checks only the people it concerns (recheck.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta

import structlog

from lanyard.agent.errors import (
    NotFound,
    RegistryFaulted,
    RegistryRefused,
    RotationPending,
    SnapshotRejected,
    Unavailable,
)
from lanyard.agent.recheck import PeopleIndex, collection_paused, judge
from lanyard.agent.store import Alert, SnapshotState, Store
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core.enrolment import Enrolment
from lanyard.core.errors import SignatureError
from lanyard.core.identity import Kind

log = structlog.get_logger("lanyard.agent")

REEVALUATE_BATCH = 1000
REFRESH_SECONDS = 60.0  # the follower asks even when nothing was announced
# A delta re-checks only the people it concerns, relying on a full re-check at most this
# old (so that a result another process stored meanwhile is looked at again in time).
FULL_RECHECK_SECONDS = 600.0
TARGETED_MAX = 1000  # more people concerned by one delta than this: re-check everyone


def _state(snap: LocalSnapshot, at: datetime | None) -> SnapshotState:
    """What the store keeps of a verified snapshot held."""
    return SnapshotState(
        snap.epoch, snap.version, snap.entries, at, snap.signature, snap.public_key
    )


class SnapshotFollower:
    """The snapshot-following half of AgentService (its state is set up there)."""

    store: Store
    enrolment: Enrolment
    registry: RegistryClient
    executor: Executor | None
    snapshot: LocalSnapshot
    next_snapshot: LocalSnapshot | None
    confirmed_at: datetime | None
    rotation_seen_at: datetime | None
    rotation_wanted: asyncio.Event
    updated: asyncio.Event
    rotate_inline: bool
    _sync_lock: asyncio.Lock
    _rotation_lock: asyncio.Lock
    _index: PeopleIndex | None  # None until a full re-check in this process
    # How often the registry has confirmed the newest list held, in this process: by an
    # announcement, a sync or a quiet period's refresh (wait_confirmed waits on it).
    confirmations: int = 0
    _confirmed: asyncio.Condition | None = None

    async def evaluate(self, epoch: int, messages: Sequence[bytes]) -> list[bytes]:
        """Y for each message under `epoch`, proofs verified (AgentService.evaluate)."""
        raise NotImplementedError

    @property
    def newest(self) -> LocalSnapshot:
        """The newest snapshot held: the next epoch's while a rotation is pending."""
        return self.next_snapshot or self.snapshot

    def snapshot_age(self, now: datetime | None = None) -> timedelta:
        """How long since the registry last confirmed the newest snapshot held."""
        if self.confirmed_at is None:
            return timedelta.max
        return max(timedelta(0), (now or datetime.now(UTC)) - self.confirmed_at)

    async def _confirm(self, at: datetime) -> None:
        """The registry said at `at` that the newest list held is its newest."""
        self.confirmed_at = at
        self.confirmations += 1
        signal = self._confirmation()
        async with signal:
            signal.notify_all()

    def _confirmation(self) -> asyncio.Condition:
        if self._confirmed is None:
            self._confirmed = asyncio.Condition()
        return self._confirmed

    async def wait_confirmed(self, count: int) -> None:
        """Wait until the registry has confirmed the list held `count` times in this
        process (see `confirmations`)."""
        signal = self._confirmation()
        async with signal:
            await signal.wait_for(lambda: self.confirmations >= count)

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
            except (RotationPending, RegistryRefused, RegistryFaulted, Unavailable) as exc:
                log.warning("agent.rotation_pending", reason=str(exc))
        return raised

    async def _fetch(self, base: LocalSnapshot) -> LocalSnapshot:
        """What is new since `base`, verified. A delta that does not lead to the signed
        root (the list held has drifted from the registry's) is followed by the whole
        list once, so a damaged list is repaired instead of refusing every later delta.
        Raises SignatureError when that is refused too."""
        try:
            return await self.registry.refresh(base)
        except SignatureError as exc:
            if not base.version or not base.verified:
                raise  # that was the whole list already
            log.warning("agent.delta_refused", version=base.version, reason=str(exc))
            return await self.registry.refresh(LocalSnapshot())

    async def _sync(self) -> list[Alert]:
        async with self._sync_lock:
            base = self.newest
            try:
                fresh = await self._fetch(base)
            except SignatureError as exc:
                log.error("agent.snapshot_rejected", version=base.version, reason=str(exc))
                raise SnapshotRejected(
                    f"the registry's snapshot was refused: {exc}; keeping version {base.version}"
                ) from exc
            pinned = self.enrolment.epoch_public_key
            if pinned and fresh.epoch == self.enrolment.epoch and fresh.public_key != pinned:
                log.error("agent.snapshot_rejected", version=fresh.version, reason="epoch key")
                raise SnapshotRejected(
                    f"the registry's snapshot publishes another public key for epoch "
                    f"{fresh.epoch} than the enrolment bundle; keeping version {base.version}"
                )
            now = datetime.now(UTC)
            if (fresh.epoch, fresh.version, fresh.root) == (
                base.epoch,
                base.version,
                base.root,
            ) and base.verified:
                # Nothing new, but the epoch's public key is now known from a signature.
                base.public_key = fresh.public_key
                await self._confirm(now)
                if self.next_snapshot is None:
                    await self.store.confirm_snapshot(now)
                return []
            state = _state(fresh, now)
            touched: list[bytes] | None = None  # the tags a delta on the held one changed
            # A rotation is under way when the registry's epoch is not the held one's, or
            # when the base was the next epoch's list (the held one may be missing, e.g.
            # damaged in agent.db): that list then moves, never stays behind the newest.
            rotating = self.next_snapshot is not None and base is self.next_snapshot
            if rotating or (self.snapshot.epoch and fresh.epoch != self.snapshot.epoch):
                waiting = _state(fresh, self.rotation_seen_at or now)
                if fresh.last_change is not None and base is self.next_snapshot:
                    await self.store.save_next_snapshot_change(waiting, *fresh.last_change)
                else:
                    await self.store.save_next_snapshot(waiting)
                if self.next_snapshot is None:
                    self.rotation_seen_at = now
                    log.warning(
                        "agent.rotation_started",
                        epoch=fresh.epoch,
                        pending=await self.store.pending_count(fresh.epoch),
                    )
                self.next_snapshot = fresh
                self.rotation_wanted.set()
            elif fresh.last_change is not None and (base.epoch, base.version) == (
                self.snapshot.epoch,
                self.snapshot.version,
            ):
                # A delta on the snapshot held: store the change, not the whole list again.
                added, removed = fresh.last_change
                await self.store.save_snapshot_change(state, added, removed)
                self.snapshot = fresh
                touched = [*added, *removed]
            else:
                await self.store.save_snapshot(state)
                self.snapshot = fresh
            await self._confirm(now)
            self.updated.set()
            log.info(
                "agent.snapshot_updated",
                epoch=fresh.epoch,
                version=fresh.version,
                entries=len(fresh.entries),
            )
            if touched is not None:
                return await self.recheck_change(touched)
            return await self.recheck()

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
                # Proof and log entry verified (spec §3a, §3b); a fault raises an
                # operator alert and RegistryFaulted, and the old epoch keeps answering.
                ys = await self.evaluate(epoch, [m for _, m in stale])
            except RpcFailed as exc:
                left = await self.store.pending_count(epoch)
                quota = self.registry.quota_remaining
                raise RotationPending(
                    f"the key rotation to epoch {epoch} cannot finish yet: {left} stored "
                    f"identities still need evaluating under it"
                    + (f", {quota} evaluations left on the quota" if quota is not None else "")
                    + f"; the registry said: {exc.details} ({exc.code.name}); the old "
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
            await self.store.switch_epoch(_state(newest, self.confirmed_at))
            self.snapshot, self.next_snapshot, self.rotation_seen_at = newest, None, None
            self.rotation_wanted.clear()
            log.info("agent.rotation_finished", epoch=epoch, identities=done)
            # Under the lock: two re-checks at once would both alert on the same change.
            return await self.recheck()

    async def recheck_now(self) -> list[Alert]:
        """recheck() under the sync lock, for callers outside sync and rotation."""
        async with self._sync_lock:
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
        and change (one person named by several runs and checks raises one alert).
        Callers hold the sync lock (recheck_now takes it). Outside a rotation this also
        notes who holds which tag, for recheck_change."""
        started = time.perf_counter()
        version = self.newest.version
        with collection_paused():
            if self.next_snapshot is None:
                epoch = self.snapshot.epoch
                top, rows = await self.store.identities_after(epoch, 0)
                index = PeopleIndex(epoch, time.monotonic(), top)
                for row in rows:
                    index.add(*row)
                people = {aid: (self.snapshot, points) for aid, points in index.points.items()}
            else:
                index, people = None, await self._persons()
            current = await self.store.results()
            self._index = index
            tags = index.tags if index is not None else {}
            return await judge(self.store, people, current, version, started, "all", tags)

    async def recheck_change(self, tags: Iterable[bytes]) -> list[Alert]:
        """recheck(), for a delta that added or removed `tags`: only the people holding
        one of them, and those stored since the last re-check, are matched again — the
        others' entries did not change. Falls back to recheck() during a rotation,
        after a key switch, when no full re-check has run in this process for
        FULL_RECHECK_SECONDS, or when more than TARGETED_MAX people are concerned.
        Callers hold the sync lock."""
        index = self._index
        if (
            index is None
            or self.next_snapshot is not None
            or index.epoch != self.snapshot.epoch
            or time.monotonic() - index.built_at > FULL_RECHECK_SECONDS
        ):
            return await self.recheck()
        started = time.perf_counter()
        top, rows = await self.store.identities_after(index.epoch, index.last_id)
        if top < index.last_id:  # attendees were deleted: ids may be reused
            return await self.recheck()
        for row in rows:
            index.add(*row)
        index.last_id = top
        touched = {aid for aid, _, _ in rows}
        for tag in tags:
            touched.update(index.holders(tag))
        if len(touched) > TARGETED_MAX:
            return await self.recheck()
        people = {aid: (self.snapshot, index.points[aid]) for aid in touched}
        current = await self.store.results_of(sorted(touched)) if touched else {}
        version = self.newest.version
        return await judge(self.store, people, current, version, started, "changed", index.tags)

    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]:
        return await self.store.alerts(include_acknowledged)

    async def acknowledge(self, alert_ids: list[int] | None) -> list[int]:
        """Acknowledge open alerts by id (None: all of them); NotFound names ids that are
        not open, and then nothing is acknowledged."""
        if alert_ids is not None:
            _all_open(alert_ids, {a.alert_id for a in await self.store.alerts()}, "alert")
        done = await self.store.acknowledge(alert_ids, datetime.now(UTC))
        log.info("agent.alerts_acknowledged", count=len(done))
        return done

    async def acknowledge_faults(self, fault_ids: list[int] | None) -> list[int]:
        """Acknowledge open registry faults by id (None: all of them), once someone has
        looked into them (with the WG); NotFound names ids that are not open, and then
        nothing is acknowledged."""
        if fault_ids is not None:
            opened = {f.fault_id for f in await self.store.registry_faults()}
            _all_open(fault_ids, opened, "registry fault")
        done = await self.store.acknowledge_faults(fault_ids, datetime.now(UTC))
        log.info("agent.registry_faults_acknowledged", count=len(done))
        return done

    async def follow(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        on_progress: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Follow the registry's announcements, and ask anyway after `refresh_seconds`
        without one, so that a silent stream cannot leave the snapshot behind and the list
        held stays confirmed: a quiet registry is routine. Any failure (the stream broken,
        or ended by the registry) ends this coroutine with the exception: its supervisor
        logs it and restarts with backoff."""
        await self.sync()
        if on_progress is not None:
            await on_progress()
        updates = self.registry.watch()
        # One read of the stream at a time, kept across quiet periods: cancelling a read
        # would close the stream, and the next one would find it ended.
        reading: asyncio.Task[tuple[int, int] | None] | None = None
        try:
            while True:
                if reading is None:
                    reading = asyncio.create_task(_next(updates))
                done, _ = await asyncio.wait({reading}, timeout=refresh_seconds)
                if not done:
                    await self.sync()
                else:
                    finished, reading = reading, None
                    announced = finished.result()
                    if announced is None:
                        raise Unavailable("the registry ended its stream of snapshot announcements")
                    if announced != (self.newest.epoch, self.newest.version):
                        await self.sync()
                    else:
                        await self._confirm(datetime.now(UTC))
                if on_progress is not None:
                    await on_progress()
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.wait({reading})
                if not reading.cancelled():
                    reading.exception()  # retrieved: the failure that matters is ours
            await updates.aclose()


async def _next(updates: AsyncIterator[tuple[int, int]]) -> tuple[int, int] | None:
    """The next announcement, or None once the stream has ended."""
    return await anext(updates, None)


def _all_open(ids: list[int], open_ids: set[int], what: str) -> None:
    unknown = sorted(set(ids) - open_ids)
    if unknown:
        raise NotFound(f"no open {what} " + ", ".join(str(i) for i in unknown))
