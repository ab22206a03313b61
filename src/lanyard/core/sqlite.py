"""SQLite set-up both services share: WAL, secure_delete, numbered migrations.

Each store holds a Pool of aiosqlite connections; aiosqlite runs each on its own thread,
so every call is one hand-off. Callers batch (executemany), never one await per row, and
the short writes a busy service makes per call run whole in one hand-off (Pool.transact).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from lanyard.core.errors import Error
from lanyard.core.sqlite_files import StorageError, is_busy, storage_error
from lanyard.core.sqlite_units import (
    BusyAtBegin,
    NotNow,
    loop_reader,
    loop_writer,
    on_thread,
    to_the_end,
    unit_of,
)


def _roll_back_if_open(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.execute("ROLLBACK")


class DatabaseError(Error):
    """A database file that cannot be opened, is not SQLite, or is from a newer Lanyard."""


async def connect(
    path: Path,
    migrations: Sequence[str],
    synchronous: str = "FULL",
    migrate: bool = True,
    busy_timeout_ms: int | None = None,
) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate; PRAGMA user_version counts applied scripts.
    The database file, and so its WAL and SHM files, are mode 0600. Prefer Pool: a bare
    connection must never be shared by concurrent units of work."""
    db: aiosqlite.Connection | None = None
    private(path)
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute(f"PRAGMA synchronous = {synchronous}")
        await db.execute("PRAGMA secure_delete = ON")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms or BUSY_TIMEOUT_MS)}")
        if not migrate:
            return db
        row = await fetch_one(db, "PRAGMA user_version")
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise DatabaseError(
                f"database {path} has schema version {current}, newer than this Lanyard "
                f"({len(migrations)}); upgrade Lanyard"
            )
        for number, script in enumerate(migrations[current:], start=current + 1):
            await db.executescript(
                f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;"
            )
    except sqlite3.DatabaseError as exc:
        if db is not None:
            with suppress(sqlite3.Error):
                await db.close()
        known = storage_error(path, exc)
        cause = str(known).split(": ", 1)[1] if known is not None else str(exc)
        raise DatabaseError(f"database {path} cannot be opened: {cause}") from exc
    except BaseException:
        if db is not None:
            await db.close()
        raise
    return db


async def fetch_one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row, or None: for statements of a row or a few (a key's row, an
    aggregate, RETURNING), which it runs to their end. One hand-off to the connection's
    thread, not three (execute, fetch, close): each costs the event loop a wake-up."""
    return next(iter(await db.execute_fetchall(sql, params)), None)


async def fetch_all(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row, in one hand-off to the connection's thread."""
    return list(await db.execute_fetchall(sql, params))


T = TypeVar("T")


# -- the pool every store uses --------------------------------------------------------------

BUSY_TIMEOUT_MS = 5000
DEFERRED_CHECKPOINT_PAGES = 16_384  # Pool.defer_checkpoints: 64 MiB of 4 KiB pages
SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's own default
BEGIN_ATTEMPTS = 4  # each waits up to BUSY_TIMEOUT_MS inside SQLite before giving up


def private(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing (SQLite gives its -wal and -shm files
    the database file's mode), and bring an existing one and its companions to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise DatabaseError(f"database {path} cannot be created: {exc.strerror}") from exc
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                os.chmod(file, 0o600)


class Pool:
    """A few connections to one SQLite file, each held by one unit of work at a time.

    `write()` is one BEGIN IMMEDIATE transaction: writers of this process queue on an
    asyncio lock (fair, no polling), so SQLite's busy handler only ever waits for another
    process; a busy BEGIN is retried a bounded number of times. `transact(work)` is the
    same transaction with `work` run whole on the connection's thread. `read()` lends any
    free connection; in WAL mode readers never wait for the writer. A connection is never
    shared by two concurrent units of work, so one unit's statements cannot slip into
    another's transaction.

    Why a pool with one writer at a time rather than one connection with every unit
    serialised: SQLite allows one writer anyway, but reads (known points, snapshot
    deltas, listings) then run beside the write. Measured on 2 shared cores with 32
    concurrent Check-like units (a read, then a one-row write): 4 to 8 connections gave
    about 1.6 to 1.8 times the units per second of one serialised connection.
    """

    def __init__(
        self, path: Path, synchronous: str, size: int, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self.path = path
        self._busy_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._size = max(2, size)
        self._free: list[aiosqlite.Connection] = []
        self._all: list[aiosqlite.Connection] = []
        self._opening = 0
        self._available = asyncio.Condition()
        self._writer = asyncio.Lock()
        self._relaxed: set[aiosqlite.Connection] = set()  # may be at synchronous NORMAL
        # wal_autocheckpoint wanted on every connection (None: SQLite's default), and the
        # connections already set to it (defer_checkpoints).
        self._autocheckpoint: int | None = None
        self._checkpoint_set: set[aiosqlite.Connection] = set()
        self._checkpointing = asyncio.Lock()  # one checkpoint of this pool's at a time
        self._on_loop: sqlite3.Connection | None = None  # key_read's, on the loop's thread
        self._loop_writer: sqlite3.Connection | None = None  # small units', on the loop's
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        migrations: Sequence[str],
        synchronous: str = "FULL",
        size: int = 4,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> Pool:
        """Open (creating if needed) and migrate. Raises DatabaseError. Each write waits
        up to BEGIN_ATTEMPTS times `busy_timeout_ms` for another program's lock."""
        pool = cls(path, synchronous, size, busy_timeout_ms)
        first = await connect(path, migrations, synchronous, busy_timeout_ms=busy_timeout_ms)
        pool._all.append(first)
        pool._free.append(first)
        return pool

    @property
    def size(self) -> int:
        return self._size

    async def _connect(self) -> aiosqlite.Connection:
        return await connect(
            self.path, (), self._synchronous, migrate=False, busy_timeout_ms=self._busy_ms
        )

    async def _acquire(self) -> aiosqlite.Connection:
        conn = await self._take()
        if self._autocheckpoint is not None and conn not in self._checkpoint_set:
            # The unit owns the connection now: no other unit's statement can interleave.
            try:
                await fetch_one(conn, f"PRAGMA wal_autocheckpoint = {self._autocheckpoint}")
            except BaseException:
                await self._release(conn, interrupted=True)
                raise
            self._checkpoint_set.add(conn)
        return conn

    async def _take(self) -> aiosqlite.Connection:
        async with self._available:
            while True:
                if self._closed:
                    raise DatabaseError(f"database {self.path} is closed")
                if self._free:
                    return self._free.pop()
                if len(self._all) + self._opening < self._size:
                    self._opening += 1
                    break
                await self._available.wait()
        try:
            conn = await self._connect()
        except BaseException:
            async with self._available:
                self._opening -= 1
            raise
        # Counted in the same step as it is added: a unit cancelled here still leaves
        # the connection to the pool (and so to close()), never a thread running on.
        self._opening -= 1
        if self._closed:
            await conn.close()
            raise DatabaseError(f"database {self.path} is closed")
        self._all.append(conn)
        return conn

    async def _release(self, conn: aiosqlite.Connection, interrupted: bool) -> None:
        # To its end however often the unit is cancelled: the connection goes back to the
        # pool, and whoever holds the write lock keeps it until then.
        await to_the_end(self._give_back(conn, interrupted))

    async def _give_back(self, conn: aiosqlite.Connection, interrupted: bool) -> None:
        # A unit cancelled or failed half-way must not hand an open transaction to the
        # next one. Asked on the connection's own thread, behind whatever the unit had
        # queued there (a BEGIN not yet run would open one after a check made here); a
        # unit that ended normally closed its transaction and queued nothing more.
        if interrupted or conn.in_transaction:
            with suppress(sqlite3.Error):
                await on_thread(conn, _roll_back_if_open)
        async with self._available:
            self._free.append(conn)
            self._available.notify_all()

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[aiosqlite.Connection]:
        """A connection for one unit of work, given back after it; a cause the operator
        can fix becomes a StorageError naming the file."""
        conn = await self._acquire()
        interrupted = True
        try:
            yield conn
            interrupted = False
        except sqlite3.Error as exc:
            self._raise_translated(exc)
            raise
        finally:
            await self._release(conn, interrupted)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A connection of its own for reads (autocommit: each statement sees the newest
        committed state)."""
        async with self._lent() as conn:
            yield conn

    async def key_read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a read that finds a few rows by key (a primary key, an IN list of
        keys), run on the event loop's own thread: tens of microseconds, against a few
        hundred for a hand-off to a connection's thread and back, which a Check made
        three of. Only for such reads: anything longer would hold up every call.

        A WAL reader never waits for a writer; should SQLite still answer busy (another
        program holding the file exclusively, a writer restarting the log that instant),
        the read goes through a connection's thread as usual, where waiting is harmless.
        Raises DatabaseError once the pool is closed, StorageError as read() does."""
        if self._closed:
            raise DatabaseError(f"database {self.path} is closed")
        try:
            if self._on_loop is None:
                self._on_loop = loop_reader(self.path)
            return self._on_loop.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if not is_busy(exc):
                self._raise_translated(exc)
                raise
        async with self.read() as db:
            return await fetch_all(db, sql, params)

    @asynccontextmanager
    async def write(self, durable: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """One BEGIN IMMEDIATE ... COMMIT on a connection of its own; ROLLBACK on any
        error. Busy/locked at BEGIN is retried; a cause the operator can fix becomes a
        StorageError naming the file.

        `durable=False` commits without waiting for the disk (synchronous NORMAL; a durable
        write always runs at the pool's own setting): a process crash loses nothing, a
        power cut may lose it until the next durable commit of any connection, which syncs
        the WAL and so every commit before it. Only for what is worthless after such a cut
        (call-token nonces: their tokens expire long before the machine is back)."""
        relax = not durable and self._synchronous.upper() in {"FULL", "EXTRA"}
        async with self._writer, self._lent() as conn:
            setting = self._synchronous_for(conn, relax)
            if setting is not None:
                await conn.execute(f"PRAGMA synchronous = {setting}")
            if not relax:
                self._relaxed.discard(conn)
            await self._begin(conn)
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                raise

    async def transact(
        self, work: Callable[[sqlite3.Connection], T], durable: bool = True, small: bool = False
    ) -> T:
        """`work(connection)` inside one BEGIN IMMEDIATE ... COMMIT, the whole unit run on
        the connection's thread in one hand-off (on_thread): for the short units a busy
        service makes per call (a nonce, a Check's row, an evaluation's charge and log
        leaf), where a hand-off per statement costs more than the statements. ROLLBACK
        when `work` raises; the exception is re-raised. `durable` as for write(). Once
        started, the unit runs to its commit or rollback even if the awaiting task is
        cancelled. Raises StorageError for a cause the operator can fix.

        `small`: a few statements on a few rows. When such a unit commits without waiting
        for the disk anyway (the pool at synchronous NORMAL, or `durable=False`), it runs
        on the event loop's own thread if SQLite grants the write lock at once (tens of
        microseconds, against a few hundred for the hand-off); when another program holds
        the lock, it goes to a connection's thread, which waits. `work` may then run
        twice, the first run rolled back: it must do nothing but SQL."""
        relax = not durable and self._synchronous.upper() in {"FULL", "EXTRA"}
        async with self._writer:
            if small and (relax or self._synchronous.upper() in {"NORMAL", "OFF"}):
                done = self._unit_on_loop(work)
                if not isinstance(done, NotNow):
                    return done
            return await self._transact_on_thread(work, relax)

    def _synchronous_for(self, conn: aiosqlite.Connection, relax: bool) -> str | None:
        """The synchronous setting `conn` must switch to before a unit that is relaxed or
        not (None: it is at it already). A connection is marked before it is relaxed and
        unmarked (by the caller) only once it is durable again, so no durable write ever
        runs on a relaxed connection, however a unit was interrupted."""
        if relax and conn not in self._relaxed:
            self._relaxed.add(conn)
            return "NORMAL"
        if not relax and conn in self._relaxed:
            return self._synchronous
        return None

    def _unit_on_loop(self, work: Callable[[sqlite3.Connection], T]) -> T | NotNow:
        """transact's unit on the loop's thread, or NotNow when SQLite says busy (the unit
        rolled back whole: running it again elsewhere is safe)."""
        if self._closed:
            raise DatabaseError(f"database {self.path} is closed")
        try:
            if self._loop_writer is None:
                self._loop_writer = loop_writer(self.path, self._checkpoint_pages())
            return unit_of(work, None)(self._loop_writer)
        except BusyAtBegin:
            return NotNow()
        except sqlite3.Error as exc:
            if is_busy(exc):
                return NotNow()
            self._raise_translated(exc)
            raise

    async def _transact_on_thread(self, work: Callable[[sqlite3.Connection], T], relax: bool) -> T:
        async with self._lent() as conn:
            setting = self._synchronous_for(conn, relax)
            for attempt in range(BEGIN_ATTEMPTS):
                try:
                    # Handed over, the unit runs to its commit or rollback: the write lock
                    # and the connection are held until it has, even if cancelled.
                    result = await to_the_end(on_thread(conn, unit_of(work, setting)))
                    break
                except BusyAtBegin as busy:
                    if attempt == BEGIN_ATTEMPTS - 1:
                        raise busy.cause from None
                    await asyncio.sleep(0.05 * 2**attempt)
            if not relax:
                self._relaxed.discard(conn)
            return result

    async def _begin(self, conn: aiosqlite.Connection) -> None:
        for attempt in range(BEGIN_ATTEMPTS):
            try:
                await conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or attempt == BEGIN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)

    def _raise_translated(self, exc: sqlite3.Error) -> None:
        found = storage_error(self.path, exc)
        if found is not None:
            raise found from exc

    def defer_checkpoints(self, pages: int = DEFERRED_CHECKPOINT_PAGES) -> None:
        """For a serving process: its commits stop folding the WAL into the database file
        themselves, which SQLite does in the commit that takes the WAL past 1,000 pages
        (4 MiB), making that one call wait for the copy and a disk sync: measured on a
        Check, it was most of the slowest 1% of calls. The process then runs
        `checkpoint_passive` beside the calls instead (a supervised task). A commit still
        folds it past `pages` (by default 64 MiB), so the WAL stays bounded should that
        task stop. Applies to each connection before its next unit of work."""
        self._autocheckpoint = max(1, pages)
        if self._loop_writer is not None:
            pragma = f"PRAGMA wal_autocheckpoint = {self._autocheckpoint}"
            self._loop_writer.execute(pragma).fetchall()

    def _checkpoint_pages(self) -> int:
        """The WAL size, in pages, past which a commit folds it."""
        return self._autocheckpoint or SQLITE_AUTOCHECKPOINT_PAGES

    async def checkpoint_passive(self) -> tuple[int, int]:
        """Fold what it can of the WAL into the database file without waiting for any
        reader or writer (PRAGMA wal_checkpoint(PASSIVE)), on a connection of its own: no
        call waits for it. Returns (pages in the WAL, pages folded)."""
        async with self._checkpointing, self._lent() as conn:
            row = await fetch_one(conn, "PRAGMA wal_checkpoint(PASSIVE)")
        return int(row[1]), int(row[2])

    async def checkpoint(self) -> None:
        """Fold the whole WAL back into the file and empty it (after deleting, so that
        nothing deleted lingers there). SQLite refuses a checkpoint at once, without
        waiting, while another connection runs one (another program's, or one of this
        process's other pools on the same file): retried a bounded number of times, then
        StorageError, never a silent no-op."""
        async with self._checkpointing, self._writer, self._lent() as conn:
            for attempt in range(BEGIN_ATTEMPTS):
                # The row is read to its end: a checkpoint statement left pending on the
                # connection would make its next unit's COMMIT fail (on_thread).
                busy, _, _ = await fetch_one(conn, "PRAGMA wal_checkpoint(TRUNCATE)")
                if not busy:
                    return
                await asyncio.sleep(0.05 * 2**attempt)
        raise StorageError(
            f"database {self.path} cannot be written: its write-ahead log could not be "
            "emptied while another connection folded it; try again"
        )

    async def close(self, wait_seconds: float = 10.0) -> None:
        """Close every connection, after waiting (bounded) for lent ones to come back."""
        async with self._available:
            self._closed = True
            self._available.notify_all()
            with suppress(TimeoutError):
                await asyncio.wait_for(
                    self._available.wait_for(lambda: len(self._free) >= len(self._all)),
                    wait_seconds,
                )
            conns, self._all, self._free = self._all, [], []
            for own in (self._on_loop, self._loop_writer):
                if own is not None:
                    with suppress(sqlite3.Error):
                        own.close()
            self._on_loop = self._loop_writer = None
        for conn in conns:
            with suppress(sqlite3.Error, ValueError):
                await conn.close()
