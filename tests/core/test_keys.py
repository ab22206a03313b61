"""Key files: 0600, atomic, and refused when others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nacl.signing
import pytest

from lanyard.core import files, keys
from lanyard.core.errors import KeyFileError, SignatureError


def test_written_secret_is_private(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    files.write_atomically(path, b"x" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.read_secret(path, 32) == b"x" * 32
    assert not list(tmp_path.glob(".*.tmp"))


def test_group_readable_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    files.write_atomically(path, b"x" * 32)
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keys.read_secret(path, 32)


def test_wrong_size_and_missing_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    files.write_atomically(path, b"x" * 31)
    with pytest.raises(KeyFileError, match="32 bytes, holds 31"):
        keys.read_secret(path, 32)
    with pytest.raises(KeyFileError, match="does not exist"):
        keys.read_secret(tmp_path / "none.key", 32)


def test_signing_key_round_trip(tmp_path: Path) -> None:
    key = keys.generate_signing_key(tmp_path / "s.key")
    loaded = keys.load_signing_key(tmp_path / "s.key")
    assert bytes(loaded.verify_key) == bytes(key.verify_key)
    sig = keys.sign(loaded, b"m")
    keys.verify(bytes(key.verify_key), b"m", sig)
    with pytest.raises(SignatureError):
        keys.verify(bytes(key.verify_key), b"n", sig)


@pytest.mark.parametrize("text", ["zz" * 32, "ab" * 31, ""])
def test_bad_public_key_hex(text: str) -> None:
    with pytest.raises(SignatureError):
        keys.parse_public_key_hex(text)


def test_a_parsed_key_is_cached_and_a_bad_one_refused_every_time() -> None:
    good = bytes(nacl.signing.SigningKey.generate().verify_key)
    first = keys.parse_public_key(good)
    assert keys.parse_public_key(bytes(list(good))) is first  # equal bytes, one parse
    bad = bytes(31) + b"\x80"  # not a point of the prime-order group
    for what in ("integration key", "member key"):
        with pytest.raises(SignatureError, match=f"^{what} is not a valid Ed25519 public key"):
            keys.parse_public_key(bad, what)
    with pytest.raises(SignatureError, match="must be 32 bytes"):
        keys.parse_public_key(good[:31])
