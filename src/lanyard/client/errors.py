"""What a client raises when a call fails: the one place a gRPC status becomes a sentence.

Every client in this package catches `grpc.aio.AioRpcError` at the call and raises
`RpcFailed` from it, so callers (the agent, the CLI, a ticketing plugin) only ever see
`lanyard.errors.Error` subclasses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from lanyard import errors
from lanyard.core.channels import ANSWERED_METADATA

__all__ = [
    "ClientError",
    "EvaluationLogInvalid",
    "EvaluationProofFailed",
    "RegistryFault",
    "RpcFailed",
    "TranslatingStub",
    "answered_by_peer",
    "from_rpc_error",
]


class ClientError(errors.Error):
    """A client could not do what it was asked (bad key file, missing address, failed call)."""


class RpcFailed(ClientError):
    """A call the peer refused or could not answer.

    `code` is the gRPC status code, `details` the peer's message (already public: servers
    never put secrets in it), `peer` what was called ("registry", "agent") and `endpoint`
    where; `answered` is True when the peer itself sent the status (an agent that could
    not reach the registry answers UNAVAILABLE), False when it came from gRPC (the peer
    down or unreachable). `str()` is one sentence a person can act on.
    """

    def __init__(
        self,
        sentence: str,
        code: grpc.StatusCode,
        details: str,
        peer: str,
        endpoint: str,
        answered: bool = False,
    ) -> None:
        super().__init__(sentence)
        self.code = code
        self.details = details
        self.peer = peer
        self.endpoint = endpoint
        self.answered = answered

    @property
    def unreachable(self) -> bool:
        """True when no answer can be had now: the peer is down, unreachable or too slow,
        or it answered that it cannot serve the call (UNAVAILABLE: see `answered`)."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class RegistryFault(ClientError):
    """The registry answered, but its answer does not verify: a registry fault, never a
    result. Nothing from that answer may be finalised, matched or reported clear."""


class EvaluationProofFailed(RegistryFault):
    """An Evaluate answer whose batched DLEQ proof (spec SCREEN-v1 §3a) does not verify
    under the epoch's public key: the registry did not apply the published key."""


class EvaluationLogInvalid(RegistryFault):
    """An Evaluate answer whose evaluation log entry (spec §3b) is not signed by the
    registry, or does not contain the caller's own leaf."""


_SERVE_HINT = {"registry": "lanyard registry serve", "agent": "lanyard agent serve"}


def describe(
    code: grpc.StatusCode, details: str, peer: str, endpoint: str, answered: bool = False
) -> str:
    """The generic sentence for a failed call to `peer` at `endpoint`; `answered`: the
    peer sent the status itself (see RpcFailed)."""
    where = f" at {endpoint}" if endpoint else ""
    if code == grpc.StatusCode.UNAVAILABLE and answered:
        # The peer is up: what it could not do (reach the registry, write its disk) is
        # the cause, and restarting the peer would not help.
        return f"the {peer}{where} answered but cannot serve the call now: {details}"
    if code == grpc.StatusCode.UNAVAILABLE:
        hint = _SERVE_HINT.get(peer)
        return f"cannot reach the {peer}{where}" + (f": is `{hint}` running?" if hint else "")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the {peer}{where} did not answer in time"
    return f"the {peer} refused: {details} ({code.name})"


def answered_by_peer(exc: grpc.RpcError) -> bool:
    """Whether the status of `exc` was sent by a Lanyard server itself (core/serving.py
    marks every status it answers with), not made by gRPC for a call that got no answer."""
    trailing = getattr(exc, "trailing_metadata", None)
    pairs = trailing() if callable(trailing) else None
    return any(tuple(pair) == ANSWERED_METADATA for pair in pairs or ())


def from_rpc_error(
    exc: grpc.RpcError, peer: str, endpoint: str, sentence: str | None = None
) -> RpcFailed:
    """The `RpcFailed` for `exc` (an aio or a blocking call's error); raise it `from exc`."""
    code, details = exc.code(), (exc.details() or "").strip()
    answered = answered_by_peer(exc)
    return RpcFailed(
        sentence or describe(code, details, peer, endpoint, answered),
        code,
        details,
        peer,
        endpoint,
        answered,
    )


class TranslatingStub:
    """A generated stub whose unary calls raise `RpcFailed` instead of `AioRpcError`.

    `stub.Method(request, metadata=…, timeout=…)` is awaited as usual; server-streaming
    methods are reached through `streaming(name)` and translate while iterating.
    """

    def __init__(self, stub: object, peer: str, endpoint: str) -> None:
        self._stub = stub
        self._peer = peer
        self._endpoint = endpoint

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        rpc = getattr(self._stub, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await rpc(*args, **kwargs)
            except grpc.aio.AioRpcError as exc:
                raise from_rpc_error(exc, self._peer, self._endpoint) from exc

        return call

    def streaming(self, name: str) -> Callable[..., AsyncIterator[Any]]:
        rpc = getattr(self._stub, name)

        async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for item in rpc(*args, **kwargs):
                    yield item
            except grpc.aio.AioRpcError as exc:
                raise from_rpc_error(exc, self._peer, self._endpoint) from exc

        return stream
