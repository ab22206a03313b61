"""The registry as an operator runs it: `lanyard registry init|serve` and its data directory.

`serve` runs as a real subprocess (signals, exit codes, stderr are what is under test);
the quick refusals that need no server run the CLI in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lanyard.cli.main import main as cli_main
from lanyard.core.channels import open_channel
from lanyard.registry import server
from tests.canary_tools import subprocess_env

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0
EXIT_TIMEOUT = 15.0
# A refusal exits within a second or two; allow for a loaded machine, not for a hang.
HANG_TIMEOUT = 10.0
WILDCARD_HOST = "0.0.0.0"  # noqa: S104 - the address serve must refuse to use in plaintext


# -- helpers -------------------------------------------------------------------------------


def lanyard_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "lanyard.cli.main", *args]


def init_dir(path: Path) -> Path:
    asyncio.run(server.init_registry(path, listen="127.0.0.1:0"))
    return path


def run_lanyard(*args: str, timeout: float = EXIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`lanyard ARGS` as a subprocess that is expected to exit by itself."""
    return subprocess.run(
        lanyard_argv(*args),
        cwd=REPO,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(argv: list[str]) -> int:
    """`lanyard ARGV` in this process; its exit status."""
    try:
        cli_main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def assert_one_sentence(stderr: str) -> str:
    """The CLI's failure contract: one sentence after "Error:", no traceback. Returns the
    sentence with the console's line wrapping undone."""
    text = " ".join(stderr.split())
    assert text.startswith("Error: "), stderr
    assert text.endswith("."), stderr
    assert text.count("Error:") == 1, stderr
    assert "Traceback" not in stderr, stderr
    return text


def file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def json_events(text: str) -> list[str]:
    events: list[str] = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            parsed: Any = json.loads(line)
            if isinstance(parsed, dict) and "event" in parsed:
                events.append(str(parsed["event"]))
    return events


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """`cli.main.main` reconfigures structlog for the whole process; put it back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


@dataclass
class Serving:
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    endpoint: str

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class Launcher:
    """Starts `lanyard registry serve` subprocesses and kills any left in teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._procs: list[subprocess.Popen[bytes]] = []

    def serve(self, data_dir: Path, env: dict[str, str] | None = None) -> Serving:
        log_path = self._tmp / f"serve-{len(self._procs)}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                lanyard_argv(
                    "--log-level",
                    "info",
                    "--log-json",
                    "registry",
                    "serve",
                    "--data-dir",
                    str(data_dir),
                ),
                cwd=REPO,
                env=env or subprocess_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        self._procs.append(proc)
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
                    return Serving(data_dir, log_path, proc, text.strip())
            time.sleep(0.05)
        pytest.fail(f"registry did not write {endpoint_file} within {START_TIMEOUT} s")

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=EXIT_TIMEOUT)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launch = Launcher(tmp_path)
    try:
        yield launch
    finally:
        launch.close()


async def health_status(endpoint: str, ca_file: Path | None) -> int:
    channel = open_channel(endpoint, ca_file)
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return int(reply.status)
    finally:
        await channel.close()


# -- serving and stopping ------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_stops_gracefully(tmp_path: Path, launcher: Launcher) -> None:
    serving = launcher.serve(init_dir(tmp_path / "registry"))
    host, port = serving.endpoint.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0

    status = asyncio.run(health_status(serving.endpoint, None))
    assert status == health_pb2.HealthCheckResponse.SERVING

    serving.proc.send_signal(signal.SIGTERM)
    assert serving.proc.wait(timeout=EXIT_TIMEOUT) == 0, serving.log()
    events = json_events(serving.log())
    assert "registry.listening" in events
    assert "registry.stopped" in events, serving.log()
    assert events.index("registry.stopped") > events.index("registry.listening")
    assert not (serving.data_dir / "endpoint").exists()
    assert "Traceback" not in serving.log()


@pytest.mark.slow
def test_plaintext_on_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    data_dir = init_dir(tmp_path / "registry")
    result = run_lanyard(
        "registry", "serve", "--data-dir", str(data_dir), "--listen", f"{WILDCARD_HOST}:0"
    )
    assert result.returncode != 0
    sentence = assert_one_sentence(result.stderr)
    assert "TLS" in sentence
    assert WILDCARD_HOST in sentence
    assert not (data_dir / "endpoint").exists(), "the refused registry wrote an endpoint"


# -- TLS ------------------------------------------------------------------------------------


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    key.chmod(0o600)
    return cert, key


@pytest.mark.slow
def test_tls_serves_only_tls(tmp_path: Path, launcher: Launcher) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: cannot make a test certificate")
    data_dir = init_dir(tmp_path / "registry")
    cert, key = self_signed(tmp_path, "registry")
    other_ca, _ = self_signed(tmp_path, "stranger")
    with (data_dir / "registry.toml").open("a", encoding="utf-8") as fh:
        fh.write(f"tls_cert = '{cert}'\ntls_key = '{key}'\n")
    serving = launcher.serve(data_dir)
    port = serving.endpoint.rsplit(":", 1)[1]
    assert '"tls": true' in serving.log()

    for endpoint in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status = asyncio.run(health_status(endpoint, cert))
        assert status == health_pb2.HealthCheckResponse.SERVING, endpoint

    with pytest.raises(grpc.aio.AioRpcError) as plaintext:
        asyncio.run(health_status(f"127.0.0.1:{port}", None))
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError) as untrusted:
        asyncio.run(health_status(f"127.0.0.1:{port}", other_ca))
    assert untrusted.value.code() == grpc.StatusCode.UNAVAILABLE

    serving.proc.send_signal(signal.SIGTERM)
    assert serving.proc.wait(timeout=EXIT_TIMEOUT) == 0


# -- a data directory that is missing or damaged --------------------------------------------


@pytest.mark.slow
def test_serve_without_a_data_dir_points_at_init(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "registry"
    result = run_lanyard("registry", "serve", "--data-dir", str(missing))
    assert result.returncode == 1
    sentence = assert_one_sentence(result.stderr)
    assert "lanyard registry init" in sentence
    assert not missing.exists(), "serve must not create a data directory"


def run_refused_serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`registry serve` on a directory it must refuse. Exiting matters as much as the
    sentence: a store that leaves its aiosqlite thread running after a failed open keeps
    the process alive after it has printed its error."""
    try:
        return run_lanyard("registry", "serve", "--data-dir", str(data_dir), timeout=HANG_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        pytest.fail(
            f"serve did not exit within {HANG_TIMEOUT} s of refusing {data_dir}; "
            f"it had printed {stderr.strip()!r}"
        )


@pytest.mark.slow
def test_serve_refuses_a_corrupt_database(tmp_path: Path) -> None:
    data_dir = init_dir(tmp_path / "registry")
    garbage = bytes(range(256)) * 64
    (data_dir / "registry.db").write_bytes(garbage)
    result = run_refused_serve(data_dir)
    assert result.returncode != 0
    sentence = assert_one_sentence(result.stderr)
    assert "registry.db" in sentence.replace(" ", "")
    assert (data_dir / "registry.db").read_bytes() == garbage, "serve changed the damaged file"
    assert not (data_dir / "endpoint").exists()


@pytest.mark.slow
def test_serve_refuses_a_database_from_a_newer_lanyard(tmp_path: Path) -> None:
    data_dir = init_dir(tmp_path / "registry")
    with contextlib.closing(sqlite3.connect(data_dir / "registry.db")) as db:
        db.execute("PRAGMA user_version = 9999")
        db.commit()
    result = run_refused_serve(data_dir)
    assert result.returncode != 0
    sentence = assert_one_sentence(result.stderr)
    assert "upgrade Lanyard" in sentence
    assert not (data_dir / "endpoint").exists()


@pytest.mark.slow
def test_serve_refuses_a_key_others_can_read(tmp_path: Path) -> None:
    data_dir = init_dir(tmp_path / "registry")
    (data_dir / "signing.key").chmod(0o640)
    result = run_lanyard("registry", "serve", "--data-dir", str(data_dir))
    assert result.returncode != 0
    sentence = assert_one_sentence(result.stderr)
    assert "chmod 600" in sentence
    assert "signing.key" in sentence.replace(" ", "")
    assert not (data_dir / "endpoint").exists()


def test_record_list_without_a_data_dir_points_at_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_structlog: None
) -> None:
    missing = tmp_path / "nonexistent" / "registry"
    status = run_cli(["registry", "record", "list", "--data-dir", str(missing)])
    err = capsys.readouterr().err
    assert status == 1
    assert "lanyard registry init" in assert_one_sentence(err)


# -- init ------------------------------------------------------------------------------------


def test_init_twice_refuses_and_leaves_the_first_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_structlog: None
) -> None:
    data_dir = tmp_path / "registry"
    argv = ["registry", "init", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"]
    assert run_cli(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    before = file_bytes(data_dir)
    assert {"signing.key", "admin.key", "registry.db", "registry.toml"} <= set(before)
    assert os.path.join("oprf", "epoch-1.key") in before

    assert run_cli(argv) == 1
    sentence = assert_one_sentence(capsys.readouterr().err)
    assert "already" in sentence
    assert file_bytes(data_dir) == before


def test_init_creates_private_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_structlog: None
) -> None:
    data_dir = tmp_path / "registry"
    old_umask = os.umask(0)  # modes must not depend on the operator's umask
    try:
        status = run_cli(
            ["registry", "init", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"]
        )
    finally:
        os.umask(old_umask)
    assert status == 0, capsys.readouterr().err
    modes = {
        str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
        for p in [data_dir, *data_dir.rglob("*")]
    }
    assert len(modes) >= 7, modes  # dir, oprf/, its key, 2 keys, db, config
    wrong = {
        path: f"{mode:o}"
        for path, mode in modes.items()
        if mode != (0o700 if (tmp_path / path).is_dir() else 0o600)
    }
    assert not wrong, f"init left files open to others: {wrong}"


@pytest.mark.slow
def test_admin_commands_reach_a_tls_registry(
    tmp_path: Path,
    launcher: Launcher,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On the registry's own host the operator's commands work with TLS on and no CA set
    (the registry's own certificate is trusted); LANYARD_REGISTRY_CA, when set, is the
    only CA trusted, and one that did not sign the certificate is refused."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: cannot make a test certificate")
    from lanyard.cli.main import main

    data_dir = init_dir(tmp_path / "registry")
    cert, key = self_signed(tmp_path, "registry")
    stranger, _ = self_signed(tmp_path, "stranger")
    with (data_dir / "registry.toml").open("a", encoding="utf-8") as fh:
        fh.write(f"tls_cert = '{cert}'\ntls_key = '{key}'\n")
    serving = launcher.serve(data_dir)
    endpoint = "localhost:" + serving.endpoint.rsplit(":", 1)[1]

    def run(*args: str) -> int:
        with pytest.raises(SystemExit) as done:
            main(["registry", "event", "list", "--json", *args])
        return int(done.value.code or 0)

    monkeypatch.delenv("LANYARD_REGISTRY_CA", raising=False)
    monkeypatch.delenv("LANYARD_REGISTRY_ENDPOINT", raising=False)
    capsys.readouterr()  # what setting up logged
    assert run("--data-dir", str(data_dir)) == 0  # the address from the data directory
    assert capsys.readouterr().out.strip() == "[]"
    assert run("--data-dir", str(data_dir), "--endpoint", endpoint) == 0
    assert capsys.readouterr().out.strip() == "[]"

    monkeypatch.setenv("LANYARD_REGISTRY_CA", str(stranger))
    assert run("--data-dir", str(data_dir), "--endpoint", endpoint) == 1
    assert "Cannot reach the registry" in capsys.readouterr().err

    monkeypatch.setenv("LANYARD_REGISTRY_CA", str(cert))
    assert run("--data-dir", str(data_dir), "--endpoint", endpoint) == 0
    assert capsys.readouterr().out.strip() == "[]"
