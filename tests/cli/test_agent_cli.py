"""The organiser's commands as typed: `lanyard agent …`, `screen`, `check`, `alerts`.

The CLI runs in this process, in a worker thread (it runs its own event loop), while a real
registry serves on loopback in the test's loop. Every failure must be one sentence on
stderr starting with "Error:", exit status 1 and no traceback (DESIGN.md, Interfaces).
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir
from tests.canary_tools import run_cli

CLI_TIMEOUT = 30.0
PRETIX_HEADER = ["Order code", "Attendee name", "Attendee email"]
PEOPLE = [
    ("ORD-001", "Ada Lovelace", "ada@example.org"),
    ("ORD-002", "BLAKE, Jordan", "Jordan.Blake+conf@Example.NET"),
    ("ORD-003", "Grace Hopper", "grace@example.org"),
    ("ORD-004", "sam  RIVERA", "sam@elsewhere.example"),
    ("ORD-005", "Alan Turing", "alan@example.org"),
    ("ORD-006", "Katherine Johnson", "kj@example.org"),
]
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def lanyard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a thread while the registry serves; (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = await asyncio.wait_for(asyncio.to_thread(run_cli, list(argv)), CLI_TIMEOUT)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_sentence(result: tuple[int, str, str], *needles: str) -> str:
    """Exit status 1 and one sentence on stderr that says what is wrong; returns it."""
    code, _, err = result
    assert code == 1, err
    assert "Traceback" not in err
    assert err.startswith("Error: "), err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    sentence = lines[0].removeprefix("Error: ")
    assert sentence.endswith((".", "?")), sentence
    assert not re.search(r"[.!?]\s+[A-Z]", sentence), f"more than one sentence: {sentence}"
    for needle in needles:
        assert needle in sentence, sentence
    return sentence


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def add_wg_records(admin: AdminClient) -> None:
    await admin.add_record(
        "WG-BAN",
        "banned",
        [Identifier(Kind.EMAIL, "jordan.blake@example.net"), Identifier(Kind.NAME, "Jordan Blake")],
    )
    await admin.add_record("WG-FLAG", "flagged", [Identifier(Kind.NAME, "Sam Rivera")])


@pytest.fixture
async def agent_dir(tmp_path: Path, admin: AdminClient, registry: RunningRegistry) -> Path:
    """An agent initialised and enrolled with the registry, which holds two records."""
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    await add_wg_records(admin)
    return adir.path


# -- the organiser's day ---------------------------------------------------------------------


async def test_organiser_workflow(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    admin: AdminClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    agent_dir = tmp_path / "agent"
    d = ["--data-dir", str(agent_dir)]

    code, out, err = await lanyard(capsys, "agent", "init", *d)
    assert code == 0, err
    public_hex = (agent_dir / "event.pub").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", public_hex)
    assert public_hex in out
    assert mode(agent_dir) == 0o700
    for secret in ("event.key", "agent.toml"):
        assert mode(agent_dir / secret) == 0o600, secret
    assert mode(agent_dir / "event.pub") & 0o022 == 0
    code, _, err = await lanyard(capsys, "agent", "init", *d)
    assert_one_sentence((code, "", err), "already holds an agent")

    bundle = tmp_path / "bundle.json"
    code, out, err = await lanyard(
        capsys,
        "registry",
        "event",
        "enroll",
        "--data-dir",
        str(registry_dir.path),
        "--id",
        "pyconfr-2027",
        "--name",
        "PyCon FR",
        "--starts",
        "2027-05-01",
        "--ends",
        "2027-05-03",
        "--public-key",
        f"@{agent_dir / 'event.pub'}",
        "--out",
        str(bundle),
    )
    assert code == 0, err
    code, out, err = await lanyard(capsys, "agent", "enroll", *d, str(bundle))
    assert code == 0, err
    assert "Enrolled as pyconfr-2027" in out
    assert json.loads((agent_dir / "enrolment.json").read_text())["endpoint"] == registry.address
    await add_wg_records(admin)

    # Screening: a summary line and the matches, and nothing about the clear rows.
    export = write_csv(tmp_path / "orders.csv", PRETIX_HEADER, PEOPLE)
    code, out, err = await lanyard(capsys, "screen", str(export), *d)
    assert code == 0, err
    assert "Screened 6: 4 clear, 1 review, 1 deny, 0 not fully screened." in out
    assert "Matches" in out
    for ref, record in (("ORD-002", "WG-BAN"), ("ORD-004", "WG-FLAG")):
        assert re.search(rf"{ref}\b.*\b{record}\b", out), out
    assert "ORD-001" not in out
    assert "Jordan" not in out

    code, out, err = await lanyard(capsys, "screen", str(export), *d)
    assert code == 0, err
    assert "already screened" in out
    assert "Screened 6: 4 clear, 1 review, 1 deny, 0 not fully screened." in out

    code, out, err = await lanyard(capsys, "screen", str(export), *d, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"] == {
        "screened": 6,
        "clear": 4,
        "review": 1,
        "deny": 1,
        "skipped": 0,
        "repaired": 0,
        "resumed_after_line": 0,
        "already_screened": True,
    }
    assert {(m["line"], m["ref"], m["decision"], m["record_ref"]) for m in data["matches"]} == {
        (3, "ORD-002", "deny", "WG-BAN"),
        (5, "ORD-004", "review", "WG-FLAG"),
    }

    as_json, as_csv = tmp_path / "results.json", tmp_path / "results.csv"
    code, out, err = await lanyard(capsys, "screen", str(export), *d, "--out", str(as_json))
    assert code == 0, err
    assert json.loads(as_json.read_text(encoding="utf-8"))["matches"] == data["matches"]
    code, out, err = await lanyard(capsys, "screen", str(export), *d, "--out", str(as_csv))
    assert code == 0, err
    with as_csv.open(newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert sorted((r["ref"], r["decision"], r["record_ref"]) for r in written) == [
        ("ORD-002", "deny", "WG-BAN"),
        ("ORD-004", "review", "WG-FLAG"),
    ]

    # One person at the desk.
    code, out, err = await lanyard(
        capsys,
        "check",
        *d,
        "--name",
        "Jordan Blake",
        "--email",
        "JORDAN.BLAKE@example.net",
        "--json",
    )
    assert code == 0, err
    checked = json.loads(out)
    assert checked.pop("snapshot_age_seconds") < 60  # just confirmed with the registry
    assert checked.pop("snapshot_version") > 0
    assert checked == {
        "decision": "deny",
        "reason": "banned-confirmed",
        "matched": "confirmed",
        "record_ref": "WG-BAN",
    }

    # The WG adds a record for someone already screened: an alert, no new evaluation.
    code, out, err = await lanyard(capsys, "alerts", *d, "--json")
    assert (code, json.loads(out)) == (0, [])
    await admin.add_record("WG-LATE", "banned", [Identifier(Kind.EMAIL, "grace@example.org")])
    code, out, err = await lanyard(capsys, "alerts", *d, "--refresh", "--json")
    assert code == 0, err
    assert [(a["ref"], a["kind"], a["decision"], a["record_ref"]) for a in json.loads(out)] == [
        ("ORD-003", "new-match", "deny", "WG-LATE")
    ]

    # A ticketing system's key.
    creds = tmp_path / "pretix-credentials.json"
    code, out, err = await lanyard(
        capsys, "agent", "integration", "add", *d, "pretix", "--out", str(creds)
    )
    assert code == 0, err
    assert mode(creds) == 0o600
    secret = json.loads(creds.read_text(encoding="utf-8"))
    assert secret["key_id"] == "integration:pretix"
    assert re.fullmatch(r"[0-9a-f]{64}", secret["private_key"])
    nacl.signing.SigningKey(bytes.fromhex(secret["private_key"]))
    assert secret["private_key"] not in out
    code, out, err = await lanyard(capsys, "agent", "integration", "revoke", *d, "pretix")
    assert code == 0, err
    assert "pretix revoked" in out
    result = await lanyard(capsys, "agent", "integration", "revoke", *d, "pretix")
    assert_one_sentence(result, "pretix")

    # Retention: the event has not ended yet.
    code, out, err = await lanyard(capsys, "agent", "retention", "apply", *d)
    assert code == 0, err
    assert "Attendee data: kept until" in out
    code, out, err = await lanyard(capsys, "alerts", *d, "--json")
    assert len(json.loads(out)) == 1, "retention must not have deleted anything"

    # Acknowledging: an unknown number is refused and changes nothing; --all takes the rest.
    [open_alert] = json.loads(out)
    result = await lanyard(capsys, "alerts", "ack", *d, "999")
    assert_one_sentence(result, "open alert 999")
    code, out, err = await lanyard(capsys, "alerts", "ack", *d, "--all", "--json")
    assert (code, json.loads(out)) == (0, {"acknowledged": [open_alert["alert_id"]]}), err
    code, out, err = await lanyard(capsys, "alerts", *d, "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, err = await lanyard(capsys, "alerts", *d, "--all", "--json")
    assert [a["alert_id"] for a in json.loads(out)] == [open_alert["alert_id"]]

    # Status: all is well (no serve running is not a problem in itself).
    code, out, err = await lanyard(capsys, "agent", "status", *d, "--json")
    status = json.loads(out)
    assert (code, status["problems"]) == (0, []), err
    assert status["registry"]["reachable"] is True
    assert status["quota"]["used"] + status["quota"]["left"] == status["quota"]["quota"]
    assert (status["alerts_open"], status["outbox_pending"]) == (0, 0)
    assert status["rotation"] == {"next_epoch": None, "pending_identities": 0}
    assert status["serve"] == {"running": False, "tasks": {}}


async def test_a_malformed_row_is_listed_and_the_rest_runs(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "broken.csv"
    export.write_text(
        "Order code,Attendee name,Attendee email\n"
        "ORD-1,Ada Lovelace,ada@example.org\n"
        'ORD-2,"Unclosed "quote,broken@example.org\n'
        "ORD-3,Grace Hopper,grace@example.org\n"
        "ORD-4,No Address,not-an-address\n"
        "ORD-5,Jordan Blake,jordan.blake@example.net\n",
        encoding="utf-8",
    )
    d = ["--data-dir", str(agent_dir)]
    code, out, err = await lanyard(capsys, "screen", str(export), *d)
    assert code == 1, err  # the others were screened, but not every row
    assert "2 row(s) of" in err
    assert "were not screened" in err
    # ORD-4's name is screened; its e-mail is not an address.
    assert "Screened 4: 3 clear, 0 review, 1 deny, 2 not fully screened." in out
    assert "Rows not screened, or screened in part" in out
    skipped_table = out[out.index("Rows not screened") :]
    assert re.search(r"\b3\b.*malformed", skipped_table), skipped_table
    assert re.search(r"\b5\b.*ORD-4.*invalid", skipped_table), skipped_table
    assert "ORD-5" in out[: out.index("Rows not screened")]

    results = tmp_path / "results.csv"
    code, out, err = await lanyard(
        capsys, "screen", str(export), *d, "--json", "--out", str(results)
    )
    assert code == 1, err
    data = json.loads(out)
    assert [(s["line"], s["ref"]) for s in data["skipped"]] == [(3, "line 3"), (5, "ORD-4")]
    assert [(m["line"], m["ref"], m["decision"]) for m in data["matches"]] == [(6, "ORD-5", "deny")]
    # The CSV a spreadsheet reads lists the unscreened rows too: it never reads as clear.
    with results.open(encoding="utf-8", newline="") as fh:
        rows = [(r["line"], r["ref"], r["decision"]) for r in csv.DictReader(fh)]
    assert rows == [
        ("6", "ORD-5", "deny"),
        ("3", "line 3", "unscreened"),
        ("5", "ORD-4", "unscreened"),
    ]


# -- every mistake is one sentence ------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """What the organiser types (given the agent dir and a scratch dir) and what the error says."""

    argv: Callable[[Path, Path], list[str]]
    says: tuple[str, ...]


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _screen(path: Path, agent: Path, *extra: str) -> list[str]:
    return ["screen", str(path), "--data-dir", str(agent), *extra]


def _good_export(scratch: Path) -> Path:
    return write_csv(scratch / "orders.csv", PRETIX_HEADER, PEOPLE[:2])


def _not_enrolled(agent: Path, scratch: Path) -> list[str]:
    (agent / "enrolment.json").unlink()
    return _screen(_good_export(scratch), agent)


def _corrupt_enrolment(agent: Path, scratch: Path) -> list[str]:
    (agent / "enrolment.json").write_bytes(b'{"format": "lanyard-enrol')
    return _screen(_good_export(scratch), agent)


MISTAKES = {
    "unknown CSV layout": Mistake(
        lambda a, s: _screen(_file(s / "x.csv", b"Foo,Bar,Baz\n1,2,3\n"), a),
        ("Foo, Bar, Baz", "--name-col", "--email-col"),
    ),
    "empty file": Mistake(lambda a, s: _screen(_file(s / "empty.csv", b""), a), ("is empty",)),
    "binary file": Mistake(
        lambda a, s: _screen(_file(s / "logo.csv", PNG_BYTES), a), ("not UTF-8 or UTF-16 text",)
    ),
    "missing file": Mistake(
        lambda a, s: _screen(s / "nowhere.csv", a), ("nowhere.csv", "does not exist")
    ),
    "--name-col names a missing column": Mistake(
        lambda a, s: _screen(_good_export(s), a, "--name-col", "Nom complet"),
        ("'Nom complet'", "--name-col", "Attendee name"),
    ),
    "--role boss": Mistake(
        lambda a, s: _screen(_good_export(s), a, "--role", "boss"),
        ("--role must be attendee or speaker", "boss"),
    ),
    "screening when not enrolled": Mistake(_not_enrolled, ("agent enroll",)),
    "agent dir missing": Mistake(
        lambda a, s: _screen(_good_export(s), s / "no-agent-here"), ("agent init",)
    ),
    "check with the agent dir missing": Mistake(
        lambda a, s: ["check", "--data-dir", str(s / "no-agent"), "--name", "A B"],
        ("agent init",),
    ),
    "corrupt enrolment.json": Mistake(_corrupt_enrolment, ("enrolment.json",)),
    "agent enroll with a JSON file that is not a bundle": Mistake(
        lambda a, s: [
            "agent",
            "enroll",
            "--data-dir",
            str(a),
            str(_file(s / "b.json", b'{"hello": "world"}')),
        ],
        ("not a Lanyard enrolment bundle",),
    ),
    "agent enroll with a CSV instead of the bundle": Mistake(
        lambda a, s: ["agent", "enroll", "--data-dir", str(a), str(_good_export(s))],
        ("orders.csv", "not JSON"),
    ),
    "check with neither name nor e-mail": Mistake(
        lambda a, s: ["check", "--data-dir", str(a)], ("needs a name or an e-mail",)
    ),
    "check with a broken e-mail": Mistake(
        lambda a, s: ["check", "--data-dir", str(a), "--email", "not-an-address"],
        ("not usable", "'@'"),
    ),
    "damaged agent.db": Mistake(
        lambda a, s: ["check", "--data-dir", str(_file(a / "agent.db", b"garbage" * 512).parent)],
        ("agent.db", "cannot be opened"),
    ),
    "truncated event.key": Mistake(
        lambda a, s: _screen(_good_export(s), _file(a / "event.key", b"short").parent),
        ("event.key", "32 bytes"),
    ),
    "agent enroll with a missing bundle": Mistake(
        lambda a, s: ["agent", "enroll", "--data-dir", str(a), str(s / "bundle.json")],
        ("bundle.json",),
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
async def test_mistakes_are_one_sentence(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mistake: Mistake
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = await lanyard(capsys, *mistake.argv(agent_dir, scratch))
    assert_one_sentence(result, *mistake.says)
    assert result[1] == "", "a failed command prints no partial results"


async def test_registry_down_is_one_sentence_naming_the_registry(
    agent_dir: Path, registry: RunningRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(agent_dir)]
    export = _good_export(tmp_path)
    await registry.server.stop(0)
    assert_one_sentence(
        await lanyard(capsys, "screen", str(export), *d),
        f"registry at {registry.address}",
        "nothing was screened",
    )
    assert_one_sentence(await lanyard(capsys, "check", *d, "--name", "Ada Lovelace"), "registry")
    assert_one_sentence(
        await lanyard(capsys, "alerts", *d, "--refresh"), f"registry at {registry.address}"
    )


async def test_a_check_from_the_list_held_says_the_newest_could_not_be_fetched(
    agent_dir: Path, registry: RunningRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(agent_dir)]
    code, out, err = await lanyard(capsys, "check", *d, "--name", "Ada Lovelace")
    assert code == 0, err
    assert "Warning" not in err
    await registry.server.stop(0)
    # Known under the list held: answered, and the person is told the list was not renewed.
    code, out, err = await lanyard(capsys, "check", *d, "--name", "Ada Lovelace")
    assert code == 0, err
    assert "ALLOW" in out
    assert "newest list could not be fetched" in err
    assert re.search(r"the list held, \d+ seconds? old", " ".join(err.split())), err


# -- the registry answers, but refuses -------------------------------------------------------


@pytest.mark.parametrize("command", ["screen", "check"])
@pytest.mark.parametrize("cause", ["revoked", "quota"])
async def test_a_refusal_says_why_not_that_the_registry_is_down(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    capsys: pytest.CaptureFixture[str],
    command: str,
    cause: str,
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address, quota=1)
    await add_wg_records(admin)
    if cause == "revoked":
        await admin.revoke_event("agentconf-2027")
    d = ["--data-dir", str(adir.path)]
    argv = (
        ["screen", str(_good_export(tmp_path)), *d]
        if command == "screen"
        else ["check", *d, "--name", "Ada Lovelace", "--email", "ada@example.org"]
    )
    sentence = assert_one_sentence(await lanyard(capsys, *argv))
    assert ("revoked" if cause == "revoked" else "quota") in sentence, sentence
    for misleading in ("cannot reach", "unreachable", "stopped answering", "run the same command"):
        assert misleading not in sentence, sentence


async def test_agent_retention_integration_rotation_and_rekey(
    agent_dir: Path, admin: AdminClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(agent_dir)]
    code, out, err = await lanyard(capsys, "agent", "retention", "show", *d, "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "attendee_days": 30,
        "warning_incident_days": 730,
        "attendee_days_from_config": False,
    }
    code, out, err = await lanyard(capsys, "agent", "retention", "set", *d, "--attendee-days", "14")
    assert code == 0, err
    assert "deleted 14 days after" in out
    code, out, err = await lanyard(capsys, "agent", "retention", "apply", *d, "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["attendee_cutoff"], plan["attendees"]) == ("2027-05-17", 0)
    assert plan["incidents_checked"] is True  # no incident records are set up here
    assert_one_sentence(
        await lanyard(capsys, "agent", "retention", "set", *d, "--warning-days", "0"),
        "must be 1 to 36500 days, got 0",
    )

    creds = tmp_path / "pretix.json"
    code, _, err = await lanyard(
        capsys, "agent", "integration", "add", *d, "pretix", "--out", str(creds)
    )
    assert code == 0, err
    new_creds = tmp_path / "pretix-new.json"
    code, out, err = await lanyard(
        capsys, "agent", "integration", "rotate", *d, "pretix", "--out", str(new_creds)
    )
    assert code == 0, err
    assert "old key still works" in out
    assert (
        json.loads(new_creds.read_text())["private_key"]
        != json.loads(creds.read_text())["private_key"]
    )
    code, out, err = await lanyard(capsys, "agent", "integration", "retire-old", *d, "pretix")
    assert code == 0, err
    assert_one_sentence(
        await lanyard(capsys, "agent", "integration", "retire-old", *d, "pretix"),
        "no previous key",
    )

    old_public = (agent_dir / "event.pub").read_text().strip()
    code, out, err = await lanyard(capsys, "agent", "rekey", *d, "--yes")
    assert code == 0, err
    new_public = (agent_dir / "event.pub").read_text().strip()
    assert new_public != old_public
    assert new_public in out
    [event] = await admin.list_events()
    assert event.public_key.hex() == new_public
    assert [k.hex() for k in event.retired_public_keys] == [old_public]
    code, out, err = await lanyard(capsys, "alerts", *d, "--refresh", "--json")
    assert code == 0, err  # the agent talks to the registry with its new key


# -- the registry answers, but its proof fails ------------------------------------------------


async def test_a_failed_evaluation_proof_stops_screen_and_raises_an_alert(
    tmp_path: Path, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.agent.test_evaluation_proof import OtherKeyForOneEvent

    keys = OtherKeyForOneEvent({1: registry_dir.oprf_key(1)}, "agentconf-2027")
    async with server.running(registry_dir, epoch_keys=keys) as running:
        channel = open_channel(running.address)
        try:
            admin = AdminClient(channel, registry_dir.admin_key())
            await add_wg_records(admin)
            adir = await enrolled_agent_dir(tmp_path, admin, running.address)
            d = ["--data-dir", str(adir.path)]
            sentence = assert_one_sentence(
                await lanyard(capsys, "screen", str(_good_export(tmp_path)), *d),
                "The registry's evaluation proof failed",
                "stopped after 0 rows",
                "operator alert",
            )
            assert "clear" not in sentence
            assert_one_sentence(
                await lanyard(capsys, "check", *d, "--name", "Ada Lovelace"),
                "Cannot decide: the registry's evaluation proof failed",
            )
            code, out, err = await lanyard(capsys, "alerts", *d, "--json")
            assert code == 0, err
            faults = [a for a in json.loads(out) if a["kind"].startswith("registry-fault")]
            assert len(faults) >= 2
            assert {a["kind"] for a in faults} == {"registry-fault:evaluation-proof"}
            code, out, err = await lanyard(capsys, "alerts", *d)
            assert code == 0, err
            assert "Registry faults" in out
            # Once understood with the WG, the faults are acknowledged: by number (an id
            # that is not open acknowledges nothing), then every one left.
            first = faults[0]["fault_id"]
            assert_one_sentence(
                await lanyard(capsys, "alerts", "ack-fault", *d, str(first), "999"),
                "No open registry fault 999",
            )
            code, out, err = await lanyard(capsys, "alerts", "ack-fault", *d, str(first))
            assert code == 0, err
            assert f"Acknowledged 1 registry fault(s): {first}." in out
            code, out, err = await lanyard(capsys, "alerts", "ack-fault", *d, "--all", "--json")
            assert code == 0, err
            assert sorted(json.loads(out)["acknowledged"]) == sorted(
                f["fault_id"] for f in faults[1:]
            )
            code, out, err = await lanyard(capsys, "alerts", *d)
            assert code == 0, err
            assert "Registry faults" not in out
            code, out, err = await lanyard(capsys, "alerts", *d, "--all", "--json")
            assert code == 0, err
            assert len([a for a in json.loads(out) if a["fault_id"] is not None]) == len(faults)
        finally:
            await channel.close()


async def test_screen_names_its_columns_reads_buyers_and_takes_every_flag(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(agent_dir)]
    # A form export: given and family name as questions nobody could guess, ';'-separated,
    # the banned person only as the buyer, and an escape sequence in a reference.
    export = tmp_path / "form.csv"
    export.write_text(
        "Q1;Q2;Contact;Paid by;Ticket\n"
        "Ada;Lovelace;ada@example.org;jordan.blake@example.net;\x1b[31mT-1\n"
        "Grace;Hopper;grace@example.org;;T-2\n",
        encoding="utf-8",
    )
    code, out, err = await lanyard(capsys, "screen", str(export), *d, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["columns"]["email"] == {"columns": ["Contact"], "found_by": "content"}
    assert data["columns"]["name"]["columns"] == []
    assert any("--name-col" in w and "Q1" in w for w in data["warnings"])
    assert any("'Paid by' holds e-mail addresses" in w for w in data["warnings"])

    flags = ["--name-col", "Q1", "--name-col", "Q2", "--email-col", "Contact"]
    flags += ["--buyer-email-col", "Paid by", "--ref-col", "Ticket", "--delimiter", ";"]
    out_csv = tmp_path / "results.csv"
    code, out, err = await lanyard(capsys, "screen", str(export), *d, *flags, "--out", str(out_csv))
    assert code == 0, err
    text = " ".join(out.split())
    assert "attendee name 'Q1' + 'Q2' (flag)" in text
    assert "buyer e-mail 'Paid by' (flag)" in text
    assert "Screened 2: 1 clear, 0 review, 1 deny, 0 not fully screened." in text
    assert "\x1b" not in out
    assert "\\x1b[31mT-1" in out
    assert "buyer" in out
    with out_csv.open(newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [(r["line"], r["person"], r["decision"], r["record_ref"]) for r in written] == [
        ("2", "buyer", "deny", "WG-BAN")
    ]
    assert written[0]["columns"] == "e-mail: Paid by"

    code, _, err = await lanyard(capsys, "screen", str(export), *d, "--delimiter", ";;")
    assert_one_sentence((code, "", err), "--delimiter must be one character")
