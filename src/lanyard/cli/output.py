"""How the CLI speaks: one-sentence errors, tables a person can scan, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lanyard import errors

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class CliError(errors.Error):
    """A failure the CLI reports as one sentence and a non-zero exit."""


JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def say(text: str, style: str | None = None, err: bool = False) -> None:
    """Print text that may hold anything a person typed (a report, an attendee's name, a
    chair's wording): never read as markup."""
    (err_console if err else console).print(
        text, style=style, markup=False, highlight=False, soft_wrap=True
    )


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        # Cells hold data (names, references, reasons): never rich markup.
        t.add_row(*("" if v is None else escape(str(v)) for v in row))
    console.print(t)


def confirm(question: str, what: str, yes: bool, nothing_done: str) -> None:
    """The one way a command asks before something it cannot undo: `--yes` skips the
    question; without a terminal to ask on, one sentence says "give --yes to `what`"; a
    "no" is a sentence saying nothing changed (`nothing_done`), never a bare "Aborted."."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"give --yes to {what} without a terminal to confirm on")
    if not typer.confirm(question, default=False):
        raise CliError(nothing_done)
