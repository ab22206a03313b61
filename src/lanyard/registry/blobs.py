"""Files attached to end-of-event reports, on the registry's side: sealed chunks only.

An event uploads each file's sealed chunks before the envelope that lists them; an
upload that broke off resumes where the registry's count says. SubmitReport checks that
every listed blob is held whole and hashes to what the event signed, so a receipt means
the registry holds all of it. The registry never holds a key to any of it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import structlog

from lanyard.core import chunks, limits, sqlite
from lanyard.registry.errors import InvalidRequest, NotFound, NotReady, PermissionDenied
from lanyard.wire.registry.v1 import reports_pb2

log = structlog.get_logger("lanyard.registry")

SUBMISSION_ID = re.compile(r"^[0-9a-f]{32}$")

# Every limit on report files lives in the one limits table; a sealed chunk is at most
# one chunk of plaintext and its overhead.
LIMITS = {**limits.REPORT_FILES, "chunk_bytes": chunks.CHUNK_BYTES + chunks.OVERHEAD}


class BlobStore:
    """Sealed chunks in registry.db, one row each, read back one at a time."""

    def __init__(self, db: sqlite.Pool) -> None:
        self._db = db

    async def held(self, submission_id: str) -> tuple[dict[int, int], set[str], int]:
        """(chunks per blob, event ids that uploaded, total bytes) for a submission."""
        async with self._db.read() as db:
            rows = await sqlite.fetch_all(
                db,
                "SELECT blob, count(*), group_concat(DISTINCT event_id), sum(length(sealed)) "
                "FROM submission_chunks WHERE submission_id = ? GROUP BY blob",
                (submission_id,),
            )
        events: set[str] = set()
        for r in rows:
            events.update(str(r[2]).split(","))
        return {int(r[0]): int(r[1]) for r in rows}, events, sum(int(r[3]) for r in rows)

    async def put(
        self, submission_id: str, event_id: str, blob: int, idx: int, sealed: bytes
    ) -> None:
        async with self._db.write() as db:
            await db.execute(
                "INSERT INTO submission_chunks (submission_id, event_id, blob, idx, sealed, "
                "uploaded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    submission_id,
                    event_id,
                    blob,
                    idx,
                    sealed,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )

    async def purge_unclaimed(self, before: datetime) -> int:
        """Delete chunks uploaded before `before` for reports never submitted."""
        async with self._db.write() as db:
            cur = await db.execute(
                "DELETE FROM submission_chunks WHERE uploaded_at < ? AND submission_id NOT IN "
                "(SELECT submission_id FROM submissions)",
                (before.isoformat(timespec="seconds"),),
            )
        return int(cur.rowcount)

    async def read(self, submission_id: str, blob: int) -> AsyncIterator[bytes]:
        idx = 0
        while True:
            async with self._db.read() as db:
                row = await sqlite.fetch_one(
                    db,
                    "SELECT sealed FROM submission_chunks WHERE submission_id = ? AND blob = ? "
                    "AND idx = ?",
                    (submission_id, blob, idx),
                )
            if row is None:
                return
            yield bytes(row[0])
            idx += 1


class BlobService:
    def __init__(self, store: BlobStore) -> None:
        self._store = store

    async def purge_unclaimed(self, now: datetime | None = None) -> int:
        """Files uploaded for a report that never came are deleted after a while
        (run at start): a broken-off report cannot hold space for ever."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=LIMITS["unclaimed_days"])
        purged = await self._store.purge_unclaimed(cutoff)
        if purged:
            log.info("registry.unclaimed_files_purged", chunks=purged)
        return purged

    async def state(self, event_id: str, submission_id: str) -> dict[int, int]:
        held, events, _ = await self._store.held(submission_id)
        if events and events != {event_id}:
            raise PermissionDenied(f"submission {submission_id[:40]} is not this event's")
        return held

    async def upload(
        self,
        event_id: str,
        header: reports_pb2.UploadAttachmentHeader,
        logged: bool,
        pieces: AsyncIterable[bytes],
    ) -> int:
        """Store the chunks of one blob from `header.first_chunk` on; returns how many
        are held. `logged`: the submission is already in the log (nothing may change)."""
        sid = header.submission_id
        if not SUBMISSION_ID.match(sid):
            raise InvalidRequest("submission_id must be 32 lowercase hex characters")
        if header.blob >= LIMITS["blobs"]:
            raise InvalidRequest(f"a report carries at most {LIMITS['blobs']} files")
        if logged:
            raise NotReady(f"submission {sid} is already logged; its files are final")
        held = await self.state(event_id, sid)
        _, _, total = await self._store.held(sid)
        count = held.get(header.blob, 0)
        if header.first_chunk != count:
            raise NotReady(
                f"blob {header.blob} of submission {sid}: the registry holds {count} chunks; "
                f"resume from chunk {count}, not {header.first_chunk}"
            )
        async for sealed in pieces:
            if len(sealed) > LIMITS["chunk_bytes"] or len(sealed) <= chunks.OVERHEAD:
                raise InvalidRequest(
                    f"a sealed chunk is {chunks.OVERHEAD + 1} to {LIMITS['chunk_bytes']} bytes, "
                    f"got {len(sealed)}"
                )
            total += len(sealed)
            if total > LIMITS["submission_bytes"]:
                raise InvalidRequest(
                    f"a report's files are at most {LIMITS['submission_bytes']:,} bytes in all"
                )
            await self._store.put(sid, event_id, header.blob, count, sealed)
            count += 1
        log.info(
            "registry.attachment_uploaded",
            submission_id=sid,
            event_id=event_id,
            blob=header.blob,
            chunks=count,
        )
        return count

    async def check_complete(
        self, event_id: str, submission_id: str, manifest: Sequence[reports_pb2.AttachmentBlob]
    ) -> None:
        """Every blob the envelope lists is held whole, of its size and hash; else
        NotReady naming the first that is not."""
        held = await self.state(event_id, submission_id)
        if len(manifest) > LIMITS["blobs"]:
            raise InvalidRequest(f"a report carries at most {LIMITS['blobs']} files")
        for blob, want in enumerate(manifest):
            if held.get(blob, 0) != want.chunks:
                raise NotReady(
                    f"blob {blob} of submission {submission_id}: {held.get(blob, 0)} of "
                    f"{want.chunks} chunks are held; upload the rest first"
                )
            digest = chunks.ChunkDigest()
            async for sealed in self._store.read(submission_id, blob):
                digest.update(sealed)
            if digest.size != want.sealed_bytes or digest.digest() != want.sha256:
                raise NotReady(
                    f"blob {blob} of submission {submission_id} does not match the envelope's "
                    "size and hash"
                )

    async def read(
        self, submission_id: str, blob: int, manifest: Sequence[reports_pb2.AttachmentBlob]
    ) -> AsyncIterator[bytes]:
        if blob >= len(manifest):
            raise NotFound(f"submission {submission_id} has no file {blob}")
        return self._store.read(submission_id, blob)
