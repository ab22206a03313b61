"""The receivers' durable queue (webhooks.db): a delivery is stored before it is answered.

Each delivery is one row keyed by what the sender sent (its id, or the whole pointer). A
delivery whose key is already queued joins that row; once the row is processed, a
sender whose key is unique per change (pretix) is answered as a replay, while for a
pointer to the current state (Eventbrite) or a key that may repeat (Tito) the row is
queued again: a new change must be screened, and a real replay costs only a second look.
The row's generation counts deliveries, so a delivery that arrives while its row is being
processed makes the worker go round once more instead of finishing on what it read before.

The payload (which may hold names and e-mail addresses) is kept only until the delivery
is processed, then erased (secure_delete is on). Alerts raised for sales are kept beside
it, one per change of decision for a ticket or order.

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
    "ALTER TABLE deliveries ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
)

QUEUED, DONE, DROPPED = "queued", "done", "dropped"
# Outcomes of deliveries that were not screened because they are not this agent's to
# screen: an action that is not a sale (a Tito `registration.*`, a pretix payment), or a
# pretix pointer for another organiser or event.
IGNORED, OTHER_EVENT = "ignored", "other-event"


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    vendor: str
    key: str
    payload: bytes
    attempts: int
    generation: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery's state: "queued" (waiting or retrying), "done" or "dropped" (could
    never be processed: a malformed payload, an order the vendor no longer has; each drop
    raises an alert). `outcome` is the decision, IGNORED or OTHER_EVENT once done."""

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
    ref: str  # the vendor's order code or ticket reference; a dropped delivery's key
    decision: str  # "review" | "deny" | "unscreened"
    reason: str  # a match's reason, or why nobody was screened ("dropped: …", …)
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

    async def enqueue(self, vendor: str, key: str, payload: bytes, requeue: bool) -> int | None:
        """Store a delivery; returns its row's id, or None when it is a replay.

        A key already queued: with `requeue`, the row takes the new payload and its
        generation moves on (so a pass under way goes round again); without, a replay.
        A key processed before: with `requeue` (the key is not unique per change), or when
        the row was dropped, it is queued again; otherwise a replay."""
        now = time.time()
        row = await sqlite.fetch_one(
            self._db,
            "INSERT INTO deliveries (vendor, key, payload, state, next_at, received_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?) "
            "ON CONFLICT (vendor, key) DO UPDATE SET payload = excluded.payload, "
            "generation = deliveries.generation + 1, received_at = excluded.received_at, "
            # A queued row keeps its attempts and pause (it may be waiting out an outage).
            "attempts = iif(deliveries.state = 'queued', deliveries.attempts, 0), "
            "next_at = iif(deliveries.state = 'queued', deliveries.next_at, excluded.next_at), "
            "last_error = iif(deliveries.state = 'queued', deliveries.last_error, ''), "
            "state = 'queued', ref = '', outcome = '', done_at = NULL "
            "WHERE ? OR deliveries.state = 'dropped' "
            "RETURNING delivery_id",
            (vendor, key, payload, now, now, requeue),
        )
        return int(row[0]) if row else None

    async def note_ignored(self, vendor: str, key: str, outcome: str) -> None:
        """Keep a delivery that is not this agent's to screen, already finished and without
        its payload, so that status can count it (a replay of it changes nothing)."""
        now = time.time()
        await self._db.execute(
            "INSERT INTO deliveries (vendor, key, payload, state, next_at, received_at, "
            "done_at, outcome) VALUES (?, ?, NULL, 'done', ?, ?, ?, ?) "
            "ON CONFLICT (vendor, key) DO NOTHING",
            (vendor, key, now, now, now, outcome),
        )

    async def due(self, limit: int = 20) -> list[Job]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT delivery_id, vendor, key, payload, attempts, generation FROM deliveries "
            "WHERE state = 'queued' AND next_at <= ? ORDER BY next_at LIMIT ?",
            (time.time(), limit),
        )
        return [Job(r[0], r[1], r[2], bytes(r[3] or b""), r[4], r[5]) for r in rows]

    async def next_due(self) -> float | None:
        """When the earliest queued delivery is due (seconds since the epoch), or None."""
        row = await sqlite.fetch_one(
            self._db, "SELECT min(next_at) FROM deliveries WHERE state = 'queued'"
        )
        return float(row[0]) if row and row[0] is not None else None

    async def finish(self, job: Job, state: str, ref: str, outcome: str) -> bool:
        """Done or dropped: the payload is erased, the outcome (a decision, no names) kept.

        Returns False, and leaves the row queued and due at once, when a newer delivery
        for its key arrived while `job` was being processed: what the job read may predate
        the change that delivery announces."""
        row = await sqlite.fetch_one(
            self._db,
            # ?1 the generation read, ?2 the state, ?3 now, ?4 ref, ?5 outcome, ?6 the row.
            "UPDATE deliveries SET attempts = attempts + 1, "
            "state = iif(generation = ?1, ?2, 'queued'), "
            "payload = iif(generation = ?1, NULL, payload), "
            "done_at = iif(generation = ?1, ?3, NULL), "
            "next_at = iif(generation = ?1, next_at, ?3), "
            "ref = iif(generation = ?1, ?4, ''), "
            "outcome = iif(generation = ?1, ?5, '') "
            "WHERE delivery_id = ?6 RETURNING state",
            (job.generation, state, time.time(), ref, outcome, job.delivery_id),
        )
        return row is not None and row[0] != QUEUED

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
        self,
        vendor: str,
        ref: str,
        decision: str,
        reason: str,
        record_ref: str,
        delivery_id: int,
    ) -> int | None:
        """An alert for a sale (or, with its key as `ref`, for a dropped delivery), unless
        the newest alert for this ref says the same; returns its id, or None when nothing
        changed."""
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
                reason,
                record_ref,
                delivery_id,
                time.time(),
                vendor,
                ref,
                decision,
                reason,
                record_ref,
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
