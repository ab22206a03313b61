"""How the CLI speaks: one-sentence errors, tables a person can scan, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lanyard import errors

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class CliError(errors.Error):
    """A failure the CLI reports as one sentence and a non-zero exit."""


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
