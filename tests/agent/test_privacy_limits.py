"""The privacy check's thresholds at their edge: a contact number of seven digits is
searched for however it is written; six digits are too few to tell from a room number."""

from __future__ import annotations

from lanyard.agent.incidents.model import Incident, Report
from lanyard.agent.transparency import privacy


def _leaks(contact: str, text: str) -> list[str]:
    incident = Incident(7, Report(description="x", reporter_contact=contact), "vic", "")
    found = privacy.needles([incident], privacy.HeldIdentifiers())
    return [str(leak) for leak in privacy.find_leaks(text, [""], "", [], found)]


def test_seven_digits_are_searched_for_and_six_are_not() -> None:
    assert privacy.MIN_DIGITS == 7
    # Grouped otherwise than the contact was written: only the digits can find it.
    assert _leaks("555 0123", "Call 55 50 123 any time.")
    assert _leaks("555 0123", "Call (555) 01-23 any time.")
    assert not _leaks("55 0123", "Room 55 01 23 is on the left.")
