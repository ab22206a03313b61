"""Deciding the fate of an incident the retention schedule keeps "until an operator
decides" (DESIGN.md "Retention defaults"): destroy it, or export it first.

Either needs two distinct chairs: the first chair's call records an approval, the second's
carries it out. Every approval and the act itself are in the incident's audit trail. A
destroy deletes the incident's key first, so every copy of its sealed record (backups
included) can no longer be opened. An export hands the record to the second chair and
resets the approvals; the record stays until destroyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import structlog

from lanyard.agent.errors import NotAllowed, PermissionDenied
from lanyard.agent.incidents.model import Incident
from lanyard.agent.incidents.store import IncidentStore

log = structlog.get_logger("lanyard.incidents")

ACTIONS = ("destroy", "export")
APPROVALS_NEEDED = 2


@dataclass(frozen=True, slots=True)
class Disposal:
    """Where a destroy or export stands: who approved, and whether it was carried out
    (for an export, `exported` holds the record)."""

    incident_id: int
    action: str
    approvals: list[str]
    done: bool
    exported: Incident | None = None


def waiting(incident: Incident, event_over: bool) -> bool:
    """Whether an operator decides this incident's fate: it did not end in a warning
    only (the schedule handles those), and it is closed or the event is over."""
    return not incident.warning_only and (incident.status == "closed" or event_over)


def split(
    incidents: list[Incident], event_end: date | None, today: date, warning_days: int
) -> tuple[list[Incident], list[Incident]]:
    """(warning-only incidents the schedule destroys on `today`, `warning_days` after the
    event; incidents that wait for an operator's decision)."""
    over = event_end is not None and today > event_end
    expired = event_end is not None and today >= event_end + timedelta(days=warning_days)
    due = [i for i in incidents if i.warning_only and expired]
    kept = [i for i in incidents if not i.warning_only and waiting(i, over)]
    return due, kept


async def dispose(
    store: IncidentStore,
    incident: Incident,
    chair: str,
    role: str,
    action: str,
    stamp: str,
    event_end: date | None,
    today: date,
) -> Disposal:
    """One chair's call to destroy or export `incident` (already read for this caller).
    Raises PermissionDenied for anyone but a chair, NotAllowed if it is not waiting."""
    if role != "chair":
        raise PermissionDenied(f"only chairs may {action} an incident; {chair} is a {role}")
    if action not in ACTIONS:
        raise NotAllowed(f"action must be destroy or export, got {action[:20]!r}")
    incident_id = incident.incident_id
    if not waiting(incident, event_end is not None and today > event_end):
        raise NotAllowed(
            f"incident {incident_id} does not wait for an operator's decision: "
            "close it first (or wait for the event to end); warning-only incidents "
            "follow the retention schedule"
        )
    approvals = await store.approve(incident_id, action, chair, stamp)
    await store.audit(incident_id, stamp, chair, f"approve:{action}")
    log.info(
        "incidents.disposal_approved",
        incident_id=incident_id,
        action=action,
        approvals=len(approvals),
    )
    if len(approvals) < APPROVALS_NEEDED:
        return Disposal(incident_id, action, approvals, False)
    if action == "destroy":
        await store.audit(incident_id, stamp, chair, "destroyed")
        await store.destroy(incident_id)
        log.info("incidents.destroyed", incident_id=incident_id)
        return Disposal(incident_id, action, approvals, True)
    await store.clear_approvals(incident_id, action)
    await store.audit(incident_id, stamp, chair, "exported")
    log.info("incidents.exported", incident_id=incident_id)
    return Disposal(incident_id, action, approvals, True, incident)
