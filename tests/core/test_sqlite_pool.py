"""The connection pool every store uses: units of work never share a transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lanyard.core import sqlite, sqlite_files, sqlite_units

MIGRATIONS = ["CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"]


@pytest.fixture
async def pool(tmp_path: Path) -> sqlite.Pool:
    p = await sqlite.Pool.open(tmp_path / "t.db", MIGRATIONS, size=4)
    async with p.write() as db:
        await db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    return p


async def _value(pool: sqlite.Pool) -> int:
    async with pool.read() as db:
        row = await sqlite.fetch_one(db, "SELECT n FROM counter WHERE id = 1")
    return int(row[0])


async def test_concurrent_read_modify_write_units_lose_nothing(pool: sqlite.Pool) -> None:
    async def bump() -> None:
        async with pool.write() as db:
            row = await sqlite.fetch_one(db, "SELECT n FROM counter WHERE id = 1")
            await asyncio.sleep(0)  # let every other unit run in between
            await db.execute("UPDATE counter SET n = ? WHERE id = 1", (int(row[0]) + 1,))

    try:
        await asyncio.gather(*(bump() for _ in range(64)), *(_value(pool) for _ in range(64)))
        assert await _value(pool) == 64
    finally:
        await pool.close()


async def test_a_failed_unit_rolls_back_and_the_next_one_works(pool: sqlite.Pool) -> None:
    async def fails_midway() -> None:
        async with pool.write() as db:
            await db.execute("UPDATE counter SET n = 99 WHERE id = 1")
            raise RuntimeError("boom")

    async def breaks_a_constraint() -> None:
        async with pool.write() as db:
            await db.execute("UPDATE counter SET n = 5 WHERE id = 1")
            await db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            await fails_midway()
        with pytest.raises(sqlite3.IntegrityError):
            await breaks_a_constraint()
        assert await _value(pool) == 0
        async with pool.write() as db:
            await db.execute("UPDATE counter SET n = 7 WHERE id = 1")
        assert await _value(pool) == 7
    finally:
        await pool.close()


async def test_readers_go_on_while_a_writer_holds_its_transaction(pool: sqlite.Pool) -> None:
    try:
        async with pool.write() as db:
            await db.execute("UPDATE counter SET n = 1 WHERE id = 1")
            # WAL: a reader sees the last committed state, without waiting.
            assert await asyncio.wait_for(_value(pool), 5) == 0
        assert await _value(pool) == 1
    finally:
        await pool.close()


async def test_another_program_holding_the_lock_is_waited_for(
    pool: sqlite.Pool, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = 10 WHERE id = 1")

        async def write() -> None:
            async with pool.write() as db:
                await db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")

        task = asyncio.create_task(write())
        done, _ = await asyncio.wait({task}, timeout=0.3)
        assert not done, "the pool wrote while another program held the write lock"
        await asyncio.to_thread(other.execute, "COMMIT")
        await asyncio.wait_for(task, 10)
        assert await _value(pool) == 11
    finally:
        other.close()
        await pool.close()


def test_operator_fixable_causes_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    found = sqlite_files.storage_error(path, full)
    assert found is not None
    assert str(found) == f"database {path} cannot be written: the disk is full"
    bug = sqlite3.OperationalError("no such table: x")
    bug.sqlite_errorcode = sqlite3.SQLITE_ERROR
    assert sqlite_files.storage_error(path, bug) is None


@pytest.mark.parametrize("unit", ["write", "transact"])
async def test_a_lock_held_past_the_bound_is_one_sentence_naming_the_file(
    tmp_path: Path, unit: str
) -> None:
    path = tmp_path / "t.db"
    pool = await sqlite.Pool.open(path, MIGRATIONS, size=2, busy_timeout_ms=50)
    other = sqlite3.connect(path, isolation_level=None)

    async def insert() -> None:
        if unit == "transact":
            await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (2, 0)"))
            return
        async with pool.write() as db:
            await db.execute("INSERT INTO counter (id, n) VALUES (2, 0)")

    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite_files.StorageError) as info:
            await insert()
        assert str(info.value) == (
            f"database {path} cannot be written: another program holds it locked"
        )
        other.execute("ROLLBACK")
        await insert()  # the lock gone, the pool works again
        async with pool.read() as db:
            assert [tuple(r) for r in await sqlite.fetch_all(db, "SELECT id FROM counter")] == [
                (2,)
            ]
    finally:
        other.close()
        await pool.close()


async def test_a_durable_write_never_runs_on_a_relaxed_connection(pool: sqlite.Pool) -> None:
    """Non-durable and durable writes interleaved, one failing: every durable one commits
    at synchronous FULL (2), every other at NORMAL (1), and nothing is lost."""
    seen: list[tuple[bool, int]] = []

    async def bump(durable: bool) -> None:
        async with pool.write(durable=durable) as db:
            mode = await sqlite.fetch_one(db, "PRAGMA synchronous")
            seen.append((durable, int(mode[0])))
            row = await sqlite.fetch_one(db, "SELECT n FROM counter WHERE id = 1")
            await db.execute("UPDATE counter SET n = ? WHERE id = 1", (int(row[0]) + 1,))

    async def fails() -> None:
        async with pool.write(durable=False) as db:
            await db.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
            raise RuntimeError("midway")

    try:
        await asyncio.gather(*(bump(i % 3 != 0) for i in range(30)))
        with pytest.raises(RuntimeError):
            await fails()
        await asyncio.gather(*(bump(True) for _ in range(8)))
        assert await _value(pool) == 38
        assert {mode for durable, mode in seen if durable} == {2}
        assert {mode for durable, mode in seen if not durable} == {1}
    finally:
        await pool.close()


async def test_units_starting_while_the_pool_closes_leave_no_connection_open(
    tmp_path: Path,
) -> None:
    """Many units open connections at once while the pool closes and some are cancelled:
    each either runs or fails with DatabaseError/CancelledError, and every connection's
    thread ends (a connection left behind would keep its thread, and the process, alive)."""
    before = set(threading.enumerate())
    pool = await sqlite.Pool.open(tmp_path / "c.db", MIGRATIONS, size=8)

    async def unit() -> None:
        async with pool.read() as db:
            await sqlite.fetch_one(db, "SELECT count(*) FROM counter")

    units = [asyncio.create_task(unit()) for _ in range(32)]
    await asyncio.sleep(0)  # let every unit start asking for a connection
    for task in units[::4]:
        task.cancel()
    await pool.close()
    outcomes = await asyncio.gather(*units, return_exceptions=True)
    assert all(
        o is None or isinstance(o, (sqlite.DatabaseError, asyncio.CancelledError)) for o in outcomes
    )
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
        assert not thread.is_alive(), thread.name


# -- transact: a whole unit in one hand-off to the connection's thread ----------------------


def _bump_by(k: int) -> Callable[[sqlite3.Connection], int]:
    def unit(db: sqlite3.Connection) -> int:
        (n,) = db.execute("SELECT n FROM counter WHERE id = 1").fetchone()
        db.execute("UPDATE counter SET n = ? WHERE id = 1", (n + k,))
        return int(n) + k

    return unit


async def test_transact_units_run_whole_beside_write_units(pool: sqlite.Pool) -> None:
    """Read-modify-write units of both kinds at once, with readers: none is lost, and
    transact returns what its unit returned."""

    async def bump() -> None:
        async with pool.write() as db:
            row = await sqlite.fetch_one(db, "SELECT n FROM counter WHERE id = 1")
            await asyncio.sleep(0)
            await db.execute("UPDATE counter SET n = ? WHERE id = 1", (int(row[0]) + 1,))

    try:
        results = await asyncio.gather(
            *(pool.transact(_bump_by(1)) for _ in range(48)),
            *(bump() for _ in range(16)),
            *(_value(pool) for _ in range(32)),
        )
        assert await _value(pool) == 64
        returned = sorted(r for r in results[:48] if isinstance(r, int))
        assert len(set(returned)) == 48
        assert returned[-1] <= 64
    finally:
        await pool.close()


async def test_a_transact_unit_that_raises_leaves_nothing(pool: sqlite.Pool) -> None:
    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("UPDATE counter SET n = 99 WHERE id = 1")
        db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")  # primary key taken

    try:
        with pytest.raises(sqlite3.IntegrityError):
            await pool.transact(half_then_fail)
        assert await _value(pool) == 0
        assert await pool.transact(_bump_by(5)) == 5
        assert await _value(pool) == 5
    finally:
        await pool.close()


async def test_transact_keeps_the_durability_asked_for(pool: sqlite.Pool) -> None:
    """Relaxed and durable transact units interleaved with write() units on the same
    connections: each runs at its own setting (FULL 2, NORMAL 1)."""
    seen: list[tuple[bool, int]] = []

    def unit(durable: bool) -> Callable[[sqlite3.Connection], None]:
        def run(db: sqlite3.Connection) -> None:
            seen.append((durable, int(db.execute("PRAGMA synchronous").fetchone()[0])))
            _bump_by(1)(db)

        return run

    async def written() -> None:
        async with pool.write() as db:
            mode = await sqlite.fetch_one(db, "PRAGMA synchronous")
            seen.append((True, int(mode[0])))

    try:
        await asyncio.gather(
            *(pool.transact(unit(i % 2 == 0), durable=i % 2 == 0) for i in range(24)),
            *(written() for _ in range(8)),
        )
        assert await _value(pool) == 24
        assert {mode for durable, mode in seen if durable} == {2}
        assert {mode for durable, mode in seen if not durable} == {1}
    finally:
        await pool.close()


async def test_a_cancelled_transact_unit_runs_to_its_end_before_its_connection_is_reused(
    pool: sqlite.Pool,
) -> None:
    """The awaiting task cancelled while its unit runs on the connection's thread: the
    unit commits whole (never half), and the connection serves the next unit."""
    started, go_on = threading.Event(), threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        started.set()
        go_on.wait(10)
        db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")

    try:
        task = asyncio.create_task(pool.transact(slow))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.transact(_bump_by(10)) == 12
    finally:
        await pool.close()


async def _handed_over() -> None:
    """Loop steps enough for a unit just started to take the write lock and a free
    connection (neither waits) and queue its BEGIN on the connection's thread."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_cancel_that_lands_as_the_unit_ends_is_not_lost() -> None:
    """The task cancelled in the very loop step its unit ends (Ctrl-C at the end of a
    batch): it still ends cancelled, or the screen would run on to the end unheard."""
    step: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(sqlite_units.to_the_end(step))
    await asyncio.sleep(0)  # the task now waits for the step
    step.set_result(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ended = asyncio.create_task(sqlite_units.to_the_end(asyncio.sleep(0, result=2)))
    assert await ended == 2  # and with no cancel, its result


@pytest.mark.parametrize("how", ["transact", "write"])
async def test_a_unit_cancelled_while_its_begin_waits_has_ended_when_the_cancel_returns(
    tmp_path: Path, how: str
) -> None:
    """Cancelled while its BEGIN waits on the connection's thread for another program's
    lock: the cancellation comes back only once the unit is over, so it cannot begin or
    commit later beside the next unit (a record change would then commit behind the
    snapshot it was cancelled out of), and no connection goes back to the pool holding a
    transaction."""
    pool = await sqlite.Pool.open(tmp_path / "b.db", MIGRATIONS, size=2, busy_timeout_ms=300)
    await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"))
    other = sqlite3.connect(tmp_path / "b.db", isolation_level=None, check_same_thread=False)

    async def unit() -> None:
        if how == "transact":
            await pool.transact(_bump_by(1))
        else:
            async with pool.write() as db:
                await db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")

    try:
        other.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(unit())
        await _handed_over()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        other.execute("COMMIT")  # the lock is free the moment the cancel has returned
        assert await pool.transact(_bump_by(10)) == 10
        assert await _value(pool) == 10  # the cancelled unit never committed after all
        assert not any(conn.in_transaction for conn in pool._free)
    finally:
        other.close()
        await pool.close(wait_seconds=1)


# -- checkpoints beside the calls, not in them -------------------------------------------

BLOB_MIGRATIONS = ["CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"]


def _insert_blobs(first: int, count: int) -> Callable[[sqlite3.Connection], None]:
    def unit(db: sqlite3.Connection) -> None:
        rows = [(first + i, bytes(4000)) for i in range(count)]
        db.executemany("INSERT INTO blobs (id, data) VALUES (?, ?)", rows)

    return unit


@pytest.mark.parametrize("deferred", [False, True])
async def test_deferred_checkpoints_leave_the_wal_to_checkpoint_passive(
    tmp_path: Path, deferred: bool
) -> None:
    """By default the commit that takes the WAL past 1,000 pages folds it (that call waits
    for it); deferred, commits leave it to checkpoint_passive, which folds all of it."""
    pool = await sqlite.Pool.open(tmp_path / "w.db", BLOB_MIGRATIONS, size=3)
    try:
        if deferred:
            pool.defer_checkpoints()
        for batch in range(15):  # about 1,500 pages of 4 KiB, 100 per commit
            await pool.transact(_insert_blobs(batch * 100, 100))
        async with pool.read() as db:
            (pages,) = await sqlite.fetch_one(db, "PRAGMA wal_autocheckpoint")
        in_wal, folded = await pool.checkpoint_passive()
        if deferred:
            assert pages == sqlite.DEFERRED_CHECKPOINT_PAGES
            assert in_wal >= 1500  # nothing folded it before
        else:
            assert pages == 1000
            assert in_wal < 1000  # a commit folded it and the WAL started over
        assert folded == in_wal
        async with pool.read() as db:
            (count,) = await sqlite.fetch_one(db, "SELECT count(*) FROM blobs")
        assert count == 1500
    finally:
        await pool.close()


async def test_a_transact_cancelled_again_while_giving_its_connection_back_still_does(
    tmp_path: Path,
) -> None:
    """Cancelled over and over while its unit runs on the connection's thread and while it
    gives the connection back: the unit commits whole and the pool keeps every
    connection (both of its two can still be lent at once)."""
    pool = await sqlite.Pool.open(tmp_path / "c.db", MIGRATIONS, size=2)
    await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"))
    async with pool.read(), pool.read():
        pass  # both connections open
    started, go_on = threading.Event(), threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        started.set()
        go_on.wait(10)

    async def both_at_once() -> None:
        async with pool.read(), pool.read():
            pass

    try:
        task = asyncio.create_task(pool.transact(slow))
        await asyncio.to_thread(started.wait, 10)
        for _ in range(10):
            task.cancel()
            await asyncio.sleep(0)  # one loop step: the next cancel lands further on
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(both_at_once(), 10)
        assert await _value(pool) == 1
    finally:
        await pool.close(wait_seconds=1)


async def test_transact_after_a_checkpoint_on_the_same_connection(pool: sqlite.Pool) -> None:
    """A checkpoint leaves no statement pending on its connection: the next unit there
    commits (a pending checkpoint made its COMMIT fail as if the file were locked)."""
    try:
        for _ in range(3):
            await pool.transact(_bump_by(1))
            await pool.checkpoint()
        assert await pool.transact(_bump_by(1)) == 4
    finally:
        await pool.close()


async def test_emptying_the_wal_waits_for_a_checkpoint_beside_the_calls(tmp_path: Path) -> None:
    """Pool.checkpoint after deleting (retention) empties the WAL even while the serving
    process's own PASSIVE checkpoints run: nothing deleted lingers in the -wal file."""
    path = tmp_path / "w.db"
    pool = await sqlite.Pool.open(path, BLOB_MIGRATIONS, size=4)
    pool.defer_checkpoints()
    marker = b"jordan.blake@example.org"

    def fill(db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT INTO blobs (id, data) VALUES (?, ?)", [(i, marker * 100) for i in range(2000)]
        )

    try:
        await pool.transact(fill)
        await pool.transact(lambda db: db.execute("DELETE FROM blobs"))
        await asyncio.gather(*(pool.checkpoint_passive() for _ in range(4)), pool.checkpoint())
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        await pool.close()


# -- key_read: short reads by key on the event loop's own thread ----------------------------


async def test_key_reads_see_every_commit_and_never_wait_for_a_writer(
    pool: sqlite.Pool, tmp_path: Path
) -> None:
    """A key read sees what any unit committed before it, at once; another program's
    write in progress holds it up no more than it holds up a WAL reader (not at all)."""
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        for k in range(1, 4):
            await pool.transact(_bump_by(1))
            (row,) = await pool.key_read("SELECT n FROM counter WHERE id = ?", (1,))
            assert row["n"] == k
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = 99 WHERE id = 1")
        started = time.monotonic()
        rows = await pool.key_read("SELECT n FROM counter WHERE id IN (?, ?)", (1, 2))
        assert time.monotonic() - started < 1  # not the 5 s a busy handler would wait
        assert [tuple(r) for r in rows] == [(3,)]  # the last committed state
        other.execute("COMMIT")
        assert (await pool.key_read("SELECT n FROM counter WHERE id = 1"))[0][0] == 99
    finally:
        other.close()
        await pool.close()
    with pytest.raises(sqlite.DatabaseError, match="is closed"):
        await pool.key_read("SELECT n FROM counter WHERE id = 1")


# -- small units on the event loop's thread ----------------------------------------------


def _recording(seen: list[tuple[int, int]], k: int = 1) -> Callable[[sqlite3.Connection], int]:
    """_bump_by(k), noting the thread it ran on and the synchronous setting it ran at."""

    def unit(db: sqlite3.Connection) -> int:
        seen.append((threading.get_ident(), int(db.execute("PRAGMA synchronous").fetchone()[0])))
        return _bump_by(k)(db)

    return unit


@pytest.mark.parametrize(("synchronous", "durable", "on_loop"), [
    ("NORMAL", True, True),   # the agent's database: nothing waits for the disk
    ("FULL", False, True),    # a nonce on the registry's: relaxed, nothing waits either
    ("FULL", True, False),    # a durable unit on the registry's: synced, on a thread
])  # fmt: skip
async def test_small_units_run_on_the_loop_only_when_nothing_waits_for_the_disk(
    tmp_path: Path, synchronous: str, durable: bool, on_loop: bool
) -> None:
    pool = await sqlite.Pool.open(tmp_path / "s.db", MIGRATIONS, synchronous=synchronous)
    await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"))
    seen: list[tuple[int, int]] = []
    try:
        results = await asyncio.gather(
            *(pool.transact(_recording(seen), durable=durable, small=True) for _ in range(20)),
            *(pool.transact(_bump_by(1)) for _ in range(5)),
        )
        assert sorted(results) == list(range(1, 26))  # none lost, each saw the one before
        loop_thread = threading.get_ident()
        assert {thread == loop_thread for thread, _ in seen} == {on_loop}
        assert {mode for _, mode in seen} == ({2} if synchronous == "FULL" and durable else {1})
        with pytest.raises(sqlite3.IntegrityError):
            await pool.transact(
                lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"), small=True
            )
        assert await _value(pool) == 25
    finally:
        await pool.close()


async def test_a_small_unit_never_holds_up_the_loop_while_another_program_writes(
    tmp_path: Path,
) -> None:
    """Another program holds the write lock: a small unit goes to a connection's thread
    and waits there, the event loop goes on serving, and the unit commits once the lock
    is free."""
    path = tmp_path / "s.db"
    pool = await sqlite.Pool.open(path, MIGRATIONS, synchronous="NORMAL")
    await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = 10 WHERE id = 1")
        unit = asyncio.create_task(pool.transact(_bump_by(1), small=True))
        started = time.monotonic()
        done, _ = await asyncio.wait({unit}, timeout=0.3)
        # Had the unit waited for the lock on the loop's thread, this wait could not have
        # ended on time, and the unit would have been done (or failed) when it did.
        assert not done, "the unit went through while another program held the write lock"
        assert time.monotonic() - started < 2
        (row,) = await asyncio.wait_for(pool.key_read("SELECT n FROM counter WHERE id = 1"), 5)
        assert row["n"] == 0  # the loop answers meanwhile
        await asyncio.to_thread(other.execute, "COMMIT")
        assert await asyncio.wait_for(unit, 10) == 11
    finally:
        other.close()
        await pool.close()


def _held_exclusively(path: Path) -> sqlite3.Connection:
    """Another program holding the file `path` exclusively (a new WAL database)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    holder.execute("COMMIT")
    return holder


@pytest.mark.parametrize("which", ["reader", "writer"])
def test_the_loops_connections_are_told_busy_at_once(tmp_path: Path, which: str) -> None:
    """Opening or using either connection of the loop's thread on a file another program
    holds: SQLite says busy at once, never after the 5 s a busy handler would wait."""
    holder = _held_exclusively(tmp_path / "held.db")

    def open_and_read() -> None:
        path = tmp_path / "held.db"
        conn = (
            sqlite_units.loop_reader(path)
            if which == "reader"
            else sqlite_units.loop_writer(path, 1000)
        )
        conn.execute("SELECT n FROM counter").fetchall()

    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            open_and_read()
        assert time.monotonic() - started < 1
    finally:
        holder.close()


async def test_the_loops_writer_is_set_up_like_every_pool_connection(
    pool: sqlite.Pool, tmp_path: Path
) -> None:
    """secure_delete (a purged nonce leaves no trace), foreign keys, synchronous NORMAL,
    no busy wait, and the pool's WAL bound; the reader is read-only."""
    writer = sqlite_units.loop_writer(tmp_path / "t.db", 321)
    reader = sqlite_units.loop_reader(tmp_path / "t.db")
    try:
        settings = {
            name: writer.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("secure_delete", "foreign_keys", "synchronous", "busy_timeout")
        }
        assert settings == {
            "secure_delete": 1,
            "foreign_keys": 1,
            "synchronous": 1,
            "busy_timeout": 0,
        }
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 321
        assert reader.execute("PRAGMA query_only").fetchone()[0] == 1
        assert reader.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    finally:
        writer.close()
        reader.close()
        await pool.close()


async def test_small_units_keep_the_wal_bounded_without_the_checkpoint_task(
    tmp_path: Path,
) -> None:
    """Small units on the loop's thread fold the WAL past the pool's bound like any other
    commit, set before or after the loop's writer opened: the WAL stays near the bound
    with no checkpoint task running."""
    path = tmp_path / "w.db"
    pool = await sqlite.Pool.open(path, BLOB_MIGRATIONS, synchronous="NORMAL")
    try:
        await pool.transact(_insert_blobs(0, 1), small=True)  # the loop's writer opens
        pool.defer_checkpoints(pages=200)
        for i in range(1, 1500):
            await pool.transact(_insert_blobs(i, 1), small=True)
        wal = path.with_name(path.name + "-wal").stat().st_size
        assert wal < 2 * 200 * (4096 + 24)  # 200 frames of a 4 KiB page and its header
    finally:
        await pool.close()


async def test_closing_the_pool_closes_the_loops_connections(tmp_path: Path) -> None:
    """After close, nothing of the pool holds the file: another program can take it
    exclusively."""
    path = tmp_path / "c.db"
    pool = await sqlite.Pool.open(path, MIGRATIONS, synchronous="NORMAL")
    await pool.transact(lambda db: db.execute("INSERT INTO counter (id, n) VALUES (1, 0)"))
    await pool.transact(_bump_by(1), small=True)
    assert (await pool.key_read("SELECT n FROM counter WHERE id = 1"))[0][0] == 1
    await pool.close()
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = 2 WHERE id = 1")
        other.execute("COMMIT")
    finally:
        other.close()
