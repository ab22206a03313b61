"""Files an end-of-event report carries: sealed into the outbox, uploaded before the report.

Each file the team chose is sealed in chunks under a subkey of the report's data key
(core/chunks.py), so only the WG's report readers can open it; the report's signed JSON
names each file with its SHA-256, and the envelope lists each sealed blob's size and hash,
so the event's signature and the registry's receipt cover every byte. Uploads resume
where the registry's count says after a broken connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from lanyard.agent.errors import InvalidRequest
from lanyard.agent.incidents.attachments import Attachment
from lanyard.agent.outbox import Entry, Outbox
from lanyard.client.registry import RegistryClient
from lanyard.core import chunks, envelope
from lanyard.wire.registry.v1 import reports_pb2

log = structlog.get_logger("lanyard.agent")


@dataclass(frozen=True, slots=True)
class ReportFile:
    """An incident's attachment chosen for the report, and how to stream its plaintext."""

    incident_id: int
    attachment: Attachment
    open: Callable[[], AsyncIterator[bytes]]


def describe(files: Sequence[ReportFile]) -> dict[int, list[dict[str, Any]]]:
    """The report's JSON entries for the files, per incident; "blob" is the file's place
    in the envelope's list."""
    out: dict[int, list[dict[str, Any]]] = {}
    for blob, f in enumerate(files):
        a = f.attachment
        out.setdefault(f.incident_id, []).append(
            {
                "blob": blob,
                "attachment_id": a.attachment_id,
                "name": a.name,
                "type": a.media_type,
                "bytes": a.size,
                "sha256": a.sha256,
                "note": a.note,
                "added_by": a.added_by,
                "added_at": a.added_at,
            }
        )
    return out


async def seal_files(
    outbox: Outbox, files: Sequence[ReportFile], submission_id: str, data_key: bytes
) -> list[reports_pb2.AttachmentBlob]:
    """Seal each file into the outbox, chunk by chunk; the envelope's manifest."""
    key = envelope.attachment_key(data_key)
    manifest: list[reports_pb2.AttachmentBlob] = []
    for blob, f in enumerate(files):
        sealer = chunks.Sealer(key, envelope.attachment_context(submission_id, blob))
        digest = chunks.ChunkDigest()
        async for piece in f.open():
            for sealed in sealer.feed(piece):
                digest.update(sealed)
                await outbox.put_chunk(submission_id, blob, digest.count - 1, sealed)
        last = sealer.finish()
        digest.update(last)
        await outbox.put_chunk(submission_id, blob, digest.count - 1, last)
        if sealer.sha256.hexdigest() != f.attachment.sha256 or sealer.total != f.attachment.size:
            raise InvalidRequest(
                f"attachment {f.attachment.attachment_id} of incident {f.incident_id} does not "
                "match what was recorded when it was attached; it was not sealed"
            )
        manifest.append(
            reports_pb2.AttachmentBlob(
                chunks=digest.count, sealed_bytes=digest.size, sha256=digest.digest()
            )
        )
    return manifest


async def upload_files(registry: RegistryClient, outbox: Outbox, entry: Entry) -> None:
    """Upload whatever the registry does not hold yet of the entry's files."""
    manifest = reports_pb2.ReportEnvelope.FromString(entry.envelope).attachments
    if not manifest:
        return
    held = await registry.attachment_state(entry.submission_id)
    for blob, want in enumerate(manifest):
        start = held.get(blob, 0)
        if start >= want.chunks:
            continue
        count = await registry.upload_attachment(
            entry.submission_id, blob, start, outbox.chunks(entry.submission_id, blob, start)
        )
        log.info(
            "agent.report_file_uploaded",
            submission_id=entry.submission_id,
            blob=blob,
            resumed_at=start,
            chunks=count,
        )
