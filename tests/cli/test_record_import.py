"""`lanyard registry record import FILE` against a real registry on loopback: good rows
are added in batches, bad rows are named by line, and a re-run with --skip-existing
finishes what is left."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from lanyard.cli.registry.record_file import read_records
from lanyard.cli.registry.record_import import default_expiry
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.retention import add_months
from lanyard.registry.server import RunningRegistry
from tests.canary_tools import subprocess_env
from tests.cli.test_operator_edges import REPO, WAIT
from tests.cli.test_registry_cli import lanyard

CSV = """ref,status,email,name,alias,expires,ban_until
WG-1,banned,dana@example.org;dana.l@example.org,Dana Listed,,,2027-01-31
WG-2,flagged,,Flo Flagged,Flo F,2030-01-01,
WG-3,maybe,x@example.org,,,,
WG-4,flagged,not-an-address,,,,
WG-5,flagged,,,,,
WG-1,flagged,again@example.org,,,,
WG-6,flagged,six@example.org,,,not-a-date,
WG-7,flagged,seven@example.org,,,,,extra
"""


def test_csv_rows_are_read_or_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text(CSV, encoding="utf-8")
    parsed, refused = read_records(path, date(2026, 1, 1), 64, default_expiry)
    assert [(p.record.record_ref, p.forms, p.where) for p in parsed] == [
        ("WG-1", 3, "line 2"),
        ("WG-2", 2, "line 3"),
    ]
    assert parsed[0].record.expires_on == date(2029, 3, 31)  # the ban's end + 26 months
    assert parsed[0].record.ban_until == date(2027, 1, 31)
    assert parsed[1].record.ban_until is None
    assert parsed[1].record.expires_on == date(2030, 1, 1)
    assert [(r.where, r.reason.split(" ")[0]) for r in refused] == [
        ("line 4", "status"),
        ("line 5", "email"),
        ("line 6", "a"),
        ("line 7", "ref"),
        ("line 8", "expires"),
        ("line 9", "more"),
    ]


def test_json_array_and_lines(tmp_path: Path) -> None:
    array = tmp_path / "records.json"
    array.write_text(
        json.dumps(
            [
                {"ref": "J-1", "status": "flagged", "emails": ["a@example.org", "b@example.org"]},
                {"ref": "J-2", "status": "banned", "name": "Bea Banned", "bogus": 1},
                "not an object",
            ]
        ),
        encoding="utf-8",
    )
    parsed, refused = read_records(array, date(2026, 1, 1), 64, default_expiry)
    assert [p.record.record_ref for p in parsed] == ["J-1"]
    assert [(r.where, r.reason) for r in refused] == [
        ("record 2", "unknown field 'bogus'"),
        ("record 3", "not a JSON object"),
    ]
    lines = tmp_path / "records.jsonl"
    lines.write_text(
        '{"ref": "L-1", "status": "flagged", "name": "Lee Lines"}\n\n{"ref": "L-2"\n',
        encoding="utf-8",
    )
    parsed, refused = read_records(lines, date(2026, 1, 1), 64, default_expiry)
    assert [p.record.record_ref for p in parsed] == ["L-1"]
    assert refused[0].where == "line 3"


async def test_import_adds_good_rows_and_names_bad_ones(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    path = tmp_path / "records.csv"
    good = "".join(f"B-{i},flagged,b{i}@example.org,Bulk Person {i},,,\n" for i in range(7))
    path.write_text(CSV + good, encoding="utf-8")
    version = registry.service.version
    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *d, str(path), "--batch-size", "4", "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert result["added"] == 9
    assert result["batches"] == 3
    assert result["snapshot_version"] == version + 3  # one version per batch
    assert [r["where"] for r in result["refused"]] == [f"line {n}" for n in range(4, 10)]
    assert "6 row(s)" in err
    assert len(await registry.service.list_records()) == 9

    path.write_text(
        CSV.splitlines()[0] + "\nB-0,flagged,b0@example.org,,,,\nN-1,banned,n1@example.org,,,,\n",
        encoding="utf-8",
    )
    # A reference that exists is a refused row, named by its line; the rest is added.
    code, out, err = await lanyard(capsys, "registry", "record", "import", *d, str(path))
    assert code == 1, out
    said = " ".join(err.split())
    assert "Refused line 2: record B-0 already exists" in said
    assert "--skip-existing leaves it alone" in said
    assert "Imported 1 record(s)" in out
    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *d, str(path), "--skip-existing"
    )
    assert code == 0, err
    assert "Imported 0 record(s)" in out
    assert "Skipped 2 record(s)" in out
    # Under --skip-existing, a reference the file gives other data is left alone too,
    # and the rest still added: its points were evaluated for nothing, so the batch's
    # evaluation stays unclaimed, flagged for the WG's readers.
    path.write_text(
        CSV.splitlines()[0]
        + "\nB-1,flagged,other@example.org,,,,\nN-2,banned,n2@example.org,,,,\n",
        encoding="utf-8",
    )
    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *d, str(path), "--skip-existing"
    )
    assert code == 0, err
    assert "Imported 1 record(s)" in out
    assert "Skipped 1 record(s)" in out
    assert len(await registry.service.list_records()) == 11

    # Each batch claims the evaluation it came from (spec §3b).
    code, out, err = await lanyard(capsys, "registry", "evaluations", *d, "--json")
    assert code == 0, err
    leaves = json.loads(out)["leaves"]
    assert [(e["records"], e["flag"]) for e in leaves] == [
        (4, None),
        (4, None),
        (1, None),
        (2, None),  # N-1 added, B-0 skipped: it holds the points it was evaluated for
        (2, None),  # both skipped, each holding its points
        (0, "admin evaluation without a record added"),
    ]
    code, out, err = await lanyard(capsys, "registry", "evaluations", *d)
    assert code == 0, err
    assert out.count("and 3") == 2  # "<first ref> and 3 more", wrapped on a narrow terminal
    assert "1 admin-key evaluation(s) came with no record added" in out

    # A claim outlives its record: the listing says so once the record is removed.
    code, _, err = await lanyard(capsys, "registry", "record", "remove", *d, "N-1", "--yes")
    assert code == 0, err
    code, out, err = await lanyard(capsys, "registry", "evaluations", *d, "--json")
    assert code == 0, err
    assert [e["record_removed"] for e in json.loads(out)["leaves"]] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    code, out, err = await lanyard(capsys, "registry", "evaluations", *d)
    assert code == 0, err
    assert "removed" in out


async def test_an_existing_reference_is_a_refused_row_and_the_rest_is_added(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    code, _, err = await lanyard(
        capsys,
        "registry",
        "record",
        "add",
        *d,
        "--ref",
        "S-5",
        "--status",
        "flagged",
        "--email",
        "s5@example.org",
    )
    assert code == 0, err
    path = tmp_path / "records.csv"
    path.write_text(
        "ref,status,email\n" + "".join(f"S-{i},flagged,s{i}@example.org\n" for i in range(12)),
        encoding="utf-8",
    )
    # The second batch holds S-5, which exists: that row is refused by its line, and
    # every other record is added.
    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *d, str(path), "--batch-size", "4"
    )
    assert code == 1, out
    said = " ".join(err.split())
    assert "Refused line 7: record S-5 already exists" in said
    assert "Imported 11 record(s)" in out
    assert "Traceback" not in err
    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *d, str(path), "--skip-existing", "--json"
    )
    assert code == 0, err
    assert "S-5" in json.loads(out)["skipped_refs"]
    refs = sorted(r.record_ref for r in await registry.service.list_records())
    assert refs == sorted(f"S-{i}" for i in range(12))  # each once: none lost, none twice


def _records_csv(path: Path, prefix: str, total: int) -> Path:
    """`total` flagged records of one e-mail each, PREFIX-0 onwards."""
    rows = "".join(f"{prefix}-{i},flagged,{prefix.lower()}{i}@example.org\n" for i in range(total))
    path.write_text("ref,status,email\n" + rows, encoding="utf-8")
    return path


async def _three_batches_added(
    registry: RunningRegistry, first: int, ended: Callable[[], bool]
) -> None:
    """Wait (bounded) until three batches past snapshot version `first` are added, or the
    import `ended`: with two batches in flight, the third is sent only once the first is
    answered, so the import has surely counted one."""
    deadline = time.monotonic() + WAIT
    while registry.service.version < first + 3 and not ended():
        assert time.monotonic() < deadline, "the import added nothing"
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_ctrl_c_in_an_import_says_what_was_added_and_a_rerun_finishes(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = 6_000
    path = _records_csv(tmp_path / "records.csv", "C", total)
    argv = ["--data-dir", str(registry_dir.path), str(path), "--endpoint", registry.address]
    first = registry.service.version
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lanyard.cli.main",
        "registry",
        "record",
        "import",
        *argv,
        "--batch-size",
        "100",
        cwd=REPO,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as in a terminal
    )
    try:
        # Three batches added, press Ctrl-C: on a terminal it reaches the whole group,
        # the crypto worker processes too.
        await _three_batches_added(registry, first, lambda: proc.returncode is not None)
        os.killpg(proc.pid, signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = " ".join(err_bytes.decode().split())
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    said = re.search(rf"Stopped: at least (\d+) of {total} records were added", err)
    assert said is not None, err
    assert "run the same command with --skip-existing to add the rest." in err
    assert int(said[1]) <= len(await registry.service.list_records()) < total

    code, out, err = await lanyard(
        capsys, "registry", "record", "import", *argv, "--skip-existing", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["added"] + len(json.loads(out)["skipped_refs"]) == total
    refs = {r.record_ref for r in await registry.service.list_records()}
    assert refs == {f"C-{i}" for i in range(total)}


async def test_an_import_the_registry_leaves_half_way_says_what_was_added(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = 6_000
    path = _records_csv(tmp_path / "records.csv", "G", total)
    first = registry.service.version
    importing = asyncio.create_task(
        lanyard(
            capsys, "registry", "record", "import", "--data-dir", str(registry_dir.path),
            str(path), "--batch-size", "100",
        )
    )  # fmt: skip
    # Three batches added, the registry goes away.
    await _three_batches_added(registry, first, importing.done)
    await registry.server.stop(0)
    code, out, err = await asyncio.wait_for(importing, WAIT)
    assert code == 1, out
    said = " ".join(err.split())
    assert "Cannot reach the registry" in said
    found = re.search(
        rf"At least (\d+) of {total} records were added, up to snapshot version", said
    )
    assert found is not None, said
    assert 100 <= int(found[1]) <= len(await registry.service.list_records()) < total
    assert "run the same command with --skip-existing to add the rest." in said


async def test_rows_without_expiry_take_the_registrys_own_schedule(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A WG that keeps flagged records 40 months: an imported record lapses then, not at
    the built-in 26 months (when the person would read as clear)."""
    d = ["--data-dir", str(registry_dir.path)]
    code, _, err = await lanyard(
        capsys, "registry", "retention", "set", *d, "--flagged-months", "40"
    )
    assert code == 0, err
    path = _records_csv(tmp_path / "records.csv", "K", 1)
    code, _, err = await lanyard(capsys, "registry", "record", "import", *d, str(path))
    assert code == 0, err
    [record] = await registry.service.list_records()
    assert record.expires_on == add_months(date.today(), 40)
