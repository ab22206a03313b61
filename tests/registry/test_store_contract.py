"""The Store contract: every implementation runs this same class (today: SQLite)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lanyard.core.evaluation_log import Leaf
from lanyard.registry.errors import (
    AlreadyExists,
    InvalidRequest,
    LogOutOfStep,
    NotFound,
    QuotaExhausted,
)
from lanyard.registry.sqlite_store import SqliteStore
from lanyard.registry.store import (
    Change,
    Claim,
    Entry,
    Event,
    LiveEntry,
    LoggedEvaluation,
    Record,
    RecordEvent,
    Store,
)

StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    opened: list[Store] = []

    async def factory() -> Store:
        store = await SqliteStore.open(tmp_path / "registry.db", create=True)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


def _event(event_id: str = "conf-2027", quota: int = 10) -> Event:
    return Event(event_id, "Conf", date(2027, 1, 1), date(2027, 1, 2), b"k" * 32, quota)


def _logged(index: int, caller: str, event_id: str, points: int) -> LoggedEvaluation:
    leaf = Leaf(caller, event_id, 1, points, f"2027-05-01T10:00:{index:02d}+00:00", b"h" * 32)
    return LoggedEvaluation(index, leaf)


def _entry(i: int, ref: str | None) -> Entry:
    return Entry(bytes([i]) * 32, os.urandom(136), ref)


class TestStoreContract:
    async def test_fresh_state(self, make_store: StoreFactory) -> None:
        store = await make_store()
        assert await store.current_epoch() == 1
        assert await store.snapshot_version() == 0
        assert await store.live_entries() == []

    async def test_events(self, make_store: StoreFactory) -> None:
        store = await make_store()
        stored = await store.add_event(_event())
        assert stored.used == 0
        assert stored.created_at is not None
        with pytest.raises(AlreadyExists):
            await store.add_event(_event())
        first = await store.revoke_event("conf-2027", datetime(2027, 2, 1, tzinfo=UTC))
        again = await store.revoke_event("conf-2027", datetime(2027, 3, 1, tzinfo=UTC))
        assert first.revoked_at == again.revoked_at
        with pytest.raises(NotFound):
            await store.revoke_event("nope", datetime.now(UTC))
        assert [e.event_id for e in await store.list_events()] == ["conf-2027"]

    async def test_quota_is_atomic(self, make_store: StoreFactory) -> None:
        store = await make_store()
        await store.add_event(_event(quota=10))
        assert await store.reserve_evaluations("conf-2027", 7) == 3
        with pytest.raises(QuotaExhausted, match="7 used, 4 requested"):
            await store.reserve_evaluations("conf-2027", 4)
        assert await store.reserve_evaluations("conf-2027", 3) == 0
        with pytest.raises(NotFound):
            await store.reserve_evaluations("nope", 1)

    async def test_charge_and_log_leaf_are_one_transaction(self, make_store: StoreFactory) -> None:
        store = await make_store()
        await store.add_event(_event(quota=10))
        assert await store.reserve_evaluations("conf-2027", 4, _logged(0, "event:c", "c", 4)) == 6
        # A leaf out of step is refused and the quota is not charged.
        with pytest.raises(LogOutOfStep):
            await store.reserve_evaluations("conf-2027", 2, _logged(5, "event:c", "c", 2))
        # A refused charge logs nothing.
        with pytest.raises(QuotaExhausted):
            await store.reserve_evaluations("conf-2027", 7, _logged(1, "event:c", "c", 7))
        event = await store.get_event("conf-2027")
        assert event is not None
        assert event.used == 4
        logged = await store.list_evaluations()
        assert [(e.log_index, e.leaf.points) for e in logged] == [(0, 4)]
        assert await store.evaluation_hashes() == [logged[0].leaf.hash()]

    async def test_admin_leaves_and_claims(self, make_store: StoreFactory) -> None:
        store = await make_store()
        await store.append_evaluation(_logged(0, "admin:operator", "admin", 2))
        await store.append_evaluation(_logged(1, "admin:operator", "admin", 1))
        await store.append_evaluation(_logged(2, "admin:operator", "admin", 500))
        with pytest.raises(LogOutOfStep):
            await store.append_evaluation(_logged(1, "admin:operator", "admin", 1))
        # Without indexes (an older client), a change of 2 points claims the newest
        # unclaimed leaf of exactly 2 points in its epoch: never a larger probe.
        assert await store.claim(Claim("admin:operator", "WG-1", 2, 1)) == [0]
        assert await store.claim(Claim("admin:operator", "WG-2", 2, 1)) == []
        assert await store.claim(Claim("admin:operator", "WG-2", 1, 2)) == []  # epoch 2
        assert await store.claim(Claim("admin:reader", "WG-3", 1, 1)) == []
        logged = await store.list_evaluations(event_id="admin")
        assert [(e.log_index, e.record_ref) for e in logged] == [(0, "WG-1"), (1, None), (2, None)]
        assert await store.list_evaluations(since="2027-05-01T10:00:01") == logged[1:]
        assert await store.list_evaluations(event_id="conf-2027") == []
        # A record added with a claim takes it in the same transaction.
        await store.apply(
            Change(
                add_record=Record("WG-4", "flagged", None),
                add_points=[b"c" * 32],
                claim=Claim("admin:operator", "WG-4", 1, 1),
            )
        )
        claimed = await store.list_evaluations(event_id="admin")
        assert [(e.log_index, e.record_ref, e.records) for e in claimed] == [
            (0, "WG-1", 1),
            (1, "WG-4", 1),
            (2, None, 0),
        ]

    async def test_claims_by_index(self, make_store: StoreFactory) -> None:
        store = await make_store()
        leaves = [("admin:operator", 3, 1), ("admin:reader", 2, 1), ("admin:operator", 2, 1)]
        for index, (caller, points, epoch) in enumerate(leaves):
            leaf = _logged(index, caller, "admin", points)
            await store.append_evaluation(replace(leaf, leaf=replace(leaf.leaf, epoch=epoch)))

        def batch(ref: str, claim: Claim) -> Change:
            return Change(
                add_records=[(Record(ref, "flagged", None), [bytes([len(ref)]) * 32])],
                add_records_history=[],
                claim=claim,
            )

        refused = [
            (Claim("admin:operator", "B-1", 10, 1, (1,)), "leaf 1 is not an unclaimed"),
            (Claim("admin:operator", "B-1", 10, 1, (7,)), "leaf 7 is not an unclaimed"),
            (Claim("admin:operator", "B-1", 10, 2, (0,)), "leaf 0 is not an unclaimed"),
            (Claim("admin:operator", "B-1", 10, 1, (0, 0)), "names a leaf twice"),
        ]
        for claim, words in refused:
            with pytest.raises(InvalidRequest, match=words):
                await store.apply(batch("B-1", claim))
        # Refused claims added nothing: the records neither, in the same transaction.
        assert await store.get_record("B-1") is None
        # Leaves of more points than the change carries are left unclaimed; the change
        # stands.
        await store.apply(batch("B-0", Claim("admin:operator", "B-0", 4, 1, (0, 2))))
        assert await store.get_record("B-0") is not None
        assert all(e.record_ref is None for e in await store.list_evaluations())

        await store.apply(batch("B-1", Claim("admin:operator", "B-1", 5, 1, (0, 2), records=40)))
        logged = await store.list_evaluations()
        assert [(e.record_ref, e.records) for e in logged] == [("B-1", 40), (None, 0), ("B-1", 40)]
        with pytest.raises(InvalidRequest, match="leaf 2 is not an unclaimed"):
            await store.claim(Claim("admin:operator", "B-22", 5, 1, (2,)))

    async def test_apply_and_delta(self, make_store: StoreFactory) -> None:
        store = await make_store()
        v1 = await store.apply(Change(add_entries=[_entry(1, None), _entry(2, None)]))
        rec = Record("WG-1", "banned", date(2030, 1, 1))
        v2 = await store.apply(
            Change(
                add_record=rec,
                add_points=[b"y" * 32],
                add_entries=[_entry(3, "WG-1")],
                remove_tags=[_entry(1, None).tag],
            )
        )
        assert (v1, v2) == (1, 2)
        delta = await store.delta_since(1)
        assert delta is not None
        assert [e.tag for e in delta.added] == [_entry(3, None).tag]
        assert delta.removed_tags == [_entry(1, None).tag]
        full = await store.delta_since(0)
        assert full is not None
        assert sorted(e.tag for e in full.added) == sorted(
            [_entry(2, None).tag, _entry(3, None).tag]
        )
        assert await store.delta_since(3) is None
        # A delta larger than the bound is not read at all.
        assert await store.delta_since(0, max_added=1) is None
        bounded = await store.delta_since(0, max_added=2)
        assert bounded is not None
        assert len(bounded.added) == 2
        assert await store.delta_since(1, max_removed=0) is None
        assert await store.delta_since(1, max_removed=1) == delta
        stored = await store.get_record("WG-1")
        assert stored is not None
        assert stored.identifier_count == 1

    async def test_failed_change_changes_nothing(self, make_store: StoreFactory) -> None:
        store = await make_store()
        rec = Record("WG-1", "flagged", None)
        await store.apply(
            Change(add_record=rec, add_points=[b"y" * 32], add_entries=[_entry(1, "WG-1")])
        )
        with pytest.raises(AlreadyExists):
            await store.apply(Change(add_record=rec, add_entries=[_entry(2, "WG-1")]))
        with pytest.raises(NotFound):
            await store.apply(Change(remove_refs=["WG-404"], remove_tags=[_entry(1, None).tag]))
        assert await store.snapshot_version() == 1
        assert [e.tag for e in await store.live_entries()] == [_entry(1, None).tag]

    async def test_records_sharing_a_point(self, make_store: StoreFactory) -> None:
        store = await make_store()
        y = b"s" * 32
        await store.apply(Change(add_record=Record("A", "flagged", None), add_points=[y]))
        await store.apply(Change(add_record=Record("B", "banned", None), add_points=[y, b"t" * 32]))
        shared = await store.sharing_points(["B"])
        assert [(r.record_ref, p) for r, p in shared] == [("A", y)]
        await store.apply(Change(remove_refs=["A"]))
        assert await store.sharing_points(["B"]) == []

    async def test_update_keeps_history_and_points(self, make_store: StoreFactory) -> None:
        store = await make_store()
        y, z = b"u" * 32, b"v" * 32
        await store.apply(
            Change(
                add_record=Record("U", "flagged", None, submission_id="ab" * 32),
                add_points=[y],
                history=RecordEvent("alice", "added", "flagged"),
            )
        )
        version = await store.apply(
            Change(
                update_record=Record("U", "banned", date(2030, 1, 1), ban_until=date(2028, 1, 1)),
                add_points=[z],
                history=RecordEvent("operator", "updated", "status flagged -> banned"),
            )
        )
        rec = await store.get_record("U")
        assert rec is not None
        assert (rec.status, rec.expires_on, rec.ban_until, rec.submission_id) == (
            "banned",
            date(2030, 1, 1),
            date(2028, 1, 1),
            "ab" * 32,
        )
        assert rec.identifier_count == 2
        assert rec.updated_at is not None
        epoch = await store.current_epoch()
        assert await store.record_points("U", epoch) == sorted([y, z])
        history = await store.record_history("U")
        assert [(h.member, h.action, h.version) for h in history] == [
            ("alice", "added", version - 1),
            ("operator", "updated", version),
        ]
        with pytest.raises(NotFound):
            await store.apply(Change(update_record=Record("NOPE", "banned", None)))
        assert await store.snapshot_version() == version
        await store.apply(Change(remove_refs=["U"]))
        assert await store.record_history("U") == []

    async def test_expired_refs(self, make_store: StoreFactory) -> None:
        store = await make_store()
        await store.apply(
            Change(add_record=Record("OLD", "flagged", date(2026, 1, 1)), add_points=[b"a" * 32])
        )
        await store.apply(
            Change(add_record=Record("NEW", "flagged", date(2099, 1, 1)), add_points=[b"b" * 32])
        )
        await store.apply(Change(add_record=Record("EVER", "banned", None), add_points=[b"c" * 32]))
        assert await store.expired_refs(date(2027, 1, 1)) == ["OLD"]

    async def test_batch_of_records_is_one_change(self, make_store: StoreFactory) -> None:
        store = await make_store()
        batch = [(Record(f"R{i}", "flagged", None), [bytes([i]) * 32]) for i in range(1, 4)]
        version = await store.apply(
            Change(add_records=batch, add_entries=[_entry(i, f"R{i}") for i in range(1, 4)])
        )
        assert version == 1
        assert await store.existing_refs(["R1", "R3", "R9"]) == {"R1", "R3"}
        assert [r.identifier_count for r in await store.list_records()] == [1, 1, 1]
        clash = [(Record("R4", "banned", None), [b"4" * 32]), batch[1]]
        with pytest.raises(AlreadyExists):
            await store.apply(Change(add_records=clash, add_entries=[_entry(4, "R4")]))
        assert await store.existing_refs(["R4"]) == set()
        assert await store.snapshot_version() == 1
        assert len(await store.live_entries()) == 3

    async def test_holding_points_and_extending(self, make_store: StoreFactory) -> None:
        store = await make_store()
        y, z = b"h" * 32, b"i" * 32
        await store.apply(
            Change(add_record=Record("A", "flagged", date(2027, 1, 1)), add_points=[y, z])
        )
        await store.apply(Change(add_record=Record("B", "flagged", None), add_points=[b"j" * 32]))
        assert [(r.record_ref, p) for r, p in await store.holding([y])] == [("A", y)]
        assert await store.holding([]) == []
        assert await store.points_of(["A"]) == [("A", y), ("A", z)]
        await store.apply(
            Change(
                add_record=Record("C", "flagged", date(2030, 1, 1)),
                extend=[("A", date(2030, 1, 1))],
            )
        )
        a = await store.get_record("A")
        assert a is not None
        assert a.expires_on == date(2030, 1, 1)

    async def test_retention_schedule(self, make_store: StoreFactory) -> None:
        store = await make_store()
        assert await store.retention() == {"flagged_months": 26, "banned_months_after_ban": 26}
        await store.set_retention({"flagged_months": 12, "banned_months_after_ban": 30})
        assert await store.retention() == {"flagged_months": 12, "banned_months_after_ban": 30}

    async def test_key_transitions(self, make_store: StoreFactory) -> None:
        store = await make_store()
        assert await store.key_transitions() == []
        await store.add_key_transition(1, b"n" * 32, b"first")
        await store.add_key_transition(2, b"m" * 32, b"second")
        with pytest.raises(AlreadyExists):
            await store.add_key_transition(2, b"o" * 32, b"race")
        assert await store.key_transitions() == [b"first", b"second"]

    async def test_event_rekey_keeps_history(self, make_store: StoreFactory) -> None:
        store = await make_store()
        await store.add_event(_event())
        rekeyed = await store.rekey_event("conf-2027", b"k" * 32, b"l" * 32)
        assert (rekeyed.public_key, rekeyed.retired_keys) == (b"l" * 32, (b"k" * 32,))
        with pytest.raises(AlreadyExists):
            await store.rekey_event("conf-2027", b"k" * 32, b"p" * 32)
        with pytest.raises(NotFound):
            await store.rekey_event("nope", b"k" * 32, b"p" * 32)
        [listed] = await store.list_events()
        assert listed.retired_keys == (b"k" * 32,)

    async def test_admin_keys(self, make_store: StoreFactory) -> None:
        store = await make_store()
        assert await store.admin("operator") is None
        await store.add_admin("operator", b"a" * 32)
        assert await store.admin("operator") == (b"a" * 32, "operator")

    async def test_live_entries_by_bucket_tag_and_record(self, make_store: StoreFactory) -> None:
        store = await make_store()

        def entry(prefix: bytes, ref: str | None) -> Entry:
            return Entry(prefix + os.urandom(32 - len(prefix)), os.urandom(136), ref)

        # Bucket 0x0102 holds two entries (given out of order), bucket 0xffff one whose
        # tag is all 0xff (the top of the last range), bucket 0x0103 one of padding.
        a2, a1 = entry(b"\x01\x02\xf0", "A"), entry(b"\x01\x02\x00", "B")
        top, pad = Entry(b"\xff" * 32, os.urandom(136), "A"), entry(b"\x01\x03", None)
        await store.apply(
            Change(
                add_records=[
                    (Record("A", "banned", None), [b"a" * 32]),
                    (Record("B", "flagged", None), [b"b" * 32]),
                ],
                add_entries=[a2, top, a1, pad],
            )
        )
        got = await store.bucket_entries([0x0102, 0xFFFF, 0x0103, 7])
        assert got == {
            0x0102: a1.tag + a1.sealed + a2.tag + a2.sealed,
            0xFFFF: top.tag + top.sealed,
            0x0103: pad.tag + pad.sealed,
            7: b"",
        }
        assert await store.bucket_entries([]) == {}
        owners = await store.live_owners([a1.tag, pad.tag, b"z" * 32, a1.tag])
        assert owners == {
            a1.tag: LiveEntry(a1.sealed, "B", "flagged"),
            pad.tag: LiveEntry(pad.sealed, None, None),
        }
        assert sorted(await store.live_tags_of(["A", "NOPE"])) == sorted([a2.tag, top.tag])
        assert await store.padding_tags() == [pad.tag]
        await store.apply(Change(remove_refs=["B"], remove_tags=[a1.tag]))
        assert (await store.bucket_entries([0x0102]))[0x0102] == a2.tag + a2.sealed
        assert await store.live_owners([a1.tag]) == {}
        assert await store.live_tags_of(["B"]) == []

    async def test_live_reader_stays_at_its_version(self, make_store: StoreFactory) -> None:
        store = await make_store()
        first = [_entry(i, None) for i in (3, 1, 2)]
        await store.apply(Change(add_entries=first))
        reader = await store.live_reader()
        try:
            assert reader.version == 1
            await store.apply(Change(add_entries=[_entry(0, None)], remove_tags=[first[0].tag]))
            assert await store.snapshot_version() == 2
            read = [pair async for chunk in reader.chunks(2) for pair in chunk]
        finally:
            await reader.close()
        assert read == sorted((e.tag, e.sealed) for e in first)
        reader = await store.live_reader()
        try:
            chunks = [chunk async for chunk in reader.chunks(2)]
        finally:
            await reader.close()
        assert [len(c) for c in chunks] == [2, 1]
        assert [t for c in chunks for t, _ in c] == [_entry(i, None).tag for i in (0, 1, 2)]


async def test_sqlite_reopens_and_keeps_data(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "r.db", create=True)
    await store.add_event(_event())
    await store.close()
    store = await SqliteStore.open(tmp_path / "r.db")
    try:
        assert (await store.get_event("conf-2027")) is not None
    finally:
        await store.close()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "r.db", create=True)
    try:
        # Every connection of the pool, not just the first: hold several at once.
        async with store.pool.read() as a, store.pool.read() as b, store.pool.read() as c:
            for db in (a, b, c):
                for pragma, expected in [
                    ("journal_mode", "wal"),
                    ("secure_delete", 1),
                    ("synchronous", 2),
                    ("foreign_keys", 1),
                    ("busy_timeout", 5000),
                ]:
                    async with db.execute(f"PRAGMA {pragma}") as cur:
                        row = await cur.fetchone()
                    assert row is not None
                    assert row[0] == expected, pragma
    finally:
        await store.close()


async def test_removed_entries_keep_no_sealed_box(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "r.db", create=True)
    try:
        entry = _entry(9, "WG-1")
        await store.apply(
            Change(
                add_record=Record("WG-1", "banned", None),
                add_points=[b"y" * 32],
                add_entries=[entry],
            )
        )
        await store.apply(Change(remove_refs=["WG-1"], remove_tags=[entry.tag]))
    finally:
        await store.close()
    for name in os.listdir(tmp_path):
        assert entry.sealed not in (tmp_path / name).read_bytes(), name
        assert b"y" * 32 not in (tmp_path / name).read_bytes(), name
