"""The outbox's contract: what a sealed report goes through until the registry receipts it.

Every outbox implementation runs these; SQLite is the one there is. Concurrent writers are
the normal case (`report submit` beside `agent serve`'s drain), so the last test runs many.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lanyard.agent.outbox import Outbox
from lanyard.wire.registry.v1 import reports_pb2


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    opened = await Outbox.open(tmp_path / "agent.db")
    try:
        yield opened
    finally:
        await opened.close()


class TestOutboxContract:
    async def test_a_sealed_report_waits_until_it_is_receipted(self, outbox: Outbox) -> None:
        await outbox.put("s1", b"envelope", b"s" * 64, covers="1:3")
        [entry] = await outbox.pending()
        assert (entry.submission_id, entry.envelope, entry.covers) == ("s1", b"envelope", "1:3")
        assert (entry.attempts, entry.receipt) == (0, None)
        receipt = reports_pb2.Receipt(submission_id="s1", log_index=7)
        await outbox.receipted("s1", receipt)
        assert await outbox.pending() == []
        kept = await outbox.get("s1")
        assert kept is not None
        assert kept.receipt == receipt
        assert kept.envelope == b"envelope"  # never resealed: what was sent is what is kept

    async def test_failures_are_counted_and_the_last_reason_kept(self, outbox: Outbox) -> None:
        await outbox.put("s1", b"e", b"s" * 64)
        await outbox.failed("s1", "UNAVAILABLE: first")
        await outbox.failed("s1", "RESOURCE_EXHAUSTED: " + "x" * 1000)
        entry = await outbox.get("s1")
        assert entry is not None
        assert entry.attempts == 2
        assert entry.last_error.startswith("RESOURCE_EXHAUSTED")
        assert len(entry.last_error) <= 500

    async def test_verification_time_is_recorded(self, outbox: Outbox) -> None:
        await outbox.put("s1", b"e", b"s" * 64)
        at = datetime(2027, 5, 4, 12, 0, tzinfo=UTC)
        await outbox.verified("s1", at)
        entry = await outbox.get("s1")
        assert entry is not None
        assert entry.verified_at == at.isoformat(timespec="seconds")

    async def test_an_unknown_submission_is_none(self, outbox: Outbox) -> None:
        assert await outbox.get("nope") is None

    async def test_concurrent_writers_lose_nothing(self, outbox: Outbox) -> None:
        ids = [f"s{i:02d}" for i in range(24)]
        await asyncio.gather(*(outbox.put(i, i.encode(), b"s" * 64) for i in ids))
        await asyncio.gather(
            *(outbox.failed(i, "UNAVAILABLE") for i in ids),
            *(outbox.failed(i, "UNAVAILABLE") for i in ids),
        )
        entries = await outbox.entries()
        assert sorted(e.submission_id for e in entries) == ids
        assert {e.attempts for e in entries} == {2}
