"""Admin.AddRecords over real loopback gRPC: a batch is one transaction and one snapshot
version; an invalid record or an existing reference refuses the whole batch by index."""

from __future__ import annotations

import asyncio
import os
from datetime import date

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core import limits, screen
from lanyard.core.identity import Kind, message
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc
from tests.conftest import Enrolled


def _people(prefix: str, n: int, status: str = "flagged") -> list[NewRecord]:
    return [
        NewRecord(
            f"{prefix}-{i}",
            status,
            [
                Identifier(Kind.EMAIL, f"{prefix.lower()}{i}@example.org"),
                Identifier(Kind.NAME, f"Batch Person{chr(97 + i % 26)} {prefix}{i}"),
            ],
        )
        for i in range(n)
    ]


async def test_a_batch_is_one_version_and_every_record_matches(
    admin: AdminClient, event: Enrolled
) -> None:
    before = await event.client.refresh(LocalSnapshot())
    response = await admin.add_records(_people("IMP", 40))
    assert [r.record_ref for r in response.records] == [f"IMP-{i}" for i in range(40)]
    assert all(r.identifier_count == 2 for r in response.records)
    assert response.snapshot_version == before.version + 1
    snap = await event.client.refresh(before)
    assert snap.version == before.version + 1
    assert len(snap.entries) == 128  # 80 real entries, padded to a multiple of 64
    ys = await event.client.evaluate_messages(
        snap.epoch,
        [message(Kind.EMAIL, "IMP7@example.org"), message(Kind.EMAIL, "nobody@example.org")],
    )
    hit = snap.match(ys[0])
    assert hit is not None
    assert (hit.status, hit.record_ref) == ("flagged", "IMP-7")
    assert snap.match(ys[1]) is None
    listed = {r.record_ref for r in (await admin.list_records()).records}
    assert {f"IMP-{i}" for i in range(40)} <= listed
    shown = await admin.get_record("IMP-7")
    assert [(h.action, h.by, h.snapshot_version) for h in shown.history] == [
        ("added", "operator", response.snapshot_version)
    ]
    assert "2 identifier(s)" in shown.history[0].detail


async def test_a_batch_keeps_each_ban_end(admin: AdminClient, event: Enrolled) -> None:
    ends = date(2027, 6, 30)
    mail = [Identifier(Kind.EMAIL, "ends@example.org")]
    await admin.add_records(
        [NewRecord("BAN-1", "banned", mail, ban_until=ends), NewRecord("BAN-2", "banned", mail)]
    )
    assert (await admin.get_record("BAN-1")).record.ban_until == ends.isoformat()
    assert (await admin.get_record("BAN-2")).record.ban_until == ""


async def test_shared_identifier_goes_to_the_graver_status(
    admin: AdminClient, event: Enrolled
) -> None:
    twice = Identifier(Kind.EMAIL, "twice@example.org")
    await admin.add_records(
        [NewRecord("F-1", "flagged", [twice]), NewRecord("B-1", "banned", [twice])]
    )
    snap = await event.client.refresh(LocalSnapshot())
    [y] = await event.client.evaluate_messages(
        snap.epoch, [message(Kind.EMAIL, "twice@example.org")]
    )
    hit = snap.match(y)
    assert hit is not None
    assert (hit.status, hit.record_ref) == ("banned", "B-1")


async def test_existing_ref_refuses_the_batch_unless_skipped(
    admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_records(_people("DUP", 3))
    version = (await admin.list_records()).snapshot_version
    batch = _people("DUP", 5)
    with pytest.raises(RpcFailed) as info:
        await admin.add_records(batch)
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert "records[0]" in info.value.details
    assert (await admin.list_records()).snapshot_version == version
    response = await admin.add_records(batch, skip_existing=True)
    assert list(response.skipped_refs) == ["DUP-0", "DUP-1", "DUP-2"]
    assert [r.record_ref for r in response.records] == ["DUP-3", "DUP-4"]
    again = await admin.add_records(batch, skip_existing=True)
    assert len(again.records) == 0
    assert again.snapshot_version == response.snapshot_version


async def _raw_add(
    channel: grpc.aio.Channel, admin: AdminClient, records: list[admin_pb2.RecordPoints]
) -> str:
    stub = admin_pb2_grpc.AdminStub(channel)
    epoch = await admin.current_epoch()
    request = admin_pb2.AddRecordsRequest(suite=screen.SUITE, epoch=epoch, records=records)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AddRecords(request, metadata=admin._md("AddRecords", request))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details() or ""


async def test_bad_batches_are_refused_by_index_and_change_nothing(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    version = (await admin.list_records()).snapshot_version
    good_y = screen.hash_to_group(b"a point")

    def rec(
        ref: str, points: list[bytes], status: str = "RECORD_STATUS_FLAGGED"
    ) -> admin_pb2.RecordPoints:
        return admin_pb2.RecordPoints(
            record=admin_pb2.RecordInfo(record_ref=ref, status=status), points=points
        )

    assert "records[1]" in await _raw_add(
        channel, admin, [rec("A", [good_y]), rec("B", [b"x" * 32])]
    )
    assert "records[1]" in await _raw_add(channel, admin, [rec("A", [good_y]), rec("A", [good_y])])
    assert "records[0]" in await _raw_add(channel, admin, [rec("with space", [good_y])])
    assert "records[0]" in await _raw_add(channel, admin, [rec("C", [])])
    assert "records[0]" in await _raw_add(
        channel, admin, [rec("C", [good_y], status="RECORD_STATUS_UNSPECIFIED")]
    )
    assert "1 to 1000" in await _raw_add(channel, admin, [])
    many = [rec(f"M{i}", [good_y]) for i in range(1001)]
    assert "1 to 1000" in await _raw_add(channel, admin, many)
    assert (await admin.list_records()).snapshot_version == version
    assert (await admin.list_records()).records == []


async def test_concurrent_batches_all_land(admin: AdminClient, event: Enrolled) -> None:
    responses = await asyncio.gather(*(admin.add_records(_people(f"C{n}", 10)) for n in range(6)))
    versions = sorted(int(r.snapshot_version) for r in responses)
    assert len(set(versions)) == 6  # each batch its own version
    snap = await event.client.refresh(LocalSnapshot())
    assert snap.version == versions[-1]
    assert len(snap.entries) == 128  # 120 real entries
    assert len((await admin.list_records()).records) == 60


async def test_state_gives_epoch_and_version_without_a_listing(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    await admin.add_records(_people("ST", 40))
    listed = await admin.list_records()
    state = await admin_pb2_grpc.AdminStub(channel).GetState(
        request := admin_pb2.GetStateRequest(), metadata=admin._md("GetState", request)
    )
    assert (state.epoch, state.snapshot_version) == (listed.epoch, listed.snapshot_version)
    assert state.snapshot_entries == 128  # 80 real entries, padded
    assert await admin.current_epoch() == listed.epoch


async def test_a_batch_at_the_limits_passes_intake_and_streams_back(
    admin: AdminClient, event: Enrolled
) -> None:
    """1,000 records of 10 points: the largest batch the limits table allows, and a
    snapshot past one StreamSnapshot chunk of 8,192 entries."""
    points = iter(screen.hash_to_group(os.urandom(16)) for _ in range(limits.MAX_POINTS_PER_BATCH))
    items = [
        (f"BIG-{i}", "flagged", None, [next(points) for _ in range(10)])
        for i in range(limits.MAX_RECORDS_PER_BATCH)
    ]
    response = await admin.upload_points(items, await admin.current_epoch())
    assert len(response.records) == 1000
    snap = await event.client.refresh(LocalSnapshot())
    assert len(snap.entries) == 10_048  # 10,000 entries, padded to a multiple of 64
