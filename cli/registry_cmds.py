"""`lanyard registry …`: the working group's commands (init, serve, events, records,
report readers and submissions)."""

from __future__ import annotations

import asyncio
import calendar
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from cli import common, submission_cmds, wg_cmds
from cli.admin_client import AdminClient, Identifier
from cli.common import run
from cli.output import CliError, console, emit_json, table
from services.core import keys, snapshot
from services.core.channels import open_channel
from services.core.enrolment import Enrolment
from services.core.errors import Error as CoreError
from services.core.identity import Kind, normalize
from services.registry import server
from services.registry.datadir import RegistryDir

app = typer.Typer(
    help="The working group's registry: set-up, serving, events, records, report readers "
    "and submissions.",
    no_args_is_help=True,
)
event_app = typer.Typer(help="Enrol, revoke and list events.", no_args_is_help=True)
record_app = typer.Typer(help="Add, remove and list flagged/banned records.", no_args_is_help=True)
app.add_typer(event_app, name="event")
app.add_typer(record_app, name="record")
key_app = typer.Typer(help="Rotate the registry's OPRF key.", no_args_is_help=True)
app.add_typer(key_app, name="key")
app.add_typer(wg_cmds.recipient_app, name="recipient")
app.add_typer(submission_cmds.submission_app, name="submission")


def default_data_dir() -> Path:
    return common.default_data_dir("LANYARD_REGISTRY_DIR", "registry")


DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        "-d",
        envvar="LANYARD_REGISTRY_DIR",
        default_factory=default_data_dir,
        help="Registry data directory.",
        show_default="~/.local/share/lanyard/registry",
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option("--endpoint", help="Registry address (default: where `serve` listens)."),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _dir(data_dir: Path) -> RegistryDir:
    rdir = RegistryDir(data_dir)
    rdir.check()
    return rdir


@asynccontextmanager
async def admin_client(rdir: RegistryDir, endpoint: str) -> AsyncIterator[AdminClient]:
    channel = open_channel(endpoint)
    try:
        yield AdminClient(channel, rdir.admin_key())
    finally:
        await channel.close()


@app.command()
def init(
    data_dir: DataDir,
    listen: Annotated[str, typer.Option(help="Address `serve` listens on.")] = "127.0.0.1:4750",
) -> None:
    """Create a data directory: database, OPRF key for epoch 1, signing and admin keys."""
    rdir = asyncio.run(server.init_registry(data_dir, listen))
    console.print(
        f"Registry initialised in {rdir.path} (epoch 1, listening on {listen} when served)."
    )
    console.print(f"Signing key: {bytes(rdir.signing_key().verify_key).hex()}")


@app.command()
def serve(
    data_dir: DataDir,
    listen: Annotated[str | None, typer.Option(help="Override the configured address.")] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow plaintext on a non-loopback address (never in production).",
        ),
    ] = False,
) -> None:
    """Run the registry's gRPC service until SIGTERM or Ctrl-C."""
    asyncio.run(server.serve(_dir(data_dir), listen, insecure))


def _read_public_key(value: str) -> bytes:
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read public key file {value[1:]}: {exc.strerror}") from exc
    try:
        return keys.parse_public_key_hex(text, "--public-key")
    except CoreError as exc:
        raise CliError(str(exc)) from exc


def _parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag} must be a date like 2027-05-14, got {value!r}") from exc


def _require_date(value: str, flag: str) -> date:
    parsed = _parse_date(value, flag)
    if parsed is None:
        raise CliError(f"{flag} is required")
    return parsed


@event_app.command("enroll")
def event_enroll(
    data_dir: DataDir,
    event_id: Annotated[str, typer.Option("--id", help="Event id, e.g. djangocon-eu-2027.")],
    name: Annotated[str, typer.Option(help="The event's public name.")],
    starts: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    ends: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
    public_key: Annotated[
        str,
        typer.Option(help="The agent's Ed25519 public key: 64 hex digits, or @FILE holding them."),
    ],
    quota: Annotated[int, typer.Option(help="Evaluations the event may make.")] = 20_000,
    out: Annotated[Path | None, typer.Option(help="Write the enrolment bundle here.")] = None,
    bundle_endpoint: Annotated[
        str | None,
        typer.Option(help="Registry address the event should use (default: this registry's)."),
    ] = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Enrol an event and write the bundle its agent pins."""
    rdir = _dir(data_dir)
    key = _read_public_key(public_key)
    start_date, end_date = _require_date(starts, "--starts"), _require_date(ends, "--ends")
    address = endpoint or rdir.endpoint()

    async def go() -> dict[str, object]:
        async with admin_client(rdir, address) as client:
            response = await client.enroll_event(event_id, name, start_date, end_date, key, quota)
        return Enrolment(
            event_id=response.event.event_id,
            event_name=response.event.name,
            endpoint=bundle_endpoint or address,
            registry_public_key=response.registry_public_key,
            suite=response.suite,
            starts_on=start_date,
            ends_on=end_date,
        ).to_json()

    bundle = run(go(), address)
    if out is not None:
        out.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    if json_out:
        emit_json(bundle)
        return
    console.print(f"Enrolled {event_id} ({name}, {starts} to {ends}), quota {quota}.")
    if out is not None:
        console.print(f"Enrolment bundle written to {out}: send it to the event's organisers.")


@event_app.command("revoke")
def event_revoke(
    data_dir: DataDir,
    event_id: Annotated[str, typer.Argument(help="The event to revoke.")],
    endpoint: Endpoint = None,
) -> None:
    """Revoke an event's key: its calls are refused from now on."""
    rdir = _dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> None:
        async with admin_client(rdir, address) as client:
            await client.revoke_event(event_id)

    run(go(), address)
    console.print(f"Revoked {event_id}: its calls are refused from now on.")


@event_app.command("list")
def event_list(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """List enrolled events, their quotas and use."""
    rdir = _dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> list[dict[str, object]]:
        async with admin_client(rdir, address) as client:
            events = await client.list_events()
        return [
            {
                "event_id": e.event_id,
                "name": e.name,
                "starts_on": e.starts_on,
                "ends_on": e.ends_on,
                "quota": e.quota,
                "used": e.evaluations_used,
                "revoked_at": e.revoked_at or None,
            }
            for e in events
        ]

    rows = run(go(), address)
    if json_out:
        emit_json(rows)
        return
    table(
        "Events",
        ["event", "name", "dates", "used / quota", "state"],
        [
            (
                r["event_id"],
                r["name"],
                f"{r['starts_on']} – {r['ends_on']}",
                f"{r['used']} / {r['quota']}",
                "revoked" if r["revoked_at"] else "active",
            )
            for r in rows
        ],
    )


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
    expiry = _parse_date(expires, "--expires") or default_expiry(
        status, _parse_date(ban_until, "--ban-until"), date.today()
    )
    if from_submission is not None:
        if email or name:
            raise CliError("give --from-submission or --email/--name, not both")
        submission_cmds.records_from_submission(
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
    for position, ident in enumerate(identifiers, start=1):
        try:
            normalize(ident.kind, ident.value)
        except CoreError as exc:
            raise CliError(f"--{ident.kind.value} number {position}: {exc}") from exc
    rdir = _dir(data_dir)
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
    rdir = _dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> int:
        async with admin_client(rdir, address) as client:
            return await client.remove_record(ref)

    version = run(go(), address)
    console.print(f"Removed {ref}; snapshot version {version}.")


@record_app.command("list")
def record_list(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """List records: references, statuses, expiry. Never key material."""
    rdir = _dir(data_dir)
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


@key_app.command("rotate")
def key_rotate(
    data_dir: DataDir,
    endpoint: Endpoint = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Move every record to a new OPRF key (spec §6); the old key is destroyed."""
    rdir = _dir(data_dir)
    address = endpoint or rdir.endpoint()
    if not yes and not typer.confirm(
        "Rotate the OPRF key? Every event will evaluate its attendees again.", default=False
    ):
        raise CliError("key rotation cancelled; nothing changed")

    async def go() -> tuple[int, int, int]:
        async with admin_client(rdir, address) as client:
            response = await client.rotate_key(await client.current_epoch())
        return int(response.epoch), int(response.snapshot_version), int(response.points)

    epoch, version, points = run(go(), address)
    if json_out:
        emit_json({"epoch": epoch, "snapshot_version": version, "points": points})
        return
    console.print(
        f"Rotated to epoch {epoch}: {points} stored point(s) moved, snapshot "
        f"version {version}; the old key is destroyed."
    )
