"""`lanyard bench registry` runs end to end and its figures hang together (no timings)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator

import pytest
import structlog

from cli import bench
from cli.output import CliError
from services.core import logs


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """Logging as `lanyard` sets it up (warning level, stderr), restored afterwards."""
    saved = structlog.get_config()
    logs.configure(level="warning", stream=sys.stderr)
    yield
    structlog.configure(**saved)


async def test_figures_are_positive_and_ratio_is_consistent() -> None:
    f = await bench.measure(identities=200, batch=100, in_flight=2, rounds=2, floor_iterations=60)

    for key in (
        "agent_floor_us",
        "registry_floor_us",
        "registry_floor_per_s",
        "cores",
        "sequential_per_s",
        "concurrent_per_s",
        "throughput_per_s",
        "cpu_busy",
        "ratio",
    ):
        assert f[key] > 0, key
    assert f["throughput_per_s"] == max(f["sequential_per_s"], f["concurrent_per_s"])
    assert math.isclose(f["registry_floor_per_s"], 1e6 / f["registry_floor_us"], rel_tol=1e-9)
    assert math.isclose(
        f["ratio"], f["throughput_per_s"] / (f["registry_floor_per_s"] * f["cores"]), rel_tol=1e-9
    )
    assert f["target_ratio"] == bench.TARGET_RATIO
    assert f["cores"] == bench.available_cores()
    assert (f["identities"], f["batch"], f["in_flight"], f["rounds"]) == (200, 100, 2, 2)


async def test_batch_over_the_registry_limit_is_refused() -> None:
    with pytest.raises(CliError, match="over the registry's limit"):
        await bench.measure(identities=20, batch=10_001, floor_iterations=10)


@pytest.mark.usefixtures("cli_logging")
def test_command_prints_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_registry(
        identities=50, batch=25, in_flight=2, rounds=1, floor_iterations=30, json_out=True
    )

    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(returned)
    assert set(printed) >= {"agent_floor_us", "registry_floor_us", "cores", "ratio"}


@pytest.mark.usefixtures("cli_logging")
def test_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_registry(
        identities=50, batch=25, in_flight=2, rounds=1, floor_iterations=30
    )

    out = capsys.readouterr().out
    assert "registry floor, 1 core" in out
    assert f"{returned['ratio']:.2f} (target ≥ 0.8" in out
