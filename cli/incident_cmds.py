"""`lanyard team …` and `lanyard incident …`: the Code of Conduct team's own commands.

Each member runs these on their own machine with their own key; the agent decides who may
read what and keeps the audit trail. The report questions follow the seeds' guides: ask,
never press, and only "what happened" is required. Incident text and names never reach
the logs; only incident ids do.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from google.protobuf import json_format

from cli.agent_cmds import DataDir, JsonOut
from cli.incident_client import (
    Connection,
    IncidentClient,
    connect,
    create_member_key,
    default_member_key,
)
from cli.output import CliError, console, emit_json, table
from lanyard.agent.v1 import incidents_pb2 as pb
from services.core import keys
from services.core.errors import Error as CoreError
from services.event_agent.incidents import convert
from services.event_agent.incidents.model import PERSON_ROLES, RESOLUTIONS, ROLES, STATUSES

T = TypeVar("T")
log = structlog.get_logger("lanyard.cli.incidents")

team_app = typer.Typer(help="The Code of Conduct team: keys and members.", no_args_is_help=True)
incident_app = typer.Typer(
    help="Incident records: file, read, work, decide, close.", no_args_is_help=True
)

AgentOpt = Annotated[
    str | None,
    typer.Option(
        "--agent",
        envvar="LANYARD_AGENT_ENDPOINT",
        help="The agent's HOST:PORT.",
        show_default="the local agent's address",
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="LANYARD_MEMBER_KEY",
        help="Your member key from `team keygen`.",
        show_default="~/.config/lanyard/member.json",
    ),
]
OperatorOpt = Annotated[
    bool,
    typer.Option("--operator", help="Sign with the agent's event key (to add the first chair)."),
]
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca", envvar="LANYARD_AGENT_CA", help="CA certificate of an agent on TLS."),
]
IncidentId = Annotated[int, typer.Argument(help="The incident's number.", min=1)]


def _client(
    agent: str | None, key: Path | None, operator: bool, ca: Path | None, data_dir: Path
) -> Callable[[Callable[[IncidentClient], Awaitable[T]]], T]:
    """Runs one piece of work with a connected client; failures are CliError sentences."""
    conn = Connection(agent, key, operator, data_dir, ca)

    def run(work: Callable[[IncidentClient], Awaitable[T]]) -> T:
        async def go() -> T:
            async with connect(conn) as client:
                return await work(client)

        return asyncio.run(go())

    return run


def say(text: str, style: str | None = None) -> None:
    """Print text that may hold anything a reporter said: never read as markup."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


# -- team ------------------------------------------------------------------------------------


@team_app.command("keygen")
def team_keygen(
    name: Annotated[str, typer.Option(help="Your name on the team, e.g. ana.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the key (mode 0600).", show_default=False),
    ] = None,
) -> None:
    """Make your own member key; send the public half to the chair."""
    path = out or default_member_key()
    member = create_member_key(path, name)
    say(f"Your member key is in {path} (mode 0600); it never leaves this machine.")
    say("Send this public key to the chair, who adds you with `lanyard team add`:")
    say(member.public_hex)


def _public_key(value: str) -> bytes:
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read public key file {value[1:]}: {exc.strerror}") from exc
    try:
        return keys.parse_public_key_hex(text, "--public-key")
    except CoreError as exc:
        raise CliError(str(exc)) from exc


@team_app.command("add")
def team_add(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The member's name on the team.")],
    role: Annotated[str, typer.Option(help="volunteer, responder or chair.")],
    public_key: Annotated[str, typer.Option(help="Their public key, hex or @FILE.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Change the role or key of someone already on the team."),
    ] = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Add a member (a chair, or the operator for the first chair)."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    raw = _public_key(public_key)

    async def work(c: IncidentClient) -> pb.Member:
        if not replace:
            current = {m.name: m for m in await c.list_members()}
            if name in current:
                was = convert.ROLE_FROM_PB.get(current[name].role, "member")
                raise CliError(
                    f"{name} is already on the team as {was}; pass --replace to change "
                    "their role or key"
                )
        return await c.add_member(name, role, raw)

    _client(agent, key, operator, ca, data_dir)(work)
    say(f"Added {name} to the team as {role}.")


@team_app.command("remove")
def team_remove(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The member to remove.")],
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Remove a member: their key is refused from their next call on."""
    _client(agent, key, operator, ca, data_dir)(lambda c: c.remove_member(name))
    say(f"Removed {name} from the team; their key is refused from now on.")


@team_app.command("list")
def team_list(
    data_dir: DataDir,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Who is on the team, with which role."""
    members = _client(agent, key, operator, ca, data_dir)(lambda c: c.list_members())
    rows = [
        {
            "name": m.name,
            "role": convert.ROLE_FROM_PB.get(m.role, "unknown"),
            "public_key": m.public_key.hex(),
            "added_at": m.added_at,
        }
        for m in members
    ]
    if json_out:
        emit_json(rows)
    elif not rows:
        console.print("Nobody is on the team yet.")
    else:
        table(
            "Team",
            ["name", "role", "public key", "added"],
            [(r["name"], r["role"], r["public_key"][:16] + "…", r["added_at"]) for r in rows],
        )


# -- filing a report -------------------------------------------------------------------------

ANSWER_FIELDS = ("ongoing", "safety_threat", "law_enforcement_called", "venue_security_called")
REPORT_FIELDS = tuple(pb.Report.DESCRIPTOR.fields_by_name)
ANSWER_ALIASES = {"": "unknown", "y": "yes", "n": "no", "?": "unknown", "don't know": "unknown"}


def _answer(value: str, what: str) -> str:
    v = value.strip().lower()
    v = ANSWER_ALIASES.get(v, v)
    if v not in convert.ANSWER_TO_PB:
        raise CliError(f"{what} must be yes, no or unknown, got {value!r}")
    return v


def _reported(value: str) -> pb.ReportedPerson:
    name, colon, role = value.rpartition(":")
    if not colon:
        return pb.ReportedPerson(name=value.strip(), role="unknown")
    role = role.strip().lower() or "unknown"
    if role not in PERSON_ROLES:
        raise CliError(f"--reported takes NAME:ROLE with ROLE one of {', '.join(PERSON_ROLES)}")
    return pb.ReportedPerson(name=name.strip(), role=role)


def _report_from_file(path: Path) -> pb.Report:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold one JSON object with the report's fields")
    unknown = sorted(set(data) - set(REPORT_FIELDS))
    if unknown:
        raise CliError(f"{path} has unknown field {unknown[0]!r}; a report has {REPORT_FIELDS}")
    for field in ANSWER_FIELDS:
        if isinstance(data.get(field), str):
            answer = _answer(data[field], field)
            data[field] = pb.Answer.Name(convert.ANSWER_TO_PB[answer])
    try:
        return json_format.ParseDict(data, pb.Report())
    except json_format.ParseError as exc:
        first = str(exc).splitlines()[0].rstrip(".")
        raise CliError(f"{path} does not hold a valid report: {first}") from exc


def _ask(question: str) -> str:
    answer: str = typer.prompt(question, default="", show_default=False)
    return answer.strip()


def _ask_answer(question: str) -> str:
    while True:
        try:
            return _answer(_ask(f"{question} (yes/no)"), "the answer")
        except CliError:
            console.print("Please answer yes or no, or leave it empty.")


def _prompt_report() -> pb.Report:
    say(
        "Write down what the reporter tells you, in their words where you can. Only what "
        "happened is needed: leave anything else empty if unknown or if the reporter would "
        "rather not say."
    )
    r = pb.Report()
    r.anonymous = _ask_answer("Does the reporter want to stay anonymous?") == "yes"
    if not r.anonymous:
        r.reporter_name = _ask("Reporter's name")
        r.reporter_contact = _ask("How to reach the reporter (e-mail, phone, handle)")
    r.received_by = _ask("Who received the report")
    while name := _ask("Name of a person reported (empty when there are no more)"):
        role = _ask(f"Their role at the event ({', '.join(PERSON_ROLES)})").lower() or "unknown"
        while role not in PERSON_ROLES:
            role = _ask(f"One of {', '.join(PERSON_ROLES)}, or empty").lower() or "unknown"
        r.reported.append(pb.ReportedPerson(name=name, role=role))
    description: str = typer.prompt("What happened")
    r.description = description.strip()
    r.occurred_at = _ask("About when did it happen (if not just now)")
    r.location = _ask("Where")
    r.circumstances = _ask("The circumstances around it")
    r.others_involved = _ask("Others involved, or who saw it")
    r.ongoing = convert.ANSWER_TO_PB[_ask_answer("Is it still going on?")]
    r.safety_threat = convert.ANSWER_TO_PB[_ask_answer("Is anyone's physical safety at risk?")]
    if r.safety_threat == pb.ANSWER_YES:
        console.print(
            "[bold]If anyone's safety is in doubt, call venue security or the police now.[/bold]"
        )
    r.law_enforcement_called = convert.ANSWER_TO_PB[_ask_answer("Were the police called?")]
    r.venue_security_called = convert.ANSWER_TO_PB[_ask_answer("Was venue security called?")]
    r.category = _ask("A short category for the transparency report")
    return r


AnswerOpt = Annotated[str | None, typer.Option(help="yes, no or unknown.", show_default=False)]
TextOpt = Annotated[str | None, typer.Option(show_default=False)]


@incident_app.command("new")
def incident_new(
    data_dir: DataDir,
    description: Annotated[str | None, typer.Option(help="What happened.")] = None,
    reporter_name: TextOpt = None,
    reporter_contact: TextOpt = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="The reporter stays anonymous.")
    ] = False,
    received_by: TextOpt = None,
    reported: Annotated[
        list[str] | None, typer.Option(help="NAME:ROLE of a person reported (repeatable).")
    ] = None,
    when: Annotated[str | None, typer.Option(help="About when it happened.")] = None,
    where: TextOpt = None,
    circumstances: TextOpt = None,
    others: Annotated[str | None, typer.Option(help="Others involved, witnesses.")] = None,
    ongoing: AnswerOpt = None,
    safety_threat: AnswerOpt = None,
    law_enforcement: AnswerOpt = None,
    venue_security: AnswerOpt = None,
    category: TextOpt = None,
    from_file: Annotated[
        Path | None, typer.Option(help="A JSON report with the proto Report's field names.")
    ] = None,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """File a report: asked question by question on a terminal, or from flags or a file."""
    texts = {
        "description": description,
        "reporter_name": reporter_name,
        "reporter_contact": reporter_contact,
        "received_by": received_by,
        "occurred_at": when,
        "location": where,
        "circumstances": circumstances,
        "others_involved": others,
        "category": category,
    }
    answers = {
        "ongoing": ongoing,
        "safety_threat": safety_threat,
        "law_enforcement_called": law_enforcement,
        "venue_security_called": venue_security,
    }
    given = any(v is not None for v in (*texts.values(), *answers.values())) or reported
    if from_file is not None:
        report = _report_from_file(from_file)
    elif given or anonymous:
        report = pb.Report()
    elif sys.stdin.isatty():
        report = _prompt_report()
    else:
        raise CliError(
            "give --description (and any other flags) or --from-file REPORT.json; "
            "questions are asked only on a terminal"
        )
    for field, text in texts.items():
        if text is not None:
            setattr(report, field, text)
    for field, value in answers.items():
        if value is not None:
            setattr(report, field, convert.ANSWER_TO_PB[_answer(value, f"--{field}")])
    if anonymous:
        report.anonymous = True
    for person in reported or []:
        report.reported.append(_reported(person))
    summary = _client(agent, key, operator, ca, data_dir)(lambda c: c.file_incident(report))
    log.info("incident.filed", incident_id=summary.incident_id)
    say(f"Filed incident {summary.incident_id}.")


# -- reading ---------------------------------------------------------------------------------


@incident_app.command("list")
def incident_list(
    data_dir: DataDir,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those needing action.")] = False,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """The incidents you may work on (none you are recused from)."""
    found = _client(agent, key, operator, ca, data_dir)(lambda c: c.list_incidents(overdue))
    rows = [
        {
            "incident_id": s.incident_id,
            "version": s.version,
            "status": s.status,
            "filed_at": s.filed_at,
            "updated_at": s.updated_at,
            "overdue": s.overdue,
            "awaiting_second_approval": s.awaiting_second_approval,
        }
        for s in found
    ]
    if json_out:
        emit_json(rows)
        return
    if not found:
        console.print("No overdue incidents." if overdue else "No incidents.")
        return
    table(
        "Incidents",
        ["#", "status", "filed", "updated", "overdue", "decision"],
        [
            (
                s.incident_id,
                s.status,
                s.filed_at[:16],
                s.updated_at[:16],
                s.overdue,
                "awaiting 2nd approval" if s.awaiting_second_approval else "",
            )
            for s in found
        ],
    )


def _field(label: str, value: str) -> None:
    lines = (value or "—").splitlines() or ["—"]
    say(f"  {label}: {lines[0]}")
    for line in lines[1:]:
        say(f"    {line}")


def render(i: pb.Incident) -> None:
    """Everything in the record, in the order a team meeting goes through it."""
    m = convert.incident_from_pb(i)
    r = m.report
    say(f"Incident {m.incident_id}: {m.status} (version {m.version})", "bold")
    say(f"Filed {m.filed_at} by {m.filed_by}; last changed {m.updated_at}.")
    say("Report", "bold")
    if r.anonymous:
        reporter = "anonymous"
    else:
        contact = f"<{r.reporter_contact}>" if r.reporter_contact else ""
        reporter = " ".join(p for p in (r.reporter_name, contact) if p)
    _field("Reporter", reporter)
    _field("Received by", r.received_by)
    _field("Reported", ", ".join(f"{p.name} ({p.role})" for p in r.reported))
    _field("What happened", r.description)
    _field("When", r.occurred_at)
    _field("Where", r.location)
    _field("Circumstances", r.circumstances)
    _field("Others involved", r.others_involved)
    _field("Still going on", r.ongoing)
    _field("Threat to safety", r.safety_threat)
    _field("Police called", r.law_enforcement_called)
    _field("Venue security called", r.venue_security_called)
    _field("Category", r.category)
    if m.conflicts:
        say("Conflicts of interest", "bold")
        for c in m.conflicts:
            by = "" if c.declared_by == c.member else f" (declared by {c.declared_by})"
            what = "recused" if c.recused else "declared, not recused"
            say(f"  {c.member}: {what}{by}, {c.declared_at}")
            if c.reason:
                say(f"    {c.reason}")
    if m.notes:
        say("Notes", "bold")
        for n in m.notes:
            present = f"; present: {', '.join(n.present)}" if n.present else ""
            say(f"  #{n.note_id} by {n.author}, {n.written_at}{present}")
            for line in n.text.splitlines():
                say(f"    {line}")
    d = m.decision
    if d is not None:
        state = "final" if d.final else "awaiting a second approval"
        urgent = "; URGENT: acted on by one member" if d.urgent else ""
        say(f"Decision ({state}{urgent})", "bold")
        _field("Violation", d.violation)
        _field("Bad actors", ", ".join(d.bad_actors))
        _field("Resolutions", ", ".join(f"{x} ({RESOLUTIONS.get(x, '?')})" for x in d.resolutions))
        if d.other_resolution:
            _field("Other action", d.other_resolution)
        _field("Reasoning", d.reasoning)
        _field("Approved by", ", ".join(d.approved_by))
        if d.decided_at:
            _field("Final on", d.decided_at)
    say("Communication", "bold")
    _field("Reported person told", m.communication.reported_person_told_on or "not yet")
    _field("Reporter told", m.communication.reporter_told_on or "not yet")


def incident_json(i: pb.Incident) -> dict[str, Any]:
    m = convert.incident_from_pb(i)
    data = asdict(m)
    if m.decision is not None:
        data["decision"]["final"] = m.decision.final
    return data


@incident_app.command("show")
def incident_show(
    data_dir: DataDir,
    incident_id: IncidentId,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Everything in one incident's record (the read is audited)."""
    found = _client(agent, key, operator, ca, data_dir)(lambda c: c.get_incident(incident_id))
    if json_out:
        emit_json(incident_json(found))
    else:
        render(found)


@incident_app.command("audit")
def incident_audit(
    data_dir: DataDir,
    incident_id: IncidentId,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Who read or changed an incident, refused attempts included (chairs only)."""
    entries = _client(agent, key, operator, ca, data_dir)(lambda c: c.audit(incident_id))
    rows = [{"at": e.at, "member": e.member, "action": e.action} for e in entries]
    if json_out:
        emit_json(rows)
    else:
        table(
            f"Audit trail of incident {incident_id}",
            ["at", "member", "action"],
            [(r["at"], r["member"], r["action"]) for r in rows],
        )


# -- working an incident ---------------------------------------------------------------------


def _set_status(
    run: Callable[[Callable[[IncidentClient], Awaitable[pb.Incident]]], pb.Incident],
    incident_id: int,
    status: str,
    expected_version: int | None,
) -> pb.Incident:
    async def work(c: IncidentClient) -> pb.Incident:
        version = expected_version
        if version is None:
            version = (await c.get_incident(incident_id)).version
            say(f"Read incident {incident_id} at version {version}; updating from that version.")
        return await c.update_incident(incident_id, version, status)

    return run(work)


@incident_app.command("update")
def incident_update(
    data_dir: DataDir,
    incident_id: IncidentId,
    status: Annotated[str, typer.Option(help=", ".join(STATUSES) + ".")],
    expected_version: Annotated[
        int | None,
        typer.Option(help="The version you read (default: read it now).", show_default=False),
    ] = None,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Move an incident on: acknowledged, in-review, needs-info, closed."""
    if status not in STATUSES:
        raise CliError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    run = _client(agent, key, operator, ca, data_dir)
    done = _set_status(run, incident_id, status, expected_version)
    log.info("incident.updated", incident_id=incident_id, version=done.version)
    say(f"Incident {incident_id} is {done.status} (version {done.version}).")


@incident_app.command("close")
def incident_close(
    data_dir: DataDir,
    incident_id: IncidentId,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Close an incident after its final decision."""
    run = _client(agent, key, operator, ca, data_dir)
    done = _set_status(run, incident_id, "closed", None)
    log.info("incident.closed", incident_id=incident_id, version=done.version)
    say(f"Incident {incident_id} is closed (version {done.version}).")


@incident_app.command("note")
def incident_note(
    data_dir: DataDir,
    incident_id: IncidentId,
    text: Annotated[str, typer.Argument(help="The note; - reads it from standard input.")],
    present: Annotated[
        list[str] | None,
        typer.Option(help="A team member who held the conversation (repeatable)."),
    ] = None,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Add a note, e.g. of a conversation two team members held."""
    body = sys.stdin.read() if text == "-" else text
    done = _client(agent, key, operator, ca, data_dir)(
        lambda c: c.add_note(incident_id, body, present or [])
    )
    say(f"Note #{done.notes[-1].note_id} added to incident {incident_id}.")


@incident_app.command("conflict")
def incident_conflict(
    data_dir: DataDir,
    incident_id: IncidentId,
    member: Annotated[
        str, typer.Option(help="Who has the conflict (default: you).", show_default=False)
    ] = "",
    reason: Annotated[str, typer.Option(help="Why, in a few words.")] = "",
    recuse: Annotated[
        bool,
        typer.Option("--recuse", help="They no longer take part in (or read) this incident."),
    ] = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Declare a conflict of interest, yours or another member's; the team may recuse."""
    _client(agent, key, operator, ca, data_dir)(
        lambda c: c.declare_conflict(incident_id, member, reason, recuse)
    )
    if recuse:
        say(f"{member or 'You'} {'is' if member else 'are'} recused from incident {incident_id}.")
    else:
        whose = f"{member}'s" if member else "Your"
        say(f"{whose} conflict of interest is recorded on incident {incident_id}.")


def _list_resolutions(value: bool) -> None:
    if value:
        for code, meaning in RESOLUTIONS.items():
            say(f"{code:<22}{meaning}")
        raise typer.Exit()


@incident_app.command("decide")
def incident_decide(
    data_dir: DataDir,
    incident_id: IncidentId,
    violation: Annotated[
        str | None, typer.Option(help="Was the code violated: yes, no or unknown.")
    ] = None,
    resolution: Annotated[
        list[str] | None, typer.Option(help="A resolution code (repeatable).")
    ] = None,
    other: Annotated[str, typer.Option(help="The action, with --resolution other.")] = "",
    bad_actor: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    reasoning: Annotated[str | None, typer.Option(help="Why the team decided this.")] = None,
    urgent: Annotated[
        bool,
        typer.Option("--urgent", help="Acted on by one member before a second could approve."),
    ] = False,
    approve: Annotated[
        bool,
        typer.Option("--approve", help="Approve the decision already proposed, as it stands."),
    ] = False,
    list_resolutions: Annotated[
        bool,
        typer.Option(
            "--list-resolutions",
            callback=_list_resolutions,
            is_eager=True,
            help="Print the resolution codes and exit.",
        ),
    ] = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Propose a decision, or approve the one proposed: two members make it final."""

    async def work(c: IncidentClient) -> pb.Incident:
        if approve:
            current = await c.get_incident(incident_id)
            if not current.HasField("decision"):
                raise CliError(f"incident {incident_id} has no decision to approve yet")
            decision = pb.IncidentDecision()
            decision.CopyFrom(current.decision)
            decision.urgent = decision.urgent or urgent
        else:
            if violation is None or not resolution or reasoning is None:
                raise CliError(
                    "a decision needs --violation, at least one --resolution and --reasoning "
                    "(or --approve to approve the one proposed)"
                )
            decision = pb.IncidentDecision(
                violation=convert.ANSWER_TO_PB[_answer(violation, "--violation")],
                resolutions=resolution,
                other_resolution=other,
                bad_actors=bad_actor or [],
                reasoning=reasoning,
                urgent=urgent,
            )
        return await c.decide(incident_id, decision)

    done = _client(agent, key, operator, ca, data_dir)(work)
    d = convert.incident_from_pb(done).decision
    assert d is not None  # Decide always answers with the decision it recorded
    log.info("incident.decided", incident_id=incident_id, final=d.final)
    by = ", ".join(d.approved_by)
    if d.final:
        say(f"The decision on incident {incident_id} is final (approved by {by}).")
    else:
        say(
            f"Decision on incident {incident_id} recorded (approved by {by}); it awaits a "
            "second approval by a responder or chair who is not recused."
        )
    if d.urgent:
        say("It is marked urgent: acted on by one member before a second approved.")


def _date(value: str | None, flag: str) -> str:
    if value is None:
        return ""
    if value == "today":
        return date.today().isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise CliError(f"{flag} must be a date like 2027-05-26 or today, got {value!r}") from exc


@incident_app.command("told")
def incident_told(
    data_dir: DataDir,
    incident_id: IncidentId,
    reported_person: Annotated[
        str | None, typer.Option(help="When the reported person was told (date or today).")
    ] = None,
    reporter: Annotated[
        str | None, typer.Option(help="When the reporter was told (date or today).")
    ] = None,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Record when the reported person and the reporter were told of the outcome."""
    if reported_person is None and reporter is None:
        raise CliError("give --reported-person DATE, --reporter DATE or both")
    person = _date(reported_person, "--reported-person")
    reporter_on = _date(reporter, "--reporter")
    done = _client(agent, key, operator, ca, data_dir)(
        lambda c: c.record_communication(incident_id, person, reporter_on)
    )
    told = done.communication
    say(
        f"Incident {incident_id}: reported person told "
        f"{told.reported_person_told_on or 'not yet'}, reporter told "
        f"{told.reporter_told_on or 'not yet'}."
    )
