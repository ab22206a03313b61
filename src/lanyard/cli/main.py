"""Entry point of the `lanyard` command: logging set-up, sub-commands, error sentences."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import traceback
from collections.abc import Iterable
from typing import Annotated

import typer
import typer.core
import typer.rich_utils
from rich.markup import escape

from lanyard import errors
from lanyard.cli.output import err_console, printable
from lanyard.core import channels, logs

# Sub-commands by name: (module, attribute, whether it is a group, one-line help). A
# one-shot command imports only the module it runs (`lanyard screen` needs neither the
# registry nor the demo); `lanyard --help` imports none and lists these lines, which a
# test holds equal to each module's own help.
COMMANDS: dict[str, tuple[str, str, bool, str]] = {
    "registry": (
        "lanyard.cli.registry.commands",
        "app",
        True,
        "The working group's registry: set-up, serving, events, records, report readers "
        "and submissions.",
    ),
    "agent": (
        "lanyard.cli.agent.commands",
        "app",
        True,
        "The event's agent: set-up, enrolment, serving ticketing systems.",
    ),
    "team": (
        "lanyard.cli.team.commands",
        "team_app",
        True,
        "The Code of Conduct team: keys and members.",
    ),
    "incident": (
        "lanyard.cli.incident.commands",
        "incident_app",
        True,
        "Incident records: file, read, work, decide, close.",
    ),
    "event": (
        "lanyard.cli.transparency.commands",
        "event_app",
        True,
        "The event's public facts for its transparency report.",
    ),
    "transparency": (
        "lanyard.cli.transparency.commands",
        "transparency_app",
        True,
        "The event's public Code of Conduct transparency report (initial or final).",
    ),
    "wg": ("lanyard.cli.wg.commands", "wg_app", True, "A WG report reader's own keys."),
    "report": (
        "lanyard.cli.report.commands",
        "report_app",
        True,
        "The end-of-event report to the WG: build, submit, status.",
    ),
    "screen": (
        "lanyard.cli.screening.commands",
        "screen",
        False,
        "Screen a whole export against the WG's list; only blinded points leave.",
    ),
    "check": ("lanyard.cli.screening.commands", "check", False, "Screen one person."),
    "alerts": (
        "lanyard.cli.screening.commands",
        "alerts_app",
        True,
        "Matches found after screening: when the WG adds, removes or expires a record.",
    ),
    "demo": (
        "lanyard.cli.demo",
        "demo",
        False,
        "Run the main job end to end on loopback in a temporary directory.",
    ),
    "health": (
        "lanyard.cli.health",
        "health",
        False,
        "Exit 0 if the service at ADDRESS is SERVING (for container health checks).",
    ),
    "bench": (
        "lanyard.cli.bench.commands",
        "bench_app",
        True,
        "Benchmarks against the crypto floor (not tests: run them, read the figures).",
    ),
}


# Groups that live in a module importing the group they join (so that group cannot
# import them): attached here once the group is imported.
SUBGROUPS: dict[str, list[tuple[str, str, str]]] = {
    "agent": [
        ("lanyard.cli.agent.webhooks", "webhooks_app", "webhooks"),
        ("lanyard.cli.agent.retention", "retention_app", "retention"),
    ],
}

# Commands likewise defined outside their group's module: (module, function, name).
SUBCOMMANDS: dict[str, list[tuple[str, str, str]]] = {
    "registry": [
        ("lanyard.cli.backup", "registry_backup_cmd", "backup"),
        ("lanyard.cli.backup", "registry_restore_cmd", "restore"),
    ],
    "agent": [
        ("lanyard.cli.backup", "agent_backup_cmd", "backup"),
        ("lanyard.cli.backup", "agent_restore_cmd", "restore"),
    ],
    "wg": [("lanyard.cli.wg.rekey", "rekey", "rekey")],
}

# Modules that add their commands to a group when imported.
EXTENSIONS: dict[str, list[str]] = {
    "incident": ["lanyard.cli.incident.attachments"],
}


def _attach_subgroups(name: str, target: typer.Typer) -> None:
    for module in EXTENSIONS.get(name, []):
        importlib.import_module(module)
    present = {g.name for g in target.registered_groups}
    for module, attr, sub in SUBGROUPS.get(name, []):
        if sub not in present:
            target.add_typer(getattr(importlib.import_module(module), attr), name=sub)
    commands = {c.name for c in target.registered_commands}
    for module, attr, sub in SUBCOMMANDS.get(name, []):
        if sub not in commands:
            target.command(sub)(getattr(importlib.import_module(module), attr))


def build_app(wanted: Iterable[str] | None = None) -> typer.Typer:
    """The `lanyard` app with the sub-commands in `wanted` (None: all) imported; the
    others stand in by name and help only (enough for the top-level --help)."""
    names = set(COMMANDS) if wanted is None else set(wanted)
    root = typer.Typer(
        name="lanyard",
        help="Code of Conduct screening, incidents and reports for community events, "
        "without shipping attendee names.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.callback()(_root)
    for name, (module, attr, group, text) in COMMANDS.items():
        if name in names:
            target = getattr(importlib.import_module(module), attr)
            if group:
                _attach_subgroups(name, target)
                root.add_typer(target, name=name)
            else:
                root.command(name)(target)
        elif group:
            root.add_typer(typer.Typer(), name=name, help=text)
        else:
            root.command(name, help=text)(_placeholder)
    return root


def _placeholder() -> None:  # pragma: no cover - only listed, never run (build_app)
    raise typer.Exit(2)


def __getattr__(name: str) -> typer.Typer:
    """`app`: the whole app, every sub-command imported (for tests and tools)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def _wanted(argv: list[str]) -> set[str]:
    """The sub-command an argument list names (the first word that is one), else none."""
    return next(({a} for a in argv if a in COMMANDS), set())


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
        from importlib import metadata  # ~40 ms: only for --version

        print(f"lanyard {metadata.version('lanyard')}")
        raise typer.Exit()


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
    args = sys.argv[1:] if argv is None else argv
    _plain_help()
    try:
        build_app(_wanted(args))(args=args, prog_name="lanyard")
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
