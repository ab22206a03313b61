"""Call-token nonces in their own file beside the service's database."""

from __future__ import annotations

import time
from pathlib import Path

from lanyard.core import sqlite
from lanyard.core.nonces import FILE_NAME, SqliteNonces
from lanyard.registry.migrations import MIGRATIONS


async def test_nonces_kept_in_the_service_database_move_beside_it(tmp_path: Path) -> None:
    db_path = tmp_path / "registry.db"
    service = await sqlite.Pool.open(db_path, MIGRATIONS)
    now = int(time.time())
    async with service.write() as db:
        await db.executemany(
            "INSERT INTO call_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)",
            [("event:a", b"a" * 16, now + 100), ("event:b", b"b" * 16, now - 5)],
        )
    nonces = await SqliteNonces.beside(db_path, carried=service)
    try:
        assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
        # The unexpired nonce is still refused: a replay across the upgrade fails too.
        assert not await nonces.remember("event:a", b"a" * 16, now + 120, now)
        assert await nonces.remember("event:b", b"b" * 16, now + 120, now)
        assert await nonces.count() == 2
        async with service.read() as db:
            left = await sqlite.fetch_one(db, "SELECT count(*) FROM call_nonces")
        assert left[0] == 0
    finally:
        await nonces.close()
    # Opened again (the next start): what it holds is kept, nothing is carried twice.
    again = await SqliteNonces.beside(db_path, carried=service)
    try:
        assert not await again.remember("event:b", b"b" * 16, now + 120, now)
    finally:
        await again.close()
        await service.close()
