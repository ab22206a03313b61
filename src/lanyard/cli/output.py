"""How the CLI speaks: one-sentence errors, tables a person can scan, JSON for machines."""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
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


# OWASP's CSV injection guidance: a cell a spreadsheet would run as a formula starts
# with one of these; a leading single quote makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Bidirectional overrides and isolates: they reorder what a terminal shows.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """Untrusted text for a terminal: control characters (escape sequences, carriage
    returns, bidi overrides) shown as escapes (\\x1b), never acted on."""
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) == "Cc" or ch in _BIDI
        else ch
        for ch in text
    )


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Every CSV the CLI writes: formula cells neutralised, every cell quoted."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow([safe_cell(h) for h in header])
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        # Cells hold data (names, references, reasons): never rich markup.
        t.add_row(*("" if v is None else escape(printable(str(v))) for v in row))
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


def age(seconds: int) -> str:
    """A duration for a person: "40 seconds", "1 minute", "3 hours 5 minutes"."""

    def unit(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    if seconds < 60:
        return unit(max(0, seconds), "second")
    if seconds < 3600:
        return unit(seconds // 60, "minute")
    hours, minutes = divmod(seconds // 60, 60)
    return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
