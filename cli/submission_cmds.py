"""`lanyard registry submission …` and `registry record add --from-submission`: the WG's
side of end-of-event reports.

A WG member lists what events submitted, opens a report with their own key on their own
machine (the registry holds only ciphertext), checks the event's signatures, signs each
step the event will see, and turns the people a report names into records through the
blinded round, so names go from this machine into blinded points only. Names are printed
to the member's terminal when asked for and never reach a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.admin_client import AdminClient, Identifier
from cli.output import CliError, console, emit_json, table
from cli.wg_cmds import (
    Endpoint,
    JsonOut,
    RegistryDataDir,
    Session,
    WgKey,
    WgPassphraseFile,
    member_session,
    operator_session,
    say,
)
from lanyard.registry.v1 import reports_pb2
from services.core import envelope, keys
from services.core.errors import Error as CoreError
from services.core.identity import Kind, normalize
from services.core.wg_member import MemberKeys
from services.event_agent.reports import preview

submission_app = typer.Typer(
    help="End-of-event reports held by the registry: list, open, acknowledge.",
    no_args_is_help=True,
)
SubmissionId = Annotated[
    str, typer.Argument(help="The submission's id, or enough of its start to be unique.")
]


async def resolve(client: AdminClient, wanted: str) -> reports_pb2.SubmissionInfo:
    """The one submission whose id starts with `wanted`."""
    prefix = wanted.strip().lower()
    found = [
        s for s in await client.list_submissions() if s.receipt.submission_id.startswith(prefix)
    ]
    if not found or not prefix:
        raise CliError(f"the registry holds no submission {wanted[:40]}")
    if len(found) > 1:
        raise CliError(f"{wanted} matches {len(found)} submissions; give more of the id")
    return found[0]


def _steps(steps: Any) -> list[dict[str, str]]:
    return [{"step": s.step, "member": s.member, "at": s.at, "message": s.message} for s in steps]


def steps_table(steps: list[dict[str, str]]) -> None:
    if steps:
        table(
            "Steps",
            ["step", "member", "at", "message"],
            [
                (
                    s["step"],
                    s["member"],
                    s["at"][:19].replace("T", " "),
                    s["message"],
                )
                for s in steps
            ],
        )


@submission_app.command("list")
def submission_list(
    data_dir: RegistryDataDir,
    endpoint: Endpoint = None,
    wg_key: Annotated[
        Path | None,
        typer.Option(
            "--wg-key",
            envvar="LANYARD_WG_KEY",
            help="Sign in as this WG member (default: the operator's key in --data-dir).",
        ),
    ] = None,
    passphrase_file: WgPassphraseFile = None,
    json_out: JsonOut = False,
) -> None:
    """List the submissions: ids, events, sizes, status, place in the log."""
    session = (
        member_session(data_dir, endpoint, wg_key, passphrase_file)
        if wg_key is not None
        else operator_session(data_dir, endpoint)
    )
    subs = session.run(lambda client: client.list_submissions())
    rows: list[dict[str, Any]] = [
        {
            "submission_id": s.receipt.submission_id,
            "event_id": s.receipt.event_id,
            "received_at": s.receipt.received_at,
            "bytes": s.envelope_bytes,
            "status": s.status,
            "log_index": s.receipt.log_index,
        }
        for s in subs
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        console.print("No submissions yet.")
        return
    table(
        "Submissions",
        ["id", "event", "received", "bytes", "status", "log"],
        [
            (
                r["submission_id"][:8],
                str(r["event_id"]),
                str(r["received_at"])[:16].replace("T", " "),
                f"{r['bytes']:,}",
                r["status"],
                r["log_index"],
            )
            for r in rows
        ],
    )


@dataclass
class Opened:
    submission_id: str
    event_id: str
    event_name: str
    received_at: str
    log_index: int
    status: str
    readers: list[str]
    steps: list[dict[str, str]]
    report: dict[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "submission_id": self.submission_id,
            "event_id": self.event_id,
            "received_at": self.received_at,
            "log_index": self.log_index,
            "status": self.status,
            "sealed_to": self.readers,
            "steps": self.steps,
            "report": self.report,
        }


async def fetch_and_open(client: AdminClient, wanted: str, member: MemberKeys) -> Opened:
    """Fetch the envelope, check the event's signatures on it, decrypt it as `member`."""
    full_id = (await resolve(client, wanted)).receipt.submission_id
    got = await client.get_submission(full_id)
    receipt = got.info.receipt
    event = (await client.events_by_id()).get(receipt.event_id)
    if event is None:
        raise CliError(f"submission {full_id[:12]} names an event the registry does not know")
    data = got.envelope
    try:
        if envelope.sha256(data) != receipt.envelope_sha256:
            raise CliError("the registry returned an envelope other than the one it receipted")
        keys.verify(
            event.public_key, data, got.envelope_signature, "the event's signature on the envelope"
        )
        parsed = envelope.parse_envelope(data)
        readers = [k.recipient for k in parsed.keys]
        if not any(
            k.recipient == member.name and k.encryption_key == member.encryption_public
            for k in parsed.keys
        ):
            raise CliError(
                f"submission {full_id[:12]} was not sealed to {member.name}'s key, so it cannot "
                f"be opened with it; it was sealed to {', '.join(readers)}"
            )
        report = envelope.open_report(data, member.name, member.encryption, event.public_key)
    except CoreError as exc:
        raise CliError(f"submission {full_id[:12]} does not open: {exc}") from exc
    if parsed.event_id != receipt.event_id or report.get("event", {}).get("event_id") != (
        receipt.event_id
    ):
        raise CliError(f"submission {full_id[:12]} names another event inside than outside")
    return Opened(
        full_id,
        receipt.event_id,
        event.name,
        receipt.received_at,
        receipt.log_index,
        got.info.status,
        readers,
        _steps(got.steps),
        report,
    )


def open_as_member(
    data_dir: Path,
    endpoint: str | None,
    wanted: str,
    wg_key: Path | None,
    passphrase_file: Path | None,
) -> tuple[Session, Opened]:
    session = member_session(data_dir, endpoint, wg_key, passphrase_file)
    assert session.member is not None
    member = session.member
    return session, session.run(lambda client: fetch_and_open(client, wanted, member))


@submission_app.command("open")
def submission_open(
    data_dir: RegistryDataDir,
    submission_id: SubmissionId,
    wg_key: WgKey = None,
    passphrase_file: WgPassphraseFile = None,
    endpoint: Endpoint = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the opened report as JSON here (mode 0600).")
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Open a report with your key, check the event's signature, show it."""
    _, opened = open_as_member(data_dir, endpoint, submission_id, wg_key, passphrase_file)
    if out is not None:
        body = json.dumps(opened.to_json(), indent=2, ensure_ascii=False) + "\n"
        keys.write_secret(out, body.encode())
    if json_out:
        emit_json(opened.to_json())
        return
    if out is not None:
        console.print(
            f"Report written to {escape(str(out))} (mode 0600). [yellow]It holds names in the "
            "clear:[/yellow] delete it when the WG is done with it."
        )
        return
    say(
        f"Submission {opened.submission_id} from {opened.event_name} ({opened.event_id}), "
        f"received {opened.received_at}, log index {opened.log_index}; status {opened.status}."
    )
    say(f"Sealed to {', '.join(opened.readers)}; the event's signature verifies.")
    say("")
    say(preview(opened.report))
    steps_table(opened.steps)


@submission_app.command("ack")
def submission_ack(
    data_dir: RegistryDataDir,
    submission_id: SubmissionId,
    step: Annotated[str, typer.Option(help="acknowledged, reviewed or recorded.")],
    message: Annotated[str, typer.Option(help="A short note the event will see.")] = "",
    wg_key: WgKey = None,
    passphrase_file: WgPassphraseFile = None,
    endpoint: Endpoint = None,
) -> None:
    """Move a submission on (received → acknowledged → reviewed → recorded), signed by you."""
    if step not in envelope.STEPS:
        raise CliError(f"--step must be one of {', '.join(envelope.STEPS)}, got {step!r}")
    if len(message) > 2000:
        raise CliError(f"--message is at most 2000 characters, got {len(message)}")
    session = member_session(data_dir, endpoint, wg_key, passphrase_file)

    async def go(client: AdminClient) -> tuple[str, str]:
        full_id = (await resolve(client, submission_id)).receipt.submission_id
        return full_id, await client.advance_submission(
            full_id, step, session.name, session.key, message
        )

    full_id, status = session.run(go)
    console.print(f"Submission {full_id[:12]} is now {status}, signed by {escape(session.name)}.")


# -- from a report to records ----------------------------------------------------------------


@dataclass
class Person:
    name: str
    reported_in: list[int] = field(default_factory=list)
    bad_actor_in: list[int] = field(default_factory=list)  # in a final decision
    proposed_in: list[int] = field(default_factory=list)  # awaiting a second approval

    @property
    def named_as(self) -> str:
        roles = (
            ("reported", self.reported_in),
            ("bad actor", self.bad_actor_in),
            ("proposed bad actor", self.proposed_in),
        )
        return ", ".join(label for label, where in roles if where)

    @property
    def incidents(self) -> str:
        found = {*self.reported_in, *self.bad_actor_in, *self.proposed_in}
        return ", ".join(str(i) for i in sorted(found))


def people_named(report: dict[str, Any]) -> list[Person]:
    """Everyone the report names as reported or as a bad actor, once each, in order."""
    people: dict[str, Person] = {}

    def person(name: str) -> Person:
        try:
            key = normalize(Kind.NAME, name)
        except CoreError:
            key = name.strip()
        return people.setdefault(key, Person(name.strip()))

    for incident in report.get("incidents", []):
        number = int(incident["incident_id"])
        for p in incident["report"]["reported_people"]:
            if p["name"].strip():
                person(p["name"]).reported_in.append(number)
        decision = incident.get("decision")
        for name in decision["bad_actors"] if decision else []:
            if name.strip():
                who = person(name)
                (who.bad_actor_in if decision["final"] else who.proposed_in).append(number)
    return list(people.values())


def choose(people: list[Person], wanted: list[str], all_bad_actors: bool) -> list[int]:
    """1-based numbers of the chosen people: by number or by name, plus every bad actor."""
    chosen = [n for n, p in enumerate(people, 1) if all_bad_actors and p.bad_actor_in]
    by_name: dict[str, int] = {}
    for n, p in enumerate(people, 1):
        try:
            by_name[normalize(Kind.NAME, p.name)] = n
        except CoreError:
            continue
    for value in wanted:
        number = int(value) if value.isdigit() else None
        if number is None:
            try:
                number = by_name.get(normalize(Kind.NAME, value))
            except CoreError:
                number = None
        if number is None or not 1 <= number <= len(people):
            raise CliError(
                f"--person {value[:40]!r} is not one of the {len(people)} people the report "
                "names; run without --person to list them"
            )
        chosen.append(number)
    return list(dict.fromkeys(chosen))


def show_people(opened: Opened, people: list[Person], json_out: bool) -> None:
    if json_out:
        emit_json(
            [
                {
                    "number": n,
                    "name": p.name,
                    "reported_in": p.reported_in,
                    "bad_actor_in": p.bad_actor_in,
                    "proposed_bad_actor_in": p.proposed_in,
                }
                for n, p in enumerate(people, 1)
            ]
        )
        return
    table(
        f"People named in submission {opened.submission_id[:12]} ({escape(opened.event_id)})",
        ["#", "name", "named as", "incidents"],
        [(n, p.name, p.named_as, p.incidents) for n, p in enumerate(people, 1)],
    )
    console.print("Choose with --person N (repeatable) or --all-bad-actors to add records.")


async def add_person_records(
    client: AdminClient,
    people: list[tuple[int, str, str]],  # (number, name, record ref)
    status: str,
    expires_on: date | None,
    json_out: bool,
) -> list[dict[str, Any]]:
    """One record per person, each through the blinded round: names stay on this machine."""
    added: list[dict[str, Any]] = []
    for number, name, ref in people:
        response = await client.add_record(ref, status, [Identifier(Kind.NAME, name)], expires_on)
        row = {
            "person": number,
            "record_ref": response.record.record_ref,
            "status": status,
            "identifiers": response.record.identifier_count,
            "expires_on": expires_on.isoformat() if expires_on else None,
            "snapshot_version": int(response.snapshot_version),
        }
        added.append(row)
        if not json_out:
            lapses = f"expires {row['expires_on']}" if expires_on else "no expiry"
            console.print(
                f"Added {escape(str(row['record_ref']))} for person {number} ({status}, "
                f"{lapses}); snapshot version {row['snapshot_version']}."
            )
    return added


def records_from_submission(
    data_dir: Path,
    endpoint: str | None,
    wanted: str,
    wg_key: Path | None,
    passphrase_file: Path | None,
    persons: list[str],
    all_bad_actors: bool,
    status: str,
    expires_on: date | None,
    ref: str | None,
    ref_prefix: str | None,
    json_out: bool,
) -> None:
    """`registry record add --from-submission`: open the report here, list or add people."""
    session, opened = open_as_member(data_dir, endpoint, wanted, wg_key, passphrase_file)
    people = people_named(opened.report)
    chosen = choose(people, persons, all_bad_actors)
    if not chosen:
        if not people:
            raise CliError(f"submission {opened.submission_id[:12]} names nobody")
        if all_bad_actors:
            raise CliError(
                f"submission {opened.submission_id[:12]} names no bad actor in a final "
                "decision; choose people with --person N"
            )
        show_people(opened, people, json_out)
        return
    if ref is not None and len(chosen) > 1:
        raise CliError(
            f"--ref names one record but {len(chosen)} people are chosen; use --ref-prefix"
        )
    prefix = ref_prefix or opened.submission_id[:8]
    todo = [(n, people[n - 1].name, ref or f"{prefix}-{n}") for n in chosen]
    for number, name, _ in todo:
        try:
            normalize(Kind.NAME, name)
        except CoreError as exc:
            raise CliError(f"person {number} cannot be recorded: {exc}") from exc
    added = session.run(
        lambda client: add_person_records(client, todo, status, expires_on, json_out)
    )
    if json_out:
        emit_json(added)
        return
    console.print(
        f"When the WG is done, mark it: `lanyard registry submission ack "
        f"{opened.submission_id[:12]} --step recorded`."
    )
