"""SqliteStore's queries of the snapshot entries (registry/snapshots.py keeps the tree).

Every live entry has `removed_version` NULL; two partial indexes serve the reads: the
live tags (unique) and the live tags with their sealed boxes (migration 9), so that a
bucket's entries, or a whole snapshot in tag order, come from one index in order. Each
query names its index: without statistics SQLite would otherwise take the
`removed_version` index and read every live entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Any, cast

import aiosqlite

from lanyard.core import snapshot_tree, sqlite
from lanyard.registry.store import Delta, Entry, LiveEntry, LiveReader

_PARAMS = 500  # bound parameters per statement, well under SQLite's limit
_LAST = b"\xff" * 33  # above every 32-byte tag: the end of the last bucket's range


def _bucket_range(bucket: int) -> tuple[bytes, bytes]:
    """[lo, hi) of the tags in `bucket` (their first two bytes), as SQLite compares blobs."""
    return bucket.to_bytes(2, "big"), (
        (bucket + 1).to_bytes(2, "big") if bucket < 0xFFFF else _LAST
    )


class SqliteLiveReader(LiveReader):
    """A connection of its own, in one read transaction begun by reading the version."""

    def __init__(self, db: aiosqlite.Connection, version: int) -> None:
        self._db = db
        self.version = version

    @classmethod
    async def open(cls, path: Path) -> SqliteLiveReader:
        db = await sqlite.connect(path, (), migrate=False)
        try:
            db.row_factory = None
            await db.execute("BEGIN")
            # The first read fixes what the transaction sees (WAL): from here on, later
            # commits are invisible to it.
            version = await state_on(db, "version")
        except BaseException:
            await db.close()
            raise
        return cls(db, version)

    async def chunks(self, size: int) -> AsyncIterator[list[tuple[bytes, bytes]]]:
        async with self._db.execute(
            "SELECT tag, sealed FROM entries INDEXED BY entries_live_sealed "
            "WHERE removed_version IS NULL ORDER BY tag"
        ) as cur:
            while rows := await cur.fetchmany(size):
                # Plain (bytes, bytes) tuples: this connection has no row factory.
                yield cast("list[tuple[bytes, bytes]]", list(rows))

    async def close(self) -> None:
        try:
            if self._db.in_transaction:
                await self._db.execute("COMMIT")
        finally:
            await self._db.close()


async def state_on(db: aiosqlite.Connection, key: str) -> int:
    """An integer of the `state` table (epoch, version…), read on `db`'s unit of work."""
    row = await sqlite.fetch_one(db, "SELECT value FROM state WHERE key = ?", (key,))
    return int(row[0])


async def _all(pool: sqlite.Pool, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    async with pool.read() as db:
        return await sqlite.fetch_all(db, sql, params)


async def live_entries(pool: sqlite.Pool) -> list[Entry]:
    """Store.live_entries on `pool`."""
    rows = await _all(
        pool, "SELECT tag, sealed, record_ref FROM entries WHERE removed_version IS NULL"
    )
    return [Entry(bytes(r[0]), bytes(r[1]), r[2]) for r in rows]


async def bucket_entries(pool: sqlite.Pool, buckets: Collection[int]) -> dict[int, bytes]:
    """Store.bucket_entries on `pool`."""
    wanted = sorted(set(buckets))
    out = dict.fromkeys(wanted, b"")
    if not wanted:
        return out
    parts: dict[int, list[bytes]] = {}
    several = len(wanted) > _PARAMS // 2
    async with pool.read() as db:
        if several:  # every bucket from the same state (one statement is anyway)
            await db.execute("BEGIN")
        try:
            for i in range(0, len(wanted), _PARAMS // 2):
                part = wanted[i : i + _PARAMS // 2]
                values = ", ".join("(?, ?)" for _ in part)
                rows = await sqlite.fetch_all(
                    db,
                    f"WITH b (lo, hi) AS (VALUES {values}) "  # noqa: S608 - placeholders only
                    "SELECT e.tag, e.sealed FROM b "
                    "JOIN entries e INDEXED BY entries_live_sealed "
                    "ON e.tag >= b.lo AND e.tag < b.hi "
                    "WHERE e.removed_version IS NULL ORDER BY e.tag",
                    [x for bucket in part for x in _bucket_range(bucket)],
                )
                for tag, sealed in rows:
                    tag = bytes(tag)
                    parts.setdefault(snapshot_tree.bucket_of(tag), []).extend((tag, bytes(sealed)))
        finally:
            if several:
                await db.execute("COMMIT")
    for bucket, pieces in parts.items():
        out[bucket] = b"".join(pieces)
    return out


async def _rows_in(pool: sqlite.Pool, sql: str, values: Sequence[Any]) -> list[Any]:
    """The rows of `sql`, whose `{marks}` is an IN list, over distinct `values` in slices
    of at most _PARAMS bound parameters."""
    wanted = list(dict.fromkeys(values))
    rows: list[Any] = []
    for i in range(0, len(wanted), _PARAMS):
        part = wanted[i : i + _PARAMS]
        rows += await _all(pool, sql.format(marks=", ".join("?" * len(part))), tuple(part))
    return rows


async def live_owners(pool: sqlite.Pool, tags: Sequence[bytes]) -> dict[bytes, LiveEntry]:
    """Store.live_owners on `pool`."""
    rows = await _rows_in(
        pool,
        "SELECT e.tag, e.sealed, e.record_ref, r.status "
        "FROM entries e INDEXED BY entries_live_tag "
        "LEFT JOIN records r ON r.record_ref = e.record_ref "
        "WHERE e.removed_version IS NULL AND e.tag IN ({marks})",
        tags,
    )
    return {bytes(r[0]): LiveEntry(bytes(r[1]), r[2], r[3]) for r in rows}


async def live_tags_of(pool: sqlite.Pool, record_refs: Sequence[str]) -> list[bytes]:
    """Store.live_tags_of on `pool`."""
    rows = await _rows_in(
        pool,
        "SELECT tag FROM entries INDEXED BY entries_ref "
        "WHERE removed_version IS NULL AND record_ref IN ({marks})",
        record_refs,
    )
    return [bytes(r[0]) for r in rows]


async def padding_tags(pool: sqlite.Pool) -> list[bytes]:
    """Store.padding_tags on `pool`."""
    rows = await _all(
        pool,
        "SELECT tag FROM entries INDEXED BY entries_ref "
        "WHERE removed_version IS NULL AND record_ref IS NULL",
    )
    return [bytes(r[0]) for r in rows]


async def delta_since(
    pool: sqlite.Pool, version: int, max_added: int | None = None, max_removed: int | None = None
) -> Delta | None:
    # One read transaction: the version and both lists come from the same state.
    async with pool.read() as db:
        await db.execute("BEGIN")
        try:
            current = await state_on(db, "version")
            if version > current:
                return None
            # Not the live-tag index: that would read every live entry.
            added_sql = (
                "FROM entries INDEXED BY entries_added "
                "WHERE added_version > ?1 AND removed_version IS NULL"
            )
            removed_sql = "FROM entries WHERE removed_version > ?1 AND added_version <= ?1"
            # Counted first, so that a delta too large to send is never held.
            for sql, most in ((added_sql, max_added), (removed_sql, max_removed)):
                if most is not None:
                    row = await sqlite.fetch_one(
                        db,
                        f"SELECT count(*) FROM (SELECT 1 {sql} LIMIT ?2)",  # noqa: S608 - constant SQL
                        (version, most + 1),
                    )
                    if int(row[0]) > most:
                        return None
            added = await sqlite.fetch_all(
                db,
                f"SELECT tag, sealed, record_ref {added_sql}",
                (version,),
            )
            removed = await sqlite.fetch_all(
                db,
                f"SELECT DISTINCT tag {removed_sql}",
                (version,),
            )
        finally:
            await db.execute("COMMIT")
    return Delta(
        added=[Entry(bytes(r[0]), bytes(r[1]), r[2]) for r in added],
        removed_tags=[bytes(r[0]) for r in removed],
    )
