"""How `lanyard incident list` and `show` print incidents: a table of summaries, everything
in one record in the order a team meeting goes through it, or JSON for machines.

Every value may hold what a reporter or a member wrote, so it is printed as plain text,
never read as markup.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lanyard.agent.incidents import messages as convert
from lanyard.agent.incidents.model import RESOLUTIONS, Decision
from lanyard.cli.output import console, say, table
from lanyard.wire.agent.v1 import incidents_pb2 as pb


def summaries_json(found: list[pb.IncidentSummary]) -> list[dict[str, Any]]:
    return [
        {
            "incident_id": s.incident_id,
            "version": s.version,
            "status": s.status,
            "filed_at": s.filed_at,
            "updated_at": s.updated_at,
            "overdue": s.overdue,
            "awaiting_second_approval": s.awaiting_second_approval,
        }
        for s in found
    ]


def render_summaries(found: list[pb.IncidentSummary], overdue: bool) -> None:
    if not found:
        console.print("No overdue incidents." if overdue else "No incidents.")
        return
    table(
        "Incidents",
        ["#", "status", "filed", "updated", "overdue", "decision"],
        [
            (
                s.incident_id,
                s.status,
                s.filed_at[:16],
                s.updated_at[:16],
                s.overdue,
                "awaiting 2nd approval" if s.awaiting_second_approval else "",
            )
            for s in found
        ],
    )


def _field(label: str, value: str) -> None:
    lines = (value or "—").splitlines() or ["—"]
    say(f"  {label}: {lines[0]}")
    for line in lines[1:]:
        say(f"    {line}")


def render(i: pb.Incident) -> None:
    """Everything in the record, in the order a team meeting goes through it."""
    m = convert.incident_from_pb(i)
    r = m.report
    say(f"Incident {m.incident_id}: {m.status} (version {m.version})", "bold")
    say(f"Filed {m.filed_at} by {m.filed_by}; last changed {m.updated_at}.")
    say("Report", "bold")
    if r.anonymous:
        reporter = "anonymous"
    else:
        contact = f"<{r.reporter_contact}>" if r.reporter_contact else ""
        reporter = " ".join(p for p in (r.reporter_name, contact) if p)
    _field("Reporter", reporter)
    _field("Received by", r.received_by)
    _field("Reported", ", ".join(f"{p.name} ({p.role})" for p in r.reported))
    _field("What happened", r.description)
    _field("When", r.occurred_at)
    _field("Where", r.location)
    _field("Circumstances", r.circumstances)
    _field("Others involved", r.others_involved)
    _field("Still going on", r.ongoing)
    _field("Threat to safety", r.safety_threat)
    _field("Police called", r.law_enforcement_called)
    _field("Venue security called", r.venue_security_called)
    _field("Category", r.category)
    if m.conflicts:
        say("Conflicts of interest", "bold")
        for c in m.conflicts:
            by = "" if c.declared_by == c.member else f" (declared by {c.declared_by})"
            what = "recused" if c.recused else "declared, not recused"
            say(f"  {c.member}: {what}{by}, {c.declared_at}")
            if c.reason:
                say(f"    {c.reason}")
    if m.notes:
        say("Notes", "bold")
        for n in m.notes:
            present = f"; present: {', '.join(n.present)}" if n.present else ""
            say(f"  #{n.note_id} by {n.author}, {n.written_at}{present}")
            for line in n.text.splitlines():
                say(f"    {line}")
    if m.decision is not None:
        show_decision(m.decision)
    say("Communication", "bold")
    _field("Reported person told", m.communication.reported_person_told_on or "not yet")
    _field("Reporter told", m.communication.reporter_told_on or "not yet")


def show_decision(d: Decision) -> None:
    """The decision as proposed or final: what a second member approves, field by field."""
    state = "final" if d.final else "awaiting a second approval"
    urgent = "; URGENT: acted on by one member" if d.urgent else ""
    say(f"Decision ({state}{urgent})", "bold")
    _field("Violation", d.violation)
    _field("Bad actors", ", ".join(d.bad_actors))
    _field("Resolutions", ", ".join(f"{x} ({RESOLUTIONS.get(x, '?')})" for x in d.resolutions))
    if d.other_resolution:
        _field("Other action", d.other_resolution)
    _field("Reasoning", d.reasoning)
    _field("Approved by", ", ".join(d.approved_by))
    if d.decided_at:
        _field("Final on", d.decided_at)


def incident_json(i: pb.Incident) -> dict[str, Any]:
    m = convert.incident_from_pb(i)
    data = asdict(m)
    if m.decision is not None:
        data["decision"]["final"] = m.decision.final
    return data
