"""`lanyard registry backup|restore`: the registry's data directory in one encrypted archive.

The archive records the OPRF epoch it was taken at. A restore refuses to bring back a key
the registry has since destroyed (spec §6): when the directory restored over knows a newer
epoch (its database, a newer key file, or the `oprf/epoch-N.destroyed` marker a rotation
leaves), the archive is out of date and restoring it would resurrect a destroyed key and
lose every record moved since. A restore is refused while `registry serve` runs on the
directory (it holds `serve.lock`): it would keep serving the copy moved aside.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import tempfile
from pathlib import Path

from lanyard.core import backup
from lanyard.registry.datadir import RegistryDir

KIND = "registry"
DATABASES = ("registry.db",)
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.(key|destroyed)$")


def _db_epoch(db: Path) -> int | None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT value FROM state WHERE key = 'epoch'").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


def newest_epoch(data_dir: Path) -> int | None:
    """The newest OPRF epoch a registry directory knows of (database, key files, markers of
    destroyed keys), or None when it knows none."""
    seen: list[int] = []
    db = data_dir / "registry.db"
    if db.is_file():
        epoch = _db_epoch(db)
        if epoch is not None:
            seen.append(epoch)
    oprf = data_dir / "oprf"
    if oprf.is_dir():
        for path in oprf.iterdir():
            match = _EPOCH_FILE.match(path.name)
            if match:
                seen.append(int(match[1]))
    return max(seen) if seen else None


def make(rdir: RegistryDir, out: Path, secret: str, strength: str = "moderate") -> int:
    """Archive a registry's data directory (it may be serving); returns the epoch recorded."""
    rdir.check()
    entries = backup.collect(rdir.path, DATABASES)
    with tempfile.TemporaryDirectory(prefix="lanyard-backup-") as tmp:
        copy = Path(tmp) / "registry.db"
        copy.write_bytes(entries["registry.db"])
        epoch = _db_epoch(copy)
    if epoch is None or f"oprf/epoch-{epoch}.key" not in entries:
        raise backup.BackupError(
            f"{rdir.path} does not hold the OPRF key of its current epoch; nothing was written"
        )
    backup.write_archive(out, KIND, {"epoch": epoch}, entries, secret, strength)
    return epoch


def restore(archive_path: Path, target: Path, secret: str, replace: bool = False) -> int:
    """Restore an archive into `target`; returns the epoch restored. With `replace`, an
    existing directory is first moved aside to `<target>.replaced-<UTC time>`. Refused
    while `registry serve` runs on `target`."""
    with backup.service_stopped(target, "lanyard registry serve"):
        archive = backup.open_archive(archive_path, secret)
        if archive.kind != KIND:
            raise backup.BackupError(
                f"{archive_path} is an {archive.kind}'s backup, not a registry's"
            )
        epoch = int(archive.facts["epoch"])
        if target.exists():
            known = newest_epoch(target)
            if known is not None and known > epoch:
                raise backup.BackupError(
                    f"{archive_path} was taken at OPRF epoch {epoch}, but the registry in "
                    f"{target} has since moved to epoch {known} and destroyed the older key; "
                    "restoring it would bring a destroyed key back: use a backup taken after "
                    "the rotation"
                )
        backup.move_aside(target, replace)
        backup.extract(archive, target)
    RegistryDir(target).check()
    return epoch
