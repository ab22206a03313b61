"""Every time window of the incident records and reports, at its edge: exactly at the
limit, and one unit past it (a second for the hour-long windows, a day for the long ones)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Decision, Report
from lanyard.agent.incidents.service import (
    ACK_WITHIN,
    ACT_WITHIN,
    WARNING_RETENTION,
    Caller,
    IncidentService,
)
from lanyard.agent.incidents.store import IncidentStore, Row

FILED = datetime(2027, 5, 1, 9, 0, 0, tzinfo=UTC)
EVENT = (date(2027, 5, 1), date(2027, 5, 3))
SECOND = timedelta(seconds=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[tuple[IncidentService, Clock]]:
    store = await IncidentStore.open(tmp_path / "agent.db", tmp_path / "keyring.db")
    clock = Clock(FILED)
    try:
        yield (
            IncidentService(
                store, crypto.new_incident_key(), "agentconf-2027", b"k" * 32, EVENT, clock
            ),
            clock,
        )
    finally:
        await store.close()


def _row(status: str, filed: datetime = FILED) -> Row:
    stamp = filed.isoformat(timespec="seconds")
    return Row(1, 1, status, stamp, stamp, None, None, False, b"")


def test_the_windows_are_what_the_team_promises() -> None:
    assert (timedelta(hours=1), timedelta(hours=12)) == (ACK_WITHIN, ACT_WITHIN)
    assert timedelta(days=730) == WARNING_RETENTION


def test_acknowledgement_is_overdue_one_second_after_the_hour(
    records: tuple[IncidentService, Clock],
) -> None:
    service, _ = records
    row = _row("new")
    assert service.overdue(row, FILED + ACK_WITHIN) == ""
    assert service.overdue(row, FILED + ACK_WITHIN + SECOND) == "no acknowledgement within 1 hour"
    # Acknowledged in time: the hour no longer applies.
    assert service.overdue(_row("acknowledged"), FILED + ACK_WITHIN + SECOND) == ""


@pytest.mark.parametrize("status", ["acknowledged", "in-review", "needs-info"])
def test_action_is_overdue_one_second_after_half_a_day(
    records: tuple[IncidentService, Clock], status: str
) -> None:
    service, _ = records
    row = _row(status)
    assert service.overdue(row, FILED + ACT_WITHIN) == ""
    assert service.overdue(row, FILED + ACT_WITHIN + SECOND) == "no action within half a day"


@pytest.mark.parametrize("status", ["decided", "closed"])
def test_a_decided_incident_is_never_overdue(
    records: tuple[IncidentService, Clock], status: str
) -> None:
    service, _ = records
    assert service.overdue(_row(status), FILED + timedelta(days=1)) == ""


def test_half_a_day_counts_on_the_event_days_only(
    records: tuple[IncidentService, Clock],
) -> None:
    service, _ = records
    start, end = EVENT
    on_first = datetime.combine(start, datetime.min.time(), UTC)
    on_last = datetime.combine(end, datetime.max.time(), UTC).replace(microsecond=0)
    for filed, now, expected in [
        (on_first, on_first + ACT_WITHIN + SECOND, "no action within half a day"),
        (on_last - ACT_WITHIN - SECOND, on_last, "no action within half a day"),
        (on_last - ACT_WITHIN, on_last + SECOND, ""),  # the day after: not the event
        (on_first - timedelta(days=1), on_first - SECOND, ""),  # the day before
    ]:
        assert service.overdue(_row("acknowledged", filed), now) == expected, (filed, now)


async def _warned_and_banned(service: IncidentService) -> tuple[int, int]:
    ids = []
    for resolution in ("warning", "ban-future-events"):
        incident = await service.file(Caller("ana", "responder"), Report(description=resolution))
        for who in ("ana", "ben"):
            await service.decide(
                Caller(who, "responder"),
                incident.incident_id,
                Decision(violation="yes", resolutions=[resolution]),
            )
        ids.append(incident.incident_id)
    return ids[0], ids[1]


async def test_warnings_go_on_the_day_two_years_after_the_event(
    records: tuple[IncidentService, Clock],
) -> None:
    service, _ = records
    warned, banned = await _warned_and_banned(service)
    end = EVENT[1]
    assert await service.apply_retention(end, end + WARNING_RETENTION - timedelta(days=1)) == 0
    assert [s.incident_id for s in await service.list_incidents(Caller("ana", "chair"))] == [
        warned,
        banned,
    ]
    assert await service.apply_retention(end, end + WARNING_RETENTION) == 1
    assert [s.incident_id for s in await service.list_incidents(Caller("ana", "chair"))] == [banned]
    assert await service.apply_retention(None, end + WARNING_RETENTION * 10) == 0
