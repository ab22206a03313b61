"""The registry's edges give outsiders nothing: every authentication failure reads the
same, a revoked event's snapshot stream ends at revocation."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import grpc
import nacl.signing
import pytest
import structlog.testing

from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core import auth, limits
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc, registry_pb2, registry_pb2_grpc
from tests.conftest import Enrolled, enroll

SNAPSHOT = "/lanyard.registry.v1.Registry/GetSnapshot"
LIST_EVENTS = "/lanyard.registry.v1.Admin/ListEvents"
STREAM_END_SECONDS = 5.0


async def _details(call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return info.value.details() or ""


async def test_unknown_revoked_and_wrong_key_callers_read_the_same(
    channel: grpc.aio.Channel, admin: AdminClient
) -> None:
    live = await enroll(admin, channel, "live-2027")
    gone = await enroll(admin, channel, "gone-2027")
    await admin.revoke_event(gone.event_id)
    stranger = nacl.signing.SigningKey.generate()
    registry = registry_pb2_grpc.RegistryStub(channel)
    adm = admin_pb2_grpc.AdminStub(channel)

    snap = registry_pb2.GetSnapshotRequest()
    event_callers = [
        auth.CallSigner("event:nobody-2027", stranger),
        auth.CallSigner(f"event:{gone.event_id}", gone.key),
        auth.CallSigner(f"event:{live.event_id}", stranger),
        auth.CallSigner("member:ana", stranger),
    ]
    texts = [
        await _details(registry.GetSnapshot(snap, metadata=c.metadata(SNAPSHOT, snap)))
        for c in event_callers
    ]
    texts.append(await _details(registry.GetSnapshot(snap)))
    texts.append(
        await _details(
            registry.GetSnapshot(snap, metadata=((auth.METADATA_KEY, "v2.event:live-2027.x"),))
        )
    )

    listing = admin_pb2.ListEventsRequest()
    admin_callers = [
        auth.CallSigner("admin:nobody", stranger),
        auth.CallSigner("admin:operator", stranger),
        auth.CallSigner("admin:wg-alex", stranger),
    ]
    texts += [
        await _details(adm.ListEvents(listing, metadata=c.metadata(LIST_EVENTS, listing)))
        for c in admin_callers
    ]
    assert {t.encode() for t in texts} == {auth.REFUSED.encode()}
    # The real callers still get through.
    assert (await live.client.refresh(LocalSnapshot())).version >= 0
    assert sorted(e.event_id for e in await admin.list_events()) == ["gone-2027", "live-2027"]


async def test_a_revoked_events_stream_ends_at_revocation(
    channel: grpc.aio.Channel, admin: AdminClient, event: Enrolled
) -> None:
    announcements: list[tuple[int, int]] = []
    first = asyncio.Event()

    async def follow() -> None:
        async for item in event.client.watch():
            announcements.append(item)
            first.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), STREAM_END_SECONDS)
    await admin.revoke_event(event.event_id)
    await asyncio.wait_for(task, STREAM_END_SECONDS)  # ended, not hanging
    assert len(announcements) == 1
    with pytest.raises(RpcFailed) as info:
        async for _ in event.client.watch():
            pass
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("quota", [0, limits.QUOTA_MAX + 1, 2**63 - 1, 2**63, 2**64 - 1])
async def test_a_quota_out_of_range_is_invalid(admin: AdminClient, quota: int) -> None:
    key = bytes(nacl.signing.SigningKey.generate().verify_key)
    with pytest.raises(RpcFailed) as info:
        await admin.enroll_event("big-2027", "Big", date(2027, 1, 1), date(2027, 1, 2), key, quota)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{limits.QUOTA_MAX:,}" in info.value.details
    assert await admin.list_events() == []


async def test_the_reason_goes_to_the_log_with_the_key_id(channel: grpc.aio.Channel) -> None:
    registry = registry_pb2_grpc.RegistryStub(channel)
    snap = registry_pb2.GetSnapshotRequest()
    stranger = auth.CallSigner("event:nobody-2027", nacl.signing.SigningKey.generate())
    with structlog.testing.capture_logs() as logs:
        text = await _details(
            registry.GetSnapshot(snap, metadata=stranger.metadata(SNAPSHOT, snap))
        )
    assert text == auth.REFUSED
    refused = [e for e in logs if e["event"] == "auth.refused"]
    assert len(refused) == 1
    assert refused[0]["key_id"] == "event:nobody-2027"
    assert refused[0]["method"] == SNAPSHOT
    assert "unknown event" in refused[0]["reason"]


@pytest.mark.parametrize("quota", ["0", str(2**63)])
def test_the_cli_refuses_a_quota_out_of_range_before_connecting(
    tmp_path: Path, quota: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lanyard.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(
            [
                "registry", "event", "enroll", "--data-dir", str(tmp_path / "none"),
                "--id", "big-2027", "--name", "Big", "--starts", "2027-01-01",
                "--ends", "2027-01-02", "--public-key", "00" * 32, "--quota", quota,
            ]
        )  # fmt: skip
    assert info.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"--quota must be 1 to {limits.QUOTA_MAX:,} evaluations" in err
