"""The privacy canary for the agent's flows: no raw identifier may reach the registry.

DESIGN.md, Invariants: "No raw identifier ever reaches the registry process: not in a
request, its database, its logs. A canary test runs every flow with unique canary names
and searches every byte the registry received, stored or logged."

tests/registry/test_canary.py drives the registry's own client code; this test drives the
event's side as an organiser does. The registry runs as a real `lanyard registry serve`
subprocess behind a recording proxy, and the agent's enrolment bundle names the *proxy*,
so every byte the agent sends passes through it. Then, with unique canary identities
(accented names, mixed-case e-mails with +tags):

* `lanyard screen` on a pretix export full of canary rows, including rows that match WG
  records spelt differently and a row with a broken e-mail address;
* `lanyard check --name --email`;
* `lanyard alerts --refresh` after the WG adds a record for a screened canary;
* `lanyard agent serve` as a subprocess: its gRPC Check called with an integration key,
  and its snapshot follower raising an alert when the WG adds another record.

Afterwards the proxy capture, every file in the registry's data directory and the
registry's log are searched for each canary. Positive controls show the search can
succeed: the agent's own directory holds every screened canary in normalised form, the
capture holds the record references and event id, and the registry's log counts exactly
the evaluations the flows needed.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import structlog

from lanyard.client.admin import Identifier, record_messages
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind, normalize
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc
from tests.canary_tools import (
    Canary,
    RecordingProxy,
    ServedProcess,
    carrying,
    data_dir_files,
    describe,
    find_canaries,
    grpc_frames,
    lanyard_argv,
    log_events,
    run_cli,
    serve_registry,
    serve_subprocess,
)

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0
ALERT_TIMEOUT = 20.0
ROWS = 40  # plain canary attendees in the export, besides the special rows
CHECK = "/lanyard.agent.v1.Screening/Check"
PRETIX_HEADER = [
    "Order code",
    "Attendee name: Title",
    "Attendee name: Given name",
    "Attendee name: Family name",
    "Attendee email",
    "Product",
]


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
def restore_structlog() -> Iterator[None]:
    """`cli.main.main` reconfigures structlog for the whole process; put it back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


@dataclass(frozen=True, slots=True)
class Attendee:
    """One export row: its cells, and the canaries its name and e-mail are."""

    ref: str
    title: str
    given: str
    family: str
    email: str
    name_canary: Canary
    email_canary: Canary


def attendee(ref: str, given: str, family: str, email: str, title: str = "") -> Attendee:
    """A row whose name is `given family`; `{token}` in the templates is one fresh token each."""
    name_token, email_token = uuid.uuid4().hex, uuid.uuid4().hex
    given, family = given.format(token=name_token), family.format(token=name_token)
    email = email.format(token=email_token)
    return Attendee(
        ref,
        title,
        given,
        family,
        email,
        Canary(f"{ref} name", Kind.NAME, f"{given} {family}", name_token),
        Canary(f"{ref} e-mail", Kind.EMAIL, email, email_token),
    )


def write_pretix(path: Path, rows: list[Attendee]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(PRETIX_HEADER)
        for r in rows:
            writer.writerow([r.ref, r.title, r.given, r.family, r.email, "Conference ticket"])
    return path


def respelt(label: str, kind: Kind, raw: str, of: Canary) -> Canary:
    """The same person as `of`, spelt differently: a distinct raw string, same identifier."""
    canary = Canary(label, kind, raw, of.token)
    assert raw != of.raw
    assert normalize(kind, raw) == normalize(kind, of.raw), (raw, of.raw)
    return canary


class Cli:
    """`lanyard …` in a worker thread of this process, output captured, stderr kept."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.stderr: list[str] = []

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        self._capsys.readouterr()
        code = await asyncio.wait_for(
            asyncio.to_thread(run_cli, ["--log-level", "debug", "--log-json", *argv]),
            CLI_TIMEOUT,
        )
        out, err = self._capsys.readouterr()
        self.stderr.append(err)
        return code, out, err

    async def ok(self, *argv: str) -> str:
        code, out, err = await self(*argv)
        assert code == 0, f"lanyard {' '.join(argv[:3])} failed: {err[-2000:]}"
        return out


async def check_over_grpc(
    address: str, signer: auth.CallSigner, name: str = "", email: str = ""
) -> screening_pb2.CheckResponse:
    channel = open_channel(address)
    try:
        stub = screening_pb2_grpc.ScreeningStub(channel)
        response: screening_pb2.CheckResponse = await stub.Check(
            request := screening_pb2.CheckRequest(name=name, email=email, caller_ref="GRPC-1"),
            metadata=signer.metadata(CHECK, request),
            timeout=CALL_TIMEOUT,
        )
        return response
    finally:
        await channel.close()


async def wait_for_alert(cli: Cli, agent_dir: Path, ref: str) -> dict[str, Any]:
    """Poll `lanyard alerts --json` until the follower has raised an alert for REF."""
    deadline = time.monotonic() + ALERT_TIMEOUT
    while time.monotonic() < deadline:
        rows = json.loads(await cli.ok("alerts", "--data-dir", str(agent_dir), "--json"))
        found = [r for r in rows if r["ref"] == ref]
        if found:
            assert len(found) == 1, found
            alert: dict[str, Any] = found[0]
            return alert
        await asyncio.sleep(0.2)
    pytest.fail(f"the snapshot follower raised no alert for {ref} within {ALERT_TIMEOUT} s")


async def test_no_raw_identifier_from_the_agent_reaches_the_registry(
    tmp_path: Path,
    served_registry: ServedProcess,
    proxy: RecordingProxy,
    restore_structlog: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry_dir = served_registry.data_dir
    agent_dir = tmp_path / "agent"
    run_id = uuid.uuid4().hex[:8]
    event_id = f"agentcanary-{run_id}"
    ban_ref, flag_ref, late_ref, watch_ref = (
        f"WG-{run_id}-{n}" for n in ("BAN", "FLAG", "LATE", "WATCH")
    )
    cli = Cli(capsys)
    reg = ["--data-dir", str(registry_dir), "--endpoint", proxy.address]
    agent = ["--data-dir", str(agent_dir)]

    # -- canaries: the export's rows, walk-ins, and WG records spelt unlike the rows ----
    crowd = [
        attendee(
            f"ORD{i:04d}",
            "Zoë-Aurélie" if i % 2 else "Łukasz Ñandú",
            "Çanary-Ångström Zq{token}",
            f"Zoë.Çanary.{{token}}+Ticket{i}@Example.ORG",
            title="Dr" if i % 5 == 0 else "",
        )
        for i in range(ROWS)
    ]
    banned = attendee("ORD-BAN", "PÉRSÖN", "ÇANÄRY, ZQ{token}", "CANARY.{token}+Pretix@Example.ORG")
    flagged = attendee(
        "ORD-FLAG", "Flägged", "Çanary Zq{token}", "Other.{token}+X@Example.NET", "Ms"
    )
    broken = attendee("ORD-BROKEN", "Ïnvalid", "Çanary Zq{token}", "Broken.{token}.Example.ORG")
    wg_banned_name = respelt(
        "WG banned name",
        Kind.NAME,
        f"Canary Zq{banned.name_canary.token} Person",
        banned.name_canary,
    )
    wg_banned_email = respelt(
        "WG banned e-mail",
        Kind.EMAIL,
        f"canary.{banned.email_canary.token.upper()}@EXAMPLE.org",
        banned.email_canary,
    )
    wg_flagged_name = respelt(
        "WG flagged name",
        Kind.NAME,
        f"ZQ{flagged.name_canary.token.upper()}, FLAGGED ÇANARY",
        flagged.name_canary,
    )
    late, watched = crowd[3], crowd[8]
    wg_late_email = respelt(
        "WG late e-mail",
        Kind.EMAIL,
        late.email.split("+")[0].upper() + "+wg@example.org",
        late.email_canary,
    )
    wg_watched_name = respelt(
        "WG watched name",
        Kind.NAME,
        f"{watched.family.upper()}, {watched.given}",
        watched.name_canary,
    )
    desk = attendee("DESK", "Chéck", "Désk-Walkïn Zq{token}", "Desk.{token}+Walkin@Example.ORG")
    buyer = attendee("GRPC", "Grpc", "Bûyer Zq{token}", "Buyer.{token}+Pretix@EXAMPLE.org")
    buyer_again = respelt(
        "gRPC banned e-mail",
        Kind.EMAIL,
        f"Canary.{banned.email_canary.token}+Grpc@example.ORG",
        banned.email_canary,
    )
    export_rows = [*crowd[:10], banned, *crowd[10:25], broken, flagged, *crowd[25:]]
    screened_people = [*crowd, banned, flagged]
    canaries = [c for a in [*export_rows, desk, buyer] for c in (a.name_canary, a.email_canary)]
    canaries += [
        wg_banned_name,
        wg_banned_email,
        wg_flagged_name,
        wg_late_email,
        wg_watched_name,
        buyer_again,
    ]
    assert len({c.token for c in canaries}) == 2 * (len(export_rows) + 2)

    # -- set-up as typed: init, enrol (the bundle names the proxy), pin ------------------
    await cli.ok("agent", "init", *agent, "--listen", "127.0.0.1:0")
    bundle = tmp_path / "bundle.json"
    await cli.ok(
        "registry",
        "event",
        "enroll",
        *reg,
        "--id",
        event_id,
        "--name",
        f"Agent Canary Conf {run_id}",
        "--starts",
        "2027-05-01",
        "--ends",
        "2027-05-03",
        "--public-key",
        f"@{agent_dir / 'event.pub'}",
        "--quota",
        "1000",
        "--out",
        str(bundle),
    )
    assert json.loads(bundle.read_text(encoding="utf-8"))["endpoint"] == proxy.address
    await cli.ok("agent", "enroll", *agent, str(bundle))

    async def add_record(ref: str, status: str, *identifiers: Canary) -> None:
        flags = [f"--{c.kind.value}={c.raw}" for c in identifiers]
        out = await cli.ok(
            "registry", "record", "add", *reg, "--ref", ref, "--status", status, *flags, "--json"
        )
        forms = record_messages([Identifier(c.kind, c.raw) for c in identifiers])
        assert json.loads(out)["identifiers"] == len(forms)

    await add_record(ban_ref, "banned", wg_banned_name, wg_banned_email)
    await add_record(flag_ref, "flagged", wg_flagged_name)

    # -- batch screening ----------------------------------------------------------------
    export = write_pretix(tmp_path / "exports" / "pretix-orders.csv", export_rows)
    # One row is broken on purpose: it is reported, and the run exits 1 for it.
    code, out, err = await cli("screen", str(export), *agent, "--json")
    assert code == 1, err[-2000:]
    outcome = json.loads(out)
    assert outcome["summary"] == {
        # The broken row's e-mail is no address: its name is screened, and it is reported.
        "screened": len(screened_people) + 1,
        "clear": ROWS + 1,
        "review": 1,
        "deny": 1,
        "skipped": 1,
        "repaired": 0,
        "resumed_after_line": 0,
        "already_screened": False,
    }
    assert {(m["ref"], m["decision"], m["record_ref"]) for m in outcome["matches"]} == {
        ("ORD-BAN", "deny", ban_ref),
        ("ORD-FLAG", "review", flag_ref),
    }
    assert [(s["ref"], s["line"]) for s in outcome["skipped"]] == [("ORD-BROKEN", 28)]
    code, again, err = await cli("screen", str(export), *agent)
    assert code == 1, err[-2000:]
    assert "already screened" in again

    # -- one person at the desk ---------------------------------------------------------
    desk_result = json.loads(
        await cli.ok(
            "check", *agent, "--name", desk.name_canary.raw, "--email", desk.email, "--json"
        )
    )
    assert desk_result["decision"] == "allow"

    # -- the WG adds a record for a screened person: alerts --refresh ----------------------
    await add_record(late_ref, "banned", wg_late_email)
    alerts = json.loads(await cli.ok("alerts", *agent, "--refresh", "--json"))
    assert [(a["ref"], a["kind"], a["decision"], a["record_ref"]) for a in alerts] == [
        (late.ref, "new-match", "deny", late_ref)
    ]

    # -- a ticketing system calls Check on the served agent --------------------------------
    creds_path = tmp_path / "pretix-credentials.json"
    await cli.ok("agent", "integration", "add", *agent, "pretix", "--out", str(creds_path))
    creds = json.loads(creds_path.read_text(encoding="utf-8"))
    signer = auth.CallSigner(
        creds["key_id"], nacl.signing.SigningKey(bytes.fromhex(creds["private_key"]))
    )
    serve_argv = lanyard_argv("agent", "serve", *agent, "--listen", "127.0.0.1:0")
    with serve_subprocess("agent", serve_argv, agent_dir, tmp_path / "agent.log") as served_agent:
        fresh = await check_over_grpc(
            served_agent.endpoint, signer, buyer.name_canary.raw, buyer.email
        )
        assert fresh.decision == screening_pb2.DECISION_ALLOW
        known = await check_over_grpc(served_agent.endpoint, signer, email=buyer_again.raw)
        assert (known.decision, known.record_ref) == (screening_pb2.DECISION_DENY, ban_ref)

        # -- the follower: the WG adds a record, the served agent raises an alert -----------
        await add_record(watch_ref, "flagged", wg_watched_name)
        alert = await wait_for_alert(cli, agent_dir, watched.ref)
        assert (alert["kind"], alert["decision"], alert["record_ref"]) == (
            "new-match",
            "review",
            watch_ref,
        )
        assert await asyncio.to_thread(served_agent.stop) == 0

    # -- stop everything, then search -----------------------------------------------------
    running_files = data_dir_files(registry_dir, "while serving")
    assert await asyncio.to_thread(served_registry.stop) == 0
    proxy.close()
    stopped_files = data_dir_files(registry_dir, "after stop")
    log_text = served_registry.log_path.read_text(encoding="utf-8", errors="replace")
    sent, received = proxy.sent(), proxy.received()

    # Positive controls: the data really flowed, and the search can find it.
    agent_bytes = b"".join(data_dir_files(agent_dir, "after stop").values())
    held = [c for a in [*screened_people, desk, buyer] for c in (a.name_canary, a.email_canary)]
    held.append(broken.name_canary)
    missing = [c.label for c in held if c.forms()["normalised UTF-8"] not in agent_bytes]
    assert not missing, f"the agent's directory lacks these screened identities: {missing}"
    # A cell that cannot be screened is reported by line and reference, and not kept.
    assert broken.email_canary.token.encode() not in agent_bytes
    assert len(sent) >= 8, "each command and the served agent should have connected"
    for stream in carrying(sent):
        messages, compressed = grpc_frames(stream)
        assert messages > 0
        assert compressed == 0, "a compressed gRPC message would hide a canary from the search"
    all_sent = b"".join(sent)
    assert event_id.encode() in all_sent
    for ref in (ban_ref, flag_ref, late_ref, watch_ref):
        assert ref.encode() in all_sent
    db_bytes = b"".join(v for k, v in running_files.items() if "registry.db" in k)
    assert ban_ref.encode() in db_bytes, "the database search cannot see stored text"
    events = log_events(log_text)
    evaluated = [e for e in events if e.get("event") == "registry.evaluated"]
    # The export's good rows (two identifiers each) in one batch, the desk check, the
    # first gRPC Check; the known person, the refresh and the follower evaluate nothing.
    assert [(e["event_id"], e["count"]) for e in evaluated] == [
        (event_id, 2 * len(screened_people) + 1),
        (event_id, 2),
        (event_id, 2),
    ]
    assert any(e.get("event") == "registry.stopped" for e in events)

    haystacks: dict[str, bytes] = {}
    for i, stream in enumerate(sent):
        haystacks[f"proxy capture client→server, connection {i}"] = stream
    for i, stream in enumerate(received):
        haystacks[f"proxy capture server→client, connection {i}"] = stream
    haystacks.update(running_files)
    haystacks.update(stopped_files)
    haystacks["registry log"] = log_text.encode("utf-8")
    hits = find_canaries(haystacks, canaries)
    assert not hits, describe(hits)

    # Logs carry ids and counts, never identities: the agent's too (DESIGN.md, Invariants).
    agent_logs = {
        "agent serve log": (tmp_path / "agent.log").read_bytes(),
        "in-process CLI stderr": "".join(cli.stderr).encode("utf-8"),
    }
    assert b"agent.listening" in agent_logs["agent serve log"]
    log_hits = find_canaries(agent_logs, canaries)
    assert not log_hits, describe(log_hits).replace("reached the registry", "were logged")
    assert not (agent_dir / "endpoint").exists(), "agent serve left its endpoint file"
