from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemberRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_ROLE_UNSPECIFIED: _ClassVar[MemberRole]
    MEMBER_ROLE_VOLUNTEER: _ClassVar[MemberRole]
    MEMBER_ROLE_RESPONDER: _ClassVar[MemberRole]
    MEMBER_ROLE_CHAIR: _ClassVar[MemberRole]

class Answer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANSWER_UNKNOWN: _ClassVar[Answer]
    ANSWER_YES: _ClassVar[Answer]
    ANSWER_NO: _ClassVar[Answer]
MEMBER_ROLE_UNSPECIFIED: MemberRole
MEMBER_ROLE_VOLUNTEER: MemberRole
MEMBER_ROLE_RESPONDER: MemberRole
MEMBER_ROLE_CHAIR: MemberRole
ANSWER_UNKNOWN: Answer
ANSWER_YES: Answer
ANSWER_NO: Answer

class AttachmentInfo(_message.Message):
    __slots__ = ("attachment_id", "incident_id", "name", "media_type", "size", "sha256", "note", "added_by", "added_at")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    attachment_id: int
    incident_id: int
    name: str
    media_type: str
    size: int
    sha256: str
    note: str
    added_by: str
    added_at: str
    def __init__(self, attachment_id: _Optional[int] = ..., incident_id: _Optional[int] = ..., name: _Optional[str] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., note: _Optional[str] = ..., added_by: _Optional[str] = ..., added_at: _Optional[str] = ...) -> None: ...

class AttachHeader(_message.Message):
    __slots__ = ("incident_id", "name", "note")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    name: str
    note: str
    def __init__(self, incident_id: _Optional[int] = ..., name: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: AttachHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[AttachHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("attachment",)
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    attachment: AttachmentInfo
    def __init__(self, attachment: _Optional[_Union[AttachmentInfo, _Mapping]] = ...) -> None: ...

class ListAttachmentsRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class ListAttachmentsResponse(_message.Message):
    __slots__ = ("attachments",)
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    attachments: _containers.RepeatedCompositeFieldContainer[AttachmentInfo]
    def __init__(self, attachments: _Optional[_Iterable[_Union[AttachmentInfo, _Mapping]]] = ...) -> None: ...

class GetAttachmentRequest(_message.Message):
    __slots__ = ("incident_id", "attachment_id")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    attachment_id: int
    def __init__(self, incident_id: _Optional[int] = ..., attachment_id: _Optional[int] = ...) -> None: ...

class GetAttachmentResponse(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: AttachmentInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[AttachmentInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("name", "role", "public_key", "added_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: MemberRole
    public_key: bytes
    added_at: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ..., public_key: _Optional[bytes] = ..., added_at: _Optional[str] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class AddMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class ReportedPerson(_message.Message):
    __slots__ = ("name", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("reporter_name", "reporter_contact", "anonymous", "received_by", "reported", "description", "occurred_at", "location", "circumstances", "others_involved", "ongoing", "safety_threat", "law_enforcement_called", "venue_security_called", "category")
    REPORTER_NAME_FIELD_NUMBER: _ClassVar[int]
    REPORTER_CONTACT_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BY_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CIRCUMSTANCES_FIELD_NUMBER: _ClassVar[int]
    OTHERS_INVOLVED_FIELD_NUMBER: _ClassVar[int]
    ONGOING_FIELD_NUMBER: _ClassVar[int]
    SAFETY_THREAT_FIELD_NUMBER: _ClassVar[int]
    LAW_ENFORCEMENT_CALLED_FIELD_NUMBER: _ClassVar[int]
    VENUE_SECURITY_CALLED_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    reporter_name: str
    reporter_contact: str
    anonymous: bool
    received_by: str
    reported: _containers.RepeatedCompositeFieldContainer[ReportedPerson]
    description: str
    occurred_at: str
    location: str
    circumstances: str
    others_involved: str
    ongoing: Answer
    safety_threat: Answer
    law_enforcement_called: Answer
    venue_security_called: Answer
    category: str
    def __init__(self, reporter_name: _Optional[str] = ..., reporter_contact: _Optional[str] = ..., anonymous: _Optional[bool] = ..., received_by: _Optional[str] = ..., reported: _Optional[_Iterable[_Union[ReportedPerson, _Mapping]]] = ..., description: _Optional[str] = ..., occurred_at: _Optional[str] = ..., location: _Optional[str] = ..., circumstances: _Optional[str] = ..., others_involved: _Optional[str] = ..., ongoing: _Optional[_Union[Answer, str]] = ..., safety_threat: _Optional[_Union[Answer, str]] = ..., law_enforcement_called: _Optional[_Union[Answer, str]] = ..., venue_security_called: _Optional[_Union[Answer, str]] = ..., category: _Optional[str] = ...) -> None: ...

class Note(_message.Message):
    __slots__ = ("note_id", "author", "written_at", "text", "present")
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_AT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    note_id: int
    author: str
    written_at: str
    text: str
    present: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, note_id: _Optional[int] = ..., author: _Optional[str] = ..., written_at: _Optional[str] = ..., text: _Optional[str] = ..., present: _Optional[_Iterable[str]] = ...) -> None: ...

class Conflict(_message.Message):
    __slots__ = ("member", "declared_by", "reason", "recused", "declared_at")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    DECLARED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECUSED_FIELD_NUMBER: _ClassVar[int]
    DECLARED_AT_FIELD_NUMBER: _ClassVar[int]
    member: str
    declared_by: str
    reason: str
    recused: bool
    declared_at: str
    def __init__(self, member: _Optional[str] = ..., declared_by: _Optional[str] = ..., reason: _Optional[str] = ..., recused: _Optional[bool] = ..., declared_at: _Optional[str] = ...) -> None: ...

class IncidentDecision(_message.Message):
    __slots__ = ("violation", "bad_actors", "resolutions", "other_resolution", "reasoning", "urgent", "approved_by", "decided_at")
    VIOLATION_FIELD_NUMBER: _ClassVar[int]
    BAD_ACTORS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    OTHER_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    URGENT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    violation: Answer
    bad_actors: _containers.RepeatedScalarFieldContainer[str]
    resolutions: _containers.RepeatedScalarFieldContainer[str]
    other_resolution: str
    reasoning: str
    urgent: bool
    approved_by: _containers.RepeatedScalarFieldContainer[str]
    decided_at: str
    def __init__(self, violation: _Optional[_Union[Answer, str]] = ..., bad_actors: _Optional[_Iterable[str]] = ..., resolutions: _Optional[_Iterable[str]] = ..., other_resolution: _Optional[str] = ..., reasoning: _Optional[str] = ..., urgent: _Optional[bool] = ..., approved_by: _Optional[_Iterable[str]] = ..., decided_at: _Optional[str] = ...) -> None: ...

class Communication(_message.Message):
    __slots__ = ("reported_person_told_on", "reporter_told_on")
    REPORTED_PERSON_TOLD_ON_FIELD_NUMBER: _ClassVar[int]
    REPORTER_TOLD_ON_FIELD_NUMBER: _ClassVar[int]
    reported_person_told_on: str
    reporter_told_on: str
    def __init__(self, reported_person_told_on: _Optional[str] = ..., reporter_told_on: _Optional[str] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("incident_id", "version", "status", "report", "notes", "conflicts", "decision", "communication", "filed_by", "filed_at", "updated_at")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    COMMUNICATION_FIELD_NUMBER: _ClassVar[int]
    FILED_BY_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    version: int
    status: str
    report: Report
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    conflicts: _containers.RepeatedCompositeFieldContainer[Conflict]
    decision: IncidentDecision
    communication: Communication
    filed_by: str
    filed_at: str
    updated_at: str
    def __init__(self, incident_id: _Optional[int] = ..., version: _Optional[int] = ..., status: _Optional[str] = ..., report: _Optional[_Union[Report, _Mapping]] = ..., notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ..., conflicts: _Optional[_Iterable[_Union[Conflict, _Mapping]]] = ..., decision: _Optional[_Union[IncidentDecision, _Mapping]] = ..., communication: _Optional[_Union[Communication, _Mapping]] = ..., filed_by: _Optional[str] = ..., filed_at: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class IncidentSummary(_message.Message):
    __slots__ = ("incident_id", "version", "status", "filed_at", "updated_at", "overdue", "awaiting_second_approval")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    AWAITING_SECOND_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    version: int
    status: str
    filed_at: str
    updated_at: str
    overdue: str
    awaiting_second_approval: bool
    def __init__(self, incident_id: _Optional[int] = ..., version: _Optional[int] = ..., status: _Optional[str] = ..., filed_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., overdue: _Optional[str] = ..., awaiting_second_approval: _Optional[bool] = ...) -> None: ...

class FileIncidentRequest(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: Report
    def __init__(self, report: _Optional[_Union[Report, _Mapping]] = ...) -> None: ...

class FileIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: IncidentSummary
    def __init__(self, incident: _Optional[_Union[IncidentSummary, _Mapping]] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("overdue_only",)
    OVERDUE_ONLY_FIELD_NUMBER: _ClassVar[int]
    overdue_only: bool
    def __init__(self, overdue_only: _Optional[bool] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents",)
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[IncidentSummary]
    def __init__(self, incidents: _Optional[_Iterable[_Union[IncidentSummary, _Mapping]]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class UpdateIncidentRequest(_message.Message):
    __slots__ = ("incident_id", "expected_version", "status", "report", "replace_report")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    REPLACE_REPORT_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    expected_version: int
    status: str
    report: Report
    replace_report: bool
    def __init__(self, incident_id: _Optional[int] = ..., expected_version: _Optional[int] = ..., status: _Optional[str] = ..., report: _Optional[_Union[Report, _Mapping]] = ..., replace_report: _Optional[bool] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("incident_id", "text", "present")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    text: str
    present: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, incident_id: _Optional[int] = ..., text: _Optional[str] = ..., present: _Optional[_Iterable[str]] = ...) -> None: ...

class DeclareConflictRequest(_message.Message):
    __slots__ = ("incident_id", "member", "reason", "recuse")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECUSE_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    member: str
    reason: str
    recuse: bool
    def __init__(self, incident_id: _Optional[int] = ..., member: _Optional[str] = ..., reason: _Optional[str] = ..., recuse: _Optional[bool] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("incident_id", "decision")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    decision: IncidentDecision
    def __init__(self, incident_id: _Optional[int] = ..., decision: _Optional[_Union[IncidentDecision, _Mapping]] = ...) -> None: ...

class RecordCommunicationRequest(_message.Message):
    __slots__ = ("incident_id", "communication")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMUNICATION_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    communication: Communication
    def __init__(self, incident_id: _Optional[int] = ..., communication: _Optional[_Union[Communication, _Mapping]] = ...) -> None: ...

class GetAuditRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("at", "member", "action")
    AT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    at: str
    member: str
    action: str
    def __init__(self, at: _Optional[str] = ..., member: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class GetAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...
