"""Files attached to incidents over the agent's real gRPC service: chunked and sealed at
rest under the incident's key, typed by content, limited, audited, destroyed with it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import sqlite3
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest

from lanyard.agent.incidents import attachments
from lanyard.agent.incidents.store import IncidentStore
from lanyard.client.incidents import IncidentClient, IncidentRpcError
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.wire.agent.v1 import incidents_pb2 as pb
from tests.agent.test_incidents import Team, file, team  # noqa: F401 - the fixture

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(300)
CANARY = b"ATTACHMENT-CANARY-7f3e"


def _client(t: Team, who: str) -> IncidentClient:
    signer = auth.CallSigner(f"member:{who}", t.keys[who])
    return IncidentClient(t.channel, signer, t.running.address)


def _recording(size: int) -> bytes:
    """An MP4-shaped file of `size` bytes with the canary in every MiB."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    body = bytearray(os.urandom(size - len(head)))
    for at in range(0, len(body) - len(CANARY), 1 << 20):
        body[at : at + len(CANARY)] = CANARY
    return head + bytes(body)


def _rows(t: Team, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(t.adir.db_path) as db:
        return list(db.execute(sql, params))


async def test_screenshot_and_recording_round_trip_in_sealed_chunks(
    team: Team,  # noqa: F811
    tmp_path: Path,
) -> None:
    iid = await file(team, who="ana")
    shot, video = tmp_path / "screenshot.png", tmp_path / "talk.mp4"
    shot.write_bytes(PNG)
    video.write_bytes(_recording(3 * (1 << 20) + 12345))
    ana = _client(team, "ana")
    a1 = await ana.attach(iid, shot, note="slack message, 14:02")
    a2 = await ana.attach(iid, video)
    assert (a1.media_type, a1.size, a1.note) == ("image/png", len(PNG), "slack message, 14:02")
    assert (a2.media_type, a2.name) == ("video/mp4", "talk.mp4")
    assert a2.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    # Four 1 MiB chunks of the recording, each sealed apart: streamed, never held whole.
    assert _rows(
        team, "SELECT chunks FROM attachments WHERE attachment_id = ?", a2.attachment_id
    ) == [(4,)]
    listed = await _client(team, "ben").list_attachments(iid)
    assert [(a.name, a.size) for a in listed] == [
        ("screenshot.png", len(PNG)),
        ("talk.mp4", video.stat().st_size),
    ]
    for info, original in ((a1, shot), (a2, video)):
        out = tmp_path / f"out-{info.attachment_id}"
        got = await _client(team, "chair").get_attachment(iid, info.attachment_id, out)
        assert out.read_bytes() == original.read_bytes()
        assert got.sha256 == info.sha256
        assert out.stat().st_mode & 0o777 == 0o600
    # Nothing of the files, names or notes is in the database in the clear.
    raw = team.adir.db_path.read_bytes()
    for needle in (CANARY, b"screenshot.png", b"slack message", PNG[16:48]):
        assert needle not in raw
    audit = [e.action for e in await _client(team, "chair").audit(iid)]
    assert f"attach:{a1.attachment_id}" in audit
    assert f"read-attachment:{a2.attachment_id}" in audit
    assert "list-attachments" in audit


async def test_who_may_attach_and_read(team: Team, tmp_path: Path) -> None:  # noqa: F811
    note = tmp_path / "note.txt"
    note.write_text("Exchange with the reporter, copied by hand. ✓\n", encoding="utf-8")
    own = await file(team, who="vic")
    other = await file(team, who="ana")
    vic = _client(team, "vic")
    assert (await vic.attach(own, note)).media_type == "text/plain"
    for iid in (other, 999):  # someone else's, and one that does not exist: the same answer
        with pytest.raises(IncidentRpcError) as info:
            await vic.attach(iid, note)
        assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(IncidentRpcError) as info:
        await vic.list_attachments(own)
    assert info.value.code == grpc.StatusCode.PERMISSION_DENIED


async def test_refusals_store_nothing(
    team: Team,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    iid = await file(team, who="ana")
    ana = _client(team, "ana")
    cases = {
        "program.bin": (b"\x7fELF\x02\x01\x01" + bytes(100), grpc.StatusCode.INVALID_ARGUMENT),
        "empty.txt": (b"", grpc.StatusCode.INVALID_ARGUMENT),
        "latin1.txt": ("caf\u00e9 cr\u00e8me".encode("latin-1"), grpc.StatusCode.INVALID_ARGUMENT),
    }
    for name, (body, code) in cases.items():
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(IncidentRpcError) as info:
            await ana.attach(iid, path)
        assert info.value.code == code, name
    monkeypatch.setitem(attachments.LIMITS, "file_bytes", 3 * (1 << 20))
    big = tmp_path / "big.mp4"
    big.write_bytes(_recording(3 * (1 << 20) + 1))
    with pytest.raises(IncidentRpcError) as info:
        await ana.attach(iid, big)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "over the limit" in info.value.details
    assert _rows(team, "SELECT count(*) FROM attachments") == [(0,)]
    assert _rows(team, "SELECT count(*) FROM attachment_chunks") == [(0,)]


async def test_unknown_type_is_refused_in_one_sentence(
    team: Team,  # noqa: F811
    tmp_path: Path,
) -> None:
    iid = await file(team, who="ana")
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(IncidentRpcError) as info:
        await _client(team, "ana").attach(iid, path)
    assert info.value.details == (
        "only images (PNG, JPEG, GIF, WebP), PDF, audio, video and UTF-8 text can be "
        "attached; this file is none of those"
    )


async def test_concurrent_uploads_never_exceed_the_incident_limit(
    team: Team,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(attachments.LIMITS, "incident_files", 3)
    iid = await file(team, who="ana")
    paths = []
    for i in range(8):
        path = tmp_path / f"shot-{i}.png"
        path.write_bytes(PNG + bytes([i]) * 5000)
        paths.append(path)
    channels = [open_channel(team.running.address) for _ in paths]
    try:
        clients = [
            IncidentClient(
                ch, auth.CallSigner("member:ana", team.keys["ana"]), team.running.address
            )
            for ch in channels
        ]
        results = await asyncio.gather(
            *(c.attach(iid, p) for c, p in zip(clients, paths, strict=True)),
            return_exceptions=True,
        )
    finally:
        for ch in channels:
            await ch.close()
    done = [r for r in results if isinstance(r, pb.AttachmentInfo)]
    refused = [r for r in results if isinstance(r, IncidentRpcError)]
    assert len(done) == 3
    assert len(refused) == 5
    assert {r.code for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert _rows(team, "SELECT count(*) FROM attachments") == [(3,)]
    for info in done:
        out = tmp_path / f"back-{info.attachment_id}.png"
        await _client(team, "ana").get_attachment(iid, info.attachment_id, out)
        assert out.read_bytes() == (tmp_path / info.name).read_bytes()


async def test_swapped_or_dropped_chunks_do_not_open(
    team: Team,  # noqa: F811
    tmp_path: Path,
) -> None:
    iid = await file(team, who="ana")
    video = tmp_path / "talk.mp4"
    video.write_bytes(_recording(2 * (1 << 20) + 99))
    info = await _client(team, "ana").attach(iid, video)
    aid = info.attachment_id
    move = "UPDATE attachment_chunks SET idx = ? WHERE attachment_id = ? AND idx = ?"
    with sqlite3.connect(team.adir.db_path) as db:
        db.executemany(move, [(9, aid, 0), (0, aid, 1), (1, aid, 9)])
    out = tmp_path / "out.mp4"
    with pytest.raises(IncidentRpcError) as caught:
        await _client(team, "ana").get_attachment(iid, aid, out)
    assert caught.value.code == grpc.StatusCode.DATA_LOSS
    assert not out.exists()
    with sqlite3.connect(team.adir.db_path) as db:
        db.execute("DELETE FROM attachment_chunks WHERE attachment_id = ? AND idx = 2", (aid,))
    with pytest.raises(IncidentRpcError) as caught:
        await _client(team, "ana").get_attachment(iid, aid, out)
    assert caught.value.code == grpc.StatusCode.DATA_LOSS
    assert not out.exists()


async def test_an_upload_cut_off_by_a_crash_is_cleared_at_start(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    store = await IncidentStore.open(db, tmp_path / "keyring.db")
    try:
        cut = await store.attachments.start(1, "ana", "2027-05-02T10:00:00+00:00")
        await store.attachments.put_chunk(cut, 0, b"sealed" * 10)
        assert await store.attachments.discard_incomplete() == 1
        assert await store.attachments.rows(1) == []
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        assert list(conn.execute("SELECT count(*) FROM attachment_chunks")) == [(0,)]


async def test_destroying_the_incident_destroys_its_files(
    team: Team,  # noqa: F811
    tmp_path: Path,
) -> None:
    iid = await file(team, who="ana")
    shot = tmp_path / "s.png"
    shot.write_bytes(PNG)
    await _client(team, "ana").attach(iid, shot)
    for who in ("ana", "chair"):
        await team.call(
            who,
            "Decide",
            pb.DecideRequest(
                incident_id=iid, decision=pb.IncidentDecision(resolutions=["warning"])
            ),
        )
    service = team.running.incidents
    assert service is not None
    end = date(2027, 5, 3)
    assert await service.apply_retention(end, end + timedelta(days=731)) == 1
    assert _rows(team, "SELECT count(*) FROM attachments") == [(0,)]
    assert _rows(team, "SELECT count(*) FROM attachment_chunks") == [(0,)]


def _write_recording(path: Path, size: int) -> str:
    """Write an MP4-shaped file of `size` bytes piece by piece; returns its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        head = _recording(1 << 20)
        fh.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            piece = os.urandom(min(left, 1 << 20))
            fh.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("LANYARD_BIG_FILES"), reason="moves 200 MiB; set LANYARD_BIG_FILES=1"
)
async def test_a_200_mb_recording_streams_in_flat_memory(
    team: Team,  # noqa: F811
    tmp_path: Path,
) -> None:
    size = 200 * (1 << 20)
    iid = await file(team, who="ana")
    video = tmp_path / "talk.mp4"
    expected = _write_recording(video, size)
    ana = _client(team, "ana")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        info = await ana.attach(iid, video)
        out = tmp_path / "back.mp4"
        await ana.get_attachment(iid, info.attachment_id, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    print(
        f"200 MiB attach+fetch: traced peak {peak / 2**20:.1f} MiB, "
        f"max RSS growth {rss_growth / 2**20:.1f} MiB"
    )
    assert info.size == size
    assert info.sha256 == expected
    assert out.stat().st_size == size
    digest = hashlib.sha256()
    with out.open("rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
    assert digest.hexdigest() == expected
    assert peak < 32 * (1 << 20)  # a few chunks in flight, never the file
    assert rss_growth < 128 * (1 << 20)
