"""`lanyard event …` and `lanyard transparency …`: the event's public report, from the chair.

The seeds ask for an initial report at the closing ceremony and a final one within a month.
The chair enters what the records do not hold (`event set`, `transparency history`), then
renders the report; it runs on the agent's machine with the incident records' passphrase
or key file, and nothing is written or printed unless the privacy check passes. Notices
for the chair (a single report shown in detail, an overdue final report) go to stderr, so
the report on stdout can be redirected as it is.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.transparency import service, settings, vocabulary
from lanyard.agent.transparency.render import FORMATS
from lanyard.agent.transparency.report import TransparencyReport, event_year
from lanyard.agent.transparency.settings import HistoryEntry
from lanyard.cli.agent.commands import DataDir, MasterKeyFile, PassphraseFile, records_unlock
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say, table
from lanyard.core.files import write_atomically

event_app = typer.Typer(
    help="The event's public facts for its transparency report.", no_args_is_help=True
)
transparency_app = typer.Typer(
    help="The event's public Code of Conduct transparency report (initial or final)."
)
history_app = typer.Typer(
    help="Earlier years' figures, shown beside this year's.", no_args_is_help=True
)
transparency_app.add_typer(history_app, name="history")


def _remind(adir: AgentDir) -> None:
    sentence = service.reminder(adir, date.today())
    if sentence:
        say(sentence, err=True)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a half-written public report is worse than none."""
    try:
        write_atomically(path, text, mode=0o644)  # a public report: for anyone to read
    except OSError as exc:
        path.with_name(f".{path.name}.tmp").unlink(missing_ok=True)
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc


def _notices(report: TransparencyReport) -> None:
    for category in report.single_detailed:
        say(
            f"Note: the category {category!r} holds a single report, shown in detail; if its "
            f"details would identify someone, run again with --count-only {category!r}.",
            err=True,
        )


# -- lanyard transparency ----------------------------------------------------------------


@transparency_app.callback(invoke_without_command=True)
def transparency(
    ctx: typer.Context,
    data_dir: DataDir,
    initial: Annotated[
        bool, typer.Option("--initial", help="The closing ceremony's report (the default).")
    ] = False,
    final: Annotated[
        bool,
        typer.Option("--final", help="The final report, once every incident is closed."),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report here instead of stdout.")
    ] = None,
    count_only: Annotated[
        list[str] | None,
        typer.Option(
            "--count-only",
            help="Show this category as a count only, without its reports' lines (repeat "
            "for more).",
        ),
    ] = None,
    count_only_singles: Annotated[
        bool,
        typer.Option(
            "--count-only-singles", help="Show every category holding one report as a count only."
        ),
    ] = False,
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
) -> None:
    """Render the transparency report; nothing is written unless it names no one."""
    if ctx.invoked_subcommand is not None:
        return
    if initial and final:
        raise CliError("give --initial or --final, not both")
    if fmt not in FORMATS:
        raise CliError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    kind = "final" if final else "initial"
    adir = AgentDir(data_dir)
    today = date.today()
    unlock = records_unlock(passphrase_file, key_file)
    produced = asyncio.run(
        service.produce(adir, unlock, kind, fmt, today, count_only or [], count_only_singles)
    )
    if out is not None:
        _write(out, produced.text)
    else:
        sys.stdout.write(produced.text)
        sys.stdout.flush()
    if kind == "final":
        service.record_final(adir, today)
    if out is not None:
        n = produced.report.reports
        say(
            f"{kind.capitalize()} transparency report ({n} report{'' if n == 1 else 's'}) "
            f"written to {out}."
        )
    _notices(produced.report)
    if kind == "initial":
        _remind(adir)


async def print_initial_report(adir: AgentDir, unlock: crypto.Unlock | None) -> None:
    """For `lanyard demo`: print the initial report (Markdown) of the agent in `adir`, or
    raise as `lanyard transparency` would, printing nothing."""
    produced = await service.produce(adir, unlock, "initial", "md", date.today())
    console.file.flush()
    sys.stdout.write(produced.text)
    sys.stdout.flush()


# -- lanyard transparency history ----------------------------------------------------------


def _event_year(adir: AgentDir) -> int:
    return event_year(adir.enrolment(), date.today())


def _save_history(adir: AgentDir, entries: list[HistoryEntry]) -> None:
    this_year = _event_year(adir)
    later = [e.year for e in entries if e.year >= this_year]
    if later:
        raise CliError(
            f"history is for the years before this event ({this_year}); {later[0]} is not"
        )
    stored = settings.load_stored(adir)
    replaced = settings.put_history(stored, entries)
    settings.save(adir, stored)
    for entry in entries:
        verb = "Replaced" if entry.year in replaced else "Added"
        say(f"{verb} {entry.year}: {entry.reports} report{'' if entry.reports == 1 else 's'}.")


def _pairs(values: list[str] | None, option: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values or []:
        key, sep, number = value.rpartition("=")
        if not sep or not key.strip() or not number.strip().isdigit():
            raise CliError(f"{option} takes KEY=COUNT, like warning=2; got {value!r}")
        out[key.strip()] = int(number)
    return out


@history_app.command("import")
def history_import(
    data_dir: DataDir,
    file: Annotated[Path, typer.Argument(help="An earlier Lanyard report's JSON.")],
    include_history: Annotated[
        bool,
        typer.Option("--include-history", help="Also take the earlier years that report carried."),
    ] = False,
) -> None:
    """Take an earlier year's figures from its Lanyard report (--format json)."""
    adir = AgentDir(data_dir)
    adir.check()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{file} is not JSON") from exc
    entries = settings.entries_from_report(data, include_history)
    if include_history:
        this_year = _event_year(adir)
        entries = [e for e in entries if e.year < this_year]
    _save_history(adir, entries)
    _remind(adir)


@history_app.command("add")
def history_add(
    data_dir: DataDir,
    year: Annotated[int, typer.Option(help="The year, like 2025.")],
    reports: Annotated[int, typer.Option(help="Reports received that year.", min=0)],
    in_person: Annotated[
        int | None, typer.Option("--in-person", help="In-person attendance.", min=0)
    ] = None,
    online: Annotated[int | None, typer.Option(help="Online attendance.", min=0)] = None,
    by_outcome: Annotated[
        list[str] | None,
        typer.Option(
            "--by-outcome",
            help=f"OUTCOME=COUNT, repeated; outcomes: {', '.join(vocabulary.OUTCOMES)}.",
        ),
    ] = None,
    by_category: Annotated[
        list[str] | None,
        typer.Option("--by-category", help="CATEGORY=COUNT, repeated."),
    ] = None,
) -> None:
    """Enter an earlier year's figures by hand."""
    adir = AgentDir(data_dir)
    adir.check()
    entry = settings.history_entry(
        {
            "year": year,
            "reports": reports,
            "in_person": in_person,
            "online": online,
            "by_outcome": _pairs(by_outcome, "--by-outcome"),
            "by_category": _pairs(by_category, "--by-category"),
        },
        "entered",
    )
    _save_history(adir, [entry])
    _remind(adir)


@history_app.command("list")
def history_list(data_dir: DataDir, json_out: JsonOut = False) -> None:
    """The earlier years held for the report."""
    adir = AgentDir(data_dir)
    adir.check()
    entries = settings.load_stored(adir).history
    if json_out:
        emit_json([asdict(e) for e in entries])
        return
    if not entries:
        say("No earlier years yet: add them with `lanyard transparency history add` or `import`.")
        return
    table(
        "Earlier years",
        ["year", "in person", "online", "reports", "source"],
        [(e.year, e.in_person, e.online, e.reports, e.source) for e in entries],
    )


@history_app.command("remove")
def history_remove(
    data_dir: DataDir, year: Annotated[int, typer.Argument(help="The year to remove.")]
) -> None:
    """Remove an earlier year's figures."""
    adir = AgentDir(data_dir)
    adir.check()
    stored = settings.load_stored(adir)
    kept = [h for h in stored.history if h.year != year]
    if len(kept) == len(stored.history):
        raise CliError(f"no figures for {year} are held")
    stored.history = kept
    settings.save(adir, stored)
    say(f"Removed {year}.")


# -- lanyard event -------------------------------------------------------------------------


def _shown(s: settings.Settings) -> dict[str, Any]:
    data = asdict(s)
    data.pop("history")
    return data


@event_app.command("set")
def event_set(
    data_dir: DataDir,
    in_person: Annotated[
        int | None, typer.Option("--in-person", help="How many attended in person.", min=0)
    ] = None,
    online: Annotated[int | None, typer.Option(help="How many attended online.", min=0)] = None,
    team_public: Annotated[
        list[str] | None,
        typer.Option(
            "--team-public",
            help='A team member as the report may name them, "Name (role)"; repeat for each. '
            "Replaces the list.",
        ),
    ] = None,
    team_roles_only: Annotated[
        bool | None,
        typer.Option(
            "--team-roles-only/--team-names",
            help="Show the team's roles only, or the names given with --team-public.",
        ),
    ] = None,
    reporting_channels: Annotated[
        str | None,
        typer.Option(help="How attendees could report (public text: no one's private address)."),
    ] = None,
    published_at: Annotated[
        str | None,
        typer.Option(help="Where the Code of Conduct and how to report were published (URL)."),
    ] = None,
    survey_file: Annotated[
        Path | None,
        typer.Option(help="A post-event survey's results (JSON) to show in the report."),
    ] = None,
    clear_survey: Annotated[
        bool, typer.Option("--clear-survey", help="Show no survey results.")
    ] = False,
) -> None:
    """Enter the event's public facts: size, team, how to report, where it was published."""
    adir = AgentDir(data_dir)
    adir.check()
    if survey_file is not None and clear_survey:
        raise CliError("give --survey-file or --clear-survey, not both")
    results = None
    if survey_file is not None:
        try:
            results = json.loads(survey_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read {survey_file}: {exc.strerror}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise CliError(f"{survey_file} is not JSON") from exc
    settings.set_facts(
        adir,
        in_person=in_person,
        online=online,
        team_public_names=team_public,
        team_roles_only=team_roles_only,
        channels=reporting_channels,
        published=published_at,
        survey_results=results,
        clear_survey=clear_survey,
    )
    say(f"Saved in {settings.path(adir)} (mode 0600); the report checks these texts too.")
    _remind(adir)


@event_app.command("show")
def event_show(data_dir: DataDir, json_out: JsonOut = False) -> None:
    """What the transparency report will say about the event (agent.toml filling gaps)."""
    adir = AgentDir(data_dir)
    adir.check()
    shown = _shown(settings.load(adir))
    if adir.enrolment_path.exists():
        enrolment = adir.enrolment()
        shown = {
            "event_id": enrolment.event_id,
            "event_name": enrolment.event_name,
            "starts_on": enrolment.starts_on.isoformat() if enrolment.starts_on else None,
            "ends_on": enrolment.ends_on.isoformat() if enrolment.ends_on else None,
            **shown,
        }
    if json_out:
        emit_json(shown)
    else:
        for key, value in shown.items():
            say(f"{key.replace('_', ' ')}: {'not set' if value is None else value}")
    _remind(adir)
