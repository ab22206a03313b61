"""`lanyard.client.ScreeningClient`: what a ticketing plugin imports, against a real agent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from lanyard.agent import server as agent_server
from lanyard.client import CheckResult, ClientError, RpcFailed, ScreeningClient
from tests.agent.conftest import AgentSetup


@pytest.fixture
async def served(setup: AgentSetup) -> AsyncIterator[agent_server.RunningAgent]:
    async with agent_server.running(setup.adir, "127.0.0.1:0") as running:
        yield running


async def credentials_file(served: agent_server.RunningAgent, tmp_path: Path) -> Path:
    """The pretix integration's credentials file for `served`, as the plugin reads it."""
    key = await served.agent.add_integration("pretix")
    path = tmp_path / "pretix-credentials.json"
    path.write_text(
        json.dumps(
            {
                "key_id": "integration:pretix",
                "private_key": bytes(key).hex(),
                "endpoint": served.address,
            }
        )
    )
    return path


async def test_a_plugin_screens_through_the_public_client(
    served: agent_server.RunningAgent, tmp_path: Path
) -> None:
    path = await credentials_file(served, tmp_path)
    with ScreeningClient.from_credentials(path) as client:
        banned, flagged, clear = await asyncio.gather(
            asyncio.to_thread(client.check, email="JORDAN.Blake@example.net", caller_ref="A1"),
            asyncio.to_thread(client.check, name="Sam Rivera", role="speaker"),
            asyncio.to_thread(client.check, name="Ada Lovelace", email="ada@example.org"),
        )
    version = served.agent.snapshot.version
    for answer in (banned, flagged, clear):
        assert 0 <= answer.snapshot_age_seconds < 60  # the list was just fetched
    assert banned == CheckResult(
        "DENY", "BANNED_CONFIRMED", "WG-BAN", version, banned.snapshot_age_seconds
    )
    assert flagged == CheckResult(
        "REVIEW", "FLAGGED_POSSIBLE", "WG-FLAG", version, flagged.snapshot_age_seconds
    )
    assert clear == CheckResult("ALLOW", "", "", version, clear.snapshot_age_seconds)


async def test_an_agent_that_cannot_decide_raises_never_allows(
    setup: AgentSetup, served: agent_server.RunningAgent, tmp_path: Path
) -> None:
    path = await credentials_file(served, tmp_path)
    await setup.registry.server.stop(0)
    with ScreeningClient.from_credentials(path) as client, pytest.raises(RpcFailed) as info:
        await asyncio.to_thread(client.check, email="never.seen@example.org")
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert info.value.unreachable
    assert "not been screened before" in info.value.details


async def test_a_revoked_integration_is_refused(
    served: agent_server.RunningAgent, tmp_path: Path
) -> None:
    path = await credentials_file(served, tmp_path)
    await served.agent.revoke_integration("pretix")
    with ScreeningClient.from_credentials(path) as client, pytest.raises(RpcFailed) as info:
        await asyncio.to_thread(client.check, email="ada@example.org")
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert not info.value.unreachable


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"key_id": "integration:x"}), json.dumps({"private_key": "zz"})],
)
def test_a_broken_credentials_file_is_one_sentence(tmp_path: Path, body: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(body)
    with pytest.raises(ClientError, match="is not a Lanyard credentials file"):
        ScreeningClient.from_credentials(path)


def test_a_missing_credentials_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match=r"cannot read .*missing\.json"):
        ScreeningClient.from_credentials(tmp_path / "missing.json")


async def test_an_integration_key_rotates_with_no_call_failing_in_between(
    served: agent_server.RunningAgent, tmp_path: Path
) -> None:
    old_path = await credentials_file(served, tmp_path)
    new_path = tmp_path / "pretix-new.json"
    with ScreeningClient.from_credentials(old_path) as old:

        async def checks(count: int) -> list[CheckResult]:
            # One after another: the rotation lands somewhere among them.
            return [
                await asyncio.to_thread(old.check, email="ada@example.org", caller_ref=f"R{i}")
                for i in range(count)
            ]

        # Calls with the old key before, during and after the rotation all succeed.
        rotating = asyncio.create_task(served.agent.rotate_integration("pretix"))
        results = await checks(12)
        new_key = await rotating
        results += await checks(4)
        assert {r.decision for r in results} == {"ALLOW"}
        new_path.write_text(
            json.dumps(
                {
                    "key_id": "integration:pretix",
                    "private_key": bytes(new_key).hex(),
                    "endpoint": served.address,
                }
            )
        )
        with ScreeningClient.from_credentials(new_path) as new:
            assert (await asyncio.to_thread(new.check, email="ada@example.org")).decision == (
                "ALLOW"
            )
            await served.agent.retire_previous_integration_key("pretix")
            with pytest.raises(RpcFailed) as info:
                await asyncio.to_thread(old.check, email="ada@example.org")
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert (await asyncio.to_thread(new.check, name="Sam Rivera")).decision == "REVIEW"
