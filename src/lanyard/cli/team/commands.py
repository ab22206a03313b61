"""`lanyard team …`: the Code of Conduct team's keys and members.

Each member makes their own key on their own machine and sends only its public half to the
chair; the chair (or, for the first chair, the event's operator) adds them with a role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import nacl.signing
import typer

from lanyard.agent.incidents import messages as convert
from lanyard.agent.incidents.model import ROLES
from lanyard.cli.agent.commands import DataDir
from lanyard.cli.common import read_public_key
from lanyard.cli.incident.common import AgentOpt, CaOpt, KeyOpt, OperatorOpt, with_client
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say, table
from lanyard.client.incidents import (
    IncidentClient,
    MemberKey,
    create_member_key,
    default_member_key,
    load_member_key,
    save_member_key,
)
from lanyard.wire.agent.v1 import incidents_pb2 as pb

team_app = typer.Typer(help="The Code of Conduct team: keys and members.", no_args_is_help=True)


@team_app.command("keygen")
def team_keygen(
    name: Annotated[str, typer.Option(help="Your name on the team, e.g. ana.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the key (mode 0600).", show_default=False),
    ] = None,
) -> None:
    """Make your own member key; send the public half to the chair."""
    path = out or default_member_key()
    member = create_member_key(path, name)
    say(f"Your member key is in {path} (mode 0600); it never leaves this machine.")
    say("Send this public key to the chair, who adds you with `lanyard team add`:")
    say(member.public_hex)


@team_app.command("add")
def team_add(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The member's name on the team.")],
    role: Annotated[str, typer.Option(help="volunteer, responder or chair.")],
    public_key: Annotated[str, typer.Option(help="Their public key, hex or @FILE.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Change the role or key of someone already on the team."),
    ] = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Add a member (a chair, or the operator for the first chair)."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    raw = read_public_key(public_key)

    async def work(c: IncidentClient) -> pb.Member:
        if not replace:
            current = {m.name: m for m in await c.list_members()}
            if name in current:
                was = convert.ROLE_FROM_PB.get(current[name].role, "member")
                raise CliError(
                    f"{name} is already on the team as {was}; pass --replace to change "
                    "their role or key"
                )
        return await c.add_member(name, role, raw)

    with_client(agent, key, operator, ca, data_dir)(work)
    say(f"Added {name} to the team as {role}.")


@team_app.command("rekey")
def team_rekey(
    data_dir: DataDir,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    ca: CaOpt = None,
) -> None:
    """Replace your own member key: the old key vouches for the new one (audited)."""
    path = key or default_member_key()
    old = load_member_key(path)
    new = MemberKey(old.name, nacl.signing.SigningKey.generate())
    # Kept beside the old key until the agent confirms: if the answer is lost, the key the
    # agent may already hold is not (`team list` shows which public key it has).
    pending = path.with_name(path.name + ".pending")
    save_member_key(pending, new)
    with_client(agent, path, False, ca, data_dir)(lambda c: c.rekey_member(old.name, new.key))
    save_member_key(path, new)
    pending.unlink(missing_ok=True)
    say(f"{old.name}: your new key is in {path}; the old one is refused from now on.")
    say(f"New public key: {new.public_hex}")


@team_app.command("remove")
def team_remove(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="The member to remove.")],
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Remove a member: their key is refused from their next call on."""
    with_client(agent, key, operator, ca, data_dir)(lambda c: c.remove_member(name))
    say(f"Removed {name} from the team; their key is refused from now on.")


@team_app.command("list")
def team_list(
    data_dir: DataDir,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Who is on the team, with which role."""
    members = with_client(agent, key, operator, ca, data_dir)(lambda c: c.list_members())
    rows = [
        {
            "name": m.name,
            "role": convert.ROLE_FROM_PB.get(m.role, "unknown"),
            "public_key": m.public_key.hex(),
            "added_at": m.added_at,
        }
        for m in members
    ]
    if json_out:
        emit_json(rows)
    elif not rows:
        console.print("Nobody is on the team yet.")
    else:
        table(
            "Team",
            ["name", "role", "public key", "added"],
            [(r["name"], r["role"], r["public_key"][:16] + "…", r["added_at"]) for r in rows],
        )
