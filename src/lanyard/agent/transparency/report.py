"""From decrypted incidents and the chair's settings to the public report's contents.

This is where the report's rules live, apart from how it looks:

- Initial or final. The seeds' initial report, read at the closing ceremony, may show open
  cases as "in progress"; the final one, due within a month, may not, so it is refused
  while any incident is not closed. Thirty days after the event's end without a final
  report, the agent reminds the chair.
- Each report is one line of fixed phrases (vocabulary.py), never anything typed.
- Law enforcement and venue security: only that they were called, never for which report.
- A category with a single report. The issue says such a category "whose details would
  identify someone is shown as a count only when the chair asks for that". Only the chair
  knows whether "a speaker showed inappropriate content in a talk" points at one person,
  so the report shows every line by default and the chair asks for a count instead with
  `count_only` (named categories) or `count_only_singles` (every category holding one
  report); the command names each single-report category it shows in detail so the
  question is always put. A withheld report also leaves the per-outcome figures (it is
  counted as "details withheld"), or the outcome table would give its outcome away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from lanyard.agent.errors import InvalidRequest, NotAllowed
from lanyard.agent.incidents.model import RESOLUTIONS, Incident
from lanyard.agent.transparency import vocabulary
from lanyard.agent.transparency.settings import HistoryEntry, Settings, Survey
from lanyard.core.enrolment import Enrolment

KINDS = ("initial", "final")
FINAL_DUE_AFTER = timedelta(days=30)
HISTORY_YEARS = 5


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    roles: tuple[str, ...]
    violation: str
    outcomes: tuple[str, ...]
    closed: bool
    text: str


@dataclass(frozen=True, slots=True)
class Withheld:
    category: str
    reports: int


@dataclass
class TransparencyReport:
    kind: str
    generated_on: date
    event_id: str
    event_name: str
    starts_on: date | None
    ends_on: date | None
    in_person: int | None
    online: int | None
    team: list[str]
    reporting_channels: str
    published_at: str
    reports: int
    by_category: dict[str, int]
    by_outcome: dict[str, int]
    lines: list[Line]
    withheld: list[Withheld]
    law_enforcement_called: bool
    venue_security_called: bool
    history: list[HistoryEntry]
    survey: Survey | None
    # For the chair, never rendered: single-report categories shown line by line.
    single_detailed: list[str] = field(default_factory=list)

    @property
    def year(self) -> int:
        day = self.starts_on or self.ends_on or self.generated_on
        return day.year


def event_year(enrolment: Enrolment, today: date) -> int:
    """The year a report speaks for: the event's, or this one before dates are known."""
    return (enrolment.starts_on or enrolment.ends_on or today).year


def _role_of(entry: str) -> str:
    """ "Ana Example (chair)" → "chair"; an entry without a role → "team member"."""
    entry = entry.strip()
    if entry.endswith(")") and "(" in entry:
        role = entry[entry.rindex("(") + 1 : -1].strip()
        if role:
            return role
    return "team member"


def team_lines(settings: Settings, member_roles: Sequence[str]) -> list[str]:
    """Who enforced the Code of Conduct: the names the chair made public, or roles only."""
    entries = settings.team_public or []
    if entries:
        return [_role_of(e) for e in entries] if settings.team_roles_only else list(entries)
    counts = Counter(member_roles)
    words = {
        "chair": ("chair", "chairs"),
        "responder": ("responder", "responders"),
        "volunteer": ("volunteer who took reports", "volunteers who took reports"),
    }
    out = [
        f"{vocabulary.number_word(n)} {words[role][0 if n == 1 else 1]}"
        for role in ("chair", "responder", "volunteer")
        if (n := counts.get(role, 0))
    ]
    return out or ["the event's Code of Conduct team"]


def _outcomes(incident: Incident) -> tuple[str, ...]:
    decision = incident.decision
    if decision is None or not decision.final:
        return (vocabulary.IN_PROGRESS,)
    return tuple(code for code in RESOLUTIONS if code in decision.resolutions)


def _category(incident: Incident) -> str:
    return vocabulary.public_category(incident.report.category)


def check_count_only(names: Iterable[str]) -> set[str]:
    out = set()
    for name in names:
        category = vocabulary.public_category(name)
        if category == vocabulary.OTHER and name.strip().casefold() != vocabulary.OTHER:
            raise InvalidRequest(
                f"--count-only takes one of the report's categories: "
                f"{', '.join(c.name for c in vocabulary.CATEGORIES)}"
            )
        out.add(category)
    return out


def open_incidents(incidents: Sequence[Incident]) -> list[int]:
    return [i.incident_id for i in incidents if i.status != "closed"]


def build(
    incidents: Sequence[Incident],
    settings: Settings,
    enrolment: Enrolment,
    kind: str,
    today: date,
    member_roles: Sequence[str] = (),
    count_only: Iterable[str] = (),
    count_only_singles: bool = False,
) -> TransparencyReport:
    if kind not in KINDS:
        raise InvalidRequest(f"a transparency report is initial or final, not {kind!r}")
    still_open = open_incidents(incidents)
    if kind == "final" and still_open:
        listed = ", ".join(str(i) for i in still_open)
        raise NotAllowed(
            f"the final report needs every incident closed, and {len(still_open)} "
            f"{'is' if len(still_open) == 1 else 'are'} not (incident {listed}); the initial "
            "report shows them as in progress"
        )
    ordered = sorted(
        incidents,
        key=lambda i: ([c.name for c in vocabulary.CATEGORIES].index(_category(i)), i.incident_id),
    )
    per_category = Counter(_category(i) for i in ordered)
    withheld_categories = check_count_only(count_only)
    if count_only_singles:
        withheld_categories |= {c for c, n in per_category.items() if n == 1}
    lines: list[Line] = []
    by_outcome: Counter[str] = Counter()
    for incident in ordered:
        category = _category(incident)
        if category in withheld_categories:
            by_outcome[vocabulary.WITHHELD] += 1
            continue
        outcomes = _outcomes(incident)
        by_outcome.update(outcomes)
        roles = tuple(p.role for p in incident.report.reported)
        violation = incident.decision.violation if incident.decision else "unknown"
        closed = incident.status == "closed"
        lines.append(
            Line(
                category,
                roles,
                violation,
                outcomes,
                closed,
                vocabulary.line(roles, category, violation, outcomes, closed),
            )
        )
    year = event_year(enrolment, today)
    history = sorted((h for h in settings.history if h.year < year), key=lambda h: h.year)[
        -HISTORY_YEARS:
    ]
    return TransparencyReport(
        kind=kind,
        generated_on=today,
        event_id=enrolment.event_id,
        event_name=enrolment.event_name,
        starts_on=enrolment.starts_on,
        ends_on=enrolment.ends_on,
        in_person=settings.in_person,
        online=settings.online,
        team=team_lines(settings, member_roles),
        reporting_channels=settings.reporting_channels or "",
        published_at=settings.published_at or "",
        reports=len(ordered),
        by_category={
            c.name: per_category[c.name] for c in vocabulary.CATEGORIES if per_category[c.name]
        },
        by_outcome={code: by_outcome[code] for code in vocabulary.OUTCOMES if by_outcome[code]},
        lines=lines,
        withheld=[
            Withheld(c.name, per_category[c.name])
            for c in vocabulary.CATEGORIES
            if c.name in withheld_categories and per_category[c.name]
        ],
        law_enforcement_called=any(i.report.law_enforcement_called == "yes" for i in incidents),
        venue_security_called=any(i.report.venue_security_called == "yes" for i in incidents),
        history=history,
        survey=settings.survey,
        single_detailed=[
            c for c, n in per_category.items() if n == 1 and c not in withheld_categories
        ],
    )


def final_overdue(settings: Settings, enrolment: Enrolment, today: date) -> bool:
    """More than 30 days after the event's end, and no final report written yet."""
    return bool(
        enrolment.ends_on
        and today > enrolment.ends_on + FINAL_DUE_AFTER
        and not settings.final_written_on
    )


def overdue_sentence(enrolment: Enrolment) -> str:
    assert enrolment.ends_on is not None
    return (
        f"Reminder: {enrolment.event_name} ended on {enrolment.ends_on.isoformat()}, more than "
        "30 days ago, and its final transparency report has not been written: run "
        "`lanyard transparency --final` once every incident is closed."
    )
