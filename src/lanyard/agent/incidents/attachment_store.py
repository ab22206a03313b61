"""Where attachments live: sealed chunks and sealed metadata rows in agent.db.

The chunks are written as they stream in, one statement each, in a row marked
incomplete; the row is made complete, charged against the incident's limit and audited
in one transaction at the end. An incomplete row (a broken upload) is never listed and
is deleted when the upload fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from lanyard.agent.errors import NotAllowed
from lanyard.core import sqlite


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    attachment_id: int
    incident_id: int
    size: int
    chunks: int
    sealed_meta: bytes
    added_by: str
    added_at: str


class AttachmentStore:
    """Each method is one unit of work on a pooled connection (core/sqlite.py)."""

    def __init__(self, db: sqlite.Pool) -> None:
        self._db = db

    async def start(self, incident_id: int, added_by: str, added_at: str) -> int:
        """A new, incomplete attachment row; returns its id."""
        async with self._db.write() as db:
            row = await sqlite.fetch_one(
                db,
                "INSERT INTO attachments (incident_id, size, chunks, sealed_meta, added_by, "
                "added_at) VALUES (?, 0, 0, x'', ?, ?) RETURNING attachment_id",
                (incident_id, added_by, added_at),
            )
        return int(row[0])

    async def put_chunk(self, attachment_id: int, index: int, sealed: bytes) -> None:
        async with self._db.write() as db:
            await db.execute(
                "INSERT INTO attachment_chunks (attachment_id, idx, sealed) VALUES (?, ?, ?)",
                (attachment_id, index, sealed),
            )

    async def complete(
        self,
        row: AttachmentRow,
        limits: tuple[int, int],
        audit: tuple[str, str],
    ) -> None:
        """Mark the row complete if the incident stays within (total bytes, files);
        NotAllowed otherwise. Audited as (at, action) in the same transaction."""
        max_bytes, max_files = limits
        async with self._db.write() as db:
            used = await sqlite.fetch_one(
                db,
                "SELECT coalesce(sum(size), 0), count(*) FROM attachments "
                "WHERE incident_id = ? AND complete = 1",
                (row.incident_id,),
            )
            if int(used[0]) + row.size > max_bytes or int(used[1]) + 1 > max_files:
                raise NotAllowed(
                    f"incident {row.incident_id} would hold more than {max_files} files or "
                    f"{max_bytes:,} bytes of attachments ({int(used[1])} files, "
                    f"{int(used[0]):,} bytes now)"
                )
            await db.execute(
                "UPDATE attachments SET size = ?, chunks = ?, sealed_meta = ?, complete = 1 "
                "WHERE attachment_id = ?",
                (row.size, row.chunks, row.sealed_meta, row.attachment_id),
            )
            await db.execute(
                "INSERT INTO audit (incident_id, at, member, action) VALUES (?, ?, ?, ?)",
                (row.incident_id, audit[0], row.added_by, audit[1]),
            )

    async def discard(self, attachment_id: int) -> None:
        async with self._db.write() as db:
            await db.execute(
                "DELETE FROM attachment_chunks WHERE attachment_id = ?", (attachment_id,)
            )
            await db.execute("DELETE FROM attachments WHERE attachment_id = ?", (attachment_id,))

    async def discard_incomplete(self) -> int:
        """Delete what uploads cut off by a crash left behind; run before serving."""
        async with self._db.read() as db:
            rows = await sqlite.fetch_all(
                db, "SELECT attachment_id FROM attachments WHERE complete = 0"
            )
        for r in rows:
            await self.discard(int(r[0]))
        return len(rows)

    async def usage(self, incident_id: int) -> tuple[int, int]:
        """(bytes, files) of the incident's complete attachments."""
        async with self._db.read() as db:
            row = await sqlite.fetch_one(
                db,
                "SELECT coalesce(sum(size), 0), count(*) FROM attachments "
                "WHERE incident_id = ? AND complete = 1",
                (incident_id,),
            )
        return int(row[0]), int(row[1])

    async def rows(self, incident_id: int) -> list[AttachmentRow]:
        async with self._db.read() as db:
            rows = await sqlite.fetch_all(
                db,
                "SELECT attachment_id, incident_id, size, chunks, sealed_meta, added_by, "
                "added_at FROM attachments WHERE incident_id = ? AND complete = 1 "
                "ORDER BY attachment_id",
                (incident_id,),
            )
        return [AttachmentRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    async def get(self, incident_id: int, attachment_id: int) -> AttachmentRow | None:
        for row in await self.rows(incident_id):
            if row.attachment_id == attachment_id:
                return row
        return None

    async def chunks(self, attachment_id: int, count: int) -> AsyncIterator[bytes]:
        """The sealed chunks in order, read one at a time."""
        for index in range(count):
            async with self._db.read() as db:
                row = await sqlite.fetch_one(
                    db,
                    "SELECT sealed FROM attachment_chunks WHERE attachment_id = ? AND idx = ?",
                    (attachment_id, index),
                )
            if row is None:
                return
            yield bytes(row[0])

    async def destroy_incident(self, incident_id: int) -> None:
        async with self._db.write() as db:
            await db.execute(
                "DELETE FROM attachment_chunks WHERE attachment_id IN "
                "(SELECT attachment_id FROM attachments WHERE incident_id = ?)",
                (incident_id,),
            )
            await db.execute("DELETE FROM attachments WHERE incident_id = ?", (incident_id,))
