"""Client channels to a Lanyard service: TLS when a CA is given, plaintext for loopback."""

from __future__ import annotations

from pathlib import Path

import grpc

from lanyard.core.errors import ConfigError

MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def open_channel(endpoint: str, ca_file: Path | None = None) -> grpc.aio.Channel:
    """A grpc.aio channel to `endpoint` ("host:port"); TLS verified against `ca_file`."""
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # A fresh channel must not inherit another channel's connection back-off (gRPC
        # shares subchannels process-wide by default): after a service restarts, a new
        # channel connects at once instead of failing fast on a stale failure.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if ca_file is None:
        return grpc.aio.insecure_channel(endpoint, options=options)
    try:
        root = ca_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CA certificate {ca_file} cannot be read: {exc.strerror}") from exc
    return grpc.aio.secure_channel(
        endpoint, grpc.ssl_channel_credentials(root_certificates=root), options=options
    )
