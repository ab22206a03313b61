"""StreamSnapshot: a whole snapshot in chunks, so no message size limit bounds the list;
the client assembles exactly what GetSnapshot would have sent and verifies it (the
shapes it refuses: tests/client/test_snapshots.py)."""

from __future__ import annotations

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import auth
from lanyard.core.identity import Kind
from lanyard.registry import registry_servicer
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import registry_pb2, registry_pb2_grpc
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


async def test_stream_needs_an_event_token(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.StreamSnapshot(registry_pb2.GetSnapshotRequest()):
            pass
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
