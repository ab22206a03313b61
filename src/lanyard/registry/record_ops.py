"""The registry's record operations (spec SCREEN-v1 §4, §5, §5a): adding records one by
one or in batches, changing, removing and expiring them, each as one change of the live
snapshot under the service's lock, with the evaluation log leaves it follows claimed
(§3b). A part of RegistryService (service.py), kept in a room of its own; it knows
nothing of gRPC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, date, datetime

import structlog

from lanyard.core import limits, screen, snapshot
from lanyard.core.errors import InvalidPoint
from lanyard.registry import record_batch, record_changes, retention
from lanyard.registry.errors import AlreadyExists, InvalidRequest, NotFound
from lanyard.registry.record_changes import RANK, RECORD_REF, STATUSES, RecordUpdate
from lanyard.registry.snapshots import LiveSnapshot
from lanyard.registry.store import Change, Entry, Record, RecordEvent, Store

log = structlog.get_logger("lanyard.registry")

MAX_POINTS_PER_RECORD = limits.MAX_POINTS_PER_RECORD


class RecordOps:
    """Record operations over the state RegistryService keeps: its store, live snapshot,
    lock and crypto executor."""

    _store: Store
    _snap: LiveSnapshot
    _lock: asyncio.Lock
    _executor: Executor | None
    today: Callable[[], date]  # the registry's day (retention.utc_today unless given)

    def _check_suite_epoch(self, suite: str, epoch: int) -> None:
        raise NotImplementedError  # RegistryService's

    def _status_entry(self, record: Record, y: bytes) -> Entry:
        status = snapshot.Status(record.status, record.record_ref, record.expires_on)
        tag, sealed = snapshot.seal_status(self._snap.epoch, y, status)
        return Entry(tag, sealed, record.record_ref)

    def _check_points(self, points: Sequence[bytes]) -> None:
        for i, y in enumerate(points):
            try:
                screen.check_point(i, y)
            except InvalidPoint as exc:
                raise InvalidRequest(f"points: {exc}") from exc

    async def add_record(
        self,
        suite: str,
        epoch: int,
        record: Record,
        points: Sequence[bytes],
        by: str = "operator",
        log_indexes: Sequence[int] = (),
    ) -> tuple[Record, int, list[str]]:
        """Add a record (spec §5 points); `by` is the admin who adds it, for its history,
        and the record claims that key's evaluation log leaves `log_indexes` (spec §3b;
        none given: the key's newest unclaimed one of enough points).
        Returns it, the snapshot version, and the refs of the older records it extended
        (the repeat rule, registry/retention.py)."""
        self._check_suite_epoch(suite, epoch)
        if not RECORD_REF.match(record.record_ref):
            raise InvalidRequest("record_ref must be 1 to 64 printable ASCII characters, no spaces")
        if record.status not in STATUSES:
            raise InvalidRequest("status must be flagged or banned")
        retention.check_expiry(record.expires_on, self.today())
        if not 1 <= len(points) <= MAX_POINTS_PER_RECORD:
            raise InvalidRequest(
                f"a record needs 1 to {MAX_POINTS_PER_RECORD} points, got {len(points)}"
            )
        self._check_points(points)
        follows = record_changes.claim(by, record.record_ref, len(set(points)), epoch, log_indexes)
        async with self._lock:
            if await self._store.get_record(record.record_ref) is not None:
                raise AlreadyExists(f"record {record.record_ref} already exists")
            add: list[Entry] = []
            remove: list[bytes] = []
            mine = [self._status_entry(record, y) for y in dict.fromkeys(points)]
            live = await self._store.live_owners([e.tag for e in mine])
            for entry in mine:
                held = live.get(entry.tag)
                if held is not None:
                    # Another record holds the tag: the graver status keeps it (ties go
                    # to the newer record). Padding with this tag simply gives way.
                    if held.status is not None and RANK[record.status] < RANK[held.status]:
                        continue
                    remove.append(entry.tag)
                add.append(entry)
            extend, more_add, more_remove = await retention.repeats(
                self._store,
                record,
                list(dict.fromkeys(points)),
                {e.tag for e in add},
                self._status_entry,
            )
            change = self._snap.repad(add + more_add, remove + more_remove)
            version = await self._snap.commit(
                Change(
                    add_record=record,
                    add_points=list(points),
                    add_entries=change.add_entries,
                    remove_tags=change.remove_tags,
                    history=RecordEvent(
                        by,
                        "added",
                        record_changes.describe_added(record, len(dict.fromkeys(points))),
                    ),
                    extend=extend,
                    claim=follows,
                )
            )
        stored = await self._store.get_record(record.record_ref)
        assert stored is not None
        log.info(
            "registry.record_added",
            record_ref=record.record_ref,
            status=record.status,
            identifiers=len(points),
            extended=len(extend),
            version=version,
        )
        return stored, version, [ref for ref, _ in extend]

    async def add_records(
        self,
        suite: str,
        epoch: int,
        items: Sequence[tuple[Record, list[bytes]]],
        skip_existing: bool = False,
        by: str = "operator",
        log_indexes: Sequence[int] = (),
    ) -> tuple[list[Record], list[str], int]:
        """Add a batch of records in one transaction and one snapshot version (one
        re-sign); `by` is the admin who adds them, for each record's history, and the
        batch claims that key's evaluation log leaves `log_indexes` (spec §3b). Returns
        (records added, in order; refs skipped as existing; version).
        Raises InvalidRequest naming the record's index, AlreadyExists, WrongEpoch."""
        started = time.perf_counter()
        self._check_suite_epoch(suite, epoch)
        today = self.today()
        for index, (record, _) in enumerate(items):
            retention.check_expiry(record.expires_on, today, f"records[{index}]: ")
        await record_batch.check_batch(items, MAX_POINTS_PER_RECORD, self._executor)
        async with self._lock:
            todo, skipped, commit = await record_batch.plan(
                self._snap, self._store, items, skip_existing, self._executor, by, log_indexes
            )
            version = await commit() if commit is not None else self._snap.version
        now = datetime.now(UTC)
        added = [replace(r, identifier_count=len(ys), created_at=now) for r, ys in todo]
        log.info(
            "registry.records_added",
            count=len(todo),
            skipped=len(skipped),
            identifiers=sum(len(ys) for _, ys in todo),
            version=version,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return added, skipped, version

    async def update_record(
        self, old_ref: str, change: RecordUpdate, by: str
    ) -> tuple[Record, int]:
        """Change a record's status, ban end or expiry, or add identifiers (aliases) from
        the blinded round; a new snapshot version re-seals every tag the record holds.
        Raises NotFound, InvalidRequest (nothing to change, too many points), WrongEpoch."""
        if change.add_points:
            self._check_suite_epoch(change.suite, change.epoch)
            self._check_points(change.add_points)
        if change.status is not None and change.status not in STATUSES:
            raise InvalidRequest("status must be flagged or banned")
        if isinstance(change.expires_on, date):
            retention.check_expiry(change.expires_on, self.today())
        if change.log_indexes and not change.add_points:
            raise InvalidRequest("evaluation_log_indexes comes with add_points only")
        follows = (
            record_changes.claim(
                by, old_ref, len(set(change.add_points)), change.epoch, change.log_indexes
            )
            if change.log_indexes
            else None
        )
        async with self._lock:
            old = await self._store.get_record(old_ref)
            if old is None:
                raise NotFound(f"no record {old_ref} exists")
            epoch = self._snap.epoch
            held = await self._store.record_points(old_ref, epoch)
            new_points = [y for y in dict.fromkeys(change.add_points) if y not in set(held)]
            if len(held) + len(new_points) > MAX_POINTS_PER_RECORD:
                raise InvalidRequest(
                    f"a record holds at most {MAX_POINTS_PER_RECORD} points; {old_ref} has "
                    f"{len(held)} and {len(new_points)} new were given"
                )
            new = record_changes.changed(old, change)
            detail = record_changes.describe(old, new, len(new_points))
            if not detail:
                raise InvalidRequest(f"nothing to change: {old_ref} is already like that")
            add, remove = await record_changes.entries_for(
                self._store, new, held + new_points, self._status_entry
            )
            padded = self._snap.repad(add, remove)
            version = await self._snap.commit(
                Change(
                    update_record=new,
                    add_points=new_points,
                    add_entries=padded.add_entries,
                    remove_tags=padded.remove_tags,
                    history=RecordEvent(by, "updated", detail),
                    claim=follows,
                )
            )
        stored = await self._store.get_record(old_ref)
        assert stored is not None
        log.info(
            "registry.record_updated",
            record_ref=old_ref,
            status=new.status,
            identifiers_added=len(new_points),
            version=version,
        )
        return stored, version

    async def get_record(self, record_ref: str) -> tuple[Record, list[RecordEvent]]:
        """A record and its history, oldest first. Raises NotFound."""
        record = await self._store.get_record(record_ref)
        if record is None:
            raise NotFound(f"no record {record_ref} exists")
        return record, await self._store.record_history(record_ref)

    async def remove_records(self, refs: list[str], reason: str = "removed") -> int:
        async with self._lock:
            return await self._remove(refs, reason)

    async def _remove(self, refs: list[str], reason: str) -> int:
        """Remove records (the caller holds the lock); returns the snapshot version."""
        # An unknown ref makes the store refuse the whole change (NotFound).
        remove = await self._store.live_tags_of(refs)
        removed = set(remove)
        # The same person may stand in another record: its entry comes back.
        add: dict[bytes, tuple[int, Entry]] = {}
        for other, y in await self._store.sharing_points(refs):
            entry = self._status_entry(other, y)
            rank = RANK[other.status]
            if entry.tag in removed and rank > add.get(entry.tag, (0, entry))[0]:
                add[entry.tag] = (rank, entry)
        change = self._snap.repad([e for _, e in add.values()], remove)
        version = await self._snap.commit(
            Change(remove_refs=refs, add_entries=change.add_entries, remove_tags=change.remove_tags)
        )
        log.info("registry.records_removed", count=len(refs), reason=reason, version=version)
        return version

    async def expire(self, today: date | None = None) -> int:
        """Remove records whose expiry has passed; they leave the next snapshot."""
        gone, _ = await self.sweep(today or self.today(), dry_run=False)
        return len(gone)

    # -- retention -----------------------------------------------------------------------
    async def sweep(self, as_of: date, dry_run: bool) -> tuple[list[Record], int]:
        """Records whose expiry is before `as_of`, in ref order, and the snapshot version
        after removing them (unless `dry_run`)."""
        async with self._lock:
            # Most sweeps find nothing due: that answer costs one query, not the list.
            due_refs = set(await self._store.expired_refs(as_of))
            due = (
                [r for r in await self._store.list_records() if r.record_ref in due_refs]
                if due_refs
                else []
            )
            if due and not dry_run:
                return due, await self._remove([r.record_ref for r in due], "expired")
            return due, self._snap.version

    async def list_records(self) -> list[Record]:
        return await self._store.list_records()
