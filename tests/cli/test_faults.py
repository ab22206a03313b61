"""Faults an operator can fix: a full disk, a damaged database file.

Each gives one sentence naming the cause and the file and a non-zero exit (CLI), or
UNAVAILABLE with that sentence (gRPC), never INTERNAL; and what was answered before is
still counted. The full disk is a small tmpfs, filled up; where the machine does not let
the tests mount one, those tests are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.core import screen
from lanyard.core.channels import open_channel
from lanyard.registry import server
from tests.agent.conftest import enrolled_agent_dir
from tests.cli.test_agent_cli import assert_one_sentence, lanyard
from tests.conftest import enroll


def _fill(directory: Path) -> None:
    """Write a filler file until the filesystem under `directory` is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


def _damage(db: Path) -> None:
    db.write_bytes(b"this is not a database at all " * 200)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(db) + suffix).unlink()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk test needs one")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_registry_on_a_full_disk_answers_unavailable_and_loses_no_count(
    small_fs: Path,
) -> None:
    rdir = await server.init_registry(small_fs / "registry", listen="127.0.0.1:0")
    async with server.running(rdir) as registry:
        channel = open_channel(registry.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            event = await enroll(admin, channel, "full-2027", quota=100_000)
            epoch = await admin.current_epoch()
            points = [screen.blind(f"lanyard:v1:name:p {i}".encode()).blinded for i in range(50)]
            await event.client.evaluate(epoch, points)
            _fill(small_fs)
            answered, failure = 1, None
            for _ in range(400):
                try:
                    await event.client.evaluate(epoch, points)
                except RpcFailed as exc:
                    failure = exc
                    break
                answered += 1
            assert failure is not None, "the disk never filled up"
            assert failure.code == grpc.StatusCode.UNAVAILABLE, failure
            assert "disk is full" in failure.details
            # The file that could not be written is named: the call's nonce (nonces.db)
            # or its charge (registry.db), whichever the disk refused first.
            assert re.search(r"registry/(nonces|registry)\.db cannot be written", failure.details)
            os.unlink(small_fs / "filler")
            # Room again: the count is exactly what was answered, and work goes on.
            [info] = [e for e in await admin.list_events() if e.event_id == "full-2027"]
            assert info.evaluations_used == answered * len(points)
            await event.client.evaluate(epoch, points)
        finally:
            await channel.close()


async def test_agent_cli_on_a_full_disk_says_so_in_one_sentence(
    small_fs: Path,
    capsys: pytest.CaptureFixture[str],
    admin: AdminClient,
    registry: server.RunningRegistry,
) -> None:
    adir = await enrolled_agent_dir(small_fs, admin, registry.address)
    d = ("-d", str(adir.path))
    code, _, err = await lanyard(capsys, "check", *d, "--name", "Ada Lovelace")
    assert code == 0, err
    _fill(small_fs)
    for n in range(200):
        result = await lanyard(capsys, "check", *d, "--name", f"Person Number {n}")
        if result[0] != 0:
            break
    assert_one_sentence(result, "disk is full", "agent.db")


async def test_a_damaged_database_is_one_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    admin: AdminClient,
    registry: server.RunningRegistry,
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    d = ("-d", str(adir.path))
    code, _, err = await lanyard(capsys, "check", *d, "--name", "Ada Lovelace")
    assert code == 0, err
    _damage(adir.db_path)
    result = await lanyard(capsys, "check", *d, "--name", "Ada Lovelace")
    assert_one_sentence(result, "agent.db", "not a SQLite database")
