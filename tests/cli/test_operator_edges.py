"""What an operator meets at 2 a.m.: error sentences that keep file names as typed, `init`
refusing the other kind of data directory, a WG reader's machine without a registry,
plain help and --version, servers that say where they listen, and Ctrl-C in `screen`."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from lanyard.agent import operator as agent_operator
from lanyard.agent.screening.batch import screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.cli import progress as progress_bars
from lanyard.cli.main import _sentence
from lanyard.cli.screening import commands as screening_cmds
from lanyard.client.admin import AdminClient
from lanyard.registry import server
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir
from tests.canary_tools import run_cli, subprocess_env

REPO = Path(__file__).resolve().parents[2]
WAIT = 30.0


def lanyard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(result: tuple[int, str, str], *needles: str) -> str:
    code, _, err = result
    assert code == 1, err
    sentence = " ".join(err.split()).removeprefix("Error: ")
    assert err.startswith("Error: "), err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in sentence, sentence
    return sentence


# -- sentences -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("atendees.csv does not exist", "atendees.csv does not exist."),
        ("/var/lib/x is not a directory", "/var/lib/x is not a directory."),
        ("'pretix' is not an integration", "'pretix' is not an integration."),
        ("wg-alex is not a reader", "wg-alex is not a reader."),
        ("give --yes to submit", "Give --yes to submit."),
        ("the registry is down.", "The registry is down."),
    ],
)
def test_a_sentence_capitalises_only_a_plain_word(text: str, expected: str) -> None:
    assert _sentence(text) == expected


def test_a_missing_file_is_named_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = lanyard(capsys, "screen", "atendees.csv", "--data-dir", str(tmp_path / "agent"))
    one_sentence(result, "atendees.csv does not exist")


# -- data directories ------------------------------------------------------------------------


def test_init_refuses_the_other_kind_of_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_dir, agent_dir = tmp_path / "registry", tmp_path / "agent"
    code, _, err = lanyard(capsys, "registry", "init", "--data-dir", str(registry_dir))
    assert code == 0, err
    code, _, err = lanyard(capsys, "agent", "init", "--data-dir", str(agent_dir))
    assert code == 0, err

    one_sentence(
        lanyard(capsys, "agent", "init", "--data-dir", str(registry_dir)),
        "holds a WG registry's data",
    )
    one_sentence(
        lanyard(capsys, "registry", "init", "--data-dir", str(agent_dir)),
        "holds an event agent's data",
    )
    assert not (registry_dir / "event.key").exists()
    assert not (agent_dir / "registry.db").exists()


def test_a_wg_reader_without_a_registry_is_told_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    nowhere = str(tmp_path / "no-registry-here")
    for command in ("list", "open", "ack"):
        args = [] if command == "list" else ["3f2a"]
        if command == "ack":
            args += ["--step", "acknowledged"]
        without_endpoint = lanyard(
            capsys, "registry", "submission", command, *args, "--data-dir", nowhere
        )
        sentence = one_sentence(without_endpoint, "Give --endpoint")
        assert "registry init" not in sentence
        with_endpoint = lanyard(
            capsys,
            "registry",
            "submission",
            command,
            *args,
            "--data-dir",
            nowhere,
            "--endpoint",
            "127.0.0.1:1",
        )
        # Every reader command signs with the reader's own key, and says how to make one.
        sentence = one_sentence(with_endpoint, "wg-member.json", "wg keygen")
        assert "registry init" not in sentence


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["transparency"],
        ["event", "set"],
        ["registry", "record", "add"],
        ["incident", "decide"],
        ["agent", "incidents-init"],
        ["registry", "submission", "list"],
    ],
)
def test_help_has_whole_option_names_and_no_placeholders(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = lanyard(capsys, *command, "--help")
    assert code == 0, err
    assert "--help" in out
    assert "<bool>" not in out
    assert "<str>" not in out
    assert not re.search(r"--[\w-]*…", out), out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lanyard(capsys, "--version")
    assert code == 0
    assert re.fullmatch(r"lanyard \d+\.\d+\.\d+\S*\n", out), out


# -- servers on a terminal -------------------------------------------------------------------


def _read_until(fd: int, pattern: str, proc: subprocess.Popen[bytes]) -> str:
    """Output of a process on a pseudo-terminal until `pattern` shows (bounded)."""
    seen = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if re.search(pattern, seen.decode(errors="replace")):
            return seen.decode(errors="replace")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        seen += chunk
    proc.kill()
    pytest.fail(f"no {pattern!r} within {WAIT} s: {seen.decode(errors='replace')[-800:]}")


def _serve_on_terminal(argv: list[str], pattern: str) -> str:
    """Start a `serve` with stdout on a pseudo-terminal; its first words; then SIGTERM."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lanyard.cli.main", *argv],
        cwd=REPO,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.DEVNULL,
    )
    os.close(child)
    try:
        return _read_until(main, pattern, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
        os.close(main)


@pytest.mark.slow
async def test_servers_say_where_they_listen_on_a_terminal(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    rdir = await server.init_registry(tmp_path / "own-registry", listen="127.0.0.1:0")
    said = await asyncio.to_thread(
        _serve_on_terminal,
        ["registry", "serve", "--data-dir", str(rdir.path)],
        r"Registry listening on 127\.0\.0\.1:\d+ .*Ctrl-C",
    )
    port = re.search(r"listening on 127\.0\.0\.1:(\d+)", said)
    assert port is not None, said
    assert port[1] != "0", said

    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    said = await asyncio.to_thread(
        _serve_on_terminal,
        ["agent", "serve", "--data-dir", str(adir.path)],
        r"Agent listening on 127\.0\.0\.1:\d+ .*Ctrl-C",
    )
    assert "plaintext, loopback only" in said


# -- Ctrl-C while screening --------------------------------------------------------------------


def _last_line(db: Path) -> int:
    """The line the newest run has stored up to (0 before the database has one)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT MAX(last_line) FROM runs").fetchone()
    except sqlite3.OperationalError:  # created, not yet migrated
        return 0
    return int(row[0] or 0)


@pytest.mark.slow
async def test_ctrl_c_in_screen_says_where_it_stopped_and_resumes_there(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    export = tmp_path / "Attendees-Main.csv"
    with export.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Order code", "Attendee name", "Attendee email"])
        writer.writerows(
            (f"ORD-{i}", f"Person Number{i}", f"p{i}@example.org") for i in range(4_000)
        )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lanyard.cli.main",
        "screen",
        str(export),
        "--data-dir",
        str(adir.path),
        cwd=REPO,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as in a terminal
    )
    try:
        # Wait (bounded) until the first batches are stored, then press Ctrl-C: on a
        # terminal it reaches the whole group, the crypto worker processes too.
        deadline = time.monotonic() + WAIT
        while _last_line(adir.db_path) < 2 and proc.returncode is None:
            assert time.monotonic() < deadline, "screening stored nothing"
            await asyncio.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = err_bytes.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err  # nor from a worker process: they leave Ctrl-C alone
    stopped = re.search(r"Stopped after line (\d+) of (\S+);", err)
    assert stopped is not None, err
    assert stopped[2] == str(export)  # the file name as given, case kept
    assert "Run the same command again to resume." in " ".join(err.split())
    line = int(stopped[1])
    assert line == _last_line(adir.db_path)  # exactly where the stored rows end

    code, out, err = await asyncio.to_thread(
        lanyard, capsys, "screen", str(export), "--data-dir", str(adir.path), "--json"
    )
    assert code == 0, err
    assert f'"resumed_after_line": {line}' in out
    assert '"screened": 4000' in out


def test_operator_is_offered_where_it_is_meant(capsys: pytest.CaptureFixture[str]) -> None:
    """`--operator` (sign with the event's key) is for adding the first chair: `team`
    commands list it, incident commands accept it without offering it."""
    code, out, _ = lanyard(capsys, "team", "add", "--help")
    assert code == 0
    assert "--operator" in out
    for command in ("new", "list", "show", "decide", "close"):
        code, out, _ = lanyard(capsys, "incident", command, "--help")
        assert code == 0, command
        assert "--operator" not in out, command


class _Interrupted(Exception):
    """Stands for Ctrl-C arriving right after the first batch is stored."""


async def test_a_resumed_bar_starts_at_the_row_reached(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    path = tmp_path / "attendees.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Order code", "Attendee name", "Attendee email"])
        writer.writerows((f"ORD-{i}", f"Person {i}", f"p{i}@example.org") for i in range(1_200))
    lines: list[int] = []

    def stop_after_first_batch(line: int) -> None:
        lines.append(line)
        if len(lines) == 2:
            raise _Interrupted

    async with agent_operator.opened(adir) as agent:
        with pytest.raises(_Interrupted):
            await screen_export(
                agent, open_export(path), "attendee", reached=stop_after_first_batch
            )
        assert lines[0] == 0  # a new run
        stored = lines[1]
        assert stored > 1

        terminal = io.StringIO()
        monkeypatch.setattr(
            progress_bars, "console", Console(file=terminal, force_terminal=True, width=100)
        )
        reached = screening_cmds.Reached()
        outcome = await screening_cmds.screen_with_progress(
            agent, open_export(path), "attendee", True, reached
        )
    assert (reached.started_at, outcome.resumed_after_line, stored) == (stored, stored, stored)
    assert f"Resuming after line {stored}." in terminal.getvalue()
    assert outcome.report.screened == 1_200


def test_a_confirmation_without_a_terminal_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_dir = tmp_path / "registry"
    code, _, err = lanyard(capsys, "registry", "init", "--data-dir", str(registry_dir))
    assert code == 0, err
    sentence = one_sentence(
        lanyard(capsys, "registry", "key", "rotate", "--data-dir", str(registry_dir)),
        "Give --yes to rotate the OPRF key without a terminal to confirm on.",
    )
    assert "Aborted" not in sentence


def test_the_readme_names_the_files_commands_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    secret = tmp_path / "passphrase"
    secret.write_text("a WG reader's passphrase\n")
    secret.chmod(0o600)
    code, _, err = lanyard(
        capsys, "wg", "keygen", "--name", "wg-alex", "--kdf", "interactive",
        "--passphrase-file", str(secret),
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "config" / "lanyard" / "wg-alex.wg-public.json").is_file()
    assert "~/.config/lanyard/wg-alex.wg-public.json" in readme
    code, _, err = lanyard(capsys, "agent", "init", "--data-dir", str(tmp_path / "agent"))
    assert code == 0, err
    assert (tmp_path / "agent" / "event.pub").is_file()
    assert "--public-key @event.pub" in readme
    for phantom in ("@agent.pub", "@chair.pub", "chair.json"):
        assert phantom not in readme, phantom
