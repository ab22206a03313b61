from lanyard.wire.registry.v1 import evaluation_log_pb2 as _evaluation_log_pb2
from lanyard.wire.registry.v1 import reports_pb2 as _reports_pb2
from lanyard.wire.registry.v1 import snapshot_pb2 as _snapshot_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventInfo(_message.Message):
    __slots__ = ("event_id", "name", "starts_on", "ends_on", "public_key", "quota", "evaluations_used", "revoked_at", "retired_public_keys")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STARTS_ON_FIELD_NUMBER: _ClassVar[int]
    ENDS_ON_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_USED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    name: str
    starts_on: str
    ends_on: str
    public_key: bytes
    quota: int
    evaluations_used: int
    revoked_at: str
    retired_public_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, event_id: _Optional[str] = ..., name: _Optional[str] = ..., starts_on: _Optional[str] = ..., ends_on: _Optional[str] = ..., public_key: _Optional[bytes] = ..., quota: _Optional[int] = ..., evaluations_used: _Optional[int] = ..., revoked_at: _Optional[str] = ..., retired_public_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EnrollEventRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: EventInfo
    def __init__(self, event: _Optional[_Union[EventInfo, _Mapping]] = ...) -> None: ...

class EnrollEventResponse(_message.Message):
    __slots__ = ("event", "registry_public_key", "suite", "epoch", "epoch_public_key")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPOCH_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    event: EventInfo
    registry_public_key: bytes
    suite: str
    epoch: int
    epoch_public_key: bytes
    def __init__(self, event: _Optional[_Union[EventInfo, _Mapping]] = ..., registry_public_key: _Optional[bytes] = ..., suite: _Optional[str] = ..., epoch: _Optional[int] = ..., epoch_public_key: _Optional[bytes] = ...) -> None: ...

class RevokeEventRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    def __init__(self, event_id: _Optional[str] = ...) -> None: ...

class RevokeEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: EventInfo
    def __init__(self, event: _Optional[_Union[EventInfo, _Mapping]] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("event_id", "quota")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    quota: int
    def __init__(self, event_id: _Optional[str] = ..., quota: _Optional[int] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: EventInfo
    def __init__(self, event: _Optional[_Union[EventInfo, _Mapping]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventInfo]
    def __init__(self, events: _Optional[_Iterable[_Union[EventInfo, _Mapping]]] = ...) -> None: ...

class EvaluateForRecordRequest(_message.Message):
    __slots__ = ("suite", "epoch", "blinded_points")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BLINDED_POINTS_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    blinded_points: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., blinded_points: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EvaluateForRecordResponse(_message.Message):
    __slots__ = ("suite", "epoch", "evaluated_points", "proof", "log_entry")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_POINTS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    evaluated_points: _containers.RepeatedScalarFieldContainer[bytes]
    proof: bytes
    log_entry: _evaluation_log_pb2.EvaluationLogEntry
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., evaluated_points: _Optional[_Iterable[bytes]] = ..., proof: _Optional[bytes] = ..., log_entry: _Optional[_Union[_evaluation_log_pb2.EvaluationLogEntry, _Mapping]] = ...) -> None: ...

class RecordInfo(_message.Message):
    __slots__ = ("record_ref", "status", "expires_on", "identifier_count", "created_at", "ban_until", "submission_id", "updated_at")
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_ON_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BAN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    record_ref: str
    status: _snapshot_pb2.RecordStatus
    expires_on: str
    identifier_count: int
    created_at: str
    ban_until: str
    submission_id: str
    updated_at: str
    def __init__(self, record_ref: _Optional[str] = ..., status: _Optional[_Union[_snapshot_pb2.RecordStatus, str]] = ..., expires_on: _Optional[str] = ..., identifier_count: _Optional[int] = ..., created_at: _Optional[str] = ..., ban_until: _Optional[str] = ..., submission_id: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class AddRecordRequest(_message.Message):
    __slots__ = ("suite", "epoch", "record", "points", "submission_id", "evaluation_log_indexes")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_LOG_INDEXES_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    record: RecordInfo
    points: _containers.RepeatedScalarFieldContainer[bytes]
    submission_id: str
    evaluation_log_indexes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., record: _Optional[_Union[RecordInfo, _Mapping]] = ..., points: _Optional[_Iterable[bytes]] = ..., submission_id: _Optional[str] = ..., evaluation_log_indexes: _Optional[_Iterable[int]] = ...) -> None: ...

class AddRecordResponse(_message.Message):
    __slots__ = ("record", "snapshot_version", "extended_refs")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_REFS_FIELD_NUMBER: _ClassVar[int]
    record: RecordInfo
    snapshot_version: int
    extended_refs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, record: _Optional[_Union[RecordInfo, _Mapping]] = ..., snapshot_version: _Optional[int] = ..., extended_refs: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordPoints(_message.Message):
    __slots__ = ("record", "points")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    record: RecordInfo
    points: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, record: _Optional[_Union[RecordInfo, _Mapping]] = ..., points: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AddRecordsRequest(_message.Message):
    __slots__ = ("suite", "epoch", "records", "skip_existing", "evaluation_log_indexes")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SKIP_EXISTING_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_LOG_INDEXES_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    records: _containers.RepeatedCompositeFieldContainer[RecordPoints]
    skip_existing: bool
    evaluation_log_indexes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., records: _Optional[_Iterable[_Union[RecordPoints, _Mapping]]] = ..., skip_existing: _Optional[bool] = ..., evaluation_log_indexes: _Optional[_Iterable[int]] = ...) -> None: ...

class AddRecordsResponse(_message.Message):
    __slots__ = ("records", "skipped_refs", "snapshot_version")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_REFS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[RecordInfo]
    skipped_refs: _containers.RepeatedScalarFieldContainer[str]
    snapshot_version: int
    def __init__(self, records: _Optional[_Iterable[_Union[RecordInfo, _Mapping]]] = ..., skipped_refs: _Optional[_Iterable[str]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class RemoveRecordRequest(_message.Message):
    __slots__ = ("record_ref",)
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    record_ref: str
    def __init__(self, record_ref: _Optional[str] = ...) -> None: ...

class RemoveRecordResponse(_message.Message):
    __slots__ = ("snapshot_version",)
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    snapshot_version: int
    def __init__(self, snapshot_version: _Optional[int] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records", "epoch", "snapshot_version", "epoch_public_key")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[RecordInfo]
    epoch: int
    snapshot_version: int
    epoch_public_key: bytes
    def __init__(self, records: _Optional[_Iterable[_Union[RecordInfo, _Mapping]]] = ..., epoch: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., epoch_public_key: _Optional[bytes] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStateResponse(_message.Message):
    __slots__ = ("epoch", "snapshot_version", "snapshot_entries", "epoch_public_key")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    snapshot_version: int
    snapshot_entries: int
    epoch_public_key: bytes
    def __init__(self, epoch: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., snapshot_entries: _Optional[int] = ..., epoch_public_key: _Optional[bytes] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ("record_ref", "status", "expires_on", "clear_expires_on", "ban_until", "clear_ban_until", "suite", "epoch", "add_points", "evaluation_log_indexes")
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_ON_FIELD_NUMBER: _ClassVar[int]
    CLEAR_EXPIRES_ON_FIELD_NUMBER: _ClassVar[int]
    BAN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CLEAR_BAN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ADD_POINTS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_LOG_INDEXES_FIELD_NUMBER: _ClassVar[int]
    record_ref: str
    status: _snapshot_pb2.RecordStatus
    expires_on: str
    clear_expires_on: bool
    ban_until: str
    clear_ban_until: bool
    suite: str
    epoch: int
    add_points: _containers.RepeatedScalarFieldContainer[bytes]
    evaluation_log_indexes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, record_ref: _Optional[str] = ..., status: _Optional[_Union[_snapshot_pb2.RecordStatus, str]] = ..., expires_on: _Optional[str] = ..., clear_expires_on: _Optional[bool] = ..., ban_until: _Optional[str] = ..., clear_ban_until: _Optional[bool] = ..., suite: _Optional[str] = ..., epoch: _Optional[int] = ..., add_points: _Optional[_Iterable[bytes]] = ..., evaluation_log_indexes: _Optional[_Iterable[int]] = ...) -> None: ...

class UpdateRecordResponse(_message.Message):
    __slots__ = ("record", "snapshot_version")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    record: RecordInfo
    snapshot_version: int
    def __init__(self, record: _Optional[_Union[RecordInfo, _Mapping]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("record_ref",)
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    record_ref: str
    def __init__(self, record_ref: _Optional[str] = ...) -> None: ...

class RecordChange(_message.Message):
    __slots__ = ("snapshot_version", "at", "by", "action", "detail")
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    snapshot_version: int
    at: str
    by: str
    action: str
    detail: str
    def __init__(self, snapshot_version: _Optional[int] = ..., at: _Optional[str] = ..., by: _Optional[str] = ..., action: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class GetRecordResponse(_message.Message):
    __slots__ = ("record", "history")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    record: RecordInfo
    history: _containers.RepeatedCompositeFieldContainer[RecordChange]
    def __init__(self, record: _Optional[_Union[RecordInfo, _Mapping]] = ..., history: _Optional[_Iterable[_Union[RecordChange, _Mapping]]] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("from_epoch",)
    FROM_EPOCH_FIELD_NUMBER: _ClassVar[int]
    from_epoch: int
    def __init__(self, from_epoch: _Optional[int] = ...) -> None: ...

class RotateKeyResponse(_message.Message):
    __slots__ = ("epoch", "snapshot_version", "points")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    snapshot_version: int
    points: int
    def __init__(self, epoch: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., points: _Optional[int] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ("from_public_key",)
    FROM_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    from_public_key: bytes
    def __init__(self, from_public_key: _Optional[bytes] = ...) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("transition",)
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    transition: _snapshot_pb2.KeyTransition
    def __init__(self, transition: _Optional[_Union[_snapshot_pb2.KeyTransition, _Mapping]] = ...) -> None: ...

class RetentionPolicy(_message.Message):
    __slots__ = ("flagged_months", "banned_months_after_ban")
    FLAGGED_MONTHS_FIELD_NUMBER: _ClassVar[int]
    BANNED_MONTHS_AFTER_BAN_FIELD_NUMBER: _ClassVar[int]
    flagged_months: int
    banned_months_after_ban: int
    def __init__(self, flagged_months: _Optional[int] = ..., banned_months_after_ban: _Optional[int] = ...) -> None: ...

class GetRetentionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRetentionResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RetentionPolicy
    def __init__(self, policy: _Optional[_Union[RetentionPolicy, _Mapping]] = ...) -> None: ...

class SetRetentionRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RetentionPolicy
    def __init__(self, policy: _Optional[_Union[RetentionPolicy, _Mapping]] = ...) -> None: ...

class SetRetentionResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RetentionPolicy
    def __init__(self, policy: _Optional[_Union[RetentionPolicy, _Mapping]] = ...) -> None: ...

class ApplyRetentionRequest(_message.Message):
    __slots__ = ("as_of", "dry_run")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    dry_run: bool
    def __init__(self, as_of: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ApplyRetentionResponse(_message.Message):
    __slots__ = ("records", "snapshot_version", "as_of")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[RecordInfo]
    snapshot_version: int
    as_of: str
    def __init__(self, records: _Optional[_Iterable[_Union[RecordInfo, _Mapping]]] = ..., snapshot_version: _Optional[int] = ..., as_of: _Optional[str] = ...) -> None: ...

class RekeyRecipientRequest(_message.Message):
    __slots__ = ("recipient", "proof")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    recipient: _reports_pb2.Recipient
    proof: bytes
    def __init__(self, recipient: _Optional[_Union[_reports_pb2.Recipient, _Mapping]] = ..., proof: _Optional[bytes] = ...) -> None: ...

class RekeyRecipientResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: _reports_pb2.RecipientSet
    def __init__(self, recipients: _Optional[_Union[_reports_pb2.RecipientSet, _Mapping]] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("event_id", "since")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    since: str
    def __init__(self, event_id: _Optional[str] = ..., since: _Optional[str] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("leaves", "head")
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    leaves: _containers.RepeatedCompositeFieldContainer[_evaluation_log_pb2.EvaluationLeaf]
    head: _reports_pb2.TreeHead
    def __init__(self, leaves: _Optional[_Iterable[_Union[_evaluation_log_pb2.EvaluationLeaf, _Mapping]]] = ..., head: _Optional[_Union[_reports_pb2.TreeHead, _Mapping]] = ...) -> None: ...
