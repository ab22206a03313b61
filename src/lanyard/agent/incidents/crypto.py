"""Incident contents at rest: a key per incident, wrapped by the agent's master key.

The master key is random; it is stored only wrapped, under a key derived from the
operator's passphrase (Argon2id) or held in a key file kept apart from the data. Each
incident's contents are sealed (SecretBox) under that incident's own key, and the keys
live in a keyring separate from the records: destroying a key makes every copy of the
record unreadable, including the ones in old backups of the records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.utils
from nacl.secret import SecretBox

from lanyard.agent.errors import DataDirError, LockedError
from lanyard.core import files, keys, passphrase
from lanyard.core.errors import Error as CoreError

KEY_BYTES = SecretBox.KEY_SIZE
MASTER_FORMAT = "lanyard-incident-master/1"


@dataclass(frozen=True)
class Unlock:
    """How the operator unlocks the master key: a passphrase or a key file's bytes."""

    passphrase: str | None = None
    key_file: Path | None = None


def _kek(meta: dict[str, Any], unlock: Unlock) -> bytes:
    if meta["kind"] == "passphrase":
        if unlock.passphrase is None:
            raise LockedError(
                "the incident records are locked with a passphrase; give it "
                "with --passphrase-file or LANYARD_AGENT_PASSPHRASE"
            )
        return passphrase.derive(unlock.passphrase, meta)
    if unlock.key_file is None:
        raise LockedError(
            "the incident records are locked with a key file; give it with --key-file"
        )
    try:
        return keys.read_secret(unlock.key_file, KEY_BYTES)
    except CoreError as exc:
        raise LockedError(str(exc)) from exc


def create_master(path: Path, unlock: Unlock, strength: str = "moderate") -> bytes:
    """Make the master key and store it wrapped; returns it. Refuses to overwrite."""
    if path.exists():
        raise DataDirError(f"{path} already exists: the incident records are set up")
    meta: dict[str, Any]
    if unlock.passphrase is not None:
        try:
            passphrase.check_new(unlock.passphrase)
            meta = {"kind": "passphrase", **passphrase.new_params(strength)}
        except CoreError as exc:
            raise LockedError(str(exc)) from exc
    elif unlock.key_file is not None:
        if not unlock.key_file.exists():
            files.write_atomically(unlock.key_file, nacl.utils.random(KEY_BYTES))
        meta = {"kind": "key-file"}
    else:
        raise LockedError("give a passphrase or a key file to protect the incident records")
    master = nacl.utils.random(KEY_BYTES)
    meta["format"] = MASTER_FORMAT
    meta["wrapped"] = bytes(SecretBox(_kek(meta, unlock)).encrypt(master)).hex()
    files.write_atomically(path, (json.dumps(meta, indent=2) + "\n").encode())
    return master


def unlock_master(path: Path, unlock: Unlock) -> bytes:
    """The master key, or LockedError with one sentence (wrong passphrase, wrong file)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LockedError(
            "the incident records are not set up: run `lanyard agent incidents-init`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise DataDirError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != MASTER_FORMAT:
        raise DataDirError(f"{path} is not a Lanyard incident master key file")
    try:
        return bytes(SecretBox(_kek(meta, unlock)).decrypt(bytes.fromhex(meta["wrapped"])))
    except nacl.exceptions.CryptoError as exc:
        what = "passphrase" if meta["kind"] == "passphrase" else "key file"
        raise LockedError(f"wrong {what}: the incident records stay locked") from exc


def new_incident_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


def wrap(master: bytes, incident_key: bytes) -> bytes:
    return bytes(SecretBox(master).encrypt(incident_key))


def unwrap(master: bytes, wrapped: bytes) -> bytes:
    try:
        return bytes(SecretBox(master).decrypt(wrapped))
    except nacl.exceptions.CryptoError as exc:
        raise DataDirError("an incident key does not open under the master key") from exc


def seal(incident_key: bytes, incident_id: int, content: dict[str, Any]) -> bytes:
    """The incident's contents, sealed; the id inside binds the box to its row (the row's
    id, whatever `content` says, so a record cannot be sealed as another incident)."""
    plain = json.dumps(
        {**content, "incident_id": incident_id}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    return bytes(SecretBox(incident_key).encrypt(plain))


def open_sealed(incident_key: bytes, incident_id: int, sealed: bytes) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(SecretBox(incident_key).decrypt(sealed))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise DataDirError(f"incident {incident_id}'s record does not open") from exc
    if data.get("incident_id") != incident_id:
        raise DataDirError(f"incident {incident_id}'s record belongs to another incident")
    return data


def passphrase_from_env() -> str | None:
    return os.environ.get("LANYARD_AGENT_PASSPHRASE")
