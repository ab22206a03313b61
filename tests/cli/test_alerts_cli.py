"""`lanyard alerts` as typed, for exports without a reference column: each alert names
the file and line of every row it is about (one alert for the same person in two files)
and the record it concerns, a cleared one included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir
from tests.cli.test_agent_cli import lanyard


async def test_alerts_name_the_file_rows_and_the_record(
    registry: RunningRegistry,
    admin: AdminClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    d = ["--data-dir", str(adir.path)]
    daily = tmp_path / "daily.csv"
    daily.write_text("Name,Email\nAnn A,ann@example.com\nBob B,bob@example.com\n")
    second = tmp_path / "t2.csv"
    second.write_text("Name,Email\nDee D,dee@example.com\nAnn,ann@example.com\n")
    for export in (daily, second):
        code, out, err = await lanyard(capsys, "screen", str(export), *d)
        assert code == 0, out + err

    await admin.add_record("WG-ANN", "banned", [Identifier(Kind.EMAIL, "ann@example.com")])
    code, out, err = await lanyard(capsys, "alerts", *d, "--refresh")
    assert code == 0, err
    assert "#1: daily.csv line 2 (attendee); also t2.csv line 3 (attendee)" in out, out
    assert "WG-ANN" in out
    code, out, err = await lanyard(capsys, "alerts", *d, "--json")
    [alert] = json.loads(out)
    assert (alert["ref"], alert["source"], alert["line"], alert["where"]) == (
        "line 2",
        "daily.csv",
        2,
        "daily.csv line 2",
    )
    assert [o["where"] for o in alert["also"]] == ["t2.csv line 3"]
    assert (alert["kind"], alert["decision"], alert["record_ref"]) == (
        "new-match",
        "deny",
        "WG-ANN",
    )
    assert alert["previous"] == {"decision": "allow", "reason": "", "record_ref": ""}

    await admin.remove_record("WG-ANN")
    code, out, err = await lanyard(capsys, "alerts", *d, "--refresh")
    assert code == 0, err
    assert "was banned-confirmed" in out, out
    assert "#2: daily.csv line 2 (attendee); also t2.csv line 3 (attendee)" in out, out
    code, out, err = await lanyard(capsys, "alerts", *d, "--json")
    cleared = [a for a in json.loads(out) if a["kind"] == "cleared"]
    assert [(a["where"], a["decision"], a["record_ref"]) for a in cleared] == [
        ("daily.csv line 2", "allow", "WG-ANN")
    ]
    assert cleared[0]["previous"]["reason"] == "banned-confirmed"
    assert [o["where"] for o in cleared[0]["also"]] == ["t2.csv line 3"]
