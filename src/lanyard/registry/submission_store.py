"""Storage for end-of-event reports: recipients, the append-only log, receipts, steps.

It shares registry.db's connection pool (one writer lock); the log's rows cannot be changed or
deleted (triggers in migration 2), and a submission, its log leaf and its receipt are
written in one transaction, so a crash leaves all three or none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from lanyard.core import sqlite
from lanyard.registry.errors import AlreadyExists
from lanyard.wire.registry.v1 import reports_pb2


@dataclass(frozen=True, slots=True)
class StoredSubmission:
    submission_id: str
    event_id: str
    log_index: int
    envelope: bytes
    envelope_sha256: bytes
    signature: bytes
    received_at: str
    status: str
    receipt: reports_pb2.Receipt


@dataclass(frozen=True, slots=True)
class SubmissionSummary:
    """A submission without its ciphertext: what a listing needs."""

    receipt: reports_pb2.Receipt
    status: str
    envelope_bytes: int


def _submission(r: Any) -> StoredSubmission:
    return StoredSubmission(
        r["submission_id"],
        r["event_id"],
        r["log_index"],
        bytes(r["envelope"]),
        bytes(r["envelope_sha256"]),
        bytes(r["signature"]),
        r["received_at"],
        r["status"],
        reports_pb2.Receipt.FromString(bytes(r["receipt"])),
    )


class SubmissionStore(ABC):
    @abstractmethod
    async def recipients(self) -> tuple[int, list[reports_pb2.Recipient]]: ...

    @abstractmethod
    async def put_recipient(self, recipient: reports_pb2.Recipient) -> int:
        """Add or replace, with the reader's admin key in the same transaction; returns
        the new recipient-set version. AlreadyExists if the name is the operator's."""

    @abstractmethod
    async def remove_recipient(self, name: str) -> int | None:
        """None if there was no such recipient."""

    @abstractmethod
    async def leaves(self) -> list[bytes]: ...

    @abstractmethod
    async def leaf(self, index: int) -> bytes: ...

    @abstractmethod
    async def get(self, submission_id: str) -> StoredSubmission | None: ...

    @abstractmethod
    async def recent(self, event_id: str, since: str) -> tuple[int, int]:
        """(submissions, envelope bytes) of `event_id` received at or after `since`."""

    @abstractmethod
    async def event_at(self, index: int) -> str | None:
        """The event whose submission is at log index `index`; None if there is none."""

    @abstractmethod
    async def append(self, submission: StoredSubmission, leaf: bytes) -> None: ...

    @abstractmethod
    async def summaries(self) -> list[SubmissionSummary]:
        """Every submission in log order, without reading its ciphertext."""

    @abstractmethod
    async def steps(self, submission_id: str) -> list[reports_pb2.SubmissionStep]: ...

    @abstractmethod
    async def add_step(
        self, submission_id: str, step: reports_pb2.SubmissionStep, from_status: str
    ) -> bool:
        """Record `step` if the submission is still `from_status`; False (nothing
        written) when another step got there first."""


async def _version(db: aiosqlite.Connection) -> int:
    row = await sqlite.fetch_one(db, "SELECT value FROM state WHERE key = 'recipients_version'")
    return int(row[0])


async def _bump(db: aiosqlite.Connection) -> int:
    await db.execute("UPDATE state SET value = value + 1 WHERE key = 'recipients_version'")
    return await _version(db)


class SqliteSubmissionStore(SubmissionStore):
    def __init__(self, pool: sqlite.Pool) -> None:
        self._pool = pool

    async def recipients(self) -> tuple[int, list[reports_pb2.Recipient]]:
        async with self._pool.read() as db:
            await db.execute("BEGIN")
            try:
                rows = await sqlite.fetch_all(
                    db, "SELECT name, encryption_key, signing_key FROM recipients ORDER BY name"
                )
                version = await _version(db)
            finally:
                await db.execute("COMMIT")
        return version, [
            reports_pb2.Recipient(name=r[0], encryption_key=bytes(r[1]), signing_key=bytes(r[2]))
            for r in rows
        ]

    async def put_recipient(self, recipient: reports_pb2.Recipient) -> int:
        async with self._pool.write() as db:
            admin = await sqlite.fetch_one(
                db, "SELECT role FROM admins WHERE name = ?", (recipient.name,)
            )
            if admin is not None and admin[0] != "reader":
                raise AlreadyExists(
                    f"{recipient.name} is an operator's admin key name; "
                    "choose another name for the reader"
                )
            await db.execute(
                "INSERT INTO admins (name, public_key, role, created_at) "
                "VALUES (?, ?, 'reader', ?) ON CONFLICT (name) DO UPDATE SET "
                "public_key = excluded.public_key",
                (
                    recipient.name,
                    recipient.signing_key,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            await db.execute(
                "INSERT INTO recipients (name, encryption_key, signing_key, added_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "encryption_key = excluded.encryption_key, signing_key = excluded.signing_key",
                (
                    recipient.name,
                    recipient.encryption_key,
                    recipient.signing_key,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            version = await _bump(db)
        return version

    async def remove_recipient(self, name: str) -> int | None:
        async with self._pool.write() as db:
            cur = await db.execute("DELETE FROM recipients WHERE name = ?", (name,))
            # The reader's admin key goes with them: no more opening or acknowledging.
            await db.execute("DELETE FROM admins WHERE name = ? AND role = 'reader'", (name,))
            version = await _bump(db) if cur.rowcount else None
        return version

    async def leaves(self) -> list[bytes]:
        async with self._pool.read() as db:
            rows = await sqlite.fetch_all(db, "SELECT leaf FROM log_leaves ORDER BY log_index")
        return [bytes(r[0]) for r in rows]

    async def leaf(self, index: int) -> bytes:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(
                db, "SELECT leaf FROM log_leaves WHERE log_index = ?", (index,)
            )
        return bytes(row[0])

    async def recent(self, event_id: str, since: str) -> tuple[int, int]:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(
                db,
                "SELECT count(*), coalesce(sum(length(envelope)), 0) FROM submissions "
                "WHERE event_id = ? AND received_at >= ?",
                (event_id, since),
            )
        return int(row[0]), int(row[1])

    async def event_at(self, index: int) -> str | None:
        async with self._pool.read() as db:
            row = await sqlite.fetch_one(
                db, "SELECT event_id FROM submissions WHERE log_index = ?", (index,)
            )
        return str(row[0]) if row else None

    async def get(self, submission_id: str) -> StoredSubmission | None:
        async with self._pool.read() as db:
            r = await sqlite.fetch_one(
                db, "SELECT * FROM submissions WHERE submission_id = ?", (submission_id,)
            )
        return _submission(r) if r else None

    async def append(self, submission: StoredSubmission, leaf: bytes) -> None:
        s = submission
        async with self._pool.write() as db:
            await db.execute(
                "INSERT INTO log_leaves (log_index, leaf) VALUES (?, ?)", (s.log_index, leaf)
            )
            await db.execute(
                "INSERT INTO submissions (submission_id, event_id, log_index, envelope, "
                "envelope_sha256, signature, received_at, status, receipt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    s.submission_id,
                    s.event_id,
                    s.log_index,
                    s.envelope,
                    s.envelope_sha256,
                    s.signature,
                    s.received_at,
                    s.status,
                    s.receipt.SerializeToString(deterministic=True),
                ),
            )

    async def summaries(self) -> list[SubmissionSummary]:
        async with self._pool.read() as db:
            rows = await sqlite.fetch_all(
                db,
                "SELECT receipt, status, length(envelope) FROM submissions ORDER BY log_index",
            )
        return [
            SubmissionSummary(reports_pb2.Receipt.FromString(bytes(r[0])), r[1], int(r[2]))
            for r in rows
        ]

    async def steps(self, submission_id: str) -> list[reports_pb2.SubmissionStep]:
        async with self._pool.read() as db:
            rows = await sqlite.fetch_all(
                db,
                "SELECT step, member, at, message, signature FROM submission_steps "
                "WHERE submission_id = ? ORDER BY at, rowid",
                (submission_id,),
            )
        return [
            reports_pb2.SubmissionStep(
                step=r[0], member=r[1], at=r[2], message=r[3], signature=bytes(r[4])
            )
            for r in rows
        ]

    async def add_step(
        self, submission_id: str, step: reports_pb2.SubmissionStep, from_status: str
    ) -> bool:
        async with self._pool.write() as db:
            cur = await db.execute(
                "UPDATE submissions SET status = ? WHERE submission_id = ? AND status = ?",
                (step.step, submission_id, from_status),
            )
            if cur.rowcount == 0:
                return False
            await db.execute(
                "INSERT INTO submission_steps (submission_id, step, member, at, message, "
                "signature) VALUES (?, ?, ?, ?, ?, ?)",
                (submission_id, step.step, step.member, step.at, step.message, step.signature),
            )
        return True
