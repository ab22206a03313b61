"""The registry's signing key rotation survives a restart and a crash mid-way, and costs
the agents nothing: the running registry signs everything (snapshots, evaluation-log
heads) with the new key at once, and agents follow the chain to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.screening.decision import Decision
from lanyard.agent.store import FaultAlert
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core import auth, evaluation_log, keychain, keys
from lanyard.core.channels import open_channel
from lanyard.core.errors import SignatureError
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc
from tests.agent.conftest import enrolled_agent_dir

CHECK = "/lanyard.agent.v1.Screening/Check"


async def _faults(adir: AgentDir) -> list[FaultAlert]:
    async with agent_operator.opened(adir) as agent:
        return await agent.registry_faults(include_acknowledged=True)


async def test_the_chain_and_the_new_key_survive_a_restart(registry_dir: RegistryDir) -> None:
    first = bytes(registry_dir.signing_key().verify_key)
    async with server.running(registry_dir) as reg:
        channel = open_channel(reg.address)
        try:
            t = await AdminClient(channel, registry_dir.admin_key()).rotate_signing_key(first)
        finally:
            await channel.close()
    assert not registry_dir.signing_next_path.exists()
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == bytes(t.new_public_key)
        [stored] = await reg.store.key_transitions()
        assert stored == t.SerializeToString()


async def test_a_rotation_cut_short_is_finished_or_undone_at_start(
    registry_dir: RegistryDir,
) -> None:
    first = bytes(registry_dir.signing_key().verify_key)
    # Crashed after staging the key, before the database stored the hand-over: undone.
    registry_dir.stage_signing_key()
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == first
    assert not registry_dir.signing_next_path.exists()
    # Crashed after the database stored it, before the key file moved: finished.
    async with server.running(registry_dir) as reg:
        staged = registry_dir.stage_signing_key()
        t = keychain.make_transition(registry_dir.signing_key(), staged, 1, "2027-01-01T00:00Z")
        await reg.store.add_key_transition(1, bytes(staged.verify_key), t.SerializeToString())
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == bytes(staged.verify_key)
    assert keys.public_key_bytes(registry_dir.signing_key()) == bytes(staged.verify_key)


async def _check(address: str, signer: auth.CallSigner, email: str) -> screening_pb2.CheckResponse:
    channel = open_channel(address)
    try:
        request = screening_pb2.CheckRequest(email=email, caller_ref="ORDER-1")
        response: screening_pb2.CheckResponse = await screening_pb2_grpc.ScreeningStub(
            channel
        ).Check(request, metadata=signer.metadata(CHECK, request))
        return response
    finally:
        await channel.close()


async def test_new_people_are_screened_after_a_rotation_without_a_restart(
    tmp_path: Path,
    registry_dir: RegistryDir,
    registry: server.RunningRegistry,
    admin: AdminClient,
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    await admin.add_record("WG-1", "banned", [Identifier(Kind.EMAIL, "rex@example.org")])
    async with agent_operator.opened(adir) as agent:
        assert (await agent.check("", "before@example.org", "attendee", "T-1")).record_ref == ""
    old = bytes(registry_dir.signing_key().verify_key)

    transition = await admin.rotate_signing_key(old)
    new = bytes(transition.new_public_key)

    # The running registry signs the evaluation log's heads with the new key at once.
    evaluation_log.verify_tree_head(new, registry.service.evaluation_log.head())
    with pytest.raises(SignatureError):
        evaluation_log.verify_tree_head(old, registry.service.evaluation_log.head())
    # An agent started afresh (`lanyard check`, a restarted `agent serve`) walks the chain
    # from its pinned key and screens someone it has never seen.
    async with agent_operator.opened(adir) as agent:
        assert (await agent.check("", "never.seen@example.org", "attendee", "T-2")).decision == (
            Decision.ALLOW
        )
        assert (await agent.check("", "rex@example.org", "attendee", "T-3")).decision == (
            Decision.DENY
        )
        assert agent.registry.trusted_keys == (old, new)
        entry = agent.registry.last_log_entry
        assert entry is not None
        evaluation_log.verify_tree_head(new, entry.head)
    # An event enrolled after the rotation pins the new key and screens too.
    second = await enrolled_agent_dir(
        tmp_path / "second", admin, registry.address, event_id="secondconf-2027"
    )
    assert second.enrolment().registry_public_key == new
    async with agent_operator.opened(second) as agent:
        assert (await agent.check("", "someone.new@example.org", "attendee", "T-4")).decision == (
            Decision.ALLOW
        )
    assert await _faults(adir) == []


async def test_a_running_agent_answers_check_for_new_people_across_a_rotation(
    tmp_path: Path,
    registry_dir: RegistryDir,
    registry: server.RunningRegistry,
    admin: AdminClient,
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    await admin.add_record("WG-1", "banned", [Identifier(Kind.EMAIL, "rex@example.org")])
    async with agent_server.running(adir, "127.0.0.1:0") as served:
        signer = auth.CallSigner("integration:pretix", await served.agent.add_integration("pretix"))
        first = await _check(served.address, signer, "before@example.org")
        assert first.decision == screening_pb2.DECISION_ALLOW
        await admin.rotate_signing_key(bytes(registry_dir.signing_key().verify_key))
        # No restart, and no new snapshot version for the agent to sync on.
        fresh = await _check(served.address, signer, "never.seen@example.org")
        assert fresh.decision == screening_pb2.DECISION_ALLOW
        banned = await _check(served.address, signer, "rex@example.org")
        assert banned.decision == screening_pb2.DECISION_DENY
        assert await served.agent.registry_faults() == []
