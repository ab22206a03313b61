"""Shared CLI plumbing: running coroutines, translating gRPC failures into sentences."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc

from cli.output import CliError

T = TypeVar("T")


def describe_rpc_error(exc: grpc.aio.AioRpcError, endpoint: str) -> str:
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the registry at {endpoint}: is `lanyard registry serve` running?"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the registry at {endpoint} did not answer in time"
    return f"the registry refused: {exc.details()} ({code.name})"


def run(coro: Coroutine[Any, Any, T], endpoint: str = "") -> T:
    """Run a coroutine; a gRPC failure becomes a CliError sentence."""
    try:
        return asyncio.run(coro)
    except grpc.aio.AioRpcError as exc:
        raise CliError(describe_rpc_error(exc, endpoint)) from exc
