"""The registry's live snapshot kept as a hash tree over entries that stay in the store:
the root it signs is the root of a fresh rebuild from the store, whatever changes came
before; a whole snapshot streams at its header's version while changes commit; a restart
loads the same root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.core import auth, screen, snapshot, snapshot_tree
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import registry_servicer, server, snapshots
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.snapshots import FullSnapshot
from lanyard.registry.sqlite_store import SqliteStore
from lanyard.registry.store import Change, Entry, Store
from lanyard.wire.registry.v1 import registry_pb2, registry_pb2_grpc, snapshot_pb2
from tests.conftest import Enrolled


@asynccontextmanager
async def open_admin(rdir: RegistryDir, address: str) -> AsyncIterator[AdminClient]:
    channel = open_channel(address)
    try:
        yield AdminClient(channel, rdir.admin_key())
    finally:
        await channel.close()


STREAM = "/lanyard.registry.v1.Registry/StreamSnapshot"


def _email(i: int | str) -> Identifier:
    return Identifier(Kind.EMAIL, f"live{i}@example.org")


async def _store_root(store: Store) -> tuple[int, bytes, dict[bytes, bytes]]:
    """(count, root) of a fresh rebuild from every live entry the store holds."""
    live = {e.tag: e.sealed for e in await store.live_entries()}
    rebuilt = snapshot_tree.SnapshotEntries.build(live.items())
    return len(rebuilt), rebuilt.root, live


async def _stream(
    channel: grpc.aio.Channel, event: Enrolled, since: int = 0
) -> tuple[
    grpc.aio.UnaryStreamCall[registry_pb2.GetSnapshotRequest, registry_pb2.SnapshotChunk],
    Any,
]:
    """A StreamSnapshot call from version `since`, and its first chunk's header (or the
    delta it carries)."""
    request = registry_pb2.GetSnapshotRequest(since_version=since)
    call = registry_pb2_grpc.RegistryStub(channel).StreamSnapshot(
        request,
        metadata=auth.CallSigner(f"event:{event.event_id}", event.key).metadata(STREAM, request),
    )
    first = await call.read()
    assert isinstance(first, registry_pb2.SnapshotChunk)
    if first.WhichOneof("body") == "delta":
        return call, first.delta
    assert first.WhichOneof("body") == "header"
    return call, first.header


async def _rest(
    call: grpc.aio.UnaryStreamCall[registry_pb2.GetSnapshotRequest, registry_pb2.SnapshotChunk],
) -> dict[bytes, bytes]:
    entries: dict[bytes, bytes] = {}
    while (chunk := await call.read()) is not grpc.aio.EOF:
        assert isinstance(chunk, registry_pb2.SnapshotChunk)
        assert chunk.WhichOneof("body") == "entries"
        for e in chunk.entries.entries:
            entries[e.tag] = e.sealed
    return entries


async def test_signed_root_follows_every_change_and_equals_a_rebuild(
    registry: server.RunningRegistry, admin: AdminClient, event: Enrolled
) -> None:
    service = registry.service
    await admin.add_records(
        [NewRecord(f"L-{i}", "flagged", [_email(i), _email(f"{i}b")]) for i in range(40)]
    )  # 80 real entries: the padding grows to 128
    await admin.add_record("L-banned", "banned", [_email(3)])  # takes L-3's tag over
    await admin.update_record("L-7", status="banned", expires_on=date(2031, 1, 1))
    await admin.remove_record("L-1")
    await admin.remove_record("L-banned")  # L-3's entry comes back
    for i in range(8, 30):  # 22 records fewer: the padding shrinks back to 64 entries
        await admin.remove_record(f"L-{i}")
    count, root, live = await _store_root(registry.store)
    assert count == service.snapshot_entries == 64
    assert 1 <= len(await registry.store.padding_tags()) < snapshot.PAD_MULTIPLE
    async with service.snapshot(0) as snap:
        assert isinstance(snap, FullSnapshot)
        assert (snap.count, snap.version) == (count, service.version)
        served = {t: s async for part in snap.chunks(7) for t, s in part}
    assert served == live
    snapshot.verify(
        registry.service.public_key,
        screen.SUITE,
        snap.epoch,
        snap.version,
        live,
        snap.signature,
        service.epoch_public_key,
    )
    snapshot.verify_root(
        event.registry_key,
        screen.SUITE,
        snap.epoch,
        snap.version,
        count,
        root,
        snap.signature,
        service.epoch_public_key,
    )


async def test_a_stream_keeps_its_version_while_ten_adds_commit(
    registry: server.RunningRegistry,
    admin: AdminClient,
    event: Enrolled,
    channel: grpc.aio.Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_servicer, "CHUNK_ENTRIES", 4)
    await admin.add_records(
        [NewRecord(f"S-{i}", "flagged", [_email(f"s{i}")]) for i in range(1000)]
    )  # 1024 entries, about 190 kB in 256 chunks: more than the transport takes ahead
    call, header = await _stream(channel, event)
    assert header.version == registry.service.version
    await asyncio.gather(
        *(admin.add_record(f"N-{i}", "banned", [_email(f"n{i}")]) for i in range(10))
    )
    assert registry.service.version == header.version + 10
    streamed = await _rest(call)
    assert len(streamed) == 1024
    snapshot.verify(
        event.registry_key,
        header.suite,
        header.epoch,
        header.version,
        streamed,
        header.signature,
        header.epoch_public_key,
    )
    # What was streamed is the snapshot before the adds: none of their tags is in it.
    _, _, now = await _store_root(registry.store)
    assert len(now) == 1024  # 1010 real entries: ten padding entries gave way
    assert len(set(now) - set(streamed)) == 10


async def test_a_full_snapshot_read_after_changes_is_still_of_its_version(
    registry: server.RunningRegistry, admin: AdminClient
) -> None:
    service = registry.service
    await admin.add_record("P-0", "flagged", [_email("p0")])
    _, _, before = await _store_root(registry.store)
    async with service.snapshot(0) as snap:
        assert isinstance(snap, FullSnapshot)
        await admin.remove_record("P-0")
        await admin.add_record("P-1", "banned", [_email("p1")])
        assert service.version == snap.version + 2
        served = {t: s async for part in snap.chunks(10) for t, s in part}
    assert served == before
    snapshot.verify(
        service.public_key,
        screen.SUITE,
        snap.epoch,
        snap.version,
        served,
        snap.signature,
        snap.public_key,
    )


async def test_whole_snapshot_too_large_for_one_answer_points_to_the_stream(
    registry: server.RunningRegistry,
    event: Enrolled,
    channel: grpc.aio.Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshots, "WIRE_ENTRY_BYTES", 1 << 20)  # 64 entries: 64 MiB
    request = registry_pb2.GetSnapshotRequest()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await registry_pb2_grpc.RegistryStub(channel).GetSnapshot(
            request,
            metadata=auth.CallSigner(f"event:{event.event_id}", event.key).metadata(
                "/lanyard.registry.v1.Registry/GetSnapshot", request
            ),
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "StreamSnapshot" in (info.value.details() or "")
    # The stream still serves it.
    call, header = await _stream(channel, event)
    assert len(await _rest(call)) == 64 == registry.service.snapshot_entries
    assert header.version == registry.service.version


async def test_a_restart_loads_the_same_root(registry_dir: RegistryDir) -> None:
    async with server.running(registry_dir) as first:
        async with (
            open_admin(registry_dir, first.address) as admin,
        ):
            await admin.add_records(
                [NewRecord(f"R-{i}", "flagged", [_email(f"r{i}")]) for i in range(70)]
            )
            await admin.remove_record("R-5")
        held = (first.service.version, first.service.snapshot_entries)
        async with first.service.snapshot(0) as snap:
            signature = snap.signature
        count, root, _ = await _store_root(first.store)
    async with server.running(registry_dir) as second:
        assert (second.service.version, second.service.snapshot_entries) == held == (3, count)
        async with second.service.snapshot(0) as again:
            # Ed25519 is deterministic: the same header and root give the same signature.
            assert again.signature == signature
        assert (await _store_root(second.store))[1] == root


async def test_a_delta_too_large_for_one_answer_comes_as_the_whole_snapshot(
    registry: server.RunningRegistry,
    admin: AdminClient,
    event: Enrolled,
    channel: grpc.aio.Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = registry.service.version
    await admin.add_record("D-0", "flagged", [_email("d0")])
    call, small = await _stream(channel, event, since=held)
    assert isinstance(small, registry_pb2.SnapshotDelta)
    assert len(small.added) == 1
    # Room for 20 entries an answer: a delta of 40 added entries does not fit.
    monkeypatch.setattr(snapshots, "ANSWER_BUDGET", 20 * snapshots.WIRE_ENTRY_BYTES)
    held = registry.service.version
    await admin.add_records(
        [NewRecord(f"D-{i}", "flagged", [_email(f"d{i}")]) for i in range(1, 41)]
    )
    call, whole = await _stream(channel, event, since=held)
    assert isinstance(whole, snapshot_pb2.Snapshot)
    assert whole.version == held + 1
    assert len(await _rest(call)) == registry.service.snapshot_entries == 64


class _CommitsThenCancelled(SqliteStore):
    """The real store, whose next apply() commits and then reports a cancellation: what a
    caller's deadline or disconnect does when it strikes while COMMIT is running."""

    cancel_next = False

    async def apply(self, change: Change) -> int:
        version = await super().apply(change)
        if self.cancel_next:
            self.cancel_next = False
            raise asyncio.CancelledError
        return version


async def test_a_change_cancelled_while_committing_does_not_leave_the_root_behind(
    tmp_path: Path,
) -> None:
    store = await _CommitsThenCancelled.open(tmp_path / "registry.db", create=True)
    assert isinstance(store, _CommitsThenCancelled)
    try:
        live = snapshots.LiveSnapshot(store, nacl.signing.SigningKey.generate())
        await live.load()
        store.cancel_next = True
        with pytest.raises(asyncio.CancelledError):
            await live.commit(Change(add_entries=[Entry(*snapshot.padding_entry(), None)]))
        await live.commit(Change(add_entries=[Entry(*snapshot.padding_entry(), None)]))
        count, root, _ = await _store_root(store)
        assert live.root == root
        assert live.count == count
        assert live.version == await store.snapshot_version()
    finally:
        await store.close()
