from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Recipient(_message.Message):
    __slots__ = ("name", "encryption_key", "signing_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    encryption_key: bytes
    signing_key: bytes
    def __init__(self, name: _Optional[str] = ..., encryption_key: _Optional[bytes] = ..., signing_key: _Optional[bytes] = ...) -> None: ...

class RecipientSet(_message.Message):
    __slots__ = ("version", "recipients", "signature")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    version: int
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    signature: bytes
    def __init__(self, version: _Optional[int] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class WrappedKey(_message.Message):
    __slots__ = ("recipient", "encryption_key", "sealed_key")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    SEALED_KEY_FIELD_NUMBER: _ClassVar[int]
    recipient: str
    encryption_key: bytes
    sealed_key: bytes
    def __init__(self, recipient: _Optional[str] = ..., encryption_key: _Optional[bytes] = ..., sealed_key: _Optional[bytes] = ...) -> None: ...

class ReportEnvelope(_message.Message):
    __slots__ = ("format", "submission_id", "event_id", "sealed_at", "recipient_set_version", "keys", "ciphertext", "attachments")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEALED_AT_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    format: str
    submission_id: str
    event_id: str
    sealed_at: str
    recipient_set_version: int
    keys: _containers.RepeatedCompositeFieldContainer[WrappedKey]
    ciphertext: bytes
    attachments: _containers.RepeatedCompositeFieldContainer[AttachmentBlob]
    def __init__(self, format: _Optional[str] = ..., submission_id: _Optional[str] = ..., event_id: _Optional[str] = ..., sealed_at: _Optional[str] = ..., recipient_set_version: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[WrappedKey, _Mapping]]] = ..., ciphertext: _Optional[bytes] = ..., attachments: _Optional[_Iterable[_Union[AttachmentBlob, _Mapping]]] = ...) -> None: ...

class AttachmentBlob(_message.Message):
    __slots__ = ("chunks", "sealed_bytes", "sha256")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SEALED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    sealed_bytes: int
    sha256: bytes
    def __init__(self, chunks: _Optional[int] = ..., sealed_bytes: _Optional[int] = ..., sha256: _Optional[bytes] = ...) -> None: ...

class UploadAttachmentHeader(_message.Message):
    __slots__ = ("submission_id", "blob", "first_chunk")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    blob: int
    first_chunk: int
    def __init__(self, submission_id: _Optional[str] = ..., blob: _Optional[int] = ..., first_chunk: _Optional[int] = ...) -> None: ...

class UploadAttachmentRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadAttachmentHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadAttachmentHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadAttachmentResponse(_message.Message):
    __slots__ = ("chunks_held",)
    CHUNKS_HELD_FIELD_NUMBER: _ClassVar[int]
    chunks_held: int
    def __init__(self, chunks_held: _Optional[int] = ...) -> None: ...

class AttachmentStateRequest(_message.Message):
    __slots__ = ("submission_id",)
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    def __init__(self, submission_id: _Optional[str] = ...) -> None: ...

class AttachmentStateResponse(_message.Message):
    __slots__ = ("chunks_held",)
    class ChunksHeldEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    CHUNKS_HELD_FIELD_NUMBER: _ClassVar[int]
    chunks_held: _containers.ScalarMap[int, int]
    def __init__(self, chunks_held: _Optional[_Mapping[int, int]] = ...) -> None: ...

class GetSubmissionAttachmentRequest(_message.Message):
    __slots__ = ("submission_id", "blob")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    blob: int
    def __init__(self, submission_id: _Optional[str] = ..., blob: _Optional[int] = ...) -> None: ...

class GetSubmissionAttachmentResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    def __init__(self, chunk: _Optional[bytes] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("submission_id", "event_id", "envelope_sha256", "log_index", "tree_size", "root", "received_at", "signature")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_SHA256_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    event_id: str
    envelope_sha256: bytes
    log_index: int
    tree_size: int
    root: bytes
    received_at: str
    signature: bytes
    def __init__(self, submission_id: _Optional[str] = ..., event_id: _Optional[str] = ..., envelope_sha256: _Optional[bytes] = ..., log_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., root: _Optional[bytes] = ..., received_at: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TreeHead(_message.Message):
    __slots__ = ("tree_size", "root", "signed_at", "signature")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    root: bytes
    signed_at: str
    signature: bytes
    def __init__(self, tree_size: _Optional[int] = ..., root: _Optional[bytes] = ..., signed_at: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SubmissionStep(_message.Message):
    __slots__ = ("step", "member", "at", "message", "signature")
    STEP_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    step: str
    member: str
    at: str
    message: str
    signature: bytes
    def __init__(self, step: _Optional[str] = ..., member: _Optional[str] = ..., at: _Optional[str] = ..., message: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SubmitReportRequest(_message.Message):
    __slots__ = ("envelope", "signature")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    signature: bytes
    def __init__(self, envelope: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SubmitReportResponse(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class GetRecipientsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRecipientsResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: RecipientSet
    def __init__(self, recipients: _Optional[_Union[RecipientSet, _Mapping]] = ...) -> None: ...

class GetTreeHeadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTreeHeadResponse(_message.Message):
    __slots__ = ("head",)
    HEAD_FIELD_NUMBER: _ClassVar[int]
    head: TreeHead
    def __init__(self, head: _Optional[_Union[TreeHead, _Mapping]] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("log_index", "tree_size")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    tree_size: int
    def __init__(self, log_index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("leaf", "path")
    LEAF_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    leaf: bytes
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leaf: _Optional[bytes] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("old_size", "new_size")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetSubmissionStatusRequest(_message.Message):
    __slots__ = ("submission_id",)
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    def __init__(self, submission_id: _Optional[str] = ...) -> None: ...

class GetSubmissionStatusResponse(_message.Message):
    __slots__ = ("receipt", "status", "steps")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    status: str
    steps: _containers.RepeatedCompositeFieldContainer[SubmissionStep]
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., status: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[SubmissionStep, _Mapping]]] = ...) -> None: ...

class AddRecipientRequest(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: Recipient
    def __init__(self, recipient: _Optional[_Union[Recipient, _Mapping]] = ...) -> None: ...

class AddRecipientResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: RecipientSet
    def __init__(self, recipients: _Optional[_Union[RecipientSet, _Mapping]] = ...) -> None: ...

class RemoveRecipientRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveRecipientResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: RecipientSet
    def __init__(self, recipients: _Optional[_Union[RecipientSet, _Mapping]] = ...) -> None: ...

class ListRecipientsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRecipientsResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: RecipientSet
    def __init__(self, recipients: _Optional[_Union[RecipientSet, _Mapping]] = ...) -> None: ...

class ListSubmissionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubmissionInfo(_message.Message):
    __slots__ = ("receipt", "status", "envelope_bytes")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_BYTES_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    status: str
    envelope_bytes: int
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., status: _Optional[str] = ..., envelope_bytes: _Optional[int] = ...) -> None: ...

class ListSubmissionsResponse(_message.Message):
    __slots__ = ("submissions",)
    SUBMISSIONS_FIELD_NUMBER: _ClassVar[int]
    submissions: _containers.RepeatedCompositeFieldContainer[SubmissionInfo]
    def __init__(self, submissions: _Optional[_Iterable[_Union[SubmissionInfo, _Mapping]]] = ...) -> None: ...

class GetSubmissionRequest(_message.Message):
    __slots__ = ("submission_id",)
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    def __init__(self, submission_id: _Optional[str] = ...) -> None: ...

class GetSubmissionResponse(_message.Message):
    __slots__ = ("info", "envelope", "envelope_signature", "steps")
    INFO_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    info: SubmissionInfo
    envelope: bytes
    envelope_signature: bytes
    steps: _containers.RepeatedCompositeFieldContainer[SubmissionStep]
    def __init__(self, info: _Optional[_Union[SubmissionInfo, _Mapping]] = ..., envelope: _Optional[bytes] = ..., envelope_signature: _Optional[bytes] = ..., steps: _Optional[_Iterable[_Union[SubmissionStep, _Mapping]]] = ...) -> None: ...

class AdvanceSubmissionRequest(_message.Message):
    __slots__ = ("submission_id", "step")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    step: SubmissionStep
    def __init__(self, submission_id: _Optional[str] = ..., step: _Optional[_Union[SubmissionStep, _Mapping]] = ...) -> None: ...

class AdvanceSubmissionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...
