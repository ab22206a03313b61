"""TLS or nothing off loopback: an agent pointed at a registry name that is not loopback,
with no CA configured, speaks TLS (verified by the system's trust store), so an impostor
listening in plaintext on that name never sees a call token."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import grpc
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core.channels import is_loopback
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir

FIRST_BYTES_SECONDS = 10.0
HTTP2_PREFACE = b"PRI * HTTP/2.0"
TLS_HANDSHAKE = 0x16


def _non_loopback_name_for_this_host() -> str:
    """A name the loopback checks do not treat as loopback but which reaches 127.0.0.1:
    this host's own name when it resolves there, else 0.0.0.0 (which Linux connects to
    the local host)."""
    name = socket.gethostname()
    try:
        if not is_loopback(f"{name}:1") and socket.gethostbyname(name).startswith("127."):
            return name
    except OSError:
        pass
    return "0.0.0.0"  # noqa: S104 - a destination here, never bound


class Impostor:
    """A plaintext listener on 127.0.0.1 that keeps the first bytes each client sends."""

    def __init__(self) -> None:
        self.first: list[bytes] = []
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(64)
        self.first.append(data)
        self.arrived.set()
        writer.close()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


@pytest.mark.parametrize("insecure", [False, True])
async def test_no_ca_off_loopback_means_tls_never_plaintext(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry, insecure: bool
) -> None:
    impostor = Impostor()
    port = await impostor.start()
    name = _non_loopback_name_for_this_host()
    assert not is_loopback(f"{name}:{port}")
    adir = await enrolled_agent_dir(tmp_path, admin, f"{name}:{port}")
    if insecure:  # said explicitly: then, and only then, plaintext
        with adir.config_path.open("a", encoding="utf-8") as fh:
            fh.write("registry_insecure = true\n")
    try:
        async with agent_operator.opened(adir) as agent:
            with pytest.raises(RpcFailed) as info:
                await asyncio.wait_for(agent.registry.refresh(LocalSnapshot()), 30)
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
        await asyncio.wait_for(impostor.arrived.wait(), FIRST_BYTES_SECONDS)
    finally:
        assert impostor.server is not None
        impostor.server.close()
    first = impostor.first[0]
    if insecure:
        assert first.startswith(HTTP2_PREFACE)
    else:
        assert first[0] == TLS_HANDSHAKE
        assert HTTP2_PREFACE not in b"".join(impostor.first)
