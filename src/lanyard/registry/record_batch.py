"""Adding many records at once: one transaction, one snapshot version, one signature.

`RegistryService.add_records` checks a batch here, then, under its lock, turns it into one
`Change`: each record's Y points become sealed snapshot entries (spec SCREEN-v1 §4, §5),
a tag two records share goes to the graver status (banned over flagged), and the padding
is adjusted once for the whole batch. Per-record cost is the sealing; the snapshot's
re-sign is paid once per batch, not once per record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor

from lanyard.core import limits, screen, snapshot
from lanyard.core.blinding import run_chunked
from lanyard.core.errors import InvalidPoint
from lanyard.registry import record_changes
from lanyard.registry.errors import AlreadyExists, InvalidRequest
from lanyard.registry.record_changes import RANK, RECORD_REF, STATUSES
from lanyard.registry.snapshots import LiveSnapshot
from lanyard.registry.store import Change, Entry, Record, RecordEvent, Store

MAX_RECORDS_PER_BATCH = limits.MAX_RECORDS_PER_BATCH
MAX_POINTS_PER_BATCH = limits.MAX_POINTS_PER_BATCH

Item = tuple[Record, list[bytes]]


def check_record(record: Record, points: Sequence[bytes], max_points: int, where: str) -> None:
    """Raise InvalidRequest (prefixed with `where`) unless the record's fields are valid.
    Points are checked separately (check_points), in a thread pool."""
    if not RECORD_REF.match(record.record_ref):
        raise InvalidRequest(
            f"{where}record_ref must be 1 to 64 printable ASCII characters, no spaces"
        )
    if record.status not in STATUSES:
        raise InvalidRequest(f"{where}status must be flagged or banned")
    if not 1 <= len(points) <= max_points:
        raise InvalidRequest(f"{where}a record needs 1 to {max_points} points, got {len(points)}")


def _check_flat(points: Sequence[bytes], offset: int) -> list[None]:
    for i, y in enumerate(points):
        screen.check_point(offset + i, y)
    return []


async def check_batch(items: Sequence[Item], max_points: int, executor: Executor | None) -> None:
    """Every record valid, refs distinct, limits kept, every Y a valid point (its record's
    index named). Raises InvalidRequest."""
    if not 1 <= len(items) <= MAX_RECORDS_PER_BATCH:
        raise InvalidRequest(
            f"a batch holds 1 to {MAX_RECORDS_PER_BATCH} records, got {len(items)}"
        )
    total = sum(len(ys) for _, ys in items)
    if total > MAX_POINTS_PER_BATCH:
        raise InvalidRequest(
            f"a batch holds at most {MAX_POINTS_PER_BATCH} points in all, got {total}"
        )
    seen: set[str] = set()
    owner: list[int] = []
    for index, (record, ys) in enumerate(items):
        check_record(record, ys, max_points, f"records[{index}]: ")
        if record.record_ref in seen:
            raise InvalidRequest(f"records[{index}]: record_ref is repeated in the batch")
        seen.add(record.record_ref)
        owner += [index] * len(ys)
    flat = [y for _, ys in items for y in ys]
    try:
        await run_chunked(flat, _check_flat, executor)
    except InvalidPoint as exc:
        raise InvalidRequest(f"records[{owner[exc.index]}]: points: a point {exc.reason}") from exc


def _seal_all(work: Sequence[tuple[int, Record, bytes]], _offset: int) -> list[Entry]:
    out = []
    for epoch, record, y in work:
        status = snapshot.Status(record.status, record.record_ref, record.expires_on)
        tag, sealed = snapshot.seal_status(epoch, y, status)
        out.append(Entry(tag, sealed, record.record_ref))
    return out


async def plan(
    snap: LiveSnapshot,
    store: Store,
    items: Sequence[Item],
    skip_existing: bool,
    executor: Executor | None,
    by: str = "operator",
    log_indexes: Sequence[int] = (),
) -> tuple[list[Item], list[str], Callable[[], Awaitable[int]] | None]:
    """(records to add, refs skipped, commit) for a checked batch; call under the lock.
    `commit` adds the records and claims the evaluation log leaves `log_indexes` (spec
    §3b); None when there is nothing to do. Raises AlreadyExists, InvalidRequest."""
    existing = await store.existing_refs([r.record_ref for r, _ in items])
    if existing and not skip_existing:
        first = next(i for i, (r, _) in enumerate(items) if r.record_ref in existing)
        raise AlreadyExists(f"records[{first}]: record {items[first][0].record_ref} already exists")
    todo = [(r, list(dict.fromkeys(ys))) for r, ys in items if r.record_ref not in existing]
    skipped = [r.record_ref for r, _ in items if r.record_ref in existing]
    follows = None
    if log_indexes:
        # What the batch could have been evaluated for: each record added, its distinct
        # points; each record skipped (a re-run), only the points it already holds.
        holding = set(await store.points_of(skipped))  # (ref, Y) of this epoch, one query
        kept = sum(len({(r.record_ref, y) for y in ys} & holding) for r, ys in items)
        points = sum(len(ys) for _, ys in todo) + kept
        named = todo[0][0].record_ref if todo else skipped[0]
        follows = record_changes.claim(by, named, points, snap.epoch, log_indexes, len(items))
    if not todo:
        if follows is None:
            return [], skipped, None
        claim = follows  # every record existed: the leaves are claimed, nothing is added

        async def claim_only() -> int:
            await store.claim(claim)
            return snap.version

        return [], skipped, claim_only
    records = {r.record_ref: r for r, _ in todo}
    entries = await run_chunked(
        [(snap.epoch, r, y) for r, ys in todo for y in ys], _seal_all, executor
    )
    best: dict[bytes, Entry] = {}
    for entry in entries:  # within the batch: the graver status owns a shared tag
        held = best.get(entry.tag)
        rank = RANK[records[entry.record_ref or ""].status]
        if held is None or rank > RANK[records[held.record_ref or ""].status]:
            best[entry.tag] = entry
    add: list[Entry] = []
    remove: list[bytes] = []
    live = await store.live_owners(list(best))  # the batch's own tags only
    for tag, entry in best.items():
        holder = live.get(tag)
        if holder is not None:
            # Held by an older record (the graver status keeps it) or, astronomically
            # unlikely, by a padding entry (which gives way).
            new_rank = RANK[records[entry.record_ref or ""].status]
            if holder.status is not None and new_rank < RANK[holder.status]:
                continue
            remove.append(tag)
        add.append(entry)
    change = snap.repad(add, remove)

    async def commit() -> int:
        return await snap.commit(
            Change(
                add_records=todo,
                add_records_history=[
                    RecordEvent(by, "added", record_changes.describe_added(r, len(ys)))
                    for r, ys in todo
                ],
                add_entries=change.add_entries,
                remove_tags=change.remove_tags,
                claim=follows,
            )
        )

    return todo, skipped, commit
