"""What an incident record holds, and the rules of its life (the seeds' process).

Statuses move new → acknowledged → in review ⇄ needs info → decided → closed. A decision
needs two distinct responders or chairs who are not recused; an urgent unilateral action
by one is recorded as such and shown as awaiting a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("volunteer", "responder", "chair")
PERSON_ROLES = ("attendee", "speaker", "sponsor", "staff", "volunteer", "unknown")
ANSWERS = ("unknown", "yes", "no")
# The report's questions answered unknown / yes / no (never pressed for).
ANSWER_FIELDS = ("ongoing", "safety_threat", "law_enforcement_called", "venue_security_called")
STATUSES = ("new", "acknowledged", "in-review", "needs-info", "decided", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "in-review", "needs-info"),
    "acknowledged": ("in-review", "needs-info"),
    "in-review": ("needs-info",),
    "needs-info": ("in-review",),
    "decided": ("closed",),
    "closed": (),
}
# The seeds' resolutions (incident-handling guide, response guide).
RESOLUTIONS: dict[str, str] = {
    "no-action": "no action",
    "warning": "a warning was given",
    "stop-behaviour": "asked to stop the behaviour",
    "no-contact": "asked to avoid contact with others involved",
    "end-talk": "a talk was ended",
    "unpublish-talk": "a talk's video or slides are not published",
    "no-further-talks": "no further talks at this event",
    "remove-volunteering": "removed from volunteering",
    "leave-event": "asked to leave the event",
    "ban-future-events": "banned from future events",
    "report-employer": "reported to their employer",
    "other": "another action",
}


@dataclass
class ReportedPerson:
    name: str = ""
    role: str = "unknown"


@dataclass
class Report:
    reporter_name: str = ""
    reporter_contact: str = ""
    anonymous: bool = False
    received_by: str = ""
    reported: list[ReportedPerson] = field(default_factory=list)
    description: str = ""
    occurred_at: str = ""
    location: str = ""
    circumstances: str = ""
    others_involved: str = ""
    ongoing: str = "unknown"
    safety_threat: str = "unknown"
    law_enforcement_called: str = "unknown"
    venue_security_called: str = "unknown"
    category: str = ""


@dataclass
class Note:
    note_id: int
    author: str
    written_at: str
    text: str
    present: list[str] = field(default_factory=list)


@dataclass
class Conflict:
    member: str
    declared_by: str
    reason: str
    recused: bool
    declared_at: str


@dataclass
class Decision:
    violation: str = "unknown"
    bad_actors: list[str] = field(default_factory=list)
    resolutions: list[str] = field(default_factory=list)
    other_resolution: str = ""
    reasoning: str = ""
    urgent: bool = False
    approved_by: list[str] = field(default_factory=list)
    decided_at: str = ""

    def same_content(self, other: Decision) -> bool:
        """Whether two decisions say the same (who approved, and when, aside)."""
        keys = ("violation", "bad_actors", "resolutions", "other_resolution", "reasoning")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    @property
    def final(self) -> bool:
        return len(set(self.approved_by)) >= 2


@dataclass
class Communication:
    reported_person_told_on: str = ""
    reporter_told_on: str = ""


@dataclass
class Incident:
    """The whole record; everything here but the id, status and times is encrypted."""

    incident_id: int
    report: Report
    filed_by: str
    filed_at: str
    status: str = "new"
    version: int = 1
    updated_at: str = ""
    notes: list[Note] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    decision: Decision | None = None
    communication: Communication = field(default_factory=Communication)

    def content(self) -> dict[str, Any]:
        """The part that is sealed under the incident's key."""
        data = asdict(self)
        for clear in ("status", "version", "updated_at"):
            data.pop(clear)
        return data

    @classmethod
    def from_content(
        cls, data: dict[str, Any], status: str, version: int, updated_at: str
    ) -> Incident:
        report = dict(data["report"])
        report["reported"] = [ReportedPerson(**p) for p in report.get("reported", [])]
        decision = data.get("decision")
        return cls(
            incident_id=int(data["incident_id"]),
            report=Report(**report),
            filed_by=str(data["filed_by"]),
            filed_at=str(data["filed_at"]),
            status=status,
            version=version,
            updated_at=updated_at,
            notes=[Note(**n) for n in data.get("notes", [])],
            conflicts=[Conflict(**c) for c in data.get("conflicts", [])],
            decision=Decision(**decision) if decision else None,
            communication=Communication(**data.get("communication", {})),
        )

    @property
    def warning_only(self) -> bool:
        """Retention: incidents whose only resolution was a warning go after 2 years."""
        return bool(
            self.decision and self.decision.final and self.decision.resolutions == ["warning"]
        )
