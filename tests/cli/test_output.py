"""Small output helpers the CLI's sentences are made of."""

from __future__ import annotations

import pytest

from lanyard.cli.output import age


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (15, "15 seconds"),
        (60, "1 minute"),
        (3599, "59 minutes"),
        (3600, "1 hour"),
        (3 * 3600 + 5 * 60 + 9, "3 hours 5 minutes"),
        (-4, "0 seconds"),
    ],
)
def test_an_age_reads_as_a_person_says_it(seconds: int, said: str) -> None:
    assert age(seconds) == said
