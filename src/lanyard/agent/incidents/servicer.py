"""The Incidents gRPC service: thin glue from protobuf to IncidentService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from lanyard.agent.errors import InvalidRequest
from lanyard.agent.grpc_errors import unary
from lanyard.agent.incidents import messages as convert
from lanyard.agent.incidents.attachments import Attachment, AttachmentService
from lanyard.agent.incidents.model import Communication, Incident
from lanyard.agent.incidents.service import Caller, IncidentService, Summary
from lanyard.agent.incidents.store import MemberRow
from lanyard.core import auth, limits
from lanyard.wire.agent.v1 import incidents_pb2 as pb
from lanyard.wire.agent.v1 import incidents_pb2_grpc

PREFIX = "/lanyard.agent.v1.Incidents/"
PIECE_BYTES = limits.ATTACHMENTS["piece_bytes"]


def _member(m: MemberRow) -> pb.Member:
    return pb.Member(
        name=m.name, role=convert.ROLE_TO_PB[m.role], public_key=m.public_key, added_at=m.added_at
    )


def _summary(s: Summary) -> pb.IncidentSummary:
    return pb.IncidentSummary(
        incident_id=s.incident_id,
        version=s.version,
        status=s.status,
        filed_at=s.filed_at,
        updated_at=s.updated_at,
        overdue=s.overdue,
        awaiting_second_approval=s.awaiting_second,
    )


def _attachment(a: Attachment) -> pb.AttachmentInfo:
    return pb.AttachmentInfo(
        attachment_id=a.attachment_id,
        incident_id=a.incident_id,
        name=a.name,
        media_type=a.media_type,
        size=a.size,
        sha256=a.sha256,
        note=a.note,
        added_by=a.added_by,
        added_at=a.added_at,
    )


async def _pieces(requests: AsyncIterator[pb.AttachRequest]) -> AsyncIterator[bytes]:
    async for request in requests:
        if request.WhichOneof("part") != "data":
            raise InvalidRequest("only the first message of an upload carries the header")
        if len(request.data) > PIECE_BYTES:
            raise InvalidRequest(f"an upload piece is at most {PIECE_BYTES} bytes")
        yield request.data


class IncidentsServicer(incidents_pb2_grpc.IncidentsServicer):
    def __init__(self, service: IncidentService, attachments: AttachmentService) -> None:
        self._s = service
        self._a = attachments

    @unary
    async def Attach(
        self, request_iterator: AsyncIterator[pb.AttachRequest], context: grpc.aio.ServicerContext
    ) -> pb.AttachResponse:
        first = await anext(aiter(request_iterator), None)
        # The call token of a client-streaming call covers its first (header) message;
        # the caller is authenticated before anything about the stream is judged.
        auth.REQUEST_DIGEST.set(auth.body_digest(first.SerializeToString() if first else b""))
        caller = await self._caller(context, "Attach")
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidRequest("the first message of an upload must carry the header")
        head = first.header
        attachment = await self._a.attach(
            caller, head.incident_id, head.name, head.note, _pieces(request_iterator)
        )
        return pb.AttachResponse(attachment=_attachment(attachment))

    @unary
    async def ListAttachments(
        self, request: pb.ListAttachmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAttachmentsResponse:
        caller = await self._caller(context, "ListAttachments")
        found = await self._a.list_attachments(caller, request.incident_id)
        return pb.ListAttachmentsResponse(attachments=[_attachment(a) for a in found])

    @unary
    async def GetAttachment(
        self, request: pb.GetAttachmentRequest, context: grpc.aio.ServicerContext
    ) -> None:
        caller = await self._caller(context, "GetAttachment")
        attachment, plain = await self._a.read(caller, request.incident_id, request.attachment_id)
        await context.write(pb.GetAttachmentResponse(info=_attachment(attachment)))
        async for piece in plain:
            await context.write(pb.GetAttachmentResponse(data=piece))

    async def _caller(self, context: grpc.aio.ServicerContext, method: str) -> Caller:
        return await self._s.authenticate(context.invocation_metadata(), PREFIX + method)

    def _incident(self, incident: Incident) -> pb.GetIncidentResponse:
        return pb.GetIncidentResponse(incident=convert.incident_to_pb(incident))

    @unary
    async def AddMember(
        self, request: pb.AddMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddMemberResponse:
        caller = await self._caller(context, "AddMember")
        role = convert.ROLE_FROM_PB.get(request.member.role)
        if role is None:
            raise InvalidRequest("member.role must be VOLUNTEER, RESPONDER or CHAIR")
        member = await self._s.add_member(
            caller, request.member.name, role, request.member.public_key
        )
        return pb.AddMemberResponse(member=_member(member))

    @unary
    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveMemberResponse:
        caller = await self._caller(context, "RemoveMember")
        await self._s.remove_member(caller, request.name)
        return pb.RemoveMemberResponse()

    @unary
    async def ListMembers(
        self, request: pb.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMembersResponse:
        caller = await self._caller(context, "ListMembers")
        return pb.ListMembersResponse(members=[_member(m) for m in await self._s.members(caller)])

    @unary
    async def FileIncident(
        self, request: pb.FileIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.FileIncidentResponse:
        caller = await self._caller(context, "FileIncident")
        incident = await self._s.file(caller, convert.report_from_pb(request.report))
        return pb.FileIncidentResponse(
            incident=pb.IncidentSummary(
                incident_id=incident.incident_id,
                version=incident.version,
                status=incident.status,
                filed_at=incident.filed_at,
                updated_at=incident.updated_at,
            )
        )

    @unary
    async def ListIncidents(
        self, request: pb.ListIncidentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIncidentsResponse:
        caller = await self._caller(context, "ListIncidents")
        found = await self._s.list_incidents(caller, request.overdue_only)
        return pb.ListIncidentsResponse(incidents=[_summary(s) for s in found])

    @unary
    async def GetIncident(
        self, request: pb.GetIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "GetIncident")
        return self._incident(await self._s.get(caller, request.incident_id))

    @unary
    async def UpdateIncident(
        self, request: pb.UpdateIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "UpdateIncident")
        report = convert.report_from_pb(request.report) if request.replace_report else None
        return self._incident(
            await self._s.update(
                caller, request.incident_id, request.expected_version, request.status, report
            )
        )

    @unary
    async def AddNote(
        self, request: pb.AddNoteRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "AddNote")
        return self._incident(
            await self._s.add_note(caller, request.incident_id, request.text, list(request.present))
        )

    @unary
    async def DeclareConflict(
        self, request: pb.DeclareConflictRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "DeclareConflict")
        return self._incident(
            await self._s.declare_conflict(
                caller, request.incident_id, request.member, request.reason, request.recuse
            )
        )

    @unary
    async def Decide(
        self, request: pb.DecideRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "Decide")
        return self._incident(
            await self._s.decide(
                caller, request.incident_id, convert.decision_from_pb(request.decision)
            )
        )

    @unary
    async def RecordCommunication(
        self, request: pb.RecordCommunicationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIncidentResponse:
        caller = await self._caller(context, "RecordCommunication")
        c = request.communication
        return self._incident(
            await self._s.communicate(
                caller,
                request.incident_id,
                Communication(c.reported_person_told_on, c.reporter_told_on),
            )
        )

    @unary
    async def GetAudit(
        self, request: pb.GetAuditRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAuditResponse:
        caller = await self._caller(context, "GetAudit")
        trail = await self._s.audit(caller, request.incident_id)
        return pb.GetAuditResponse(
            entries=[pb.AuditEntry(at=a, member=m, action=x) for a, m, x in trail]
        )
