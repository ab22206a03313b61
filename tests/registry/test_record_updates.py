"""Records that change, over real loopback gRPC: status, dates, aliases, history, refusals."""

from __future__ import annotations

import asyncio
from datetime import date

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core.identity import Kind, message
from lanyard.wire.registry.v1 import snapshot_pb2
from tests.conftest import Enrolled


async def _hit(event: Enrolled, snap: LocalSnapshot, kind: Kind, value: str) -> tuple[str, str]:
    [y] = await event.client.evaluate_messages(snap.epoch, [message(kind, value)])
    hit = snap.match(y)
    return (hit.status, hit.record_ref) if hit else ("", "")


async def test_update_reseals_status_and_dates_and_keeps_history(
    admin: AdminClient, event: Enrolled
) -> None:
    added = await admin.add_record(
        "WG-U", "flagged", [Identifier(Kind.EMAIL, "kai@example.org")], date(2028, 1, 1)
    )
    snap = await event.client.refresh(LocalSnapshot())
    assert await _hit(event, snap, Kind.EMAIL, "kai@example.org") == ("flagged", "WG-U")
    updated = await admin.update_record(
        "WG-U", status="banned", ban_until=date(2028, 6, 30), expires_on=date(2030, 8, 30)
    )
    assert updated.snapshot_version == added.snapshot_version + 1
    rec = updated.record
    assert (rec.status, rec.ban_until, rec.expires_on) == (
        snapshot_pb2.RECORD_STATUS_BANNED,
        "2028-06-30",
        "2030-08-30",
    )
    snap = await event.client.refresh(snap)
    assert await _hit(event, snap, Kind.EMAIL, "kai@example.org") == ("banned", "WG-U")
    assert len(snap.entries) == 64  # re-sealed in place: still one real entry, padded

    await admin.update_record("WG-U", aliases=[Identifier(Kind.NAME, "Kai Other")])
    await admin.update_record("WG-U", expires_on="clear")
    shown = await admin.get_record("WG-U")
    assert shown.record.identifier_count == 2
    assert shown.record.expires_on == ""
    assert [(h.action, h.by, h.detail) for h in shown.history] == [
        ("added", "operator", "flagged, 1 identifier(s), expires 2028-01-01"),
        (
            "updated",
            "operator",
            "status flagged -> banned; ban until none -> 2028-06-30; "
            "expires 2028-01-01 -> 2030-08-30",
        ),
        ("updated", "operator", "1 identifier(s) added"),
        ("updated", "operator", "expires 2030-08-30 -> never"),
    ]
    assert [h.snapshot_version for h in shown.history] == list(
        range(added.snapshot_version, added.snapshot_version + 4)
    )
    snap = await event.client.refresh(snap)
    assert await _hit(event, snap, Kind.NAME, "Kai Other") == ("banned", "WG-U")


async def test_lowering_a_record_hands_a_shared_person_to_the_stronger_one(
    admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_record("WG-A", "flagged", [Identifier(Kind.NAME, "Shared Person")])
    await admin.add_record("WG-B", "banned", [Identifier(Kind.NAME, "Shared Person")])
    snap = await event.client.refresh(LocalSnapshot())
    assert await _hit(event, snap, Kind.NAME, "Shared Person") == ("banned", "WG-B")
    await admin.update_record("WG-B", status="flagged")
    await admin.update_record("WG-A", status="banned")
    snap = await event.client.refresh(snap)
    assert await _hit(event, snap, Kind.NAME, "Shared Person") == ("banned", "WG-A")


async def _refused(coro: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(RpcFailed) as info:
        await coro  # type: ignore[misc]
    return info.value.code, info.value.details


async def test_update_refusals_change_nothing(admin: AdminClient, event: Enrolled) -> None:
    await admin.add_record("WG-R", "banned", [Identifier(Kind.NAME, "Robin Roe")])
    before = (await admin.list_records()).snapshot_version
    code, text = await _refused(admin.update_record("WG-404", status="flagged"))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "WG-404" in text
    code, text = await _refused(admin.update_record("WG-R", status="banned"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "nothing to change" in text
    many = [Identifier(Kind.EMAIL, f"r{i}@example.org") for i in range(64)]
    code, text = await _refused(admin.update_record("WG-R", aliases=many))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 64" in text
    code, text = await _refused(admin.get_record("WG-404"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, text = await _refused(
        admin.add_record("WG-S", "flagged", [Identifier(Kind.NAME, "X Y")], submission_id="00" * 32)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert (await admin.list_records()).snapshot_version == before
    shown = await admin.get_record("WG-R")
    assert [h.action for h in shown.history] == ["added"]


async def test_concurrent_updates_each_become_one_version(
    admin: AdminClient, event: Enrolled
) -> None:
    added = await admin.add_record("WG-C", "flagged", [Identifier(Kind.EMAIL, "c0@example.org")])
    results = await asyncio.gather(
        *(
            admin.update_record("WG-C", aliases=[Identifier(Kind.EMAIL, f"c{i}@example.org")])
            for i in range(1, 11)
        )
    )
    versions = sorted(int(r.snapshot_version) for r in results)
    assert versions == list(range(added.snapshot_version + 1, added.snapshot_version + 11))
    shown = await admin.get_record("WG-C")
    assert shown.record.identifier_count == 11
    assert [h.snapshot_version for h in shown.history] == [added.snapshot_version, *versions]
    snap = await event.client.refresh(LocalSnapshot())
    for i in range(11):
        assert await _hit(event, snap, Kind.EMAIL, f"c{i}@example.org") == ("flagged", "WG-C")
