"""The agent's Store on SQLite (lanyard/core/sqlite.py): WAL, secure_delete, batches.

A small pool of connections: every method is one unit of work on a connection it alone
holds, every change one BEGIN IMMEDIATE transaction, so concurrent Checks, the snapshot
follower and the retention sweep never see each other's half-done work.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from lanyard.agent.errors import Conflict, DataDirError, SnapshotCorrupt
from lanyard.agent.migrations import MIGRATIONS
from lanyard.agent.screening.decision import Decision, Reason, Result
from lanyard.agent.store import (
    Alert,
    AlertRow,
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
from lanyard.core import snapshot_stream, sqlite
from lanyard.core.errors import SignatureError
from lanyard.core.identity import Kind

LOAD_BATCH = 8192  # snapshot rows fetched per thread hop when loading
RESULTS_BATCH = 500  # attendee ids per query (well under SQLite's variable limit)
KEY_READ_MAX = 16  # keys read on the event loop's thread (Pool.key_read)
SMALL_UNIT_ROWS = 4  # people (and skipped rows) stored on it (Pool.transact small)


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


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteStore(Store):
    def __init__(self, pool: sqlite.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, path: Path, pool_size: int = 8) -> SqliteStore:
        # Screening results can be rebuilt from the export; NORMAL keeps WAL consistent
        # and spares an fsync per registration check.
        try:
            return cls(
                await sqlite.Pool.open(path, MIGRATIONS, synchronous="NORMAL", size=pool_size)
            )
        except sqlite.DatabaseError as exc:
            raise DataDirError(str(exc)) from exc

    @property
    def pool(self) -> sqlite.Pool:
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._pool.read() as db:
            return await sqlite.fetch_one(db, sql, params)

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._pool.read() as db:
            return await sqlite.fetch_all(db, sql, params)

    # -- snapshot ------------------------------------------------------------------------
    async def _load(self, state_table: str, entries_table: str, when: str) -> SnapshotState | None:
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                row = await sqlite.fetch_one(
                    db,
                    f"SELECT epoch, version, {when}, root, signature, public_key "  # noqa: S608 - fixed names
                    f"FROM {state_table}",
                )
                if row is None:
                    return None
                # In tag order (the table's key), a batch at a time: the entries are
                # packed as they come, never all held as rows at once.
                builder = snapshot_stream.InOrderBuilder()
                async with db.execute(
                    f"SELECT tag, sealed FROM {entries_table} ORDER BY tag"  # noqa: S608 - fixed names
                ) as cursor:
                    while rows := await cursor.fetchmany(LOAD_BATCH):
                        builder.extend((r[0], r[1]) for r in rows)
            except SignatureError as exc:
                raise SnapshotCorrupt(f"the stored snapshot is damaged: {exc}") from exc
            finally:
                await db.execute("COMMIT")
        entries = builder.finish()
        root = row[3]
        if root is not None and bytes(root) != entries.root:
            raise SnapshotCorrupt(
                f"the stored snapshot (version {row[1]}, {len(entries)} entries) does not "
                "lead to the root stored with it"
            )
        return SnapshotState(
            row[0],
            row[1],
            entries,
            _time(row[2]),
            bytes(row[4] or b""),
            bytes(row[5] or b""),
            verified=root is not None,
        )

    async def load_snapshot(self) -> SnapshotState | None:
        return await self._load("snapshot_state", "snapshot_entries", "confirmed_at")

    async def load_next_snapshot(self) -> SnapshotState | None:
        return await self._load("next_snapshot", "next_snapshot_entries", "seen_at")

    @staticmethod
    async def _write(
        db: aiosqlite.Connection, state: SnapshotState, state_table: str, entries_table: str
    ) -> None:
        """Replace a snapshot with `state`: every entry, inserted in tag order straight from
        the packed buckets (no list of rows is built)."""
        at = (state.confirmed_at or datetime.now(UTC)).isoformat(timespec="seconds")
        when = "confirmed_at" if state_table == "snapshot_state" else "seen_at"
        await db.execute(f"DELETE FROM {entries_table}")  # noqa: S608 - fixed names
        await db.executemany(
            f"INSERT INTO {entries_table} (tag, sealed) VALUES (?, ?)",  # noqa: S608 - fixed names
            iter(state.entries),
        )
        await db.execute(
            f"INSERT INTO {state_table} (id, epoch, version, {when}, root, signature, "  # noqa: S608 - fixed names
            "public_key) VALUES (1, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, "
            f"version = excluded.version, {when} = excluded.{when}, root = excluded.root, "
            "signature = excluded.signature, public_key = excluded.public_key",
            (state.epoch, state.version, at, state.entries.root, state.signature, state.public_key),
        )

    @classmethod
    async def _save(cls, db: aiosqlite.Connection, state: SnapshotState) -> None:
        await cls._write(db, state, "snapshot_state", "snapshot_entries")

    async def save_snapshot(self, state: SnapshotState) -> None:
        async with self._pool.write() as db:
            await self._save(db, state)

    async def _change(
        self,
        state: SnapshotState,
        added: dict[bytes, bytes],
        removed: list[bytes],
        state_table: str,
        entries_table: str,
    ) -> None:
        """Move a stored snapshot to `state` by writing only what a delta changed."""
        at = (state.confirmed_at or datetime.now(UTC)).isoformat(timespec="seconds")
        when = "confirmed_at" if state_table == "snapshot_state" else "seen_at"
        async with self._pool.write() as db:
            await db.executemany(
                f"DELETE FROM {entries_table} WHERE tag = ?",  # noqa: S608 - fixed names
                [(t,) for t in removed],
            )
            await db.executemany(
                f"INSERT OR REPLACE INTO {entries_table} (tag, sealed) VALUES (?, ?)",  # noqa: S608 - fixed names
                list(added.items()),
            )
            await db.execute(
                f"UPDATE {state_table} SET epoch = ?, version = ?, {when} = ?, root = ?, "  # noqa: S608 - fixed names
                "signature = ?, public_key = ?",
                (
                    state.epoch,
                    state.version,
                    at,
                    state.entries.root,
                    state.signature,
                    state.public_key,
                ),
            )

    async def save_snapshot_change(
        self, state: SnapshotState, added: dict[bytes, bytes], removed: list[bytes]
    ) -> None:
        await self._change(state, added, removed, "snapshot_state", "snapshot_entries")

    async def save_next_snapshot_change(
        self, state: SnapshotState, added: dict[bytes, bytes], removed: list[bytes]
    ) -> None:
        await self._change(state, added, removed, "next_snapshot", "next_snapshot_entries")

    async def confirm_snapshot(self, at: datetime) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE snapshot_state SET confirmed_at = ?", (at.isoformat(timespec="seconds"),)
            )

    async def save_next_snapshot(self, state: SnapshotState) -> None:
        async with self._pool.write() as db:
            await self._write(db, state, "next_snapshot", "next_snapshot_entries")

    async def switch_epoch(self, state: SnapshotState) -> None:
        async with self._pool.write() as db:
            row = await sqlite.fetch_one(
                db,
                "SELECT count(*) FROM points WHERE epoch != ?1 "
                "AND (next_epoch IS NULL OR next_epoch != ?1)",
                (state.epoch,),
            )
            if int(row[0]):
                raise Conflict(
                    f"{int(row[0])} identities are not yet evaluated under epoch {state.epoch}"
                )
            await db.execute(
                "UPDATE points SET epoch = next_epoch, y = next_y, next_epoch = NULL, "
                "next_y = NULL WHERE next_epoch = ?",
                (state.epoch,),
            )
            await db.execute("UPDATE points SET next_epoch = NULL, next_y = NULL")
            await self._save(db, state)
            await db.execute("DELETE FROM next_snapshot_entries")
            await db.execute("DELETE FROM next_snapshot")

    # -- runs ----------------------------------------------------------------------------
    async def open_run(self, digest: str, role: str, layout: str, source: str) -> Run:
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO runs (digest, role, layout, source, started_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest, role, layout) DO NOTHING",
                (digest, role, layout, source, _now()),
            )
            row = await sqlite.fetch_one(
                db,
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
        now = _now()

        def unit(db: sqlite3.Connection) -> list[int]:
            # Ids are assigned here, under the write lock, so the batch is a few
            # executemany calls rather than one statement per person.
            first = (
                int(db.execute("SELECT coalesce(max(attendee_id), 0) FROM attendees").fetchone()[0])
                + 1
            )
            ids = list(range(first, first + len(screened)))
            idents = [(aid, i) for aid, p in zip(ids, screened, strict=True) for i in p.identities]
            db.executemany(
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
            # One row per identity: a known one keeps its row; a point of a newer epoch
            # (evaluated during a rotation) waits as its next point.
            db.executemany(
                "INSERT INTO points (message, kind, epoch, y) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (message) DO UPDATE SET next_epoch = excluded.epoch, "
                "next_y = excluded.y WHERE excluded.epoch > points.epoch",
                [(i.message, i.kind.value, epoch, i.y) for _, i in idents],
            )
            db.executemany(
                "INSERT INTO identities (attendee_id, kind, message) VALUES (?, ?, ?)",
                [(aid, i.kind.value, i.message) for aid, i in idents],
            )
            if run_id is not None:
                db.executemany(
                    "INSERT OR IGNORE INTO skipped (run_id, line, ref, reason) VALUES (?, ?, ?, ?)",
                    [(run_id, s.line, s.ref, s.reason) for s in skipped],
                )
                db.execute(
                    "UPDATE runs SET last_line = max(last_line, ?) WHERE run_id = ?",
                    (last_line, run_id),
                )
            return ids

        # A Check's rows commit on the event loop's thread, a screening batch in one
        # hand-off to a connection's thread (Pool.transact): never one per statement.
        return await self._pool.transact(
            unit, small=len(screened) + len(skipped) <= SMALL_UNIT_ROWS
        )

    async def run_line(self, run_id: int) -> int:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(
                db, "SELECT last_line FROM runs WHERE run_id = ?", (run_id,)
            )
        return int(row[0]) if row is not None else 0

    async def finish_run(self, run_id: int) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE runs SET finished_at = coalesce(finished_at, ?) WHERE run_id = ?",
                (_now(), run_id),
            )

    async def run_report(self, run_id: int) -> RunReport:
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                # A row's decision is the strongest of its people's (attendee, buyer).
                counted = await sqlite.fetch_all(
                    db,
                    "SELECT CASE d WHEN 2 THEN 'deny' WHEN 1 THEN 'review' ELSE 'allow' END, "
                    "count(*) FROM (SELECT max(CASE decision WHEN 'deny' THEN 2 WHEN 'review' "
                    "THEN 1 ELSE 0 END) AS d FROM attendees WHERE run_id = ? GROUP BY abs(line)) "
                    "GROUP BY d",
                    (run_id,),
                )
                matched = await sqlite.fetch_all(
                    db,
                    "SELECT * FROM attendees WHERE run_id = ? AND decision != 'allow' "
                    "ORDER BY abs(line), line DESC",
                    (run_id,),
                )
                skipped_rows = await sqlite.fetch_all(
                    db,
                    "SELECT line, ref, reason FROM skipped WHERE run_id = ? ORDER BY line",
                    (run_id,),
                )
            finally:
                await db.execute("COMMIT")
        counts = {r[0]: r[1] for r in counted}
        matches = [
            Outcome(
                r["attendee_id"],
                r["ref"],
                r["role"],
                *_person(r["line"])[:1],
                _result(r),
                _person(r["line"])[1],
            )
            for r in matched
        ]
        skipped = [Skipped(r[0], r[1], r[2]) for r in skipped_rows]
        return RunReport(sum(counts.values()), counts, matches, skipped)

    # -- identities ----------------------------------------------------------------------
    async def known_points(self, messages: list[bytes], epoch: int) -> dict[bytes, bytes]:
        if not messages:
            return {}
        marks = ", ".join("?" * len(messages))
        # A Check's few keys are read on the event loop's thread (Pool.key_read); a
        # screening batch's thousand on a connection's thread, not holding up the loop.
        read = self._pool.key_read if len(messages) <= KEY_READ_MAX else self._all
        rows = await read(
            "SELECT message, CASE WHEN epoch = ?1 THEN y ELSE next_y END FROM points "  # noqa: S608 - placeholders only
            f"WHERE (epoch = ?1 OR next_epoch = ?1) AND message IN ({marks})",
            (epoch, *messages),
        )
        return {bytes(r[0]): bytes(r[1]) for r in rows}

    async def identities(self, epoch: int) -> list[tuple[int, Kind, bytes]]:
        rows = await self._all(
            "SELECT i.attendee_id, i.kind, CASE WHEN p.epoch = ?1 THEN p.y ELSE p.next_y END "
            "FROM identities i JOIN points p USING (message) "
            "WHERE p.epoch = ?1 OR p.next_epoch = ?1",
            (epoch,),
        )
        return [(r[0], Kind(r[1]), bytes(r[2])) for r in rows]

    async def identities_after(
        self, epoch: int, after_id: int
    ) -> tuple[int, list[tuple[int, Kind, bytes]]]:
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                top = await sqlite.fetch_one(
                    db, "SELECT coalesce(max(attendee_id), 0) FROM attendees"
                )
                rows = await sqlite.fetch_all(
                    db,
                    "SELECT i.attendee_id, i.kind, "
                    "CASE WHEN p.epoch = ?1 THEN p.y ELSE p.next_y END "
                    "FROM identities i JOIN points p USING (message) "
                    "WHERE i.attendee_id > ?2 AND (p.epoch = ?1 OR p.next_epoch = ?1)",
                    (epoch, after_id),
                )
            finally:
                await db.execute("COMMIT")
        return int(top[0]), [(r[0], Kind(r[1]), bytes(r[2])) for r in rows]

    async def stale_identities(self, epoch: int, limit: int) -> list[tuple[Kind, bytes]]:
        rows = await self._all(
            "SELECT kind, message FROM points WHERE epoch != ?1 "
            "AND (next_epoch IS NULL OR next_epoch != ?1) ORDER BY message LIMIT ?2",
            (epoch, limit),
        )
        return [(Kind(r[0]), bytes(r[1])) for r in rows]

    async def pending_count(self, epoch: int) -> int:
        row = await self._one(
            "SELECT count(*) FROM points WHERE epoch != ?1 "
            "AND (next_epoch IS NULL OR next_epoch != ?1)",
            (epoch,),
        )
        return int(row[0])

    async def stage_points(self, epoch: int, points: list[tuple[bytes, bytes]]) -> None:
        async with self._pool.write() as db:
            await db.executemany(
                "UPDATE points SET next_epoch = ?, next_y = ? WHERE message = ? AND epoch != ?",
                [(epoch, y, m, epoch) for m, y in points],
            )

    async def results(self) -> dict[int, Result]:
        rows = await self._all("SELECT attendee_id, decision, reason, record_ref FROM attendees")
        return {r[0]: _result(r) for r in rows}

    async def results_of(self, attendee_ids: list[int]) -> dict[int, Result]:
        out: dict[int, Result] = {}
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                for start in range(0, len(attendee_ids), RESULTS_BATCH):
                    part = attendee_ids[start : start + RESULTS_BATCH]
                    rows = await sqlite.fetch_all(
                        db,
                        "SELECT attendee_id, decision, reason, record_ref FROM attendees "  # noqa: S608 - placeholders only
                        f"WHERE attendee_id IN ({', '.join('?' * len(part))})",
                        tuple(part),
                    )
                    out.update((r[0], _result(r)) for r in rows)
            finally:
                await db.execute("COMMIT")
        return out

    async def apply(self, change: Change) -> list[Alert]:
        now = _now()
        async with self._pool.write() as db:
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
                "snapshot_version, raised_at, previous_decision, previous_reason, "
                "previous_record_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        alert_id,
                        a.attendee_id,
                        a.kind,
                        a.result.decision.value,
                        a.result.reason.value,
                        a.result.record_ref,
                        change.snapshot_version,
                        now,
                        *(
                            (None, None, None)
                            if a.previous is None
                            else (
                                a.previous.decision.value,
                                a.previous.reason.value,
                                a.previous.record_ref,
                            )
                        ),
                    )
                    for alert_id, a in zip(ids, change.alerts, strict=True)
                ],
            )
            await db.executemany(
                "INSERT OR IGNORE INTO alert_rows (alert_id, attendee_id) VALUES (?, ?)",
                [
                    (alert_id, other)
                    for alert_id, a in zip(ids, change.alerts, strict=True)
                    for other in a.also
                    if other != a.attendee_id
                ],
            )
        return await self._alerts(f"al.alert_id BETWEEN {ids[0]} AND {ids[-1]}") if ids else []

    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]:
        return await self._alerts("1" if include_acknowledged else "al.acknowledged_at IS NULL")

    async def _alerts(self, where: str) -> list[Alert]:
        """The alerts `where` (fixed SQL over `al`, the alerts table) selects, by id, each
        with its rows: the file each was screened from, the line, the result before."""
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                rows = await sqlite.fetch_all(
                    db,
                    "SELECT al.*, at.ref, at.line, coalesce(ru.source, '') AS source "  # noqa: S608 - fixed text
                    "FROM alerts al JOIN attendees at USING (attendee_id) "
                    f"LEFT JOIN runs ru ON ru.run_id = at.run_id WHERE {where} "
                    "ORDER BY al.alert_id",
                )
                others = await sqlite.fetch_all(
                    db,
                    "SELECT ar.alert_id, ar.attendee_id, at.ref, at.line, "  # noqa: S608 - fixed text
                    "coalesce(ru.source, '') AS source FROM alert_rows ar "
                    "JOIN alerts al USING (alert_id) JOIN attendees at ON at.attendee_id = "
                    "ar.attendee_id LEFT JOIN runs ru ON ru.run_id = at.run_id "
                    f"WHERE {where} ORDER BY ar.alert_id, ar.attendee_id",
                )
            finally:
                await db.execute("COMMIT")
        also: dict[int, list[AlertRow]] = {}
        for r in others:
            line, person = _person(r["line"])
            also.setdefault(r["alert_id"], []).append(
                AlertRow(r["attendee_id"], r["ref"], r["source"], line, person)
            )
        alerts: list[Alert] = []
        for r in rows:
            line, person = _person(r["line"])
            previous = (
                None
                if r["previous_decision"] is None
                else Result(
                    Decision(r["previous_decision"]),
                    Reason(r["previous_reason"]),
                    r["previous_record_ref"],
                )
            )
            alerts.append(
                Alert(
                    r["alert_id"],
                    r["attendee_id"],
                    r["ref"],
                    r["kind"],
                    _result(r),
                    r["snapshot_version"],
                    datetime.fromisoformat(r["raised_at"]),
                    person,
                    r["source"],
                    line,
                    previous,
                    tuple(also.get(r["alert_id"], ())),
                )
            )
        return alerts

    async def acknowledge(self, alert_ids: list[int] | None, at: datetime) -> list[int]:
        return await self._acknowledge("alerts", "alert_id", alert_ids, at)

    async def acknowledge_faults(self, fault_ids: list[int] | None, at: datetime) -> list[int]:
        return await self._acknowledge("registry_faults", "fault_id", fault_ids, at)

    async def _acknowledge(
        self, table: str, key: str, ids: list[int] | None, at: datetime
    ) -> list[int]:
        """Mark open rows of `table` (alerts or registry_faults, by `key`) acknowledged."""
        when = at.isoformat(timespec="seconds")
        update = f"UPDATE {table} SET acknowledged_at = ? WHERE acknowledged_at IS NULL"  # noqa: S608 - fixed names
        async with self._pool.write() as db:
            if ids is None:
                rows = await sqlite.fetch_all(db, f"{update} RETURNING {key}", (when,))
            else:
                rows = []
                for one in ids:
                    rows += await sqlite.fetch_all(
                        db, f"{update} AND {key} = ? RETURNING {key}", (when, one)
                    )
        return sorted(int(r[0]) for r in rows)

    async def add_registry_fault(self, kind: str, detail: str) -> FaultAlert:
        now = _now()
        async with self._pool.write() as db:
            row = await sqlite.fetch_one(
                db,
                "INSERT INTO registry_faults (kind, detail, raised_at) VALUES (?, ?, ?) "
                "RETURNING fault_id",
                (kind, detail, now),
            )
        return FaultAlert(int(row[0]), kind, detail, datetime.fromisoformat(now))

    async def registry_faults(self, include_acknowledged: bool = False) -> list[FaultAlert]:
        async with self._pool.read() as db:
            rows = await sqlite.fetch_all(
                db,
                "SELECT fault_id, kind, detail, raised_at FROM registry_faults "  # noqa: S608 - fixed text
                + ("" if include_acknowledged else "WHERE acknowledged_at IS NULL ")
                + "ORDER BY fault_id",
            )
        return [FaultAlert(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]

    async def attendee_count(self) -> int:
        row = await self._one("SELECT count(*) FROM attendees")
        return int(row[0])

    async def delete_attendees(self) -> int:
        async with self._pool.write() as db:
            row = await sqlite.fetch_one(db, "SELECT count(*) FROM attendees")
            count = int(row[0])
            for table in (
                "alert_rows",
                "alerts",
                "identities",
                "points",
                "skipped",
                "attendees",
                "runs",
            ):
                await db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            await db.execute(
                "INSERT INTO retention_done (id, at, attendees) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET at = excluded.at, "
                "attendees = attendees + excluded.attendees",
                (_now(), count),
            )
        await self._pool.checkpoint()
        return count

    async def retention_done(self) -> datetime | None:
        row = await self._one("SELECT at FROM retention_done")
        return _time(row[0]) if row else None

    # -- integrations --------------------------------------------------------------------
    async def add_integration(self, name: str, public_key: bytes) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO integrations (name, public_key, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET public_key = excluded.public_key, "
                "revoked_at = NULL, created_at = excluded.created_at, previous_key = NULL",
                (name, public_key, _now()),
            )

    async def integration_key(self, name: str) -> bytes | None:
        row = await self._one(
            "SELECT public_key FROM integrations WHERE name = ? AND revoked_at IS NULL", (name,)
        )
        return bytes(row[0]) if row else None

    async def revoke_integration(self, name: str) -> None:
        async with self._pool.write() as db:
            await db.execute(
                "UPDATE integrations SET revoked_at = ?, previous_key = NULL "
                "WHERE name = ? AND revoked_at IS NULL",
                (_now(), name),
            )

    async def integration_keys(self, name: str) -> list[bytes]:
        rows = await self._pool.key_read(
            "SELECT public_key, previous_key FROM integrations "
            "WHERE name = ? AND revoked_at IS NULL",
            (name,),
        )
        if not rows:
            return []
        row = rows[0]
        return [bytes(row[0])] + ([bytes(row[1])] if row[1] is not None else [])

    async def rotate_integration(self, name: str, public_key: bytes) -> bool:
        async with self._pool.write() as db:
            cur = await db.execute(
                "UPDATE integrations SET previous_key = public_key, public_key = ? "
                "WHERE name = ? AND revoked_at IS NULL",
                (public_key, name),
            )
            return cur.rowcount == 1

    async def retire_previous_integration_key(self, name: str) -> bool:
        async with self._pool.write() as db:
            cur = await db.execute(
                "UPDATE integrations SET previous_key = NULL "
                "WHERE name = ? AND revoked_at IS NULL AND previous_key IS NOT NULL",
                (name,),
            )
            return cur.rowcount == 1
