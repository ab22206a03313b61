"""`lanyard bench registry` and `lanyard bench agent` run end to end and their figures
hang together (no timings: those are for a person to read, not for a test to assert)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from lanyard.agent.screening.csv_import import Row, open_export
from lanyard.cli.bench import agent as bench_agent
from lanyard.cli.bench import commands as bench
from lanyard.cli.bench import export as bench_export
from lanyard.cli.bench import floors
from lanyard.cli.bench import records as bench_records
from lanyard.cli.output import CliError
from lanyard.core import identity, logs, snapshot
from lanyard.core.identity import Kind


@pytest.fixture
def cli_logging() -> None:
    """Logging as `lanyard` sets it up (warning level, stderr); conftest's autouse
    `clean_env` restores structlog afterwards."""
    logs.configure(level="warning", stream=sys.stderr)


async def test_figures_are_positive_and_ratio_is_consistent() -> None:
    f = await bench.measure(identities=200, batch=100, in_flight=2, rounds=2, floor_iterations=60)

    for key in (
        "agent_floor_us",
        "registry_floor_us",
        "floor_per_s",
        "client_verify_floor_us",
        "cores",
        "sequential_per_s",
        "concurrent_per_s",
        "throughput_per_s",
        "cpu_busy",
        "ratio",
    ):
        assert f[key] > 0, key
    assert f["throughput_per_s"] == max(f["sequential_per_s"], f["concurrent_per_s"])
    assert math.isclose(
        f["floor_per_s"],
        1e6 / (f["registry_floor_us"] + f["client_verify_floor_us"]),
        rel_tol=1e-9,
    )
    assert math.isclose(
        f["ratio"], f["throughput_per_s"] / (f["floor_per_s"] * f["cores"]), rel_tol=1e-9
    )
    assert f["target_ratio"] == bench.TARGET_RATIO
    # The floor includes the proof (spec §3a): dearer than evaluation alone, on both sides.
    for side in ("agent", "registry"):
        assert f[f"{side}_proof_cost"] > 1, side
        assert math.isclose(
            f[f"{side}_proof_cost"], f[f"{side}_floor_us"] / f[f"{side}_eval_floor_us"]
        )
    assert f["ratio_eval_floor"] < f["ratio"]
    assert f["cores"] == floors.available_cores()
    assert (f["identities"], f["batch"], f["in_flight"], f["rounds"]) == (200, 100, 2, 2)


async def test_batch_over_the_registry_limit_is_refused() -> None:
    with pytest.raises(CliError, match="over the registry's limit"):
        await bench.measure(identities=20, batch=10_001, floor_iterations=10)


@pytest.mark.usefixtures("cli_logging")
def test_command_prints_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_registry(
        identities=50,
        batch=25,
        in_flight=2,
        rounds=1,
        floor_iterations=30,
        records=0,
        json_out=True,
    )

    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(returned)
    assert set(printed) >= {"agent_floor_us", "registry_floor_us", "cores", "ratio"}


@pytest.mark.usefixtures("cli_logging")
def test_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_registry(
        identities=50, batch=25, in_flight=2, rounds=1, floor_iterations=30, records=0
    )

    out = capsys.readouterr().out
    assert "registry floor, 1 core" in out
    assert f"{returned['ratio']:.2f} (target ≥ 0.8" in out


# -- `lanyard bench agent` ------------------------------------------------------------------


def test_generated_people_are_unique_after_normalisation() -> None:
    people = [bench_export.person(i) for i in range(5000)]
    names = {identity.message(Kind.NAME, p.name) for p in people}
    emails = [identity.message(Kind.EMAIL, p.email) for p in people if p.email]

    assert len(names) == len(people)
    assert len(set(emails)) == len(emails) > 0.9 * len(people)
    assert bench_export.person(4321) == people[4321]  # the same person in every file


def test_generated_export_reads_back_as_pretix(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    identities = bench_export.write_export(path, 300)

    export = open_export(path)
    rows = list(export.rows())
    assert export.layout.format == "pretix"
    assert all(isinstance(r, Row) for r in rows)
    assert len(rows) == 300
    # The attendee's name and e-mail, or the name and the buyer's e-mail.
    assert identities == sum(
        1 + (r.email is not None) + (r.buyer_email is not None) for r in rows if isinstance(r, Row)
    )


def test_percentile_is_nearest_rank() -> None:
    samples = [float(v) for v in range(100, 0, -1)]

    assert bench_agent.percentile(samples, 50) == 50.0
    assert bench_agent.percentile(samples, 99) == 99.0
    assert bench_agent.percentile(samples, 100) == 100.0
    assert bench_agent.percentile([7.0], 99) == 7.0


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


@pytest.mark.slow
async def test_agent_figures_are_positive_and_consistent() -> None:
    f = await bench_agent.measure(
        rows=200, checks=50, memory_rows=2000, rounds=2, floor_iterations=60
    )

    # 8 and then 32 callers at once: every Check answered (zero failed), the rest measured.
    assert f.pop("check_8_callers_errors") == 0
    assert f.pop("check_32_callers_errors") == 0
    for key, value in f.items():
        assert value > 0, key
    cores = f["cores"]
    assert cores == floors.available_cores()
    # Throughput: every generated identity is new, so each cost one evaluation.
    assert f["screen_screened"] == 200
    assert f["screen_identities"] == f["screen_evaluations"]
    assert _close(
        f["screen_ideal_seconds"],
        f["screen_identities"] * (f["agent_floor_us"] + f["registry_floor_us"]) / 1e6 / cores,
    )
    assert _close(f["throughput_ratio"], f["screen_ideal_seconds"] / f["screen_seconds"])
    assert _close(f["screen_rows_per_s"], 200 / f["screen_seconds"])
    assert _close(f["throughput_ratio"], f["screen_cpu_efficiency"] * f["screen_cpu_busy"])
    # The whole machine's busy share meanwhile (Linux): a share, or -1 where unknown.
    assert 0 < f["screen_machine_busy"] <= 1 or f["screen_machine_busy"] == -1
    # The floor includes the proof's work (spec §3a); without it, the same run looks slower.
    assert f["agent_proof_cost"] > 1
    assert f["registry_proof_cost"] > 1
    assert f["throughput_ratio_eval_floor"] < f["throughput_ratio"]
    # Check latency.
    for key in (
        "check_new",
        "check_known",
        "check",
        "check_8_callers",
        "check_32_callers",
        "health_8_callers",
        "health_32_callers",
        "round_trip",
    ):
        assert f[f"{key}_p50_ms"] <= f[f"{key}_p99_ms"], key
    assert _close(f["check_p99_round_trips"], f["check_p99_ms"] / f["round_trip_p50_ms"])
    # A new person's floor: two round trips and the crypto of a name and an e-mail, which
    # costs more than two identities' share of a screening batch (the proof is per call).
    assert _close(f["check_new_floor_ms"], 2 * f["round_trip_p50_ms"] + f["check_crypto_floor_ms"])
    assert f["check_crypto_floor_ms"] * 1000 > 2 * (f["agent_floor_us"] + f["registry_floor_us"])
    assert _close(f["check_new_ratio"], f["check_new_floor_ms"] / f["check_new_p50_ms"])
    assert _close(f["check_known_ratio"], f["round_trip_p50_ms"] / f["check_known_p50_ms"])
    # Re-check: the file's people (its 200 attendees, and the buyers of the tickets whose
    # attendee gave no e-mail), one alert per round (the record added matches).
    assert f["recheck_alerts"] == 2
    assert 200 < f["recheck_attendees"] < 300
    assert f["recheck_identities"] == f["screen_identities"]
    assert _close(f["recheck_floor_seconds"], f["recheck_identities"] * f["tag_floor_us"] / 1e6)
    assert _close(f["recheck_ratio"], f["recheck_floor_seconds"] / f["recheck_seconds"])
    # Peak memory of the child processes.
    assert (f["memory_small_rows"], f["memory_rows"]) == (200, 2000)
    assert _close(f["memory_growth"], f["memory_peak_mb"] / f["memory_small_peak_mb"])
    assert _close(f["memory_rows_per_s"], 2000 / f["memory_seconds"])
    identities = 2 * 2000  # a name and an e-mail (the attendee's or else the buyer's) each
    assert _close(
        f["memory_throughput_ratio"],
        identities
        * (f["agent_floor_us"] + f["registry_floor_us"])
        / 1e6
        / cores
        / f["memory_seconds"],
    )
    assert f["target_throughput_ratio"] == bench_agent.TARGET_THROUGHPUT_RATIO
    # `lanyard screen` of the same 200 rows as a whole process, start-up included.
    assert _close(
        f["process_ratio"],
        2 * 200 * (f["agent_floor_us"] + f["registry_floor_us"]) / 1e6 / cores
        / f["process_seconds"],
    )  # fmt: skip
    # Its CPU, split between the two sides, each counted once: no more than its cores
    # could give in its time (one poll and one clock tick of slack).
    parts = ("agent", "agent_workers", "registry", "registry_workers")
    used = sum(f[f"process_{p}_cpu_us"] for p in parts) * 2 * 200 / 1e6
    assert used <= cores * (f["process_seconds"] + 0.1) + 0.05
    assert f["point_check_us"] < f["registry_floor_us"]


@pytest.mark.parametrize(
    ("rows", "checks", "refusal"),
    [(10, 10, "rows must be at least 100"), (100, 1, "someone new and someone known")],
)
async def test_agent_refuses_sizes_it_cannot_measure(rows: int, checks: int, refusal: str) -> None:
    with pytest.raises(CliError, match=refusal):
        await bench_agent.measure(rows=rows, checks=checks, skip_memory=True, floor_iterations=10)


@pytest.mark.usefixtures("cli_logging")
def test_agent_command_prints_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_agent(
        rows=100, checks=10, skip_memory=True, rounds=1, floor_iterations=30, json_out=True
    )

    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(returned)
    assert "memory_peak_mb" not in printed
    assert set(printed) >= {"throughput_ratio", "check_p99_ms", "sync_seconds", "cores"}


@pytest.mark.usefixtures("cli_logging")
def test_agent_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    returned = bench.bench_agent(
        rows=100, checks=10, skip_memory=True, rounds=1, floor_iterations=30
    )

    out = capsys.readouterr().out  # cells wrap at 80 columns: look for short pieces only
    assert "agent floor, 1 core" in out
    assert f"{returned['throughput_ratio']:.2f}" in out
    assert "Check, all 10 calls" in out
    assert "32 callers" in out
    assert "skipped (--skip-memory)" in out
    assert f"{returned['process_seconds']:.2f} s" in out
    assert "§3 check on B" in out


async def test_record_figures_hang_together() -> None:
    f = await bench.measure(identities=40, batch=20, rounds=1, floor_iterations=30, records=30)

    assert f["records"] == 30
    assert math.isclose(
        f["import_floor_s"], 60 * (f["agent_floor_us"] + f["registry_floor_us"]) / 1e6, rel_tol=1e-9
    )
    assert math.isclose(f["import_ratio"], f["import_s"] / f["import_floor_s"], rel_tol=1e-9)
    # 50 records and one per sample, 2 forms each, padded; then 30 and as many more.
    small = 2 * (50 + bench_records.SAMPLES)
    assert f["small_entries"] == snapshot.padded_size(small)
    assert f["large_entries"] == snapshot.padded_size(small + 2 * (30 + bench_records.SAMPLES))
    for key in ("small_add_ms", "small_sync_ms", "large_add_ms", "large_sync_ms"):
        assert f[key] > 0, key
    # Each size's first sync ran as a whole `lanyard check` process with its own memory,
    # and the registry as a child process of its own.
    for key in ("small_first_sync_s", "large_first_sync_s", "registry_peak_mb", "bench_peak_mb"):
        assert f[key] > 0, key
    assert 20 < f["large_first_sync_mb"] < 1000
    assert 20 < f["registry_peak_mb"] < 1000
    assert "million_entries" not in f


def test_machine_busy_is_a_share_of_two_readings() -> None:
    before = floors.machine_ticks()
    if before is None:  # not Linux: unknown, said as -1
        assert floors.machine_busy(before, floors.machine_ticks()) == -1.0
        return
    after = before
    while after[0] == before[0]:  # work of this process's until the clock ticks
        sum(i * i for i in range(10_000))
        after = floors.machine_ticks() or before
    assert 0.0 <= floors.machine_busy(before, after) <= 1.0
    assert floors.machine_busy(before, before) == -1.0  # no time passed: unknown
    assert floors.machine_busy((100, 40), (200, 65)) == 0.75
