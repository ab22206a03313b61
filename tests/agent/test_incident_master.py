"""The incident records' master key: made once, stored only wrapped, opened only with the
passphrase or key file it was made with; every wrong way in is one sentence."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from lanyard.agent.errors import DataDirError, LockedError
from lanyard.agent.incidents import crypto

PASSPHRASE = "a long enough passphrase"


def test_a_passphrase_master_opens_with_that_passphrase_only(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    master = crypto.create_master(path, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    assert len(master) == crypto.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    meta = json.loads(path.read_text())
    assert (meta["format"], meta["kind"]) == (crypto.MASTER_FORMAT, "passphrase")
    assert master.hex() not in path.read_text()
    assert crypto.unlock_master(path, crypto.Unlock(passphrase=PASSPHRASE)) == master
    with pytest.raises(LockedError, match="wrong passphrase"):
        crypto.unlock_master(path, crypto.Unlock(passphrase=PASSPHRASE + "!"))
    with pytest.raises(LockedError, match="locked with a passphrase"):
        crypto.unlock_master(path, crypto.Unlock(key_file=tmp_path / "k"))


def test_a_key_file_master_opens_with_that_file_only(tmp_path: Path) -> None:
    path, key = tmp_path / "master.json", tmp_path / "incidents.key"
    master = crypto.create_master(path, crypto.Unlock(key_file=key))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["kind"] == "key-file"
    assert crypto.unlock_master(path, crypto.Unlock(key_file=key)) == master
    other = tmp_path / "other.key"
    other.write_bytes(b"\x01" * crypto.KEY_BYTES)
    other.chmod(0o600)
    with pytest.raises(LockedError, match="wrong key file"):
        crypto.unlock_master(path, crypto.Unlock(key_file=other))
    with pytest.raises(LockedError, match="locked with a key file"):
        crypto.unlock_master(path, crypto.Unlock(passphrase=PASSPHRASE))
    with pytest.raises(LockedError, match="does not exist"):
        crypto.unlock_master(path, crypto.Unlock(key_file=tmp_path / "missing.key"))


def test_an_existing_key_file_is_used_not_replaced(tmp_path: Path) -> None:
    key = tmp_path / "incidents.key"
    key.write_bytes(b"\x02" * crypto.KEY_BYTES)
    key.chmod(0o600)
    crypto.create_master(tmp_path / "master.json", crypto.Unlock(key_file=key))
    assert key.read_bytes() == b"\x02" * crypto.KEY_BYTES


def test_the_master_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    crypto.create_master(path, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    before = path.read_bytes()
    with pytest.raises(DataDirError, match="already exists"):
        crypto.create_master(path, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    assert path.read_bytes() == before


def test_refusals_when_making_the_master(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    with pytest.raises(LockedError, match="give a passphrase or a key file"):
        crypto.create_master(path, crypto.Unlock())
    with pytest.raises(LockedError, match="at least"):
        crypto.create_master(path, crypto.Unlock(passphrase="short"))
    assert not path.exists()


def test_a_missing_or_foreign_master_file(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    with pytest.raises(LockedError, match="not set up"):
        crypto.unlock_master(path, crypto.Unlock(passphrase=PASSPHRASE))
    for text in (
        "not json",
        '["a list"]',
        "{}",
        '{"format": "lanyard-incident-master/0"}',
        '{"format": "lanyard-incident-master/2"}',
    ):
        path.write_text(text)
        with pytest.raises(DataDirError):
            crypto.unlock_master(path, crypto.Unlock(passphrase=PASSPHRASE))


def test_the_passphrase_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANYARD_AGENT_PASSPHRASE", PASSPHRASE)
    assert crypto.passphrase_from_env() == PASSPHRASE
    monkeypatch.delenv("LANYARD_AGENT_PASSPHRASE")
    assert crypto.passphrase_from_env() is None
