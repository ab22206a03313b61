"""The privacy canary for end-of-event reports: names leave the event sealed, never raw.

DESIGN.md, Invariants: "No raw identifier ever reaches the registry process: not in a
request, its database, its logs." The end-of-event report is the one moment names leave
an event, so it gets a canary run of its own. The registry runs as a real
`lanyard registry serve` subprocess behind a recording proxy; the agent's enrolment bundle
names the *proxy*, and every WG command is pointed at it too. Then:

* incidents are filed with a unique canary in every free-text and name field of the
  report (reporter name and contact, who received it, reported people, what happened,
  when, where, circumstances, others involved, category), in notes (text and who was
  present), in decisions (bad actors, one respelt; other resolution; reasoning) and in
  conflicts' reasons;
* `lanyard report build` shows them (they really flowed into the report), `report submit
  --yes` seals and sends it, `report status` checks the receipt against the log;
* a WG reader made with `lanyard wg keygen` and added with `registry recipient add` lists
  the submission, opens it (the canaries, decrypted on the reader's machine: the search
  would see them had they travelled in the clear), acknowledges and reviews it, records
  the bad actors with `registry record add --from-submission --all-bad-actors` (names go
  in blinded), and marks it recorded; `lanyard check` then matches those people.

After SIGTERM, the proxy capture (both ways, raw and with each gRPC message reassembled),
every file in the registry's data directory and the registry's log are searched for every
canary in every form it could take. Positive controls show each haystack is the real thing:
the sealed envelope is in the capture and the database, texts that are *meant* to reach
the registry (the event's name, a step's message, record references) are found, and the
registry logged the submission and each step.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import pytest
import structlog

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.attachments import AttachmentService
from lanyard.agent.incidents.model import Conflict, Decision, Incident, Note, Report, ReportedPerson
from lanyard.agent.incidents.service import Caller, IncidentService
from lanyard.agent.incidents.store import IncidentStore
from lanyard.agent.outbox import Outbox
from lanyard.agent.reports import build_report, preview
from lanyard.core.enrolment import Enrolment
from lanyard.core.identity import Kind, normalize
from tests.canary_tools import (
    Canary,
    RecordingProxy,
    ServedProcess,
    data_dir_files,
    describe,
    find_canaries,
    grpc_messages,
    log_events,
    make_canary,
    run_cli,
    serve_registry,
)

CLI_TIMEOUT = 60.0
AGENT_PASSPHRASE = "the incident records' long passphrase"
WG_PASSPHRASE = "a WG report reader's long passphrase"
READER = "wg-canary"
ANA, BEN, CAI = (Caller(n, "responder") for n in ("ana", "ben", "cai"))


@pytest.fixture
def served_registry(tmp_path: Path) -> Iterator[ServedProcess]:
    with serve_registry(tmp_path) as served:
        yield served


@pytest.fixture
def proxy(served_registry: ServedProcess) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(served_registry.endpoint)
    try:
        yield recording
    finally:
        recording.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LANYARD_* setting of the developer's leaks in; `cli.main.main` reconfigures
    structlog for the whole process, so put it back afterwards."""
    for var in (
        "LANYARD_AGENT_DIR",
        "LANYARD_AGENT_PASSPHRASE",
        "LANYARD_REGISTRY_DIR",
        "LANYARD_REGISTRY_ENDPOINT",
        "LANYARD_WG_KEY",
        "LANYARD_WG_PASSPHRASE",
        "LANYARD_LOG_LEVEL",
    ):
        monkeypatch.delenv(var, raising=False)
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


class Cli:
    """`lanyard …` in a worker thread of this process, output captured, stderr kept."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.stderr: list[str] = []

    async def ok(self, *argv: str) -> str:
        self._capsys.readouterr()
        code = await asyncio.wait_for(
            asyncio.to_thread(run_cli, ["--log-level", "debug", "--log-json", *argv]),
            CLI_TIMEOUT,
        )
        out, err = self._capsys.readouterr()
        self.stderr.append(err)
        assert code == 0, f"lanyard {' '.join(argv[:3])} failed: {err[-2000:]}"
        return out


# -- canaries in every field a report carries ------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentCanaries:
    """One incident's canaries; `{n}` in each keeps incidents apart for a reader."""

    reporter_name: Canary
    reporter_contact: Canary
    received_by: Canary
    reported: tuple[Canary, ...]
    description: Canary
    occurred_at: Canary
    location: Canary
    circumstances: Canary
    others_involved: Canary
    category: Canary
    note: Canary
    note_present: Canary
    conflict_reason: Canary
    other_resolution: Canary
    reasoning: Canary
    bad_actor: Canary  # the first reported person, as the decision spells them

    def all(self) -> list[Canary]:
        return [
            self.reporter_name,
            self.reporter_contact,
            self.received_by,
            *self.reported,
            self.description,
            self.occurred_at,
            self.location,
            self.circumstances,
            self.others_involved,
            self.category,
            self.note,
            self.note_present,
            self.conflict_reason,
            self.other_resolution,
            self.reasoning,
            *([self.bad_actor] if self.bad_actor not in self.reported else []),
        ]

    def in_report(self) -> list[Canary]:
        """What `build_report` carries: a conflict's reason stays with the event (the report
        names the member and whether they recused, not why)."""
        return [c for c in self.all() if c is not self.conflict_reason]

    def in_preview(self) -> list[Canary]:
        """What the readable preview renders today: not the category, who received the
        report, or who was present at a note
        (test_preview_shows_every_name_and_text_that_leaves)."""
        hidden = (self.conflict_reason, self.category, self.received_by, self.note_present)
        return [c for c in self.all() if all(c is not h for h in hidden)]

    def report(self) -> Report:
        return Report(
            reporter_name=self.reporter_name.raw,
            reporter_contact=self.reporter_contact.raw,
            received_by=self.received_by.raw,
            reported=[
                ReportedPerson(p.raw, role)
                for p, role in zip(self.reported, ("attendee", "speaker"), strict=False)
            ],
            description=self.description.raw,
            occurred_at=self.occurred_at.raw,
            location=self.location.raw,
            circumstances=self.circumstances.raw,
            others_involved=self.others_involved.raw,
            ongoing="no",
            safety_threat="yes",
            category=self.category.raw,
        )

    def decision(self) -> Decision:
        return Decision(
            violation="yes",
            bad_actors=[self.bad_actor.raw],
            resolutions=["leave-event", "other"],
            other_resolution=self.other_resolution.raw,
            reasoning=self.reasoning.raw,
        )


def incident_canaries(n: int, bystander: bool, respell_bad_actor: bool) -> IncidentCanaries:
    def name(field: str, template: str) -> Canary:
        return make_canary(f"incident {n} {field}", Kind.NAME, template.replace("{n}", str(n)))

    reported = [name("reported person", "Ångström Réported{n} Zq{token}")]
    if bystander:
        reported.append(name("bystander", "Bÿstander Ñoël-{n} Zq{token}"))
    first = reported[0]
    bad_actor = first
    if respell_bad_actor:
        # The decision spells the person unlike the report: a distinct raw string that
        # normalises to the same identifier (so the WG records one person, not two).
        bad_actor = Canary(
            f"incident {n} bad actor, respelt",
            Kind.NAME,
            f"ZQ{first.token.upper()}, ÅNGSTRÖM RÉPORTED{n}",
            first.token,
        )
        assert bad_actor.raw != first.raw
        assert normalize(Kind.NAME, bad_actor.raw) == normalize(Kind.NAME, first.raw)
    return IncidentCanaries(
        reporter_name=name("reporter name", "Rëporter Çanary-{n} Zq{token}"),
        reporter_contact=make_canary(
            f"incident {n} reporter contact",
            Kind.EMAIL,
            f"Reporter.Çanary{n}.{{token}}+Report@Example.ORG",
        ),
        received_by=name("received by", "Récéived Bÿ Vólunteer{n} Zq{token}"),
        reported=tuple(reported),
        description=name(
            "description", "Fóllowed the reporter (Descríption {n}) Zq{token} between rooms"
        ),
        occurred_at=name("when", "Fríday evening {n}, after the kéynote, Zq{token}"),
        location=name("where", "Hallwäy {n} beside the Çoffee bar Zq{token}"),
        circumstances=name("circumstances", "Crowded sôcial {n}; Zq{token} was there"),
        others_involved=name("others involved", "Witnéss Ÿvonne-{n} Zq{token}"),
        category=name("category", "Unwánted attention {n} Zq{token}"),
        note=name("note", "Spoke with the réporter {n}: Zq{token} agreed"),
        note_present=name("note present", "Nöte Présent-{n} Zq{token}"),
        conflict_reason=name("conflict reason", "Friénds with the reported person {n} Zq{token}"),
        other_resolution=name("other resolution", "Bádge revoked {n} Zq{token}"),
        reasoning=name("reasoning", "Sécond report this year {n} Zq{token}"),
        bad_actor=bad_actor,
    )


async def file_incident(
    records: IncidentService, canaries: IncidentCanaries, approvals: list[Caller]
) -> int:
    """File it as ana; cai declares a conflict and recuses; a note; the decision."""
    incident = await records.file(ANA, canaries.report())
    number = incident.incident_id
    await records.declare_conflict(CAI, number, "", canaries.conflict_reason.raw, recuse=True)
    await records.add_note(ANA, number, canaries.note.raw, [canaries.note_present.raw])
    for caller in approvals:
        await records.decide(caller, number, canaries.decision())
    # A positive control on the records themselves: every canary was really stored.
    stored = json.dumps(asdict(await records.get(ANA, number)), ensure_ascii=False)
    missing = [c.label for c in canaries.all() if c.raw not in stored]
    assert not missing, missing
    return number


def absent(text: str, canaries: list[Canary]) -> list[str]:
    return [c.label for c in canaries if c.raw not in text]


def secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Evidence:
    name: str
    media_type: str
    body: bytes
    canaries: list[Canary]


async def attach_evidence(
    adir: AgentDir, records: IncidentService, tmp_path: Path
) -> list[Evidence]:
    """A screenshot (2.5 MiB: three chunks) and a transcript attached to incident 1."""
    shot_text = make_canary("screenshot bytes", Kind.NAME, "Screenshot Canary Zq{token}")
    shot_name = make_canary("screenshot name", Kind.NAME, "dm-{token}.png")
    note = make_canary("screenshot note", Kind.NAME, "Slack DM from Zq{token}")
    text = make_canary("transcript text", Kind.NAME, "Transcript Canary Zq{token} said")
    shot = bytearray(b"\x89PNG\r\n\x1a\n" + os.urandom(5 * (1 << 19)))
    for at in range(4096, len(shot) - 100, 1 << 18):
        shot[at : at + len(shot_text.raw)] = shot_text.raw.encode()
    transcript = f"{text.raw} hello again after the talk.\n".encode() * 40

    async def pieces(body: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(body), 300_000):
            yield body[at : at + 300_000]

    store = await IncidentStore.open(adir.db_path, adir.keyring_path)
    try:
        files = AttachmentService(records, store)
        a = await files.attach(ANA, 1, shot_name.raw, note.raw, pieces(bytes(shot)))
        b = await files.attach(ANA, 1, "transcript.txt", "", pieces(transcript))
    finally:
        await store.close()
    return [
        Evidence(a.name, a.media_type, bytes(shot), [shot_text, shot_name, note]),
        Evidence(b.name, b.media_type, transcript, [text]),
    ]


# -- the canary run --------------------------------------------------------------------------


@pytest.mark.slow
async def test_no_raw_identifier_from_a_report_reaches_the_registry(
    tmp_path: Path,
    served_registry: ServedProcess,
    proxy: RecordingProxy,
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry_dir = served_registry.data_dir
    agent_dir = tmp_path / "agent"
    run_id = uuid.uuid4().hex[:8]
    event_id = f"reportcanary-{run_id}"
    cli = Cli(capsys)
    agent = ["--data-dir", str(agent_dir)]
    agent_pf = secret_file(tmp_path / "agent-pass", AGENT_PASSPHRASE)
    wg_pf = secret_file(tmp_path / "wg-pass", WG_PASSPHRASE)

    # Controls: texts that are *meant* to reach the registry, so the same search must
    # find them there, or it is blind.
    event_name = make_canary("control (event name)", Kind.NAME, "Rëport Çanary Cönf Zq{token}")
    step_message = make_canary("control (step message)", Kind.NAME, "Récéived Zq{token}, thánks")

    first = incident_canaries(1, bystander=True, respell_bad_actor=False)
    second = incident_canaries(2, bystander=False, respell_bad_actor=True)
    pending = incident_canaries(3, bystander=False, respell_bad_actor=False)
    incidents = (first, second, pending)
    canaries = [c for i in incidents for c in i.all()]
    in_report = [c for i in incidents for c in i.in_report()]
    in_preview = [c for i in incidents for c in i.in_preview()]
    # One token per field, the respelt bad actor sharing its person's.
    assert len({c.token for c in canaries}) == len(canaries) - 1

    # -- the event: init, enrol through the proxy, incident records ------------------------
    await cli.ok("agent", "init", *agent, "--listen", "127.0.0.1:0")
    bundle = tmp_path / "bundle.json"
    await cli.ok(
        "registry", "event", "enroll", "--data-dir", str(registry_dir),
        "--endpoint", proxy.address, "--id", event_id, "--name", event_name.raw,
        "--starts", "2027-05-01", "--ends", "2027-05-03",
        "--public-key", f"@{agent_dir / 'event.pub'}", "--quota", "1000", "--out", str(bundle),
    )  # fmt: skip
    assert json.loads(bundle.read_text(encoding="utf-8"))["endpoint"] == proxy.address
    await cli.ok("agent", "enroll", *agent, str(bundle))
    adir = AgentDir(agent_dir)
    unlock = crypto.Unlock(passphrase=AGENT_PASSPHRASE)
    agent_operator.init_incidents(adir, unlock, "interactive")
    async with agent_operator.incident_records(adir, unlock) as records:
        for canaries_of, approvals in ((first, [ANA, BEN]), (second, [BEN, ANA]), (pending, [ANA])):
            await file_incident(records, canaries_of, approvals)
        # Evidence: a screenshot and a transcript, each with a canary in its bytes, name
        # and note; they travel sealed with the report and must never be seen in the clear.
        evidence = await attach_evidence(adir, records, tmp_path)
    file_canaries = [c for e in evidence for c in e.canaries]
    canaries += file_canaries

    # -- the WG reader's keys, published by the registry's operator --------------------------
    wg_key = tmp_path / "wg" / f"{READER}.json"
    await cli.ok(
        "wg", "keygen", "--name", READER, "--out", str(wg_key), "--kdf", "interactive",
        "--passphrase-file", str(wg_pf),
    )  # fmt: skip
    public_file = wg_key.with_name(f"{READER}.wg-public.json")
    await cli.ok(
        "registry", "recipient", "add", "--data-dir", str(registry_dir),
        "--endpoint", proxy.address, "--public-file", str(public_file),
    )  # fmt: skip

    # -- the chair: build (the canaries flowed), submit, status ------------------------------
    chair = [*agent, "--passphrase-file", str(agent_pf)]
    chair = [*chair, "--attachments", "all"]
    shown = await cli.ok("report", "build", *chair)
    assert "Nothing was sent" in shown
    assert not absent(shown, in_preview), absent(shown, in_preview)
    for e in evidence:  # the preview lists each file: name, type, size
        assert f"{e.name} ({e.media_type}, {len(e.body):,} bytes" in shown, shown
    built = await cli.ok("report", "build", *chair, "--json")
    assert not absent(built, in_report), absent(built, in_report)
    for incident in incidents:  # a conflict's reason never leaves the event
        assert incident.conflict_reason.raw not in built

    submitted = json.loads(await cli.ok("report", "submit", *chair, "--yes", "--json"))
    sid = submitted["receipt"]["submission_id"]
    assert (submitted["receipt"]["log_index"], submitted["already_submitted"]) == (0, False)
    (checked,) = json.loads(await cli.ok("report", "status", *agent, "--json"))
    assert checked["submission_id"] == sid
    assert checked["log"] == {"verified": True, "tree_size": 1, "error": None}
    assert checked["status"] == "received"
    box = await Outbox.open(adir.db_path)
    try:
        (entry,) = await box.entries()
    finally:
        await box.close()
    assert entry.submission_id == sid

    # -- the WG reader: list, open (the canaries, decrypted here), steps, records -----------
    reader = ["--wg-key", str(wg_key), "--passphrase-file", str(wg_pf), "--endpoint", proxy.address]
    rows = json.loads(await cli.ok("registry", "submission", "list", *reader, "--json"))
    assert [(r["submission_id"], r["event_id"], r["status"]) for r in rows] == [
        (sid, event_id, "received")
    ]
    opened_text = await cli.ok("registry", "submission", "open", sid[:8], *reader)
    assert "signature verifies" in opened_text
    assert not absent(opened_text, in_preview), absent(opened_text, in_preview)
    files_dir = tmp_path / "wg-files"
    opened = await cli.ok(
        "registry", "submission", "open", sid, *reader, "--json",
        "--attachments-dir", str(files_dir),
    )  # fmt: skip
    assert not absent(opened, in_report), absent(opened, in_report)
    assert json.loads(opened)["sealed_to"] == [READER]
    written = sorted(Path(p) for p in json.loads(opened)["files_written"])
    assert [p.read_bytes() for p in written] == [e.body for e in evidence]

    ack = ("registry", "submission", "ack", sid[:12], *reader)
    await cli.ok(*ack, "--step", "acknowledged", "--message", step_message.raw)
    await cli.ok(*ack, "--step", "reviewed")
    from_submission = ("registry", "record", "add", "--from-submission", sid, *reader)
    people = json.loads(await cli.ok(*from_submission, "--status", "banned", "--json"))
    assert [p["name"] for p in people] == [
        first.reported[0].raw,
        first.reported[1].raw,
        second.reported[0].raw,
        pending.reported[0].raw,
    ]
    added = json.loads(
        await cli.ok(*from_submission, "--status", "banned", "--all-bad-actors", "--json")
    )
    refs = [a["record_ref"] for a in added]
    # The final decisions' bad actors (people 1 and 3), not the one awaiting a second.
    assert refs == [f"{sid[:8]}-1", f"{sid[:8]}-3"]
    await cli.ok(*ack, "--step", "recorded")
    (checked,) = json.loads(await cli.ok("report", "status", *agent, "--json"))
    assert checked["status"] == "recorded"
    assert [(s["step"], s["member"]) for s in checked["steps"]] == [
        ("acknowledged", READER),
        ("reviewed", READER),
        ("recorded", READER),
    ]
    assert checked["steps"][0]["message"] == step_message.raw

    # The names went in blinded and really match: the event's desk finds the bad actors.
    for person, ref in (
        (first.reported[0], refs[0]),
        (second.bad_actor, refs[1]),
        (pending.reported[0], ""),
    ):
        result = json.loads(await cli.ok("check", *agent, "--name", person.raw, "--json"))
        assert result["record_ref"] == ref, result

    # -- stop the registry, then search everything it received, stored and logged ----------
    running_files = data_dir_files(registry_dir, "while serving")
    assert await asyncio.to_thread(served_registry.stop) == 0
    proxy.close()
    stopped_files = data_dir_files(registry_dir, "after stop")
    log_text = served_registry.log_path.read_text(encoding="utf-8", errors="replace")
    sent, received = proxy.sent(), proxy.received()

    # Positive controls: the capture is the real traffic, and searching it can succeed.
    assert len(sent) >= 12, "each command talking to the registry should have connected"
    assert sum(map(len, sent)) > 10_000, "the proxy captured too little to mean anything"
    assert sum(map(len, received)) > 10_000
    haystacks: dict[str, bytes] = {}
    sent_messages: list[bytes] = []
    received_messages: list[bytes] = []
    for direction, streams, kept in (
        ("client→server", sent, sent_messages),
        ("server→client", received, received_messages),
    ):
        for i, stream in enumerate(streams):
            haystacks[f"proxy capture {direction}, connection {i}"] = stream
            messages, compressed = grpc_messages(stream)
            assert compressed == 0, "a compressed gRPC message would hide a canary"
            kept += messages
            haystacks[f"gRPC messages {direction}, connection {i}"] = b"\x00".join(messages)
    # The sealed report travelled whole through the proxy, both ways (submit, then open).
    assert any(entry.envelope in m for m in sent_messages), "the capture lacks the envelope"
    assert any(entry.envelope in m for m in received_messages)
    all_sent = b"".join(sent)
    assert event_id.encode() in all_sent
    assert sid.encode() in all_sent
    for ref in refs:
        assert ref.encode() in all_sent
    db_bytes = b"".join(v for k, v in running_files.items() if "registry.db" in k)
    assert sid.encode() in db_bytes, "the database search cannot see stored text"
    assert entry.envelope[:64] in b"".join(stopped_files.values())
    assert len(stopped_files) >= 5
    haystacks.update(running_files)
    haystacks.update(stopped_files)
    haystacks["registry log"] = log_text.encode("utf-8")
    for control, places in (
        (event_name, ("gRPC messages client→server", "data dir file registry.db")),
        (step_message, ("gRPC messages client→server", "data dir file registry.db")),
    ):
        found = {h.where for h in find_canaries(haystacks, [control]) if h.form == "raw UTF-8"}
        for place in places:
            assert any(w.startswith(place) for w in found), (control.label, place, found)

    events = log_events(log_text)
    logged = [e for e in events if e.get("event") == "registry.submission_logged"]
    assert [(e["submission_id"], e["event_id"], e["log_index"]) for e in logged] == [
        (sid, event_id, 0)
    ]
    advanced = [e for e in events if e.get("event") == "registry.submission_advanced"]
    assert [(e["submission_id"], e["step"], e["member"]) for e in advanced] == [
        (sid, "acknowledged", READER),
        (sid, "reviewed", READER),
        (sid, "recorded", READER),
    ]
    assert [e["recipient"] for e in events if e.get("event") == "registry.recipient_added"] == [
        READER
    ]
    assert sum(e.get("event") == "registry.record_added" for e in events) == len(refs)
    assert any(e.get("event") == "registry.stopped" for e in events)

    # The files travelled, sealed: as many chunks as they needed, and the registry logged
    # their uploads by counts only.
    uploads = [e for e in events if e.get("event") == "registry.attachment_uploaded"]
    assert sorted(e["blob"] for e in uploads) == list(range(len(evidence)))
    assert sum(len(m) for m in sent_messages) > sum(len(e.body) for e in evidence)

    hits = find_canaries(haystacks, canaries)
    assert not hits, describe(hits)
    # And not a single 64-byte run of any file's bytes, in any form the search knows.
    for e in evidence:
        for at in range(0, len(e.body) - 64, 4096):
            run = e.body[at : at + 64]
            assert not any(run in data for data in haystacks.values()), (e.name, at)

    # The in-process commands' own log lines carry ids and counts, never names.
    log_hits = find_canaries({"in-process CLI stderr": "".join(cli.stderr).encode()}, canaries)
    assert not log_hits, describe(log_hits).replace("reached the registry", "were logged")


# -- what the chair is shown -----------------------------------------------------------------


def test_preview_shows_every_name_and_text_that_leaves() -> None:
    """README: "The chair sees exactly what will leave"; reports.preview: "A readable
    rendering of exactly what the sealed report holds"."""
    canaries = incident_canaries(1, bystander=True, respell_bad_actor=False)
    incident = Incident(
        1,
        canaries.report(),
        "ana",
        "2027-05-02T10:00:00+00:00",
        status="decided",
        notes=[
            Note(
                1,
                "ana",
                "2027-05-02T11:00:00+00:00",
                canaries.note.raw,
                [canaries.note_present.raw],
            )
        ],
        conflicts=[
            Conflict("cai", "cai", canaries.conflict_reason.raw, True, "2027-05-02T10:30:00+00:00")
        ],
        decision=replace(
            canaries.decision(), approved_by=["ana", "ben"], decided_at="2027-05-02T12:00:00+00:00"
        ),
    )
    enrolment = Enrolment(
        "previewconf",
        "PreviewConf",
        "127.0.0.1:1",
        bytes(32),
        "",
        date(2027, 5, 1),
        date(2027, 5, 3),
    )
    report = build_report(enrolment, [incident])
    sealed = json.dumps(report, ensure_ascii=False)
    assert not absent(sealed, canaries.in_report())
    shown = preview(report)
    assert not absent(shown, canaries.in_preview())
    assert not absent(shown, canaries.in_report()), absent(shown, canaries.in_report())
