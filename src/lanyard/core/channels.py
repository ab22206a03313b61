"""Client channels to a Lanyard service: TLS or nothing off loopback.

- A CA file given: TLS, the server's certificate verified against that CA.
- Otherwise, to a non-loopback address (or when TLS is asked for): TLS verified against
  the system's trust store (`grpc.ssl_channel_credentials()` with no root certificates).
- Plaintext only to a loopback address, or off loopback when the user said --insecure
  explicitly (`insecure=True`, or `allow_plaintext(True)` for the whole process).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

from lanyard.core import limits
from lanyard.core.errors import ConfigError

_plaintext_off_loopback = False

# Trailing metadata a Lanyard server puts on every status it answers with itself, so that
# a client tells "the service answered UNAVAILABLE" (it could not reach what it needs)
# from "the service could not be reached" (gRPC's own UNAVAILABLE carries none).
ANSWERED_METADATA = ("lanyard-answered", "1")


def is_loopback(listen: str) -> bool:
    """Whether "host:port" names this machine's loopback ("localhost", 127.0.0.0/8, ::1).
    Here rather than in serving.py, so that a one-shot client command does not import
    the server side (gRPC health, intake) to open a channel."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allow_plaintext(allowed: bool) -> None:
    """The `lanyard --insecure` switch: plaintext to non-loopback addresses for this process."""
    global _plaintext_off_loopback
    _plaintext_off_loopback = allowed


def uses_tls(endpoint: str, ca_file: Path | None, tls: bool, insecure: bool | None) -> bool:
    """Whether `open_channel` would speak TLS to `endpoint` with these arguments."""
    if ca_file is not None or tls:
        return True
    if is_loopback(endpoint):
        return False
    return not (_plaintext_off_loopback if insecure is None else insecure)


def open_channel(
    endpoint: str,
    ca_file: Path | None = None,
    *,
    tls: bool = False,
    insecure: bool | None = None,
) -> grpc.aio.Channel:
    """A grpc.aio channel to `endpoint` ("host:port"), by the rules above; ConfigError if
    the CA file cannot be read."""
    options: list[tuple[str, int]] = [
        *limits.channel_options(),
        # A fresh channel must not inherit another channel's connection back-off (gRPC
        # shares subchannels process-wide by default): after a service restarts, a new
        # channel connects at once instead of failing fast on a stale failure.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if not uses_tls(endpoint, ca_file, tls, insecure):
        return grpc.aio.insecure_channel(endpoint, options=options)
    if ca_file is None:
        return grpc.aio.secure_channel(endpoint, grpc.ssl_channel_credentials(), options=options)
    try:
        root = ca_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CA certificate {ca_file} cannot be read: {exc.strerror}") from exc
    return grpc.aio.secure_channel(
        endpoint, grpc.ssl_channel_credentials(root_certificates=root), options=options
    )
