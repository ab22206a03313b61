"""The durable outbox of sealed end-of-event reports.

A sealed envelope is written here before the first attempt to send it, and stays until
the registry's receipt is stored beside it: a crash, an outage or Ctrl-C loses nothing,
and sending again sends the very same envelope (same submission id), which the registry
answers with the very same receipt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lanyard.agent.errors import DataDirError
from lanyard.agent.migrations import MIGRATIONS
from lanyard.core import sqlite
from lanyard.wire.registry.v1 import reports_pb2


@dataclass(frozen=True, slots=True)
class Entry:
    submission_id: str
    created_at: str
    envelope: bytes
    signature: bytes
    attempts: int
    last_error: str
    receipt: reports_pb2.Receipt | None
    covers: str = ""  # "id:version,…" of the incidents the sealed report holds
    verified_at: str | None = None  # when the registry's log last proved the receipt


def _entry(r: Any) -> Entry:
    receipt = reports_pb2.Receipt.FromString(bytes(r["receipt"])) if r["receipt"] else None
    return Entry(
        r["submission_id"],
        r["created_at"],
        bytes(r["envelope"]),
        bytes(r["signature"]),
        r["attempts"],
        r["last_error"],
        receipt,
        r["covers"],
        r["verified_at"],
    )


class Outbox:
    """Each call is one unit of work on a pooled connection of its own (core/sqlite.py)."""

    def __init__(self, pool: sqlite.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, path: Path) -> Outbox:
        try:
            return cls(await sqlite.Pool.open(path, MIGRATIONS, synchronous="FULL", size=2))
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    async def close(self) -> None:
        await self._pool.close()

    async def put(
        self, submission_id: str, envelope: bytes, signature: bytes, covers: str = ""
    ) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO outbox (submission_id, created_at, envelope, signature, covers) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    submission_id,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    envelope,
                    signature,
                    covers,
                ),
            )

    async def entries(self) -> list[Entry]:
        async with self._pool.read() as db:
            rows = await sqlite.fetch_all(
                db, "SELECT * FROM outbox ORDER BY created_at, submission_id"
            )
        return [_entry(r) for r in rows]

    async def pending(self) -> list[Entry]:
        return [e for e in await self.entries() if e.receipt is None]

    async def get(self, submission_id: str) -> Entry | None:
        async with self._pool.read() as db:
            r = await sqlite.fetch_one(
                db, "SELECT * FROM outbox WHERE submission_id = ?", (submission_id,)
            )
        return _entry(r) if r else None

    async def failed(self, submission_id: str, error: str) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE submission_id = ?",
                (error[:500], submission_id),
            )

    async def verified(self, submission_id: str, at: datetime) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE outbox SET verified_at = ? WHERE submission_id = ?",
                (at.isoformat(timespec="seconds"), submission_id),
            )

    async def save_recipients(self, recipients: reports_pb2.RecipientSet, at: datetime) -> None:
        """Keep the WG's signed recipient set, to seal with while the registry is away."""
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO recipient_cache (id, recipient_set, fetched_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET recipient_set = excluded.recipient_set, "
                "fetched_at = excluded.fetched_at",
                (
                    recipients.SerializeToString(deterministic=True),
                    at.isoformat(timespec="seconds"),
                ),
            )

    async def cached_recipients(self) -> tuple[reports_pb2.RecipientSet, str] | None:
        """The last recipient set fetched, and when (not yet verified: the caller does)."""
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(
                db, "SELECT recipient_set, fetched_at FROM recipient_cache"
            )
        if row is None:
            return None
        return reports_pb2.RecipientSet.FromString(bytes(row[0])), str(row[1])

    async def receipted(self, submission_id: str, receipt: reports_pb2.Receipt) -> None:
        """Store the receipt; the sealed files are the registry's to keep from now on."""
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = '', receipt = ? "
                "WHERE submission_id = ?",
                (receipt.SerializeToString(deterministic=True), submission_id),
            )
            await db.execute("DELETE FROM outbox_chunks WHERE submission_id = ?", (submission_id,))

    async def put_chunk(self, submission_id: str, blob: int, idx: int, sealed: bytes) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO outbox_chunks (submission_id, blob, idx, sealed) VALUES (?, ?, ?, ?)",
                (submission_id, blob, idx, sealed),
            )

    async def chunks(self, submission_id: str, blob: int, start: int) -> AsyncIterator[bytes]:
        """A file's sealed chunks from `start` on, read one at a time."""
        idx = start
        while True:
            async with self._pool.read() as db:
                r = await sqlite.fetch_one(
                    db,
                    "SELECT sealed FROM outbox_chunks WHERE submission_id = ? AND blob = ? "
                    "AND idx = ?",
                    (submission_id, blob, idx),
                )
            if r is None:
                return
            yield bytes(r[0])
            idx += 1
