"""`lanyard registry record …`: the WG's flagged and banned records.

A record is added through the blinded round, so identifiers never leave this machine; it
can also be made from the people an end-of-event report names (`--from-submission`). Its
expiry follows DESIGN.md's retention schedule unless given.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Annotated

import typer

from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, console, emit_json, table
from lanyard.cli.registry import submission_records
from lanyard.cli.registry.common import DataDir, Endpoint, admin_client, open_dir, parse_date
from lanyard.cli.wg import commands as wg_cmds
from lanyard.client.admin import Identifier, record_messages
from lanyard.core import snapshot
from lanyard.core.errors import Error as CoreError
from lanyard.core.identity import Kind, normalize, unspaced_name_hint
from lanyard.registry.service import MAX_POINTS_PER_RECORD

record_app = typer.Typer(help="Add, remove and list flagged/banned records.", no_args_is_help=True)

RETENTION_MONTHS = 26


def default_expiry(status: str, ban_until: date | None, today: date) -> date | None:
    """DESIGN.md retention: flagged, 26 months from today; banned, the ban's end plus 26
    months; a ban with no end date does not lapse."""
    if status == "banned" and ban_until is None:
        return None
    start = ban_until or today
    months = start.month - 1 + RETENTION_MONTHS
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@record_app.command("add")
def record_add(
    data_dir: DataDir,
    status: Annotated[str, typer.Option(help="flagged or banned.")],
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref", help="The WG's record reference (required without --from-submission)."
        ),
    ] = None,
    email: Annotated[list[str] | None, typer.Option(help="An e-mail address (repeatable).")] = None,
    name: Annotated[list[str] | None, typer.Option(help="A full name (repeatable).")] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option(
            "--alias",
            metavar="NAME",
            help="Another name the person is known by (repeatable); registered with its "
            "variants like --name.",
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            help="Date the record lapses (default: flagged, 26 months from today; banned, "
            "26 months after --ban-until, or never without one)."
        ),
    ] = None,
    ban_until: Annotated[str | None, typer.Option(help="End of a ban, YYYY-MM-DD.")] = None,
    from_submission: Annotated[
        str | None,
        typer.Option(
            help="Open this submission with --wg-key and record people it names "
            "(lists them without --person or --all-bad-actors)."
        ),
    ] = None,
    person: Annotated[
        list[str] | None,
        typer.Option(help="With --from-submission: a person's number or name (repeatable)."),
    ] = None,
    all_bad_actors: Annotated[
        bool,
        typer.Option(help="With --from-submission: everyone a final decision names as bad actor."),
    ] = False,
    ref_prefix: Annotated[
        str | None,
        typer.Option(
            help="With --from-submission: records are PREFIX-N (default: the id's start)."
        ),
    ] = None,
    wg_key: wg_cmds.WgKey = None,
    passphrase_file: wg_cmds.WgPassphraseFile = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Add a record through the blinded round: identifiers never leave this machine."""
    if status not in snapshot.STATUS_VALUES:
        raise CliError(f"--status must be flagged or banned, got {status!r}")
    expiry = parse_date(expires, "--expires") or default_expiry(
        status, parse_date(ban_until, "--ban-until"), date.today()
    )
    if from_submission is not None:
        if email or name or alias:
            raise CliError("give --from-submission or --email/--name/--alias, not both")
        submission_records.records_from_submission(
            data_dir,
            endpoint,
            from_submission,
            wg_key,
            passphrase_file,
            person or [],
            all_bad_actors,
            status,
            expiry,
            ref,
            ref_prefix,
            json_out,
        )
        return
    if person or all_bad_actors or ref_prefix:
        raise CliError("--person, --all-bad-actors and --ref-prefix need --from-submission")
    if ref is None:
        raise CliError("--ref is required (or record people from a report with --from-submission)")
    identifiers = [Identifier(Kind.EMAIL, e) for e in email or []]
    identifiers += [Identifier(Kind.NAME, n) for n in name or []]
    if not identifiers:
        raise CliError("a record needs at least one --email or --name")
    identifiers += [Identifier(Kind.NAME, a) for a in alias or []]
    for position, ident in enumerate(identifiers, start=1):
        try:
            normalize(ident.kind, ident.value)
        except CoreError as exc:
            raise CliError(f"--{ident.kind.value} number {position}: {exc}") from exc
        hint = unspaced_name_hint(ident.value) if ident.kind is Kind.NAME else None
        if hint is not None and not json_out:
            console.print(f"Hint: --{ident.kind.value} number {position}: {hint}.")
    forms = len(record_messages(identifiers))
    if forms > MAX_POINTS_PER_RECORD:
        raise CliError(
            f"this record would be registered under {forms} forms (names count once per "
            f"spelling variant); at most {MAX_POINTS_PER_RECORD}: give fewer aliases"
        )
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    record = ref

    async def go() -> tuple[str, int, int]:
        async with admin_client(rdir, address) as client:
            response = await client.add_record(record, status, identifiers, expiry)
        return (
            response.record.record_ref,
            response.record.identifier_count,
            int(response.snapshot_version),
        )

    record_ref, count, version = run(go(), address)
    if json_out:
        emit_json(
            {
                "record_ref": record_ref,
                "status": status,
                "identifiers": count,
                "expires_on": expiry.isoformat() if expiry else None,
                "snapshot_version": version,
            }
        )
        return
    lapses = f"expires {expiry.isoformat()}" if expiry else "no expiry"
    console.print(
        f"Added {record_ref} ({status}, {count} identifier(s), {lapses}); "
        f"snapshot version {version}."
    )


@record_app.command("remove")
def record_remove(
    data_dir: DataDir,
    ref: Annotated[str, typer.Argument(help="The record reference to remove.")],
    endpoint: Endpoint = None,
) -> None:
    """Remove a record; it leaves the next snapshot."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> int:
        async with admin_client(rdir, address) as client:
            return await client.remove_record(ref)

    version = run(go(), address)
    console.print(f"Removed {ref}; snapshot version {version}.")


@record_app.command("list")
def record_list(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """List records: references, statuses, expiry. Never key material."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> tuple[list[dict[str, object]], int, int]:
        async with admin_client(rdir, address) as client:
            response = await client.list_records()
        rows: list[dict[str, object]] = [
            {
                "record_ref": r.record_ref,
                "status": snapshot.STATUS_NAMES[r.status],
                "expires_on": r.expires_on or None,
                "identifiers": r.identifier_count,
                "created_at": r.created_at,
            }
            for r in response.records
        ]
        return rows, int(response.epoch), int(response.snapshot_version)

    rows, epoch, version = run(go(), address)
    if json_out:
        emit_json({"epoch": epoch, "snapshot_version": version, "records": rows})
        return
    table(
        f"Records (epoch {epoch}, snapshot version {version})",
        ["record", "status", "identifiers", "expires", "added"],
        [
            (
                r["record_ref"],
                r["status"],
                r["identifiers"],
                r["expires_on"] or "never",
                str(r["created_at"])[:10],
            )
            for r in rows
        ],
    )
