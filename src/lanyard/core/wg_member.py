"""A WG member's own keys for reading reports: X25519 to open them, Ed25519 to sign steps.

Kept in one file on the member's machine, sealed under their passphrase; only the public
halves ever leave it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

from lanyard.core import files, keys, passphrase
from lanyard.core.errors import KeyFileError

FORMAT = "lanyard-wg-member/1"


@dataclass(frozen=True)
class MemberKeys:
    name: str
    encryption: nacl.public.PrivateKey
    signing: nacl.signing.SigningKey

    @property
    def encryption_public(self) -> bytes:
        return bytes(self.encryption.public_key)

    @property
    def signing_public(self) -> bytes:
        return bytes(self.signing.verify_key)


def create(path: Path, name: str, secret: str, strength: str = "moderate") -> MemberKeys:
    if path.exists():
        raise KeyFileError(f"{path} already exists; refusing to overwrite a member's keys")
    member = MemberKeys(name, nacl.public.PrivateKey.generate(), nacl.signing.SigningKey.generate())
    record = {
        "format": FORMAT,
        "name": name,
        "encryption_public": member.encryption_public.hex(),
        "signing_public": member.signing_public.hex(),
        "secret": passphrase.wrap(
            bytes(member.encryption) + bytes(member.signing), secret, strength
        ),
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.write_atomically(path, (json.dumps(record, indent=2) + "\n").encode())
    return member


def public(path: Path) -> tuple[str, bytes, bytes]:
    """(name, X25519 public key, Ed25519 public key) without the passphrase."""
    record = _read(path)
    return (
        record["name"],
        bytes.fromhex(record["encryption_public"]),
        bytes.fromhex(record["signing_public"]),
    )


def load(path: Path, secret: str) -> MemberKeys:
    record = _read(path)
    raw = passphrase.unwrap(record["secret"], secret)
    return MemberKeys(
        record["name"], nacl.public.PrivateKey(raw[:32]), nacl.signing.SigningKey(raw[32:])
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(keys.read_secret(path, path.stat().st_size).decode())
    except FileNotFoundError as exc:
        raise KeyFileError(f"no WG member key file at {path}; run `lanyard wg keygen`") from exc
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path} is not a WG member key file") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KeyFileError(f"{path} is not a WG member key file")
    missing = {"name", "encryption_public", "signing_public", "secret"} - set(data)
    if missing:
        raise KeyFileError(f"{path} lacks {', '.join(sorted(missing))}: a damaged key file")
    return data
