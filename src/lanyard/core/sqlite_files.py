"""The causes of a SQLite failure an operator can fix (disk full, read-only, locked,
damaged), told apart from bugs, as one StorageError sentence naming the file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from lanyard.core.errors import Error

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class StorageError(Error):
    """The database file cannot be used for a reason the operator can fix (disk full,
    read-only, locked by another program, damaged): the message names cause and file."""


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code): another writer holds the file."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF in (_BUSY_CODES)
    )


_CAUSES = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "the file is read-only",
    sqlite3.SQLITE_CORRUPT: "the file is damaged (not a valid Lanyard database)",
    sqlite3.SQLITE_NOTADB: "the file is not a SQLite database",
    sqlite3.SQLITE_BUSY: "another program holds it locked",
    sqlite3.SQLITE_LOCKED: "another program holds it locked",
    sqlite3.SQLITE_IOERR: "the disk reported an input/output error",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_PERM: "permission was denied",
}


def _no_room(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def storage_error(path: Path, exc: sqlite3.Error) -> StorageError | None:
    """The operator-fixable cause of `exc`, naming `path`; None for a bug (bad SQL, a
    constraint the code should have checked)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    cause = _CAUSES.get(primary) if primary is not None else None
    if cause is None:
        return None
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) and _no_room(path):
        # Growing the WAL or its shared-memory file on a full disk fails as an I/O error.
        cause = _CAUSES[sqlite3.SQLITE_FULL]
    return StorageError(f"database {path} cannot be written: {cause}")
