"""What `lanyard team …` and `lanyard incident …` share: the options that say which agent
to reach and with which key, running one call on a connected client, and printing text a
reporter may have written.

Each member runs these commands on their own machine with their own key; the agent decides
who may read what and keeps the audit trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from lanyard.cli.output import console
from lanyard.client.incidents import Connection, IncidentClient, connect

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
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca", envvar="LANYARD_AGENT_CA", help="CA certificate of an agent on TLS."),
]


def with_client(
    agent: str | None, key: Path | None, operator: bool, ca: Path | None, data_dir: Path
) -> Callable[[Callable[[IncidentClient], Awaitable[T]]], T]:
    """Runs one piece of work with a connected client; failures are CliError sentences."""
    conn = Connection(agent, key, operator, data_dir, ca)

    def run(work: Callable[[IncidentClient], Awaitable[T]]) -> T:
        async def go() -> T:
            async with connect(conn) as client:
                return await work(client)

        return asyncio.run(go())

    return run


def say(text: str, style: str | None = None) -> None:
    """Print text that may hold anything a reporter said: never read as markup."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
