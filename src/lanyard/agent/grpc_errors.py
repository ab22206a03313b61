"""The agent's one table from domain errors to gRPC status codes."""

from __future__ import annotations

import grpc

from lanyard.agent import errors
from lanyard.core import serving, sqlite
from lanyard.core.errors import SealError, WorkerStopped
from lanyard.core.sqlite_files import StorageError

STATUS: serving.ErrorTable = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    # A Check the registry refused to help with cannot be decided: never a silent ALLOW.
    errors.RegistryRefused: grpc.StatusCode.UNAVAILABLE,
    errors.SnapshotRejected: grpc.StatusCode.UNAVAILABLE,
    # An answer whose evaluation proof failed decides nothing: UNAVAILABLE, never ALLOW.
    errors.RegistryFaulted: grpc.StatusCode.UNAVAILABLE,
    errors.NotEnrolled: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.NotAllowed: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LockedError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.RetentionApplied: grpc.StatusCode.FAILED_PRECONDITION,
    # Disk full, read-only or locked database: the operator can fix it; not INTERNAL.
    StorageError: grpc.StatusCode.UNAVAILABLE,
    sqlite.DatabaseError: grpc.StatusCode.UNAVAILABLE,
    # A crypto worker process died; its pool is replaced: the caller may simply retry.
    WorkerStopped: grpc.StatusCode.UNAVAILABLE,
    # A stored attachment chunk that does not open: never served as if whole.
    SealError: grpc.StatusCode.DATA_LOSS,
}

unary = serving.unary(STATUS)
