"""Where incident records live: sealed rows in agent.db, their keys in keyring.db.

Every change is one transaction (the row, its recusals and its audit entries together),
so a crash leaves an incident whole or absent. An update names the version it read; a
row that moved on in the meantime is refused, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from lanyard.agent.errors import Conflict, DataDirError
from lanyard.agent.incidents.attachment_store import AttachmentStore
from lanyard.agent.migrations import MIGRATIONS
from lanyard.core import sqlite

KEYRING_MIGRATIONS = [
    """
    CREATE TABLE incident_keys (
        incident_id INTEGER PRIMARY KEY,
        wrapped BLOB NOT NULL
    ) STRICT;
    """
]


@dataclass(frozen=True, slots=True)
class Row:
    incident_id: int
    version: int
    status: str
    filed_at: str
    updated_at: str
    acknowledged_at: str | None
    decided_at: str | None
    awaiting_second: bool
    sealed: bytes


@dataclass(frozen=True, slots=True)
class MemberRow:
    name: str
    role: str
    public_key: bytes
    added_at: str


def _row(r: Any) -> Row:
    return Row(
        r["incident_id"],
        r["version"],
        r["status"],
        r["filed_at"],
        r["updated_at"],
        r["acknowledged_at"],
        r["decided_at"],
        bool(r["awaiting_second"]),
        bytes(r["sealed"]),
    )


class IncidentStore:
    """Each method is one unit of work on pooled connections of its own
    (core/sqlite.py): concurrent RPCs never share a transaction."""

    def __init__(self, db: sqlite.Pool, keyring: sqlite.Pool) -> None:
        self._db = db
        self._keyring = keyring
        self.attachments = AttachmentStore(db)

    @classmethod
    async def open(cls, db_path: Path, keyring_path: Path) -> IncidentStore:
        """Its own connections, with synchronous=FULL: records cannot be re-created."""
        try:
            db = await sqlite.Pool.open(db_path, MIGRATIONS, synchronous="FULL", size=3)
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc
        try:
            keyring = await sqlite.Pool.open(
                keyring_path, KEYRING_MIGRATIONS, synchronous="FULL", size=2
            )
        except sqlite.DatabaseError as exc:
            await db.close()
            raise DataDirError(str(exc)) from exc
        return cls(db, keyring)

    async def close(self) -> None:
        await self._keyring.close()
        await self._db.close()

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._db.read() as db:
            return await sqlite.fetch_one(db, sql, params)

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._db.read() as db:
            return await sqlite.fetch_all(db, sql, params)

    # -- members -------------------------------------------------------------------------
    async def add_member(self, name: str, role: str, public_key: bytes, at: str) -> None:
        async with self._db.write() as db:
            await db.execute(
                "INSERT INTO members (name, role, public_key, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
                "public_key = excluded.public_key, added_at = excluded.added_at, "
                "removed_at = NULL",
                (name, role, public_key, at),
            )

    async def remove_member(self, name: str, at: str) -> bool:
        async with self._db.write() as db:
            cur = await db.execute(
                "UPDATE members SET removed_at = ? WHERE name = ? AND removed_at IS NULL",
                (at, name),
            )
            return cur.rowcount > 0

    async def member(self, name: str) -> MemberRow | None:
        r = await self._one(
            "SELECT name, role, public_key, added_at FROM members "
            "WHERE name = ? AND removed_at IS NULL",
            (name,),
        )
        return MemberRow(r[0], r[1], bytes(r[2]), r[3]) if r else None

    async def members(self) -> list[MemberRow]:
        rows = await self._all(
            "SELECT name, role, public_key, added_at FROM members WHERE removed_at IS NULL "
            "ORDER BY name",
        )
        return [MemberRow(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    # -- keys ----------------------------------------------------------------------------
    async def put_key(self, incident_id: int, wrapped: bytes) -> None:
        async with self._keyring.write() as db:
            await db.execute(
                "INSERT INTO incident_keys (incident_id, wrapped) VALUES (?, ?)",
                (incident_id, wrapped),
            )

    async def key(self, incident_id: int) -> bytes | None:
        async with self._keyring.read() as db:
            r = await sqlite.fetch_one(
                db, "SELECT wrapped FROM incident_keys WHERE incident_id = ?", (incident_id,)
            )
        return bytes(r[0]) if r else None

    async def all_keys(self) -> dict[int, bytes]:
        """Every incident's wrapped key, in one query (bulk reads)."""
        async with self._keyring.read() as db:
            rows = await sqlite.fetch_all(db, "SELECT incident_id, wrapped FROM incident_keys")
        return {int(r[0]): bytes(r[1]) for r in rows}

    # -- incidents -----------------------------------------------------------------------
    async def next_id(self) -> int:
        a = await self._one("SELECT coalesce(max(incident_id), 0) FROM incidents")
        async with self._keyring.read() as db:
            b = await sqlite.fetch_one(
                db, "SELECT coalesce(max(incident_id), 0) FROM incident_keys"
            )
        return max(int(a[0]), int(b[0])) + 1

    async def insert(self, row: Row, member: str) -> None:
        async with self._db.write() as db:
            await db.execute(
                "INSERT INTO incidents (incident_id, version, status, filed_at, updated_at, "
                "sealed) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.incident_id,
                    row.version,
                    row.status,
                    row.filed_at,
                    row.updated_at,
                    row.sealed,
                ),
            )
            await _audit(db, [(row.incident_id, row.updated_at, member, "file")])

    async def get(self, incident_id: int) -> Row | None:
        r = await self._one("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,))
        return _row(r) if r else None

    async def rows(self) -> list[Row]:
        return [_row(r) for r in await self._all("SELECT * FROM incidents ORDER BY incident_id")]

    async def recused(self, incident_id: int) -> set[str]:
        rows = await self._all("SELECT member FROM recusals WHERE incident_id = ?", (incident_id,))
        return {r[0] for r in rows}

    async def recused_from(self, member: str) -> set[int]:
        rows = await self._all("SELECT incident_id FROM recusals WHERE member = ?", (member,))
        return {int(r[0]) for r in rows}

    async def update(
        self, row: Row, expected_version: int, member: str, action: str, recused: set[str]
    ) -> None:
        """Replace the row if it is still at `expected_version`; else Conflict."""
        async with self._db.write() as db:
            cur = await db.execute(
                "UPDATE incidents SET version = ?, status = ?, updated_at = ?, "
                "acknowledged_at = ?, decided_at = ?, awaiting_second = ?, sealed = ? "
                "WHERE incident_id = ? AND version = ?",
                (
                    row.version,
                    row.status,
                    row.updated_at,
                    row.acknowledged_at,
                    row.decided_at,
                    int(row.awaiting_second),
                    row.sealed,
                    row.incident_id,
                    expected_version,
                ),
            )
            if cur.rowcount == 0:
                current = await sqlite.fetch_one(
                    db, "SELECT version FROM incidents WHERE incident_id = ?", (row.incident_id,)
                )
                now = current[0] if current else "gone"
                raise Conflict(
                    f"incident {row.incident_id} changed since version {expected_version} "
                    f"(now {now}); reload it and try again"
                )
            await db.execute("DELETE FROM recusals WHERE incident_id = ?", (row.incident_id,))
            await db.executemany(
                "INSERT INTO recusals (incident_id, member) VALUES (?, ?)",
                [(row.incident_id, m) for m in sorted(recused)],
            )
            await _audit(db, [(row.incident_id, row.updated_at, member, action)])

    async def audit(self, incident_id: int, at: str, member: str, action: str) -> None:
        await self.audit_many([(incident_id, at, member, action)])

    async def audit_many(self, entries: list[tuple[int, str, str, str]]) -> None:
        """(incident id, at, member, action) entries in one statement."""
        async with self._db.write() as db:
            await _audit(db, entries)

    async def audit_trail(self, incident_id: int) -> list[tuple[str, str, str]]:
        rows = await self._all(
            "SELECT at, member, action FROM audit WHERE incident_id = ? ORDER BY audit_id",
            (incident_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def destroy(self, incident_id: int) -> None:
        """Key first: once it is gone, no copy of the record anywhere can be opened."""
        async with self._keyring.write() as db:
            await db.execute("DELETE FROM incident_keys WHERE incident_id = ?", (incident_id,))
        await self._keyring.checkpoint()
        async with self._db.write() as db:
            await db.execute("DELETE FROM incidents WHERE incident_id = ?", (incident_id,))
        await self.attachments.destroy_incident(incident_id)
        await self._db.checkpoint()


async def _audit(db: aiosqlite.Connection, entries: list[tuple[int, str, str, str]]) -> None:
    await db.executemany(
        "INSERT INTO audit (incident_id, at, member, action) VALUES (?, ?, ?, ?)", entries
    )
