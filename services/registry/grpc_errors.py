"""The one table from domain errors to gRPC status codes, and the wrapper servicers use.

Known errors carry their own public message (what was wrong, never an identifier). Anything
else is a bug: the caller sees INTERNAL "internal error", the detail goes to the log.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog

from services.registry import errors

log = structlog.get_logger("lanyard.registry")

STATUS: dict[type[errors.Error], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.QuotaExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.WrongEpoch: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
}

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self = TypeVar("Self")


def status_for(exc: errors.Error) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


async def abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, errors.Error):
        code = status_for(exc)
        log.info("registry.refused", method=method, code=code.name, reason=type(exc).__name__)
        await context.abort(code, str(exc))
    log.error("registry.internal_error", method=method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def unary(
    fn: Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
    """Wrap a unary servicer method so every error leaves through the table above."""

    @functools.wraps(fn)
    async def wrapper(self: Self, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await fn(self, request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            await abort(context, exc, fn.__name__)
            raise AssertionError("unreachable: abort raises") from exc

    return wrapper


def _is_abort(exc: BaseException) -> bool:
    return type(exc).__name__ == "AbortError"


def is_abort(exc: Any) -> bool:
    return _is_abort(exc)
