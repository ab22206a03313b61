"""The files an end-of-event report carries, written out for a WG report reader.

Each file streams from the registry as sealed chunks, opens under the report's data key
(only a reader's key unwraps it), and is checked twice before it is kept: the chunks
against the size and hash the event signed in the envelope, the plaintext against the
SHA-256 and size the event signed inside the report. A file that fails either is not
written; nothing of it stays on disk.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanyard.cli.output import CliError
from lanyard.client.admin import AdminClient
from lanyard.core import chunks, envelope
from lanyard.core.errors import Error as CoreError
from lanyard.wire.registry.v1 import reports_pb2


@dataclass(frozen=True, slots=True)
class Carried:
    """What an opened submission says about its files."""

    submission_id: str
    report: dict[str, Any]
    data_key: bytes
    files: list[reports_pb2.AttachmentBlob]


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def _target(directory: Path, incident_id: int, entry: dict[str, Any]) -> Path:
    name = _UNSAFE.sub("_", str(entry["name"]))[:120].lstrip(".") or "file"
    return directory / f"incident-{incident_id}-{int(entry['attachment_id'])}-{name}"


async def _tee(sealed: AsyncIterator[bytes], digest: chunks.ChunkDigest) -> AsyncIterator[bytes]:
    async for chunk in sealed:
        digest.update(chunk)
        yield chunk


async def save_files(client: AdminClient, opened: Carried, directory: Path) -> list[Path]:
    """Write every file the report carries into `directory`; the paths written."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any I/O
    key = envelope.attachment_key(opened.data_key)
    written: list[Path] = []
    for incident in opened.report.get("incidents", []):
        for entry in incident.get("attachments", []):
            blob = int(entry["blob"])
            if not 0 <= blob < len(opened.files):
                raise CliError(f"the report names file {blob}, which the envelope does not list")
            target = _target(directory, int(incident["incident_id"]), entry)
            await _save_one(client, opened, key, blob, entry, target)
            written.append(target)
    return written


async def _save_one(
    client: AdminClient,
    opened: Carried,
    key: bytes,
    blob: int,
    entry: dict[str, Any],
    target: Path,
) -> None:
    want = opened.files[blob]
    partial = target.with_name(f".{target.name}.partial")
    sealed_digest, plain_digest, size = chunks.ChunkDigest(), hashlib.sha256(), 0
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            plain = chunks.open_all(
                key,
                envelope.attachment_context(opened.submission_id, blob),
                want.chunks,
                _tee(client.submission_attachment(opened.submission_id, blob), sealed_digest),
            )
            try:
                async for piece in plain:
                    fh.write(piece)
                    plain_digest.update(piece)
                    size += len(piece)
            except CoreError as exc:
                raise CliError(f"file {entry['name']!r} does not open: {exc}") from exc
            fh.flush()
            os.fsync(fh.fileno())
        if sealed_digest.digest() != want.sha256 or sealed_digest.size != want.sealed_bytes:
            raise CliError(f"file {entry['name']!r} is not the one the event's envelope lists")
        if plain_digest.hexdigest() != entry["sha256"] or size != entry["bytes"]:
            raise CliError(f"file {entry['name']!r} is not the one the event's report names")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
