"""The event's screening commands: `lanyard screen`, `lanyard check`, `lanyard alerts`."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lanyard.agent.errors import Error as AgentError
from lanyard.agent.operator import Alert, FaultAlert
from lanyard.agent.screening.batch import ScreenOutcome, count_lines, screen_export
from lanyard.agent.screening.csv_import import Export, open_export
from lanyard.agent.service import AgentService, Checked
from lanyard.cli import progress as bars
from lanyard.cli.agent.commands import DataDir, with_agent
from lanyard.cli.output import (
    CliError,
    JsonOut,
    age,
    console,
    emit_json,
    err_console,
    printable,
    say,
    table,
    write_csv,
)
from lanyard.client.errors import RpcFailed

_ROLE_NAMES = {
    "name": "attendee name",
    "email": "attendee e-mail",
    "buyer_name": "buyer name",
    "buyer_email": "buyer e-mail",
    "ref": "reference",
}


def _columns_json(export: Export) -> dict[str, Any]:
    found_by = dict(export.layout.found_by)
    return {
        role: {"columns": cols, "found_by": found_by.get(role, "")}
        for role, cols in export.layout.roles().items()
    }


def _outcome_json(outcome: ScreenOutcome, export: Export) -> dict[str, Any]:
    report = outcome.report
    return {
        "summary": {
            "screened": report.screened,
            "clear": report.counts.get("allow", 0),
            "review": report.counts.get("review", 0),
            "deny": report.counts.get("deny", 0),
            "skipped": len(report.skipped),
            "repaired": outcome.repaired_rows,
            "resumed_after_line": outcome.resumed_after_line,
            "already_screened": outcome.already_done,
        },
        "file": {
            "format": export.layout.format,
            "encoding": export.encoding,
            "delimiter": export.delimiter,
        },
        "columns": _columns_json(export),
        "warnings": list(export.layout.warnings),
        "matches": [
            {
                "line": m.line,
                "person": m.person,
                "ref": m.ref,
                "decision": m.result.decision.value,
                "matched": m.result.matched,
                "reason": m.result.reason.value,
                "record_ref": m.result.record_ref,
            }
            for m in report.matches
        ],
        "skipped": [{"line": s.line, "ref": s.ref, "reason": s.reason} for s in report.skipped],
    }


_MATCH_FIELDS = ("line", "person", "ref", "decision", "matched", "reason", "record_ref")


def _read_from(columns: dict[str, Any], person: str) -> str:
    """The columns a matched person was read from, e.g. "name: A + B; e-mail: C"."""
    prefix = "buyer_" if person == "buyer" else ""
    parts = [
        f"{label}: {' + '.join(columns[prefix + role]['columns'])}"
        for role, label in (("name", "name"), ("email", "e-mail"))
        if columns[prefix + role]["columns"]
    ]
    return "; ".join(parts)


def _write_out(path: Path, data: dict[str, Any]) -> None:
    if path.suffix.lower() == ".csv":
        # One table a spreadsheet or csv.DictReader reads as is: each match, naming the
        # columns its person was read from, then each row not screened (decision
        # "unscreened", with its reason), so that a file of no matches never reads as
        # all clear while rows went unscreened.
        fields = [*_MATCH_FIELDS, "columns"]
        matches = (
            {**m, "columns": _read_from(data["columns"], m["person"])} for m in data["matches"]
        )
        unscreened = (
            {"line": s["line"], "ref": s["ref"], "decision": "unscreened", "reason": s["reason"]}
            for s in data["skipped"]
        )
        rows = itertools.chain(matches, unscreened)
        write_csv(path, fields, ([row.get(f, "") for f in fields] for row in rows))
    else:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def print_columns(data: dict[str, Any]) -> None:
    """Which columns were read for each role, and the warnings about missing ones."""
    parts = []
    for role, used in data["columns"].items():
        if used["columns"]:
            cols = " + ".join(repr(c) for c in used["columns"])
            how = f" ({used['found_by']})" if used["found_by"] not in ("", "header") else ""
            parts.append(f"{_ROLE_NAMES[role]} {cols}{how}")
    f = data["file"]
    console.print(
        escape(
            printable(f"Read as {f['format']} ({f['encoding']}, {f['delimiter']!r}): ")
            + printable("; ".join(parts))
            + "."
        ),
        highlight=False,
    )
    for warning in data["warnings"]:
        console.print(f"[yellow]Warning:[/yellow] {escape(printable(warning))}.", highlight=False)


def print_outcome(outcome: ScreenOutcome, export: Export) -> None:
    data = _outcome_json(outcome, export)
    s = data["summary"]
    print_columns(data)
    if outcome.already_done:
        console.print("This file was already screened with these settings; showing that run.")
    elif outcome.resumed_after_line:
        console.print(f"Resumed after line {outcome.resumed_after_line}.")
    repaired = f", {s['repaired']} with double-encoded text repaired" if s["repaired"] else ""
    console.print(
        f"Screened {s['screened']}: [green]{s['clear']} clear[/green], "
        f"[yellow]{s['review']} review[/yellow], [red]{s['deny']} deny[/red], "
        f"{s['skipped']} not fully screened{repaired}."
    )
    if data["matches"]:
        table(
            "Matches",
            ["line", "who", "ref", "decision", "matched", "record"],
            [
                (m["line"], m["person"], m["ref"], m["decision"], m["matched"], m["record_ref"])
                for m in data["matches"]
            ],
        )
    if data["skipped"]:
        table(
            "Rows not screened, or screened in part (fix and screen again)",
            ["line", "ref", "reason"],
            [(r["line"], r["ref"], r["reason"]) for r in data["skipped"]],
        )
    if outcome.rotation_pending:
        console.print(
            f"[yellow]The WG rotated its key and {outcome.rotation_pending} identities "
            "screened before still wait to be evaluated under it (see `lanyard agent "
            "status`); new people were screened under the new key.[/yellow]"
        )


@dataclass
class Reached:
    """The last file line whose row is stored: where a stopped run resumes."""

    line: int = 0
    started_at: int | None = None

    def __call__(self, line: int) -> None:
        if self.started_at is None:
            self.started_at = line
        self.line = line


async def screen_with_progress(
    agent: AgentService,
    export: Export,
    role: str,
    show_bar: bool,
    reached: Reached | None = None,
) -> ScreenOutcome:
    """Screen `export`; on a terminal, a bar shows rows, rate and time left, starting at
    the row a stopped run had reached."""
    reached = reached if reached is not None else Reached()
    if not show_bar:
        return await screen_export(agent, export, role, reached=reached)
    total = await asyncio.to_thread(count_lines, export)
    with bars.bar("Screening", "rows") as bar:
        task = bar.add_task("rows", total=total, rate="–")

        def on_line(line: int) -> None:
            first = reached.started_at is None
            reached(line)
            if first and line > 1:
                # Line 1 is the header: rows up to `line` were stored by the stopped run.
                bar.console.print(f"Resuming after line {line}.", highlight=False)
                bar.reset(task, completed=min(total, line - 1), rate="–")

        def advance(rows: int) -> None:
            bars.advance(bar, task, rows)

        return await screen_export(agent, export, role, progress=advance, reached=on_line)


def screen(
    file: Annotated[
        Path,
        typer.Argument(
            help="A ticketing export (pretix, Tito, Eventbrite or a plain name/email CSV)."
        ),
    ],
    data_dir: DataDir,
    role: Annotated[str, typer.Option(help="attendee or speaker.")] = "attendee",
    name_col: Annotated[
        list[str] | None,
        typer.Option(
            help="Column holding the attendee's name; repeat for given and family name "
            "(joined in the order given)."
        ),
    ] = None,
    email_col: Annotated[
        list[str] | None,
        typer.Option(help="Column holding the attendee's e-mail (repeatable: first non-empty)."),
    ] = None,
    buyer_email_col: Annotated[
        list[str] | None,
        typer.Option(help="Column holding the e-mail of whoever bought the ticket."),
    ] = None,
    buyer_name_col: Annotated[
        list[str] | None,
        typer.Option(help="Column holding the buyer's name (repeatable, like --name-col)."),
    ] = None,
    ref_col: Annotated[str | None, typer.Option(help="Column holding the reference.")] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help="Cell separator, when detection gets it wrong: ',', ';', '|' or 'tab'."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="The file's encoding when it is not UTF-8/UTF-16 (e.g. cp1252)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write results here (.json or .csv).")] = None,
    json_out: JsonOut = False,
) -> None:
    """Screen a whole export against the WG's list; only blinded points leave."""
    if role not in ("attendee", "speaker"):
        raise CliError(f"--role must be attendee or speaker, got {role!r}")
    export = open_export(
        file,
        name_col=name_col,
        email_col=email_col,
        ref_col=ref_col,
        buyer_email_col=buyer_email_col,
        buyer_name_col=buyer_name_col,
        delimiter="\t" if delimiter in ("tab", "\\t") else delimiter,
        encoding=encoding,
    )
    show_bar = console.is_terminal and not json_out
    reached = Reached()
    try:
        outcome = with_agent(
            data_dir, lambda agent: screen_with_progress(agent, export, role, show_bar, reached)
        )
    except KeyboardInterrupt:
        name = printable(str(file))
        said = (
            f"Stopped after line {reached.line} of {name}; every row up to there is stored. "
            "Run the same command again to resume."
            if reached.line > 1
            else f"Stopped before any row of {name} was stored. Run the same command again."
        )
        err_console.print(said, markup=False, highlight=False)
        raise typer.Exit(130) from None
    data = _outcome_json(outcome, export)
    if out is not None:
        _write_out(out, data)
    if json_out:
        emit_json(data)
    else:
        print_outcome(outcome, export)
        if out is not None:
            console.print(f"Results written to {out}.")
    if data["skipped"]:
        # Like `record import`: the others are done, but the run is not all screened.
        raise CliError(
            f"{len(data['skipped'])} row(s) of {printable(str(file))} were not screened, or "
            "only in part (listed with their lines); fix them and screen the file again"
        )


def check(
    data_dir: DataDir,
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    role: Annotated[str, typer.Option(help="attendee or speaker.")] = "attendee",
    ref: Annotated[str, typer.Option(help="Your reference for this person.")] = "",
    json_out: JsonOut = False,
) -> None:
    """Screen one person."""

    not_refreshed: list[str] = []

    async def work(agent: AgentService) -> Checked:
        # A one-shot command follows no stream: take the newest list first, if reachable;
        # if not, the answer comes from the list held (the staleness rule still applies)
        # and the person is told so.
        try:
            await agent.sync()
        except (RpcFailed, AgentError) as exc:
            not_refreshed.append(str(exc))
        return await agent.check_answer(name, email, role, ref)

    answer = with_agent(data_dir, work)
    result = answer.result
    if not_refreshed:
        say(
            f"Warning: the WG's newest list could not be fetched "
            f"({printable(not_refreshed[0])}); this answer comes from the list held, "
            f"{age(answer.snapshot_age_seconds)} old.",
            err=True,
        )
    if json_out:
        emit_json(
            {
                "decision": result.decision.value,
                "reason": result.reason.value,
                "matched": result.matched,
                "record_ref": result.record_ref,
                "snapshot_version": answer.snapshot_version,
                "snapshot_age_seconds": answer.snapshot_age_seconds,
            }
        )
        return
    if not result.reason:
        console.print("[green]ALLOW[/green]: not on the WG's list.")
        return
    colour = "red" if result.decision.value == "deny" else "yellow"
    console.print(
        f"[{colour}]{result.decision.value.upper()}[/{colour}]: {result.reason.value}"
        f" (record {result.record_ref})."
    )


alerts_app = typer.Typer(
    help="Matches found after screening: when the WG adds, removes or expires a record.",
    invoke_without_command=True,
)


def _acknowledge(
    data_dir: Path,
    ids: list[int] | None,
    every: bool,
    json_out: bool,
    what: str,
    act: Callable[[AgentService, list[int] | None], Awaitable[list[int]]],
) -> None:
    """`alerts ack` and `alerts ack-fault`: `act` acknowledges the open `what`s given
    (None: every one) and returns their numbers."""
    if bool(ids) == every:
        raise CliError(f"give the numbers of the {what}s to acknowledge, or --all (not both)")
    done = with_agent(data_dir, lambda agent: act(agent, None if every else list(ids or [])))
    if json_out:
        emit_json({"acknowledged": done})
        return
    if not done:
        console.print(f"No open {what}s to acknowledge.")
        return
    console.print(f"Acknowledged {len(done)} {what}(s): {', '.join(str(i) for i in done)}.")


@alerts_app.command("ack")
def alerts_ack(
    data_dir: DataDir,
    alert_ids: Annotated[
        list[int] | None, typer.Argument(help="The alerts to acknowledge (their #).")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Acknowledge every open alert.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Acknowledge alerts someone has looked at: by number, or every open one with --all."""
    _acknowledge(data_dir, alert_ids, every, json_out, "alert", AgentService.acknowledge)


@alerts_app.command("ack-fault")
def alerts_ack_fault(
    data_dir: DataDir,
    fault_ids: Annotated[
        list[int] | None, typer.Argument(help="The registry faults to acknowledge (their #).")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Acknowledge every open registry fault.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """Acknowledge registry faults once they are understood (with the WG): by number, or
    every open one with --all. Answers that failed their proof stay unused either way."""
    _acknowledge(
        data_dir, fault_ids, every, json_out, "registry fault", AgentService.acknowledge_faults
    )


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    data_dir: DataDir,
    refresh: Annotated[bool, typer.Option(help="Fetch the newest snapshot first.")] = False,
    all_alerts: Annotated[bool, typer.Option("--all", help="Include acknowledged ones.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Matches found after screening: when the WG adds, removes or expires a record.
    `lanyard alerts ack ID…|--all` acknowledges them; `lanyard alerts ack-fault ID…|--all`
    acknowledges registry faults."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(agent: AgentService) -> tuple[list[FaultAlert], list[Alert]]:
        if refresh:
            await agent.sync()
        return (
            await agent.registry_faults(include_acknowledged=all_alerts),
            await agent.alerts(include_acknowledged=all_alerts),
        )

    faults, found = with_agent(data_dir, work)
    # Registry faults first: while one stands, nothing the registry answered is trusted.
    fault_rows: list[dict[str, object]] = [
        {
            "alert_id": None,
            "fault_id": f.fault_id,
            "ref": "",
            "kind": f"registry-fault:{f.kind}",
            "decision": "unavailable",
            "reason": f.detail,
            "record_ref": "",
            "snapshot_version": None,
            "raised_at": f.raised_at.isoformat() if f.raised_at else None,
        }
        for f in faults
    ]
    # Each row names where the person was screened (the file and line when the file had
    # no reference column), every other row of the same identity, and the record the
    # change is about: for "cleared", the one that no longer matches.
    rows = [
        {
            "alert_id": a.alert_id,
            "ref": a.ref,
            "source": a.source,
            "line": a.line,
            "where": a.label,
            "person": a.person,
            "kind": a.kind,
            "decision": a.result.decision.value,
            "reason": a.result.reason.value,
            "record_ref": a.record_ref,
            "previous": None
            if a.previous is None
            else {
                "decision": a.previous.decision.value,
                "reason": a.previous.reason.value,
                "record_ref": a.previous.record_ref,
            },
            "also": [
                {
                    "ref": o.ref,
                    "source": o.source,
                    "line": o.line,
                    "where": o.label,
                    "person": o.person,
                }
                for o in a.also
            ],
            "snapshot_version": a.snapshot_version,
            "raised_at": a.raised_at.isoformat() if a.raised_at else None,
        }
        for a in found
    ]
    if json_out:
        emit_json([*fault_rows, *rows])
        return
    if not rows and not fault_rows:
        console.print("No alerts.")
        return
    if fault_rows:
        table(
            "Registry faults",
            ["#", "what", "detail", "raised"],
            [(r["fault_id"], r["kind"], r["reason"], str(r["raised_at"])[:16]) for r in fault_rows],
        )
    if not rows:
        return
    table(
        "Alerts",
        ["#", "what", "decision", "reason", "record", "raised"],
        [
            (
                a.alert_id,
                a.kind,
                a.result.decision.value,
                a.result.reason.value
                or (f"was {a.previous.reason.value}" if a.previous is not None else ""),
                a.record_ref,
                str(a.raised_at)[:16] if a.raised_at else "",
            )
            for a in found
        ],
    )
    # Whom each alert is about, on lines of their own: a file's name is never cut short.
    console.print("Who each alert is about:")
    for a in found:
        rows_named = [(a.label, a.person), *((o.label, o.person) for o in a.also)]
        console.print(
            f"  #{a.alert_id}: "
            + "; also ".join(printable(f"{label} ({person})") for label, person in rows_named),
            markup=False,
            highlight=False,
        )
