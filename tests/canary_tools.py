"""Shared tools of the privacy canary tests: served subprocesses, a recording proxy, the search.

DESIGN.md, Invariants: "No raw identifier ever reaches the registry process: not in a
request, its database, its logs." The canary tests (tests/registry/test_canary.py for the
WG's and the registry client's flows, tests/event_agent/test_agent_canary.py for the
agent's) run the registry as a real `lanyard registry serve` subprocess behind the
`RecordingProxy` here, then search every byte it received, stored or logged with
`find_canaries` for each canary in every form it could plausibly take.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from lanyard.cli.main import main as cli_main
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import Kind, normalize
from lanyard.registry import server

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# -- servers as subprocesses -------------------------------------------------------------


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment without any LANYARD_* override (Lanyard is installed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANYARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def lanyard_argv(*args: str) -> list[str]:
    """`lanyard --log-level debug --log-json ARGS` as a subprocess of this interpreter."""
    return [sys.executable, "-m", "lanyard.cli.main", "--log-level", "debug", "--log-json", *args]


def wait_for_endpoint(
    data_dir: Path, proc: subprocess.Popen[bytes], log_path: Path, what: str = "registry"
) -> str:
    """The address `serve` wrote to DATA_DIR/endpoint, waiting at most START_TIMEOUT."""
    endpoint_file = data_dir / "endpoint"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{what} exited with {proc.returncode} before listening:\n"
                + log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            )
        with contextlib.suppress(FileNotFoundError):
            text = endpoint_file.read_text(encoding="utf-8")
            if text.endswith("\n"):
                return text.strip()
        time.sleep(0.05)
    pytest.fail(f"{what} did not write {endpoint_file} within {START_TIMEOUT} s")


@dataclass
class ServedProcess:
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    endpoint: str

    def stop(self) -> int:
        """SIGTERM, then wait for a graceful exit; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_TIMEOUT)


ServedRegistry = ServedProcess


@contextlib.contextmanager
def serve_subprocess(
    what: str, argv: Sequence[str], data_dir: Path, log_path: Path
) -> Iterator[ServedProcess]:
    """Start a `serve` command, wait until it has written its endpoint; killed on exit."""
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        endpoint = wait_for_endpoint(data_dir, proc, log_path, what)
        yield ServedProcess(data_dir, log_path, proc, endpoint)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def serve_registry(base: Path) -> Iterator[ServedProcess]:
    """A new registry in BASE/registry, served by a subprocess logging JSON to BASE/registry.log."""
    data_dir = base / "registry"
    asyncio.run(server.init_registry(data_dir, listen="127.0.0.1:0"))
    argv = lanyard_argv("registry", "serve", "--data-dir", str(data_dir))
    with serve_subprocess("registry", argv, data_dir, base / "registry.log") as served:
        yield served


# -- the recording proxy -----------------------------------------------------------------


@dataclass
class Connection:
    client_to_server: bytearray = field(default_factory=bytearray)
    server_to_client: bytearray = field(default_factory=bytearray)


class RecordingProxy:
    """A TCP proxy on 127.0.0.1:0 that keeps every byte each way, per connection."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host.strip("[]"), int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            conn = Connection()
            with self._lock:
                self.connections.append(conn)
                self._sockets += [client, upstream]
            self._start(self._pump, client, upstream, conn.client_to_server)
            self._start(self._pump, upstream, client, conn.server_to_client)

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def sent(self) -> list[bytes]:
        with self._lock:
            return [bytes(c.client_to_server) for c in self.connections]

    def received(self) -> list[bytes]:
        with self._lock:
            return [bytes(c.server_to_client) for c in self.connections]

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(timeout=5)


class MetadataRecorder(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    """Keeps the method and metadata of every call: HPACK may Huffman-code headers, so the
    proxy's raw bytes alone cannot show that no canary travels in call metadata."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _record(self, details: Any) -> None:
        method = details.method
        self.lines.append(method.decode() if isinstance(method, bytes) else str(method))
        for key, value in details.metadata or ():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            self.lines.append(f"{key}: {text}")

    async def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        self._record(details)
        return await continuation(details, request)

    async def intercept_unary_stream(
        self, continuation: Callable[[Any, Any], Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        self._record(details)
        return await continuation(details, request)

    def dump(self) -> bytes:
        return "\n".join(self.lines).encode("utf-8")


# -- canaries and the search -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Canary:
    label: str
    kind: Kind
    raw: str
    token: str  # appears in no other canary, record reference or key

    def forms(self) -> dict[str, bytes]:
        """Every shape in which this identifier could have been carried or stored (no
        normalised shapes for a value that does not normalise, such as a broken address)."""
        forms = {
            "raw UTF-8": self.raw.encode(),
            "casefolded UTF-8": self.raw.casefold().encode(),
            "NFD UTF-8": unicodedata.normalize("NFD", self.raw).encode(),
            "raw UTF-16-LE": self.raw.encode("utf-16-le"),
            "unique token": self.token.encode(),
            "unique token UTF-16-LE": self.token.encode("utf-16-le"),
        }
        with contextlib.suppress(InvalidIdentifier):
            normalised = normalize(self.kind, self.raw)
            forms["normalised UTF-8"] = normalised.encode()
            forms["normalised UTF-16-LE"] = normalised.encode("utf-16-le")
        return forms


def make_canary(label: str, kind: Kind, template: str) -> Canary:
    token = uuid.uuid4().hex
    return Canary(label, kind, template.format(token=token), token)


@dataclass(frozen=True, slots=True)
class Hit:
    canary: str
    form: str
    where: str
    offset: int


def find_canaries(haystacks: Mapping[str, bytes], canaries: Sequence[Canary]) -> list[Hit]:
    hits: list[Hit] = []
    for canary in canaries:
        for form, needle in canary.forms().items():
            for where, data in haystacks.items():
                offset = data.find(needle)
                if offset >= 0:
                    hits.append(Hit(canary.label, form, where, offset))
    return hits


def describe(hits: Sequence[Hit], limit: int = 12) -> str:
    lines = [f"canary {h.canary!r} found as {h.form} in {h.where} at byte {h.offset}" for h in hits]
    more = f"\n… and {len(lines) - limit} more" if len(lines) > limit else ""
    return "raw identifiers reached the registry:\n" + "\n".join(lines[:limit]) + more


def data_dir_files(data_dir: Path, when: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                files[f"data dir file {path.relative_to(data_dir)} ({when})"] = path.read_bytes()
    return files


def carrying(sent: Sequence[bytes]) -> list[bytes]:
    """The captured client streams that carry anything: not those of a connection closed
    before its client preface was out (a channel closing while it connects)."""
    return [s for s in sent if s and not HTTP2_PREFACE.startswith(s)]


def grpc_frames(stream: bytes) -> tuple[int, int]:
    """Walk a client→server HTTP/2 stream: (gRPC messages, compressed messages) in its DATA
    frames. Raw searching only sees through uncompressed messages, so this must be 0."""
    assert stream.startswith(HTTP2_PREFACE), (
        f"proxy capture is not an HTTP/2 client stream: {len(stream)} bytes, {stream[:32]!r}"
    )
    pos = len(HTTP2_PREFACE)
    bodies: dict[int, bytearray] = {}
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos : pos + 3], "big")
        kind, flags = stream[pos + 3], stream[pos + 4]
        stream_id = int.from_bytes(stream[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        payload = stream[pos + 9 : pos + 9 + length]
        pos += 9 + length
        if kind == 0:  # DATA
            if flags & 0x8:  # PADDED
                payload = payload[1 : len(payload) - payload[0]]
            bodies.setdefault(stream_id, bytearray()).extend(payload)
    messages = compressed = 0
    for body in bodies.values():
        at = 0
        while at + 5 <= len(body):
            flag, size = struct.unpack(">BI", body[at : at + 5])
            messages += 1
            compressed += flag != 0
            at += 5 + size
    return messages, compressed


def run_cli(argv: list[str]) -> int:
    """`lanyard ARGV` in this process; its exit status."""
    try:
        cli_main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def log_events(log_text: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for line in log_text.splitlines():
        with contextlib.suppress(ValueError):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                events.append(parsed)
    return events


def grpc_messages(stream: bytes) -> tuple[list[bytes], int]:
    """Walk an HTTP/2 stream in either direction (the client's preface is skipped): the
    gRPC messages its DATA frames carry, each reassembled whole, and how many of them are
    compressed. A canary split across two DATA frames escapes a raw search of the capture;
    searching the reassembled messages as well closes that gap."""
    pos = len(HTTP2_PREFACE) if stream.startswith(HTTP2_PREFACE) else 0
    bodies: dict[int, bytearray] = {}
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos : pos + 3], "big")
        kind, flags = stream[pos + 3], stream[pos + 4]
        stream_id = int.from_bytes(stream[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        payload = stream[pos + 9 : pos + 9 + length]
        pos += 9 + length
        if kind == 0:  # DATA
            if flags & 0x8:  # PADDED
                payload = payload[1 : len(payload) - payload[0]]
            bodies.setdefault(stream_id, bytearray()).extend(payload)
    messages: list[bytes] = []
    compressed = 0
    for body in bodies.values():
        at = 0
        while at + 5 <= len(body):
            flag, size = struct.unpack(">BI", body[at : at + 5])
            messages.append(bytes(body[at + 5 : at + 5 + size]))
            compressed += flag != 0
            at += 5 + size
    return messages, compressed
