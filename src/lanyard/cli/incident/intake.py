"""The report `lanyard incident new` files: asked question by question on a terminal, given
as flags, or read from a JSON file.

The questions follow the seeds' guides: ask, never press, and only "what happened" is
required. A yes/no answer is yes, no or unknown (y, n, ? or empty for short), however given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from google.protobuf import json_format

from lanyard.agent.incidents import messages as convert
from lanyard.agent.incidents.model import ANSWER_FIELDS, PERSON_ROLES
from lanyard.agent.transparency.vocabulary import category_choices, intake_category
from lanyard.cli.output import CliError, console, say
from lanyard.wire.agent.v1 import incidents_pb2 as pb

REPORT_FIELDS = tuple(pb.Report.DESCRIPTOR.fields_by_name)
ANSWER_ALIASES = {"": "unknown", "y": "yes", "n": "no", "?": "unknown", "don't know": "unknown"}


def parse_answer(value: str, what: str) -> str:
    v = value.strip().lower()
    v = ANSWER_ALIASES.get(v, v)
    if v not in convert.ANSWER_TO_PB:
        raise CliError(f"{what} must be yes, no or unknown, got {value!r}")
    return v


def _reported_person(value: str) -> pb.ReportedPerson:
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
            answer = parse_answer(data[field], field)
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
            return parse_answer(_ask(f"{question} (yes/no)"), "the answer")
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
    while True:
        typed = _ask(f"Category for the transparency report: {category_choices()}")
        category = intake_category(typed)
        if category is not None:
            r.category = category
            return r
        console.print("Please choose one of the categories listed, or leave it empty.")


def check_category(text: str, where: str) -> str:
    """A category from the fixed list (or "other: …"), else one sentence saying the list."""
    category = intake_category(text)
    if category is None:
        raise CliError(
            f"{where} {text[:60]!r} is not a category; choose one of {category_choices()}"
        )
    return category


def build_report(
    texts: dict[str, str | None],
    answers: dict[str, str | None],
    anonymous: bool,
    reported: list[str],
    from_file: Path | None,
) -> pb.Report:
    """The report from --from-file, else from the questions when no flag says anything, with
    the flags given (report field names as keys, None where not given) laid over it."""
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
            setattr(report, field, convert.ANSWER_TO_PB[parse_answer(value, f"--{field}")])
    report.category = check_category(report.category, "the category")
    if anonymous:
        report.anonymous = True
    for person in reported:
        report.reported.append(_reported_person(person))
    return report
