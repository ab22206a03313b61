"""One `serve` per data directory: a second one is refused in one sentence and leaves the
running one's endpoint file alone; every file a running service has written is 0600."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.admin_client import AdminClient
from services.event_agent import server as agent_server
from services.event_agent.errors import DataDirError
from services.registry import server
from services.registry.datadir import RegistryDir
from services.registry.errors import ServeError
from tests.event_agent.conftest import enrolled_agent_dir


def _open_to_others(root: Path) -> list[str]:
    return [str(p.name) for p in root.rglob("*") if p.is_file() and p.stat().st_mode & 0o077]


async def test_a_second_registry_serve_is_refused(registry_dir: RegistryDir) -> None:
    async with server.running(registry_dir) as first:
        endpoint = registry_dir.endpoint_path.read_text(encoding="utf-8")
        assert endpoint.strip() == first.address
        with pytest.raises(ServeError) as info:
            async with server.running(registry_dir):
                pass
        sentence = str(info.value)
        assert "already running" in sentence
        assert sentence.count(".") <= 1 + str(registry_dir.path).count(".")
        # The refused one removed nothing; the running one still answers.
        assert registry_dir.endpoint_path.read_text(encoding="utf-8") == endpoint
        assert first.service.version >= 0
        assert await first.service.snapshot(0)
        names = {p.name for p in registry_dir.path.rglob("*")}
        assert {"registry.db", "registry.db-wal", "registry.db-shm", "endpoint"} <= names
        assert _open_to_others(registry_dir.path) == []
    assert not registry_dir.endpoint_path.exists()
    async with server.running(registry_dir):  # the lock went with the first
        assert registry_dir.endpoint_path.exists()


async def test_a_second_agent_serve_is_refused(
    tmp_path: Path, admin: AdminClient, registry: server.RunningRegistry
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    async with agent_server.running(adir, "127.0.0.1:0") as first:
        endpoint = adir.endpoint_path.read_text(encoding="utf-8")
        assert endpoint.strip() == first.address
        with pytest.raises(DataDirError, match="already running"):
            async with agent_server.running(adir, "127.0.0.1:0"):
                pass
        assert adir.endpoint_path.read_text(encoding="utf-8") == endpoint
        names = {p.name for p in adir.path.rglob("*")}
        assert {"agent.db", "agent.db-wal", "agent.db-shm", "enrolment.json"} <= names
        assert _open_to_others(adir.path) == []
    assert not adir.endpoint_path.exists()
