"""The registry over real loopback gRPC: screening round trips and every refusal.

Each bad input gets its own status code and a message naming what was wrong, and changes
nothing stored (quota counts, records, snapshot version).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

import grpc
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import auth, screen
from lanyard.core.identity import Kind, message
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    snapshot_pb2,
)
from tests.conftest import Enrolled, enroll
from tests.spec import load_vectors

INVALID_POINTS = [bytes.fromhex(p["point"]) for p in load_vectors()["invalid_points"]]


def _blinded(n: int) -> list[bytes]:
    return [screen.blind(f"lanyard:v1:name:person {i}".encode()).blinded for i in range(n)]


async def _used(admin: AdminClient, event_id: str) -> int:
    events = await admin.list_events()
    return next(int(e.evaluations_used) for e in events if e.event_id == event_id)


@dataclass(frozen=True)
class Refusal:
    """A refused call, whether made on a raw stub or through a Lanyard client."""

    status: grpc.StatusCode
    text: str

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text


async def _code(coro: object) -> Refusal:
    with pytest.raises((grpc.aio.AioRpcError, RpcFailed)) as info:
        await coro  # type: ignore[misc]
    err = info.value
    if isinstance(err, RpcFailed):
        return Refusal(err.code, err.details)
    return Refusal(err.code(), err.details() or "")


# -- the happy path --------------------------------------------------------------------


async def test_screening_round_trip_matches_records(admin: AdminClient, event: Enrolled) -> None:
    await admin.add_record(
        "WG-1",
        "banned",
        [Identifier(Kind.EMAIL, "dana.listed@example.org"), Identifier(Kind.NAME, "Dana Listed")],
    )
    await admin.add_record(
        "WG-2",
        "flagged",
        [Identifier(Kind.NAME, "Flo Flagged")],
        expires_on=date.today() + timedelta(days=30),
    )
    snap = await event.client.refresh(LocalSnapshot())
    assert snap.version >= 3
    assert len(snap.entries) == 64
    ys = await event.client.evaluate_messages(
        snap.epoch,
        [
            message(Kind.EMAIL, "Dana.Listed+conf@EXAMPLE.org"),
            message(Kind.NAME, "LISTED, Dana"),
            message(Kind.NAME, "Flo  Flagged"),
            message(Kind.NAME, "Someone Else"),
        ],
    )
    hits = [snap.match(y) for y in ys]
    assert [(h.status, h.record_ref) if h else None for h in hits] == [
        ("banned", "WG-1"),
        ("banned", "WG-1"),
        ("flagged", "WG-2"),
        None,
    ]
    assert event.client.quota_remaining == 10_000 - 4


async def test_evaluate_agrees_with_the_registry_key(
    registry: RunningRegistry, event: Enrolled, registry_dir: object
) -> None:
    from lanyard.registry.datadir import RegistryDir

    assert isinstance(registry_dir, RegistryDir)
    k = registry_dir.oprf_key(1)
    p = screen.hash_to_group(b"lanyard:v1:name:x")
    b = screen.blind(b"lanyard:v1:name:x")
    [z] = await event.client.evaluate(1, [b.blinded])
    assert screen.finalize(b.r, z) == screen.multiply(k, p)


async def test_snapshot_delta_and_removal(admin: AdminClient, event: Enrolled) -> None:
    snap = await event.client.refresh(LocalSnapshot())
    await admin.add_record("WG-3", "banned", [Identifier(Kind.NAME, "Del Ta")])
    newer = await event.client.refresh(snap)
    assert newer.version == snap.version + 1
    [y] = await event.client.evaluate_messages(newer.epoch, [message(Kind.NAME, "Del Ta")])
    assert newer.match(y) is not None
    await admin.remove_record("WG-3")
    after = await event.client.refresh(newer)
    assert after.match(y) is None
    assert len(after.entries) % 64 == 0
    assert after == await event.client.refresh(LocalSnapshot())  # same entries, same root


async def test_snapshot_grows_in_multiples_of_64(admin: AdminClient, event: Enrolled) -> None:
    for i in range(33):
        await admin.add_record(
            f"WG-B{i}",
            "flagged",
            [
                Identifier(Kind.NAME, f"Person Number{chr(97 + i % 26)}{i}"),
                Identifier(Kind.EMAIL, f"p{i}@example.org"),
            ],
        )
    snap = await event.client.refresh(LocalSnapshot())
    assert len(snap.entries) == 128  # 66 real entries, padded


async def test_same_person_in_two_records(admin: AdminClient, event: Enrolled) -> None:
    await admin.add_record("WG-F", "flagged", [Identifier(Kind.NAME, "Twice Listed")])
    await admin.add_record("WG-B", "banned", [Identifier(Kind.NAME, "Twice Listed")])
    snap = await event.client.refresh(LocalSnapshot())
    [y] = await event.client.evaluate_messages(snap.epoch, [message(Kind.NAME, "Twice Listed")])
    hit = snap.match(y)
    assert hit is not None
    assert (hit.status, hit.record_ref) == ("banned", "WG-B")
    await admin.remove_record("WG-B")
    snap = await event.client.refresh(snap)
    hit = snap.match(y)
    assert hit is not None
    assert (hit.status, hit.record_ref) == ("flagged", "WG-F")


async def test_watch_announces_new_versions(admin: AdminClient, event: Enrolled) -> None:
    seen: list[int] = []
    subscribed = asyncio.Event()

    async def watch() -> None:
        async for _, version in event.client.watch():
            seen.append(version)
            subscribed.set()  # the stream opens with the current version
            if len(seen) == 2:
                return

    task = asyncio.create_task(watch())
    await asyncio.wait_for(subscribed.wait(), timeout=5)
    await admin.add_record("WG-W", "flagged", [Identifier(Kind.NAME, "Wat Ch")])
    await asyncio.wait_for(task, timeout=5)
    assert seen[1] == seen[0] + 1


async def test_health_service_reports_serving(channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "lanyard.registry.v1.Registry", "lanyard.registry.v1.Admin"):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


# -- bad input: INVALID_ARGUMENT ---------------------------------------------------------


@pytest.mark.parametrize("size", [2, 5], ids=["a-check's-points", "a-batch"])
@pytest.mark.parametrize("bad", range(len(INVALID_POINTS)))
async def test_invalid_point_names_its_index(
    admin: AdminClient, event: Enrolled, bad: int, size: int
) -> None:
    """A Check's few points and a larger batch alike: a bad one is refused, named by its
    index, before anything is charged or logged."""
    points = _blinded(size)
    points[size - 1] = INVALID_POINTS[bad]
    err = await _code(event.client.evaluate(1, points))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"point {size - 1}" in (err.details() or "")
    assert await _used(admin, event.event_id) == 0
    assert len((await admin.list_evaluations(event.event_id)).leaves) == 0


async def test_batch_over_the_limit(
    registry: RunningRegistry, admin: AdminClient, event: Enrolled
) -> None:
    limit = registry.service.max_batch
    points = _blinded(2) * ((limit // 2) + 1)
    err = await _code(event.client.evaluate(1, points))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(limit) in (err.details() or "")
    assert await _used(admin, event.event_id) == 0


async def test_empty_batch_and_wrong_suite(channel: grpc.aio.Channel, event: Enrolled) -> None:
    err = await _code(event.client.evaluate(1, []))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", event.key)
    err = await _code(
        stub.Evaluate(
            request := registry_pb2.EvaluateRequest(
                suite="OTHER", epoch=1, blinded_points=_blinded(1)
            ),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/Evaluate", request),
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "LANYARD-SCREEN-v1" in (err.details() or "")


# -- FAILED_PRECONDITION, RESOURCE_EXHAUSTED ----------------------------------------------


@pytest.mark.parametrize("epoch", [0, 2, 99])
async def test_unknown_epoch_names_the_current_one(
    admin: AdminClient, event: Enrolled, epoch: int
) -> None:
    err = await _code(event.client.evaluate(epoch, _blinded(2)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "current epoch is 1" in (err.details() or "")
    assert await _used(admin, event.event_id) == 0


async def test_quota_is_enforced_and_named(admin: AdminClient, channel: grpc.aio.Channel) -> None:
    small = await enroll(admin, channel, "small-2027", quota=10)
    await small.client.evaluate(1, _blinded(8))
    err = await _code(small.client.evaluate(1, _blinded(3)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "quota of 10" in (err.details() or "")
    assert await _used(admin, "small-2027") == 8
    await small.client.evaluate(1, _blinded(2))  # exactly up to the quota is fine
    assert small.client.quota_remaining == 0


async def test_concurrent_calls_never_exceed_the_quota(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    ev = await enroll(admin, channel, "race-2027", quota=25)
    results = await asyncio.gather(
        *(ev.client.evaluate(1, _blinded(5)) for _ in range(8)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == 5
    assert await _used(admin, "race-2027") == 25


# -- UNAUTHENTICATED, PERMISSION_DENIED ---------------------------------------------------


async def test_no_token(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    err = await _code(stub.GetSnapshot(registry_pb2.GetSnapshotRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED


async def test_unknown_event(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner("event:nobody-2027", nacl.signing.SigningKey.generate())
    err = await _code(
        stub.GetSnapshot(
            request := registry_pb2.GetSnapshotRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/GetSnapshot", request),
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED


async def test_bad_signature(channel: grpc.aio.Channel, event: Enrolled) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", nacl.signing.SigningKey.generate())
    err = await _code(
        stub.GetSnapshot(
            request := registry_pb2.GetSnapshotRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/GetSnapshot", request),
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED


async def test_replayed_token(
    admin: AdminClient, channel: grpc.aio.Channel, event: Enrolled
) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", event.key)
    request = registry_pb2.EvaluateRequest(suite=screen.SUITE, epoch=1, blinded_points=_blinded(2))
    md = signer.metadata("/lanyard.registry.v1.Registry/Evaluate", request)
    await stub.Evaluate(request, metadata=md)
    err = await _code(stub.Evaluate(request, metadata=md))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED
    assert await _used(admin, event.event_id) == 2


async def test_token_for_another_method(channel: grpc.aio.Channel, event: Enrolled) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", event.key)
    err = await _code(
        stub.GetSnapshot(
            request := registry_pb2.GetSnapshotRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/Evaluate", request),
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_skewed_token(channel: grpc.aio.Channel, event: Enrolled) -> None:
    import time

    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", event.key, lambda: time.time() - 600)
    err = await _code(
        stub.GetSnapshot(
            request := registry_pb2.GetSnapshotRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/GetSnapshot", request),
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED


async def test_revoked_event(admin: AdminClient, event: Enrolled) -> None:
    await event.client.evaluate(1, _blinded(1))
    await admin.revoke_event(event.event_id)
    err = await _code(event.client.evaluate(1, _blinded(1)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == auth.REFUSED
    assert await _used(admin, event.event_id) == 1


async def test_event_calling_admin_is_denied(channel: grpc.aio.Channel, event: Enrolled) -> None:
    stub = admin_pb2_grpc.AdminStub(channel)
    signer = auth.CallSigner(f"event:{event.event_id}", event.key)
    err = await _code(
        stub.ListRecords(
            request := admin_pb2.ListRecordsRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Admin/ListRecords", request),
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_admin_calling_event_service_is_denied(
    channel: grpc.aio.Channel, admin: AdminClient, registry_dir: object
) -> None:
    from lanyard.registry.datadir import RegistryDir

    assert isinstance(registry_dir, RegistryDir)
    stub = registry_pb2_grpc.RegistryStub(channel)
    signer = auth.CallSigner("admin:operator", registry_dir.admin_key())
    err = await _code(
        stub.GetSnapshot(
            request := registry_pb2.GetSnapshotRequest(),
            metadata=signer.metadata("/lanyard.registry.v1.Registry/GetSnapshot", request),
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


# -- admin bad input ----------------------------------------------------------------------


async def test_enroll_refusals(admin: AdminClient, event: Enrolled) -> None:
    key = bytes(nacl.signing.SigningKey.generate().verify_key)
    d = date(2027, 1, 1)
    cases = [
        (("Bad_Id", "x", d, d, key, 10), grpc.StatusCode.INVALID_ARGUMENT, "event_id"),
        (("ok-id", "x", d, d, key[:31], 10), grpc.StatusCode.INVALID_ARGUMENT, "32-byte"),
        (
            ("ok-id", "x", d, d - timedelta(days=1), key, 10),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ends_on",
        ),
        (("ok-id", "x", d, d, key, 0), grpc.StatusCode.INVALID_ARGUMENT, "quota"),
        ((event.event_id, "x", d, d, key, 10), grpc.StatusCode.ALREADY_EXISTS, "already"),
    ]
    for args, code, text in cases:
        err = await _code(admin.enroll_event(*args))
        assert err.code() == code, args
        assert text in (err.details() or "")
    assert [e.event_id for e in await admin.list_events()] == [event.event_id]


async def test_record_refusals_change_nothing(
    registry: RunningRegistry, admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    await admin.add_record("WG-1", "flagged", [Identifier(Kind.NAME, "A B")])
    version = registry.service.version
    err = await _code(admin.add_record("WG-1", "banned", [Identifier(Kind.NAME, "C D")]))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    err = await _code(admin.add_record("has space", "banned", [Identifier(Kind.NAME, "C D")]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await _code(admin.remove_record("WG-404"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    stub = admin_pb2_grpc.AdminStub(channel)
    signer = auth.CallSigner("admin:operator", admin._signer.key)
    for points, text in [
        ([], "1 to 64"),
        ([b"\x01" * 31], "point 0"),
        ([INVALID_POINTS[1]], "point 0"),
    ]:
        err = await _code(
            stub.AddRecord(
                request := admin_pb2.AddRecordRequest(
                    suite=screen.SUITE,
                    epoch=1,
                    record=admin_pb2.RecordInfo(
                        record_ref="WG-9", status=snapshot_pb2.RECORD_STATUS_BANNED
                    ),
                    points=points,
                ),
                metadata=signer.metadata("/lanyard.registry.v1.Admin/AddRecord", request),
            )
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in (err.details() or "")
    assert registry.service.version == version
    assert [r.record_ref for r in (await admin.list_records()).records] == ["WG-1"]


async def test_expired_records_leave_the_snapshot(
    registry: RunningRegistry, admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_record(
        "WG-OLD",
        "flagged",
        [Identifier(Kind.NAME, "Old Record")],
        expires_on=date.today() + timedelta(days=1),
    )
    snap = await event.client.refresh(LocalSnapshot())
    [y] = await event.client.evaluate_messages(snap.epoch, [message(Kind.NAME, "Old Record")])
    assert snap.match(y) is not None
    assert await registry.service.expire(date.today() + timedelta(days=2)) == 1
    snap = await event.client.refresh(snap)
    assert snap.match(y) is None
    assert (await admin.list_records()).records == []


async def test_evaluate_is_refused_outside_the_enrolment_window(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    key = nacl.signing.SigningKey.generate()
    enrolled = await admin.enroll_event(
        "pastconf-2020", "PastConf", date(2020, 5, 1), date(2020, 5, 3), bytes(key.verify_key), 100
    )
    client = RegistryClient(channel, "pastconf-2020", key, enrolled.registry_public_key)
    with pytest.raises(RpcFailed) as info:
        await client.evaluate(1, [screen.blind(b"lanyard:v1:name:a b").blinded])
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "may evaluate from" in info.value.details
    assert "to 2020-06-02" in info.value.details
    quota = await client.quota()
    assert (quota.quota, quota.evaluations_used, quota.evaluate_until) == (100, 0, "2020-06-02")
    [info_row] = [e for e in await admin.list_events() if e.event_id == "pastconf-2020"]
    assert info_row.evaluations_used == 0  # nothing charged for a refusal
