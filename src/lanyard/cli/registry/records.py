"""`lanyard registry record …`: the WG's flagged and banned records.

A record is added through the blinded round, so identifiers never leave this machine; it
can also be made from the people an end-of-event report names (`--from-submission`). Its
expiry follows DESIGN.md's retention schedule unless given.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, confirm, console, emit_json, table
from lanyard.cli.registry import record_import, submission_records
from lanyard.cli.registry.common import (
    DataDir,
    Endpoint,
    admin_client,
    open_dir,
    parse_date,
    refuse_lapsed,
    schedule_expiry,
)
from lanyard.cli.wg import commands as wg_cmds
from lanyard.client.admin import AdminClient, Identifier, record_messages
from lanyard.core import snapshot
from lanyard.core.address import checked_identifier
from lanyard.core.errors import Error as CoreError
from lanyard.core.identity import Kind, unspaced_name_hint
from lanyard.registry.record_ops import MAX_POINTS_PER_RECORD
from lanyard.wire.registry.v1 import admin_pb2

record_app = typer.Typer(help="Add, remove and list flagged/banned records.", no_args_is_help=True)


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
    ban_end = parse_date(ban_until, "--ban-until")
    if ban_end is not None and status != "banned":
        raise CliError("--ban-until is for banned records only")
    given = parse_date(expires, "--expires")
    today = date.today()
    refuse_lapsed(given, today)
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
            given,
            ref,
            ref_prefix,
            json_out,
            ban_end,
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
            identifiers[position - 1] = Identifier(
                ident.kind, checked_identifier(ident.kind, ident.value)
            )
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

    async def go() -> admin_pb2.AddRecordResponse:
        async with admin_client(rdir, address) as client:
            if given is None and ban_end is not None:
                # The registry derives the expiry from the ban's end by its own schedule:
                # check it before the blinded round, which would be logged for nothing.
                derived = await schedule_expiry(client, status, ban_end, today)
                refuse_lapsed(derived, today, ban_end, "--ban-until")
            return await client.add_record(record, status, identifiers, given, ban_end)

    response = run(go(), address)
    lapse = response.record.expires_on or None
    extended = list(response.extended_refs)
    if json_out:
        emit_json(
            {
                "record_ref": response.record.record_ref,
                "status": status,
                "identifiers": response.record.identifier_count,
                "expires_on": lapse,
                "snapshot_version": int(response.snapshot_version),
                "extended": extended,
            }
        )
        return
    lapses = f"expires {lapse}" if lapse else "no expiry"
    console.print(
        f"Added {response.record.record_ref} ({status}, "
        f"{response.record.identifier_count} identifier(s), {lapses}); "
        f"snapshot version {response.snapshot_version}."
    )
    if extended:
        console.print(
            f"The same person stands in {', '.join(extended)}: extended to "
            f"{lapse or 'no expiry'} (the repeat rule)."
        )


@record_app.command("remove")
def record_remove(
    data_dir: DataDir,
    ref: Annotated[str, typer.Argument(help="The record reference to remove.")],
    endpoint: Endpoint = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a record; it leaves the next snapshot. Cannot be undone: asks first on a
    terminal, and needs --yes elsewhere."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()
    confirm(
        f"{ref} leaves the WG's list at every event, and adding it back needs the person's "
        "identifiers again. Remove it?",
        f"remove {ref}",
        yes,
        f"{ref} was not removed; nothing changed",
    )

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


record_app.command("import")(record_import.record_import)


MemberKey = Annotated[
    Path | None,
    typer.Option(
        "--wg-key",
        envvar="LANYARD_WG_KEY",
        help="Sign in as this WG member (default: the operator's key in --data-dir).",
    ),
]


def _session(
    data_dir: Path, endpoint: str | None, wg_key: Path | None, passphrase_file: Path | None
) -> wg_cmds.Session:
    if wg_key is not None:
        return wg_cmds.member_session(data_dir, endpoint, wg_key, passphrase_file)
    return wg_cmds.operator_session(data_dir, endpoint)


def _date_or(value: str | None, flag: str, clear_word: str) -> date | Literal["clear"] | None:
    if value is None:
        return None
    if value == clear_word:
        return "clear"
    return parse_date(value, flag)


@record_app.command("update")
def record_update(
    data_dir: DataDir,
    ref: Annotated[str, typer.Argument(help="The record reference to change.")],
    status: Annotated[str | None, typer.Option(help="flagged or banned.")] = None,
    ban_until: Annotated[
        str | None, typer.Option(help="End of the ban, YYYY-MM-DD, or 'none' for no end.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            help="Date the record lapses, or 'never' (default when the status or ban end "
            "changes: the retention schedule, as for `record add`)."
        ),
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option(help="Another name of the person (repeatable).")
    ] = None,
    alias_email: Annotated[
        list[str] | None, typer.Option(help="Another e-mail address of the person (repeatable).")
    ] = None,
    wg_key: MemberKey = None,
    passphrase_file: wg_cmds.WgPassphraseFile = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Change a record: status, ban end, expiry, aliases (through the blinded round)."""
    if status is not None and status not in snapshot.STATUS_VALUES:
        raise CliError(f"--status must be flagged or banned, got {status!r}")
    ban = _date_or(ban_until, "--ban-until", "none")
    expiry = _date_or(expires, "--expires", "never")
    today = date.today()
    if isinstance(expiry, date):
        refuse_lapsed(expiry, today)
    aliases = [Identifier(Kind.NAME, n) for n in alias or []]
    aliases += [Identifier(Kind.EMAIL, e) for e in alias_email or []]
    for position, ident in enumerate(aliases, start=1):
        try:
            aliases[position - 1] = Identifier(
                ident.kind, checked_identifier(ident.kind, ident.value)
            )
        except CoreError as exc:
            raise CliError(f"alias number {position}: {exc}") from exc
    if status is None and ban is None and expiry is None and not aliases:
        raise CliError("nothing to change: give --status, --ban-until, --expires or --alias")
    session = _session(data_dir, endpoint, wg_key, passphrase_file)

    async def go(client: AdminClient) -> admin_pb2.UpdateRecordResponse:
        new_expiry = expiry
        if expiry is None and (status is not None or ban is not None):
            current = (await client.get_record(ref)).record
            new_status = status or snapshot.STATUS_NAMES[current.status]
            if ban is None:
                new_ban = parse_date(current.ban_until or None, "ban_until")
            else:
                new_ban = None if ban == "clear" else ban
            if new_ban is not None and new_status != "banned":
                raise CliError("--ban-until is for banned records only")
            derived = await schedule_expiry(client, new_status, new_ban, today)
            refuse_lapsed(
                derived, today, new_ban, "--ban-until" if ban is not None else f"{ref}'s ban end"
            )
            new_expiry = derived or "clear"
        return await client.update_record(ref, status, new_expiry, ban, aliases)

    response = session.run(go)
    rec = response.record
    row = _record_row(rec)
    if json_out:
        emit_json({**row, "snapshot_version": int(response.snapshot_version)})
        return
    console.print(
        f"Updated {escape(rec.record_ref)} ({row['status']}, {rec.identifier_count} "
        f"identifier(s), ban until {rec.ban_until or 'none'}, expires "
        f"{rec.expires_on or 'never'}); snapshot version {response.snapshot_version}."
    )


def _record_row(rec: admin_pb2.RecordInfo) -> dict[str, object]:
    return {
        "record_ref": rec.record_ref,
        "status": snapshot.STATUS_NAMES[rec.status],
        "identifiers": rec.identifier_count,
        "ban_until": rec.ban_until or None,
        "expires_on": rec.expires_on or None,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at or None,
        "submission_id": rec.submission_id or None,
    }


@record_app.command("show")
def record_show(
    data_dir: DataDir,
    ref: Annotated[str, typer.Argument(help="The record reference to show.")],
    wg_key: MemberKey = None,
    passphrase_file: wg_cmds.WgPassphraseFile = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """One record: status, dates, the report it came from, and who changed what when."""
    session = _session(data_dir, endpoint, wg_key, passphrase_file)
    response = session.run(lambda client: client.get_record(ref))
    row = _record_row(response.record)
    history = [
        {
            "snapshot_version": int(h.snapshot_version),
            "at": h.at,
            "by": h.by,
            "action": h.action,
            "detail": h.detail,
        }
        for h in response.history
    ]
    if json_out:
        emit_json({**row, "history": history})
        return
    console.print(
        f"Record {escape(str(row['record_ref']))}: {row['status']}, "
        f"{row['identifiers']} identifier(s), ban until {row['ban_until'] or 'none'}, "
        f"expires {row['expires_on'] or 'never'}; added {str(row['created_at'])[:10]}."
    )
    if row["submission_id"]:
        console.print(f"Made from end-of-event report (submission) {row['submission_id']}.")
    table(
        f"History of {escape(str(row['record_ref']))}",
        ["version", "when", "by", "action", "what"],
        [
            (h["snapshot_version"], str(h["at"])[:19], h["by"], h["action"], h["detail"])
            for h in history
        ],
    )
