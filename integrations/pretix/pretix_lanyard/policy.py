"""What an order's screening decides, in the organiser's terms; free of Django and pretix.

Screening asks the agent about each attendee and the buyer. The order's verdict is the
strongest answer: "deny" (banned, matched on e-mail), "review" (flagged, a name-only match,
a person whose details the agent refuses, or an order with nobody in it to screen),
"allow", or "unavailable" when the agent could not answer for someone (down, unreachable,
the WG's registry away): never "allow". Names and e-mails go to the agent whole: the agent
applies its own limits, and a value it refuses is "review", never cut down to one it accepts.

The organiser chooses:
- `when`: "checkout" (before the order exists: a DENY can stop it) or "placement" (after);
- `on_deny`: "refuse" (the order is not completed; the buyer sees a neutral message) or
  "hold" (the order waits for approval, its tickets blocked for check-in);
- `on_unavailable`: "hold" (wait for approval) or "allow_rescreen" (let it through and
  screen it again when the agent is back; the team is told if it then matches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from lanyard.client import ScreeningClient
from lanyard.client.errors import RpcFailed
from lanyard.errors import Error as LanyardError

ALLOW, REVIEW, DENY, UNAVAILABLE = "allow", "review", "deny", "unavailable"
_RANK = {ALLOW: 0, REVIEW: 1, UNAVAILABLE: 2, DENY: 3}
NOT_SCREENABLE = "NOT_SCREENABLE"  # the agent refused a person's details
NOBODY_SCREENABLE = "NOBODY_SCREENABLE"  # no name or e-mail anywhere in the order
# The caller's own input, refused: INVALID_ARGUMENT for a value the agent will not screen,
# RESOURCE_EXHAUSTED for a request too large for the agent to read at all.
_REFUSED_INPUT = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass(frozen=True, slots=True)
class Policy:
    when: str = "checkout"
    on_deny: str = "refuse"
    on_unavailable: str = "hold"


@dataclass(frozen=True, slots=True)
class Verdict:
    """`decision` as above; `reasons` the reason codes seen ("BANNED_CONFIRMED", …), for
    the order's log. Never a name, an e-mail or a record's contents."""

    decision: str
    reasons: tuple[str, ...] = ()


def people(pairs: Iterable[tuple[str | None, str | None]]) -> list[tuple[str, str]]:
    """(name, e-mail) pairs with blanks and repeats removed."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for name, email in pairs:
        person = ((name or "").strip(), (email or "").strip())
        if any(person):
            seen.setdefault((person[0].casefold(), person[1].casefold()), person)
    return list(seen.values())


def screen(client: ScreeningClient, persons: list[tuple[str, str]], ref: str) -> Verdict:
    """Screen everyone; a failure that is not the caller's own bad input is "unavailable".

    An order with nobody to screen is "review": nothing was checked, and screening it again
    later could not answer either."""
    if not persons:
        return Verdict(REVIEW, (NOBODY_SCREENABLE,))
    decision, reasons = ALLOW, list[str]()
    for name, email in persons:
        try:
            answer = client.check(name=name, email=email, caller_ref=ref[:64])
            found, reason = answer.decision.lower(), answer.reason
        except RpcFailed as exc:
            if exc.code in _REFUSED_INPUT:
                found, reason = REVIEW, NOT_SCREENABLE
            elif exc.unreachable:
                # No one else in the order can be answered either: stop here rather than
                # make the buyer wait one timeout per person.
                return Verdict(UNAVAILABLE, (*dict.fromkeys(reasons), exc.code.name))
            else:
                found, reason = UNAVAILABLE, exc.code.name
        except LanyardError:
            found, reason = UNAVAILABLE, "CLIENT_ERROR"
        if reason:
            reasons.append(reason)
        if _RANK[found] > _RANK[decision]:
            decision = found
    return Verdict(decision, tuple(dict.fromkeys(reasons)))


def at_checkout(verdict: Verdict, policy: Policy) -> str:
    """ "refuse" or "continue" (what placement then does is placed()'s)."""
    if policy.when == "checkout" and verdict.decision == DENY and policy.on_deny == "refuse":
        return "refuse"
    return "continue"


def placed(verdict: Verdict, policy: Policy) -> str:
    """For an order just placed: "hold" (approval queue, tickets blocked), "rescreen"
    (allowed now, screened again later) or "allow"."""
    if verdict.decision in (DENY, REVIEW):
        return "hold"
    if verdict.decision == UNAVAILABLE:
        return "rescreen" if policy.on_unavailable == "allow_rescreen" else "hold"
    return "allow"
