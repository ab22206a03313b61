"""One `serve` per data directory: a second process is refused in one sentence and leaves
the running one's endpoint file alone; every file a running service has written (the
databases with their WAL and SHM files included) is 0600."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from lanyard.agent import server as agent_server
from lanyard.client.admin import AdminClient
from lanyard.registry import server
from tests.agent.conftest import enrolled_agent_dir
from tests.registry.test_serve_process import (
    Launcher,
    assert_one_sentence,
    health_status,
    init_dir,
    launcher,  # noqa: F401
    run_lanyard,
)


def _open_to_others(root: Path) -> list[str]:
    return [str(p.name) for p in root.rglob("*") if p.is_file() and p.stat().st_mode & 0o077]


@pytest.mark.slow
def test_a_second_registry_serve_is_refused(
    tmp_path: Path,
    launcher: Launcher,  # noqa: F811
) -> None:
    data_dir = init_dir(tmp_path / "registry")
    first = launcher.serve(data_dir)
    endpoint = (data_dir / "endpoint").read_text(encoding="utf-8")
    second = run_lanyard("registry", "serve", "--data-dir", str(data_dir))
    assert second.returncode == 1
    assert "already running" in assert_one_sentence(second.stderr)
    assert (data_dir / "endpoint").read_text(encoding="utf-8") == endpoint
    status = asyncio.run(health_status(first.endpoint, None))
    assert status == health_pb2.HealthCheckResponse.SERVING
    names = {p.name for p in data_dir.rglob("*")}
    assert {"registry.db", "registry.db-wal", "registry.db-shm", "endpoint"} <= names
    assert _open_to_others(data_dir) == []


@pytest.mark.slow
async def test_a_second_agent_serve_is_refused(
    tmp_path: Path, admin: AdminClient, registry: server.RunningRegistry
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    async with agent_server.running(adir, "127.0.0.1:0") as first:
        endpoint = adir.endpoint_path.read_text(encoding="utf-8")
        assert endpoint.strip() == first.address
        second = await asyncio.to_thread(
            run_lanyard, "agent", "serve", "--data-dir", str(adir.path)
        )
        assert second.returncode == 1
        assert "already running" in assert_one_sentence(second.stderr)
        assert adir.endpoint_path.read_text(encoding="utf-8") == endpoint
        names = {p.name for p in adir.path.rglob("*")}
        assert {"agent.db", "agent.db-wal", "agent.db-shm", "enrolment.json"} <= names
        assert _open_to_others(adir.path) == []
    assert not adir.endpoint_path.exists()
