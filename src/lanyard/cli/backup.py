"""`lanyard registry backup|restore` and `lanyard agent backup|restore`.

Run them as the service's user (the data directory and its keys are mode 0600): under
systemd, `sudo -u lanyard lanyard registry backup …`. A backup can be taken while the
service runs; a restore is done with the service stopped, then the service is started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lanyard.agent import backup as agent_backup
from lanyard.agent.datadir import AgentDir
from lanyard.cli.agent.commands import DataDir as AgentDataDir
from lanyard.cli.agent.commands import _read_passphrase_file
from lanyard.cli.output import CliError, say
from lanyard.cli.registry.common import DataDir as RegistryDataDir
from lanyard.cli.registry.common import open_dir
from lanyard.core import passphrase
from lanyard.core.backup import BackupError
from lanyard.registry import backup as registry_backup

ENV = "LANYARD_BACKUP_PASSPHRASE"

Out = Annotated[Path, typer.Option("--out", help="The archive to write (mode 0600).")]
Archive = Annotated[Path, typer.Argument(help="An archive made by `backup`.")]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"File whose first line is the archive's passphrase (else {ENV}, else asked).",
    ),
]
Replace = Annotated[
    bool,
    typer.Option(
        "--replace", help="Move a non-empty data directory aside (DIR.replaced-TIME) first."
    ),
]
Kdf = Annotated[str, typer.Option(help="Passphrase hardness: interactive, moderate or sensitive.")]


def _secret(passphrase_file: Path | None, new: bool) -> str:
    if passphrase_file is not None:
        return _read_passphrase_file(passphrase_file)
    env = os.environ.get(ENV)
    if env:
        return env
    if sys.stdin.isatty():
        typed: str = typer.prompt(
            "Passphrase for the backup archive", hide_input=True, confirmation_prompt=new
        )
        return typed
    raise CliError(
        f"no passphrase for the archive: give --passphrase-file, set {ENV}, or run this on "
        "a terminal to type one"
    )


def _check_kdf(kdf: str) -> None:
    if kdf not in passphrase.STRENGTHS:
        raise CliError(f"--kdf must be one of {', '.join(passphrase.STRENGTHS)}, got {kdf!r}")


def registry_backup_cmd(
    data_dir: RegistryDataDir,
    out: Out,
    passphrase_file: PassphraseFile = None,
    kdf: Kdf = "moderate",
) -> None:
    """Archive the registry's data directory, keys included, encrypted (safe while serving)."""
    _check_kdf(kdf)
    rdir = open_dir(data_dir)
    secret = _secret(passphrase_file, new=True)
    try:
        epoch = registry_backup.make(rdir, out, secret, kdf)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    say(
        f"Backed up {rdir.path} to {out} (OPRF epoch {epoch}, mode 0600). It holds every key: "
        "keep it as secret as the registry itself, and its passphrase apart from it."
    )


def registry_restore_cmd(
    archive: Archive,
    data_dir: RegistryDataDir,
    passphrase_file: PassphraseFile = None,
    replace: Replace = False,
) -> None:
    """Restore a registry's archive into its data directory (with `serve` stopped)."""
    secret = _secret(passphrase_file, new=False)
    try:
        epoch = registry_backup.restore(archive, data_dir, secret, replace)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    say(
        f"Restored {archive} into {data_dir} at OPRF epoch {epoch}. Start the registry again; "
        "if its key was rotated after this backup was taken, do not: the rotation's new "
        "records are not in it."
    )


def agent_backup_cmd(
    data_dir: AgentDataDir,
    out: Out,
    passphrase_file: PassphraseFile = None,
    kdf: Kdf = "moderate",
) -> None:
    """Archive the agent's data directory, keys and incident records included, encrypted."""
    _check_kdf(kdf)
    adir = AgentDir(data_dir)
    secret = _secret(passphrase_file, new=True)
    try:
        facts = agent_backup.make(adir, out, secret, kdf)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    event = f" ({facts['event_id']})" if "event_id" in facts else ""
    say(
        f"Backed up {adir.path}{event} to {out} (mode 0600). Incident records stay sealed "
        "under their own passphrase inside it."
    )


def agent_restore_cmd(
    archive: Archive,
    data_dir: AgentDataDir,
    passphrase_file: PassphraseFile = None,
    replace: Replace = False,
) -> None:
    """Restore an agent's archive into its data directory (with `agent serve` stopped)."""
    secret = _secret(passphrase_file, new=False)
    try:
        facts = agent_backup.restore(archive, data_dir, secret, replace)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    event = f" ({facts['event_id']})" if "event_id" in facts else ""
    say(f"Restored {archive}{event} into {data_dir}. Start `lanyard agent serve` again.")
