"""Progress bars for long CLI work, on a terminal only: rows or records done, the rate,
and the time left."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from lanyard.cli.output import console


def bar(label: str, unit: str) -> Progress:
    """A transient bar "`label` ━━━ done/total pct `rate` `unit`/s time-left" on the
    console; its tasks carry a `rate` field, kept by `advance`."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} " + unit + "/s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def advance(progress: Progress, task: TaskID, done: int) -> None:
    """Count `done` more on `task` and show the rate measured so far."""
    progress.advance(task, done)
    speed = next(t.speed for t in progress.tasks if t.id == task)
    progress.update(task, rate=f"{speed:,.0f}" if speed else "–")
