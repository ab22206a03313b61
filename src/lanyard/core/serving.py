"""What every Lanyard gRPC server shares: binding with or without TLS, the health service
(and the HealthReporter the parts of a server feed it through), the endpoint file, and the
one table from domain errors to status codes.

Known errors carry their own public message (what was wrong, never an identifier).
Anything else is a bug: the caller sees INTERNAL "internal error", the detail is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from lanyard.core import files, limits
from lanyard.core.channels import ANSWERED_METADATA, is_loopback
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


class HealthReporter:
    """What the standard gRPC health service says, fed by the parts of a server that can
    fail while it runs (the data directory's disk, a background task): SERVING for "" and
    every service name while no part is failing, NOT_SERVING for all of them as soon as
    one is. Each part reports under a short name of its own ("disk", "snapshot-follower"):

        await health.failing("disk", "14 MB free in /var/lib/lanyard (needs 64 MB)")
        await health.ok("disk")

    The reasons (one sentence each, no identifiers) go to the log and, when `record` is
    given, to that JSON file, {"status": "SERVING"|"NOT_SERVING", "problems": {part:
    reason}, "at": ISO time}, which `lanyard … status` reads beside the live status. A
    record that cannot be written (a full disk) is logged, never raised."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        names: tuple[str, ...],
        record: Path | None = None,
    ) -> None:
        self._servicer = servicer
        self._names = ("", *names)
        self._record = record
        self._problems: dict[str, str] = {}
        self._serving: bool | None = None

    @property
    def problems(self) -> dict[str, str]:
        """part -> reason, for every part failing now."""
        return dict(self._problems)

    @property
    def serving(self) -> bool:
        return not self._problems

    async def failing(self, part: str, reason: str) -> None:
        """Mark `part` failing: the whole server is NOT_SERVING until it is ok again."""
        if self._problems.get(part) != reason:
            log.warning("health.failing", part=part, reason=reason)
        self._problems[part] = reason
        await self._publish()

    async def ok(self, part: str) -> None:
        """Mark `part` working again (a no-op when it was not failing)."""
        if self._problems.pop(part, None) is not None:
            log.info("health.recovered", part=part)
        await self._publish()

    async def _publish(self) -> None:
        serving = self.serving
        if serving != self._serving:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in self._names:
                await self._servicer.set(name, status)
            self._serving = serving
        if self._record is not None:
            data = {
                "status": "SERVING" if serving else "NOT_SERVING",
                "problems": self._problems,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            try:
                files.write_atomically(self._record, json.dumps(data, sort_keys=True) + "\n")
            except OSError as exc:
                log.warning("health.record_not_written", error=exc.strerror)


async def add_health(
    server: grpc.aio.Server, names: tuple[str, ...], record: Path | None = None
) -> HealthReporter:
    """The standard gRPC health service, SERVING for "" and each of `names` until a part
    of the server reports failing through the returned HealthReporter."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reporter = HealthReporter(servicer, names, record)
    await reporter._publish()
    return reporter


def health_hook(
    health: HealthReporter, names: tuple[str, ...] = ()
) -> Callable[[bool], Awaitable[None]]:
    """A Supervisor's health hook: the part "tasks" is failing (so the server is
    NOT_SERVING) while a supervised background task fails. `names` is accepted for the
    callers that pass their service names; the reporter already knows them."""

    async def hook(ok: bool) -> None:
        if ok:
            await health.ok("tasks")
        else:
            await health.failing(
                "tasks", "a background task is failing (see task.failed in the log)"
            )

    return hook


DISK_PROBE = ".health-probe"
# How often a serving process folds its WAL into the database file (Pool.checkpoint_passive):
# at a Check rate a busy desk reaches, a second's WAL is a few hundred pages.
CHECKPOINT_SECONDS = 1.0


def data_dir_problem(path: Path, min_free_bytes: int) -> str | None:
    """Why a service could not keep its data in `path` now, or None: the directory cannot
    be written (a probe file is written, synced and removed), or its file system has less
    than `min_free_bytes` free for an unprivileged writer."""
    probe = path / DISK_PROBE
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        return f"the data directory {path} cannot be written ({exc.strerror})"
    usage = os.statvfs(path)
    free = usage.f_bavail * usage.f_frsize
    if free < min_free_bytes:
        return (
            f"only {free // 2**20} MiB free for the data directory {path} "
            f"(needs {min_free_bytes // 2**20} MiB)"
        )
    return None


async def watch_data_dir(
    health: HealthReporter, path: Path, min_free_bytes: int, interval: float
) -> None:
    """Check the data directory's disk now and every `interval` seconds; a problem makes
    the server NOT_SERVING (part "disk") until it is gone."""
    while True:
        problem = await asyncio.to_thread(data_dir_problem, path, min_free_bytes)
        if problem is None:
            await health.ok("disk")
        else:
            await health.failing("disk", problem)
        await asyncio.sleep(interval)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, handlers installed now (before a server says it
    is listening, so that a signal sent on seeing that is never the default, abrupt one)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def until_signalled() -> None:
    """Wait for SIGTERM or SIGINT: how a service's `serve` knows to stop gracefully."""
    await stop_on_signals().wait()


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
    answered = (ANSWERED_METADATA,)
    if code is not None:
        log.info("grpc.refused", method=method, code=code.name, reason=type(exc).__name__)
        await context.abort(code, str(exc), trailing_metadata=answered)
    log.error("grpc.internal_error", method=method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error", trailing_metadata=answered)


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
