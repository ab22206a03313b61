"""`lanyard.client.ScreeningClient` says which service failed, and how old the list was.

A real registry and a real agent on loopback: an agent that answers UNAVAILABLE because
it cannot reach the registry is not "down", and an answer from a list the registry last
confirmed an hour ago says so in `snapshot_age_seconds`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.client import RpcFailed, ScreeningClient
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir
from tests.agent.test_screening_client import credentials_file

HOUR = timedelta(hours=1)


async def test_the_client_names_the_service_that_failed_and_the_lists_age(
    registry: RunningRegistry, admin: AdminClient, tmp_path: Path
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    await admin.add_record("WG-BAN", "banned", [Identifier(Kind.EMAIL, "jordan.blake@example.net")])
    # Ada is screened once; the registry last confirmed the list an hour ago.
    async with agent_operator.opened(adir) as agent:
        await agent.check("Ada Lovelace", "ada@example.org", "attendee", "ORD-1")
        await agent.store.confirm_snapshot(datetime.now(UTC) - HOUR)
    registry_address = registry.address
    await registry.server.stop(0)

    async with agent_server.running(adir, "127.0.0.1:0") as served:
        path = await credentials_file(served, tmp_path)
        with ScreeningClient.from_credentials(path) as client:
            # Known to the agent: answered from the list held, which is an hour old.
            known = await asyncio.to_thread(client.check, email="ada@example.org")
            assert (known.decision, known.snapshot_version) == ("ALLOW", agent.snapshot.version)
            assert HOUR.total_seconds() <= known.snapshot_age_seconds < 2 * HOUR.total_seconds()
            # New: the agent answers that it cannot decide without the registry.
            with pytest.raises(RpcFailed) as info:
                await asyncio.to_thread(client.check, email="never.seen@example.org")
        sentence = str(info.value)
        assert sentence.startswith(f"the agent at {served.address} answered"), sentence
        assert f"cannot reach the registry at {registry_address}" in sentence
        assert "lanyard agent serve" not in sentence
        assert "\n" not in sentence
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert info.value.answered
        assert info.value.unreachable  # no decision can be had now: never an ALLOW
        agent_address = served.address

    # The agent itself is gone: now it is the agent that cannot be reached.
    with ScreeningClient.from_credentials(path) as client, pytest.raises(RpcFailed) as info:
        await asyncio.to_thread(client.check, email="ada@example.org")
    assert str(info.value) == (
        f"cannot reach the agent at {agent_address}: is `lanyard agent serve` running?"
    )
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert not info.value.answered
