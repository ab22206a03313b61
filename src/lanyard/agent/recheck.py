"""Re-checking stored people against the snapshot held: matching, and the alerts a
change of result raises (one per person and change). following.py decides whom to
re-check; PeopleIndex remembers who holds which tag, so that a delta needs to look only
at the people holding a tag it touched."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import structlog

from lanyard.agent.screening.decision import Result, decide
from lanyard.agent.store import Alert, Change, NewAlert, Store
from lanyard.client.registry import LocalSnapshot
from lanyard.core import screen
from lanyard.core.errors import SealError
from lanyard.core.identity import Kind
from lanyard.core.snapshot import Status

log = structlog.get_logger("lanyard.agent")


def match_result(
    snapshot: LocalSnapshot,
    points: dict[Kind, bytes],
    tags: dict[Kind, bytes] | None = None,
) -> Result:
    """Decide from whichever of the person's identities match; `tags` (their tags in
    the snapshot's epoch, when known) spare recomputing them for those that do not. A
    tag whose box does not open raises SealError: an error, not a match (spec §4)."""
    hits: dict[Kind, Status | None] = {}
    for kind, y in points.items():
        tag = tags.get(kind) if tags else None
        hits[kind] = None if tag and tag not in snapshot.entries else snapshot.match(y)
    return decide(hits.get(Kind.EMAIL), hits.get(Kind.NAME))


@contextmanager
def collection_paused() -> Iterator[None]:
    """While a full re-check builds its index and results (tens of thousands of small
    objects, none in a cycle), the cyclic garbage collector waits: otherwise it walks
    the whole heap again every few hundred allocations and frees nothing (measured: a
    quarter to a third of a 10,000-attendee re-check). Reference counting still frees
    everything meanwhile; a cycle made by another task waits for the next collection."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@dataclass
class PeopleIndex:
    """Who holds which tag under the held snapshot's epoch: every attendee up to
    `last_id`, as of the full re-check at `built_at` (time.monotonic) and those taken in
    since. Points are never changed within an epoch, and attendee ids only grow."""

    epoch: int
    built_at: float
    last_id: int = 0
    points: dict[int, dict[Kind, bytes]] = field(default_factory=dict)
    tags: dict[int, dict[Kind, bytes]] = field(default_factory=dict)
    # The one attendee holding a tag, or the tuple of them when several do: ints and
    # bytes are not tracked by the garbage collector, sets would be (one per tag).
    by_tag: dict[bytes, int | tuple[int, ...]] = field(default_factory=dict)

    def add(self, attendee_id: int, kind: Kind, y: bytes) -> None:
        tag = screen.tag(self.epoch, y)
        self.points.setdefault(attendee_id, {})[kind] = y
        self.tags.setdefault(attendee_id, {})[kind] = tag
        held = self.by_tag.get(tag)
        if held is None:
            self.by_tag[tag] = attendee_id
        elif isinstance(held, int):
            if held != attendee_id:
                self.by_tag[tag] = (held, attendee_id)
        elif attendee_id not in held:
            self.by_tag[tag] = (*held, attendee_id)

    def holders(self, tag: bytes) -> tuple[int, ...]:
        """The attendees holding `tag`."""
        held = self.by_tag.get(tag)
        if held is None:
            return ()
        return (held,) if isinstance(held, int) else held


def _identity(
    person: dict[Kind, bytes], before: Result, result: Result
) -> tuple[Kind, bytes] | frozenset[tuple[Kind, bytes]]:
    """The identity a change is about: the one that matches now (an e-mail for a
    confirmed match, a name for a possible one), or, when cleared, the one that matched
    before. Rows naming one person under other spellings of the rest share it."""
    deciding = result if result.reason else before
    kind = Kind.EMAIL if deciding.matched == "confirmed" else Kind.NAME
    point = person.get(kind)
    return (kind, point) if point is not None else frozenset(person.items())


async def judge(
    store: Store,
    people: dict[int, tuple[LocalSnapshot, dict[Kind, bytes]]],
    current: dict[int, Result],
    version: int,
    started: float,
    scope: str,
    known_tags: dict[int, dict[Kind, bytes]],
) -> list[Alert]:
    """Match `people` (attendee id -> snapshot and points; `known_tags` their tags where
    known), store every result that differs from `current` (stored results by attendee
    id) and raise one alert per identity and change, naming every row it concerns; logs
    what it did (`scope` says whom it looked at). Returns the alerts raised."""
    results: list[tuple[int, Result]] = []
    alerts: list[NewAlert] = []
    # (identity, result before, result now) -> index in `alerts`: rows merge into one
    # alert only when their change is the same (its kind and `previous` speak for all).
    raised: dict[tuple[object, Result, Result], int] = {}
    unreadable = 0
    for attendee_id, (snap, person) in people.items():
        try:
            result = match_result(snap, person, known_tags.get(attendee_id))
        except SealError:
            unreadable += 1
            continue
        before = current.get(attendee_id)
        if before is None or before == result:
            continue
        results.append((attendee_id, result))
        key = (_identity(person, before, result), before, result)
        at = raised.get(key)
        if at is not None:
            first = alerts[at]
            alerts[at] = replace(first, also=(*first.also, attendee_id))
            continue
        raised[key] = len(alerts)
        if not before.reason:
            change = "new-match"
        elif not result.reason:
            change = "cleared"
        else:
            change = "changed"
        alerts.append(NewAlert(attendee_id, change, result, before))
    stored = await store.apply(Change(results, alerts, version)) if results else []
    for alert in stored:
        log.warning(
            "agent.alert",
            alert_id=alert.alert_id,
            attendee_id=alert.attendee_id,
            rows=1 + len(alert.also),
            kind=alert.kind,
            reason=alert.result.reason.value,
            record_ref=alert.record_ref,
            version=version,
        )
    if unreadable:
        log.error("agent.snapshot_entry_unreadable", count=unreadable, version=version)
    log.info(
        "agent.rechecked",
        scope=scope,
        attendees=len(people),
        changes=len(results),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return stored
