"""`lanyard event …` and `lanyard transparency …` as the chair types them.

The CLI runs in this process on a real agent directory (tests/event_agent/
test_transparency.py builds it: real SQLite files, real incident records). Every failure
must be one sentence on stderr and exit status 1, and a refused report must leave nothing
behind: no file, no output.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lanyard.agent.datadir import AgentDir
from lanyard.agent.transparency import settings
from lanyard.cli import main as cli_main
from lanyard.cli.transparency import commands as transparency_cmds
from tests.agent.test_transparency import PASSPHRASE, UNLOCK, C, make_agent
from tests.canary_tools import log_events, run_cli

URL = "https://agentconf.example/conduct"


@pytest.fixture(autouse=True)
def commands() -> Iterator[None]:
    """The commands as cli/main.py mounts them (mounted here until it does)."""
    app = cli_main.app
    have = {g.name for g in app.registered_groups}
    added = []
    for sub, name in (
        (transparency_cmds.event_app, "event"),
        (transparency_cmds.transparency_app, "transparency"),
    ):
        if name not in have:
            app.add_typer(sub, name=name)
            added.append(app.registered_groups[-1])
    yield
    for info in added:
        app.registered_groups.remove(info)


@pytest.fixture
def adir(tmp_path: Path) -> AgentDir:
    return asyncio.run(make_agent(tmp_path))


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


def lanyard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(result: tuple[int, str, str], *needles: str) -> str:
    code, out, err = result
    assert code == 1, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), err
    sentence = lines[0].removeprefix("Error: ")
    assert sentence.endswith("."), sentence
    assert not re.search(r"[.!?]\s+[A-Z]", sentence), sentence
    for needle in needles:  # the CLI capitalises the sentence's first letter
        assert needle.casefold() in sentence.casefold(), sentence
    return sentence


def set_facts(capsys: pytest.CaptureFixture[str], adir: AgentDir, *extra: str) -> None:
    code, out, err = lanyard(
        capsys,
        "event",
        "set",
        "-d",
        str(adir.path),
        "--in-person",
        "350",
        "--online",
        "120",
        "--team-public",
        "Ana Example (chair)",
        "--team-public",
        "Ben Example (responder)",
        "--reporting-channels",
        "E-mail conduct@agentconf.example or find a volunteer.",
        "--published-at",
        URL,
        *extra,
    )
    assert code == 0, err
    assert "mode 0600" in out


def test_report_in_every_format(
    capsys: pytest.CaptureFixture[str],
    adir: AgentDir,
    passphrase_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    survey = tmp_path / "survey.json"
    survey.write_text(
        json.dumps(
            {
                "respondents": 80,
                "results": [
                    {"statement": "I knew how to report", "answers": {"yes": 70, "no": 10}}
                ],
            }
        )
    )
    set_facts(capsys, adir, "--survey-file", str(survey))
    monkeypatch.setenv("LANYARD_AGENT_PASSPHRASE", PASSPHRASE)
    code, out, err = lanyard(capsys, "transparency", "-d", str(adir.path), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["event"]["in_person"], data["event"]["online"]) == (350, 120)
    assert data["survey"]["respondents"] == 80
    assert "Note: the category 'other' holds a single report" in err
    monkeypatch.delenv("LANYARD_AGENT_PASSPHRASE")
    page = tmp_path / "report.html"
    code, out, err = lanyard(
        capsys,
        "transparency",
        "-d",
        str(adir.path),
        "--format",
        "html",
        "--out",
        str(page),
        "--passphrase-file",
        str(passphrase_file),
        "--count-only-singles",
    )
    assert code == 0, err
    assert "Initial transparency report (2 reports) written to" in out
    assert "Note:" not in err
    html = page.read_text()
    assert "<svg" in html
    assert "details withheld" in html
    assert "http" not in html.replace(URL, "")
    code, out, _ = lanyard(
        capsys, "transparency", "-d", str(adir.path), "--passphrase-file", str(passphrase_file)
    )
    assert code == 0
    assert out.startswith("# Code of Conduct transparency report: AgentConf")
    assert "1. A speaker made unwanted physical contact" in out


def test_a_leak_stops_everything(
    capsys: pytest.CaptureFixture[str], adir: AgentDir, passphrase_file: Path, tmp_path: Path
) -> None:
    set_facts(capsys, adir, "--reporting-channels", f"Ask {C.reporter_name} at the desk.")
    out_file = tmp_path / "report.md"
    sentence = one_sentence(
        lanyard(
            capsys,
            "transparency",
            "-d",
            str(adir.path),
            "--out",
            str(out_file),
            "--passphrase-file",
            str(passphrase_file),
        ),
        "would reveal an incident's reporter name (incident 1) in the reporting channels text",
        "nothing was written",
    )
    assert C.reporter_name.casefold() not in sentence.casefold()
    assert not out_file.exists()
    assert list(tmp_path.glob(".report.md*")) == []
    # To stdout, likewise: not a byte of the report.
    one_sentence(
        lanyard(
            capsys, "transparency", "-d", str(adir.path), "--passphrase-file", str(passphrase_file)
        ),
        "reporter name",
    )


def test_final_is_refused_while_a_case_is_open(
    capsys: pytest.CaptureFixture[str], adir: AgentDir, passphrase_file: Path
) -> None:
    one_sentence(
        lanyard(
            capsys,
            "transparency",
            "-d",
            str(adir.path),
            "--final",
            "--passphrase-file",
            str(passphrase_file),
        ),
        "final report needs every incident closed",
        "incident 2",
    )
    assert settings.load_stored(adir).final_written_on is None
    one_sentence(
        lanyard(capsys, "transparency", "-d", str(adir.path), "--initial", "--final"), "not both"
    )
    one_sentence(lanyard(capsys, "transparency", "-d", str(adir.path)), "passphrase: give")
    one_sentence(
        lanyard(capsys, "transparency", "-d", str(adir.path), "--format", "pdf"), "md, html, json"
    )


def test_overdue_final_is_reminded_until_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, passphrase_file: Path
) -> None:
    adir = asyncio.run(make_agent(tmp_path, ends=date(2024, 5, 3), open_case=False))
    argv = ["transparency", "-d", str(adir.path), "--passphrase-file", str(passphrase_file)]
    code, out, err = lanyard(capsys, "--log-json", *argv)
    assert code == 0, err
    assert out.startswith("# Code of Conduct transparency report")  # stdout: the report only
    assert "Reminder: AgentConf ended on 2024-05-03" in err
    overdue = [e for e in log_events(err) if e["event"] == "transparency.final_overdue"]
    assert len(overdue) == 1
    assert set(overdue[0]) == {"event", "event_id", "level", "timestamp"}
    final = tmp_path / "final.md"
    code, _, err = lanyard(capsys, *argv, "--final", "--out", str(final))
    assert code == 0, err
    assert "Final report." in final.read_text()
    assert settings.load_stored(adir).final_written_on == date.today().isoformat()
    code, _, err = lanyard(capsys, *argv)
    assert code == 0
    assert "Reminder" not in err
    code, _, err = lanyard(capsys, "event", "show", "-d", str(adir.path))
    assert code == 0
    assert "Reminder" not in err


def test_history_entered_and_imported(
    capsys: pytest.CaptureFixture[str], adir: AgentDir, passphrase_file: Path, tmp_path: Path
) -> None:
    this_year = tmp_path / "2027.json"
    code, _, err = lanyard(
        capsys,
        "transparency",
        "-d",
        str(adir.path),
        "--format",
        "json",
        "--out",
        str(this_year),
        "--passphrase-file",
        str(passphrase_file),
    )
    assert code == 0, err
    later = asyncio.run(make_agent(tmp_path / "next", ends=date(2028, 5, 3)))
    code, out, err = lanyard(
        capsys, "transparency", "history", "import", "-d", str(later.path), str(this_year)
    )
    assert code == 0, err
    assert "Added 2027: 2 reports." in out
    code, out, err = lanyard(
        capsys,
        "transparency",
        "history",
        "add",
        "-d",
        str(later.path),
        "--year",
        "2025",
        "--reports",
        "3",
        "--in-person",
        "300",
        "--online",
        "40",
        "--by-outcome",
        "warning=2",
        "--by-outcome",
        "leave-event=1",
    )
    assert code == 0, err
    code, out, _ = lanyard(
        capsys, "transparency", "history", "list", "-d", str(later.path), "--json"
    )
    assert [(h["year"], h["reports"], h["source"]) for h in json.loads(out)] == [
        (2025, 3, "entered"),
        (2027, 2, "imported"),
    ]
    code, out, err = lanyard(
        capsys, "transparency", "-d", str(later.path), "--passphrase-file", str(passphrase_file)
    )
    assert code == 0, err
    assert "| 2025 | 300 | 40 | 3 | a warning was given: 2; asked to leave the event: 1 |" in out
    assert "| 2027 | – | – | 2 |" in out
    one_sentence(
        lanyard(
            capsys,
            "transparency",
            "history",
            "add",
            "-d",
            str(later.path),
            "--year",
            "2028",
            "--reports",
            "1",
        ),
        "years before this event (2028)",
    )
    one_sentence(
        lanyard(
            capsys,
            "transparency",
            "history",
            "add",
            "-d",
            str(later.path),
            "--year",
            "2024",
            "--reports",
            "1",
            "--by-outcome",
            "jail=1",
        ),
        "unknown outcome 'jail'",
    )
    one_sentence(
        lanyard(
            capsys, "transparency", "history", "import", "-d", str(later.path), str(passphrase_file)
        ),
        "is not JSON",
    )


def test_event_set_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], adir: AgentDir, tmp_path: Path
) -> None:
    one_sentence(
        lanyard(capsys, "event", "set", "-d", str(adir.path), "--published-at", "ftp://x"),
        "http:// or https://",
    )
    bad = tmp_path / "survey.json"
    bad.write_text('{"results": []}')
    one_sentence(
        lanyard(capsys, "event", "set", "-d", str(adir.path), "--survey-file", str(bad)),
        "survey holds 1 to 20 results",
    )
    assert not settings.path(adir).exists()
    code, out, _ = lanyard(capsys, "event", "show", "-d", str(adir.path), "--json")
    assert code == 0
    assert json.loads(out)["event_name"] == "AgentConf"


def test_demo_helper_prints_the_initial_report(
    capsys: pytest.CaptureFixture[str], adir: AgentDir
) -> None:
    asyncio.run(transparency_cmds.print_initial_report(adir, UNLOCK))
    out = capsys.readouterr().out
    assert "# Code of Conduct transparency report: AgentConf" in out
    assert "An attendee was reported for another kind of behaviour; in progress." in out
