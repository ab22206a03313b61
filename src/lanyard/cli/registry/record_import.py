"""`lanyard registry record import FILE`: many records, each batch through one blinded
round, one transaction and one snapshot version.

A long import shows a bar on a terminal. One stopped half-way (Ctrl-C, the registry gone,
a batch refused) says how many records are surely added and how to finish: the same
command with --skip-existing, which leaves the added ones alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated

import grpc
import typer

from lanyard import errors
from lanyard.cli import progress as bars
from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say
from lanyard.cli.registry import record_file
from lanyard.cli.registry.common import DataDir, Endpoint, admin_client, open_dir
from lanyard.cli.registry.record_file import Parsed
from lanyard.client.errors import RpcFailed
from lanyard.core.workers import Workers
from lanyard.registry.record_batch import MAX_POINTS_PER_BATCH, MAX_RECORDS_PER_BATCH
from lanyard.registry.record_ops import MAX_POINTS_PER_RECORD
from lanyard.registry.retention import Policy
from lanyard.wire.registry.v1 import admin_pb2

FINISH = "run the same command with --skip-existing to add the rest"


def default_expiry(status: str, ban_until: date | None, today: date) -> date | None:
    """DESIGN.md's default schedule: flagged, 26 months from today; banned, the ban's end
    plus 26 months; a ban with no end date does not lapse. (The registry applies its own
    schedule, `registry retention show`, to records added without --expires.)"""
    return Policy().expiry(status, ban_until, today)


@dataclass
class Imported:
    """What the registry has answered so far: records added, their identifier forms,
    references skipped as existing, the snapshot version of the last batch."""

    added: int = 0
    identifiers: int = 0
    skipped: list[str] = field(default_factory=list)
    version: int = 0

    def take(self, response: admin_pb2.AddRecordsResponse) -> int:
        """Count one batch's answer; returns the records it settled."""
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
    skip_existing: bool,
    imported: Imported,
    settled: Callable[[int], None],
) -> None:
    rdir = open_dir(data_dir)
    # The blinded rounds' crypto on every core (worker processes), not one thread.
    workers = Workers("lanyard-import")
    try:
        async with admin_client(rdir, endpoint, workers) as client:
            records = ([p.record for p in group] for group in groups)
            async for response in client.add_record_batches(records, skip_existing):
                settled(imported.take(response))
    finally:
        workers.shutdown(cancel_futures=True)


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
            "interrupted import) instead of refusing their batch.",
        ),
    ] = False,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Add many records: each batch through one blinded round, one transaction and one
    snapshot version. Rows that cannot be read are reported by line; the rest are added."""
    parsed, refused = record_file.read_records(
        file, date.today(), MAX_POINTS_PER_RECORD, default_expiry
    )
    address = endpoint or open_dir(data_dir).endpoint()
    groups = list(record_file.batches(parsed, batch_size, MAX_POINTS_PER_BATCH))
    total = sum(len(group) for group in groups)
    imported = Imported()
    try:
        if groups and console.is_terminal and not json_out:
            with bars.bar("Importing", "records") as bar:
                task = bar.add_task("records", total=total, rate="–")
                run(
                    _import(
                        data_dir,
                        address,
                        groups,
                        skip_existing,
                        imported,
                        lambda n: bars.advance(bar, task, n),
                    ),
                    address,
                )
        elif groups:
            run(
                _import(data_dir, address, groups, skip_existing, imported, lambda n: None), address
            )
    except KeyboardInterrupt:
        say(f"Stopped: {_stopped(imported, total)}.", err=True)
        raise typer.Exit(130) from None
    except errors.Error as exc:
        cause = str(exc).rstrip(".")
        if imported.answered:
            raise CliError(f"{cause}; {_stopped(imported, total)}") from exc
        if isinstance(exc, RpcFailed) and exc.code == grpc.StatusCode.ALREADY_EXISTS:
            raise CliError(
                f"{cause}: to finish an interrupted import, run the same command with "
                "--skip-existing"
            ) from exc
        raise
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
        for r in refused:
            say(f"Refused {r.where}: {r.reason}.", err=True)
    if refused:
        raise CliError(f"{len(refused)} row(s) of {file} were refused; the others were imported")
