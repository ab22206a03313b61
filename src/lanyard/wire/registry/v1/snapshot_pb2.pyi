from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_FLAGGED: _ClassVar[RecordStatus]
    RECORD_STATUS_BANNED: _ClassVar[RecordStatus]
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_FLAGGED: RecordStatus
RECORD_STATUS_BANNED: RecordStatus

class StatusPayload(_message.Message):
    __slots__ = ("status", "record_ref", "expires_on", "padding")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORD_REF_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_ON_FIELD_NUMBER: _ClassVar[int]
    PADDING_FIELD_NUMBER: _ClassVar[int]
    status: RecordStatus
    record_ref: str
    expires_on: str
    padding: bytes
    def __init__(self, status: _Optional[_Union[RecordStatus, str]] = ..., record_ref: _Optional[str] = ..., expires_on: _Optional[str] = ..., padding: _Optional[bytes] = ...) -> None: ...

class SnapshotEntry(_message.Message):
    __slots__ = ("tag", "sealed")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    tag: bytes
    sealed: bytes
    def __init__(self, tag: _Optional[bytes] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("suite", "epoch", "version", "entries", "signature", "epoch_public_key")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    suite: str
    epoch: int
    version: int
    entries: _containers.RepeatedCompositeFieldContainer[SnapshotEntry]
    signature: bytes
    epoch_public_key: bytes
    def __init__(self, suite: _Optional[str] = ..., epoch: _Optional[int] = ..., version: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[SnapshotEntry, _Mapping]]] = ..., signature: _Optional[bytes] = ..., epoch_public_key: _Optional[bytes] = ...) -> None: ...

class KeyTransition(_message.Message):
    __slots__ = ("old_public_key", "new_public_key", "sequence", "at", "old_signature", "new_signature")
    OLD_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    OLD_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    old_public_key: bytes
    new_public_key: bytes
    sequence: int
    at: str
    old_signature: bytes
    new_signature: bytes
    def __init__(self, old_public_key: _Optional[bytes] = ..., new_public_key: _Optional[bytes] = ..., sequence: _Optional[int] = ..., at: _Optional[str] = ..., old_signature: _Optional[bytes] = ..., new_signature: _Optional[bytes] = ...) -> None: ...
