"""Secrets kept under a passphrase: Argon2id (libsodium's pwhash) then SecretBox.

Used for the agent's incident master key and for WG members' report-reading keys, both
of which must survive a stolen disk.
"""

from __future__ import annotations

from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.utils
from nacl.secret import SecretBox

from lanyard.core.errors import Error

STRENGTHS = {
    "interactive": (
        nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE),
}
MIN_LENGTH = 12


class WrongPassphrase(Error):
    """The passphrase does not open the secret."""


def derive(passphrase: str, params: dict[str, Any]) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(
            SecretBox.KEY_SIZE,
            passphrase.encode(),
            bytes.fromhex(params["salt"]),
            opslimit=int(params["opslimit"]),
            memlimit=int(params["memlimit"]),
        )
    )


def new_params(strength: str = "moderate") -> dict[str, Any]:
    if strength not in STRENGTHS:
        raise Error(f"strength must be one of {', '.join(STRENGTHS)}")
    ops, mem = STRENGTHS[strength]
    return {
        "salt": nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES).hex(),
        "opslimit": ops,
        "memlimit": mem,
    }


def check_new(passphrase: str) -> None:
    if len(passphrase) < MIN_LENGTH:
        raise Error(f"the passphrase must be at least {MIN_LENGTH} characters")


def wrap(secret: bytes, passphrase: str, strength: str = "moderate") -> dict[str, Any]:
    """A JSON-able record of `secret` sealed under `passphrase`."""
    check_new(passphrase)
    params = new_params(strength)
    params["wrapped"] = bytes(SecretBox(derive(passphrase, params)).encrypt(secret)).hex()
    return params


def unwrap(record: dict[str, Any], passphrase: str) -> bytes:
    try:
        key = derive(passphrase, record)
        return bytes(SecretBox(key).decrypt(bytes.fromhex(record["wrapped"])))
    except nacl.exceptions.CryptoError as exc:
        raise WrongPassphrase("wrong passphrase") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise Error("the passphrase-protected record is damaged") from exc
