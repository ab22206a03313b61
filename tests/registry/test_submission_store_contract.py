"""The SubmissionStore contract (report readers and the submission log), on every
implementation; SQLite is the one there is. The recipient set is versioned: each change
is one new version, and a reader's admin key comes and goes with them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lanyard.registry.errors import AlreadyExists
from lanyard.registry.sqlite_store import SqliteStore
from lanyard.registry.submission_store import SqliteSubmissionStore, SubmissionStore
from lanyard.wire.registry.v1 import reports_pb2


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SubmissionStore]]:
    records = await SqliteStore.open(tmp_path / "registry.db", create=True)
    try:
        yield records, SqliteSubmissionStore(records.pool)
    finally:
        await records.close()


def _reader(name: str, fill: int) -> reports_pb2.Recipient:
    return reports_pb2.Recipient(
        name=name, encryption_key=bytes([fill]) * 32, signing_key=bytes([fill + 1]) * 32
    )


class TestSubmissionStoreContract:
    async def test_each_change_of_readers_is_one_new_version(
        self, stores: tuple[SqliteStore, SubmissionStore]
    ) -> None:
        records, subs = stores
        start, readers = await subs.recipients()
        assert readers == []
        v1 = await subs.put_recipient(_reader("wg-alex", 1))
        v2 = await subs.put_recipient(_reader("wg-bo", 3))
        assert (v1, v2) == (start + 1, start + 2)
        version, readers = await subs.recipients()
        assert version == v2
        assert [r.name for r in readers] == ["wg-alex", "wg-bo"]
        # A reader is an admin key with the reader role, in the same transaction.
        assert await records.admin("wg-alex") == (bytes([2]) * 32, "reader")

        v3 = await subs.put_recipient(_reader("wg-alex", 7))  # new keys replace the old
        _, readers = await subs.recipients()
        assert v3 == v2 + 1
        assert [bytes(r.encryption_key) for r in readers if r.name == "wg-alex"] == [
            bytes([7]) * 32
        ]

        assert await subs.remove_recipient("wg-alex") == v3 + 1
        assert await records.admin("wg-alex") is None  # its key goes with it
        assert await subs.remove_recipient("wg-alex") is None  # nothing changed
        assert (await subs.recipients())[0] == v3 + 1

    async def test_an_operators_name_is_not_a_readers(
        self, stores: tuple[SqliteStore, SubmissionStore]
    ) -> None:
        records, subs = stores
        await records.add_admin("operator", bytes([9]) * 32)
        before = await subs.recipients()
        with pytest.raises(AlreadyExists, match="operator"):
            await subs.put_recipient(_reader("operator", 1))
        assert await subs.recipients() == before
        assert await records.admin("operator") == (bytes([9]) * 32, "operator")

    async def test_concurrent_changes_each_get_their_own_version(
        self, stores: tuple[SqliteStore, SubmissionStore]
    ) -> None:
        _, subs = stores
        start, _ = await subs.recipients()
        versions = await asyncio.gather(
            *(subs.put_recipient(_reader(f"wg-{i:02d}", i)) for i in range(16))
        )
        assert sorted(versions) == list(range(start + 1, start + 17))
        version, readers = await subs.recipients()
        assert (version, len(readers)) == (start + 16, 16)

    async def test_an_empty_log(self, stores: tuple[SqliteStore, SubmissionStore]) -> None:
        _, subs = stores
        assert await subs.leaves() == []
        assert await subs.summaries() == []
        assert await subs.get("0" * 32) is None
        assert await subs.event_at(0) is None
        assert await subs.recent("agentconf-2027", "2000-01-01") == (0, 0)
