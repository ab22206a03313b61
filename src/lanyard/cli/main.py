"""Entry point of the `lanyard` command: logging set-up, sub-commands, error sentences."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from lanyard import errors
from lanyard.cli import demo
from lanyard.cli.agent import commands as agent_cmds
from lanyard.cli.bench import commands as bench
from lanyard.cli.incident import commands as incident_cmds
from lanyard.cli.output import err_console, printable
from lanyard.cli.registry import commands as registry_cmds
from lanyard.cli.report import commands as report_cmds
from lanyard.cli.screening import commands as screen_cmds
from lanyard.cli.team import commands as team_cmds
from lanyard.cli.transparency import commands as transparency_cmds
from lanyard.cli.wg import commands as wg_cmds
from lanyard.core import logs

app = typer.Typer(
    name="lanyard",
    help="Code of Conduct screening, incidents and reports for community events, "
    "without shipping attendee names.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(registry_cmds.app, name="registry")
app.add_typer(agent_cmds.app, name="agent")
app.add_typer(team_cmds.team_app, name="team")
app.add_typer(incident_cmds.incident_app, name="incident")
app.add_typer(transparency_cmds.event_app, name="event")
app.add_typer(transparency_cmds.transparency_app, name="transparency")
app.add_typer(wg_cmds.wg_app, name="wg")
app.add_typer(report_cmds.report_app, name="report")
app.command("screen")(screen_cmds.screen)
app.command("check")(screen_cmds.check)
app.command("alerts")(screen_cmds.alerts)
app.command("demo")(demo.demo)
app.add_typer(bench.bench_app, name="bench")

_verbose = False


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    log_json: Annotated[
        bool | None,
        typer.Option(
            "--log-json/--log-console", help="Log format (default: console on a terminal)."
        ),
    ] = None,
) -> None:
    global _verbose
    _verbose = verbose
    logs.configure(level=os.environ.get("LANYARD_LOG_LEVEL", log_level), json=log_json)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a known failure is one sentence on stderr and exit status 1."""
    try:
        app(args=argv, prog_name="lanyard")
    except errors.Error as exc:
        _fail(str(exc))


def _fail(text: str) -> None:
    if _verbose:
        traceback.print_exc()
    # The text may quote a file's column names: shown, never acted on.
    err_console.print(f"[red]Error:[/red] {escape(printable(_sentence(text)))}", highlight=False)
    sys.exit(1)


if __name__ == "__main__":
    main()
