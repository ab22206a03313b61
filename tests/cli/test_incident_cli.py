"""The Code of Conduct team's commands as each member types them, against a real agent.

A real registry and an enrolled agent serve on loopback in the test's loop; the agent's
incident records are set up with `lanyard agent incidents-init` and unlocked with the
passphrase. Each member has their own key file; the CLI runs in a worker thread (it runs
its own event loop). Every refusal must be one sentence on stderr, exit status 1.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from lanyard.agent import server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import LockedError
from lanyard.agent.incidents import crypto
from lanyard.cli.main import main
from lanyard.client.admin import AdminClient
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir

PASSPHRASE = "a long passphrase for the test team"
CLI_TIMEOUT = 30.0
CANARY = "CanaryQuill7"  # in the report's text: must never reach a log line
MEMBERS = {"cleo": "chair", "ana": "responder", "ben": "responder", "vic": "volunteer"}


async def lanyard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()

    def call() -> int:
        try:
            main(list(argv))
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0

    code = await asyncio.wait_for(asyncio.to_thread(call), CLI_TIMEOUT)
    out, err = capsys.readouterr()
    return code, out, err


def refused(result: tuple[int, str, str], *needles: str) -> str:
    """Exit status 1 and exactly one sentence on stderr holding each needle. (The agent
    serves in this process: its JSON log lines share stderr and are left aside.)"""
    code, _, err = result
    assert code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), err
    sentence = lines[0].removeprefix("Error: ")
    assert sentence.endswith((".", "?")), sentence
    assert not re.search(r"[.!?]\s+[A-Z]", sentence), f"more than one sentence: {sentence}"
    for needle in needles:
        assert needle.lower() in sentence.lower(), sentence
    return sentence


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def secret_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class Team:
    capsys: pytest.CaptureFixture[str]
    adir: AgentDir
    address: str
    keys: dict[str, Path]
    home: Path

    def conn(self, who: str) -> list[str]:
        base = ["--agent", self.address, "--data-dir", str(self.adir.path)]
        return [*base, "--operator"] if who == "operator" else [*base, "--key", str(self.keys[who])]

    async def run(self, who: str, *argv: str, root: tuple[str, ...] = ()) -> tuple[int, str, str]:
        return await lanyard(self.capsys, *root, *argv, *self.conn(who))

    async def keygen(self, name: str) -> str:
        out = ok(
            await lanyard(
                self.capsys, "team", "keygen", "--name", name, "--out", str(self.keys[name])
            )
        )
        found: list[str] = re.findall(r"\b[0-9a-f]{64}\b", out)
        assert len(found) == 1, out
        return found[0]


async def incidents_agent(tmp_path: Path, admin: AdminClient, endpoint: str) -> AgentDir:
    adir = await enrolled_agent_dir(tmp_path, admin, endpoint)
    assert not adir.master_path.exists()
    return adir


@pytest.fixture
async def team(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
) -> AsyncIterator[Team]:
    adir = await incidents_agent(tmp_path, admin, registry.address)
    pf = secret_file(tmp_path / "passphrase", PASSPHRASE + "\n")
    init = ["agent", "incidents-init", "-d", str(adir.path), "--passphrase-file", str(pf)]
    out = ok(await lanyard(capsys, *init, "--kdf", "interactive"))
    assert "passphrase" in out
    assert stat.S_IMODE(adir.master_path.stat().st_mode) == 0o600
    async with server.running(
        adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=PASSPHRASE)
    ) as running:
        assert running.incidents is not None
        keys = {name: tmp_path / "members" / f"{name}.json" for name in MEMBERS}
        yield Team(capsys, adir, running.address, keys, tmp_path)


async def build_team(t: Team) -> dict[str, str]:
    """Each member makes their own key; the operator adds the chair, who adds the rest."""
    public = {name: await t.keygen(name) for name in MEMBERS}
    for name in MEMBERS:
        assert stat.S_IMODE(t.keys[name].stat().st_mode) == 0o600
        assert json.loads(t.keys[name].read_text())["name"] == name
    ok(
        await t.run(
            "operator", "team", "add", "cleo", "--role", "chair", "--public-key", public["cleo"]
        )
    )
    at_file = t.home / "ana.pub"
    at_file.write_text(public["ana"] + "\n")
    ok(
        await t.run(
            "cleo", "team", "add", "ana", "--role", "responder", "--public-key", f"@{at_file}"
        )
    )
    for name in ("ben", "vic"):
        add = ("team", "add", name, "--role", MEMBERS[name], "--public-key", public[name])
        ok(await t.run("cleo", *add))
    return public


async def test_keygen_writes_a_private_file_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "cfg" / "me.json"
    argv = ("team", "keygen", "--name", "ana", "--out", str(out_file))
    out = ok(await lanyard(capsys, *argv))
    data = json.loads(out_file.read_text())
    assert data["name"] == "ana"
    assert len(bytes.fromhex(data["private_key"])) == 32
    assert data["private_key"] not in out, "the private key must never be printed"
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    before = out_file.read_bytes()
    refused(await lanyard(capsys, *argv), "already exists")
    assert out_file.read_bytes() == before
    refused(
        await lanyard(
            capsys, "team", "keygen", "--name", "Ana Lovelace", "--out", str(tmp_path / "x.json")
        ),
        "member name",
    )


async def test_an_incident_from_report_to_closing(team: Team) -> None:
    t = team
    public = await build_team(t)
    members = json.loads(ok(await t.run("cleo", "team", "list", "--json")))
    assert {m["name"]: m["role"] for m in members} == MEMBERS
    refused(
        await t.run(
            "cleo",
            "team",
            "add",
            "ana",
            "--role",
            "chair",
            "--public-key",
            bytes(nacl.signing.SigningKey.generate().verify_key).hex(),
        ),
        "already on the team as responder",
        "--replace",
    )
    replace = ("team", "add", "ben", "--role", "responder", "--public-key", public["ben"])
    assert "Added ben" in ok(await t.run("cleo", *replace, "--replace"))
    refused(await t.run("vic", "team", "list"), "Not allowed", "volunteers cannot list the team")

    # A volunteer writes down what they were told, and can read none of it back.
    code, out, err = await t.run(
        "vic",
        "incident",
        "new",
        "--description",
        f"{CANARY}: repeated unwanted comments after the talk",
        "--reporter-name",
        f"Reporter {CANARY}",
        "--received-by",
        "vic",
        "--reported",
        "Sam Example:speaker",
        "--where",
        "Room 2",
        "--ongoing",
        "no",
        "--safety-threat",
        "no",
        root=("--log-level", "info", "--log-json"),
    )
    assert code == 0, err
    assert '"incident.filed"' in err, "the CLI logs the id it filed"
    assert CANARY not in err, "incident text reached the logs"
    incident = int(re.fullmatch(r"Filed incident (\d+)\.\n", out)[1])  # type: ignore[index]
    refused(await t.run("vic", "incident", "show", str(incident)), "Not allowed", "volunteer")
    refused(await t.run("vic", "incident", "list"), "Not allowed")

    # Responders work it.
    listed = json.loads(ok(await t.run("ana", "incident", "list", "--json")))
    assert [(i["incident_id"], i["status"]) for i in listed] == [(incident, "new")]
    code, out, err = await t.run(
        "ana", "incident", "show", str(incident), root=("--log-level", "debug", "--log-json")
    )
    assert code == 0, err
    assert f"{CANARY}: repeated unwanted comments" in out
    assert "Sam Example (speaker)" in out
    assert CANARY not in err, "incident text reached the logs"
    shown = json.loads(ok(await t.run("ana", "incident", "show", str(incident), "--json")))
    assert shown["report"]["ongoing"] == "no"
    assert shown["report"]["law_enforcement_called"] == "unknown"
    assert shown["filed_by"] == "vic"

    out = ok(await t.run("ana", "incident", "update", str(incident), "--status", "acknowledged"))
    assert f"Read incident {incident} at version 1" in out
    assert "acknowledged (version 2)" in out
    refused(
        await t.run(
            "ana",
            "incident",
            "update",
            str(incident),
            "--status",
            "in-review",
            "--expected-version",
            "1",
        ),
        f"incident {incident} changed since you read it",
        f"`lanyard incident show {incident}`",
    )
    note = ("incident", "note", str(incident), "Talked with the reporter; they are safe.")
    ok(await t.run("ana", *note, "--present", "ana", "--present", "ben"))

    # A conflict of interest, declared and then acted on by the other responder.
    out = ok(await t.run("ben", "incident", "conflict", str(incident), "--reason", "a friend"))
    assert "conflict of interest is recorded" in out
    out = ok(
        await t.run(
            "ana",
            "incident",
            "conflict",
            str(incident),
            "--member",
            "ben",
            "--reason",
            "close friend of the reported person",
            "--recuse",
        )
    )
    assert f"ben is recused from incident {incident}" in out
    refused(
        await t.run("ben", "incident", "show", str(incident)),
        f"ben is recused from incident {incident}",
    )
    assert json.loads(ok(await t.run("ben", "incident", "list", "--json"))) == []

    # Two members make a decision final; the first cannot be the second.
    decide = (
        "incident",
        "decide",
        str(incident),
        "--violation",
        "yes",
        "--resolution",
        "warning",
        "--resolution",
        "no-contact",
        "--bad-actor",
        "Sam Example",
        "--reasoning",
        "Unwelcome after being asked to stop.",
    )
    out = ok(await t.run("ana", *decide))
    assert "awaits a second approval" in out
    listed = json.loads(ok(await t.run("ana", "incident", "list", "--json")))
    assert listed[0]["awaiting_second_approval"] is True
    assert "awaiting" in ok(await t.run("ana", "incident", "list"))
    refused(await t.run("ana", *decide), "ana already approved this decision")
    refused(await t.run("ben", "incident", "decide", str(incident), "--approve"), "recused")
    refused(
        await t.run("cleo", "incident", "decide", str(incident), "--approve"),
        "give --yes to approve the decision without a terminal",
    )
    assert "awaiting" in ok(await t.run("ana", "incident", "list"))  # nothing approved
    out = ok(await t.run("cleo", "incident", "decide", str(incident), "--approve", "--yes"))
    assert "is final (approved by ana, cleo)" in out
    refused(await t.run("ana", "incident", "decide", str(incident), "--approve"), "already decided")

    ok(
        await t.run(
            "ana",
            "incident",
            "told",
            str(incident),
            "--reported-person",
            "2027-05-02",
            "--reporter",
            "today",
        )
    )
    out = ok(await t.run("ana", "incident", "close", str(incident)))
    assert f"Incident {incident} is closed" in out

    out = ok(await t.run("cleo", "incident", "show", str(incident)))
    for expected in (
        "closed",
        "Decision (final)",
        "warning (a warning was given)",
        "Approved by: ana, cleo",
        "ben: recused (declared by ana)",
        "present: ana, ben",
        "Reported person told: 2027-05-02",
        f"Reporter told: {date.today().isoformat()}",
    ):
        assert expected in out, expected

    # Only a chair reads the audit trail; it holds every read and every refusal.
    refused(await t.run("ana", "incident", "audit", str(incident)), "only a chair")
    trail = json.loads(ok(await t.run("cleo", "incident", "audit", str(incident), "--json")))
    seen = {(e["member"], e["action"]) for e in trail}
    for entry in (
        ("vic", "file"),
        ("vic", "denied:read"),
        ("ana", "read"),
        ("ben", "denied:read"),
        ("ana", "decide"),
        ("cleo", "decide"),
        ("cleo", "read"),
    ):
        assert entry in seen, (entry, sorted(seen))

    # A member who leaves the team is refused on their very next call.
    ok(await t.run("cleo", "team", "remove", "ana"))
    refused(
        await t.run("ana", "incident", "list"),
        "did not accept your key",
        "not be on the team",
    )
    refused(await t.run("cleo", "team", "remove", "ana"), "ana is not on the team")


class FakeTerminal(io.StringIO):
    """Typed answers on a standard input that says it is a terminal."""

    def isatty(self) -> bool:
        return True


async def test_questions_on_a_terminal_press_for_nothing_but_what_happened(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = team
    await build_team(t)
    answers = [
        "",  # anonymous? (left empty: no)
        "",  # reporter's name: they would rather not say
        "",  # contact
        "vic",  # received by
        "Sam Example",
        "speakr",  # a typo is asked again, not refused
        "speaker",
        "",  # no more reported people
        "",  # what happened: required, so asked again
        f"{CANARY} kept following the reporter between talks",
        "",  # when
        "",  # where
        "",  # circumstances
        "",  # others involved
        "maybe",  # not an answer: asked again
        "no",
        "yes",  # safety threat
        "",  # police
        "y",  # venue security
        "",  # category
    ]
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdin", FakeTerminal("\n".join(answers) + "\n"))
        code, out, err = await t.run("vic", "incident", "new")
    assert code == 0, err
    assert "would rather not say" in out
    assert "call venue security or the police now" in out
    incident = re.search(r"Filed incident (\d+)\.", out)
    assert incident is not None, out
    shown = json.loads(ok(await t.run("ana", "incident", "show", incident[1], "--json")))
    report: dict[str, Any] = shown["report"]
    assert report["description"] == f"{CANARY} kept following the reporter between talks"
    assert report["reported"] == [{"name": "Sam Example", "role": "speaker"}]
    assert (report["reporter_name"], report["anonymous"], report["received_by"]) == (
        "",
        False,
        "vic",
    )
    answered = [
        report[k]
        for k in ("ongoing", "safety_threat", "law_enforcement_called", "venue_security_called")
    ]
    assert answered == ["no", "yes", "unknown", "yes"]


async def test_a_report_from_a_file_and_the_refusals_of_filing(team: Team) -> None:
    t = team
    await build_team(t)
    report = t.home / "report.json"
    report.write_text(
        json.dumps(
            {
                "anonymous": True,
                "description": "Slides with sexualised images in the 14:00 talk",
                "reported": [{"name": "A Speaker", "role": "speaker"}],
                "ongoing": "no",
                "category": "Other: sexualised imagery",
            }
        )
    )
    out = ok(
        await t.run("ben", "incident", "new", "--from-file", str(report), "--where", "Main hall")
    )
    incident = re.search(r"Filed incident (\d+)\.", out)
    assert incident is not None, out
    shown = json.loads(ok(await t.run("ana", "incident", "show", incident[1], "--json")))
    assert shown["report"]["anonymous"] is True
    assert shown["report"]["location"] == "Main hall"
    assert shown["report"]["ongoing"] == "no"
    assert shown["report"]["category"] == "other: sexualised imagery"
    # Categories come from the fixed list: anything else is refused at intake, naming it.
    refused(
        await t.run(
            "ben", "incident", "new", "--description", "x", "--category", "sexualised imagery"
        ),
        "'sexualised imagery' is not a category",
        "harassment",
    )

    report.write_text(json.dumps({"description": "x", "reporter_email": "a@example.org"}))
    refused(
        await t.run("ben", "incident", "new", "--from-file", str(report)),
        "unknown field 'reporter_email'",
    )
    refused(await t.run("ben", "incident", "new", "--where", "Hall"), "description")
    refused(await t.run("ben", "incident", "new"), "--description", "only on a terminal")
    refused(
        await t.run("ben", "incident", "new", "--description", "x", "--reported", "Sam:keynote"),
        "NAME:ROLE",
    )
    refused(
        await t.run("ben", "incident", "new", "--description", "x", "--ongoing", "perhaps"),
        "yes, no or unknown",
    )
    refused(
        await t.run("operator", "incident", "new", "--description", "x"),
        "operator key manages the team",
    )
    assert json.loads(ok(await t.run("ana", "incident", "list", "--json")))[-1][
        "incident_id"
    ] == int(incident[1])
    # A usual spelling of a listed category is stored as the list's name.
    out = ok(
        await t.run(
            "ben", "incident", "new", "--description", "x", "--category", "Threatening Behavior"
        )
    )
    filed = re.search(r"Filed incident (\d+)\.", out)
    assert filed is not None, out
    shown = json.loads(ok(await t.run("ana", "incident", "show", filed[1], "--json")))
    assert shown["report"]["category"] == "threatening behaviour"
    refused(await t.run("ana", "incident", "show", "99"), "no incident 99")
    refused(
        await t.run("ana", "incident", "close", str(incident[1])), "cannot go from new to closed"
    )


async def test_incident_records_stay_locked_without_the_right_passphrase(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adir = await incidents_agent(tmp_path, admin, registry.address)
    d = ("-d", str(adir.path))
    refused(await lanyard(capsys, "agent", "incidents-init", *d), "no passphrase", "terminal")
    short = secret_file(tmp_path / "short", "too short\n")
    refused(
        await lanyard(capsys, "agent", "incidents-init", *d, "--passphrase-file", str(short)),
        "at least 12 characters",
    )
    loose = tmp_path / "loose"
    loose.write_text(PASSPHRASE + "\n")
    loose.chmod(0o644)
    refused(
        await lanyard(capsys, "agent", "incidents-init", *d, "--passphrase-file", str(loose)),
        "readable by other users",
    )
    assert not adir.master_path.exists(), "a refused init must leave nothing behind"
    good = secret_file(tmp_path / "good", PASSPHRASE + "\n")
    ok(
        await lanyard(
            capsys,
            "agent",
            "incidents-init",
            *d,
            "--passphrase-file",
            str(good),
            "--kdf",
            "interactive",
        )
    )
    refused(
        await lanyard(capsys, "agent", "incidents-init", *d, "--passphrase-file", str(good)),
        "already set up",
    )
    master = adir.master_path.read_bytes()
    assert PASSPHRASE.encode() not in master

    wrong = secret_file(tmp_path / "wrong", "not the passphrase at all\n")
    serve = ("agent", "serve", *d, "--listen", "127.0.0.1:0")
    refused(await lanyard(capsys, *serve, "--passphrase-file", str(wrong)), "wrong passphrase")
    assert not adir.endpoint_path.exists(), "nothing may listen with the records locked"
    refused(
        await lanyard(capsys, *serve, "--passphrase-file", str(good), "--key-file", str(good)),
        "not both",
    )
    with pytest.raises(LockedError, match="wrong passphrase"):
        async with server.running(adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase="x" * 20)):
            pass
    with pytest.raises(LockedError, match="locked with a passphrase"):
        async with server.running(adir, "127.0.0.1:0"):
            pass
    assert adir.master_path.read_bytes() == master


async def test_a_key_file_instead_of_a_passphrase(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adir = await incidents_agent(tmp_path, admin, registry.address)
    key_file = tmp_path / "vault" / "incidents.key"
    key_file.parent.mkdir()
    out = ok(
        await lanyard(
            capsys, "agent", "incidents-init", "-d", str(adir.path), "--key-file", str(key_file)
        )
    )
    assert "keep it apart" in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with server.running(adir, "127.0.0.1:0", unlock=crypto.Unlock(key_file=key_file)) as r:
        assert r.incidents is not None
    other = secret_file(tmp_path / "other.key", "")
    other.write_bytes(bytes(range(32)))
    with pytest.raises(LockedError, match="wrong key file"):
        async with server.running(adir, "127.0.0.1:0", unlock=crypto.Unlock(key_file=other)):
            pass
    refused(
        await lanyard(
            capsys,
            "agent",
            "serve",
            "-d",
            str(adir.path),
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            str(other),
        ),
        "wrong key file",
    )


async def test_the_agent_unreachable_or_without_incident_records(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "ana.json"
    ok(await lanyard(capsys, "team", "keygen", "--name", "ana", "--out", str(key)))
    member = ("--key", str(key), "--data-dir", str(tmp_path / "no-agent-here"))
    refused(
        await lanyard(capsys, "incident", "list", *member, "--agent", "127.0.0.1:1"),
        "cannot reach the agent at 127.0.0.1:1",
    )
    refused(await lanyard(capsys, "incident", "list", *member), "no agent address", "--agent")
    refused(
        await lanyard(
            capsys,
            "incident",
            "list",
            "--key",
            str(tmp_path / "missing.json"),
            "--agent",
            "127.0.0.1:1",
        ),
        "no member key",
        "team keygen",
    )
    key.chmod(0o644)
    refused(
        await lanyard(capsys, "incident", "list", *member, "--agent", "127.0.0.1:1"),
        "readable by other users",
    )
    key.chmod(0o600)

    adir = await enrolled_agent_dir(tmp_path / "plain", admin, registry.address, "plainconf-2027")
    async with server.running(adir, "127.0.0.1:0") as running:
        assert running.incidents is None
        # The member finds the local agent through its data directory's endpoint file.
        local = ("--key", str(key), "--data-dir", str(adir.path))
        refused(
            await lanyard(capsys, "incident", "list", *local),
            "does not keep incident records yet",
            "lanyard agent incidents-init",
        )
