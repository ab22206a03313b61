"""The request intake every Lanyard server installs: one interceptor that receives each
request as bytes, before any servicer sees it.

It refuses a request over the size limit for its method (services/core/limits.py) with
RESOURCE_EXHAUSTED, and request bytes that do not parse with INVALID_ARGUMENT and one
fixed message (the parser's own text is never echoed). It records the SHA-256 of the
exact bytes received in `auth.REQUEST_DIGEST`, which the call-token check binds to
(docs/call-token.md): the digest covers what arrived, not a re-serialisation of it.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from lanyard.core import auth, limits

log = structlog.get_logger("lanyard.grpc")

UNPARSABLE = "request could not be parsed"


def _identity(data: bytes) -> bytes:
    return data


class RequestIntake(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Size check, strict parse and request digest for every unary-request method."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        parse: Callable[[bytes], Any] = handler.request_deserializer or _identity
        limit = limits.request_limit(method)
        if handler.request_streaming:
            return self._streaming(handler, method, parse, limit)

        async def admit(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            if len(raw) > limit:
                log.info("grpc.refused", method=method, code="RESOURCE_EXHAUSTED", size=len(raw))
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"request of {len(raw)} bytes is over the limit of {limit} bytes for "
                    "this method",
                )
            try:
                request = parse(raw)
            except Exception:
                log.info("grpc.refused", method=method, code="INVALID_ARGUMENT", size=len(raw))
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNPARSABLE)
            auth.REQUEST_DIGEST.set(hashlib.sha256(raw).digest())
            return request

        if not handler.response_streaming:
            inner = handler.unary_unary

            async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                request = await admit(raw, context)
                return await inner(request, context)

            return handler._replace(request_deserializer=_identity, unary_unary=unary_unary)

        stream = handler.unary_stream
        if inspect.isasyncgenfunction(stream):

            async def unary_stream_gen(
                raw: bytes, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                request = await admit(raw, context)
                async for item in stream(request, context):
                    yield item

            return handler._replace(request_deserializer=_identity, unary_stream=unary_stream_gen)

        async def unary_stream_writer(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            request = await admit(raw, context)
            return await stream(request, context)

        return handler._replace(request_deserializer=_identity, unary_stream=unary_stream_writer)

    @staticmethod
    def _streaming(
        handler: grpc.RpcMethodHandler, method: str, parse: Callable[[bytes], Any], limit: int
    ) -> grpc.RpcMethodHandler:
        """Client-streaming calls (uploads): each message is size-checked and parsed
        strictly as it arrives; the servicer sets the digest from the header message."""
        if handler.response_streaming:
            return handler
        inner = handler.stream_unary

        async def stream_unary(
            raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
        ) -> Any:
            async def parsed() -> AsyncIterator[Any]:
                async for raw in raw_messages:
                    if len(raw) > limit:
                        log.info(
                            "grpc.refused", method=method, code="RESOURCE_EXHAUSTED", size=len(raw)
                        )
                        await context.abort(
                            grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"message of {len(raw)} bytes is over the limit of {limit} bytes "
                            "for this method",
                        )
                    try:
                        message = parse(raw)
                    except Exception:
                        log.info(
                            "grpc.refused", method=method, code="INVALID_ARGUMENT", size=len(raw)
                        )
                        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNPARSABLE)
                    yield message

            return await inner(parsed(), context)

        return handler._replace(request_deserializer=_identity, stream_unary=stream_unary)
