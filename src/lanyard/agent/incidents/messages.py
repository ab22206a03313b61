"""Between the wire (lanyard.agent.v1 incidents messages) and the model; both sides use it."""

from __future__ import annotations

from lanyard.agent.incidents import model
from lanyard.wire.agent.v1 import incidents_pb2 as pb

ANSWER_TO_PB = {"unknown": pb.ANSWER_UNKNOWN, "yes": pb.ANSWER_YES, "no": pb.ANSWER_NO}
ANSWER_FROM_PB = {v: k for k, v in ANSWER_TO_PB.items()}
ROLE_TO_PB = {
    "volunteer": pb.MEMBER_ROLE_VOLUNTEER,
    "responder": pb.MEMBER_ROLE_RESPONDER,
    "chair": pb.MEMBER_ROLE_CHAIR,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}


def report_to_pb(r: model.Report) -> pb.Report:
    return pb.Report(
        reporter_name=r.reporter_name,
        reporter_contact=r.reporter_contact,
        anonymous=r.anonymous,
        received_by=r.received_by,
        reported=[pb.ReportedPerson(name=p.name, role=p.role) for p in r.reported],
        description=r.description,
        occurred_at=r.occurred_at,
        location=r.location,
        circumstances=r.circumstances,
        others_involved=r.others_involved,
        category=r.category,
        **{a: ANSWER_TO_PB.get(getattr(r, a), pb.ANSWER_UNKNOWN) for a in model.ANSWER_FIELDS},
    )


def report_from_pb(r: pb.Report) -> model.Report:
    return model.Report(
        reporter_name=r.reporter_name,
        reporter_contact=r.reporter_contact,
        anonymous=r.anonymous,
        received_by=r.received_by,
        reported=[model.ReportedPerson(p.name, p.role or "unknown") for p in r.reported],
        description=r.description,
        occurred_at=r.occurred_at,
        location=r.location,
        circumstances=r.circumstances,
        others_involved=r.others_involved,
        category=r.category,
        **{a: ANSWER_FROM_PB.get(getattr(r, a), "unknown") for a in model.ANSWER_FIELDS},
    )


def decision_to_pb(d: model.Decision) -> pb.IncidentDecision:
    return pb.IncidentDecision(
        violation=ANSWER_TO_PB.get(d.violation, pb.ANSWER_UNKNOWN),
        bad_actors=d.bad_actors,
        resolutions=d.resolutions,
        other_resolution=d.other_resolution,
        reasoning=d.reasoning,
        urgent=d.urgent,
        approved_by=d.approved_by,
        decided_at=d.decided_at,
    )


def decision_from_pb(d: pb.IncidentDecision) -> model.Decision:
    return model.Decision(
        violation=ANSWER_FROM_PB.get(d.violation, "unknown"),
        bad_actors=list(d.bad_actors),
        resolutions=list(d.resolutions),
        other_resolution=d.other_resolution,
        reasoning=d.reasoning,
        urgent=d.urgent,
    )


def incident_to_pb(i: model.Incident) -> pb.Incident:
    return pb.Incident(
        incident_id=i.incident_id,
        version=i.version,
        status=i.status,
        report=report_to_pb(i.report),
        notes=[
            pb.Note(
                note_id=n.note_id,
                author=n.author,
                written_at=n.written_at,
                text=n.text,
                present=n.present,
            )
            for n in i.notes
        ],
        conflicts=[
            pb.Conflict(
                member=c.member,
                declared_by=c.declared_by,
                reason=c.reason,
                recused=c.recused,
                declared_at=c.declared_at,
            )
            for c in i.conflicts
        ],
        decision=decision_to_pb(i.decision) if i.decision else None,
        communication=pb.Communication(
            reported_person_told_on=i.communication.reported_person_told_on,
            reporter_told_on=i.communication.reporter_told_on,
        ),
        filed_by=i.filed_by,
        filed_at=i.filed_at,
        updated_at=i.updated_at,
    )


def incident_from_pb(i: pb.Incident) -> model.Incident:
    return model.Incident(
        incident_id=i.incident_id,
        report=report_from_pb(i.report),
        filed_by=i.filed_by,
        filed_at=i.filed_at,
        status=i.status,
        version=i.version,
        updated_at=i.updated_at,
        notes=[
            model.Note(n.note_id, n.author, n.written_at, n.text, list(n.present)) for n in i.notes
        ],
        conflicts=[
            model.Conflict(c.member, c.declared_by, c.reason, c.recused, c.declared_at)
            for c in i.conflicts
        ],
        decision=(
            model.Decision(
                **{
                    **decision_from_pb(i.decision).__dict__,
                    "approved_by": list(i.decision.approved_by),
                    "decided_at": i.decision.decided_at,
                }
            )
            if i.HasField("decision")
            else None
        ),
        communication=model.Communication(
            i.communication.reported_person_told_on, i.communication.reporter_told_on
        ),
    )
