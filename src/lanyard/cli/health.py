"""`lanyard health ADDRESS`: ask a registry or an agent the standard gRPC health question.

Tiny on purpose: container health checks and monitoring run it. Exit status 0 when the
service answers SERVING, 1 (one sentence on stderr) when it answers NOT_SERVING or cannot
be reached.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lanyard.cli.output import CliError, console
from lanyard.core.channels import open_channel
from lanyard.core.errors import Error as CoreError

TIMEOUT_SECONDS = 5.0


async def ask(address: str, ca: Path | None, service: str = "") -> str:
    """ "SERVING", "NOT_SERVING", … as the service at `address` answers, or "UNREACHABLE"."""
    try:
        channel = open_channel(address, ca)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return "UNKNOWN_SERVICE"
        return "UNREACHABLE"
    finally:
        await channel.close()
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def health(
    address: Annotated[
        str,
        typer.Argument(
            help="HOST:PORT of a registry or an agent.", envvar="LANYARD_HEALTH_ADDRESS"
        ),
    ],
    ca: Annotated[
        Path | None,
        typer.Option(help="CA certificate when the service speaks TLS.", envvar="LANYARD_CA"),
    ] = None,
    service: Annotated[
        str, typer.Option(help="A service name to ask about (default: the whole server).")
    ] = "",
) -> None:
    """Exit 0 if the service at ADDRESS is SERVING (for container health checks)."""
    status = asyncio.run(ask(address, ca, service))
    if status != "SERVING":
        raise CliError(f"{address} is {status.lower().replace('_', ' ')}")
    console.print(f"{address} is serving.")
