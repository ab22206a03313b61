"""One encrypted archive of a data directory, taken while the service runs.

Every SQLite database is copied through SQLite's online backup API (a consistent copy
while the service keeps writing, WAL included); every other regular file (keys, config,
enrolment) is copied as it is; what a running service writes about itself (endpoint,
health.json, WAL/SHM side files, temporary files) is left out. The whole is a tar held in
memory, sealed with SecretBox under a key derived from a passphrase by Argon2id (the
project's passphrase helpers), so the archive can sit on any backup medium.

Archive layout (a file, mode 0600):

    LANYARD-BACKUP/1\\n
    {"kind": "registry"|"agent", "created_at": ISO, "facts": {...}, "kdf": {...}}\\n
    SecretBox(tar of manifest.json and the files)

The header says what the archive is before the passphrase is asked; the manifest inside
repeats kind and facts (e.g. the registry's OPRF epoch) with each file's SHA-256, and
`open_archive` refuses an archive whose header and manifest disagree.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.exceptions
from nacl.secret import SecretBox

from lanyard.core import files, passphrase
from lanyard.core.errors import Error
from lanyard.core.serving import LOCK_FILE

MAGIC = b"LANYARD-BACKUP/1\n"
MANIFEST = "manifest.json"
# What a running service writes about itself, and SQLite's side files: never archived.
SKIPPED_NAMES = frozenset({"endpoint", "health.json", ".health-probe", "serve.lock"})
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")


class BackupError(Error):
    """An archive cannot be made, opened or restored; the message says why."""


@dataclass(frozen=True, slots=True)
class Archive:
    kind: str
    created_at: str
    facts: dict[str, Any]
    files: dict[str, bytes] = field(repr=False)


def _skipped(rel: Path) -> bool:
    name = rel.name
    return name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES) or name.startswith(".")


def _copy_database(path: Path, scratch: Path) -> bytes:
    """A consistent copy of a live SQLite database through the online backup API."""
    copy = scratch / (path.name + ".copy")
    try:
        source = sqlite3.connect(path, timeout=30.0)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        return copy.read_bytes()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be copied: {exc}") from exc
    finally:
        copy.unlink(missing_ok=True)


def collect(data_dir: Path, databases: Iterable[str]) -> dict[str, bytes]:
    """relative path -> contents for every file worth restoring in `data_dir`."""
    if not data_dir.is_dir():
        raise BackupError(f"{data_dir} is not a data directory")
    dbs = set(databases)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="lanyard-backup-") as tmp:
        for path in sorted(data_dir.rglob("*")):
            rel = path.relative_to(data_dir)
            if not path.is_file() or path.is_symlink() or _skipped(rel):
                continue
            try:
                out[rel.as_posix()] = (
                    _copy_database(path, Path(tmp)) if rel.as_posix() in dbs else path.read_bytes()
                )
            except OSError as exc:
                raise BackupError(f"{path} cannot be read: {exc.strerror}") from exc
    missing = dbs - out.keys()
    if missing:
        raise BackupError(f"{data_dir} has no {', '.join(sorted(missing))}")
    return out


def _tar(entries: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, body in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _untar(blob: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        for info in tar.getmembers():
            name = info.name
            if not info.isfile() or name.startswith("/") or ".." in Path(name).parts:
                raise BackupError(f"the archive holds an unexpected entry {name[:60]!r}")
            member = tar.extractfile(info)
            assert member is not None  # a regular file
            out[name] = member.read()
    return out


def write_archive(
    out: Path,
    kind: str,
    facts: dict[str, Any],
    entries: dict[str, bytes],
    secret: str,
    strength: str = "moderate",
) -> None:
    """Seal `entries` under `secret` into `out` (mode 0600, written atomically)."""
    try:
        passphrase.check_new(secret)
    except Error as exc:
        raise BackupError(str(exc)) from exc
    created = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = {
        "kind": kind,
        "created_at": created,
        "facts": facts,
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in entries.items()},
    }
    blob = _tar({MANIFEST: json.dumps(manifest, sort_keys=True).encode(), **entries})
    kdf = passphrase.new_params(strength)
    sealed = SecretBox(passphrase.derive(secret, kdf)).encrypt(blob)
    header = {"kind": kind, "created_at": created, "facts": facts, "kdf": kdf}
    body = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + bytes(sealed)
    try:
        files.write_atomically(out, body)
    except OSError as exc:
        raise BackupError(f"cannot write {out}: {exc.strerror}") from exc


def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    """The archive's clear header (kind, created_at, facts, kdf) and its sealed body."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    if not raw.startswith(MAGIC):
        raise BackupError(f"{path} is not a Lanyard backup archive")
    line, _, sealed = raw[len(MAGIC) :].partition(b"\n")
    try:
        header = json.loads(line)
        if not isinstance(header, dict) or not isinstance(header.get("facts"), dict):
            raise ValueError("no facts")
    except ValueError as exc:
        raise BackupError(f"{path} has a damaged header") from exc
    return header, sealed


def open_archive(path: Path, secret: str) -> Archive:
    """Decrypt and check an archive: every file's digest, the header against the manifest."""
    header, sealed = read_header(path)
    try:
        blob = SecretBox(passphrase.derive(secret, header["kdf"])).decrypt(sealed)
    except nacl.exceptions.CryptoError as exc:
        raise BackupError(
            f"the passphrase does not open {path} (or the archive is damaged)"
        ) from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise BackupError(f"{path} has a damaged header") from exc
    entries = _untar(bytes(blob))
    try:
        manifest = json.loads(entries.pop(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise BackupError(f"{path} holds no manifest") from exc
    for key in ("kind", "created_at", "facts"):
        if manifest.get(key) != header.get(key):
            raise BackupError(f"{path}: the header's {key} does not match the sealed manifest")
    if set(manifest["files"]) != set(entries):
        raise BackupError(f"{path}: the files do not match the manifest")
    for name, body in entries.items():
        if hashlib.sha256(body).hexdigest() != manifest["files"][name]:
            raise BackupError(f"{path}: {name} is damaged")
    return Archive(manifest["kind"], manifest["created_at"], manifest["facts"], entries)


@contextmanager
def service_stopped(data_dir: Path, serve_command: str) -> Iterator[None]:
    """Keep `serve_command` off `data_dir` while a restore replaces it. BackupError, in one
    sentence, while a `serve` holds the directory's lock (core/serving.exclusive), in this
    process or another: it would go on writing into the copy moved aside, and everything
    written from then on would be lost at its next start. The lock is held until the
    restore is done; it is the old directory's lock, moved aside with it, so it keeps out
    a `serve` started on the old files, not one started on the new directory half-way."""
    fd: int | None = None
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError):
        pass  # `serve` creates the file before it does anything else: none runs here
    except OSError as exc:
        raise BackupError(
            f"cannot tell whether `{serve_command}` is running on {data_dir}: "
            f"{data_dir / LOCK_FILE} cannot be opened ({exc.strerror}); run the restore as "
            "the service's user"
        ) from exc
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BackupError(
                f"`{serve_command}` is running on {data_dir}; stop it before restoring "
                "(nothing was changed)"
            ) from exc
        yield
    finally:
        os.close(fd)  # closing releases the lock


def move_aside(target: Path, replace: bool) -> None:
    """Make room for a restore into `target`: a directory with anything in it is moved to
    `<target>.replaced-<UTC time>` with `replace`, else BackupError."""
    if not target.exists() or not any(target.iterdir()):
        return
    if not replace:
        raise BackupError(f"{target} is not empty; give --replace to move it aside and restore")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    shutil.move(target, target.with_name(f"{target.name}.replaced-{stamp}"))


def extract(archive: Archive, data_dir: Path) -> None:
    """Write the archive's files into `data_dir`, which must be absent or empty (mode 0700
    directories, 0600 files)."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(
            f"{data_dir} is not empty; move it aside (or give an empty directory) to restore"
        )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for name, body in sorted(archive.files.items()):
        target = data_dir / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        files.write_atomically(target, body)
