"""`lanyard registry record import FILE`: many records, each batch through one blinded
round, one transaction and one snapshot version.

A long import shows a bar on a terminal. One stopped half-way (Ctrl-C, the registry gone,
a batch refused) says how many records are surely added and how to finish: the same
command with --skip-existing, which leaves the added ones alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from lanyard import errors
from lanyard.cli import progress as bars
from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say
from lanyard.cli.registry import record_file
from lanyard.cli.registry.common import (
    DataDir,
    Endpoint,
    admin_client,
    open_dir,
    registry_schedule,
)
from lanyard.cli.registry.record_file import Parsed
from lanyard.core.workers import Workers
from lanyard.registry.record_batch import MAX_POINTS_PER_BATCH, MAX_RECORDS_PER_BATCH
from lanyard.registry.record_ops import MAX_POINTS_PER_RECORD
from lanyard.registry.retention import Policy
from lanyard.wire.registry.v1 import admin_pb2

FINISH = "run the same command with --skip-existing to add the rest"


def default_expiry(status: str, ban_until: date | None, today: date) -> date | None:
    """DESIGN.md's default schedule: flagged, 26 months from today; banned, the ban's end
    plus 26 months; a ban with no end date does not lapse. A registry starts with it;
    the CLI always derives expiries from the registry's own (`registry retention show`)."""
    return Policy().expiry(status, ban_until, today)


@dataclass
class Imported:
    """What the registry has answered so far: records added, their identifier forms,
    references skipped as existing, the snapshot version of the last batch."""

    added: int = 0
    identifiers: int = 0
    skipped: list[str] = field(default_factory=list)
    version: int = 0
    batches: int = 0

    def take(self, response: admin_pb2.AddRecordsResponse) -> int:
        """Count one batch's answer; returns the records it settled."""
        self.batches += 1
        self.added += len(response.records)
        self.identifiers += sum(r.identifier_count for r in response.records)
        self.skipped += response.skipped_refs
        self.version = int(response.snapshot_version)
        return len(response.records) + len(response.skipped_refs)

    @property
    def answered(self) -> bool:
        return self.version > 0


async def _import(
    data_dir: Path,
    endpoint: str,
    groups: list[list[Parsed]],
    imported: Imported,
    settled: Callable[[int], None],
) -> None:
    rdir = open_dir(data_dir)
    # The blinded rounds' crypto on every core (worker processes), not one thread.
    workers = Workers("lanyard-import")
    try:
        async with admin_client(rdir, endpoint, workers) as client:
            records = ([p.record for p in group] for group in groups)
            # A reference that exists never costs its batch: the registry leaves it alone
            # and says so, and the caller tells which of those were meant (--skip-existing)
            # and which are refused rows.
            async for response in client.add_record_batches(records, skip_existing=True):
                settled(imported.take(response))
    finally:
        workers.shutdown(cancel_futures=True)


async def _schedule(data_dir: Path, endpoint: str) -> Policy:
    async with admin_client(open_dir(data_dir), endpoint) as client:
        return await registry_schedule(client)


def _by_line(cause: str, groups: list[list[Parsed]], batch: int) -> str:
    """The registry names a record of a batch as records[i]; the file's reader, by line."""
    if batch >= len(groups):
        return cause
    group = groups[batch]

    def where(found: re.Match[str]) -> str:
        i = int(found[1])
        return group[i].where if i < len(group) else found[0]

    return re.sub(r"records\[(\d+)\]", where, cause)


def _existing(parsed: list[Parsed], refs: list[str]) -> list[record_file.Refused]:
    """Rows whose reference the registry holds already, as refused rows."""
    held = set(refs)
    return [
        record_file.Refused(
            p.where,
            f"record {p.record.record_ref} already exists (`record update` changes it; "
            "--skip-existing leaves it alone)",
        )
        for p in parsed
        if p.record.record_ref in held
    ]


def _stopped(imported: Imported, total: int) -> str:
    if not imported.answered:
        return (
            "no batch was answered, though one in flight may have been added: "
            "run the same command with --skip-existing"
        )
    # A batch in flight when it stopped may have been added too: "at least".
    return (
        f"at least {imported.added} of {total} records were added"
        + (f" ({len(imported.skipped)} left as they were)" if imported.skipped else "")
        + f", up to snapshot version {imported.version}; {FINISH}"
    )


def record_import(
    data_dir: DataDir,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (header: ref,status,email,name,alias,expires,ban_until; several values "
            "in a cell separated by ';') or JSON (an array or one object per line)."
        ),
    ],
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_RECORDS_PER_BATCH, help="Records per blinded round and transaction."
        ),
    ] = 500,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Leave records whose reference already exists alone (to finish an "
            "interrupted import) instead of refusing their rows.",
        ),
    ] = False,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Add many records: each batch through one blinded round, one transaction and one
    snapshot version. Rows that cannot be read are reported by line; the rest are added."""
    address = endpoint or open_dir(data_dir).endpoint()
    # A row without an expiry takes the registry's own schedule, as `record add` does.
    schedule = run(_schedule(data_dir, address), address)
    parsed, refused = record_file.read_records(
        file, date.today(), MAX_POINTS_PER_RECORD, schedule.expiry
    )
    groups = list(record_file.batches(parsed, batch_size, MAX_POINTS_PER_BATCH))
    total = sum(len(group) for group in groups)
    imported = Imported()

    def settle(work: Callable[[int], None]) -> None:
        run(_import(data_dir, address, groups, imported, work), address)

    try:
        if groups and console.is_terminal and not json_out:
            with bars.bar("Importing", "records") as bar:
                task = bar.add_task("records", total=total, rate="–")
                settle(lambda n: bars.advance(bar, task, n))
        elif groups:
            settle(lambda n: None)
    except KeyboardInterrupt:
        _say_refused(refused)
        say(f"Stopped: {_stopped(imported, total)}.", err=True)
        raise typer.Exit(130) from None
    except errors.Error as exc:
        _say_refused(refused)
        cause = _by_line(str(exc).rstrip("."), groups, imported.batches)
        if imported.answered:
            stopped = _stopped(imported, total)
            if cause.endswith("?"):  # "…: is `lanyard registry serve` running?"
                raise CliError(f"{cause} {stopped[:1].upper()}{stopped[1:]}") from exc
            raise CliError(f"{cause}; {stopped}") from exc
        raise CliError(cause) from exc
    if not skip_existing and imported.skipped:
        refused = sorted(
            [*refused, *_existing(parsed, imported.skipped)], key=lambda r: _order(r.where)
        )
        imported.skipped = []
    if json_out:
        emit_json(
            {
                "added": imported.added,
                "identifiers": imported.identifiers,
                "batches": len(groups),
                "skipped_refs": imported.skipped,
                "refused": [{"where": r.where, "reason": r.reason} for r in refused],
                "snapshot_version": imported.version or None,
            }
        )
    else:
        console.print(
            f"Imported {imported.added} record(s) ({imported.identifiers} identifier form(s)) "
            f"in {len(groups)} batch(es)"
            + (f"; snapshot version {imported.version}." if imported.version else ".")
        )
        if imported.skipped:
            console.print(f"Skipped {len(imported.skipped)} record(s) that already existed.")
        _say_refused(refused)
    if refused:
        raise CliError(f"{len(refused)} row(s) of {file} were refused; the others were imported")


def _say_refused(refused: list[record_file.Refused]) -> None:
    for r in refused:
        say(f"Refused {r.where}: {r.reason}.", err=True)


def _order(where: str) -> int:
    """`line 7` / `record 3` in file order."""
    number = where.rsplit(" ", 1)[-1]
    return int(number) if number.isdigit() else 0
