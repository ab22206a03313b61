"""The event's retention schedule as data, its preview, and its sweep (DESIGN.md
"Retention defaults"): attendee lists and screening results go 30 days after the event
ends; incidents that ended in a warning only go two years after it; the others are kept
until the chairs decide (`lanyard incident destroy|export`).

The schedule lives in agent.db (`lanyard agent retention set`); an
`attendee_retention_days` in agent.toml or the environment overrides its attendee days.
A plan lists what a sweep on a given day removes — counts, incident numbers, statuses and
dates, never a name — and applying it removes exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from lanyard.agent.errors import InvalidRequest
from lanyard.core import sqlite

MAX_DAYS = 36500


@dataclass(frozen=True, slots=True)
class Policy:
    attendee_days: int = 30
    warning_incident_days: int = 730
    # True when agent.toml (or LANYARD_AGENT_ATTENDEE_RETENTION_DAYS) sets attendee_days.
    attendee_days_from_config: bool = False

    def check(self) -> None:
        """Raises InvalidRequest naming the field out of range (1 to 36500 days)."""
        for name in ("attendee_days", "warning_incident_days"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_DAYS:
                raise InvalidRequest(f"{name} must be 1 to {MAX_DAYS} days, got {value}")


@dataclass(frozen=True, slots=True)
class Plan:
    """What a sweep on `as_of` removes, and what it keeps for the chairs to decide."""

    as_of: date
    policy: Policy
    event_end: date | None
    attendees: int  # screened people whose data goes (0 before the cut-off)
    attendee_cutoff: date | None  # the first day attendee data may go
    warning_incidents: list[tuple[int, str]] = field(default_factory=list)  # (number, since)
    waiting: list[tuple[int, str]] = field(default_factory=list)  # (number, status)
    incidents_checked: bool = True  # False when the records were not unlocked


async def load(pool: sqlite.Pool, config_attendee_days: int | None = None) -> Policy:
    """The stored schedule (agent.db's `retention` table), with agent.toml's attendee days
    over it when given."""
    async with pool.read() as db:
        rows = await sqlite.fetch_all(db, "SELECT key, value FROM retention")
    values = {str(r[0]): int(r[1]) for r in rows}
    policy = Policy(values["attendee_days"], values["warning_incident_days"])
    if config_attendee_days is not None:
        policy = replace(policy, attendee_days=config_attendee_days, attendee_days_from_config=True)
    return policy


async def save(pool: sqlite.Pool, policy: Policy) -> None:
    """Store the schedule; raises InvalidRequest naming a value out of range."""
    policy.check()
    async with pool.write() as db:
        await db.executemany(
            "UPDATE retention SET value = ? WHERE key = ?",
            [
                (policy.attendee_days, "attendee_days"),
                (policy.warning_incident_days, "warning_incident_days"),
            ],
        )


def attendee_cutoff(event_end: date | None, policy: Policy) -> date | None:
    return event_end + timedelta(days=policy.attendee_days) if event_end else None
