"""What `lanyard team …` and `lanyard incident …` share: the options that say which agent
to reach and with which key, running one call on a connected client, and printing text a
reporter may have written.

Each member runs these commands on their own machine with their own key; the agent decides
who may read what and keeps the audit trail.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from lanyard.agent.datadir import AgentDir
from lanyard.cli.output import CliError
from lanyard.client.incidents import IncidentClient, connect, default_member_key, load_member_key
from lanyard.core import auth

T = TypeVar("T")

AgentOpt = Annotated[
    str | None,
    typer.Option(
        "--agent",
        envvar="LANYARD_AGENT_ENDPOINT",
        help="The agent's HOST:PORT.",
        show_default="the local agent's address",
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="LANYARD_MEMBER_KEY",
        help="Your member key from `team keygen`.",
        show_default="~/.config/lanyard/member.json",
    ),
]
OperatorOpt = Annotated[
    bool,
    typer.Option("--operator", help="Sign with the agent's event key (to add the first chair)."),
]
# Incident commands accept it too (the event key is the team's root), but only `team` lists it.
HiddenOperatorOpt = Annotated[
    bool,
    typer.Option("--operator", hidden=True, help="Sign with the agent's event key."),
]
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca", envvar="LANYARD_AGENT_CA", help="CA certificate of an agent on TLS."),
]


@dataclass(frozen=True, slots=True)
class Connection:
    """What every `team`/`incident` command takes: --agent, --key, --operator, --data-dir."""

    agent: str | None
    key: Path | None
    operator: bool
    data_dir: Path
    ca: Path | None = None

    def endpoint(self) -> str:
        if self.agent:
            return self.agent
        env = os.environ.get("LANYARD_AGENT_ENDPOINT")
        if env:
            return env
        adir = AgentDir(self.data_dir)
        if adir.endpoint_path.exists() or adir.config_path.exists():
            return adir.endpoint()
        raise CliError(
            f"no agent address: give --agent HOST:PORT or set LANYARD_AGENT_ENDPOINT "
            f"(there is no local agent in {self.data_dir})"
        )

    def signer(self) -> auth.CallSigner:
        if self.operator:
            adir = AgentDir(self.data_dir)
            adir.check()
            return auth.CallSigner(f"event:{adir.enrolment().event_id}", adir.event_key())
        member = load_member_key(self.key or default_member_key())
        return auth.CallSigner(f"member:{member.name}", member.key)


def with_client(
    agent: str | None, key: Path | None, operator: bool, ca: Path | None, data_dir: Path
) -> Callable[[Callable[[IncidentClient], Awaitable[T]]], T]:
    """Runs one piece of work with a connected client; failures are CliError sentences."""
    conn = Connection(agent, key, operator, data_dir, ca)

    def run(work: Callable[[IncidentClient], Awaitable[T]]) -> T:
        async def go() -> T:
            signer = conn.signer()  # the key is loaded before the channel opens
            async with connect(conn.endpoint(), signer, conn.ca) as client:
                return await work(client)

        return asyncio.run(go())

    return run
