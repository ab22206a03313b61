"""End-of-event reports as the chair and the WG type them, against a real registry.

A real registry serves on loopback in the test's loop; the event's agent is enrolled and
holds a decided incident; WG members make their own keys with `lanyard wg keygen`. The
CLI runs in a worker thread (it runs its own event loop). Refusals are one sentence on
stderr with exit status 1, and no name from the report ever reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Communication, Decision, Report, ReportedPerson
from lanyard.agent.incidents.service import Caller
from lanyard.agent.outbox import Outbox
from lanyard.agent.reports import ReportSender, build_report
from lanyard.cli.main import app, main
from lanyard.cli.report import commands as report_cmds
from lanyard.cli.wg import commands as wg_cmds
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core import envelope, keys
from lanyard.core.identity import Kind
from lanyard.registry import server as registry_server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import reports_pb2
from tests.agent.conftest import enrolled_agent_dir

# Until cli/main.py attaches them (`lanyard wg …`, `lanyard report …`), attach them here.
for _typer, _name in ((wg_cmds.wg_app, "wg"), (report_cmds.report_app, "report")):
    if _name not in {g.name for g in app.registered_groups}:
        app.add_typer(_typer, name=_name)

AGENT_PASSPHRASE = "the incident records' long passphrase"
WG_PASSPHRASE = "a WG reader's long passphrase"
CLI_TIMEOUT = 30.0
BAD_ACTOR = "Quinn Canaryfield"
BYSTANDER = "Pat Bystandersson"
REPORTER = "Rowan Witnesswood"
NAMES = (BAD_ACTOR, BYSTANDER, REPORTER)


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
    for line in err.splitlines():
        if line.startswith("{"):  # a log line (the services log to stderr as JSON)
            assert not any(n in line for n in NAMES), line
    return code, out, err


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def refused(result: tuple[int, str, str], *needles: str) -> str:
    code, _, err = result
    assert code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1, err
    sentence = lines[0].removeprefix("Error: ")
    assert lines[0].startswith("Error: "), err
    assert not re.search(r"[.!?]\s+[A-Z]", sentence), f"more than one sentence: {sentence}"
    for needle in needles:
        assert needle.lower() in sentence.lower(), sentence
    return sentence


def secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class World:
    capsys: pytest.CaptureFixture[str]
    tmp: Path
    registry: RunningRegistry
    registry_dir: RegistryDir
    admin: AdminClient
    adir: AgentDir
    agent_pf: Path
    wg_pf: Path

    async def cli(self, *argv: str) -> tuple[int, str, str]:
        return await lanyard(self.capsys, *argv)

    async def chair(self, *argv: str) -> tuple[int, str, str]:
        """`lanyard report …` on the agent's machine."""
        return await self.cli(
            "report", *argv, "-d", str(self.adir.path), "--passphrase-file", str(self.agent_pf)
        )

    async def keygen(self, name: str) -> Path:
        key = self.tmp / "wg" / f"{name}.json"
        ok(
            await self.cli(
                "wg", "keygen", "--name", name, "--out", str(key), "--kdf", "interactive",
                "--passphrase-file", str(self.wg_pf),
            )
        )  # fmt: skip
        return key

    async def add_reader(self, name: str) -> None:
        public = self.tmp / "wg" / f"{name}.wg-public.json"
        ok(
            await self.cli(
                "registry", "recipient", "add", "-d", str(self.registry_dir.path),
                "--public-file", str(public),
            )
        )  # fmt: skip

    def as_reader(self, key: Path) -> list[str]:
        return [
            "--wg-key", str(key), "--passphrase-file", str(self.wg_pf),
            "--endpoint", self.registry.address,
        ]  # fmt: skip

    async def outbox(self) -> list[str]:
        box = await Outbox.open(self.adir.db_path)
        try:
            return [e.submission_id for e in await box.pending()]
        finally:
            await box.close()


async def file_incident(adir: AgentDir) -> None:
    async with agent_operator.incident_records(
        adir, crypto.Unlock(passphrase=AGENT_PASSPHRASE)
    ) as records:
        ana, ben = Caller("ana", "responder"), Caller("ben", "responder")
        incident = await records.file(
            ana,
            Report(
                reporter_name=REPORTER,
                reporter_contact="rowan@example.org",
                reported=[
                    ReportedPerson(BAD_ACTOR, "attendee"),
                    ReportedPerson(BYSTANDER, "attendee"),
                ],
                description="Followed the reporter between rooms after being asked to stop",
                category="unwanted attention",
            ),
        )
        decision = Decision(violation="yes", bad_actors=[BAD_ACTOR], resolutions=["leave-event"])
        await records.decide(ana, incident.incident_id, decision)
        await records.decide(ben, incident.incident_id, decision)


@pytest.fixture
async def world(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    admin: AdminClient,
) -> World:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=AGENT_PASSPHRASE), "interactive")
    await file_incident(adir)
    return World(
        capsys,
        tmp_path,
        registry,
        registry_dir,
        admin,
        adir,
        secret_file(tmp_path / "agent-pass", AGENT_PASSPHRASE),
        secret_file(tmp_path / "wg-pass", WG_PASSPHRASE),
    )


async def test_wg_keygen_writes_private_keys_and_a_public_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pf = secret_file(tmp_path / "pass", WG_PASSPHRASE)
    key = tmp_path / "cfg" / "me.json"
    argv = ("wg", "keygen", "--name", "wg-alex", "--out", str(key), "--kdf", "interactive")
    out = ok(await lanyard(capsys, *argv, "--passphrase-file", str(pf)))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    record = json.loads(key.read_text())
    public = json.loads((tmp_path / "cfg" / "wg-alex.wg-public.json").read_text())
    assert public == {
        "format": "lanyard-wg-public/1",
        "name": "wg-alex",
        "encryption_public": record["encryption_public"],
        "signing_public": record["signing_public"],
    }
    assert record["encryption_public"] in out
    assert record["signing_public"] in out
    assert record["secret"]["wrapped"] not in out
    assert WG_PASSPHRASE not in key.read_text()

    before = key.read_bytes()
    refused(await lanyard(capsys, *argv, "--passphrase-file", str(pf)), "already exists")
    assert key.read_bytes() == before
    other = ("--out", str(tmp_path / "x.json"), "--passphrase-file", str(pf))
    refused(await lanyard(capsys, "wg", "keygen", "--name", "Alex W", *other), "wg member name")
    refused(await lanyard(capsys, "wg", "keygen", "--name", "operator", *other), "admin name")
    short = secret_file(tmp_path / "short", "too short")
    refused(
        await lanyard(
            capsys, "wg", "keygen", "--name", "wg-bo", "--out", str(tmp_path / "y.json"),
            "--passphrase-file", str(short),
        ),
        "at least 12 characters",
    )  # fmt: skip
    assert not (tmp_path / "y.json").exists()


async def test_report_from_build_to_records(world: World) -> None:
    alex = await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    listing = json.loads(
        ok(
            await world.cli(
                "registry", "recipient", "list", "-d", str(world.registry_dir.path), "--json"
            )
        )
    )
    assert [r["name"] for r in listing["recipients"]] == ["wg-alex"]

    # Build: the chair sees everything that would leave; nothing leaves.
    draft = world.tmp / "draft.json"
    out = ok(await world.chair("build", "--out", str(draft)))
    for name in NAMES:
        assert name in out
    assert "asked to leave the event" in out
    assert "Nothing was sent" in out
    assert stat.S_IMODE(draft.stat().st_mode) == 0o600
    assert json.loads(draft.read_text())["incidents"][0]["decision"]["bad_actors"] == [BAD_ACTOR]
    assert await world.admin.list_submissions() == []

    # Submit, then submit again: one submission, the same receipt.
    out = ok(await world.chair("submit", "--yes"))
    assert "wg-alex" in out
    (sid,) = re.findall(r"Submitted ([0-9a-f]{32})", out)
    assert "log index 0" in out
    out = ok(await world.chair("submit", "--yes"))
    assert "already submitted" in out
    assert sid[:12] in out
    assert [s.receipt.submission_id for s in await world.admin.list_submissions()] == [sid]

    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "Verified in the log" in out
    assert "tree size 1" in out

    # The WG reader lists and opens it with their own key.
    reader = world.as_reader(alex)
    out = ok(await world.cli("registry", "submission", "list", *reader))
    assert sid[:8] in out
    assert "agentconf-2027" in out
    rows = json.loads(ok(await world.cli("registry", "submission", "list", *reader, "--json")))
    assert [(r["submission_id"], r["status"], r["log_index"]) for r in rows] == [
        (sid, "received", 0)
    ]
    out = ok(await world.cli("registry", "submission", "open", sid[:8], *reader))
    for name in NAMES:
        assert name in out
    assert "signature verifies" in out
    opened = json.loads(
        ok(await world.cli("registry", "submission", "open", sid, *reader, "--json"))
    )
    assert opened["submission_id"] == sid
    assert opened["report"]["incidents"][0]["report"]["reporter"]["name"] == REPORTER

    # A member added after the report was sealed cannot open it; a stranger is not let in.
    carol = await world.keygen("wg-carol")
    await world.add_reader("wg-carol")
    refused(
        await world.cli("registry", "submission", "open", sid, *world.as_reader(carol)),
        "not sealed to wg-carol's key",
        "wg-alex",
    )
    shown = json.loads(ok(await world.cli("wg", "show", "--wg-key", str(carol), "--json")))
    assert shown["name"] == "wg-carol"
    ok(
        await world.cli(
            "registry", "recipient", "remove", "-d", str(world.registry_dir.path), "wg-carol"
        )
    )
    listing = json.loads(
        ok(
            await world.cli(
                "registry", "recipient", "list", "-d", str(world.registry_dir.path), "--json"
            )
        )
    )
    assert [r["name"] for r in listing["recipients"]] == ["wg-alex"]
    assert listing["version"] == 3
    stranger = await world.keygen("wg-dee")
    refused(
        await world.cli("registry", "submission", "list", *world.as_reader(stranger)),
        "does not accept wg-dee's wg key",
        "recipient add",
    )

    # Steps, signed by the reader, in order; the event sees each one.
    ack = ("registry", "submission", "ack", sid[:10], *reader)
    ok(await world.cli(*ack, "--step", "acknowledged", "--message", "Thanks, reading it [now]"))
    refused(await world.cli(*ack, "--step", "recorded"), "next step is reviewed")
    ok(await world.cli(*ack, "--step", "reviewed"))
    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "status reviewed" in out
    assert "acknowledged" in out
    assert "wg-alex" in out
    assert "Thanks, reading it [now]" in out
    (status,) = json.loads(
        ok(await world.cli("report", "status", "-d", str(world.adir.path), "--json"))
    )
    assert status["log"] == {"verified": True, "tree_size": 1, "error": None}
    assert [(s["step"], s["member"]) for s in status["steps"]] == [
        ("acknowledged", "wg-alex"),
        ("reviewed", "wg-alex"),
    ]

    # From the report to records: list the people, then record the bad actor, blinded.
    record = ("registry", "record", "add", "--from-submission", sid, *reader)
    out = ok(await world.cli(*record, "--status", "banned"))
    assert BAD_ACTOR in out
    assert BYSTANDER in out
    assert "--all-bad-actors" in out
    assert (await world.admin.list_records()).records == []
    out = ok(await world.cli(*record, "--status", "banned", "--all-bad-actors"))
    assert f"Added {sid[:8]}-1" in out
    assert BAD_ACTOR not in out
    refs = [r.record_ref for r in (await world.admin.list_records()).records]
    assert refs == [f"{sid[:8]}-1"]
    out = ok(await world.cli("check", "-d", str(world.adir.path), "--name", BAD_ACTOR))
    assert "REVIEW" in out
    assert f"{sid[:8]}-1" in out
    out = ok(await world.cli("check", "-d", str(world.adir.path), "--name", BYSTANDER))
    assert "ALLOW" in out
    shown = json.loads(
        ok(await world.cli("registry", "record", "show", f"{sid[:8]}-1", *reader, "--json"))
    )
    assert shown["submission_id"] == sid
    assert [(h["action"], h["by"]) for h in shown["history"]] == [("added", "wg-alex")]
    out = ok(await world.cli("registry", "record", "show", f"{sid[:8]}-1", *reader))
    assert f"submission) {sid}" in out
    assert BAD_ACTOR not in out
    # The reader adds the e-mail address the report's author later learnt, blinded.
    ok(
        await world.cli(
            "registry",
            "record",
            "update",
            f"{sid[:8]}-1",
            *reader,
            "--alias-email",
            "bad.actor@example.org",
            "--ban-until",
            "2029-01-31",
        )
    )
    shown = json.loads(
        ok(await world.cli("registry", "record", "show", f"{sid[:8]}-1", *reader, "--json"))
    )
    assert (shown["identifiers"], shown["ban_until"], shown["expires_on"]) == (
        2,
        "2029-01-31",
        "2031-03-31",
    )
    assert shown["history"][-1]["by"] == "wg-alex"
    out = ok(
        await world.cli("check", "-d", str(world.adir.path), "--email", "bad.actor@example.org")
    )
    assert "DENY" in out

    # A receipt, signed by the registry, for an entry its log does not hold.
    box = await Outbox.open(world.adir.db_path)
    try:
        (entry,) = await box.entries()
        assert entry.receipt is not None
        forged = reports_pb2.Receipt()
        forged.CopyFrom(entry.receipt)
        forged.received_at = "2001-01-01T00:00:00+00:00"
        forged.signature = keys.sign(
            world.registry_dir.signing_key(), envelope.receipt_message(forged)
        )
        await box.receipted(sid, forged)
    finally:
        await box.close()
    result = await world.cli("report", "status", "-d", str(world.adir.path))
    refused(result, "the proof failed", sid[:12])
    assert "The proof failed" in result[1]


async def test_outage_keeps_the_report_in_the_outbox_until_it_is_receipted(
    world: World,
) -> None:
    await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    address = world.registry.address
    await world.registry.server.stop(0)
    refused(await world.chair("submit", "--yes"), "cannot reach the registry", "nothing was sealed")
    assert await world.outbox() == []

    # Sealed while the registry was up, then the machine "crashed" before sending.
    async with (
        registry_server.running(world.registry_dir, listen=address),
        agent_operator.opened(world.adir) as agent,
        agent_operator.incident_records(
            world.adir, crypto.Unlock(passphrase=AGENT_PASSPHRASE)
        ) as records,
    ):
        box = await Outbox.open(world.adir.db_path)
        try:
            sender = ReportSender(box, agent.registry, agent.enrolment, world.adir.event_key())
            entry = await sender.seal(
                build_report(agent.enrolment, await records.export_all("report"))
            )
        finally:
            await box.close()
    sid = entry.submission_id

    refused(
        await world.chair("submit", "--yes", "--attempts", "2"),
        "kept in the outbox",
        "lanyard report submit",
        "lanyard agent serve",
    )
    assert await world.outbox() == [sid]
    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "pending" in out
    assert "2 attempt(s)" in out

    async with registry_server.running(world.registry_dir, listen=address):
        out = ok(await world.chair("submit", "--yes"))
        assert f"Submitted {sid}" in out
        assert "not a new one" in out
        subs = await world.admin.list_submissions()
        assert [s.receipt.submission_id for s in subs] == [sid]
        assert await world.outbox() == []

        # A change after that submission: the next submit seals a new one.
        await asyncio.sleep(1.1)  # the outbox and the records keep whole seconds
        async with agent_operator.incident_records(
            world.adir, crypto.Unlock(passphrase=AGENT_PASSPHRASE)
        ) as records:
            await records.communicate(
                Caller("ana", "responder"), 1, Communication(reporter_told_on="2027-05-04")
            )
        out = ok(await world.chair("submit", "--yes"))
        (again,) = re.findall(r"Submitted ([0-9a-f]{32})", out)
        assert again != sid
        assert len(await world.admin.list_submissions()) == 2


async def test_a_removed_reader_can_no_longer_sign_in(world: World) -> None:
    carol = await world.keygen("wg-carol")
    await world.add_reader("wg-carol")
    ok(await world.cli("registry", "submission", "list", *world.as_reader(carol)))
    rdir = ("-d", str(world.registry_dir.path))
    ok(await world.cli("registry", "recipient", "remove", *rdir, "wg-carol"))
    refused(
        await world.cli("registry", "submission", "list", *world.as_reader(carol)),
        "does not accept wg-carol's wg key",
    )


async def test_a_wg_reader_lists_the_evaluation_log(world: World) -> None:
    alex = await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    await world.admin.add_record("WG-E1", "flagged", [Identifier(Kind.NAME, "Listed Person")])
    listing = json.loads(
        ok(await world.cli("registry", "evaluations", *world.as_reader(alex), "--json"))
    )
    assert [(e["caller"], e["record_ref"]) for e in listing["leaves"]] == [
        ("admin:operator", "WG-E1")
    ]
    assert listing["tree_size"] == 1


async def test_choosing_files_that_do_not_exist_is_one_sentence(world: World) -> None:
    refused(await world.chair("build", "--attachments", "1:5"), "incident 1 has no attachment 5")
    refused(await world.chair("build", "--attachments", "some"), "none, all or INCIDENT:ATTACHMENT")
    out = ok(await world.chair("build", "--attachments", "all"))
    assert "with 0 file(s) (0" in " ".join(out.split())


async def test_submit_during_an_outage_queues_and_serve_delivers(world: World) -> None:
    await world.keygen("wg-dana")
    await world.add_reader("wg-dana")
    address = world.registry.address
    # The agent has seen the WG's signed recipient set once (agent serve keeps it fresh).
    async with (
        agent_operator.opened(world.adir) as agent,
        agent_operator.report_sender(world.adir, agent) as sender,
    ):
        await sender.recipients()
    await world.registry.server.stop(0)

    refused(
        await world.chair("submit", "--yes", "--attempts", "1"),
        "sealed and kept in the outbox, queued",
        "retries it every 60 s",
    )
    [sid] = await world.outbox()
    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "pending" in out

    # The registry is back; agent serve's outbox task delivers the queued report.
    async with (
        registry_server.running(world.registry_dir, listen=address),
        agent_server.running(
            world.adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=AGENT_PASSPHRASE)
        ) as served,
    ):
        tasks = served.tasks
        assert tasks is not None

        async def drained() -> None:
            while tasks.states["outbox-drain"].state != "ok":
                tasks.changed.clear()
                if tasks.states["outbox-drain"].state == "ok":
                    break
                await tasks.changed.wait()

        await asyncio.wait_for(drained(), 20)
        assert await world.outbox() == []
        assert [s.receipt.submission_id for s in await world.admin.list_submissions()] == [sid]
        verified = json.loads(
            ok(await world.cli("report", "status", "-d", str(world.adir.path), "--json"))
        )
        assert verified[0]["log"]["verified"] is True
        assert verified[0]["last_verified_at"] is not None

    # Offline again: status answers from the local receipt and says when it last verified.
    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "Not checked against the log now" in out
    assert verified[0]["last_verified_at"] in out


async def test_a_report_whose_inner_signature_is_not_the_events_does_not_open(
    world: World,
) -> None:
    alex = await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    # The envelope is signed by the event's key (so the registry takes it), but the report
    # inside is signed by another key: whoever sealed it was not the event.
    async with agent_operator.opened(world.adir) as agent:
        sealed = envelope.seal_report(
            {"event": {"event_id": "agentconf-2027"}, "incidents": []},
            "agentconf-2027",
            nacl.signing.SigningKey.generate(),
            await agent.registry.recipients(),
            "2027-05-04T00:00:00+00:00",
        )
        await agent.registry.submit_report(
            sealed.envelope, keys.sign(world.adir.event_key(), sealed.envelope)
        )
    sid = sealed.submission_id
    reader = world.as_reader(alex)
    refused(
        await world.cli("registry", "submission", "open", sid, *reader),
        f"submission {sid[:12]} does not open",
        "the event's signature on the report",
    )
    out = world.tmp / "opened.json"
    refused(await world.cli("registry", "submission", "open", sid, *reader, "--out", str(out)))
    assert not out.exists()


async def test_report_status_fails_when_a_wg_step_was_changed(world: World) -> None:
    alex = await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    out = ok(await world.chair("submit", "--yes"))
    (sid,) = re.findall(r"Submitted ([0-9a-f]{32})", out)
    ok(
        await world.cli(
            "registry", "submission", "ack", sid, *world.as_reader(alex),
            "--step", "acknowledged", "--message", "received, reading it",
        )
    )  # fmt: skip
    assert "received, reading it" in ok(
        await world.cli("report", "status", "-d", str(world.adir.path))
    )
    with sqlite3.connect(world.registry_dir.db_path) as db:
        db.execute(
            "UPDATE submission_steps SET message = 'dismissed' WHERE submission_id = ?", (sid,)
        )
    result = await world.cli("report", "status", "-d", str(world.adir.path))
    refused(result, "the proof failed", sid[:12], "acknowledged step signature")
    assert "dismissed" not in result[1]
    (row,) = json.loads(
        (await world.cli("report", "status", "-d", str(world.adir.path), "--json"))[1]
    )
    assert row["log"]["verified"] is False
    assert "acknowledged step signature" in row["log"]["error"]
    assert row["steps"] == []


async def test_a_step_message_over_2000_characters_is_refused_before_signing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ack = (
        "registry", "submission", "ack", "0" * 32, "--step", "acknowledged",
        "--wg-key", str(tmp_path / "missing.json"), "--endpoint", "127.0.0.1:1",
    )  # fmt: skip
    refused(
        await lanyard(capsys, *ack, "--message", "m" * 2001), "at most 2000 characters, got 2001"
    )
    # 2000 characters pass this check; what stops the call then is the missing key.
    sentence = refused(await lanyard(capsys, *ack, "--message", "m" * 2000))
    assert "--message" not in sentence
    assert "missing.json" in sentence


async def test_a_reader_rekeys_and_still_opens_what_was_sealed_before(world: World) -> None:
    alex = await world.keygen("wg-alex")
    await world.add_reader("wg-alex")
    out = ok(await world.chair("submit", "--yes"))
    (sid,) = re.findall(r"Submitted ([0-9a-f]{32})", out)
    reader = world.as_reader(alex)
    ok(await world.cli("registry", "submission", "ack", sid, "--step", "acknowledged", *reader))
    before = json.loads(ok(await world.cli("wg", "show", "--wg-key", str(alex), "--json")))

    rekeyed = json.loads(ok(await world.cli("wg", "rekey", *reader, "--json")))
    assert rekeyed["retired"] == 1
    assert rekeyed["encryption_public"] != before["encryption_public"]
    assert not alex.with_name(alex.name + ".pending").exists()
    listing = json.loads(
        ok(
            await world.cli(
                "registry", "recipient", "list", "-d", str(world.registry_dir.path), "--json"
            )
        )
    )
    [entry] = listing["recipients"]
    assert entry["encryption_key"] == rekeyed["encryption_public"]

    # The report sealed to the old key still opens; the next step is signed by the new key;
    # the event verifies both steps (the first by the key the set now lists as retired).
    opened = json.loads(
        ok(await world.cli("registry", "submission", "open", sid, *reader, "--json"))
    )
    assert opened["report"]["incidents"][0]["report"]["reporter"]["name"] == REPORTER
    ok(await world.cli("registry", "submission", "ack", sid, "--step", "reviewed", *reader))
    out = ok(await world.cli("report", "status", "-d", str(world.adir.path)))
    assert "Verified in the log" in out
    assert "reviewed" in out
    # A new report is sealed to the new key only, and opens with it.
    await file_incident(world.adir)
    out = ok(await world.chair("submit", "--yes"))
    (second,) = re.findall(r"Submitted ([0-9a-f]{32})", out)
    stored = await world.admin.get_submission(second)
    [wrapped] = envelope.parse_envelope(stored.envelope).keys
    assert wrapped.encryption_key.hex() == rekeyed["encryption_public"]
    ok(await world.cli("registry", "submission", "open", second, *reader))
