"""From what matched to what the organiser does (the seeds' follow-ups are the caller's).

Banned and matched on e-mail: DENY. Banned on a name alone, or flagged: REVIEW. Otherwise
ALLOW. A name is a weak identifier (homonyms exist), so it never denies on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lanyard.core.snapshot import Status


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    DENY = "deny"


class Reason(StrEnum):
    NONE = ""
    BANNED_CONFIRMED = "banned-confirmed"
    BANNED_POSSIBLE = "banned-possible"
    FLAGGED_CONFIRMED = "flagged-confirmed"
    FLAGGED_POSSIBLE = "flagged-possible"


@dataclass(frozen=True, slots=True)
class Result:
    decision: Decision
    reason: Reason = Reason.NONE
    record_ref: str = ""

    @property
    def matched(self) -> str:
        """ "confirmed" (e-mail), "possible" (name only) or "" (no match)."""
        return self.reason.value.split("-", 1)[1] if self.reason else ""


CLEAR = Result(Decision.ALLOW)


def decide(email_hit: Status | None, name_hit: Status | None) -> Result:
    """The strongest of the two matches decides."""
    candidates: list[tuple[int, Result]] = []
    if email_hit is not None:
        if email_hit.status == "banned":
            candidates.append(
                (4, Result(Decision.DENY, Reason.BANNED_CONFIRMED, email_hit.record_ref))
            )
        else:
            candidates.append(
                (2, Result(Decision.REVIEW, Reason.FLAGGED_CONFIRMED, email_hit.record_ref))
            )
    if name_hit is not None:
        if name_hit.status == "banned":
            candidates.append(
                (3, Result(Decision.REVIEW, Reason.BANNED_POSSIBLE, name_hit.record_ref))
            )
        else:
            candidates.append(
                (1, Result(Decision.REVIEW, Reason.FLAGGED_POSSIBLE, name_hit.record_ref))
            )
    return max(candidates, key=lambda c: c[0])[1] if candidates else CLEAR
