"""A registry's day that a test can move on: records lapse as days pass, and a registry no
longer takes an expiry that has already passed, so a lapsed record comes only from time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass
class Calendar:
    """What `server.running(today=...)` asks for the day; starts at today (UTC)."""

    day: date

    @classmethod
    def from_today(cls) -> Calendar:
        return cls(datetime.now(UTC).date())

    def __call__(self) -> date:
        return self.day

    def advance(self, days: int) -> None:
        self.day += timedelta(days=days)
