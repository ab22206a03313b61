"""`lanyard bench peer` without OpenMined PSI: the test suite never installs it (it pins
its own protobuf), so these cover what runs without it: the one-sentence refusals when
no interpreter with PSI is to be had, the driver's own refusal, and Lanyard's side of
the job, which must find exactly the identifiers the two sets share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lanyard.cli.bench import peer, psi_driver
from lanyard.cli.output import CliError
from tests.canary_tools import run_cli


def _one_sentence(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("Error: "), err
    assert "Traceback" not in err, err
    return " ".join(err.split())


def test_an_interpreter_without_psi_is_refused_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # This interpreter runs the tests and lacks PSI: nothing is installed into it.
    sentence = _one_sentence(capsys, ["bench", "peer", "--psi-python", sys.executable])

    assert "cannot import OpenMined PSI" in sentence
    assert peer.PSI_REQUIREMENT in sentence


def test_a_venv_that_cannot_be_built_is_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")

    sentence = _one_sentence(capsys, ["bench", "peer", "--venv", str(blocker / "venv")])

    assert "Cannot build the venv for OpenMined PSI" in sentence
    assert str(blocker / "venv") in sentence


def test_the_driver_without_psi_says_so_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, psi_driver.__file__, "--server", "3", "--client", "3", "--overlap", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("cannot import private_set_intersection.python")


@pytest.mark.parametrize(("server", "client", "overlap"), [(5, 10, 6), (10, 3, 4), (3, 3, -1)])
async def test_an_overlap_larger_than_a_set_is_refused(
    tmp_path: Path, server: int, client: int, overlap: int
) -> None:
    with pytest.raises(CliError, match="overlap must be between 0"):
        await peer.measure(Path(sys.executable), tmp_path, server, client, overlap)


@pytest.mark.slow
async def test_lanyard_side_finds_exactly_the_shared_identifiers(tmp_path: Path) -> None:
    run = await peer.run_lanyard(tmp_path, "t", server_n=30, client_n=20, overlap=7)

    assert run.import_s > 0
    assert run.screen_s > 0
    assert run.cpu_s > 0
    assert (tmp_path / "client-t.csv").read_text(encoding="utf-8").count("\n") == 21


def test_the_table_names_each_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    figures = {
        "server": 10_000, "client": 10_000, "overlap": 1000, "rounds": 3, "cores": 2,
        "lanyard_floor_s": 13.3, "lanyard_eval_floor_s": 7.0, "psi_crypto_s": 3.07,
        "crypto_ratio": 4.33, "crypto_ratio_eval_floor": 2.28, "lanyard_import_s": 7.2,
        "lanyard_cpu_s": 15.1, "psi_cpu_s": 3.07, "cpu_ratio": 4.92,
        "lanyard_screen_s": 5.5, "lanyard_process_s": 12.7, "psi_process_s": 3.17,
        "process_ratio": 4.01, "import_s": 6.51, "psi_setup_s": 0.9, "setup_ratio": 7.23,
    }  # fmt: skip

    peer.print_table(figures)

    out = capsys.readouterr().out  # cells wrap at 80 columns: short pieces only
    for piece in ("4.33", "2.28", "4.92", "4.01", "7.23", "10,000 × 10,000", "Lanyard / PSI"):
        assert piece in out, piece
