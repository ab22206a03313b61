"""`lanyard registry …`: the working group's commands (init, serve, events, records,
report readers and submissions).

Records live in records.py, report readers in lanyard.cli.wg and submissions in
submissions.py; the options and helpers they share in common.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from lanyard.cli import health as health_cmd
from lanyard.cli.common import announcer, read_public_key, run
from lanyard.cli.output import CliError, JsonOut, confirm, console, emit_json, table
from lanyard.cli.registry import evaluations as evaluation_cmds
from lanyard.cli.registry import records as record_cmds
from lanyard.cli.registry import retention as retention_cmds
from lanyard.cli.registry import submissions as submission_cmds
from lanyard.cli.registry import tls as tls_cmds
from lanyard.cli.registry.common import (
    DataDir,
    Endpoint,
    admin_client,
    open_dir,
    registry_ca,
    require_date,
)
from lanyard.cli.wg import commands as wg_cmds
from lanyard.core import limits
from lanyard.core.enrolment import Enrolment
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir

app = typer.Typer(
    help="The working group's registry: set-up, serving, events, records, report readers "
    "and submissions.",
    no_args_is_help=True,
)
event_app = typer.Typer(help="Enrol, revoke and list events.", no_args_is_help=True)
app.add_typer(event_app, name="event")
app.add_typer(record_cmds.record_app, name="record")
key_app = typer.Typer(help="Rotate the registry's OPRF or signing key.", no_args_is_help=True)
app.add_typer(key_app, name="key")
app.add_typer(retention_cmds.retention_app, name="retention")
app.add_typer(wg_cmds.recipient_app, name="recipient")
app.add_typer(submission_cmds.submission_app, name="submission")
app.add_typer(tls_cmds.tls_app, name="tls")
app.command("evaluations")(evaluation_cmds.evaluations)


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
    asyncio.run(server.serve(open_dir(data_dir), listen, insecure, announcer("Registry")))


@app.command()
def status(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """Is the registry serving, and if not, why (disk full, data directory unwritable, a
    part failing)? Exit status 1 unless it is serving."""
    local = data_dir.is_dir()
    if endpoint is None and not local:
        raise CliError(
            f"give --endpoint (the registry's HOST:PORT): there is no registry data directory "
            f"at {data_dir}"
        )
    rdir = RegistryDir(data_dir)
    address = endpoint or rdir.endpoint()
    live = asyncio.run(health_cmd.ask(address, registry_ca()))
    problems: dict[str, str] = {}
    if local and live == "NOT_SERVING":
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads(rdir.health_path.read_text(encoding="utf-8"))
            problems = {str(k): str(v) for k, v in recorded.get("problems", {}).items()}
    if json_out:
        emit_json({"endpoint": address, "status": live, "problems": problems})
        if live != "SERVING":
            raise typer.Exit(1)
        return
    if live == "SERVING":
        console.print(f"The registry at {address} is serving.", highlight=False)
        return
    if live == "UNREACHABLE":
        raise CliError(
            f"the registry at {address} cannot be reached; is `lanyard registry serve` running?"
        )
    why = (
        "; ".join(f"{part}: {reason}" for part, reason in sorted(problems.items()))
        if problems
        else "no reason is recorded on this machine; see the registry's log (health.failing)"
    )
    raise CliError(f"the registry at {address} is not serving ({why})")


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
    if not limits.QUOTA_MIN <= quota <= limits.QUOTA_MAX:
        raise CliError(
            f"--quota must be {limits.QUOTA_MIN:,} to {limits.QUOTA_MAX:,} evaluations, "
            f"got {quota:,}"
        )
    rdir = open_dir(data_dir)
    key = read_public_key(public_key)
    start_date, end_date = require_date(starts, "--starts"), require_date(ends, "--ends")
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
            epoch=response.epoch,
            epoch_public_key=response.epoch_public_key,
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
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revoke an event's key: its calls are refused from now on. Cannot be undone: asks
    first on a terminal, and needs --yes elsewhere."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()
    confirm(
        f"{event_id} can no longer screen or submit reports, and only enrolling it again "
        "under a new id undoes that. Revoke it?",
        f"revoke {event_id}",
        yes,
        f"{event_id} was not revoked; nothing changed",
    )

    async def go() -> None:
        async with admin_client(rdir, address) as client:
            await client.revoke_event(event_id)

    run(go(), address)
    console.print(f"Revoked {event_id}: its calls are refused from now on.")


@event_app.command("quota")
def event_quota(
    data_dir: DataDir,
    event_id: Annotated[str, typer.Argument(help="The event whose quota to set.")],
    quota: Annotated[int, typer.Argument(min=1, help="The new total number of evaluations.")],
    endpoint: Endpoint = None,
) -> None:
    """Set an event's evaluation quota (for example so a key rotation can finish)."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()

    async def go() -> tuple[int, int]:
        async with admin_client(rdir, address) as client:
            info = await client.set_quota(event_id, quota)
            return int(info.quota), int(info.evaluations_used)

    total, used = run(go(), address)
    console.print(
        f"Quota of {event_id} set to {total} evaluations ({used} used, {total - used} left)."
    )


@event_app.command("list")
def event_list(data_dir: DataDir, endpoint: Endpoint = None, json_out: JsonOut = False) -> None:
    """List enrolled events, their quotas and use."""
    rdir = open_dir(data_dir)
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
                "public_key": e.public_key.hex(),
                "retired_keys": [k.hex() for k in e.retired_public_keys],
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


@key_app.command("rotate")
def key_rotate(
    data_dir: DataDir,
    signing: Annotated[
        bool,
        typer.Option(
            "--signing",
            help="Rotate the Ed25519 signing key instead: the old key vouches for the new "
            "one, and events follow without enrolling again.",
        ),
    ] = False,
    endpoint: Endpoint = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Move every record to a new OPRF key (spec §6; the old key is destroyed), or with
    --signing hand the signing key over to a new one."""
    rdir = open_dir(data_dir)
    address = endpoint or rdir.endpoint()
    if signing:
        _rotate_signing(rdir, address, yes, json_out)
        return
    confirm(
        "Every event will evaluate its attendees again. Rotate the OPRF key?",
        "rotate the OPRF key",
        yes,
        "key rotation cancelled; nothing changed",
    )

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


def _rotate_signing(rdir: RegistryDir, address: str, yes: bool, json_out: bool) -> None:
    confirm(
        "Events follow the chain on their next sync. Rotate the signing key?",
        "rotate the signing key",
        yes,
        "key rotation cancelled; nothing changed",
    )
    old = bytes(rdir.signing_key().verify_key)

    async def go() -> tuple[int, bytes, bytes]:
        async with admin_client(rdir, address) as client:
            t = await client.rotate_signing_key(old)
        return int(t.sequence), bytes(t.old_public_key), bytes(t.new_public_key)

    sequence, old_key, new_key = run(go(), address)
    if json_out:
        emit_json({"sequence": sequence, "old_key": old_key.hex(), "new_key": new_key.hex()})
        return
    console.print(
        f"Signing key handed over (transition {sequence}): {old_key.hex()[:16]}… → "
        f"{new_key.hex()}. Enrolled events follow the chain; new bundles pin the new key."
    )
