"""The registry's retention schedule as data, after the working group's own records rule.

Defaults (DESIGN.md "Retention defaults"): a flagged record lapses 26 months after it was
added; a banned one 26 months after its ban ends, and never while a ban has no end. The
operator changes the months with `lanyard registry retention set`; a change applies to the
records added from then on (a stored record keeps the date it was given).

The repeat rule: a new record for a person the list already holds (the registry sees the
same stored point Y) extends the older records to the later of the two expiries. No
expiry at all is the latest.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog

from lanyard.registry.errors import InvalidRequest
from lanyard.registry.store import Entry, Record, Store

log = structlog.get_logger("lanyard.registry")

DEFAULT_FLAGGED_MONTHS = 26
DEFAULT_BANNED_MONTHS_AFTER_BAN = 26
MAX_MONTHS = 1200


@dataclass(frozen=True, slots=True)
class Policy:
    """Months a flagged record is kept from the day it is added, and a banned one after
    its ban ends."""

    flagged_months: int = DEFAULT_FLAGGED_MONTHS
    banned_months_after_ban: int = DEFAULT_BANNED_MONTHS_AFTER_BAN

    def check(self) -> None:
        """Raises InvalidRequest naming the field out of range (1 to 1200 months)."""
        for name in ("flagged_months", "banned_months_after_ban"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_MONTHS:
                raise InvalidRequest(f"{name} must be 1 to {MAX_MONTHS} months, got {value}")

    def expiry(self, status: str, ban_until: date | None, today: date) -> date | None:
        """The date a record added `today` lapses; None for a ban with no end."""
        if status == "banned":
            return add_months(ban_until, self.banned_months_after_ban) if ban_until else None
        return add_months(today, self.flagged_months)


def utc_today() -> date:
    """The registry's day: record expiries, default and swept, are counted in UTC days."""
    return datetime.now(UTC).date()


def check_expiry(expires_on: date | None, today: date, where: str = "") -> None:
    """A new expiry must come after `today`: a record that has already lapsed would match
    as listed until the next sweep (at most an hour), then leave the list without a
    word. Raises InvalidRequest; `where` prefixes the message (a batch's `records[3]: `)."""
    if expires_on is not None and expires_on <= today:
        raise InvalidRequest(
            f"{where}expires_on {expires_on.isoformat()} is not after today "
            f"({today.isoformat()}): the record would leave the list at the next sweep"
        )


def add_months(start: date, months: int) -> date:
    """`start` plus whole months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def later(a: date | None, b: date | None) -> date | None:
    """The later of two expiries, where None (never) is latest."""
    if a is None or b is None:
        return None
    return max(a, b)


def extends(old: date | None, new: date | None) -> bool:
    """Whether a record expiring `new` pushes one expiring `old` further."""
    return old is not None and (new is None or new > old)


async def load(store: Store) -> Policy:
    values = await store.retention()
    return Policy(values["flagged_months"], values["banned_months_after_ban"])


async def save(store: Store, policy: Policy) -> Policy:
    """Check and store the schedule; raises InvalidRequest naming a field out of range."""
    policy.check()
    await store.set_retention(
        {
            "flagged_months": policy.flagged_months,
            "banned_months_after_ban": policy.banned_months_after_ban,
        }
    )
    log.info(
        "registry.retention_set",
        flagged_months=policy.flagged_months,
        banned_months_after_ban=policy.banned_months_after_ban,
    )
    return policy


async def repeats(
    store: Store,
    record: Record,
    points: list[bytes],
    taken: set[bytes],
    seal: Callable[[Record, bytes], Entry],
) -> tuple[list[tuple[str, date | None]], list[Entry], list[bytes]]:
    """The repeat rule for `record`, about to be added with `points`: the older records
    holding one of them that its expiry extends, and their live entries sealed again with
    the new date (entries to add, tags to remove). `taken`: tags the new record itself now
    owns. Reads only the records and entries concerned."""
    older = {r.record_ref: r for r, _ in await store.holding(points)}
    extend = [
        (ref, record.expires_on)
        for ref, r in sorted(older.items())
        if extends(r.expires_on, record.expires_on)
    ]
    if not extend:
        return extend, [], []
    resealed = [
        seal(Record(ref, older[ref].status, record.expires_on), y)
        for ref, y in await store.points_of([ref for ref, _ in extend])
    ]
    owners = await store.live_owners([e.tag for e in resealed])
    add: list[Entry] = []
    remove: list[bytes] = []
    for entry in resealed:
        held = owners.get(entry.tag)
        if entry.tag not in taken and held is not None and held.record_ref == entry.record_ref:
            remove.append(entry.tag)
            add.append(entry)
    return extend, add, remove
