"""What the operator's `lanyard registry …` commands share: the options naming the data
directory and the address, opening the directory, an admin client signed with its admin
key, reading dates from flags, and refusing a record's expiry that has already passed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import grpc
import typer

from lanyard.cli import common
from lanyard.cli.output import CliError
from lanyard.client.admin import AdminClient
from lanyard.core.channels import is_loopback, open_channel
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.retention import Policy


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
    typer.Option(
        "--endpoint",
        envvar="LANYARD_REGISTRY_ENDPOINT",
        help="Registry address (default: where the local `registry serve` listens).",
    ),
]


def open_dir(data_dir: Path) -> RegistryDir:
    rdir = RegistryDir(data_dir)
    rdir.check()
    return rdir


_WILDCARDS = ("0.0.0.0", "[::]", "::", "")  # noqa: S104 - compared with, never bound


def registry_channel(endpoint: str, rdir: RegistryDir | None) -> grpc.aio.Channel:
    """A channel to the registry at `endpoint`. On the registry's own host (`rdir` given,
    `endpoint` local) with TLS configured, TLS to it, trusting LANYARD_REGISTRY_CA or else
    the registry's own certificate (a wildcard listen address is reached as localhost);
    otherwise the usual rules (lanyard/core/channels.py)."""
    ca = registry_ca()
    host, _, port = endpoint.rpartition(":")
    local = host in _WILDCARDS or is_loopback(endpoint)
    if rdir is not None and local and rdir.config_path.exists():
        config = rdir.load_config()
        if config.tls_cert is not None:
            address = f"localhost:{port}" if host in _WILDCARDS else endpoint
            return open_channel(address, ca or config.tls_cert, tls=True)
    return open_channel(endpoint, ca)


@asynccontextmanager
async def admin_client(
    rdir: RegistryDir, endpoint: str, executor: Executor | None = None
) -> AsyncIterator[AdminClient]:
    channel = registry_channel(endpoint, rdir)
    try:
        yield AdminClient(channel, rdir.admin_key(), endpoint=endpoint, executor=executor)
    finally:
        await channel.close()


def parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag} must be a date like 2027-05-14, got {value!r}") from exc


def require_date(value: str, flag: str) -> date:
    parsed = parse_date(value, flag)
    if parsed is None:
        raise CliError(f"{flag} is required")
    return parsed


def lapsed_expiry(
    expires: date | None,
    today: date,
    expires_flag: str,
    ban_until: date | None = None,
    ban_flag: str = "",
) -> str | None:
    """Why `expires` cannot be a record's new expiry, or None: it must come after `today`,
    else the record matches until the registry's next sweep and then leaves the list
    without a word. With `ban_until`, the expiry was derived from the ban's end (named by
    `ban_flag`); without it, `expires_flag` gave it."""
    if expires is None or expires > today:
        return None
    if ban_until is not None:
        return (
            f"{ban_flag} {ban_until.isoformat()} gives the record an expiry of "
            f"{expires.isoformat()} (the retention schedule), which is not after today "
            f"({today.isoformat()}): give {expires_flag} with a later date"
        )
    return (
        f"{expires_flag} {expires.isoformat()} is not after today ({today.isoformat()}): "
        "the record would leave the list at the registry's next sweep"
    )


def refuse_lapsed(
    expires: date | None, today: date, ban_until: date | None = None, ban_flag: str = ""
) -> None:
    """CliError unless `expires` (given with --expires, or derived from `ban_until`, named
    by `ban_flag`) comes after today."""
    problem = lapsed_expiry(expires, today, "--expires", ban_until, ban_flag)
    if problem is not None:
        raise CliError(problem)


async def registry_schedule(client: AdminClient) -> Policy:
    """The registry's own retention schedule (`registry retention set`), never the
    built-in default: records given no expiry lapse when the WG said."""
    schedule = await client.retention()
    return Policy(schedule.flagged_months, schedule.banned_months_after_ban)


async def schedule_expiry(
    client: AdminClient, status: str, ban_until: date | None, today: date
) -> date | None:
    """The expiry the registry's own retention schedule gives a record added today."""
    return (await registry_schedule(client)).expiry(status, ban_until, today)


def registry_ca() -> Path | None:
    """The CA that signed a remote registry's TLS certificate (LANYARD_REGISTRY_CA); WG
    readers on their own machines set it. Without it, a registry off loopback is verified
    against the system's trust store."""
    value = os.environ.get("LANYARD_REGISTRY_CA")
    return Path(value) if value else None
