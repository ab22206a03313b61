"""`lanyard incident …`: the Code of Conduct team's incident records: file, read, work,
decide, close.

Each member runs these on their own machine with their own key; the agent decides who may
read what and keeps the audit trail. Incident text and names never reach the logs; only
incident ids do. What a report asks lives in intake.py, how a record is printed
in render.py.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import structlog
import typer

from lanyard.agent.incidents import messages as convert
from lanyard.agent.incidents.model import RESOLUTIONS, STATUSES
from lanyard.cli.agent.commands import DataDir
from lanyard.cli.incident.common import AgentOpt, CaOpt, HiddenOperatorOpt, KeyOpt, with_client
from lanyard.cli.incident.intake import build_report, parse_answer
from lanyard.cli.incident.render import (
    incident_json,
    render,
    render_summaries,
    show_decision,
    summaries_json,
)
from lanyard.cli.output import CliError, JsonOut, confirm, emit_json, say, table
from lanyard.client.incidents import IncidentClient
from lanyard.wire.agent.v1 import incidents_pb2 as pb

log = structlog.get_logger("lanyard.cli.incidents")

incident_app = typer.Typer(
    help="Incident records: file, read, work, decide, close.", no_args_is_help=True
)

IncidentId = Annotated[int, typer.Argument(help="The incident's number.", min=1)]


# -- filing a report -------------------------------------------------------------------------

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
    operator: HiddenOperatorOpt = False,
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
    report = build_report(texts, answers, anonymous, reported or [], from_file)
    summary = with_client(agent, key, operator, ca, data_dir)(lambda c: c.file_incident(report))
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """The incidents you may work on (none you are recused from)."""
    found = with_client(agent, key, operator, ca, data_dir)(lambda c: c.list_incidents(overdue))
    if json_out:
        emit_json(summaries_json(found))
    else:
        render_summaries(found, overdue)


@incident_app.command("show")
def incident_show(
    data_dir: DataDir,
    incident_id: IncidentId,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Everything in one incident's record (the read is audited)."""
    found = with_client(agent, key, operator, ca, data_dir)(lambda c: c.get_incident(incident_id))
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Who read or changed an incident, refused attempts included (chairs only)."""
    entries = with_client(agent, key, operator, ca, data_dir)(lambda c: c.audit(incident_id))
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Move an incident on: acknowledged, in-review, needs-info, closed."""
    if status not in STATUSES:
        raise CliError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    run = with_client(agent, key, operator, ca, data_dir)
    done = _set_status(run, incident_id, status, expected_version)
    log.info("incident.updated", incident_id=incident_id, version=done.version)
    say(f"Incident {incident_id} is {done.status} (version {done.version}).")


@incident_app.command("close")
def incident_close(
    data_dir: DataDir,
    incident_id: IncidentId,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Close an incident after its final decision."""
    run = with_client(agent, key, operator, ca, data_dir)
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Add a note, e.g. of a conversation two team members held."""
    body = sys.stdin.read() if text == "-" else text
    done = with_client(agent, key, operator, ca, data_dir)(
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Declare a conflict of interest, yours or another member's; the team may recuse."""
    with_client(agent, key, operator, ca, data_dir)(
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
        typer.Option(
            "--approve",
            help="Approve the decision already proposed, as it stands (it is shown first).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="With --approve: do not show it and ask first.")
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Propose a decision, or approve the one proposed: two members make it final."""

    async def work(c: IncidentClient) -> pb.Incident:
        if approve:
            current = await c.get_incident(incident_id)
            if not current.HasField("decision"):
                raise CliError(f"incident {incident_id} has no decision to approve yet")
            proposed = convert.incident_from_pb(current).decision
            assert proposed is not None  # HasField above
            if proposed.final:
                raise CliError(f"incident {incident_id} is already decided; its decision is final")
            if not yes:
                say(f"Incident {incident_id}: the decision you are asked to approve")
                show_decision(proposed)
            confirm(
                "Approve this decision as it stands (it becomes final)?",
                "approve the decision",
                yes,
                f"not approved; the decision on incident {incident_id} still awaits a second "
                "member",
            )
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
                violation=convert.ANSWER_TO_PB[parse_answer(violation, "--violation")],
                resolutions=resolution,
                other_resolution=other,
                bad_actors=bad_actor or [],
                reasoning=reasoning,
                urgent=urgent,
            )
        return await c.decide(incident_id, decision)

    done = with_client(agent, key, operator, ca, data_dir)(work)
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
    operator: HiddenOperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Record when the reported person and the reporter were told of the outcome."""
    if reported_person is None and reporter is None:
        raise CliError("give --reported-person DATE, --reporter DATE or both")
    person = _date(reported_person, "--reported-person")
    reporter_on = _date(reporter, "--reporter")
    done = with_client(agent, key, operator, ca, data_dir)(
        lambda c: c.record_communication(incident_id, person, reporter_on)
    )
    told = done.communication
    say(
        f"Incident {incident_id}: reported person told "
        f"{told.reported_person_told_on or 'not yet'}, reporter told "
        f"{told.reporter_told_on or 'not yet'}."
    )
