"""The registry's one table from domain errors to gRPC status codes."""

from __future__ import annotations

import grpc

from lanyard.core import serving, sqlite
from lanyard.core.errors import WorkerStopped
from lanyard.core.sqlite_files import StorageError
from lanyard.registry import errors

STATUS: serving.ErrorTable = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.QuotaExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.WrongEpoch: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotReady: grpc.StatusCode.FAILED_PRECONDITION,
    errors.StaleKey: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.OutsideWindow: grpc.StatusCode.FAILED_PRECONDITION,
    # Disk full, read-only or locked database: the operator can fix it; not INTERNAL.
    StorageError: grpc.StatusCode.UNAVAILABLE,
    sqlite.DatabaseError: grpc.StatusCode.UNAVAILABLE,
    # A crypto worker process died; its pool is replaced: the caller may simply retry.
    WorkerStopped: grpc.StatusCode.UNAVAILABLE,
    # The registry reloads its view of the evaluation log; the caller may simply retry.
    errors.LogOutOfStep: grpc.StatusCode.UNAVAILABLE,
}

unary = serving.unary(STATUS)
