from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_ATTENDEE: _ClassVar[Role]
    ROLE_SPEAKER: _ClassVar[Role]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_REVIEW: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_BANNED_CONFIRMED: _ClassVar[Reason]
    REASON_BANNED_POSSIBLE: _ClassVar[Reason]
    REASON_FLAGGED_CONFIRMED: _ClassVar[Reason]
    REASON_FLAGGED_POSSIBLE: _ClassVar[Reason]
ROLE_UNSPECIFIED: Role
ROLE_ATTENDEE: Role
ROLE_SPEAKER: Role
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_REVIEW: Decision
DECISION_DENY: Decision
REASON_UNSPECIFIED: Reason
REASON_BANNED_CONFIRMED: Reason
REASON_BANNED_POSSIBLE: Reason
REASON_FLAGGED_CONFIRMED: Reason
REASON_FLAGGED_POSSIBLE: Reason

class CheckRequest(_message.Message):
    __slots__ = ("name", "email", "role", "caller_ref")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CALLER_REF_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    role: Role
    caller_ref: str
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., caller_ref: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decision", "reason", "record_ref", "snapshot_version", "snapshot_age_seconds")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reason: Reason
    record_ref: str
    snapshot_version: int
    snapshot_age_seconds: int
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., record_ref: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., snapshot_age_seconds: _Optional[int] = ...) -> None: ...
