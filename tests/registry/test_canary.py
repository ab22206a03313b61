"""The privacy canary: no raw identifier may reach the registry.

DESIGN.md, Invariants: "No raw identifier ever reaches the registry process: not in a
request, its database, its logs." The registry runs here as a real `lanyard registry serve`
subprocess behind a recording TCP proxy. Every flow that touches identities runs through the
proxy with unique canary names and e-mail addresses; afterwards every byte the registry
received, stored or logged is searched for each canary in every form it could plausibly
take. Positive controls (record references, which are *meant* to reach the registry, found
in each haystack; a scratch file holding a canary) show the search can fail.
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
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

import grpc
import nacl.signing
import pytest
import structlog

from cli.admin_client import AdminClient, Identifier
from cli.main import main as cli_main
from services.core import identity
from services.core.channels import MAX_MESSAGE_BYTES
from services.core.identity import Kind, normalize
from services.event_agent.registry_client import LocalSnapshot, RegistryClient
from services.registry import server
from services.registry.datadir import RegistryDir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
CALL_TIMEOUT = 10.0
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# -- the registry as a subprocess --------------------------------------------------------


def subprocess_env() -> dict[str, str]:
    """The test's environment without any LANYARD_* override, with the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANYARD_")}
    paths = [str(REPO), str(REPO / "proto")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for_endpoint(data_dir: Path, proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """The address `serve` wrote to DATA_DIR/endpoint, waiting at most START_TIMEOUT."""
    endpoint_file = data_dir / "endpoint"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"registry exited with {proc.returncode} before listening:\n"
                + log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            )
        with contextlib.suppress(FileNotFoundError):
            text = endpoint_file.read_text(encoding="utf-8")
            if text.endswith("\n"):
                return text.strip()
        time.sleep(0.05)
    pytest.fail(f"registry did not write {endpoint_file} within {START_TIMEOUT} s")


@dataclass
class ServedRegistry:
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    endpoint: str

    def stop(self) -> int:
        """SIGTERM, then wait for a graceful exit; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def served_registry(tmp_path: Path) -> Iterator[ServedRegistry]:
    data_dir = tmp_path / "registry"
    asyncio.run(server.init_registry(data_dir, listen="127.0.0.1:0"))
    log_path = tmp_path / "registry.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "--log-level",
                "debug",
                "--log-json",
                "registry",
                "serve",
                "--data-dir",
                str(data_dir),
            ],
            cwd=REPO,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        endpoint = wait_for_endpoint(data_dir, proc, log_path)
        yield ServedRegistry(data_dir, log_path, proc, endpoint)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


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


@pytest.fixture
def proxy(served_registry: ServedRegistry) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(served_registry.endpoint)
    try:
        yield recording
    finally:
        recording.close()


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


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """`cli.main.main` reconfigures structlog for the whole process; put it back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


# -- canaries and the search -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Canary:
    label: str
    kind: Kind
    raw: str
    token: str  # appears in no other canary, record reference or key

    def forms(self) -> dict[str, bytes]:
        """Every shape in which this identifier could have been carried or stored."""
        normalised = normalize(self.kind, self.raw)
        return {
            "raw UTF-8": self.raw.encode(),
            "normalised UTF-8": normalised.encode(),
            "casefolded UTF-8": self.raw.casefold().encode(),
            "NFD UTF-8": unicodedata.normalize("NFD", self.raw).encode(),
            "raw UTF-16-LE": self.raw.encode("utf-16-le"),
            "normalised UTF-16-LE": normalised.encode("utf-16-le"),
            "unique token": self.token.encode(),
            "unique token UTF-16-LE": self.token.encode("utf-16-le"),
        }


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


def grpc_frames(stream: bytes) -> tuple[int, int]:
    """Walk a client→server HTTP/2 stream: (gRPC messages, compressed messages) in its DATA
    frames. Raw searching only sees through uncompressed messages, so this must be 0."""
    assert stream.startswith(HTTP2_PREFACE), "proxy capture is not an HTTP/2 client stream"
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


# -- the self-check: the search can fail ---------------------------------------------------


def test_search_finds_a_planted_canary_in_every_form(tmp_path: Path) -> None:
    canary = make_canary("planted", Kind.NAME, "Çanäry Plänted Zq{token}")
    email = make_canary("planted e-mail", Kind.EMAIL, "Çanäry.{token}+tag@Example.ORG")
    for name, subject in (("name", canary), ("email", email)):
        for form, needle in subject.forms().items():
            scratch = tmp_path / f"scratch-{name}-{form.replace(' ', '_')}.bin"
            scratch.write_bytes(os.urandom(64) + needle + os.urandom(64))
            hits = find_canaries({"scratch": scratch.read_bytes()}, [subject])
            assert any(h.form == form and h.offset == 64 for h in hits), (name, form)
    # The forms are distinct: each is a check of its own.
    for subject in (canary, email):
        assert len(set(subject.forms().values())) == len(subject.forms())
    # And nothing is found where nothing was planted.
    assert find_canaries({"noise": os.urandom(1 << 16)}, [canary, email]) == []


# -- the canary run ------------------------------------------------------------------------


async def test_no_raw_identifier_reaches_the_registry(
    served_registry: ServedRegistry,
    proxy: RecordingProxy,
    restore_structlog: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = served_registry.data_dir
    banned_name = make_canary("banned record name", Kind.NAME, "Çanäry Pérsön Zq{token}")
    banned_email = make_canary("banned record e-mail", Kind.EMAIL, "Canary.{token}+tag@Example.ORG")
    flagged_name = make_canary("flagged record name", Kind.NAME, "Ms. Çanäry-O’Bríen Zq{token}")
    flagged_email = make_canary("flagged record e-mail", Kind.EMAIL, "ÇANÄRY.{token}@Example.ORG")
    cli_name = make_canary("CLI record name", Kind.NAME, "Çanäry Clí Ëntry Zq{token}")
    cli_email = make_canary("CLI record e-mail", Kind.EMAIL, "cli.canary.{token}+x@Example.ORG")
    attendee_name = make_canary("attendee name", Kind.NAME, "Ättendee Çanary Zq{token}")
    attendee_email = make_canary("attendee e-mail", Kind.EMAIL, "Attendee.{token}+t@Example.ORG")
    # The banned person again, spelt as a ticket export might: a different raw string
    # that normalises to the same identifier, so the screening really matches.
    respelt = Canary(
        "banned person as attendee",
        Kind.NAME,
        f"ZQ{banned_name.token.upper()}, PERSON CANARY",
        banned_name.token,
    )
    assert normalize(Kind.NAME, respelt.raw) == normalize(Kind.NAME, banned_name.raw)
    canaries = [
        banned_name,
        banned_email,
        flagged_name,
        flagged_email,
        cli_name,
        cli_email,
        attendee_name,
        attendee_email,
        respelt,
    ]
    # A control: the event's public name is *meant* to reach the registry, so the same
    # search must find it in the capture and the database, or the search is blind.
    control = make_canary("control (event name)", Kind.NAME, "Çanäry Cönf Zq{token}")
    run_id = uuid.uuid4().hex[:8]
    banned_ref, flagged_ref, cli_ref = (f"WG-{run_id}-{n}" for n in ("BAN", "FLAG", "CLI"))
    event_id = f"canaryconf-{run_id}"

    recorder = MetadataRecorder()
    channel = grpc.aio.insecure_channel(
        proxy.address,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.enable_http_proxy", 0),
        ],
        interceptors=[recorder],
    )
    try:
        admin = AdminClient(channel, RegistryDir(data_dir).admin_key())
        event_key = nacl.signing.SigningKey.generate()
        enrolled = await asyncio.wait_for(
            admin.enroll_event(
                event_id,
                control.raw,
                date(2027, 5, 1),
                date(2027, 5, 3),
                bytes(event_key.verify_key),
                1000,
            ),
            CALL_TIMEOUT,
        )
        epoch = int(enrolled.epoch)

        # Records: the blinded round, through the proxy.
        await asyncio.wait_for(
            admin.add_record(
                banned_ref,
                "banned",
                [
                    Identifier(Kind.NAME, banned_name.raw),
                    Identifier(Kind.EMAIL, banned_email.raw),
                ],
            ),
            CALL_TIMEOUT,
        )
        await asyncio.wait_for(
            admin.add_record(
                flagged_ref,
                "flagged",
                [
                    Identifier(Kind.NAME, flagged_name.raw),
                    Identifier(Kind.EMAIL, flagged_email.raw),
                ],
                date(2029, 1, 1),
            ),
            CALL_TIMEOUT,
        )

        # The CLI's own path, `lanyard registry record add`, pointed at the proxy.
        status = await asyncio.to_thread(
            run_cli,
            [
                "registry",
                "record",
                "add",
                "--data-dir",
                str(data_dir),
                "--endpoint",
                proxy.address,
                "--ref",
                cli_ref,
                "--status",
                "flagged",
                "--name",
                cli_name.raw,
                "--email",
                cli_email.raw,
                "--json",
            ],
        )
        out = capsys.readouterr()
        assert status == 0, out.err
        assert json.loads(out.out)["identifiers"] == 2

        listed = await asyncio.wait_for(admin.list_records(), CALL_TIMEOUT)
        assert {r.record_ref for r in listed.records} == {banned_ref, flagged_ref, cli_ref}
        events = await asyncio.wait_for(admin.list_events(), CALL_TIMEOUT)
        assert [e.event_id for e in events] == [event_id]

        # The event's side: watch, evaluate canary attendees, fetch and match snapshots.
        client = RegistryClient(channel, event_id, event_key, enrolled.registry_public_key)
        watch = cast(AsyncGenerator[tuple[int, int], None], client.watch())
        first = await asyncio.wait_for(anext(watch), CALL_TIMEOUT)
        assert first == (epoch, listed.snapshot_version)

        attendees = [
            (Kind.NAME, attendee_name.raw),
            (Kind.EMAIL, attendee_email.raw),
            (Kind.NAME, respelt.raw),
            (Kind.EMAIL, flagged_email.raw),
        ]
        ys = await asyncio.wait_for(
            client.evaluate_messages(epoch, [identity.message(k, v) for k, v in attendees]),
            CALL_TIMEOUT,
        )
        held = await asyncio.wait_for(client.refresh(LocalSnapshot()), CALL_TIMEOUT)
        found = [held.match(y) for y in ys]
        assert found[0] is None
        assert found[1] is None
        assert found[2] is not None
        assert (found[2].status, found[2].record_ref) == ("banned", banned_ref)
        assert found[3] is not None
        assert (found[3].status, found[3].record_ref) == ("flagged", flagged_ref)

        version = await asyncio.wait_for(admin.remove_record(flagged_ref), CALL_TIMEOUT)
        second = await asyncio.wait_for(anext(watch), CALL_TIMEOUT)
        assert second == (epoch, version)
        await watch.aclose()
        held = await asyncio.wait_for(client.refresh(held), CALL_TIMEOUT)
        assert held.version == version
        assert held.match(ys[3]) is None

        revoked = await asyncio.wait_for(admin.revoke_event(event_id), CALL_TIMEOUT)
        assert revoked.revoked_at
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(client.refresh(held), CALL_TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()

    running_files = data_dir_files(data_dir, "while serving")
    assert await asyncio.to_thread(served_registry.stop) == 0
    proxy.close()
    stopped_files = data_dir_files(data_dir, "after stop")
    log_text = served_registry.log_path.read_text(encoding="utf-8", errors="replace")

    # Positive controls: each haystack is the real thing and searching it can succeed.
    sent, received = proxy.sent(), proxy.received()
    assert len(sent) >= 2, "the channel and the CLI should each have connected"
    assert sum(map(len, sent)) > 4000, "the proxy captured too little to mean anything"
    assert sum(map(len, received)) > 4000
    for stream in (s for s in sent if s):
        messages, compressed = grpc_frames(stream)
        assert messages > 0
        assert compressed == 0, "a compressed gRPC message would hide a canary from the search"
    all_sent = b"".join(sent)
    for ref in (banned_ref, flagged_ref, cli_ref):
        assert ref.encode() in all_sent
    db_bytes = b"".join(v for k, v in running_files.items() if "registry.db" in k)
    assert banned_ref.encode() in db_bytes, "the database search cannot see stored text"
    assert len(stopped_files) >= 5
    lines = log_events(log_text)
    evaluated = [e for e in lines if e.get("event") == "registry.evaluated"]
    assert [e["count"] for e in evaluated] == [len(attendees)]
    assert any(e.get("event") == "registry.record_added" for e in lines)
    assert banned_ref in log_text
    assert any(e.get("event") == "registry.stopped" for e in lines)
    assert event_id.encode() in recorder.dump()

    haystacks: dict[str, bytes] = {}
    for i, stream in enumerate(sent):
        haystacks[f"proxy capture client→server, connection {i}"] = stream
    for i, stream in enumerate(received):
        haystacks[f"proxy capture server→client, connection {i}"] = stream
    haystacks["call metadata sent"] = recorder.dump()
    haystacks.update(running_files)
    haystacks.update(stopped_files)
    haystacks["registry log"] = log_text.encode("utf-8")
    control_hits = {h.where for h in find_canaries(haystacks, [control]) if h.form == "raw UTF-8"}
    assert any(w.startswith("proxy capture client→server") for w in control_hits), control_hits
    assert any(w.startswith("data dir file registry.db") for w in control_hits), control_hits
    hits = find_canaries(haystacks, canaries)
    assert not hits, describe(hits)
