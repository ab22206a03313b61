"""`lanyard registry retention …`: the record retention schedule, and the sweep.

`show` prints the schedule; `set` changes it for records added from then on; `apply`
removes every record whose expiry has passed (they leave the next snapshot), and with
`--dry-run` lists exactly those records — references, statuses and dates, never key
material — without removing any.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, console, emit_json, table
from lanyard.cli.registry.common import DataDir, Endpoint, admin_client, open_dir, parse_date
from lanyard.core import snapshot
from lanyard.wire.registry.v1 import admin_pb2

retention_app = typer.Typer(
    help="The record retention schedule, its preview and its sweep.", no_args_is_help=True
)


def _policy(policy: admin_pb2.RetentionPolicy) -> dict[str, int]:
    return {
        "flagged_months": int(policy.flagged_months),
        "banned_months_after_ban": int(policy.banned_months_after_ban),
    }


def _say_policy(policy: dict[str, int]) -> None:
    console.print(
        f"Flagged records are kept {policy['flagged_months']} months from the day they are "
        f"added; banned ones {policy['banned_months_after_ban']} months after the ban ends "
        "(a ban with no end does not lapse). A record for a person already listed extends "
        "the older records to its expiry."
    )


@retention_app.command("show")
def retention_show(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """Print the retention schedule the registry applies."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> dict[str, int]:
        async with admin_client(rdir, address) as client:
            return _policy(await client.retention())

    policy = run(go(), address)
    if json_out:
        emit_json(policy)
        return
    _say_policy(policy)


@retention_app.command("set")
def retention_set(
    data_dir: DataDir,
    flagged_months: Annotated[
        int | None, typer.Option(help="Months a flagged record is kept (1 to 1200).")
    ] = None,
    banned_months: Annotated[
        int | None,
        typer.Option(help="Months a banned record is kept after the ban ends (1 to 1200)."),
    ] = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Change the schedule for records added from now on (stored records keep their dates)."""
    if flagged_months is None and banned_months is None:
        raise CliError("give --flagged-months, --banned-months or both")
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> dict[str, int]:
        async with admin_client(rdir, address) as client:
            now = await client.retention()
            return _policy(
                await client.set_retention(
                    flagged_months if flagged_months is not None else now.flagged_months,
                    banned_months if banned_months is not None else now.banned_months_after_ban,
                )
            )

    policy = run(go(), address)
    if json_out:
        emit_json(policy)
        return
    _say_policy(policy)


@retention_app.command("apply")
def retention_apply(
    data_dir: DataDir,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Remove records expiring before this date (default today; a later date "
            "only with --dry-run)."
        ),
    ] = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Remove expired records now (they leave the next snapshot), or preview it."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()
    when = parse_date(as_of, "--as-of")

    async def go() -> admin_pb2.ApplyRetentionResponse:
        async with admin_client(rdir, address) as client:
            return await client.apply_retention(when, dry_run)

    response = run(go(), address)
    rows = [
        {
            "record_ref": r.record_ref,
            "status": snapshot.STATUS_NAMES[r.status],
            "expires_on": r.expires_on,
            "created_at": r.created_at,
        }
        for r in response.records
    ]
    if json_out:
        emit_json(
            {
                "as_of": response.as_of,
                "dry_run": dry_run,
                "records": rows,
                "snapshot_version": int(response.snapshot_version),
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    table(
        f"Retention as of {response.as_of}: {verb} {len(rows)} record(s)",
        ["record", "status", "expired", "added"],
        [(r["record_ref"], r["status"], r["expires_on"], str(r["created_at"])[:10]) for r in rows],
    )
    if not dry_run and rows:
        console.print(f"They leave snapshot version {response.snapshot_version}.")
