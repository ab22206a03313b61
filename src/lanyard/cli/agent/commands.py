"""The event's agent commands (`lanyard agent …`) and the options and unlocking they share."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import nacl.signing
import typer
from rich.markup import escape

from lanyard.agent import operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.service import AgentService
from lanyard.agent.status import agent_status, problems
from lanyard.cli import common
from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, confirm, console, emit_json
from lanyard.core import files, passphrase

T = TypeVar("T")

app = typer.Typer(
    help="The event's agent: set-up, enrolment, serving ticketing systems.", no_args_is_help=True
)
integration_app = typer.Typer(
    help="Keys for ticketing systems that call Check.", no_args_is_help=True
)
app.add_typer(integration_app, name="integration")


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


def records_unlock(passphrase_file: Path | None, key_file: Path | None) -> crypto.Unlock:
    """Unlock the incident records for reading: file, environment, or one hidden prompt on
    a terminal (typed once; setting one up asks twice)."""
    if passphrase_file or key_file or crypto.passphrase_from_env() or not sys.stdin.isatty():
        return _unlock(passphrase_file, key_file, prompt=False)
    typed: str = typer.prompt("Passphrase for the incident records", hide_input=True)
    return crypto.Unlock(passphrase=typed)


def with_agent(data_dir: Path, work: Callable[[AgentService], Awaitable[T]]) -> T:
    adir = AgentDir(data_dir)

    async def go() -> T:
        async with operator.opened(adir) as agent:
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
    public = operator.init_agent(adir, listen)
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
    webhooks: Annotated[
        str | None,
        typer.Option(
            help="Also receive Tito, pretix and Eventbrite webhooks on HOST:PORT (as set up "
            "in webhooks.toml; HTTPS, or HTTP on loopback only).",
        ),
    ] = None,
) -> None:
    """Serve Check for ticketing systems and follow the WG's snapshot until SIGTERM.

    When incident records are set up, they are unlocked first (--passphrase-file,
    --key-file, or LANYARD_AGENT_PASSPHRASE) and served to the Code of Conduct team.
    """
    from lanyard.agent import server  # the gRPC server: only `serve` needs it (start-up)

    adir = AgentDir(data_dir)
    unlock = None
    if passphrase_file is not None or key_file is not None:
        unlock = _unlock(passphrase_file, key_file, prompt=False)
    asyncio.run(server.serve(adir, listen, insecure, unlock, webhooks, common.announcer("Agent")))


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
    if kdf not in passphrase.STRENGTHS:
        raise CliError(f"--kdf must be one of {', '.join(passphrase.STRENGTHS)}, got {kdf!r}")
    adir = AgentDir(data_dir)
    adir.check()
    if adir.master_path.exists():
        raise CliError(f"the incident records in {adir.path} are already set up")
    unlock = _unlock(passphrase_file, key_file, prompt=True)
    operator.init_incidents(adir, unlock, kdf)
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
    key = with_agent(data_dir, lambda agent: agent.add_integration(name))
    _write_credentials(AgentDir(data_dir), name, key, out)
    console.print(
        f"Integration {name} created; its credentials are in {out} (mode 0600). "
        "Give them to the ticketing system only."
    )


def _write_credentials(adir: AgentDir, name: str, key: nacl.signing.SigningKey, out: Path) -> None:
    credentials = {
        "key_id": f"integration:{name}",
        "private_key": bytes(key).hex(),
        "endpoint": adir.endpoint(),
    }
    files.write_atomically(out, (json.dumps(credentials, indent=2) + "\n").encode())


@integration_app.command("rotate")
def integration_rotate(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The integration whose key to replace.")],
    out: Annotated[Path, typer.Option(help="Where to write its new credentials (mode 0600).")],
) -> None:
    """Give a ticketing system a new key; the old one keeps working until `retire-old`."""
    key = with_agent(data_dir, lambda agent: agent.rotate_integration(name))
    _write_credentials(AgentDir(data_dir), name, key, out)
    console.print(
        f"Integration {name} has a new key in {out} (mode 0600); its old key still works. "
        f"Once the ticketing system uses the new one, run `lanyard agent integration "
        f"retire-old {name}`."
    )


@integration_app.command("retire-old")
def integration_retire_old(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The integration that moved to its new key.")],
) -> None:
    """End a rotation's overlap: the integration's old key is refused from now on."""
    with_agent(data_dir, lambda agent: agent.retire_previous_integration_key(name))
    console.print(f"Integration {name}: its old key is refused from now on.")


@integration_app.command("revoke")
def integration_revoke(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The integration to revoke.")],
) -> None:
    """Revoke a ticketing system's key: its calls are refused from now on."""
    with_agent(data_dir, lambda agent: agent.revoke_integration(name))
    console.print(f"Integration {name} revoked.")


@app.command("rekey")
def rekey(
    data_dir: DataDir,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the event's key: the old key vouches for the new one at the registry, and
    the enrolment keeps its quota, screening and submissions. Restart `agent serve`."""
    confirm(
        "A running `agent serve` must be restarted. Replace the event's key?",
        "replace the event's key",
        yes,
        "nothing changed",
    )
    adir = AgentDir(data_dir)
    endpoint = adir.enrolment().endpoint if adir.enrolment_path.exists() else ""
    public, retired = run(operator.rekey_event(adir), endpoint)
    console.print(
        f"The event's key is now {public.hex()} ({retired} earlier key(s) retired at the "
        "registry). Restart `lanyard agent serve` if it is running; team members and "
        "ticketing systems keep their own keys."
    )


@app.command()
def status(data_dir: DataDir, json_out: JsonOut = False) -> None:
    """Snapshot age and epoch, pending re-evaluations, quota, registry, outbox, alerts,
    background tasks. Exits 1 when something needs looking at."""
    adir = AgentDir(data_dir)

    async def work(agent: AgentService) -> dict[str, Any]:
        return await agent_status(agent, adir)

    found = with_agent(data_dir, work)
    issues = problems(found)
    if json_out:
        emit_json({**found, "problems": issues})
    else:
        snap, quota = found["snapshot"], found["quota"]
        age = "never confirmed" if snap["age_seconds"] is None else f"{snap['age_seconds']} s old"
        console.print(f"Event {found['event_id']}")
        console.print(f"  snapshot: version {snap['version']}, epoch {snap['epoch']}, {age}")
        rotation = found["rotation"]
        if rotation["next_epoch"] is not None:
            console.print(
                f"  rotation: to epoch {rotation['next_epoch']}, "
                f"{rotation['pending_identities']} identities pending"
            )
        if quota is not None:
            console.print(
                f"  quota: {quota['used']} of {quota['quota']} used, {quota['left']} left "
                f"(evaluations from {quota['evaluate_from']} to {quota['evaluate_until']})"
            )
        reachable = "reachable" if found["registry"]["reachable"] else "NOT reachable"
        console.print(f"  registry: {found['registry']['endpoint']} {reachable}")
        faults = found["registry_faults"]
        if faults["open"]:
            newest = faults["newest"]
            console.print(
                f"  registry faults: {faults['open']} open; newest #{newest['fault_id']} "
                f"({newest['kind']}, {str(newest['raised_at'])[:16]}): {newest['reason']}",
                markup=False,
            )
        else:
            console.print("  registry faults: none open")
        console.print(f"  outbox: {found['outbox_pending']} report(s) waiting")
        console.print(f"  alerts: {found['alerts_open']} open")
        serve = found["serve"]
        if not serve["running"]:
            console.print("  agent serve: not running")
        for name, task in sorted(serve["tasks"].items()):
            console.print(f"  task {name}: {task['summary']}", markup=False)
        for issue in issues:
            console.print(f"[yellow]! {escape(issue)}[/yellow]")
    if issues:
        raise typer.Exit(1)
