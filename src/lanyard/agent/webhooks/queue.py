"""The receivers' durable queue (webhooks.db): a delivery is stored before it is answered.

Each delivery is one row keyed by the sender's own id, so a replay finds its row and is
dropped. The payload (which may hold names and e-mail addresses) is kept only until the
delivery is processed, then erased (secure_delete is on). Alerts raised for sales are kept
beside it, one per change of decision for a ticket or order.

Every operation is one SQL statement, so the receiver and the worker may share the
connection without interleaving half-done transactions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from lanyard.agent.errors import DataDirError
from lanyard.agent.screening.decision import Result
from lanyard.core import sqlite

MIGRATIONS = (
    """
    CREATE TABLE deliveries (
        delivery_id INTEGER PRIMARY KEY,
        vendor TEXT NOT NULL,
        key TEXT NOT NULL,
        payload BLOB,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        received_at REAL NOT NULL,
        done_at REAL,
        ref TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '',
        UNIQUE (vendor, key)
    );
    CREATE INDEX deliveries_due ON deliveries (state, next_at);
    CREATE TABLE sale_alerts (
        alert_id INTEGER PRIMARY KEY,
        vendor TEXT NOT NULL,
        ref TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        record_ref TEXT NOT NULL,
        delivery_id INTEGER NOT NULL,
        raised_at REAL NOT NULL
    );
    CREATE INDEX sale_alerts_ref ON sale_alerts (vendor, ref)
    """,
)

QUEUED, DONE, DROPPED = "queued", "done", "dropped"


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    vendor: str
    key: str
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery's state: "queued" (waiting or retrying), "done" or "dropped" (could
    never be processed: a malformed payload, an order the vendor no longer has)."""

    delivery_id: int
    vendor: str
    key: str
    state: str
    attempts: int
    last_error: str
    ref: str
    outcome: str


@dataclass(frozen=True, slots=True)
class SaleAlert:
    alert_id: int
    vendor: str
    ref: str  # the vendor's order code or ticket reference
    decision: str  # "review" | "deny" | "unscreened"
    reason: str
    record_ref: str
    raised_at: float  # seconds since the epoch


def _delivery(r: Any) -> Delivery:
    return Delivery(
        r["delivery_id"],
        r["vendor"],
        r["key"],
        r["state"],
        r["attempts"],
        r["last_error"],
        r["ref"],
        r["outcome"],
    )


class DeliveryQueue:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> DeliveryQueue:
        # FULL: a delivery answered 200 must survive a power cut; the sender won't resend.
        try:
            return cls(await sqlite.connect(path, MIGRATIONS, synchronous="FULL"))
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    async def close(self) -> None:
        await self._db.close()

    async def enqueue(
        self, vendor: str, key: str, payload: bytes, replay_window: float | None = None
    ) -> int | None:
        """Store a delivery; returns its id, or None when it is a replay.

        With `replay_window` (seconds), a delivery whose key was processed longer ago than
        that is queued again (for senders whose key is not unique per change)."""
        now = time.time()
        row = await sqlite.fetch_one(
            self._db,
            "INSERT INTO deliveries (vendor, key, payload, state, next_at, received_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?) "
            "ON CONFLICT (vendor, key) DO UPDATE SET payload = excluded.payload, "
            "state = 'queued', attempts = 0, next_at = excluded.next_at, "
            "received_at = excluded.received_at, last_error = '', outcome = '', done_at = NULL "
            "WHERE deliveries.state != 'queued' AND ? IS NOT NULL AND deliveries.done_at < ? "
            "RETURNING delivery_id",
            (vendor, key, payload, now, now, replay_window, now - (replay_window or 0)),
        )
        return int(row[0]) if row else None

    async def due(self, limit: int = 20) -> list[Job]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT delivery_id, vendor, key, payload, attempts FROM deliveries "
            "WHERE state = 'queued' AND next_at <= ? ORDER BY next_at LIMIT ?",
            (time.time(), limit),
        )
        return [Job(r[0], r[1], r[2], bytes(r[3] or b""), r[4]) for r in rows]

    async def next_due(self) -> float | None:
        """When the earliest queued delivery is due (seconds since the epoch), or None."""
        row = await sqlite.fetch_one(
            self._db, "SELECT min(next_at) FROM deliveries WHERE state = 'queued'"
        )
        return float(row[0]) if row and row[0] is not None else None

    async def finish(self, delivery_id: int, state: str, ref: str, outcome: str) -> None:
        """Done or dropped: the payload is erased, the outcome (a decision, no names) kept."""
        await self._db.execute(
            "UPDATE deliveries SET state = ?, payload = NULL, done_at = ?, ref = ?, "
            "outcome = ?, attempts = attempts + 1 WHERE delivery_id = ?",
            (state, time.time(), ref, outcome, delivery_id),
        )

    async def retry(self, delivery_id: int, delay: float, error: str) -> None:
        await self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? "
            "WHERE delivery_id = ?",
            (time.time() + delay, error, delivery_id),
        )

    async def forget_finished(self, before: float) -> int:
        """Delete deliveries done or dropped before `before` (seconds since the epoch):
        they are kept only to recognise a sender's late retries. Returns how many."""
        async with self._db.execute(
            "DELETE FROM deliveries WHERE state != 'queued' AND done_at < ?", (before,)
        ) as cursor:
            return cursor.rowcount

    async def delivery(self, vendor: str, key: str) -> Delivery | None:
        row = await sqlite.fetch_one(
            self._db, "SELECT * FROM deliveries WHERE vendor = ? AND key = ?", (vendor, key)
        )
        return _delivery(row) if row else None

    async def deliveries(self) -> list[Delivery]:
        rows = await sqlite.fetch_all(self._db, "SELECT * FROM deliveries ORDER BY delivery_id")
        return [_delivery(r) for r in rows]

    async def raise_alert(
        self, vendor: str, ref: str, decision: str, result: Result, delivery_id: int
    ) -> int | None:
        """An alert for a sale, unless the newest alert for this ref says the same;
        returns its id, or None when nothing changed."""
        row = await sqlite.fetch_one(
            self._db,
            "INSERT INTO sale_alerts (vendor, ref, decision, reason, record_ref, delivery_id, "
            "raised_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM sale_alerts "
            "WHERE alert_id = (SELECT max(alert_id) FROM sale_alerts WHERE vendor = ? AND "
            "ref = ?) AND decision = ? AND reason = ? AND record_ref = ?) RETURNING alert_id",
            (
                vendor,
                ref,
                decision,
                result.reason.value,
                result.record_ref,
                delivery_id,
                time.time(),
                vendor,
                ref,
                decision,
                result.reason.value,
                result.record_ref,
            ),
        )
        return int(row[0]) if row else None

    async def alerts(self) -> list[SaleAlert]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT alert_id, vendor, ref, decision, reason, record_ref, raised_at "
            "FROM sale_alerts ORDER BY alert_id",
        )
        return [SaleAlert(*tuple(r)) for r in rows]
