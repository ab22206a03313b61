"""What a change to a record does to the snapshot, and how it reads in the record's history.

A record's identifiers keep their tags when the record changes; their sealed statuses do
not (status and expiry are inside the box, spec SCREEN-v1 §4). So every tag the record
holds is re-sealed, and where the same person also stands in another record, the entry
of the higher status wins (ties keep the record that holds the tag now).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from lanyard.registry.errors import InvalidRequest
from lanyard.registry.store import Claim, Entry, Record, Store

RANK = {"flagged": 1, "banned": 2}
STATUSES = tuple(RANK)  # ("flagged", "banned")
RECORD_REF = re.compile(r"^[!-~]{1,64}$")  # the WG's reference: printable ASCII, no spaces
# Evaluation log leaves one change may claim: a batch of 10,000 points takes one leaf
# with the admin tool's calls of up to 10,000 points; far more than any client needs.
MAX_CLAIMED_LEAVES = 64


class Keep:
    """Marks a field of RecordUpdate that stays as it is."""


KEEP = Keep()


@dataclass(frozen=True, slots=True)
class RecordUpdate:
    """What to change in a record: None status keeps it; KEEP keeps a date, None clears it."""

    status: str | None = None
    expires_on: date | Keep | None = KEEP
    ban_until: date | Keep | None = KEEP
    suite: str = ""
    epoch: int = 0
    add_points: Sequence[bytes] = ()
    # The evaluation log leaves add_points came from (spec §3b), claimed with the change.
    log_indexes: Sequence[int] = ()


def changed(old: Record, change: RecordUpdate) -> Record:
    """The record as it will be after `change`."""
    return replace(
        old,
        status=change.status or old.status,
        expires_on=old.expires_on if isinstance(change.expires_on, Keep) else change.expires_on,
        ban_until=old.ban_until if isinstance(change.ban_until, Keep) else change.ban_until,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry that could own a tag, and the status rank of the record behind it."""

    rank: int
    entry: Entry


def choose(
    live: Mapping[bytes, tuple[bytes, str | None]],
    candidates: Sequence[Candidate],
    record_ref: str,
) -> tuple[list[Entry], list[bytes]]:
    """(entries to add, tags to remove) so that every candidate tag ends up held by its
    best candidate. Tags the changed record (`record_ref`) holds now are always re-sealed."""
    best: dict[bytes, Candidate] = {}
    for cand in candidates:
        tag = cand.entry.tag
        held = best.get(tag)
        owner = live[tag][1] if tag in live else None
        if (
            held is None
            or cand.rank > held.rank
            or (cand.rank == held.rank and cand.entry.record_ref == owner)
        ):
            best[tag] = cand
    add: list[Entry] = []
    remove: list[bytes] = []
    for tag, cand in best.items():
        owner = live[tag][1] if tag in live else None
        if owner is not None and owner == cand.entry.record_ref and owner != record_ref:
            continue  # another record keeps the tag it holds
        if tag in live:
            remove.append(tag)
        add.append(cand.entry)
    return add, remove


async def entries_for(
    store: Store,
    new: Record,
    points: Sequence[bytes],
    status_entry: Callable[[Record, bytes], Entry],
) -> tuple[list[Entry], list[bytes]]:
    """(entries to add, tags to remove) for `new` holding `points`: its own entries,
    other records sharing a point, and the records that hold a tag now, ranked. Reads
    the live entries of those tags only."""
    rank = RANK[new.status]
    candidates = [Candidate(rank, status_entry(new, y)) for y in points]
    for other, y in await store.sharing_points([new.record_ref]):
        candidates.append(Candidate(RANK[other.status], status_entry(other, y)))
    held = await store.live_owners([c.entry.tag for c in candidates])
    live = {tag: (e.sealed, e.record_ref) for tag, e in held.items()}
    for tag, e in held.items():
        if e.record_ref is not None and e.record_ref != new.record_ref and e.status is not None:
            candidates.append(Candidate(RANK[e.status], Entry(tag, e.sealed, e.record_ref)))
    return choose(live, candidates, new.record_ref)


def _day(day: date | None, none: str) -> str:
    return day.isoformat() if day else none


def describe(old: Record, new: Record, added: int) -> str:
    """The history line for a change: what changed, never an identifier or a point."""
    parts: list[str] = []
    if old.status != new.status:
        parts.append(f"status {old.status} -> {new.status}")
    if old.ban_until != new.ban_until:
        parts.append(f"ban until {_day(old.ban_until, 'none')} -> {_day(new.ban_until, 'none')}")
    if old.expires_on != new.expires_on:
        parts.append(f"expires {_day(old.expires_on, 'never')} -> {_day(new.expires_on, 'never')}")
    if added:
        parts.append(f"{added} identifier(s) added")
    return "; ".join(parts)


def describe_added(record: Record, identifiers: int) -> str:
    parts = [record.status, f"{identifiers} identifier(s)"]
    if record.ban_until:
        parts.append(f"ban until {record.ban_until.isoformat()}")
    parts.append(f"expires {_day(record.expires_on, 'never')}")
    if record.submission_id:
        parts.append(f"from submission {record.submission_id}")
    return ", ".join(parts)


def claim(
    by: str,
    record_ref: str,
    points: int,
    epoch: int,
    log_indexes: Sequence[int],
    records: int = 1,
) -> Claim:
    """The evaluation log leaves (spec §3b) a change by admin `by` follows, for the store
    to claim in the change's transaction (store.Claim's rule); `points` counts what the
    change carries as it could have been evaluated (distinct points per record). Raises
    InvalidRequest for more than MAX_CLAIMED_LEAVES leaves or an index no leaf can have."""
    if len(log_indexes) > MAX_CLAIMED_LEAVES:
        raise InvalidRequest(
            f"evaluation_log_indexes names {len(log_indexes)} leaves; at most {MAX_CLAIMED_LEAVES}"
        )
    for i, index in enumerate(log_indexes):
        if not 0 <= index < 2**63:  # SQLite's integers: no leaf is numbered past them
            raise InvalidRequest(
                f"evaluation_log_indexes[{i}]: leaf {index} is not an unclaimed evaluation "
                "of this admin key in this epoch"
            )
    return Claim(f"admin:{by}", record_ref, points, epoch, tuple(log_indexes), records)
