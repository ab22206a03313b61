"""`lanyard demo`: the main job runs end to end and shows what it promises."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from lanyard.cli.main import main


def _private_files(root: Path) -> list[str]:
    """Every file under `root` that anyone but its owner may read or write."""
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.stat().st_mode & 0o077
    ]


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--keep"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    kept = Path(re.sub(r"\s+", "", out[out.rindex("files kept in") + 13 :]).rstrip("."))
    try:
        # Every file either service wrote (databases, WAL and SHM, keys, enrolment,
        # settings, outbox, keyring) is mode 0600.
        for service in ("registry", "agent"):
            files = list((kept / service).rglob("*"))
            assert any(f.name.endswith(".db") for f in files), service
            assert _private_files(kept / service) == [], service
    finally:
        shutil.rmtree(kept)
    # The planted, differently spelled people are found; clear attendees are not listed.
    for ref, record in [
        ("DEMO-00117", "WG-2025-003"),
        ("DEMO-01024", "WG-2024-011"),
        ("DEMO-01873", "WG-2025-017"),
        ("DEMO-02650", "WG-2023-002"),
    ]:
        line = next(x for x in out.splitlines() if ref in x)
        assert record in line
    assert "DEMO-00001 " not in out
    assert "2 deny" in out
    assert "1 not fully screened" in out
    # The ticketing system's Check, the alert raised mid-way, the registry's view.
    flat = " ".join(out.split())  # the console wraps long lines
    assert "REVIEW (banned-possible, record WG-2025-003)" in flat
    assert "answered 200 {} (no decision goes back)" in flat
    assert "REVIEW (flagged-possible, record WG-2024-011), an alert for the team" in flat
    alert = next(x for x in out.splitlines() if "DEMO-00778" in x)
    assert "new-match" in alert
    assert "WG-2027-001" in alert
    assert "No names, no e-mail addresses, no results." in flat
    assert "registry and agent stopped" in flat
    # The incident story and the end-of-event report.
    assert "Two responders decided (ana, ben: a warning)" in flat
    trail = out[out.index("Audit trail of incident") :]
    for who, what in (("vic", "file"), ("ana", "read"), ("ben", "decide"), ("chair", "update")):
        assert any(who in line and what in line for line in trail.splitlines()), (who, what)
    assert "receipt for log entry 0 (tree size 1" in flat
    assert "sees: acknowledged by wg-alex." in flat
    assert "1 sealed report it cannot read" in flat
    # The initial transparency report closes the demo, naming no one.
    assert "Attendance: 2,850 in person, 410 online" in flat
    assert "An attendee harassed another participant; a warning was given; closed." in flat
    for name in ("Robin Example", "Casey Example", "robin@example.org"):
        assert name not in out[out.index("Attendance:") :]
    # Steps are numbered 1, 2, 3, … with no gap; no internal jargon; one closing sentence.
    # (the transparency report printed inside a step has numbered lines of its own)
    shown = out[: out.index("Published on")] + out[out.index("What the registry learnt") - 4 :]
    steps = [int(m[1]) for m in re.finditer(r"^(\d+)\. ", shown, re.MULTILINE)]
    assert steps == list(range(1, len(steps) + 1)), steps
    assert len(steps) >= 10
    assert "(v" not in out
    # --keep: one closing sentence says where the files are, none says they were removed.
    assert flat.count("kept in") == 1
    assert "removed" not in flat
    # The event took place before its reports: the transparency report is published after
    # the event's first day, not two months before it.
    dates = re.search(r"Published on (\S+)\.", flat)
    first_day = re.search(r"Dates: (\d{4}-\d{2}-\d{2})", flat)
    assert dates is not None, flat[-600:]
    assert first_day is not None, flat[-600:]
    assert first_day[1] <= dates[1]
