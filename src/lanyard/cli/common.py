"""Shared CLI plumbing: running coroutines, translating gRPC failures into sentences,
reading the public keys operators paste or point to."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lanyard.cli.output import CliError
from lanyard.client.errors import RpcFailed, describe
from lanyard.core import keys
from lanyard.core.channels import is_loopback
from lanyard.core.errors import Error as CoreError

T = TypeVar("T")


def default_data_dir(env_var: str, name: str) -> Path:
    """`$<env_var>`, else `$XDG_DATA_HOME/lanyard/<name>` (~/.local/share/lanyard/<name>)."""
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lanyard" / name


def run(coro: Coroutine[Any, Any, T], endpoint: str = "") -> T:
    """Run a coroutine; a failed call to a registry at `endpoint` names that address."""
    try:
        return asyncio.run(coro)
    except RpcFailed as exc:
        if exc.endpoint or not endpoint:
            raise
        raise CliError(describe(exc.code, exc.details, exc.peer, endpoint, exc.answered)) from exc


def read_public_key(value: str) -> bytes:
    """An Ed25519 public key given to --public-key: 64 hex digits, or @FILE holding them."""
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


def announcer(what: str) -> Callable[[str, bool], None] | None:
    """On a terminal, a server says where it listens and how to stop it; under systemd or
    in a pipe the structured log line `*.listening` says it instead."""
    if not sys.stdout.isatty():
        return None

    def announce(address: str, tls: bool) -> None:
        scheme = (
            "TLS" if tls else "plaintext, loopback only" if is_loopback(address) else "plaintext"
        )
        print(f"{what} listening on {address} ({scheme}); Ctrl-C to stop.", flush=True)

    return announce
