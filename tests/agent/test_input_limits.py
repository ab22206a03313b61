"""Every size limit on what the team types, at its edge: the longest text or the largest
number allowed is taken, one more character or one more unit is refused, and the message
names the limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lanyard.agent.errors import InvalidRequest
from lanyard.agent.incidents import rules
from lanyard.agent.incidents.model import Report
from lanyard.agent.transparency import settings as ts


def _survey(items: int = 1, answers: int = 1, statement: str = "s", label: str = "a") -> Any:
    labels = [label] if answers == 1 else [f"answer {i}" for i in range(answers)]
    return {
        "respondents": 1,
        "results": [{"statement": statement, "answers": dict.fromkeys(labels, 1)}] * items,
    }


LIMITS: list[tuple[str, Callable[[int], Any], int, str]] = [
    ("count", lambda n: ts.count(n, "the count"), ts.MAX_COUNT, f"from 0 to {ts.MAX_COUNT}"),
    (
        "published-at",
        lambda n: ts.published_at("https://e.org/" + "a" * (n - len("https://e.org/"))),
        ts.MAX_URL,
        f"at most {ts.MAX_URL}",
    ),
    (
        "channels",
        lambda n: ts.reporting_channels("c" * n),
        ts.MAX_CHANNELS,
        f"at most {ts.MAX_CHANNELS}",
    ),
    ("team size", lambda n: ts.team_public(["Chair"] * n), ts.MAX_TEAM, f"at most {ts.MAX_TEAM}"),
    (
        "team entry",
        lambda n: ts.team_public(["t" * n]),
        ts.MAX_TEAM_ENTRY,
        f"at most {ts.MAX_TEAM_ENTRY}",
    ),
    (
        "survey items",
        lambda n: ts.survey(_survey(items=n)),
        ts.MAX_SURVEY_ITEMS,
        f"1 to {ts.MAX_SURVEY_ITEMS} results",
    ),
    (
        "survey answers",
        lambda n: ts.survey(_survey(answers=n)),
        ts.MAX_SURVEY_ANSWERS,
        f"1 to {ts.MAX_SURVEY_ANSWERS} answers",
    ),
    (
        "statement",
        lambda n: ts.survey(_survey(statement="s" * n)),
        ts.MAX_STATEMENT,
        f"at most {ts.MAX_STATEMENT}",
    ),
    (
        "answer label",
        lambda n: ts.survey(_survey(label="l" * n)),
        ts.MAX_LABEL,
        f"at most {ts.MAX_LABEL}",
    ),
    (
        "incident text",
        lambda n: rules.check_text("x" * n, "description"),
        rules.MAX_TEXT,
        f"at most {rules.MAX_TEXT}",
    ),
    (
        "report",
        lambda n: rules.check_report(Report(description="d" * n)),
        rules.MAX_TEXT,
        f"at most {rules.MAX_TEXT}",
    ),
]


@pytest.mark.parametrize(("what", "call", "limit", "message"), LIMITS, ids=[x[0] for x in LIMITS])
def test_exactly_the_limit_is_taken_and_one_more_is_not(
    what: str, call: Callable[[int], Any], limit: int, message: str
) -> None:
    call(limit)
    with pytest.raises(InvalidRequest, match=message):
        call(limit + 1)


def test_the_limits_are_pinned() -> None:
    assert (ts.MAX_URL, ts.MAX_CHANNELS, ts.MAX_TEAM, ts.MAX_TEAM_ENTRY) == (500, 2000, 30, 200)
    assert (ts.MAX_SURVEY_ITEMS, ts.MAX_SURVEY_ANSWERS, ts.MAX_STATEMENT, ts.MAX_LABEL) == (
        20,
        8,
        300,
        60,
    )
    assert (ts.MAX_COUNT, rules.MAX_TEXT) == (10_000_000, 20_000)


@pytest.mark.parametrize("value", [-1, True, 1.0, "1", None])
def test_a_count_is_a_whole_number_from_zero(value: object) -> None:
    assert ts.count(0, "the count") == 0
    with pytest.raises(InvalidRequest, match="whole number from 0"):
        ts.count(value, "the count")


def test_an_empty_survey_or_answerless_result_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="1 to 20 results"):
        ts.survey(_survey(items=0))
    with pytest.raises(InvalidRequest, match="1 to 8 answers"):
        ts.survey({"results": [{"statement": "s", "answers": {}}]})
