"""Files carried by an end-of-event report, against a real registry: resumable uploads,
a receipt only once every file is held whole, and a reader who gets the same bytes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from lanyard.agent import report_files
from lanyard.agent.incidents.attachments import Attachment
from lanyard.agent.report_files import ReportFile
from lanyard.agent.reports import build_report, preview
from lanyard.cli.output import CliError
from lanyard.cli.registry.submission_files import Carried, save_files
from lanyard.client.errors import RpcFailed
from lanyard.core import chunks, envelope
from lanyard.core.channels import open_channel
from tests.agent.test_reports import World, world  # noqa: F401 - the fixture
from tests.conftest import enroll


def _file(blob_id: int, body: bytes, media_type: str = "video/mp4") -> ReportFile:
    attachment = Attachment(
        blob_id, 1, f"file-{blob_id}", media_type, len(body), hashlib.sha256(body).hexdigest(),
        "", "ana", "2027-05-02T10:00:00+00:00",
    )  # fmt: skip

    async def stream() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 700_000):
            yield body[at : at + 700_000]

    return ReportFile(1, attachment, stream)


async def _sealed(world: World, bodies: list[bytes]):  # type: ignore[no-untyped-def]  # noqa: F811
    files = [_file(i + 1, b) for i, b in enumerate(bodies)]
    incidents = await world.records.export_all("report")
    report = build_report(world.agent.enrolment, incidents, files)
    return report, await world.sender.seal(report, files=files)


async def _read_back(world: World, submission_id: str, blob: int, count: int) -> bytes:  # noqa: F811
    event_key = bytes(world.adir.event_key().verify_key)
    stored = await world.admin.get_submission(submission_id)
    reader = world.readers[0]
    report, data_key = envelope.open_report_and_key(
        stored.envelope, reader.name, reader.encryption, event_key
    )
    channel = open_channel(world.registry.address)
    try:
        client = world.reader_client(reader, channel)
        out = bytearray()
        async for piece in chunks.open_all(
            envelope.attachment_key(data_key),
            envelope.attachment_context(submission_id, blob),
            count,
            client.submission_attachment(submission_id, blob),
        ):
            out += piece
    finally:
        await channel.close()
    entry = report["incidents"][0]["attachments"][blob]
    assert entry["sha256"] == hashlib.sha256(out).hexdigest()
    return bytes(out)


async def test_a_broken_upload_resumes_and_the_reader_gets_the_same_bytes(
    world: World,  # noqa: F811
) -> None:
    big = b"\x00\x00\x00\x18ftypmp42" + os.urandom(3 * (1 << 20))  # four chunks
    shot = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
    report, entry = await _sealed(world, [big, shot])
    manifest = envelope.parse_envelope(entry.envelope).attachments
    assert [m.chunks for m in manifest] == [4, 1]
    assert f"file-1 (video/mp4, {len(big):,} bytes" in preview(report)
    registry = world.agent.registry
    sid = entry.submission_id

    # Before its files are held, the report is refused and nothing is logged.
    with pytest.raises(RpcFailed) as refused:
        await registry.submit_report(entry.envelope, entry.signature)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "0 of 4 chunks" in refused.value.details
    assert await world.admin.list_submissions() == []

    # The upload stops after two chunks of the first file (the agent went down).
    async def two_chunks() -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in world.sender.outbox.chunks(sid, 0, 0):
            if sent == 2:
                return
            yield chunk
            sent += 1

    assert await registry.upload_attachment(sid, 0, 0, two_chunks()) == 2
    assert await registry.attachment_state(sid) == {0: 2}
    # Resuming from the wrong place is refused, naming the right one.
    with pytest.raises(RpcFailed) as wrong:
        await registry.upload_attachment(sid, 0, 0, world.sender.outbox.chunks(sid, 0, 0))
    assert wrong.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "resume from chunk 2" in wrong.value.details

    delivery = await world.sender.deliver(entry)
    assert delivery.receipt is not None
    assert await registry.attachment_state(sid) == {0: 4, 1: 1}
    assert await _read_back(world, sid, 0, 4) == big
    assert await _read_back(world, sid, 1, 1) == shot
    # Once receipted, the outbox no longer keeps the sealed files.
    assert [c async for c in world.sender.outbox.chunks(sid, 0, 0)] == []
    # Another event can neither see nor add to this submission's files.
    channel = open_channel(world.registry.address)
    try:
        other = await enroll(world.admin, channel, "otherconf-2027")
        with pytest.raises(RpcFailed) as denied:
            await other.client.attachment_state(sid)
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await channel.close()


async def test_files_of_a_logged_report_are_final(world: World) -> None:  # noqa: F811
    _, entry = await _sealed(world, [b"plain evidence text\n" * 10])
    delivery = await world.sender.deliver(entry)
    assert delivery.receipt is not None
    with pytest.raises(RpcFailed) as late:
        await world.agent.registry.upload_attachment(
            entry.submission_id, 0, 1, world.sender.outbox.chunks(entry.submission_id, 0, 0)
        )
    assert late.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "already logged" in late.value.details


def _stream_of(size: int, seed: bytes) -> tuple[ReportFile, str]:
    """A `size`-byte MP4-shaped file made on the fly (never held whole), and its SHA-256."""
    piece = 1 << 20

    def pieces() -> Iterator[bytes]:
        head = b"\x00\x00\x00\x18ftypmp42"
        made = 0
        counter = 0
        while made < size:
            block = hashlib.shake_256(seed + counter.to_bytes(8, "big")).digest(piece)
            if made == 0:
                block = head + block[len(head) :]
            block = block[: size - made]
            made += len(block)
            counter += 1
            yield block

    digest = hashlib.sha256()
    for block in pieces():
        digest.update(block)
    attachment = Attachment(
        1, 1, "talk.mp4", "video/mp4", size, digest.hexdigest(), "", "ana", "2027-05-02"
    )

    async def stream() -> AsyncIterator[bytes]:
        for block in pieces():
            yield block

    return ReportFile(1, attachment, stream), digest.hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("LANYARD_BIG_FILES"), reason="moves 200 MiB; set LANYARD_BIG_FILES=1"
)
async def test_a_200_mb_file_travels_with_the_report_in_flat_memory(
    world: World,  # noqa: F811
) -> None:
    size = 200 * (1 << 20)
    chosen, expected = _stream_of(size, b"talk")
    incidents = await world.records.export_all("report")
    report = build_report(world.agent.enrolment, incidents, [chosen])
    tracemalloc.start()
    try:
        entry = await world.sender.seal(report, files=[chosen])
        delivery = await world.sender.deliver(entry)
        assert delivery.receipt is not None
        digest = hashlib.sha256()
        event_key = bytes(world.adir.event_key().verify_key)
        stored = await world.admin.get_submission(entry.submission_id)
        reader = world.readers[0]
        _, data_key = envelope.open_report_and_key(
            stored.envelope, reader.name, reader.encryption, event_key
        )
        channel = open_channel(world.registry.address)
        try:
            client = world.reader_client(reader, channel)
            async for piece in chunks.open_all(
                envelope.attachment_key(data_key),
                envelope.attachment_context(entry.submission_id, 0),
                200,
                client.submission_attachment(entry.submission_id, 0),
            ):
                digest.update(piece)
        finally:
            await channel.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"200 MiB report file: traced peak {peak / 2**20:.1f} MiB")
    assert digest.hexdigest() == expected
    assert peak < 48 * (1 << 20)


async def test_a_reader_never_keeps_a_file_the_registry_changed(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    body = b"\x89PNG\r\n\x1a\n" + os.urandom(1 << 20)  # two chunks
    _, entry = await _sealed(world, [body])
    assert (await world.sender.deliver(entry)).receipt is not None
    stored = await world.admin.get_submission(entry.submission_id)
    reader = world.readers[0]
    opened, data_key = envelope.open_report_and_key(
        stored.envelope, reader.name, reader.encryption, bytes(world.adir.event_key().verify_key)
    )
    carried = Carried(
        entry.submission_id,
        opened,
        data_key,
        list(envelope.parse_envelope(stored.envelope).attachments),
    )
    channel = open_channel(world.registry.address)
    try:
        client = world.reader_client(reader, channel)
        (good,) = await save_files(client, carried, tmp_path / "good")
        assert good.read_bytes() == body
        assert good.stat().st_mode & 0o777 == 0o600
        where = "WHERE submission_id = ? AND blob = 0 AND idx = 1"
        with sqlite3.connect(world.registry_dir.db_path) as db:
            (sealed,) = db.execute(
                f"SELECT sealed FROM submission_chunks {where}",  # noqa: S608 - constant
                (entry.submission_id,),
            ).fetchone()
            changed = bytearray(sealed)
            changed[-1] ^= 1
            db.execute(
                f"UPDATE submission_chunks SET sealed = ? {where}",  # noqa: S608 - constant
                (bytes(changed), entry.submission_id),
            )
        with pytest.raises(CliError, match="does not open"):
            await save_files(client, carried, tmp_path / "bad")
        assert list((tmp_path / "bad").iterdir()) == []
    finally:
        await channel.close()


async def test_files_of_a_report_never_submitted_are_purged_after_a_while(
    world: World,  # noqa: F811
) -> None:
    _, kept = await _sealed(world, [b"kept evidence\n" * 10])
    assert (await world.sender.deliver(kept)).receipt is not None
    _, abandoned = await _sealed(world, [b"abandoned evidence\n" * 10])
    registry = world.agent.registry
    await report_files.upload_files(registry, world.sender.outbox, abandoned)
    assert await registry.attachment_state(abandoned.submission_id) == {0: 1}
    blobs = world.registry.submissions.blobs
    assert blobs is not None
    assert await blobs.purge_unclaimed() == 0  # not old yet
    later = datetime.now(UTC) + timedelta(days=31)
    assert await blobs.purge_unclaimed(later) == 1
    assert await registry.attachment_state(abandoned.submission_id) == {}
    assert await registry.attachment_state(kept.submission_id) == {0: 1}
