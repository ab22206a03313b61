"""The agent's Store contract, on its SQLite implementation: one row per identity, a key
rotation staged and switched in one step, alerts acknowledged once, retention remembered."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lanyard.agent.errors import Conflict, SnapshotCorrupt
from lanyard.agent.migrations import MIGRATIONS
from lanyard.agent.screening.decision import CLEAR, Decision, Reason, Result
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.store import Change, Identity, NewAlert, Screened, SnapshotState, Store
from lanyard.core import snapshot, sqlite
from lanyard.core.identity import Kind
from lanyard.core.snapshot_tree import SEALED_BYTES, SnapshotEntries

EMAIL = b"lanyard:v1:email:ada@example.org"
NAME = b"lanyard:v1:name:ada lovelace"
DENY = Result(Decision.DENY, Reason.BANNED_CONFIRMED, "WG-1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """Every Store implementation runs these; SQLite is the one there is."""
    opened = await SqliteStore.open(tmp_path / "agent.db")
    try:
        yield opened
    finally:
        await opened.close()


def _sealed(fill: bytes) -> bytes:
    return fill * SEALED_BYTES


def _entries(**by_tag: bytes) -> SnapshotEntries:
    """Entries from single-character tags (repeated to 32 bytes) to sealed fills."""
    return SnapshotEntries.build((t.encode() * 32, _sealed(v)) for t, v in by_tag.items())


def _held(state: SnapshotState | None) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    assert state is not None
    return state.epoch, state.version, list(state.entries)


def _ada(y_email: bytes, y_name: bytes, line: int | None, ref: str = "ORD-1") -> Screened:
    return Screened(
        ref,
        "attendee",
        [Identity(Kind.EMAIL, EMAIL, y_email), Identity(Kind.NAME, NAME, y_name)],
        CLEAR,
        line,
    )


async def test_one_row_per_identity_across_runs_and_checks(store: Store) -> None:
    ye, yn = os.urandom(32), os.urandom(32)
    first = await store.open_run("d1", "attendee", "plain", "a.csv")
    second = await store.open_run("d2", "speaker", "plain", "b.csv")
    await store.commit_rows(first.run_id, 2, 1, [_ada(ye, yn, 2)], [])
    await store.commit_rows(second.run_id, 2, 1, [_ada(ye, yn, 2)], [])
    await store.commit_rows(None, 0, 1, [_ada(ye, yn, None, "CHECK")], [])
    # Three people rows refer to the same two identities: rotation costs two, not six.
    assert await store.stale_identities(2, 100) == [(Kind.EMAIL, EMAIL), (Kind.NAME, NAME)]
    assert await store.pending_count(2) == 2
    assert await store.known_points([EMAIL, NAME], 1) == {EMAIL: ye, NAME: yn}
    assert len(await store.identities(1)) == 6  # (person, kind) pairs, for re-checks


async def test_a_run_line_is_where_its_stored_rows_end(store: Store) -> None:
    """Store.run_line: where a stopped run resumes, never behind a batch committed."""
    ye, yn = os.urandom(32), os.urandom(32)
    run = await store.open_run("d3", "attendee", "plain", "c.csv")
    assert await store.run_line(run.run_id) == 0
    await store.commit_rows(run.run_id, 7, 1, [_ada(ye, yn, 5)], [])
    await store.commit_rows(run.run_id, 4, 1, [], [])  # a batch behind never moves it back
    assert await store.run_line(run.run_id) == 7
    assert (await store.open_run("d3", "attendee", "plain", "c.csv")).last_line == 7
    assert await store.run_line(run.run_id + 1000) == 0  # no such run


async def test_a_rotation_switches_only_when_every_identity_is_staged(store: Store) -> None:
    ye, yn = os.urandom(32), os.urandom(32)
    await store.commit_rows(None, 0, 1, [_ada(ye, yn, None)], [])
    await store.save_snapshot(SnapshotState(1, 5, _entries(t=b"s")))
    next_state = SnapshotState(2, 6, _entries(u=b"v"), datetime.now(UTC))
    await store.save_next_snapshot(next_state)
    ye2, yn2 = os.urandom(32), os.urandom(32)
    await store.stage_points(2, [(EMAIL, ye2)])
    assert await store.pending_count(2) == 1
    assert await store.known_points([EMAIL, NAME], 2) == {EMAIL: ye2}
    with pytest.raises(Conflict, match="1 identities are not yet evaluated under epoch 2"):
        await store.switch_epoch(next_state)
    held = await store.load_snapshot()
    assert held is not None
    assert (held.epoch, held.version) == (1, 5)  # nothing changed
    await store.stage_points(2, [(NAME, yn2)])
    await store.switch_epoch(next_state)
    assert _held(await store.load_snapshot()) == (2, 6, [(b"u" * 32, _sealed(b"v"))])
    assert await store.load_next_snapshot() is None
    assert await store.known_points([EMAIL, NAME], 2) == {EMAIL: ye2, NAME: yn2}
    assert await store.known_points([EMAIL, NAME], 1) == {}


async def test_identities_after_an_id_and_results_of_some(store: Store) -> None:
    ye, yn = os.urandom(32), os.urandom(32)
    assert await store.identities_after(1, 0) == (0, [])
    [first] = await store.commit_rows(None, 0, 1, [_ada(ye, yn, None)], [])
    [second] = await store.commit_rows(None, 0, 1, [_ada(ye, yn, None, "ORD-2")], [])
    top, rows = await store.identities_after(1, first)
    assert top == second
    assert sorted((a, k.value, y) for a, k, y in rows) == [
        (second, "email", ye),
        (second, "name", yn),
    ]
    assert len((await store.identities_after(1, 0))[1]) == 4
    assert (await store.identities_after(2, 0))[1] == []  # nothing evaluated in epoch 2
    await store.apply(Change([(second, DENY)], [], 7))
    assert await store.results_of([second, first, 999]) == {second: DENY, first: CLEAR}
    assert await store.results_of([]) == {}


async def test_alerts_are_acknowledged_once(store: Store) -> None:
    [aid] = await store.commit_rows(None, 0, 1, [_ada(os.urandom(32), os.urandom(32), None)], [])
    raised = await store.apply(Change([(aid, DENY)], [NewAlert(aid, "new-match", DENY, CLEAR)], 7))
    [alert] = raised
    assert (alert.ref, alert.kind, alert.result) == ("ORD-1", "new-match", DENY)
    now = datetime.now(UTC)
    assert await store.acknowledge([alert.alert_id], now) == [alert.alert_id]
    assert await store.acknowledge([alert.alert_id], now) == []
    assert await store.alerts() == []
    assert [a.alert_id for a in await store.alerts(include_acknowledged=True)] == [alert.alert_id]


async def test_retention_deletes_every_identity_and_is_remembered(store: Store) -> None:
    await store.commit_rows(None, 0, 1, [_ada(os.urandom(32), os.urandom(32), None)], [])
    assert await store.retention_done() is None
    assert await store.delete_attendees() == 1
    assert await store.known_points([EMAIL, NAME], 1) == {}
    assert await store.pending_count(2) == 0
    assert await store.retention_done() is not None


async def test_migration_5_keeps_every_screened_person_with_one_row_per_identity(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    old = await sqlite.connect(path, MIGRATIONS[:4])
    ye, yn = os.urandom(32), os.urandom(32)
    try:
        await old.executescript(
            "INSERT INTO snapshot_state (id, epoch, version) VALUES (1, 1, 9);"
            "INSERT INTO runs (run_id, digest, role, layout, source, started_at) "
            "VALUES (1, 'd', 'attendee', 'plain', 'a.csv', '2027-01-01T00:00:00+00:00');"
        )
        await old.executemany(
            "INSERT INTO attendees (attendee_id, run_id, line, ref, role, decision, reason, "
            "record_ref, created_at) VALUES (?, ?, ?, ?, 'attendee', 'allow', '', '', "
            "'2027-01-01T00:00:00+00:00')",
            [(1, 1, 2, "ORD-1"), (2, None, None, "CHECK")],
        )
        await old.executemany(
            "INSERT INTO identities (attendee_id, kind, message, epoch, y) VALUES (?, ?, ?, 1, ?)",
            [(1, "email", EMAIL, ye), (1, "name", NAME, yn), (2, "email", EMAIL, ye)],
        )
    finally:
        await old.close()
    store = await SqliteStore.open(path)
    try:
        assert await store.known_points([EMAIL, NAME], 1) == {EMAIL: ye, NAME: yn}
        assert sorted((a, k.value) for a, k, _ in await store.identities(1)) == [
            (1, "email"),
            (1, "name"),
            (2, "email"),
        ]
        assert await store.pending_count(2) == 2
        held = await store.load_snapshot()
        assert held is not None
        assert (held.epoch, held.version, held.confirmed_at) == (1, 9, None)
        assert await store.attendee_count() == 2
    finally:
        await store.close()


async def test_a_snapshot_change_writes_only_the_delta(store: Store) -> None:
    t1, t3 = b"1" * 32, b"3" * 32
    held = _entries(**{"1": b"a", "2": b"b"})
    await store.save_snapshot(SnapshotState(1, 5, held, signature=b"S" * 64, public_key=b"P" * 32))
    added, removed = {t3: _sealed(b"c")}, [b"2" * 32]
    changed = SnapshotState(
        1, 6, held.apply(added.items(), removed), datetime.now(UTC), b"T" * 64, b"P" * 32
    )
    await store.save_snapshot_change(changed, added, removed)
    loaded = await store.load_snapshot()
    assert _held(loaded) == (1, 6, [(t1, _sealed(b"a")), (t3, _sealed(b"c"))])
    assert loaded is not None
    assert (loaded.signature, loaded.public_key, loaded.verified) == (b"T" * 64, b"P" * 32, True)
    assert loaded.entries.root == changed.entries.root


async def test_a_change_to_the_next_epochs_snapshot_writes_only_the_delta(store: Store) -> None:
    await store.save_snapshot(SnapshotState(1, 5, _entries(a=b"a")))
    waiting = _entries(b=b"b", c=b"c")
    seen = datetime(2027, 5, 1, 12, tzinfo=UTC)
    await store.save_next_snapshot(SnapshotState(2, 6, waiting, seen))
    added, removed = {b"d" * 32: _sealed(b"d")}, [b"b" * 32]
    moved = SnapshotState(2, 7, waiting.apply(added.items(), removed), seen, b"S" * 64)
    await store.save_next_snapshot_change(moved, added, removed)
    loaded = await store.load_next_snapshot()
    assert _held(loaded) == (2, 7, [(b"c" * 32, _sealed(b"c")), (b"d" * 32, _sealed(b"d"))])
    assert loaded is not None
    assert (loaded.confirmed_at, loaded.signature, loaded.verified) == (seen, b"S" * 64, True)
    assert _held(await store.load_snapshot()) == (1, 5, [(b"a" * 32, _sealed(b"a"))])


async def test_a_large_snapshot_round_trips_in_tag_order(store: Store) -> None:
    entries = SnapshotEntries.build(snapshot.padding_entry() for _ in range(5000))
    await store.save_snapshot(SnapshotState(3, 9, entries))
    await store.save_next_snapshot(SnapshotState(4, 1, entries, datetime.now(UTC)))
    for loaded in (await store.load_snapshot(), await store.load_next_snapshot()):
        assert loaded is not None
        assert (len(loaded.entries), loaded.entries.root) == (5000, entries.root)
        assert list(loaded.entries) == list(entries)


async def test_a_damaged_stored_snapshot_says_so(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = await SqliteStore.open(path)
    try:
        entries = _entries(a=b"1", b=b"2", c=b"3")
        await store.save_snapshot(SnapshotState(1, 5, entries))
        await store.save_next_snapshot(SnapshotState(2, 1, entries, datetime.now(UTC)))
        async with store.pool.write() as db:
            # One sealed byte changed, one row gone: neither leads to the stored root.
            await db.execute(
                "UPDATE snapshot_entries SET sealed = ? WHERE tag = ?", (_sealed(b"9"), b"b" * 32)
            )
            await db.execute("DELETE FROM next_snapshot_entries WHERE tag = ?", (b"a" * 32,))
        with pytest.raises(SnapshotCorrupt, match="does not lead to the root"):
            await store.load_snapshot()
        with pytest.raises(SnapshotCorrupt, match="does not lead to the root"):
            await store.load_next_snapshot()
        async with store.pool.write() as db:
            await db.execute(
                "UPDATE snapshot_entries SET sealed = x'00' WHERE tag = ?", (b"b" * 32,)
            )
        with pytest.raises(SnapshotCorrupt, match="sealed snapshot entry must be"):
            await store.load_snapshot()
    finally:
        await store.close()


async def test_migration_11_keeps_a_snapshot_stored_without_a_root_as_unverified(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    old = await sqlite.connect(path, MIGRATIONS[:10])
    entries = _entries(x=b"1", y=b"2")
    try:
        await old.execute(
            "INSERT INTO snapshot_state (id, epoch, version, confirmed_at) "
            "VALUES (1, 1, 7, '2027-01-01T00:00:00+00:00')"
        )
        await old.executemany(
            "INSERT INTO snapshot_entries (tag, sealed) VALUES (?, ?)", list(entries)
        )
        await old.commit()
    finally:
        await old.close()
    store = await SqliteStore.open(path)
    try:
        held = await store.load_snapshot()
        assert _held(held) == (1, 7, list(entries))
        assert held is not None
        assert (held.verified, held.signature, held.entries.root) == (False, b"", entries.root)
        assert await store.load_next_snapshot() is None
        # Saved again (after a full fetch), it carries its root and loads as verified.
        await store.save_snapshot(SnapshotState(1, 8, entries, signature=b"S" * 64))
        again = await store.load_snapshot()
        assert again is not None
        assert (again.version, again.verified, again.signature) == (8, True, b"S" * 64)
    finally:
        await store.close()


async def test_alerts_name_their_rows_and_what_they_were(store: Store) -> None:
    """One alert for two rows of one identity (a file row and a check), the result each
    had before kept with it, and the file and line of a row without a reference."""
    y = os.urandom(32)
    run = await store.open_run("d", "attendee", "plain", "daily.csv")
    [in_file] = await store.commit_rows(
        run.run_id, 2, 1, [_ada(y, os.urandom(32), 2, "line 2")], []
    )
    [checked] = await store.commit_rows(None, 0, 1, [_ada(y, os.urandom(32), None, "ORD-9")], [])
    change = Change(
        [(in_file, CLEAR), (checked, CLEAR)],
        [NewAlert(in_file, "cleared", CLEAR, DENY, (checked,))],
        8,
    )
    [raised] = await store.apply(change)
    assert (raised.ref, raised.source, raised.line, raised.label) == (
        "line 2",
        "daily.csv",
        2,
        "daily.csv line 2",
    )
    assert (raised.kind, raised.result, raised.previous, raised.record_ref) == (
        "cleared",
        CLEAR,
        DENY,
        "WG-1",
    )
    assert [(o.attendee_id, o.label, o.source, o.line) for o in raised.also] == [
        (checked, "ORD-9", "", None)
    ]
    assert await store.alerts() == [raised]
    assert await store.delete_attendees() == 2
    assert await store.alerts(include_acknowledged=True) == []


async def test_migration_12_keeps_alerts_stored_before_it(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    old = await sqlite.connect(path, MIGRATIONS[:11])
    try:
        await old.executescript(
            "INSERT INTO runs (run_id, digest, role, layout, source, started_at) "
            "VALUES (1, 'd', 'attendee', 'plain', 'daily.csv', '2027-01-01T00:00:00+00:00');"
            "INSERT INTO attendees (attendee_id, run_id, line, ref, role, decision, reason, "
            "record_ref, created_at) VALUES (1, 1, 2, 'line 2', 'attendee', 'allow', '', '', "
            "'2027-01-01T00:00:00+00:00');"
            "INSERT INTO alerts (alert_id, attendee_id, kind, decision, reason, record_ref, "
            "snapshot_version, raised_at) VALUES (1, 1, 'cleared', 'allow', '', '', 7, "
            "'2027-01-02T00:00:00+00:00');"
        )
    finally:
        await old.close()
    store = await SqliteStore.open(path)
    try:
        [kept] = await store.alerts()
        assert (kept.alert_id, kept.kind, kept.result, kept.snapshot_version) == (
            1,
            "cleared",
            CLEAR,
            7,
        )
        # Nothing was kept of what it cleared; where the row came from is known.
        assert (kept.previous, kept.record_ref, kept.also) == (None, "", ())
        assert kept.label == "daily.csv line 2"
        # New alerts after the migration keep what they were and every row.
        [raised] = await store.apply(
            Change([(1, DENY)], [NewAlert(1, "new-match", DENY, CLEAR)], 8)
        )
        assert (raised.alert_id, raised.previous, raised.record_ref) == (2, CLEAR, "WG-1")
    finally:
        await store.close()
