"""The agent's Store on SQLite (lanyard/core/sqlite.py): WAL, secure_delete, batches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from lanyard.agent.errors import DataDirError
from lanyard.agent.migrations import MIGRATIONS
from lanyard.agent.screening.decision import Decision, Reason, Result
from lanyard.agent.store import (
    Alert,
    Change,
    FaultAlert,
    Outcome,
    Run,
    RunReport,
    Screened,
    Skipped,
    SnapshotState,
    Store,
)
from lanyard.core import sqlite
from lanyard.core.identity import Kind


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stored_line(p: Screened) -> int | None:
    """A row's buyer is stored under the row's line negated: (run, line) stays unique and
    the attendee and the buyer of one row are told apart without another column."""
    return -p.line if p.person == "buyer" and p.line is not None else p.line


def _person(line: int | None) -> tuple[int | None, str]:
    return (None, "attendee") if line is None else (abs(line), "buyer" if line < 0 else "attendee")


def _result(row: Any) -> Result:
    return Result(Decision(row["decision"]), Reason(row["reason"]), row["record_ref"])


class SqliteStore(Store):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        # Screening results can be rebuilt from the export; NORMAL keeps WAL consistent
        # and spares an fsync per registration check.
        try:
            return cls(await sqlite.connect(path, MIGRATIONS, synchronous="NORMAL"))
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    async def close(self) -> None:
        await self._db.close()

    async def _tx_begin(self) -> None:
        await self._db.execute("BEGIN IMMEDIATE")

    # -- snapshot ------------------------------------------------------------------------
    async def load_snapshot(self) -> SnapshotState | None:
        row = await sqlite.fetch_one(self._db, "SELECT epoch, version FROM snapshot_state")
        if row is None:
            return None
        rows = await sqlite.fetch_all(self._db, "SELECT tag, sealed FROM snapshot_entries")
        return SnapshotState(row[0], row[1], {bytes(r[0]): bytes(r[1]) for r in rows})

    async def save_snapshot(self, state: SnapshotState) -> None:
        await self._tx_begin()
        try:
            await self._db.execute("DELETE FROM snapshot_entries")
            await self._db.executemany(
                "INSERT INTO snapshot_entries (tag, sealed) VALUES (?, ?)",
                list(state.entries.items()),
            )
            await self._db.execute(
                "INSERT INTO snapshot_state (id, epoch, version) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, "
                "version = excluded.version",
                (state.epoch, state.version),
            )
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise

    # -- runs ----------------------------------------------------------------------------
    async def open_run(self, digest: str, role: str, layout: str, source: str) -> Run:
        await self._db.execute(
            "INSERT INTO runs (digest, role, layout, source, started_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (digest, role, layout) DO NOTHING",
            (digest, role, layout, source, _now()),
        )
        row = await sqlite.fetch_one(
            self._db,
            "SELECT run_id, last_line, finished_at FROM runs "
            "WHERE digest = ? AND role = ? AND layout = ?",
            (digest, role, layout),
        )
        return Run(row[0], row[1], row[2] is not None)

    async def commit_rows(
        self,
        run_id: int | None,
        last_line: int,
        epoch: int,
        screened: list[Screened],
        skipped: list[Skipped],
    ) -> list[int]:
        db = self._db
        now = _now()
        await self._tx_begin()
        try:
            # Ids are assigned here, under the write lock, so the batch is two executemany
            # calls rather than one round trip per person.
            row = await sqlite.fetch_one(db, "SELECT coalesce(max(attendee_id), 0) FROM attendees")
            first = int(row[0]) + 1
            ids = list(range(first, first + len(screened)))
            await db.executemany(
                "INSERT INTO attendees (attendee_id, run_id, line, ref, role, decision, reason, "
                "record_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        aid,
                        run_id,
                        _stored_line(p),
                        p.ref,
                        p.role,
                        p.result.decision.value,
                        p.result.reason.value,
                        p.result.record_ref,
                        now,
                    )
                    for aid, p in zip(ids, screened, strict=True)
                ],
            )
            await db.executemany(
                "INSERT INTO identities (attendee_id, kind, message, epoch, y) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (aid, ident.kind.value, ident.message, epoch, ident.y)
                    for aid, p in zip(ids, screened, strict=True)
                    for ident in p.identities
                ],
            )
            if run_id is not None:
                await db.executemany(
                    "INSERT OR IGNORE INTO skipped (run_id, line, ref, reason) VALUES (?, ?, ?, ?)",
                    [(run_id, s.line, s.ref, s.reason) for s in skipped],
                )
                await db.execute(
                    "UPDATE runs SET last_line = max(last_line, ?) WHERE run_id = ?",
                    (last_line, run_id),
                )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return ids

    async def finish_run(self, run_id: int) -> None:
        await self._db.execute(
            "UPDATE runs SET finished_at = coalesce(finished_at, ?) WHERE run_id = ?",
            (_now(), run_id),
        )

    async def run_report(self, run_id: int) -> RunReport:
        # A row's decision is the strongest of its people's (attendee, buyer).
        counts = {
            r[0]: r[1]
            for r in await sqlite.fetch_all(
                self._db,
                "SELECT CASE d WHEN 2 THEN 'deny' WHEN 1 THEN 'review' ELSE 'allow' END, "
                "count(*) FROM (SELECT max(CASE decision WHEN 'deny' THEN 2 WHEN 'review' "
                "THEN 1 ELSE 0 END) AS d FROM attendees WHERE run_id = ? GROUP BY abs(line)) "
                "GROUP BY d",
                (run_id,),
            )
        }
        matches = [
            Outcome(
                r["attendee_id"],
                r["ref"],
                r["role"],
                *_person(r["line"])[:1],
                _result(r),
                _person(r["line"])[1],
            )
            for r in await sqlite.fetch_all(
                self._db,
                "SELECT * FROM attendees WHERE run_id = ? AND decision != 'allow' "
                "ORDER BY abs(line), line DESC",
                (run_id,),
            )
        ]
        skipped = [
            Skipped(r[0], r[1], r[2])
            for r in await sqlite.fetch_all(
                self._db,
                "SELECT line, ref, reason FROM skipped WHERE run_id = ? ORDER BY line",
                (run_id,),
            )
        ]
        return RunReport(sum(counts.values()), counts, matches, skipped)

    # -- identities ----------------------------------------------------------------------
    async def known_points(self, messages: list[bytes], epoch: int) -> dict[bytes, bytes]:
        if not messages:
            return {}
        marks = ", ".join("?" * len(messages))
        rows = await sqlite.fetch_all(
            self._db,
            f"SELECT message, y FROM identities WHERE epoch = ? AND message IN ({marks})",  # noqa: S608 - placeholders only
            (epoch, *messages),
        )
        return {bytes(r[0]): bytes(r[1]) for r in rows}

    async def identities(self, epoch: int) -> list[tuple[int, Kind, bytes]]:
        rows = await sqlite.fetch_all(
            self._db, "SELECT attendee_id, kind, y FROM identities WHERE epoch = ?", (epoch,)
        )
        return [(r[0], Kind(r[1]), bytes(r[2])) for r in rows]

    async def stale_identities(self, epoch: int, limit: int) -> list[tuple[int, Kind, bytes]]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT attendee_id, kind, message FROM identities WHERE epoch != ? LIMIT ?",
            (epoch, limit),
        )
        return [(r[0], Kind(r[1]), bytes(r[2])) for r in rows]

    async def update_points(self, epoch: int, points: list[tuple[int, Kind, bytes]]) -> None:
        await self._db.executemany(
            "UPDATE identities SET epoch = ?, y = ? WHERE attendee_id = ? AND kind = ?",
            [(epoch, y, aid, kind.value) for aid, kind, y in points],
        )

    async def results(self) -> dict[int, Result]:
        rows = await sqlite.fetch_all(
            self._db, "SELECT attendee_id, decision, reason, record_ref FROM attendees"
        )
        return {r[0]: _result(r) for r in rows}

    async def apply(self, change: Change) -> list[Alert]:
        db = self._db
        now = _now()
        await self._tx_begin()
        try:
            await db.executemany(
                "UPDATE attendees SET decision = ?, reason = ?, record_ref = ? "
                "WHERE attendee_id = ?",
                [
                    (r.decision.value, r.reason.value, r.record_ref, aid)
                    for aid, r in change.results
                ],
            )
            row = await sqlite.fetch_one(db, "SELECT coalesce(max(alert_id), 0) FROM alerts")
            ids = list(range(int(row[0]) + 1, int(row[0]) + 1 + len(change.alerts)))
            await db.executemany(
                "INSERT INTO alerts (alert_id, attendee_id, kind, decision, reason, record_ref, "
                "snapshot_version, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        alert_id,
                        aid,
                        kind,
                        r.decision.value,
                        r.reason.value,
                        r.record_ref,
                        change.snapshot_version,
                        now,
                    )
                    for alert_id, (aid, kind, r) in zip(ids, change.alerts, strict=True)
                ],
            )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        wanted = set(ids)
        return [a for a in await self.alerts() if a.alert_id in wanted]

    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT al.*, at.ref, at.line FROM alerts al JOIN attendees at USING (attendee_id) "  # noqa: S608 - fixed text
            + ("" if include_acknowledged else "WHERE al.acknowledged_at IS NULL ")
            + "ORDER BY al.alert_id",
        )
        return [
            Alert(
                r["alert_id"],
                r["attendee_id"],
                r["ref"],
                r["kind"],
                _result(r),
                r["snapshot_version"],
                datetime.fromisoformat(r["raised_at"]),
                _person(r["line"])[1],
            )
            for r in rows
        ]

    async def add_registry_fault(self, kind: str, detail: str) -> FaultAlert:
        now = _now()
        row = await sqlite.fetch_one(
            self._db,
            "INSERT INTO registry_faults (kind, detail, raised_at) VALUES (?, ?, ?) "
            "RETURNING fault_id",
            (kind, detail, now),
        )
        return FaultAlert(int(row[0]), kind, detail, datetime.fromisoformat(now))

    async def registry_faults(self, include_acknowledged: bool = False) -> list[FaultAlert]:
        rows = await sqlite.fetch_all(
            self._db,
            "SELECT fault_id, kind, detail, raised_at FROM registry_faults "  # noqa: S608 - fixed text
            + ("" if include_acknowledged else "WHERE acknowledged_at IS NULL ")
            + "ORDER BY fault_id",
        )
        return [FaultAlert(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]

    async def attendee_count(self) -> int:
        row = await sqlite.fetch_one(self._db, "SELECT count(*) FROM attendees")
        return int(row[0])

    async def delete_attendees(self) -> int:
        count = await self.attendee_count()
        await self._tx_begin()
        try:
            for table in ("alerts", "identities", "skipped", "attendees", "runs"):
                await self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    # -- integrations --------------------------------------------------------------------
    async def add_integration(self, name: str, public_key: bytes) -> None:
        await self._db.execute(
            "INSERT INTO integrations (name, public_key, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET public_key = excluded.public_key, "
            "revoked_at = NULL, created_at = excluded.created_at",
            (name, public_key, _now()),
        )

    async def integration_key(self, name: str) -> bytes | None:
        row = await sqlite.fetch_one(
            self._db,
            "SELECT public_key FROM integrations WHERE name = ? AND revoked_at IS NULL",
            (name,),
        )
        return bytes(row[0]) if row else None

    async def revoke_integration(self, name: str) -> None:
        await self._db.execute(
            "UPDATE integrations SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (_now(), name),
        )
