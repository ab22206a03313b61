"""A WG member's own keys for reading reports: X25519 to open them, Ed25519 to sign steps.

Kept in one file on the member's machine, sealed under their passphrase; only the public
halves ever leave it. After a rekey the file also keeps the earlier keys (retired), so
reports sealed to an earlier X25519 key still open.
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
    # Earlier (X25519, Ed25519) keys, oldest first, kept after each rekey.
    retired: tuple[tuple[nacl.public.PrivateKey, nacl.signing.SigningKey], ...] = ()

    @property
    def encryption_keys(self) -> list[nacl.public.PrivateKey]:
        """The current X25519 key, then the retired ones, newest first."""
        return [self.encryption, *(enc for enc, _ in reversed(self.retired))]

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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    save(path, member, secret, strength)
    return member


def rekeyed(member: MemberKeys) -> MemberKeys:
    """New keys for `member`; the current ones join the retired ones."""
    return MemberKeys(
        member.name,
        nacl.public.PrivateKey.generate(),
        nacl.signing.SigningKey.generate(),
        (*member.retired, (member.encryption, member.signing)),
    )


def strength(path: Path) -> str:
    """The passphrase strength the key file was sealed with (kept across a rekey)."""
    secret = _read(path)["secret"]
    limits = (secret.get("opslimit"), secret.get("memlimit"))
    return next((n for n, v in passphrase.STRENGTHS.items() if v == limits), "moderate")


def save(path: Path, member: MemberKeys, secret: str, strength: str = "moderate") -> None:
    """Write the key file (mode 0600, atomically): current and retired keys, sealed."""
    raw = bytes(member.encryption) + bytes(member.signing)
    raw += b"".join(bytes(enc) + bytes(sig) for enc, sig in member.retired)
    record = {
        "format": FORMAT,
        "name": member.name,
        "encryption_public": member.encryption_public.hex(),
        "signing_public": member.signing_public.hex(),
        "retired": [
            {
                "encryption_public": bytes(e.public_key).hex(),
                "signing_public": bytes(s.verify_key).hex(),
            }
            for e, s in member.retired
        ],
        "secret": passphrase.wrap(raw, secret, strength),
    }
    files.write_atomically(path, (json.dumps(record, indent=2) + "\n").encode())


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
    if len(raw) < 64 or len(raw) % 64:
        raise KeyFileError(f"{path} holds {len(raw)} bytes of keys, not pairs of 32")
    pairs = [
        (nacl.public.PrivateKey(raw[i : i + 32]), nacl.signing.SigningKey(raw[i + 32 : i + 64]))
        for i in range(0, len(raw), 64)
    ]
    return MemberKeys(record["name"], pairs[0][0], pairs[0][1], tuple(pairs[1:]))


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
