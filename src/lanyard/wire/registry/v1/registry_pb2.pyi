from lanyard.wire.registry.v1 import evaluation_log_pb2 as _evaluation_log_pb2
from lanyard.wire.registry.v1 import reports_pb2 as _reports_pb2
from lanyard.wire.registry.v1 import snapshot_pb2 as _snapshot_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetQuotaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetQuotaResponse(_message.Message):
    __slots__ = ("quota", "evaluations_used", "evaluate_from", "evaluate_until")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_USED_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FROM_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    quota: int
    evaluations_used: int
    evaluate_from: str
    evaluate_until: str
    def __init__(self, quota: _Optional[int] = ..., evaluations_used: _Optional[int] = ..., evaluate_from: _Optional[str] = ..., evaluate_until: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("suite", "epoch", "blinded_points")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BLINDED_POINTS_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    blinded_points: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., blinded_points: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("suite", "epoch", "evaluated_points", "quota_remaining", "proof", "log_entry")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_POINTS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_REMAINING_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    evaluated_points: _containers.RepeatedScalarFieldContainer[bytes]
    quota_remaining: int
    proof: bytes
    log_entry: _evaluation_log_pb2.EvaluationLogEntry
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., evaluated_points: _Optional[_Iterable[bytes]] = ..., quota_remaining: _Optional[int] = ..., proof: _Optional[bytes] = ..., log_entry: _Optional[_Union[_evaluation_log_pb2.EvaluationLogEntry, _Mapping]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("since_version",)
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    since_version: int
    def __init__(self, since_version: _Optional[int] = ...) -> None: ...

class SnapshotDelta(_message.Message):
    __slots__ = ("suite", "epoch", "from_version", "to_version", "added", "removed_tags", "signature", "epoch_public_key")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_TAGS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    from_version: int
    to_version: int
    added: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.SnapshotEntry]
    removed_tags: _containers.RepeatedScalarFieldContainer[bytes]
    signature: bytes
    epoch_public_key: bytes
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., added: _Optional[_Iterable[_Union[_snapshot_pb2.SnapshotEntry, _Mapping]]] = ..., removed_tags: _Optional[_Iterable[bytes]] = ..., signature: _Optional[bytes] = ..., epoch_public_key: _Optional[bytes] = ...) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("full", "delta")
    FULL_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    full: _snapshot_pb2.Snapshot
    delta: SnapshotDelta
    def __init__(self, full: _Optional[_Union[_snapshot_pb2.Snapshot, _Mapping]] = ..., delta: _Optional[_Union[SnapshotDelta, _Mapping]] = ...) -> None: ...

class SnapshotEntries(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.SnapshotEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[_snapshot_pb2.SnapshotEntry, _Mapping]]] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("header", "entries", "delta")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    header: _snapshot_pb2.Snapshot
    entries: SnapshotEntries
    delta: SnapshotDelta
    def __init__(self, header: _Optional[_Union[_snapshot_pb2.Snapshot, _Mapping]] = ..., entries: _Optional[_Union[SnapshotEntries, _Mapping]] = ..., delta: _Optional[_Union[SnapshotDelta, _Mapping]] = ...) -> None: ...

class WatchSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SnapshotAnnouncement(_message.Message):
    __slots__ = ("epoch", "version")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    version: int
    def __init__(self, epoch: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class GetKeyChainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetKeyChainResponse(_message.Message):
    __slots__ = ("transitions", "current_public_key")
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.KeyTransition]
    current_public_key: bytes
    def __init__(self, transitions: _Optional[_Iterable[_Union[_snapshot_pb2.KeyTransition, _Mapping]]] = ..., current_public_key: _Optional[bytes] = ...) -> None: ...

class RekeyEventRequest(_message.Message):
    __slots__ = ("new_public_key", "old_signature", "new_signature")
    NEW_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    OLD_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    new_public_key: bytes
    old_signature: bytes
    new_signature: bytes
    def __init__(self, new_public_key: _Optional[bytes] = ..., old_signature: _Optional[bytes] = ..., new_signature: _Optional[bytes] = ...) -> None: ...

class RekeyEventResponse(_message.Message):
    __slots__ = ("retired_keys",)
    RETIRED_KEYS_FIELD_NUMBER: _ClassVar[int]
    retired_keys: int
    def __init__(self, retired_keys: _Optional[int] = ...) -> None: ...
