"""Health that means something: the registry answers NOT_SERVING when it cannot keep its
data (too little free space, an unwritable directory, a part reporting failure), says why
in `lanyard registry status`, and SERVING again once the part recovers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lanyard.core.channels import open_channel
from lanyard.core.serving import data_dir_problem
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from tests.canary_tools import run_cli

WAIT = 15.0
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING


async def wait_for(address: str, wanted: int, service: str = "") -> None:
    """Follow the health Watch stream until it says `wanted` (bounded)."""
    channel = open_channel(address)
    try:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=service)
        )

        async def follow() -> None:
            async for update in stream:
                if update.status == wanted:
                    return

        await asyncio.wait_for(follow(), WAIT)
        stream.cancel()
    finally:
        await channel.close()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.wait_for(asyncio.to_thread(run_cli, list(argv)), WAIT)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
async def starved(tmp_path: Path) -> AsyncIterator[server.RunningRegistry]:
    """A registry whose operator asks for more free space than any disk has."""
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    config = replace(rdir.load_config(), min_free_mb=2**40)
    async with server.running(rdir, config=config) as running:
        yield running


async def test_too_little_free_space_is_not_serving_and_status_says_why(
    starved: server.RunningRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for service in ("", *server.SERVICE_NAMES):
        await wait_for(starved.address, NOT_SERVING, service)
    rdir = RegistryDir(tmp_path / "registry")
    recorded = json.loads(rdir.health_path.read_text(encoding="utf-8"))
    assert recorded["status"] == "NOT_SERVING"
    assert "MiB free" in recorded["problems"]["disk"]

    code, _, err = await cli(capsys, "registry", "status", "--data-dir", str(rdir.path))
    assert code == 1
    sentence = " ".join(err.split())
    assert f"The registry at {starved.address} is not serving (disk: only" in sentence
    code, out, _ = await cli(capsys, "registry", "status", "--data-dir", str(rdir.path), "--json")
    assert code == 1
    assert json.loads(out)["problems"]["disk"] == recorded["problems"]["disk"]
    code, _, err = await cli(capsys, "health", starved.address)
    assert code == 1
    assert "is not serving" in err

    # A part that recovers brings the whole server back; another part failing takes it
    # down again, whatever the first one says.
    assert starved.health is not None
    await starved.health.ok("disk")
    await wait_for(starved.address, SERVING)
    await starved.health.failing("expiry", "record expiry failed twice")
    await wait_for(starved.address, NOT_SERVING, server.SERVICE_NAMES[0])
    assert starved.health.problems == {"expiry": "record expiry failed twice"}


async def test_a_healthy_registry_says_so(
    registry: server.RunningRegistry,
    registry_dir: RegistryDir,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await wait_for(registry.address, SERVING)
    code, out, err = await cli(capsys, "registry", "status", "--data-dir", str(registry_dir.path))
    assert code == 0, err
    assert f"The registry at {registry.address} is serving." in out
    code, out, err = await cli(capsys, "health", registry.address)
    assert code == 0, err


async def test_status_of_a_registry_that_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await cli(capsys, "registry", "status", "--endpoint", "127.0.0.1:1")
    assert code == 1
    assert "cannot be reached" in err
    code, _, err = await cli(
        capsys, "registry", "status", "--data-dir", str(tmp_path / "nothing-here")
    )
    assert code == 1
    assert "Give --endpoint" in err


def test_an_unwritable_data_directory_is_a_problem(tmp_path: Path) -> None:
    assert data_dir_problem(tmp_path, 0) is None
    assert not (tmp_path / ".health-probe").exists()
    missing = tmp_path / "gone"
    problem = data_dir_problem(missing, 0)
    assert problem is not None
    assert "cannot be written" in problem
