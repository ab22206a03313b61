"""`lanyard registry tls init`: a private CA and a server certificate for a registry (or an
agent) that has no certificate from elsewhere. Where each file goes is in deploy/README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lanyard.cli.output import CliError, say
from lanyard.core import tls
from lanyard.core.errors import Error as CoreError

tls_app = typer.Typer(help="TLS certificates from a private CA.", no_args_is_help=True)


@tls_app.command("init")
def tls_init(
    out: Annotated[Path, typer.Option(help="Directory for ca.crt, ca.key, NAME.crt, NAME.key.")],
    host: Annotated[
        list[str],
        typer.Option(
            help="A DNS name or IP address clients dial (repeatable; all go into the "
            "certificate's subjectAltName)."
        ),
    ],
    name: Annotated[
        str, typer.Option(help="File name for the certificate and key (e.g. agent).")
    ] = "server",
    ca_name: Annotated[str, typer.Option(help="The CA's common name.")] = "Lanyard private CA",
) -> None:
    """Make a private CA (or reuse the one in --out) and a server certificate for --host."""
    try:
        issued = tls.issue(out, host, ca_name, name)
    except CoreError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror}") from exc
    say(f"Certificate {issued.cert} for {', '.join(issued.names)}; key {issued.key} (mode 0600).")
    say(f"CA certificate {issued.ca_cert}: give it to every client (LANYARD_REGISTRY_CA, …).")
    say(f"CA key {issued.ca_key} (mode 0600): keep it offline; it only issues certificates.")
    say(f'In registry.toml: tls_cert = "{issued.cert}" and tls_key = "{issued.key}".')
