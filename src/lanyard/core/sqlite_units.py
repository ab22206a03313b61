"""How a unit of work on SQLite runs in one go: whole on an aiosqlite connection's thread
(one hand-off, however many statements), or, for a small unit that waits for nothing, on
the event loop's own thread. Pool (sqlite.py) decides which."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import aiosqlite

from lanyard.core.sqlite_files import is_busy

T = TypeVar("T")


async def on_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work(connection)` run whole on `db`'s own thread: one hand-off for any number of
    statements (each `await db.execute` is one, and costs the event loop a wake-up).
    aiosqlite queues every call on that thread in order, so later calls on `db` run after
    `work` has returned, even if the awaiting task was cancelled meanwhile.

    aiosqlite has no public call for this; its queue (`_execute`) and sqlite3 connection
    (`_conn`) are used as aiosqlite itself uses them, with the version pinned in
    pyproject.toml and tests/core/test_sqlite_pool.py proving both still behave so.

    aiosqlite's thread holds each call's result until the next call has run: every call
    on a pool connection must run its statement to the end (fetch_one, fetch_all), or a
    write statement left pending (a checkpoint, a RETURNING not read) makes the COMMIT of
    a unit run here fail."""
    raw: sqlite3.Connection = db._conn
    result: T = await db._execute(work, raw)  # type: ignore[no-untyped-call]
    return result


async def to_the_end(step: Awaitable[T]) -> T:
    """Await `step` to its end however often the awaiting task is cancelled meanwhile,
    then raise the cancellation if there was one. For work already handed to a
    connection's thread, which runs whatever the task does: whoever holds the connection
    (and the pool's write lock) must not let go of it while that work may still begin or
    commit, or the next unit would run beside it, or before it."""
    running = asyncio.ensure_future(step)
    cancelled = False
    while not running.done():
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            if running.cancelled():
                raise  # the step itself was cancelled (the loop closing), not the task
            # The awaiting task was cancelled, even if the step ended in the same loop
            # step: that cancellation must not be lost (Ctrl-C would go unheard).
            cancelled = True
        except BaseException:  # the step's own error: result() raises it below
            break
    if cancelled:
        if not running.cancelled():
            running.exception()  # retrieved: it is the cancellation that goes on
        raise asyncio.CancelledError
    return running.result()


def _never_waiting(path: Path, pragmas: tuple[str, ...]) -> sqlite3.Connection:
    """A connection for the loop's thread: told never to wait on a lock before anything
    else runs (connect's own timeout too), then `pragmas`; closed again if one fails."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in ("busy_timeout = 0", *pragmas):
            conn.execute(f"PRAGMA {pragma}").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def loop_reader(path: Path) -> sqlite3.Connection:
    """Pool.key_read's connection: read-only, and never waiting on a lock (busy at once)."""
    return _never_waiting(path, ("query_only = ON",))


def loop_writer(path: Path, checkpoint_pages: int) -> sqlite3.Connection:
    """Pool.transact's connection for small units on the loop's thread: as every pool
    connection (secure_delete, foreign keys, the pool's WAL bound: a commit past it folds
    the WAL, so that the WAL stays bounded even if nothing else folds it), at synchronous
    NORMAL, and never waiting on a lock (busy at once)."""
    return _never_waiting(
        path,
        (
            "synchronous = NORMAL",
            "secure_delete = ON",
            "foreign_keys = ON",
            f"wal_autocheckpoint = {int(checkpoint_pages)}",
        ),
    )


class NotNow:
    """The write lock was not free at once: run the unit on a connection's thread."""


class BusyAtBegin(Exception):
    """BEGIN IMMEDIATE found the file locked by another program: nothing ran; retry."""

    def __init__(self, cause: sqlite3.OperationalError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def unit_of(
    work: Callable[[sqlite3.Connection], T], setting: str | None
) -> Callable[[sqlite3.Connection], T]:
    """Pool.transact's unit, as run on a connection's thread or the loop's: `setting`
    (synchronous) first, then BEGIN IMMEDIATE, `work`, COMMIT; ROLLBACK if anything
    raises. BusyAtBegin when the write lock was not granted (nothing ran)."""

    def run(raw: sqlite3.Connection) -> T:
        if setting is not None:
            raw.execute(f"PRAGMA synchronous = {setting}")
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise BusyAtBegin(exc) from exc
            raise
        try:
            result = work(raw)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                with suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
            raise
        return result

    return run
