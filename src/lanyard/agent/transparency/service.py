"""Producing the transparency report on the agent's machine, privacy check included.

The operator runs it with the incident records' passphrase or key file (the authority for
reading every incident, as for the end-of-event report); every incident read is audited
with its purpose. What comes back has passed the privacy check: callers write or print it
as it is, and write nothing when `produce` raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

import structlog

from lanyard.agent import operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Incident
from lanyard.agent.transparency import privacy, settings, vocabulary
from lanyard.agent.transparency.held import held_identifiers
from lanyard.agent.transparency.privacy import HeldIdentifiers
from lanyard.agent.transparency.render import render
from lanyard.agent.transparency.report import (
    TransparencyReport,
    build,
    final_overdue,
    overdue_sentence,
    team_lines,
)
from lanyard.agent.transparency.settings import Settings, Survey, SurveyItem
from lanyard.core.enrolment import Enrolment

log = structlog.get_logger("lanyard.transparency")


@dataclass(frozen=True, slots=True)
class Produced:
    text: str
    report: TransparencyReport


def _without_chair_texts(r: TransparencyReport, member_roles: list[str]) -> TransparencyReport:
    """The same report with everything the chair typed left out: its wording reveals no
    one, so what it contains is no leak."""
    survey = None
    if r.survey is not None:
        survey = Survey(
            r.survey.respondents,
            [
                SurveyItem("", {" " * n: v for n, v in enumerate(i.answers.values(), start=1)})
                for i in r.survey.items
            ],
        )
    return replace(
        r,
        team=team_lines(Settings(), member_roles),
        reporting_channels="",
        published_at="",
        survey=survey,
    )


def _chair_texts(s: Settings) -> list[tuple[str, str]]:
    survey = ""
    if s.survey is not None:
        survey = "\n".join(f"{i.statement}\n" + "\n".join(i.answers) for i in s.survey.items)
    return [
        ("the reporting channels text", s.reporting_channels or ""),
        ("the team's public names", "\n".join(s.team_public or [])),
        ("the published-at address", s.published_at or ""),
        ("the survey results", survey),
    ]


@dataclass(frozen=True, slots=True)
class Records:
    """What a report is made from, read once: the incidents, decrypted, and who the
    agent's database knows."""

    enrolment: Enrolment
    incidents: list[Incident]
    held: HeldIdentifiers


async def gather(adir: AgentDir, unlock: crypto.Unlock | None, purpose: str) -> Records:
    """Unlock and read every incident (each read audited as `export:<purpose>`)."""
    enrolment = adir.enrolment()
    async with operator.incident_records(adir, unlock) as records:
        incidents = await records.export_all(purpose)
    return Records(enrolment, incidents, await held_identifiers(adir.db_path))


def compose(
    records: Records,
    chosen: Settings,
    kind: str,
    fmt: str,
    today: date,
    count_only: Iterable[str] = (),
    count_only_singles: bool = False,
) -> Produced:
    """Render the report and run the privacy check on the exact text; raises
    privacy.PrivacyLeak (or NotAllowed for a final report with open cases) instead."""
    member_roles = records.held.current_roles
    report = build(
        records.incidents,
        chosen,
        records.enrolment,
        kind,
        today,
        member_roles,
        count_only,
        count_only_singles,
    )
    text = render(report, fmt)
    fixed = [render(_without_chair_texts(report, member_roles), fmt), *vocabulary.all_phrases()]
    named = "" if chosen.team_roles_only else "\n".join(chosen.team_public or [])
    privacy.check(
        text, fixed, named, _chair_texts(chosen), privacy.needles(records.incidents, records.held)
    )
    log.info(
        "transparency.rendered",
        event_id=records.enrolment.event_id,
        kind=kind,
        format=fmt,
        reports=report.reports,
    )
    return Produced(text, report)


async def produce(
    adir: AgentDir,
    unlock: crypto.Unlock | None,
    kind: str,
    fmt: str,
    today: date,
    count_only: Iterable[str] = (),
    count_only_singles: bool = False,
) -> Produced:
    """`lanyard transparency`: the settings, the records, the report, checked."""
    chosen = settings.load(adir)
    records = await gather(adir, unlock, f"transparency-{kind}")
    return compose(records, chosen, kind, fmt, today, count_only, count_only_singles)


def record_final(adir: AgentDir, today: date) -> None:
    """A final report was written: no more reminders."""
    stored = settings.load_stored(adir)
    stored.final_written_on = today.isoformat()
    settings.save(adir, stored)
    log.info("transparency.final_recorded", event_id=adir.enrolment().event_id)


def reminder(adir: AgentDir, today: date) -> str | None:
    """The reminder sentence when the final report is overdue (and a log event, with the
    event id only), else None. An agent not enrolled yet has no event end to count from."""
    if not adir.enrolment_path.exists():
        return None
    enrolment = adir.enrolment()
    if not final_overdue(settings.load(adir), enrolment, today):
        return None
    log.warning("transparency.final_overdue", event_id=enrolment.event_id)
    return overdue_sentence(enrolment)
