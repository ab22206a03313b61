"""What a match decides: every combination of an e-mail and a name match (DESIGN flow 3).

A banned e-mail denies; a banned name alone or any flagged match asks for review; the
strongest match decides and names its record; no match at all is the only ALLOW.
"""

from __future__ import annotations

import dataclasses

import pytest

from lanyard.agent.screening.decision import CLEAR, Decision, Reason, Result, decide
from lanyard.core.snapshot import Status

BANNED_E, FLAGGED_E = Status("banned", "E-BAN", None), Status("flagged", "E-FLAG", None)
BANNED_N, FLAGGED_N = Status("banned", "N-BAN", None), Status("flagged", "N-FLAG", None)


@pytest.mark.parametrize(
    ("email", "name", "expected"),
    [
        (None, None, CLEAR),
        (BANNED_E, None, Result(Decision.DENY, Reason.BANNED_CONFIRMED, "E-BAN")),
        (FLAGGED_E, None, Result(Decision.REVIEW, Reason.FLAGGED_CONFIRMED, "E-FLAG")),
        (None, BANNED_N, Result(Decision.REVIEW, Reason.BANNED_POSSIBLE, "N-BAN")),
        (None, FLAGGED_N, Result(Decision.REVIEW, Reason.FLAGGED_POSSIBLE, "N-FLAG")),
        (BANNED_E, BANNED_N, Result(Decision.DENY, Reason.BANNED_CONFIRMED, "E-BAN")),
        (BANNED_E, FLAGGED_N, Result(Decision.DENY, Reason.BANNED_CONFIRMED, "E-BAN")),
        (FLAGGED_E, BANNED_N, Result(Decision.REVIEW, Reason.BANNED_POSSIBLE, "N-BAN")),
        (FLAGGED_E, FLAGGED_N, Result(Decision.REVIEW, Reason.FLAGGED_CONFIRMED, "E-FLAG")),
    ],
)
def test_the_strongest_match_decides(
    email: Status | None, name: Status | None, expected: Result
) -> None:
    assert decide(email, name) == expected
    assert decide(email, name).decision is expected.decision


def test_clear_is_an_allow_with_no_match() -> None:
    assert (CLEAR.decision, CLEAR.reason, CLEAR.record_ref) == (Decision.ALLOW, Reason.NONE, "")
    assert CLEAR.matched == ""


@pytest.mark.parametrize(
    ("reason", "matched"),
    [
        (Reason.BANNED_CONFIRMED, "confirmed"),
        (Reason.FLAGGED_CONFIRMED, "confirmed"),
        (Reason.BANNED_POSSIBLE, "possible"),
        (Reason.FLAGGED_POSSIBLE, "possible"),
    ],
)
def test_matched_says_how_sure_the_match_is(reason: Reason, matched: str) -> None:
    assert Result(Decision.REVIEW, reason, "R").matched == matched


def test_wire_values_are_stable() -> None:
    assert [d.value for d in Decision] == ["allow", "review", "deny"]
    assert [r.value for r in Reason] == [
        "",
        "banned-confirmed",
        "banned-possible",
        "flagged-confirmed",
        "flagged-possible",
    ]


def test_a_result_cannot_be_changed_after_the_fact() -> None:
    # CLEAR is shared by every caller: were it mutable, one caller could turn every later
    # "no match" into something else.
    with pytest.raises(dataclasses.FrozenInstanceError):
        CLEAR.decision = Decision.DENY  # type: ignore[misc]
    assert decide(None, None) == Result(Decision.ALLOW)
