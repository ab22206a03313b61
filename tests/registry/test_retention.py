"""Retention as a policy: the schedule as data, a preview equal to the sweep, the repeat
rule (a new record for a person already listed extends the older records), and no new
expiry that has already passed. The registry's day is a Calendar the tests move on."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core.identity import Kind, message
from lanyard.registry.retention import Policy, add_months
from lanyard.registry.server import RunningRegistry
from tests.conftest import Enrolled
from tests.registry.days import Calendar


def _today() -> date:
    return datetime.now(UTC).date()


async def test_the_schedule_is_data_the_registry_applies(admin: AdminClient) -> None:
    policy = await admin.retention()
    assert (policy.flagged_months, policy.banned_months_after_ban) == (26, 26)
    response = await admin.add_record("WG-F", "flagged", [Identifier(Kind.NAME, "Fa Lagged")])
    assert response.record.expires_on == add_months(_today(), 26).isoformat()

    await admin.set_retention(12, 36)
    flagged = await admin.add_record("WG-G", "flagged", [Identifier(Kind.NAME, "Ge Flagged")])
    assert flagged.record.expires_on == add_months(_today(), 12).isoformat()
    banned = await admin.add_record(
        "WG-B", "banned", [Identifier(Kind.NAME, "Be Banned")], ban_until=date(2028, 1, 31)
    )
    assert banned.record.expires_on == "2031-01-31"
    forever = await admin.add_record("WG-N", "banned", [Identifier(Kind.NAME, "Ne Ver")])
    assert forever.record.expires_on == ""
    # A stored record keeps the date it was given.
    listed = {r.record_ref: r.expires_on for r in (await admin.list_records()).records}
    assert listed["WG-F"] == add_months(_today(), 26).isoformat()


async def test_a_schedule_out_of_range_is_refused(admin: AdminClient) -> None:
    with pytest.raises(RpcFailed) as info:
        await admin.set_retention(0, 26)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "flagged_months must be 1 to 1200" in info.value.details
    assert (await admin.retention()).flagged_months == 26


async def test_the_preview_is_exactly_what_apply_removes(
    registry: RunningRegistry, admin: AdminClient, event: Enrolled, calendar: Calendar
) -> None:
    soon, later = calendar.day + timedelta(days=1), calendar.day + timedelta(days=3)
    await admin.add_record("OLD-1", "flagged", [Identifier(Kind.NAME, "Old One")], soon)
    await admin.add_record("OLD-2", "banned", [Identifier(Kind.EMAIL, "o2@example.org")], later)
    await admin.add_record("KEEP", "flagged", [Identifier(Kind.NAME, "Kept Person")])
    await admin.add_record("NEVER", "banned", [Identifier(Kind.NAME, "Never Lapses")])
    version = registry.service.version
    assert (await admin.apply_retention(dry_run=True)).records == []
    calendar.advance(10)  # both have lapsed since

    preview = await admin.apply_retention(dry_run=True)
    assert [(r.record_ref, r.expires_on) for r in preview.records] == [
        ("OLD-1", soon.isoformat()),
        ("OLD-2", later.isoformat()),
    ]
    assert registry.service.version == version  # a dry run changes nothing
    # Looking ahead is a dry run only.
    ahead = await admin.apply_retention(add_months(calendar.day, 30), dry_run=True)
    assert {r.record_ref for r in ahead.records} == {"OLD-1", "OLD-2", "KEEP"}
    with pytest.raises(RpcFailed) as info:
        await admin.apply_retention(add_months(calendar.day, 30))
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT

    applied = await admin.apply_retention()
    assert list(applied.records) == list(preview.records)
    assert applied.snapshot_version == version + 1
    assert [r.record_ref for r in (await admin.list_records()).records] == ["KEEP", "NEVER"]
    snap = await event.client.refresh(LocalSnapshot())
    old, kept = await event.client.evaluate_messages(
        snap.epoch, [message(Kind.NAME, "Old One"), message(Kind.NAME, "Kept Person")]
    )
    assert snap.match(old) is None
    assert snap.match(kept) is not None
    assert (await admin.apply_retention(dry_run=True)).records == []


async def test_a_repeat_extends_exactly_the_records_sharing_a_point(
    admin: AdminClient, event: Enrolled, calendar: Calendar
) -> None:
    calendar.day = date(2025, 6, 1)  # every date below lies ahead
    rep_email, rep_name = (
        Identifier(Kind.EMAIL, "rep@example.org"),
        Identifier(Kind.NAME, "Re Peat"),
    )
    first = await admin.add_record("A", "flagged", [rep_email, rep_name], date(2027, 1, 1))
    assert list(first.extended_refs) == []
    await admin.add_record(
        "B", "flagged", [Identifier(Kind.NAME, "Other Person")], date(2027, 2, 1)
    )
    await admin.add_record("C", "flagged", [rep_name], date(2026, 12, 1))  # lapses sooner

    response = await admin.add_record(
        "E", "flagged", [Identifier(Kind.EMAIL, "REP@example.org")], date(2030, 5, 1)
    )
    assert list(response.extended_refs) == ["A"]  # shares the e-mail; C only the name
    dates = {r.record_ref: r.expires_on for r in (await admin.list_records()).records}
    assert dates == {"A": "2030-05-01", "B": "2027-02-01", "C": "2026-12-01", "E": "2030-05-01"}

    # A ban with no end extends everyone sharing the name, and only them.
    ban = await admin.add_record("F", "banned", [rep_name])
    assert list(ban.extended_refs) == ["A", "C"]
    dates = {r.record_ref: r.expires_on for r in (await admin.list_records()).records}
    assert dates == {"A": "", "B": "2027-02-01", "C": "", "E": "2030-05-01", "F": ""}
    # An earlier expiry extends nothing.
    short = await admin.add_record("G", "flagged", [rep_name], date(2026, 1, 1))
    assert list(short.extended_refs) == []


async def test_an_extended_entry_is_sealed_again_with_its_new_date(
    admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_record("A", "flagged", [Identifier(Kind.NAME, "Solo Person")], date(2027, 1, 1))
    snap = await event.client.refresh(LocalSnapshot())
    await admin.add_record("B", "flagged", [Identifier(Kind.NAME, "Solo Person")], date(2031, 3, 3))
    snap = await event.client.refresh(snap)
    [y] = await event.client.evaluate_messages(snap.epoch, [message(Kind.NAME, "Solo Person")])
    hit = snap.match(y)
    assert hit is not None
    assert hit.expires_on == date(2031, 3, 3)


def test_policy_arithmetic() -> None:
    policy = Policy(flagged_months=1, banned_months_after_ban=13)
    assert policy.expiry("flagged", None, date(2027, 1, 31)) == date(2027, 2, 28)
    assert policy.expiry("banned", date(2028, 2, 29), date(2026, 1, 1)) == date(2029, 3, 29)
    assert policy.expiry("banned", None, date(2026, 1, 1)) is None


async def test_an_expiry_that_has_passed_is_refused_and_nothing_changes(
    registry: RunningRegistry, admin: AdminClient, calendar: Calendar
) -> None:
    today = calendar.day
    await admin.add_record("WG-1", "banned", [Identifier(Kind.EMAIL, "one@example.org")])
    version = registry.service.version
    person = [Identifier(Kind.EMAIL, "late@example.org")]

    async def refused(call: Awaitable[object], *needles: str) -> None:
        with pytest.raises(RpcFailed) as info:
            await call
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        for needle in needles:
            assert needle in info.value.details, info.value.details
        assert registry.service.version == version
        refs = [r.record_ref for r in (await admin.list_records()).records]
        assert refs == ["WG-1"]

    for day in (date(2020, 1, 1), today):  # today itself has no day left to run
        text = f"expires_on {day.isoformat()} is not after today ({today.isoformat()})"
        await refused(admin.add_record("WG-2", "flagged", person, day), text)
        await refused(
            admin.add_records([NewRecord("WG-3", "banned", person, day)]),
            "records[0]: " + text,
        )
        await refused(admin.update_record("WG-1", None, day), text)
    # A ban that ended long ago gives, by the schedule, an expiry already past.
    await refused(
        admin.add_record("WG-4", "banned", person, ban_until=date(2020, 1, 1)),
        "ban_until 2020-01-01 gives the record an expiry of 2022-03-01",
        "give expires_on with a later date",
    )
    tomorrow = today + timedelta(days=1)
    added = await admin.add_record("WG-5", "flagged", person, tomorrow)
    assert added.record.expires_on == tomorrow.isoformat()
    updated = await admin.update_record("WG-1", None, tomorrow)
    assert updated.record.expires_on == tomorrow.isoformat()


async def test_a_batch_added_without_expiry_takes_the_schedule_like_one_record(
    registry: RunningRegistry, admin: AdminClient, calendar: Calendar
) -> None:
    """AddRecords with no expires_on stored none, so such a flagged record never lapsed;
    it now takes the registry's schedule, as AddRecord does."""
    today = calendar.day
    added = await admin.add_records(
        [
            NewRecord("B-1", "flagged", [Identifier(Kind.EMAIL, "b1@example.org")]),
            NewRecord("B-2", "banned", [Identifier(Kind.EMAIL, "b2@example.org")]),
        ]
    )
    expiries = {r.record_ref: r.expires_on for r in added.records}
    flagged = Policy().expiry("flagged", None, today)
    assert flagged is not None
    assert expiries == {"B-1": flagged.isoformat(), "B-2": ""}
    with pytest.raises(RpcFailed) as info:
        await admin.add_records(
            [
                NewRecord(
                    "B-3",
                    "banned",
                    [Identifier(Kind.EMAIL, "b3@example.org")],
                    ban_until=date(2020, 1, 1),
                )
            ]
        )
    assert "records[0].ban_until 2020-01-01 gives the record an expiry" in info.value.details
