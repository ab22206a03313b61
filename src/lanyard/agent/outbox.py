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

import aiosqlite

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
    )


class Outbox:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> Outbox:
        try:
            return cls(await sqlite.connect(path, MIGRATIONS, synchronous="FULL"))
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    async def close(self) -> None:
        await self._db.close()

    async def put(
        self, submission_id: str, envelope: bytes, signature: bytes, covers: str = ""
    ) -> None:
        await self._db.execute(
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
        return [
            _entry(r)
            for r in await sqlite.fetch_all(
                self._db, "SELECT * FROM outbox ORDER BY created_at, submission_id"
            )
        ]

    async def pending(self) -> list[Entry]:
        return [e for e in await self.entries() if e.receipt is None]

    async def get(self, submission_id: str) -> Entry | None:
        r = await sqlite.fetch_one(
            self._db, "SELECT * FROM outbox WHERE submission_id = ?", (submission_id,)
        )
        return _entry(r) if r else None

    async def failed(self, submission_id: str, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE submission_id = ?",
            (error[:500], submission_id),
        )

    async def receipted(self, submission_id: str, receipt: reports_pb2.Receipt) -> None:
        """Store the receipt; the sealed files are the registry's to keep from now on."""
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = '', receipt = ? "
            "WHERE submission_id = ?",
            (receipt.SerializeToString(deterministic=True), submission_id),
        )
        await self._db.execute(
            "DELETE FROM outbox_chunks WHERE submission_id = ?", (submission_id,)
        )

    async def put_chunk(self, submission_id: str, blob: int, idx: int, sealed: bytes) -> None:
        await self._db.execute(
            "INSERT INTO outbox_chunks (submission_id, blob, idx, sealed) VALUES (?, ?, ?, ?)",
            (submission_id, blob, idx, sealed),
        )

    async def chunks(self, submission_id: str, blob: int, start: int) -> AsyncIterator[bytes]:
        """A file's sealed chunks from `start` on, read one at a time."""
        idx = start
        while True:
            r = await sqlite.fetch_one(
                self._db,
                "SELECT sealed FROM outbox_chunks WHERE submission_id = ? AND blob = ? AND idx = ?",
                (submission_id, blob, idx),
            )
            if r is None:
                return
            yield bytes(r[0])
            idx += 1
