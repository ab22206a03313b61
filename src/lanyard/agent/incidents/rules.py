"""What a change may do to an incident: input checks and the state changes of update,
decide and communicate, free of storage, roles and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

from lanyard.agent.errors import InvalidRequest, NotAllowed
from lanyard.agent.incidents.model import (
    ANSWER_FIELDS,
    ANSWERS,
    PERSON_ROLES,
    RESOLUTIONS,
    STATUSES,
    TRANSITIONS,
    Communication,
    Decision,
    Incident,
    Report,
)

MAX_TEXT = 20_000


def check_text(value: str, what: str) -> None:
    if len(value) > MAX_TEXT:
        raise InvalidRequest(f"{what} is {len(value)} characters; at most {MAX_TEXT}")


def check_report(report: Report) -> None:
    if not report.description.strip():
        raise InvalidRequest(
            "a report needs a description of what happened; nothing else is required"
        )
    for person in report.reported:
        if person.role not in PERSON_ROLES:
            raise InvalidRequest(f"reported person's role must be one of {', '.join(PERSON_ROLES)}")
    for answer in ANSWER_FIELDS:
        if getattr(report, answer) not in ANSWERS:
            raise InvalidRequest(f"{answer} must be unknown, yes or no")
    for name in ("description", "circumstances", "others_involved"):
        check_text(getattr(report, name), name)


# -- update --------------------------------------------------------------------------------
def check_update(status: str, report: Report | None) -> None:
    if report is not None:
        check_report(report)
    if status and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")


def apply_update(incident: Incident, incident_id: int, status: str, report: Report | None) -> None:
    if status and status != incident.status:
        if status not in TRANSITIONS[incident.status]:
            how = " (a decision is recorded with `decide`)" if status == "decided" else ""
            raise NotAllowed(
                f"incident {incident_id} cannot go from {incident.status} to {status}{how}"
            )
        if status == "closed" and not (incident.decision and incident.decision.final):
            raise NotAllowed("an incident is closed after a final decision")
        incident.status = status
    if report is not None:
        incident.report = report


# -- decide --------------------------------------------------------------------------------
def check_decision(decision: Decision) -> None:
    if decision.violation not in ANSWERS:
        raise InvalidRequest("violation must be unknown, yes or no")
    unknown = [r for r in decision.resolutions if r not in RESOLUTIONS]
    if unknown:
        raise InvalidRequest(
            f"unknown resolution {unknown[0]!r}; choose from {', '.join(RESOLUTIONS)}"
        )
    if "other" in decision.resolutions and not decision.other_resolution.strip():
        raise InvalidRequest("resolution 'other' needs a description of the action")
    if not decision.resolutions:
        raise InvalidRequest("a decision needs at least one resolution (no-action counts)")
    check_text(decision.reasoning, "reasoning")


def apply_decision(
    incident: Incident,
    incident_id: int,
    decision: Decision,
    member: str,
    stamp: Callable[[], str],
) -> None:
    """Record `member`'s approval; a decision is final once two members approved it."""
    if incident.status == "closed":
        raise NotAllowed(f"incident {incident_id} is closed")
    pending = incident.decision
    if pending is not None and pending.final and not pending.same_content(decision):
        raise NotAllowed(
            f"incident {incident_id} was decided by {' and '.join(pending.approved_by)}; "
            "one member cannot overturn a two-person decision"
        )
    if pending is not None and pending.same_content(decision):
        if pending.final:
            raise NotAllowed(f"incident {incident_id} is already decided this way")
        if member in pending.approved_by:
            raise NotAllowed(
                f"{member} already approved this decision; it needs a second "
                "responder or chair who is not recused"
            )
        pending.approved_by.append(member)
        pending.urgent = pending.urgent or decision.urgent
    else:
        incident.decision = replace(decision, approved_by=[member], decided_at="")
    current = incident.decision
    assert current is not None
    if current.final:
        current.decided_at = stamp()
        incident.status = "decided"


# -- communicate ---------------------------------------------------------------------------
def check_communication(communication: Communication) -> None:
    for value in (communication.reported_person_told_on, communication.reporter_told_on):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise InvalidRequest(f"dates must look like 2027-05-26, got {value!r}") from exc


def apply_communication(incident: Incident, communication: Communication) -> None:
    told = incident.communication
    incident.communication = Communication(
        communication.reported_person_told_on or told.reported_person_told_on,
        communication.reporter_told_on or told.reporter_told_on,
    )
