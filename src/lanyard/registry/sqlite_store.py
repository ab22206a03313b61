"""The registry's Store on SQLite through aiosqlite: WAL, synchronous=FULL, secure_delete.

A small pool of connections (core/sqlite.py Pool), shared with the submission store:
every method is one unit of work on a connection it alone holds, and every change one
BEGIN IMMEDIATE transaction, so concurrent RPCs cannot slip statements into each other's
transactions. Queries are batched (executemany), never one await per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lanyard.core import sqlite
from lanyard.core.evaluation_log import Leaf
from lanyard.registry import sqlite_changes, sqlite_entries
from lanyard.registry.errors import (
    AlreadyExists,
    DataDirError,
    InvalidRequest,
    LogOutOfStep,
    NotFound,
    QuotaExhausted,
)
from lanyard.registry.migrations import MIGRATIONS
from lanyard.registry.sqlite_entries import state_on
from lanyard.registry.store import (
    Change,
    Claim,
    Delta,
    Entry,
    Event,
    LiveEntry,
    LiveReader,
    LoggedEvaluation,
    Record,
    RecordEvent,
    Store,
)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _event(row: Any) -> Event:
    return Event(
        event_id=row["event_id"],
        name=row["name"],
        starts_on=date.fromisoformat(row["starts_on"]),
        ends_on=date.fromisoformat(row["ends_on"]),
        public_key=bytes(row["public_key"]),
        quota=row["quota"],
        used=row["used"],
        revoked_at=_time(row["revoked_at"]),
        created_at=_time(row["created_at"]),
    )


def _record(row: Any) -> Record:
    return Record(
        record_ref=row["record_ref"],
        status=row["status"],
        expires_on=_date(row["expires_on"]),
        identifier_count=row["identifier_count"],
        created_at=_time(row["created_at"]),
        ban_until=_date(row["ban_until"]),
        submission_id=row["submission_id"] or "",
        updated_at=_time(row["updated_at"]),
    )


_RECORD_SELECT = """
    SELECT r.record_ref, r.status, r.expires_on, r.created_at, r.ban_until, r.submission_id,
           r.updated_at,
           (SELECT count(*) FROM record_points p
             WHERE p.record_ref = r.record_ref
               AND p.epoch = (SELECT value FROM state WHERE key = 'epoch')) AS identifier_count
      FROM records r
"""


def _append_leaf(db: sqlite3.Connection, logged: LoggedEvaluation) -> None:
    """The one place a leaf is written, inside the caller's unit (Pool.transact). Its
    index MUST be the log's next one (LogOutOfStep otherwise: the unit rolls back)."""
    leaf = logged.leaf
    cur = db.execute(
        "INSERT INTO evaluation_log (log_index, caller, event_id, epoch, points, "
        "logged_at, points_sha256, leaf_hash) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 "
        "WHERE ?1 = (SELECT coalesce(max(log_index), -1) + 1 FROM evaluation_log)",
        (
            logged.log_index,
            leaf.caller,
            leaf.event_id,
            leaf.epoch,
            leaf.points,
            leaf.logged_at,
            leaf.points_sha256,
            leaf.hash(),
        ),
    )
    if cur.rowcount != 1:
        raise LogOutOfStep(f"evaluation log leaf {logged.log_index} is not the next one")


class SqliteStore(Store):
    def __init__(self, pool: sqlite.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, path: Path, create: bool = False, pool_size: int = 4) -> SqliteStore:
        if not create and not path.exists():  # noqa: ASYNC240 - one stat, at start-up
            raise DataDirError(f"database {path} does not exist; run `lanyard registry init`")
        try:
            return cls(await sqlite.Pool.open(path, MIGRATIONS, size=pool_size))
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    @property
    def pool(self) -> sqlite.Pool:
        """Shared with the submission store: one writer lock for registry.db."""
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._pool.read() as db:
            return await sqlite.fetch_one(db, sql, params)

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._pool.read() as db:
            return await sqlite.fetch_all(db, sql, params)

    async def _state(self, key: str) -> int:
        async with self._pool.read() as db:
            return await state_on(db, key)

    async def current_epoch(self) -> int:
        return await self._state("epoch")

    async def snapshot_version(self) -> int:
        return await self._state("version")

    async def add_admin(self, name: str, public_key: bytes) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO admins (name, public_key, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET public_key = excluded.public_key",
                (name, public_key, sqlite_changes.now_text()),
            )

    async def admin(self, name: str) -> tuple[bytes, str] | None:
        row = await self._one("SELECT public_key, role FROM admins WHERE name = ?", (name,))
        return (bytes(row[0]), str(row[1])) if row else None

    async def add_event(self, event: Event) -> Event:
        try:
            async with self._pool.write() as db:
                await db.execute(
                    "INSERT INTO events (event_id, name, starts_on, ends_on, public_key, "
                    "quota, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.event_id,
                        event.name,
                        event.starts_on.isoformat(),
                        event.ends_on.isoformat(),
                        event.public_key,
                        event.quota,
                        sqlite_changes.now_text(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"event {event.event_id} is already enrolled") from exc
        stored = await self.get_event(event.event_id)
        assert stored is not None
        return stored

    async def get_event(self, event_id: str) -> Event | None:
        rows = await self._pool.key_read("SELECT * FROM events WHERE event_id = ?", (event_id,))
        return _event(rows[0]) if rows else None

    async def list_events(self) -> list[Event]:
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                keys = await sqlite.fetch_all(
                    db, "SELECT event_id, public_key FROM event_keys ORDER BY rowid"
                )
                rows = await sqlite.fetch_all(db, "SELECT * FROM events ORDER BY event_id")
            finally:
                await db.execute("COMMIT")
        retired: dict[str, list[bytes]] = {}
        for r in keys:
            retired.setdefault(r[0], []).append(bytes(r[1]))
        return [
            replace(_event(r), retired_keys=tuple(retired.get(r["event_id"], []))) for r in rows
        ]

    async def rekey_event(self, event_id: str, old_key: bytes, new_key: bytes) -> Event:
        async with self._pool.write() as db:
            cur = await db.execute(
                "UPDATE events SET public_key = ? WHERE event_id = ? AND public_key = ?",
                (new_key, event_id, old_key),
            )
            if cur.rowcount == 0:
                known = await sqlite.fetch_one(
                    db, "SELECT 1 FROM events WHERE event_id = ?", (event_id,)
                )
                if known is None:
                    raise NotFound(f"no event {event_id} is enrolled")
                raise AlreadyExists(f"event {event_id}'s key changed meanwhile")
            await db.execute(
                "INSERT INTO event_keys (event_id, public_key, retired_at) VALUES (?, ?, ?)",
                (event_id, old_key, sqlite_changes.now_text()),
            )
            row = await sqlite.fetch_one(db, "SELECT * FROM events WHERE event_id = ?", (event_id,))
            retired = await sqlite.fetch_all(
                db,
                "SELECT public_key FROM event_keys WHERE event_id = ? ORDER BY rowid",
                (event_id,),
            )
        return replace(_event(row), retired_keys=tuple(bytes(r[0]) for r in retired))

    async def revoke_event(self, event_id: str, at: datetime) -> Event:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE events SET revoked_at = coalesce(revoked_at, ?) WHERE event_id = ?",
                (at.isoformat(timespec="seconds"), event_id),
            )
        event = await self.get_event(event_id)
        if event is None:
            raise NotFound(f"no event {event_id} is enrolled")
        return event

    async def set_quota(self, event_id: str, quota: int) -> Event:
        async with self._pool.write() as db:
            row = await sqlite.fetch_one(db, "SELECT * FROM events WHERE event_id = ?", (event_id,))
            if row is None:
                raise NotFound(f"no event {event_id} is enrolled")
            if quota < row["used"]:
                raise InvalidRequest(
                    f"quota {quota} is below the {row['used']} evaluations event {event_id} "
                    "has already used"
                )
            await db.execute("UPDATE events SET quota = ? WHERE event_id = ?", (quota, event_id))
        event = await self.get_event(event_id)
        assert event is not None
        return event

    async def reserve_evaluations(
        self, event_id: str, count: int, logged: LoggedEvaluation | None = None
    ) -> int:
        # One BEGIN IMMEDIATE: the check against the quota, the charge and the evaluation
        # log's leaf (spec §3b) commit together (or not at all) before the caller may
        # release an answer, so the log and the quota charged stay equal.
        def unit(db: sqlite3.Connection) -> tuple[int | None, Any]:
            row = db.execute(
                "UPDATE events SET used = used + ?1 "
                "WHERE event_id = ?2 AND used + ?1 <= quota RETURNING quota - used",
                (count, event_id),
            ).fetchall()
            if row:
                if logged is not None:
                    _append_leaf(db, logged)
                return int(row[0][0]), None
            found = db.execute("SELECT * FROM events WHERE event_id = ?", (event_id,))
            return None, found.fetchone()

        # One hand-off to the connection's thread for the whole unit (Pool.transact):
        # every Evaluate makes one, and each hand-off costs the event loop a wake-up.
        remaining, found = await self._pool.transact(unit)
        if remaining is not None:
            return remaining
        if found is None:
            raise NotFound(f"no event {event_id} is enrolled")
        event = _event(found)
        raise QuotaExhausted(
            f"evaluation quota of {event.quota} for event {event_id} would be exceeded: "
            f"{event.used} used, {count} requested, {event.quota - event.used} left"
        )

    # -- evaluation log ------------------------------------------------------------------
    async def append_evaluation(self, logged: LoggedEvaluation) -> None:
        await self._pool.transact(lambda db: _append_leaf(db, logged))

    async def evaluation_hashes(self) -> list[bytes]:
        rows = await self._all("SELECT leaf_hash FROM evaluation_log ORDER BY log_index")
        return [bytes(r[0]) for r in rows]

    async def list_evaluations(
        self, event_id: str | None = None, since: str | None = None
    ) -> list[LoggedEvaluation]:
        rows = await self._all(
            "SELECT l.*, c.record_ref, c.records, c.record_ref IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM records r WHERE r.record_ref = c.record_ref) AS record_removed "
            "FROM evaluation_log l LEFT JOIN evaluation_claims c USING (log_index) "
            "WHERE (?1 IS NULL OR l.event_id = ?1) AND (?2 IS NULL OR l.logged_at >= ?2) "
            "ORDER BY l.log_index",
            (event_id, since),
        )
        return [
            LoggedEvaluation(
                r["log_index"],
                Leaf(
                    r["caller"],
                    r["event_id"],
                    r["epoch"],
                    r["points"],
                    r["logged_at"],
                    bytes(r["points_sha256"]),
                ),
                r["record_ref"],
                r["records"] or 0,
                bool(r["record_removed"]),
            )
            for r in rows
        ]

    async def claim(self, claim: Claim) -> list[int]:
        return await self._pool.transact(lambda db: sqlite_changes.claim_leaves(db, claim))

    async def get_record(self, record_ref: str) -> Record | None:
        row = await self._one(_RECORD_SELECT + " WHERE r.record_ref = ?", (record_ref,))
        return _record(row) if row else None

    async def list_records(self) -> list[Record]:
        return [_record(r) for r in await self._all(_RECORD_SELECT + " ORDER BY r.record_ref")]

    async def record_points(self, record_ref: str, epoch: int) -> list[bytes]:
        rows = await self._all(
            "SELECT y FROM record_points WHERE record_ref = ? AND epoch = ? ORDER BY y",
            (record_ref, epoch),
        )
        return [bytes(r[0]) for r in rows]

    async def record_history(self, record_ref: str) -> list[RecordEvent]:
        rows = await self._all(
            "SELECT member, action, detail, version, at FROM record_history "
            "WHERE record_ref = ? ORDER BY id",
            (record_ref,),
        )
        return [RecordEvent(r[0], r[1], r[2], int(r[3]), _time(r[4])) for r in rows]

    async def expired_refs(self, today: date) -> list[str]:
        rows = await self._all(
            "SELECT record_ref FROM records WHERE expires_on IS NOT NULL AND expires_on < ?",
            (today.isoformat(),),
        )
        return [r[0] for r in rows]

    async def sharing_points(self, record_refs: list[str]) -> list[tuple[Record, bytes]]:
        if not record_refs:
            return []
        marks = ", ".join("?" * len(record_refs))
        rows = await self._all(
            "SELECT r.record_ref, r.status, r.expires_on, r.created_at, o.y "  # noqa: S608 - placeholders only
            "FROM record_points p JOIN record_points o ON o.epoch = p.epoch AND o.y = p.y "
            "JOIN records r ON r.record_ref = o.record_ref "
            f"WHERE p.record_ref IN ({marks}) AND o.record_ref NOT IN ({marks}) "
            "AND p.epoch = (SELECT value FROM state WHERE key = 'epoch')",
            (*record_refs, *record_refs),
        )
        return [(Record(r[0], r[1], _date(r[2]), 0, _time(r[3])), bytes(r[4])) for r in rows]

    async def existing_refs(self, record_refs: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(record_refs), 500):  # SQLite's bound-parameter limit
            part = record_refs[i : i + 500]
            marks = ", ".join("?" * len(part))
            rows = await self._all(
                f"SELECT record_ref FROM records WHERE record_ref IN ({marks})",  # noqa: S608 - placeholders only
                tuple(part),
            )
            found.update(r[0] for r in rows)
        return found

    async def holding(self, points: list[bytes]) -> list[tuple[Record, bytes]]:
        if not points:
            return []
        marks = ", ".join("?" * len(points))
        rows = await self._all(
            "SELECT r.record_ref, r.status, r.expires_on, r.created_at, p.y "  # noqa: S608 - placeholders only
            "FROM record_points p JOIN records r ON r.record_ref = p.record_ref "
            f"WHERE p.y IN ({marks}) AND p.epoch = (SELECT value FROM state WHERE key = 'epoch')",
            tuple(points),
        )
        return [(Record(r[0], r[1], _date(r[2]), 0, _time(r[3])), bytes(r[4])) for r in rows]

    async def points_of(self, record_refs: list[str]) -> list[tuple[str, bytes]]:
        if not record_refs:
            return []
        marks = ", ".join("?" * len(record_refs))
        rows = await self._all(
            "SELECT record_ref, y FROM record_points "  # noqa: S608 - placeholders only
            f"WHERE record_ref IN ({marks}) "
            "AND epoch = (SELECT value FROM state WHERE key = 'epoch') ORDER BY record_ref, y",
            tuple(record_refs),
        )
        return [(r[0], bytes(r[1])) for r in rows]

    async def retention(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self._all("SELECT key, value FROM retention")}

    async def set_retention(self, values: dict[str, int]) -> None:
        async with self._pool.write() as db:
            await db.executemany(
                "INSERT INTO retention (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    async def key_transitions(self) -> list[bytes]:
        rows = await self._all("SELECT transition FROM signing_keys ORDER BY seq")
        return [bytes(r[0]) for r in rows]

    async def add_key_transition(self, sequence: int, new_key: bytes, statement: bytes) -> None:
        try:
            async with self._pool.write() as db:
                await db.execute(
                    "INSERT INTO signing_keys (seq, public_key, transition, added_at) "
                    "VALUES (?, ?, ?, ?)",
                    (sequence, new_key, statement, sqlite_changes.now_text()),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"signing key hand-over {sequence} is already stored") from exc

    async def live_entries(self) -> list[Entry]:
        return await sqlite_entries.live_entries(self._pool)

    async def bucket_entries(self, buckets: Collection[int]) -> dict[int, bytes]:
        return await sqlite_entries.bucket_entries(self._pool, buckets)

    async def live_owners(self, tags: Sequence[bytes]) -> dict[bytes, LiveEntry]:
        return await sqlite_entries.live_owners(self._pool, tags)

    async def live_tags_of(self, record_refs: Sequence[str]) -> list[bytes]:
        return await sqlite_entries.live_tags_of(self._pool, record_refs)

    async def padding_tags(self) -> list[bytes]:
        return await sqlite_entries.padding_tags(self._pool)

    async def live_reader(self) -> LiveReader:
        return await sqlite_entries.SqliteLiveReader.open(self._pool.path)

    async def apply(self, change: Change) -> int:
        # One hand-off for the whole unit (Pool.transact): a record change is a dozen
        # statements, and a hand-off each cost more than the statements.
        return await self._pool.transact(lambda db: sqlite_changes.apply(db, change))

    async def points(self, epoch: int) -> list[tuple[str, bytes]]:
        rows = await self._all(
            "SELECT record_ref, y FROM record_points WHERE epoch = ? ORDER BY record_ref", (epoch,)
        )
        return [(r[0], bytes(r[1])) for r in rows]

    async def rotate(
        self, new_epoch: int, points: list[tuple[str, bytes]], entries: list[Entry]
    ) -> int:
        async with self._pool.write() as db:
            version = await state_on(db, "version") + 1
            await db.executemany(
                "INSERT INTO record_points (record_ref, epoch, y) VALUES (?, ?, ?)",
                [(ref, new_epoch, y) for ref, y in points],
            )
            await db.execute("DELETE FROM record_points WHERE epoch != ?", (new_epoch,))
            await db.execute(
                "UPDATE entries SET removed_version = ?, sealed = x'' "
                "WHERE removed_version IS NULL",
                (version,),
            )
            await db.executemany(
                "INSERT INTO entries (tag, sealed, record_ref, added_version) VALUES (?, ?, ?, ?)",
                [(e.tag, e.sealed, e.record_ref, version) for e in entries],
            )
            await db.execute("UPDATE state SET value = ? WHERE key = 'version'", (version,))
            await db.execute("UPDATE state SET value = ? WHERE key = 'epoch'", (new_epoch,))
        return version

    async def delta_since(
        self, version: int, max_added: int | None = None, max_removed: int | None = None
    ) -> Delta | None:
        return await sqlite_entries.delta_since(self._pool, version, max_added, max_removed)
