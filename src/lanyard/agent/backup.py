"""`lanyard agent backup|restore`: the agent's data directory in one encrypted archive.

agent.db and keyring.db are copied through SQLite's online backup API while `agent serve`
runs; the event's key, the pinned enrolment, the config and the wrapped incident master key
come along. The incident records stay sealed inside (their keys are wrapped by the master
key, which the incident passphrase or key file unlocks): the archive's own passphrase
adds a second lock, it does not replace the first. A restore is refused while `agent
serve` runs on the directory (it holds `serve.lock`).
"""

from __future__ import annotations

from pathlib import Path

from lanyard.agent.datadir import AgentDir
from lanyard.core import backup

KIND = "agent"
DATABASES = ("agent.db", "keyring.db")


def make(adir: AgentDir, out: Path, secret: str, strength: str = "moderate") -> dict[str, str]:
    """Archive an agent's data directory (it may be serving); returns the facts recorded."""
    adir.check()
    present = [name for name in DATABASES if (adir.path / name).is_file()]
    entries = backup.collect(adir.path, present)
    facts = {"event_id": adir.enrolment().event_id} if adir.enrolment_path.exists() else {}
    backup.write_archive(out, KIND, facts, entries, secret, strength)
    return facts


def restore(archive_path: Path, target: Path, secret: str, replace: bool = False) -> dict[str, str]:
    """Restore an archive into `target`; with `replace`, an existing directory is first
    moved aside to `<target>.replaced-<UTC time>`. Returns the facts recorded. Refused
    while `agent serve` runs on `target`."""
    with backup.service_stopped(target, "lanyard agent serve"):
        archive = backup.open_archive(archive_path, secret)
        if archive.kind != KIND:
            raise backup.BackupError(f"{archive_path} is a {archive.kind}'s backup, not an agent's")
        backup.move_aside(target, replace)
        backup.extract(archive, target)
    AgentDir(target).check()
    return {str(k): str(v) for k, v in archive.facts.items()}
