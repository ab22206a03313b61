"""`lanyard demo`: the main job runs end to end and shows what it promises."""

from __future__ import annotations

import pytest

from lanyard.cli.main import main


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo"])
    assert info.value.code == 0
    out = capsys.readouterr().out
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
    assert "1 skipped" in out
    # The ticketing system's Check, the alert raised mid-way, the registry's view.
    flat = " ".join(out.split())  # the console wraps long lines
    assert "REVIEW (banned-possible, record WG-2025-003)" in flat
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
