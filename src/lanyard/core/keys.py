"""Secret key files: written 0600 atomically, refused when others can read them.

Every secret Lanyard keeps (OPRF scalars, Ed25519 seeds) is a small raw file in a service's
data directory. A file others can read is treated as a leaked key, not silently used.
"""

from __future__ import annotations

import functools
import stat
from pathlib import Path

import nacl.exceptions
import nacl.signing
from nacl import bindings as sodium

from lanyard.core import files
from lanyard.core.errors import KeyFileError, SignatureError

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def read_secret(path: Path, size: int) -> bytes:
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.strerror}") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "run chmod 600 on it"
        )
    if len(data) != size:
        raise KeyFileError(f"key file {path} must hold {size} bytes, holds {len(data)}")
    return data


def generate_signing_key(path: Path) -> nacl.signing.SigningKey:
    key = nacl.signing.SigningKey.generate()
    files.write_atomically(path, bytes(key))
    return key


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(read_secret(path, SEED_BYTES))


def public_key_bytes(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


@functools.lru_cache(maxsize=4096)
def _verify_key(data: bytes) -> nacl.signing.VerifyKey | str:
    """The VerifyKey of 32 bytes, or why they are not one. Cached: every authenticated
    call parses its caller's key, and the point check is most of that call's key work."""
    if not sodium.crypto_core_ed25519_is_valid_point(data):
        return "is not a valid Ed25519 public key"
    try:
        return nacl.signing.VerifyKey(data)
    except (nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return "is not an Ed25519 public key"


def parse_public_key(data: bytes, what: str = "public key") -> nacl.signing.VerifyKey:
    """An Ed25519 public key: 32 bytes encoding a point of the prime-order group (a
    mistyped or small-order key would otherwise be accepted and never verify). Raises
    SignatureError naming `what`."""
    if len(data) != PUBLIC_KEY_BYTES:
        raise SignatureError(f"{what} must be {PUBLIC_KEY_BYTES} bytes, got {len(data)}")
    parsed = _verify_key(bytes(data))
    if isinstance(parsed, str):
        raise SignatureError(f"{what} {parsed}")
    return parsed


def parse_public_key_hex(text: str, what: str = "public key") -> bytes:
    text = text.strip()
    if len(text) != PUBLIC_KEY_BYTES * 2:
        raise SignatureError(
            f"{what} must be {PUBLIC_KEY_BYTES * 2} hex digits, got {len(text)} characters"
        )
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise SignatureError(f"{what} must be {PUBLIC_KEY_BYTES * 2} hex digits") from exc
    parse_public_key(data, what)
    return data


def sign(key: nacl.signing.SigningKey, message: bytes) -> bytes:
    return bytes(key.sign(message).signature)


def verify(public_key: bytes, message: bytes, signature: bytes, what: str = "signature") -> None:
    """Raise SignatureError unless `signature` is `public_key`'s over `message`."""
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"{what} must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
    try:
        parse_public_key(public_key).verify(message, signature)
    except nacl.exceptions.BadSignatureError as exc:
        raise SignatureError(f"{what} does not verify") from exc
