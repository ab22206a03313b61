"""StreamSnapshot: a whole snapshot in chunks, so no message size limit bounds the list;
the client assembles exactly what GetSnapshot would have sent and verifies it, and
refuses a stream of any other shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.registry import LocalSnapshot, RegistryClient, assemble
from lanyard.core import auth
from lanyard.core.errors import SignatureError
from lanyard.core.identity import Kind
from lanyard.registry import registry_servicer
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import registry_pb2, registry_pb2_grpc, snapshot_pb2
from tests.conftest import Enrolled


async def _fill(admin: AdminClient, n: int) -> None:
    await admin.add_records(
        [
            NewRecord(f"S-{i}", "flagged", [Identifier(Kind.EMAIL, f"s{i}@example.org")])
            for i in range(n)
        ]
    )


async def test_whole_snapshot_arrives_in_chunks_under_a_small_message_limit(
    registry: RunningRegistry,
    admin: AdminClient,
    event: Enrolled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_servicer, "CHUNK_ENTRIES", 16)
    await _fill(admin, 100)  # 100 entries, padded to 128
    reference = await event.client.refresh(LocalSnapshot())
    small = grpc.aio.insecure_channel(
        registry.address, options=[("grpc.max_receive_message_length", 8_000)]
    )
    try:
        client = RegistryClient(small, event.event_id, event.key, event.registry_key)
        held = await client.refresh(LocalSnapshot())
        assert held == reference
        assert len(held.entries) == 128
        # The one-message answer does not fit under that limit: the reason for the stream.
        stub = registry_pb2_grpc.RegistryStub(small)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetSnapshot(
                request := registry_pb2.GetSnapshotRequest(),
                metadata=auth.CallSigner(f"event:{event.event_id}", event.key).metadata(
                    "/lanyard.registry.v1.Registry/GetSnapshot", request
                ),
            )
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # A delta is one chunk, and applies to what the stream delivered.
        await admin.add_record("S-new", "banned", [Identifier(Kind.EMAIL, "new@example.org")])
        newer = await client.refresh(held)
        assert newer.version == held.version + 1
        assert newer == await event.client.refresh(LocalSnapshot())
    finally:
        await small.close()


async def _chunks(*chunks: registry_pb2.SnapshotChunk) -> AsyncIterator[registry_pb2.SnapshotChunk]:
    for chunk in chunks:
        yield chunk


def _header(entries: int = 0) -> registry_pb2.SnapshotChunk:
    head = snapshot_pb2.Snapshot(suite="LANYARD-SCREEN-v1", epoch=1, version=3)
    for i in range(entries):
        head.entries.add(tag=bytes([i]) * 32, sealed=b"s")
    return registry_pb2.SnapshotChunk(header=head)


def _entries(n: int) -> registry_pb2.SnapshotChunk:
    return registry_pb2.SnapshotChunk(
        entries=registry_pb2.SnapshotEntries(
            entries=[snapshot_pb2.SnapshotEntry(tag=bytes([i]) * 32, sealed=b"s") for i in range(n)]
        )
    )


def _delta() -> registry_pb2.SnapshotChunk:
    return registry_pb2.SnapshotChunk(delta=registry_pb2.SnapshotDelta(epoch=1, to_version=4))


async def test_assemble_puts_entries_into_the_header() -> None:
    response = await assemble(_chunks(_header(), _entries(3), _entries(2)))
    assert response.WhichOneof("body") == "full"
    assert len(response.full.entries) == 5
    assert response.full.version == 3
    delta = await assemble(_chunks(_delta()))
    assert delta.WhichOneof("body") == "delta"


@pytest.mark.parametrize(
    "chunks",
    [
        [_entries(1)],
        [_header(), _header()],
        [_header(), _delta()],
        [_delta(), _entries(1)],
        [_delta(), _delta()],
        [_header(entries=1)],
        [registry_pb2.SnapshotChunk()],
    ],
    ids=["entries-first", "two-headers", "delta-after-header", "entries-after-delta",
         "two-deltas", "header-with-entries", "empty-chunk"],
)  # fmt: skip
async def test_assemble_refuses_a_stream_out_of_shape(
    chunks: list[registry_pb2.SnapshotChunk],
) -> None:
    with pytest.raises(SignatureError):
        await assemble(_chunks(*chunks))


async def test_stream_needs_an_event_token(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.StreamSnapshot(registry_pb2.GetSnapshotRequest()):
            pass
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
