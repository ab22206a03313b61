"""`lanyard demo`: the main job runs end to end and shows what it promises."""

from __future__ import annotations

import pytest

from cli.main import main


def test_demo_runs_and_finds_the_planted_matches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "A-1002" in out
    assert "deny" in out
    assert "WG-2025-003" in out
    assert "A-1004" in out
    assert "possible" in out
    assert "registry stopped" in out
    assert "A-1001" not in out  # clear attendees are not listed
