"""Entry point of the `lanyard` command: logging set-up, sub-commands, error sentences."""

from __future__ import annotations

import os
import re
import shutil
import sys
import traceback
from importlib import metadata
from typing import Annotated

import typer
import typer.core
import typer.rich_utils
from rich.markup import escape

from lanyard import errors
from lanyard.cli import backup, demo, health
from lanyard.cli.agent import commands as agent_cmds
from lanyard.cli.agent import webhooks as agent_webhooks
from lanyard.cli.bench import commands as bench
from lanyard.cli.incident import attachments as _incident_attachments  # noqa: F401 - registers commands
from lanyard.cli.incident import commands as incident_cmds
from lanyard.cli.output import err_console, printable
from lanyard.cli.registry import commands as registry_cmds
from lanyard.cli.report import commands as report_cmds
from lanyard.cli.screening import commands as screen_cmds
from lanyard.cli.team import commands as team_cmds
from lanyard.cli.transparency import commands as transparency_cmds
from lanyard.cli.wg import commands as wg_cmds
from lanyard.core import channels, logs

app = typer.Typer(
    name="lanyard",
    help="Code of Conduct screening, incidents and reports for community events, "
    "without shipping attendee names.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
registry_cmds.app.command("backup")(backup.registry_backup_cmd)
registry_cmds.app.command("restore")(backup.registry_restore_cmd)
agent_cmds.app.command("backup")(backup.agent_backup_cmd)
agent_cmds.app.command("restore")(backup.agent_restore_cmd)
app.add_typer(registry_cmds.app, name="registry")
app.add_typer(agent_cmds.app, name="agent")
agent_cmds.app.add_typer(agent_webhooks.webhooks_app, name="webhooks")
app.add_typer(team_cmds.team_app, name="team")
app.add_typer(incident_cmds.incident_app, name="incident")
app.add_typer(transparency_cmds.event_app, name="event")
app.add_typer(transparency_cmds.transparency_app, name="transparency")
app.add_typer(wg_cmds.wg_app, name="wg")
app.add_typer(report_cmds.report_app, name="report")
app.command("screen")(screen_cmds.screen)
app.command("check")(screen_cmds.check)
app.add_typer(screen_cmds.alerts_app, name="alerts")
app.command("demo")(demo.demo)
app.command("health")(health.health)
app.add_typer(bench.bench_app, name="bench")

_verbose = False


def _plain_help() -> None:
    """Help a person can read at any width: no `<bool>`/`<str>` placeholders beside the
    options (the help text says what a value is), and the terminal's full width (or
    $COLUMNS; 120 when the output is not a terminal) so option names are never cut."""

    def no_placeholder(self: typer.core.TyperOption, ctx: object) -> str | None:
        return None

    typer.core.TyperOption.display_type_rich = no_placeholder  # type: ignore[method-assign]
    if not os.environ.get("TERMINAL_WIDTH"):
        typer.rich_utils.MAX_WIDTH = shutil.get_terminal_size((120, 24)).columns


def _version(value: bool) -> None:
    if value:
        print(f"lanyard {metadata.version('lanyard')}")
        raise typer.Exit()


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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow plaintext to services that are not on loopback (never needed for "
            "loopback; without it, TLS is used, verified by the given CA or the system's).",
        ),
    ] = False,
) -> None:
    global _verbose
    _verbose = verbose
    channels.allow_plaintext(insecure)
    logs.configure(level=os.environ.get("LANYARD_LOG_LEVEL", log_level), json=log_json)


_PLAIN_WORD = re.compile(r"[a-z]+(?=[ ,;:]|$)")


def _sentence(text: str) -> str:
    """One sentence: a leading plain lowercase word gets a capital; a leading name that is
    quoted, a path, a file name or an identifier keeps its case ("atendees.csv …")."""
    text = text.strip()
    if _PLAIN_WORD.match(text):
        text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a known failure is one sentence on stderr and exit status 1."""
    _plain_help()
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
