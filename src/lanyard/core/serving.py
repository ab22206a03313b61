"""What every Lanyard gRPC server shares: binding with or without TLS, the health service,
the endpoint file, and the one table from domain errors to status codes.

Known errors carry their own public message (what was wrong, never an identifier).
Anything else is a bug: the caller sees INTERNAL "internal error", the detail is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import ipaddress
import os
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from lanyard.core import files, limits
from lanyard.core.errors import ConfigError
from lanyard.core.intake import RequestIntake

log = structlog.get_logger("lanyard.grpc")

ErrorTable = Mapping[type[Exception], grpc.StatusCode]
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self = TypeVar("Self")


@dataclass(frozen=True, slots=True)
class Tls:
    cert: Path
    key: Path
    client_ca: Path | None = None


def is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_server() -> grpc.aio.Server:
    """A grpc.aio server with the request intake (size, parse, request digest) and the
    transport limits of services/core/limits.py."""
    return grpc.aio.server(interceptors=[RequestIntake()], options=limits.server_options())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror}") from exc


def bind(server: grpc.aio.Server, address: str, tls: Tls | None, insecure: bool) -> str:
    """Add the listening port; returns "host:port" as bound. Plaintext only on loopback
    unless `insecure`."""
    if tls is None and not insecure and not is_loopback(address):
        raise ConfigError(
            f"refusing to listen without TLS on {address}, which is not loopback; "
            "configure a TLS certificate and key, or pass --insecure"
        )
    try:
        if tls is not None:
            creds = grpc.ssl_server_credentials(
                [(_read(tls.key, "TLS key"), _read(tls.cert, "TLS certificate"))],
                root_certificates=_read(tls.client_ca, "client CA") if tls.client_ca else None,
                require_client_auth=tls.client_ca is not None,
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {address}: in use or not a valid address") from exc
    if port == 0:
        raise ConfigError(f"cannot listen on {address}: in use or not a valid address")
    return f"{address.rsplit(':', 1)[0]}:{port}"


async def add_health(server: grpc.aio.Server, names: tuple[str, ...]) -> health.aio.HealthServicer:
    """The standard gRPC health service, SERVING for "" and each of `names`."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ("", *names):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def health_hook(
    servicer: health.aio.HealthServicer, names: tuple[str, ...]
) -> Callable[[bool], Awaitable[None]]:
    """A Supervisor's health hook: NOT_SERVING for "" and `names` while a task fails."""

    async def set_all(ok: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *names):
            await servicer.set(name, status)

    return set_all


async def until_signalled() -> None:
    """Wait for SIGTERM or SIGINT: how a service's `serve` knows to stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


LOCK_FILE = "serve.lock"
# Data directories this process holds the lock of, with how many `serve`s share it: the
# lock keeps other processes out (one process per data directory); within one process a
# restart may overlap the old server's shutdown.
_held: dict[str, tuple[int, int]] = {}


@contextmanager
def exclusive(data_dir: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `data_dir` (fcntl.flock on its serve.lock, mode 0600) for
    as long as `serve` runs there; ConfigError, in one sentence, if another process holds
    it."""
    key = os.path.realpath(data_dir)
    if key in _held:
        fd, count = _held[key]
        _held[key] = (fd, count + 1)
    else:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise ConfigError(
                f"another `{what}` is already running on {data_dir}; stop it first"
            ) from exc
        _held[key] = (fd, 1)
    try:
        yield
    finally:
        fd, count = _held[key]
        if count > 1:
            _held[key] = (fd, count - 1)
        else:
            del _held[key]
            os.close(fd)  # closing releases the lock


class EndpointFile:
    """The `endpoint` file of a running `serve`: written by it, and removed only by the
    process that wrote it (a second or failed `serve` leaves the running one's alone)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._written = False

    def write(self, address: str) -> None:
        files.write_atomically(self.path, address + "\n")
        self._written = True

    def remove(self) -> None:
        if self._written:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._written = False


def status_for(table: ErrorTable, exc: BaseException) -> grpc.StatusCode | None:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def is_abort(exc: BaseException) -> bool:
    """grpc.aio signals context.abort() with an exception that must propagate untouched."""
    return type(exc).__name__ == "AbortError"


async def abort(
    table: ErrorTable, context: grpc.aio.ServicerContext, exc: BaseException, method: str
) -> None:
    code = status_for(table, exc)
    if code is not None:
        log.info("grpc.refused", method=method, code=code.name, reason=type(exc).__name__)
        await context.abort(code, str(exc))
    log.error("grpc.internal_error", method=method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def unary(
    table: ErrorTable,
) -> Callable[
    [Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]]],
    Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
]:
    """Decorate a unary servicer method so every error leaves through `table`."""

    def decorate(
        fn: Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
    ) -> Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
        @functools.wraps(fn)
        async def wrapper(self: Self, request: Req, context: grpc.aio.ServicerContext) -> Resp:
            try:
                return await fn(self, request, context)
            except Exception as exc:
                if is_abort(exc):
                    raise
                await abort(table, context, exc, fn.__name__)
                raise AssertionError("unreachable: abort raises") from exc

        return wrapper

    return decorate
