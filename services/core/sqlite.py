"""SQLite set-up both services share: WAL, secure_delete, numbered migrations.

One aiosqlite connection per store; aiosqlite runs it on its own thread, so every call is
one hand-off. Callers batch (executemany), never one await per row.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from services.core.errors import Error


class DatabaseError(Error):
    """A database file that cannot be opened, is not SQLite, or is from a newer Lanyard."""


async def connect(
    path: Path, migrations: Sequence[str], synchronous: str = "FULL"
) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate; PRAGMA user_version counts applied scripts.
    The database file, and so its WAL and SHM files, are mode 0600."""
    db: aiosqlite.Connection | None = None
    private(path)
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute(f"PRAGMA synchronous = {synchronous}")
        await db.execute("PRAGMA secure_delete = ON")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute("PRAGMA busy_timeout = 5000")
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
            await db.close()
        raise DatabaseError(f"database {path} cannot be opened: {exc}") from exc
    except BaseException:
        if db is not None:
            await db.close()
        raise
    return db


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
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                os.chmod(file, 0o600)


async def fetch_one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with db.execute(sql, params) as cur:
        return await cur.fetchone()


async def fetch_all(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())
