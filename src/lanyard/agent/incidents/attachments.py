"""Files attached to incidents: screenshots, PDFs, recordings, text (the WG asks for them).

A file streams in and out in chunks sealed under a subkey of the incident's own key
(core/chunks.py), so destroying the incident (its key) destroys its files, and a file of
hundreds of MB is never held in memory. The type is told from the content (filetypes.py);
the name, note, type and SHA-256 are sealed too. Every read and write is audited.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import structlog
from nacl.secret import SecretBox

from lanyard.agent.errors import DataDirError, InvalidRequest, NotAllowed, NotFound
from lanyard.agent.incidents.attachment_store import AttachmentRow
from lanyard.agent.incidents.filetypes import Typer
from lanyard.agent.incidents.rules import check_text
from lanyard.agent.incidents.service import Caller, IncidentService
from lanyard.agent.incidents.store import IncidentStore
from lanyard.core import chunks, limits

log = structlog.get_logger("lanyard.incidents")

# Every limit on attachments lives in the one limits table.
LIMITS = limits.ATTACHMENTS


@dataclass(frozen=True, slots=True)
class Attachment:
    attachment_id: int
    incident_id: int
    name: str
    media_type: str
    size: int
    sha256: str
    note: str
    added_by: str
    added_at: str


def _context(incident_id: int, attachment_id: int) -> bytes:
    return f"incident:{incident_id}:attachment:{attachment_id}".encode()


def _chunk_key(incident_key: bytes) -> bytes:
    return chunks.subkey(incident_key, b"attachments")


def _seal_meta(incident_key: bytes, attachment_id: int, meta: dict[str, Any]) -> bytes:
    plain = json.dumps({"attachment_id": attachment_id, **meta}, ensure_ascii=False).encode()
    return bytes(SecretBox(incident_key).encrypt(plain))


def _open(incident_key: bytes, row: AttachmentRow) -> Attachment:
    try:
        meta = json.loads(SecretBox(incident_key).decrypt(row.sealed_meta))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise DataDirError(f"attachment {row.attachment_id} does not open") from exc
    if meta.get("attachment_id") != row.attachment_id:
        raise DataDirError(f"attachment {row.attachment_id} belongs to another attachment")
    return Attachment(
        row.attachment_id,
        row.incident_id,
        meta["name"],
        meta["type"],
        row.size,
        meta["sha256"],
        meta["note"],
        row.added_by,
        row.added_at,
    )


class AttachmentService:
    def __init__(
        self,
        incidents: IncidentService,
        store: IncidentStore,
        stamp: Callable[[], str] = lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        chunk_bytes: int = chunks.CHUNK_BYTES,
    ) -> None:
        self._incidents = incidents
        self._records = store
        self._store = store.attachments
        self._stamp = stamp
        self._chunk_bytes = chunk_bytes

    async def attach(
        self,
        caller: Caller,
        incident_id: int,
        name: str,
        note: str,
        pieces: AsyncIterable[bytes],
    ) -> Attachment:
        """Seal and store a streamed file. InvalidRequest for a bad name or note, an
        empty file or one of a type not kept; NotAllowed over a size limit."""
        name = name.strip().replace("/", "_").replace("\\", "_")
        if not name or len(name) > LIMITS["name_chars"]:
            raise InvalidRequest(f"the file name must be 1 to {LIMITS['name_chars']} characters")
        check_text(name, "file name")
        if len(note) > LIMITS["note_chars"]:
            raise InvalidRequest(f"the note is at most {LIMITS['note_chars']} characters")
        if note:
            check_text(note, "note")
        _, key = await self._incidents.incident_key(caller, incident_id, "attach", filer_may=True)
        used_bytes, used_files = await self._store.usage(incident_id)
        if used_files >= LIMITS["incident_files"]:
            raise NotAllowed(f"incident {incident_id} already holds {used_files} files, the limit")
        room = min(LIMITS["file_bytes"], LIMITS["incident_bytes"] - used_bytes)
        started = time.perf_counter()
        lock = self._incidents.write_lock
        async with lock:
            attachment_id = await self._store.start(incident_id, caller.name, self._stamp())
        try:
            sealer = chunks.Sealer(
                _chunk_key(key), _context(incident_id, attachment_id), self._chunk_bytes
            )
            typer = Typer()
            async for piece in pieces:
                if sealer.total + len(piece) > room:
                    raise NotAllowed(
                        f"the file is over the limit of {room:,} bytes "
                        f"({LIMITS['file_bytes']:,} per file, "
                        f"{LIMITS['incident_bytes']:,} per incident)"
                    )
                typer.feed(piece)
                for sealed in sealer.feed(piece):
                    async with lock:
                        await self._store.put_chunk(attachment_id, sealer.index - 1, sealed)
            if sealer.total == 0:
                raise InvalidRequest("the file is empty")
            media_type = typer.result()
            last = sealer.finish()
            async with lock:
                await self._store.put_chunk(attachment_id, sealer.index - 1, last)
            meta = {"name": name, "type": media_type, "note": note}
            meta["sha256"] = sealer.sha256.hexdigest()
            row = AttachmentRow(
                attachment_id,
                incident_id,
                sealer.total,
                sealer.index,
                _seal_meta(key, attachment_id, meta),
                caller.name,
                self._stamp(),
            )
            async with lock:
                await self._store.complete(
                    row,
                    (LIMITS["incident_bytes"], LIMITS["incident_files"]),
                    (row.added_at, f"attach:{attachment_id}"),
                )
        except BaseException:
            async with lock:
                await self._store.discard(attachment_id)
            raise
        log.info(
            "incidents.attached",
            incident_id=incident_id,
            attachment_id=attachment_id,
            bytes=row.size,
            chunks=row.chunks,
            by=caller.name,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return _open(key, row)

    async def list_attachments(self, caller: Caller, incident_id: int) -> list[Attachment]:
        _, key = await self._incidents.incident_key(caller, incident_id, "list-attachments")
        found = [_open(key, row) for row in await self._store.rows(incident_id)]
        await self._records.audit(incident_id, self._stamp(), caller.name, "list-attachments")
        return found

    async def read(
        self, caller: Caller, incident_id: int, attachment_id: int
    ) -> tuple[Attachment, AsyncIterator[bytes]]:
        """The attachment and its plaintext, chunk by chunk (SealError mid-stream if a
        stored chunk was changed, moved or lost)."""
        _, key = await self._incidents.incident_key(caller, incident_id, "read-attachment")
        row = await self._store.get(incident_id, attachment_id)
        if row is None:
            raise NotFound(f"incident {incident_id} has no attachment {attachment_id}")
        attachment = _open(key, row)
        await self._records.audit(
            incident_id, self._stamp(), caller.name, f"read-attachment:{attachment_id}"
        )
        log.info(
            "incidents.attachment_read",
            incident_id=incident_id,
            attachment_id=attachment_id,
            by=caller.name,
        )
        plain = chunks.open_all(
            _chunk_key(key),
            _context(incident_id, attachment_id),
            row.chunks,
            self._store.chunks(attachment_id, row.chunks),
        )
        return attachment, plain

    async def for_report(
        self, incident_id: int
    ) -> list[tuple[Attachment, Callable[[], AsyncIterator[bytes]]]]:
        """Every attachment of an incident with a way to stream its plaintext, for the
        end-of-event report the operator builds on this machine (audited)."""
        rows = await self._store.rows(incident_id)
        if not rows:
            return []
        key = await self._incidents.export_key(incident_id, "report-files")
        out: list[tuple[Attachment, Callable[[], AsyncIterator[bytes]]]] = []
        for row in rows:

            def stream(row: AttachmentRow = row) -> AsyncIterator[bytes]:
                return chunks.open_all(
                    _chunk_key(key),
                    _context(incident_id, row.attachment_id),
                    row.chunks,
                    self._store.chunks(row.attachment_id, row.chunks),
                )

            out.append((_open(key, row), stream))
        return out
