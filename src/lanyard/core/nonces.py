"""Call-token nonces kept in a database file of their own beside the service's
(`nonces.db`), so a replay is refused across restarts (docs/call-token.md "Verifying").

The file holds one table (MIGRATIONS):

    CREATE TABLE call_nonces (
        key_id TEXT NOT NULL, nonce BLOB NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)) STRICT, WITHOUT ROWID;

Why a file of its own: SQLite has one writer per file. In the service's own database a
nonce's transaction queued behind every durable commit (a Check's row, the evaluation
log), each waiting on the disk; measured under 32 concurrent Checks on 2 cores, a call
spent more time waiting to record its nonce than on everything else. Here nonces only
wait for each other, and their commits never wait for the disk (see _remember_all).

Each remembered nonce is committed in a short BEGIN IMMEDIATE transaction before the call
it authenticates goes on: a replay is refused even if that call then fails. Calls
authenticated at the same time share one transaction (core/coalesce.py), its nonces
inserted one statement each in arrival order, so a replay racing its original in the same
transaction is still refused: under load one commit serves many calls instead of one each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from lanyard.core import sqlite
from lanyard.core.coalesce import Coalescer

PURGE_INTERVAL_SECONDS = 60
FILE_NAME = "nonces.db"

MIGRATIONS = [
    """
    CREATE TABLE call_nonces (
        key_id TEXT NOT NULL,
        nonce BLOB NOT NULL CHECK (length(nonce) = 16),
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX call_nonces_expiry ON call_nonces (expires_at);
    """,
]
SHARED_TRANSACTION_NONCES = 64

Nonce = tuple[str, bytes, int]  # key id, nonce, expires_at
# Inserted, or an expired row of the same nonce renewed: either way the nonce is fresh.
_REMEMBER = (
    "INSERT INTO call_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE call_nonces.expires_at < ?"
)


class SqliteNonces:
    """`auth.NonceStore` on the table above; rows leave once their token has expired."""

    def __init__(self, pool: sqlite.Pool) -> None:
        self._pool = pool
        self._purged_at = 0
        self._owned = False
        self._batches: Coalescer[int, Nonce, bool] = Coalescer(
            self._remember_all, SHARED_TRANSACTION_NONCES
        )

    @classmethod
    async def open(
        cls, path: Path, migrations: Sequence[str], synchronous: str = "FULL"
    ) -> SqliteNonces:
        """A pool of its own on the database `path` (migrated by `migrations`), for tools
        and tests; `close` closes it. Services pass their store's pool."""
        store = cls(await sqlite.Pool.open(path, migrations, synchronous=synchronous, size=2))
        store._owned = True
        return store

    @classmethod
    async def beside(cls, db_path: Path, carried: sqlite.Pool | None = None) -> SqliteNonces:
        """The nonces of the service whose database is `db_path`, in FILE_NAME beside it
        (created, mode 0600, if missing): not synced to disk on commit (a token is good
        for ±120 s; after a power cut the machine is not back within that). `carried`:
        the service's own pool, whose `call_nonces` table held the nonces before they
        had a file of their own; the unexpired ones are moved over, so that a replay
        stays refused across the upgrade too. `close` closes the file."""
        store = await cls.open(db_path.parent / FILE_NAME, MIGRATIONS, synchronous="NORMAL")
        try:
            if carried is not None:
                now = int(time.time())
                async with carried.read() as db:
                    rows = await sqlite.fetch_all(
                        db,
                        "SELECT key_id, nonce, expires_at FROM call_nonces WHERE expires_at >= ?",
                        (now,),
                    )
                    left = await sqlite.fetch_one(db, "SELECT 1 FROM call_nonces LIMIT 1")
                if rows:
                    async with store._pool.write() as db:
                        await db.executemany(
                            "INSERT OR IGNORE INTO call_nonces (key_id, nonce, expires_at) "
                            "VALUES (?, ?, ?)",
                            [(r[0], bytes(r[1]), r[2]) for r in rows],
                        )
                if left is not None:
                    async with carried.write() as db:
                        await db.execute("DELETE FROM call_nonces")
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Closes the pool only if `open` made it."""
        if self._owned:
            await self._pool.close()

    async def remember(self, key_id: str, nonce: bytes, expires_at: int, now: int) -> bool:
        """Insert (key_id, nonce); False when it is already there and not yet expired."""
        (fresh,) = await self._batches.submit(now, [(key_id, nonce, expires_at)])
        return fresh

    async def _remember_all(self, now: int, nonces: list[Nonce]) -> list[bool]:
        """remember() for calls waiting at once, in one transaction, in order; a lone
        call's nonce in one statement (one hand-off to the database thread, not three)."""
        if len(nonces) == 1 and now - self._purged_at < PURGE_INTERVAL_SECONDS:
            rows = await self._pool.write_one(_REMEMBER + " RETURNING 1", (*nonces[0], now))
            return [bool(rows)]
        fresh: list[bool] = []
        # Not durable on its own: a token is good for ±120 s, and after a power cut the
        # machine is not back within that (sqlite.Pool.write).
        async with self._pool.write(durable=False) as db:
            if now - self._purged_at >= PURGE_INTERVAL_SECONDS:
                self._purged_at = now
                await db.execute("DELETE FROM call_nonces WHERE expires_at < ?", (now,))
            for key_id, nonce, expires_at in nonces:
                cur = await db.execute(_REMEMBER, (key_id, nonce, expires_at, now))
                fresh.append(cur.rowcount == 1)
        return fresh

    async def count(self) -> int:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(db, "SELECT count(*) FROM call_nonces")
        return int(row[0])
