"""Call-token nonces kept in the service's own database, so a replay is refused across
restarts (docs/call-token.md "Verifying").

Both services create the same table in a numbered migration:

    CREATE TABLE call_nonces (
        key_id TEXT NOT NULL, nonce BLOB NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)) STRICT, WITHOUT ROWID;

The store writes through the service store's own connection: one writer per database
(a second writing connection would make the store's interleaved reads and writes fail
with SQLITE_BUSY). A nonce written while another call holds a transaction open on that
connection commits with it; should that transaction roll back, the nonce is lost and its
token could be presented once more within its window. Only admin operations roll back,
on an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from services.core import sqlite

PURGE_INTERVAL_SECONDS = 60


class SqliteNonces:
    """`auth.NonceStore` on the table above; rows leave once their token has expired."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._purged_at = 0
        self._owned = False

    @classmethod
    async def open(
        cls, path: Path, migrations: Sequence[str], synchronous: str = "FULL"
    ) -> SqliteNonces:
        """A connection of its own to the database `path` (migrated by `migrations`), for
        tools and tests; `close` closes it. Services pass their store's connection."""
        store = cls(await sqlite.connect(path, migrations, synchronous=synchronous))
        store._owned = True
        return store

    async def close(self) -> None:
        """Closes the connection only if `open` made it."""
        if self._owned:
            await self._db.close()

    async def remember(self, key_id: str, nonce: bytes, expires_at: int, now: int) -> bool:
        """Insert (key_id, nonce); False when it is already there and not yet expired."""
        if now - self._purged_at >= PURGE_INTERVAL_SECONDS:
            self._purged_at = now
            await self._db.execute("DELETE FROM call_nonces WHERE expires_at < ?", (now,))
        cur = await self._db.execute(
            "INSERT INTO call_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE call_nonces.expires_at < ?",
            (key_id, nonce, expires_at, now),
        )
        return cur.rowcount == 1

    async def count(self) -> int:
        row = await sqlite.fetch_one(self._db, "SELECT count(*) FROM call_nonces")
        return int(row[0])
