"""A wheel of Lanyard installs exactly one top-level package, `lanyard`, and all of it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("--disable-pip-version-check", "-w", str(out), str(ROOT)),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("lanyard-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_installs_one_top_level_package(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["lanyard"]
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"lanyard"}


def test_wheel_holds_every_module_and_data_file(wheel: zipfile.ZipFile) -> None:
    src = ROOT / "src"
    shipped = {
        p.relative_to(src).as_posix()
        for p in src.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not any(part.endswith(".egg-info") for part in p.parts)
    }
    assert shipped <= set(wheel.namelist())
    assert "lanyard/py.typed" in shipped
    assert "lanyard/cli/data/demo_attendees.csv" in shipped
