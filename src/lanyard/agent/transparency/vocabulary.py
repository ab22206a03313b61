"""The only words a transparency report uses about an incident.

Seed 002 ("Communication with the public", level of detail) asks for "some idea of the
nature of the incident" and a brief mention of the sanction, with the people anonymous.
So the line for each report is assembled from fixed phrases alone: the reported people's
roles, a category from the fixed list below, the public wording of the resolution codes
(incidents/model.py RESOLUTIONS) and the status. Nothing a person typed (description,
notes, names, place, circumstances, reasoning, another action's wording) can reach it: a
category that is not on the list is shown as "other".
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from lanyard.agent.incidents.model import PERSON_ROLES, RESOLUTIONS, ROLES


@dataclass(frozen=True, slots=True)
class Category:
    name: str  # as printed in the report and used as the key in its JSON
    did: str  # "<subject> <did>" when a violation was found
    noun: str  # "<subject> was reported for <noun>" otherwise


OTHER = "other"
CATEGORIES: tuple[Category, ...] = (
    Category("harassment", "harassed another participant", "harassment"),
    Category(
        "unwanted physical contact", "made unwanted physical contact", "unwanted physical contact"
    ),
    Category(
        "unwanted attention", "paid unwanted attention to another participant", "unwanted attention"
    ),
    Category("inappropriate language", "used inappropriate language", "inappropriate language"),
    Category("discrimination", "behaved in a discriminatory way", "discrimination"),
    Category("threatening behaviour", "threatened another participant", "threatening behaviour"),
    Category(
        "inappropriate content in a talk",
        "showed inappropriate content in a talk",
        "inappropriate content in a talk",
    ),
    Category("disruptive behaviour", "behaved disruptively", "disruptive behaviour"),
    Category(OTHER, "breached the Code of Conduct in another way", "another kind of behaviour"),
)
BY_NAME = {c.name: c for c in CATEGORIES}
# Spellings a team is likely to type for the same category.
_ALIASES = {
    "threatening behavior": "threatening behaviour",
    "threats": "threatening behaviour",
    "disruptive behavior": "disruptive behaviour",
    "physical contact": "unwanted physical contact",
    "discriminatory behaviour": "discrimination",
    "discriminatory behavior": "discrimination",
    "inappropriate talk content": "inappropriate content in a talk",
}

# Outcomes: the resolution codes, plus two states that are not decisions.
IN_PROGRESS = "in-progress"
WITHHELD = "withheld"
OUTCOMES: dict[str, str] = {
    **RESOLUTIONS,
    IN_PROGRESS: "no decision yet",
    WITHHELD: "details withheld",
}
CLOSED = "closed"
OPEN = "in progress"

_ROLE_ONE = {
    "attendee": "an attendee",
    "speaker": "a speaker",
    "sponsor": "a sponsor representative",
    "staff": "a staff member",
    "volunteer": "a volunteer",
    "unknown": "a participant",
}
_ROLE_MANY = {
    "attendee": "attendees",
    "speaker": "speakers",
    "sponsor": "sponsor representatives",
    "staff": "staff members",
    "volunteer": "volunteers",
    "unknown": "participants",
}
_NUMBERS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    return _NUMBERS[n] if 0 < n < len(_NUMBERS) else str(n)


def public_category(text: str) -> str:
    """The fixed category a team's free-text category stands for; "other" if none."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("-", " ").replace("_", " ")
    key = " ".join(folded.split())
    key = _ALIASES.get(key, key)
    return key if key in BY_NAME else OTHER


OTHER_PREFIX = "other:"


def intake_category(text: str) -> str | None:
    """The category a team gives when filing: "" (none yet), a name from CATEGORIES (or a
    usual spelling of one, returned as the name), or "other: FREE TEXT" for the team's own
    wording, which the public report shows as "other" only. None when it is none of these."""
    text = " ".join(text.split())
    if not text:
        return ""
    if text.casefold().startswith(OTHER_PREFIX):
        detail = text[len(OTHER_PREFIX) :].strip()
        return f"{OTHER}: {detail}" if detail else OTHER
    name = public_category(text)
    if name == OTHER and text.casefold() != OTHER:
        return None
    return name


def category_choices() -> str:
    """The category names, for a question or an error sentence."""
    return ", ".join(c.name for c in CATEGORIES) + ' (or "other: your own words")'


def subject(roles: Iterable[str]) -> str:
    """ "an attendee", "two speakers", "an attendee and a volunteer" — roles only."""
    counts = Counter(r if r in PERSON_ROLES else "unknown" for r in roles)
    if not counts:
        return _ROLE_ONE["unknown"]
    parts = [
        _ROLE_ONE[role] if n == 1 else f"{number_word(n)} {_ROLE_MANY[role]}"
        for role in PERSON_ROLES
        if (n := counts.get(role, 0))
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def line(
    roles: Iterable[str],
    category: str,
    violation: str,
    outcomes: Iterable[str],
    closed: bool,
) -> str:
    """The anonymised line: "An attendee made unwanted physical contact; a warning was
    given; closed." `outcomes` are OUTCOMES codes; `violation` is yes, no or unknown."""
    cat = BY_NAME[category]
    who = subject(roles)
    codes = list(outcomes)
    decided = bool(codes) and IN_PROGRESS not in codes
    parts = [
        f"{who} {cat.did}"
        if decided and violation == "yes"
        else f"{who} was reported for {cat.noun}"
    ]
    if decided and violation == "no":
        parts.append("no violation was found")
    parts.extend(OUTCOMES[c] for c in codes if c != IN_PROGRESS)
    parts.append(CLOSED if closed else OPEN)
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def all_phrases() -> list[str]:
    """Every fixed phrase a report can hold, for the privacy check's list of words that
    reveal no one (a member called "chair" is not leaked by the word "chair")."""
    out = [c.name for c in CATEGORIES] + [c.did for c in CATEGORIES] + [c.noun for c in CATEGORIES]
    out += list(OUTCOMES.values()) + list(OUTCOMES) + list(_ROLE_ONE.values())
    out += list(_ROLE_MANY.values()) + list(PERSON_ROLES) + list(ROLES)
    out += [CLOSED, OPEN, "no violation was found", "was reported for"]
    out += [n for n in _NUMBERS if n]
    return out
