"""The event's commands: `lanyard agent …`, `lanyard screen`, `lanyard check`, `lanyard alerts`."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from cli import common
from cli.common import run
from cli.output import CliError, console, emit_json, table
from services.core import keys
from services.event_agent import server
from services.event_agent.csv_import import Export, open_export
from services.event_agent.datadir import AgentDir
from services.event_agent.decision import Result
from services.event_agent.errors import Error as AgentError
from services.event_agent.incidents import crypto
from services.event_agent.screening import ScreenOutcome, count_lines, screen_export
from services.event_agent.service import AgentService
from services.event_agent.store import Alert

T = TypeVar("T")

app = typer.Typer(
    help="The event's agent: set-up, enrolment, serving ticketing systems.", no_args_is_help=True
)
integration_app = typer.Typer(
    help="Keys for ticketing systems that call Check.", no_args_is_help=True
)
retention_app = typer.Typer(
    help="Delete attendee data on the event's schedule.", no_args_is_help=True
)
app.add_typer(integration_app, name="integration")
app.add_typer(retention_app, name="retention")


def default_agent_dir() -> Path:
    return common.default_data_dir("LANYARD_AGENT_DIR", "agent")


DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        "-d",
        envvar="LANYARD_AGENT_DIR",
        default_factory=default_agent_dir,
        help="Agent data directory.",
        show_default="~/.local/share/lanyard/agent",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File whose first line is the incident records' passphrase "
        "(else LANYARD_AGENT_PASSPHRASE).",
    ),
]
MasterKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="A 32-byte key file that locks the incident records instead of a passphrase "
        "(created by incidents-init when missing).",
    ),
]


def _read_passphrase_file(path: Path) -> str:
    try:
        if path.stat().st_mode & 0o077:
            raise CliError(
                f"passphrase file {path} is readable by other users; run chmod 600 on it"
            )
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"passphrase file {path} is not UTF-8 text") from exc
    if not lines or not lines[0]:
        raise CliError(f"passphrase file {path} is empty; the passphrase is its first line")
    return lines[0]


def _unlock(passphrase_file: Path | None, key_file: Path | None, prompt: bool) -> crypto.Unlock:
    """The operator's choice of passphrase (file, environment, terminal) or key file."""
    if passphrase_file is not None and key_file is not None:
        raise CliError("give --passphrase-file or --key-file, not both")
    if key_file is not None:
        return crypto.Unlock(key_file=key_file)
    if passphrase_file is not None:
        return crypto.Unlock(passphrase=_read_passphrase_file(passphrase_file))
    env = crypto.passphrase_from_env()
    if env:
        return crypto.Unlock(passphrase=env)
    if prompt and sys.stdin.isatty():
        passphrase: str = typer.prompt(
            "Passphrase for the incident records", hide_input=True, confirmation_prompt=True
        )
        return crypto.Unlock(passphrase=passphrase)
    raise CliError(
        "no passphrase: give --passphrase-file or --key-file, set LANYARD_AGENT_PASSPHRASE, "
        "or run this on a terminal to type one"
    )


def with_agent(data_dir: Path, work: Callable[[AgentService], Awaitable[T]]) -> T:
    adir = AgentDir(data_dir)

    async def go() -> T:
        async with server.opened(adir) as agent:
            return await work(agent)

    endpoint = ""
    if adir.enrolment_path.exists():
        endpoint = adir.enrolment().endpoint
    return run(go(), endpoint)


@app.command()
def init(
    data_dir: DataDir,
    listen: Annotated[
        str, typer.Option(help="Address `agent serve` listens on.")
    ] = "127.0.0.1:4760",
) -> None:
    """Create the agent's data directory and the event's Ed25519 key."""
    adir = AgentDir(data_dir)
    public = server.init_agent(adir, listen)
    console.print(f"Agent initialised in {adir.path}.")
    console.print(f"Send this public key to the WG to be enrolled: {public.hex()}")
    console.print(f"(also in {adir.public_key_path})")


@app.command()
def enroll(
    data_dir: DataDir,
    bundle: Annotated[Path, typer.Argument(help="The enrolment bundle the WG sent.")],
) -> None:
    """Pin the WG's enrolment bundle: registry address and signing key."""
    adir = AgentDir(data_dir)
    adir.check()
    enrolment = adir.pin(bundle)
    console.print(
        f"Enrolled as {enrolment.event_id} ({enrolment.event_name}); registry "
        f"{enrolment.endpoint}, key {enrolment.registry_public_key.hex()[:16]}… "
        "pinned."
    )


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
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
) -> None:
    """Serve Check for ticketing systems and follow the WG's snapshot until SIGTERM.

    When incident records are set up, they are unlocked first (--passphrase-file,
    --key-file, or LANYARD_AGENT_PASSPHRASE) and served to the Code of Conduct team.
    """
    adir = AgentDir(data_dir)
    unlock = None
    if passphrase_file is not None or key_file is not None:
        unlock = _unlock(passphrase_file, key_file, prompt=False)
    asyncio.run(server.serve(adir, listen, insecure, unlock))


@app.command("incidents-init")
def incidents_init(
    data_dir: DataDir,
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
    kdf: Annotated[
        str,
        typer.Option(
            help="How hard the passphrase is to guess by brute force: interactive, moderate "
            "or sensitive (slower to unlock)."
        ),
    ] = "moderate",
) -> None:
    """Set up the incident records' master key, locked by a passphrase or a key file."""
    if kdf not in crypto.KDF_LIMITS:
        raise CliError(f"--kdf must be one of {', '.join(crypto.KDF_LIMITS)}, got {kdf!r}")
    adir = AgentDir(data_dir)
    adir.check()
    if adir.master_path.exists():
        raise CliError(f"the incident records in {adir.path} are already set up")
    unlock = _unlock(passphrase_file, key_file, prompt=True)
    server.init_incidents(adir, unlock, kdf)
    if unlock.key_file is not None:
        console.print(
            f"Incident records set up in {adir.path}, locked by the key file {unlock.key_file} "
            "(mode 0600): keep it apart from the data directory and its backups."
        )
        if unlock.key_file.resolve().is_relative_to(adir.path.resolve()):
            console.print(
                "[yellow]Warning:[/yellow] the key file is inside the data directory; "
                "anyone with a copy of the directory can read the records."
            )
    else:
        console.print(
            f"Incident records set up in {adir.path}, locked by your passphrase: without it "
            "they cannot be read, by anyone."
        )
    console.print(
        "Restart `lanyard agent serve` with the same passphrase or key file to serve them, "
        "then add the first chair with `lanyard team add NAME --role chair --public-key HEX "
        "--operator`."
    )


@integration_app.command("add")
def integration_add(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="A name for the ticketing system, e.g. pretix.")],
    out: Annotated[Path, typer.Option(help="Where to write its credentials (mode 0600).")],
) -> None:
    """Create a key for a ticketing system to call Check with."""
    adir = AgentDir(data_dir)
    key = with_agent(data_dir, lambda agent: agent.add_integration(name))
    credentials = {
        "key_id": f"integration:{name}",
        "private_key": bytes(key).hex(),
        "endpoint": adir.endpoint(),
    }
    keys.write_secret(out, (json.dumps(credentials, indent=2) + "\n").encode())
    console.print(
        f"Integration {name} created; its credentials are in {out} (mode 0600). "
        "Give them to the ticketing system only."
    )


@integration_app.command("revoke")
def integration_revoke(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The integration to revoke.")],
) -> None:
    """Revoke a ticketing system's key: its calls are refused from now on."""
    with_agent(data_dir, lambda agent: agent.revoke_integration(name))
    console.print(f"Integration {name} revoked.")


@retention_app.command("apply")
def retention_apply(data_dir: DataDir) -> None:
    """Delete attendee lists and results if the retention period after the event is over."""
    days = AgentDir(data_dir).load_config().attendee_retention_days
    deleted = with_agent(data_dir, lambda agent: agent.apply_retention(days))
    if deleted:
        console.print(f"Deleted {deleted} screened people ({days} days after the event).")
    else:
        console.print(
            f"Nothing to delete yet: attendee data is kept until {days} days after the event ends."
        )


def _outcome_json(outcome: ScreenOutcome) -> dict[str, Any]:
    report = outcome.report
    return {
        "summary": {
            "screened": report.screened,
            "clear": report.counts.get("allow", 0),
            "review": report.counts.get("review", 0),
            "deny": report.counts.get("deny", 0),
            "skipped": len(report.skipped),
            "resumed_after_line": outcome.resumed_after_line,
            "already_screened": outcome.already_done,
        },
        "matches": [
            {
                "line": m.line,
                "ref": m.ref,
                "decision": m.result.decision.value,
                "matched": m.result.matched,
                "reason": m.result.reason.value,
                "record_ref": m.result.record_ref,
            }
            for m in report.matches
        ],
        "skipped": [{"line": s.line, "ref": s.ref, "reason": s.reason} for s in report.skipped],
    }


def _write_out(path: Path, data: dict[str, Any]) -> None:
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "ref", "decision", "matched", "reason", "record_ref"])
            for m in data["matches"]:
                writer.writerow(
                    [m["line"], m["ref"], m["decision"], m["matched"], m["reason"], m["record_ref"]]
                )
    else:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def print_outcome(outcome: ScreenOutcome) -> None:
    data = _outcome_json(outcome)
    s = data["summary"]
    if outcome.already_done:
        console.print("This file was already screened with these settings; showing that run.")
    elif outcome.resumed_after_line:
        console.print(f"Resumed after line {outcome.resumed_after_line}.")
    console.print(
        f"Screened {s['screened']}: [green]{s['clear']} clear[/green], "
        f"[yellow]{s['review']} review[/yellow], [red]{s['deny']} deny[/red], "
        f"{s['skipped']} skipped."
    )
    if data["matches"]:
        table(
            "Matches",
            ["line", "ref", "decision", "matched", "record"],
            [
                (m["line"], m["ref"], m["decision"], m["matched"], m["record_ref"])
                for m in data["matches"]
            ],
        )
    if data["skipped"]:
        table(
            "Skipped rows (fix and screen again)",
            ["line", "ref", "reason"],
            [(r["line"], r["ref"], r["reason"]) for r in data["skipped"]],
        )


async def screen_with_progress(
    agent: AgentService, export: Export, role: str, show_bar: bool
) -> ScreenOutcome:
    """Screen `export`; on a terminal, a bar shows rows, rate and time left."""
    if not show_bar:
        return await screen_export(agent, export, role)
    total = await asyncio.to_thread(count_lines, export)
    with Progress(
        TextColumn("Screening"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=total, rate="–")

        def advance(rows: int) -> None:
            bar.advance(task, rows)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "–")

        return await screen_export(agent, export, role, progress=advance)


def screen(
    file: Annotated[
        Path,
        typer.Argument(
            help="A ticketing export (pretix, Tito, Eventbrite or a plain name/email CSV)."
        ),
    ],
    data_dir: DataDir,
    role: Annotated[str, typer.Option(help="attendee or speaker.")] = "attendee",
    name_col: Annotated[str | None, typer.Option(help="Column holding the full name.")] = None,
    email_col: Annotated[str | None, typer.Option(help="Column holding the e-mail.")] = None,
    ref_col: Annotated[str | None, typer.Option(help="Column holding the reference.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write results here (.json or .csv).")] = None,
    json_out: JsonOut = False,
) -> None:
    """Screen a whole export against the WG's list; only blinded points leave."""
    if role not in ("attendee", "speaker"):
        raise CliError(f"--role must be attendee or speaker, got {role!r}")
    export = open_export(file, name_col=name_col, email_col=email_col, ref_col=ref_col)
    show_bar = console.is_terminal and not json_out
    outcome = with_agent(
        data_dir, lambda agent: screen_with_progress(agent, export, role, show_bar)
    )
    data = _outcome_json(outcome)
    if out is not None:
        _write_out(out, data)
    if json_out:
        emit_json(data)
    else:
        print_outcome(outcome)
        if out is not None:
            console.print(f"Results written to {out}.")


def check(
    data_dir: DataDir,
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    role: Annotated[str, typer.Option(help="attendee or speaker.")] = "attendee",
    ref: Annotated[str, typer.Option(help="Your reference for this person.")] = "",
    json_out: JsonOut = False,
) -> None:
    """Screen one person."""

    async def work(agent: AgentService) -> Result:
        # A one-shot command follows no stream: take the newest list first, if reachable.
        with contextlib.suppress(grpc.aio.AioRpcError, AgentError):
            await agent.sync()
        return await agent.check(name, email, role, ref)

    result = with_agent(data_dir, work)
    if json_out:
        emit_json(
            {
                "decision": result.decision.value,
                "reason": result.reason.value,
                "matched": result.matched,
                "record_ref": result.record_ref,
            }
        )
        return
    if not result.reason:
        console.print("[green]ALLOW[/green]: not on the WG's list.")
        return
    colour = "red" if result.decision.value == "deny" else "yellow"
    console.print(
        f"[{colour}]{result.decision.value.upper()}[/{colour}]: {result.reason.value}"
        f" (record {result.record_ref})."
    )


def alerts(
    data_dir: DataDir,
    refresh: Annotated[bool, typer.Option(help="Fetch the newest snapshot first.")] = False,
    all_alerts: Annotated[bool, typer.Option("--all", help="Include acknowledged ones.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Matches found after screening: when the WG adds, removes or expires a record."""

    async def work(agent: AgentService) -> list[Alert]:
        if refresh:
            await agent.sync()
        return await agent.alerts(include_acknowledged=all_alerts)

    found = with_agent(data_dir, work)
    rows = [
        {
            "alert_id": a.alert_id,
            "ref": a.ref,
            "kind": a.kind,
            "decision": a.result.decision.value,
            "reason": a.result.reason.value,
            "record_ref": a.result.record_ref,
            "snapshot_version": a.snapshot_version,
            "raised_at": a.raised_at.isoformat() if a.raised_at else None,
        }
        for a in found
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        console.print("No alerts.")
        return
    table(
        "Alerts",
        ["#", "ref", "what", "decision", "reason", "record", "raised"],
        [
            (
                r["alert_id"],
                r["ref"],
                r["kind"],
                r["decision"],
                r["reason"],
                r["record_ref"],
                str(r["raised_at"])[:16],
            )
            for r in rows
        ],
    )
