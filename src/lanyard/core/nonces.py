"""Call-token nonces kept in the service's own database, so a replay is refused across
restarts (docs/call-token.md "Verifying").

Both services create the same table in a numbered migration:

    CREATE TABLE call_nonces (
        key_id TEXT NOT NULL, nonce BLOB NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)) STRICT, WITHOUT ROWID;

Each remembered nonce is committed in a short BEGIN IMMEDIATE transaction on the
service's connection pool (lanyard/core/sqlite.py) before the call it authenticates goes
on: a replay is refused even if that call then fails. Calls authenticated at the same
time share one transaction (core/coalesce.py), its nonces inserted one statement each in
arrival order, so a replay racing its original in the same transaction is still refused:
under load one commit serves many calls instead of one each. That commit does not wait
for the disk (see _remember_all): a new person's Check makes two disk syncs, not four.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from lanyard.core import sqlite
from lanyard.core.coalesce import Coalescer

PURGE_INTERVAL_SECONDS = 60
SHARED_TRANSACTION_NONCES = 64
SMALL_UNIT = 8  # nonces committed on the event loop's thread (Pool.transact small)

Nonce = tuple[str, bytes, int]  # key id, nonce, expires_at


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

    async def close(self) -> None:
        """Closes the pool only if `open` made it."""
        if self._owned:
            await self._pool.close()

    async def remember(self, key_id: str, nonce: bytes, expires_at: int, now: int) -> bool:
        """Insert (key_id, nonce); False when it is already there and not yet expired."""
        (fresh,) = await self._batches.submit(now, [(key_id, nonce, expires_at)])
        return fresh

    async def _remember_all(self, now: int, nonces: list[Nonce]) -> list[bool]:
        """remember() for calls waiting at once, in one transaction, in order."""
        purge = now - self._purged_at >= PURGE_INTERVAL_SECONDS
        if purge:
            self._purged_at = now

        def unit(db: sqlite3.Connection) -> list[bool]:
            if purge:
                db.execute("DELETE FROM call_nonces WHERE expires_at < ?", (now,))
            return [
                db.execute(
                    "INSERT INTO call_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key_id, nonce) DO UPDATE SET "
                    "expires_at = excluded.expires_at WHERE call_nonces.expires_at < ?",
                    (key_id, nonce, expires_at, now),
                ).rowcount
                == 1
                for key_id, nonce, expires_at in nonces
            ]

        # Not durable on its own: a token is good for ±120 s, and after a power cut the
        # machine is not back within that (sqlite.Pool.write). The call's own durable
        # commit, if it makes one, syncs the nonce with it. A few nonces commit on the
        # event loop's thread, more in one hand-off (Pool.transact): every authenticated
        # call makes one.
        return await self._pool.transact(unit, durable=False, small=len(nonces) <= SMALL_UNIT)

    async def count(self) -> int:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(db, "SELECT count(*) FROM call_nonces")
        return int(row[0])
