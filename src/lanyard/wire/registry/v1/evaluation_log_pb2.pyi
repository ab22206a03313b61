from lanyard.wire.registry.v1 import reports_pb2 as _reports_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluationLogEntry(_message.Message):
    __slots__ = ("log_index", "logged_at", "head", "path")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOGGED_AT_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    logged_at: str
    head: _reports_pb2.TreeHead
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, log_index: _Optional[int] = ..., logged_at: _Optional[str] = ..., head: _Optional[_Union[_reports_pb2.TreeHead, _Mapping]] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EvaluationLeaf(_message.Message):
    __slots__ = ("log_index", "caller", "event_id", "epoch", "points", "logged_at", "points_sha256", "record_ref", "records", "record_removed")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LOGGED_AT_FIELD_NUMBER: _ClassVar[int]
    POINTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    RECORD_REMOVED_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    caller: str
    event_id: str
    epoch: int
    points: int
    logged_at: str
    points_sha256: bytes
    record_ref: str
    records: int
    record_removed: bool
    def __init__(self, log_index: _Optional[int] = ..., caller: _Optional[str] = ..., event_id: _Optional[str] = ..., epoch: _Optional[int] = ..., points: _Optional[int] = ..., logged_at: _Optional[str] = ..., points_sha256: _Optional[bytes] = ..., record_ref: _Optional[str] = ..., records: _Optional[int] = ..., record_removed: _Optional[bool] = ...) -> None: ...
