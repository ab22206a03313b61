"""SqliteStore's record changes: one unit each, run whole on its connection's thread
(Pool.transact): the records, their points and history, the snapshot entries added and
tombstoned, and the evaluation log leaves the change claims (spec SCREEN-v1 §3b), all in
one transaction with the new snapshot version.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import structlog

from lanyard.registry.errors import AlreadyExists, InvalidRequest, NotFound
from lanyard.registry.store import Change, Claim

log = structlog.get_logger("lanyard.registry")


def now_text() -> str:
    """The time now as the registry's tables hold it (ISO 8601, UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def claim_leaves(db: sqlite3.Connection, claim: Claim) -> list[int]:
    """Claim's rule (store.Claim) on a change's unit, on its connection's thread: the
    indexes claimed (none when the leaves hold more points than the change carries).
    Raises InvalidRequest (rolling the whole change back) for a leaf that is not the
    caller's, not of the change's epoch, claimed already or named twice; the same words
    for each of a leaf's faults, so that one admin learns nothing of another's leaves
    from them."""
    at = now_text()
    if not claim.log_indexes:
        row = db.execute(
            "INSERT INTO evaluation_claims (log_index, record_ref, claimed_at, records) "
            "SELECT l.log_index, ?, ?, ? FROM evaluation_log l INDEXED BY evaluation_log_caller "
            "WHERE l.caller = ? AND l.points = ? AND l.epoch = ? "
            "AND NOT EXISTS (SELECT 1 FROM evaluation_claims c WHERE c.log_index = l.log_index) "
            "ORDER BY l.log_index DESC LIMIT 1 RETURNING log_index",
            (claim.record_ref, at, claim.records, claim.caller, claim.points, claim.epoch),
        ).fetchone()
        return [int(row[0])] if row else []
    if len(set(claim.log_indexes)) != len(claim.log_indexes):
        raise InvalidRequest("evaluation_log_indexes names a leaf twice")
    marks = ",".join("?" * len(claim.log_indexes))
    rows = db.execute(
        "SELECT l.log_index, l.caller, l.epoch, l.points, c.log_index IS NOT NULL "  # noqa: S608 - placeholders only
        "FROM evaluation_log l LEFT JOIN evaluation_claims c USING (log_index) "
        f"WHERE l.log_index IN ({marks})",
        claim.log_indexes,
    ).fetchall()
    found = {int(r[0]): (str(r[1]), int(r[2]), int(r[3]), bool(r[4])) for r in rows}
    total = 0
    for i, index in enumerate(claim.log_indexes):
        caller, epoch, points, claimed = found.get(index, ("", 0, 0, False))
        if caller != claim.caller or epoch != claim.epoch or claimed:
            raise InvalidRequest(
                f"evaluation_log_indexes[{i}]: leaf {index} is not an unclaimed evaluation "
                "of this admin key in this epoch"
            )
        total += points
    if total > claim.points:
        # More evaluated than the change shows, e.g. an import run again with
        # --skip-existing whose file holds other data under a reference that exists:
        # those points were evaluated for nothing. The change stands; its leaves stay
        # unclaimed, so the WG's readers see them among the evaluations with no record.
        log.warning(
            "registry.claim_left_unclaimed",
            caller=claim.caller,
            record_ref=claim.record_ref,
            leaf_points=total,
            change_points=claim.points,
        )
        return []
    db.executemany(
        "INSERT INTO evaluation_claims (log_index, record_ref, claimed_at, records) "
        "VALUES (?, ?, ?, ?)",
        [(index, claim.record_ref, at, claim.records) for index in claim.log_indexes],
    )
    return list(claim.log_indexes)


def _state(db: sqlite3.Connection, key: str) -> int:
    return int(db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()[0])


def apply(db: sqlite3.Connection, change: Change) -> int:
    """Store.apply's unit, on its connection's thread (Pool.transact): the new snapshot
    version. Raises NotFound, AlreadyExists, InvalidRequest (the unit rolls back)."""
    if change.claim is not None:
        # First: a claim refused costs the unit nothing else.
        claim_leaves(db, change.claim)
    version = _state(db, "version") + 1
    epoch = _state(db, "epoch")
    db.execute("UPDATE state SET value = ? WHERE key = 'version'", (version,))
    for ref in change.remove_refs:
        if db.execute("DELETE FROM records WHERE record_ref = ?", (ref,)).rowcount == 0:
            raise NotFound(f"no record {ref} exists")
        db.execute("DELETE FROM record_history WHERE record_ref = ?", (ref,))
    added = list(change.add_records)
    if change.add_record is not None:
        added.insert(0, (change.add_record, change.add_points))
    if added:
        created = now_text()
        try:
            db.executemany(
                "INSERT INTO records (record_ref, status, expires_on, created_at, "
                "ban_until, submission_id) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        rec.record_ref,
                        rec.status,
                        _iso(rec.expires_on),
                        created,
                        _iso(rec.ban_until),
                        rec.submission_id or None,
                    )
                    for rec, _ in added
                ],
            )
        except sqlite3.IntegrityError as exc:
            which = added[0][0].record_ref if len(added) == 1 else "of the batch"
            raise AlreadyExists(f"record {which} already exists") from exc
    if change.update_record is not None:
        upd = change.update_record
        cur = db.execute(
            "UPDATE records SET status = ?, expires_on = ?, ban_until = ?, "
            "updated_at = ? WHERE record_ref = ?",
            (upd.status, _iso(upd.expires_on), _iso(upd.ban_until), now_text(), upd.record_ref),
        )
        if cur.rowcount == 0:
            raise NotFound(f"no record {upd.record_ref} exists")
        added.append((upd, change.add_points))
    histories = [
        (rec.record_ref, h)
        for (rec, _), h in zip(change.add_records, change.add_records_history, strict=False)
    ]
    single = change.add_record or change.update_record
    if single is not None and change.history is not None:
        histories.append((single.record_ref, change.history))
    if histories:
        at = now_text()
        db.executemany(
            "INSERT INTO record_history (record_ref, version, at, member, action, "
            "detail) VALUES (?, ?, ?, ?, ?, ?)",
            [(ref, version, at, h.member, h.action, h.detail) for ref, h in histories],
        )
    if added:
        db.executemany(
            "INSERT OR IGNORE INTO record_points (record_ref, epoch, y) VALUES (?, ?, ?)",
            [(rec.record_ref, epoch, y) for rec, ys in added for y in ys],
        )
    db.executemany(
        "UPDATE records SET expires_on = ? WHERE record_ref = ?",
        [(e.isoformat() if e else None, ref) for ref, e in change.extend],
    )
    # Tombstones keep the tag for deltas; the sealed box is wiped (secure_delete).
    db.executemany(
        "UPDATE entries SET removed_version = ?, sealed = x'' "
        "WHERE tag = ? AND removed_version IS NULL",
        [(version, t) for t in change.remove_tags],
    )
    db.executemany(
        "INSERT INTO entries (tag, sealed, record_ref, added_version) VALUES (?, ?, ?, ?)",
        [(e.tag, e.sealed, e.record_ref, version) for e in change.add_entries],
    )
    return version
