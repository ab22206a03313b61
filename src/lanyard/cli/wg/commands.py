"""`lanyard wg …` and `lanyard registry recipient …`: who may read end-of-event reports.

A WG member who reads reports keeps their own X25519 and Ed25519 keys on their own
machine, under a passphrase; only the public halves go to the registry operator, who
publishes them as the signed recipient set events seal to. The sessions here sign calls
to the registry either with the operator's admin key or with a member's own key.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import nacl.signing
import typer
from rich.markup import escape

from lanyard.cli import common
from lanyard.cli.agent.commands import _read_passphrase_file
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say, table
from lanyard.cli.registry.common import Endpoint, registry_channel
from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.core import keys, passphrase, wg_member
from lanyard.core.errors import Error as CoreError
from lanyard.core.wg_member import MemberKeys
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.submissions import RECIPIENT_NAME
from lanyard.wire.registry.v1 import reports_pb2

T = TypeVar("T")

wg_app = typer.Typer(help="A WG report reader's own keys.", no_args_is_help=True)
recipient_app = typer.Typer(
    help="The WG members end-of-event reports are sealed to.", no_args_is_help=True
)

PUBLIC_FORMAT = "lanyard-wg-public/1"
# The registry keeps its own admin key under this name; a recipient of that name would
# replace it (recipients become admins under their own name).
RESERVED_NAMES = ("operator",)


def default_wg_key() -> Path:
    """`$LANYARD_WG_KEY`, else `$XDG_CONFIG_HOME/lanyard/wg-member.json`."""
    env = os.environ.get("LANYARD_WG_KEY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lanyard" / "wg-member.json"


WgKey = Annotated[
    Path | None,
    typer.Option(
        "--wg-key",
        envvar="LANYARD_WG_KEY",
        help="Your WG member key file from `lanyard wg keygen`.",
        show_default="~/.config/lanyard/wg-member.json",
    ),
]
WgPassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File whose first line is your WG key's passphrase (else LANYARD_WG_PASSPHRASE).",
    ),
]
RegistryDataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        "-d",
        envvar="LANYARD_REGISTRY_DIR",
        default_factory=lambda: common.default_data_dir("LANYARD_REGISTRY_DIR", "registry"),
        help="Registry data directory (the operator's; a WG reader gives --endpoint instead).",
        show_default="~/.local/share/lanyard/registry",
    ),
]


# -- the member's own keys -------------------------------------------------------------------


def wg_passphrase(passphrase_file: Path | None, new: bool) -> str:
    if passphrase_file is not None:
        return _read_passphrase_file(passphrase_file)
    env = os.environ.get("LANYARD_WG_PASSPHRASE")
    if env:
        return env
    if sys.stdin.isatty():
        typed: str = typer.prompt(
            "New passphrase for your WG key" if new else "Passphrase for your WG key",
            hide_input=True,
            confirmation_prompt=new,
        )
        return typed
    raise CliError(
        "no passphrase for the WG key: give --passphrase-file, set LANYARD_WG_PASSPHRASE, "
        "or run this on a terminal to type it"
    )


def load_member(wg_key: Path | None, passphrase_file: Path | None) -> MemberKeys:
    path = wg_key or default_wg_key()
    wg_member.public(path)  # a missing or foreign file is said before asking anything
    secret = wg_passphrase(passphrase_file, new=False)
    try:
        return wg_member.load(path, secret)
    except passphrase.WrongPassphrase as exc:
        raise CliError(f"the passphrase does not open the WG key {path}") from exc


def check_recipient_name(name: str) -> str:
    if not RECIPIENT_NAME.match(name):
        raise CliError(
            f"a WG member name is 1 to 64 lowercase letters, digits, dots, dashes or "
            f"underscores, like wg-alex; got {name[:70]!r}"
        )
    if name in RESERVED_NAMES:
        raise CliError(f"{name} is the registry's own admin name; choose another")
    return name


@wg_app.command("keygen")
def keygen(
    name: Annotated[str, typer.Option(help="Your name as a WG report reader, e.g. wg-alex.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write your keys (mode 0600; else $LANYARD_WG_KEY).",
            show_default="~/.config/lanyard/wg-member.json",
        ),
    ] = None,
    public_out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the public file.",
            show_default="NAME.wg-public.json beside the keys",
        ),
    ] = None,
    kdf: Annotated[
        str,
        typer.Option(
            help="How hard the passphrase is to brute-force: interactive, moderate or "
            "sensitive (slower to unlock)."
        ),
    ] = "moderate",
    passphrase_file: WgPassphraseFile = None,
) -> None:
    """Make your own keys for reading reports; send the public file to the registry operator."""
    check_recipient_name(name)
    if kdf not in passphrase.STRENGTHS:
        raise CliError(f"--kdf must be one of {', '.join(passphrase.STRENGTHS)}, got {kdf!r}")
    path = out or default_wg_key()
    if path.exists():
        raise CliError(f"{path} already exists; refusing to replace a WG member's keys")
    secret = wg_passphrase(passphrase_file, new=True)
    try:
        passphrase.check_new(secret)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    member = wg_member.create(path, name, secret, kdf)
    shared = public_out or path.with_name(f"{name}.wg-public.json")
    shared.write_text(json.dumps(public_record(member), indent=2) + "\n", encoding="utf-8")
    say(f"Your WG keys are in {path} (mode 0600, locked by your passphrase); keep them here.")
    say(f"Encryption key (X25519): {member.encryption_public.hex()}")
    say(f"Signing key (Ed25519):   {member.signing_public.hex()}")
    say(
        f"Send {shared} to the registry operator, who adds you with "
        f"`lanyard registry recipient add --public-file {shared.name}`."
    )


def public_record(member: MemberKeys) -> dict[str, str]:
    return {
        "format": PUBLIC_FORMAT,
        "name": member.name,
        "encryption_public": member.encryption_public.hex(),
        "signing_public": member.signing_public.hex(),
    }


@wg_app.command("show")
def show(wg_key: WgKey = None, json_out: JsonOut = False) -> None:
    """Show your public keys (no passphrase needed)."""
    name, enc, sig = wg_member.public(wg_key or default_wg_key())
    data = {
        "format": PUBLIC_FORMAT,
        "name": name,
        "encryption_public": enc.hex(),
        "signing_public": sig.hex(),
    }
    if json_out:
        emit_json(data)
        return
    say(f"{name}: encryption key {enc.hex()}, signing key {sig.hex()}")


# -- talking to the registry as the operator or as a WG member ------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    address: str
    key: nacl.signing.SigningKey
    name: str  # "operator" or the member's name
    member: MemberKeys | None = None
    rdir: RegistryDir | None = None  # on the registry's own host: its TLS settings apply

    def run(self, work: Callable[[AdminClient], Awaitable[T]]) -> T:
        async def go() -> T:
            channel = registry_channel(self.address, self.rdir)
            try:
                client = AdminClient(channel, self.key, admin_name=self.name, endpoint=self.address)
                return await work(client)
            finally:
                await channel.close()

        try:
            return asyncio.run(go())
        except RpcFailed as exc:
            if self.member is not None and exc.code == grpc.StatusCode.UNAUTHENTICATED:
                raise CliError(
                    f"the registry at {self.address} does not accept {self.name}'s WG key "
                    f"({exc.details}): ask the registry operator to add you with "
                    "`lanyard registry recipient add`"
                ) from exc
            raise


def registry_address(data_dir: Path, endpoint: str | None) -> str:
    if endpoint:
        return endpoint
    if not data_dir.is_dir():
        raise CliError(
            f"give --endpoint (the registry's HOST:PORT): there is no registry data "
            f"directory at {data_dir}"
        )
    return RegistryDir(data_dir).endpoint()


def operator_session(data_dir: Path, endpoint: str | None) -> Session:
    rdir = RegistryDir(data_dir)
    rdir.check()
    return Session(endpoint or rdir.endpoint(), rdir.admin_key(), "operator", rdir=rdir)


def member_session(
    data_dir: Path, endpoint: str | None, wg_key: Path | None, passphrase_file: Path | None
) -> Session:
    address = registry_address(data_dir, endpoint)  # before asking for the passphrase
    member = load_member(wg_key, passphrase_file)
    local = RegistryDir(data_dir) if (data_dir / "registry.toml").is_file() else None
    return Session(address, member.signing, member.name, member, rdir=local)


# -- recipients (the operator) ---------------------------------------------------------------


def _public_file(path: Path) -> tuple[str, str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{path} is not a WG member's public file") from exc
    fields = ("name", "encryption_public", "signing_public")
    if not isinstance(data, dict) or data.get("format") != PUBLIC_FORMAT:
        raise CliError(f"{path} is not a WG member's public file (from `lanyard wg keygen`)")
    if not all(isinstance(data.get(f), str) for f in fields):
        raise CliError(f"{path} lacks a name or a public key")
    return data["name"], data["encryption_public"], data["signing_public"]


def _x25519_hex(text: str) -> bytes:
    """An X25519 key is any 32 bytes (not an Ed25519 point: that check would refuse half)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CliError("--encryption-key must be 64 hex digits (an X25519 public key)")
    return key


def _recipient_rows(recipients: reports_pb2.RecipientSet) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "encryption_key": r.encryption_key.hex(),
            "signing_key": r.signing_key.hex(),
        }
        for r in recipients.recipients
    ]


@recipient_app.command("add")
def recipient_add(
    data_dir: RegistryDataDir,
    public_file: Annotated[
        Path | None, typer.Option(help="The member's NAME.wg-public.json.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The member's name.")] = None,
    encryption_key: Annotated[str | None, typer.Option(help="X25519 key, 64 hex digits.")] = None,
    signing_key: Annotated[str | None, typer.Option(help="Ed25519 key, 64 hex digits.")] = None,
    endpoint: Endpoint = None,
) -> None:
    """Add (or re-key) a WG member who reads reports; they can then sign in as admin:NAME."""
    if public_file is not None:
        if name or encryption_key or signing_key:
            raise CliError("give --public-file or --name with both keys, not both")
        name, encryption_key, signing_key = _public_file(public_file)
    if not (name and encryption_key and signing_key):
        raise CliError("give --public-file, or --name with --encryption-key and --signing-key")
    check_recipient_name(name)
    enc = _x25519_hex(encryption_key)
    try:
        sig = keys.parse_public_key_hex(signing_key, "--signing-key")
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    member = name
    result = operator_session(data_dir, endpoint).run(
        lambda client: client.add_recipient(member, enc, sig)
    )
    console.print(
        f"Added {escape(member)} as a report reader (encryption key {enc.hex()[:16]}…); "
        f"recipient set version {result.version}, {len(result.recipients)} reader(s)."
    )


@recipient_app.command("remove")
def recipient_remove(
    data_dir: RegistryDataDir,
    name: Annotated[str, typer.Argument(help="The member to remove.")],
    endpoint: Endpoint = None,
) -> None:
    """Stop sealing new reports to a member (what they could open before stays opened)."""
    result = operator_session(data_dir, endpoint).run(lambda c: c.remove_recipient(name))
    console.print(
        f"Removed {escape(name)}: reports sealed from now on are not readable with their key; "
        f"recipient set version {result.version}, {len(result.recipients)} reader(s)."
    )


@recipient_app.command("list")
def recipient_list(
    data_dir: RegistryDataDir, endpoint: Endpoint = None, json_out: JsonOut = False
) -> None:
    """List the WG's report readers, as the registry publishes them (signed)."""
    result = operator_session(data_dir, endpoint).run(lambda c: c.list_recipients())
    version, recipients = result.version, list(result.recipients)
    rows = _recipient_rows(reports_pb2.RecipientSet(version=version, recipients=recipients))
    if json_out:
        emit_json({"version": version, "recipients": rows})
        return
    table(
        f"Report readers (recipient set version {version})",
        ["name", "encryption key (X25519)", "signing key (Ed25519)"],
        [(r["name"], r["encryption_key"], r["signing_key"]) for r in rows],
    )
