"""Log proofs are for the submitting event only: another event asking for a leaf it did
not submit learns nothing (GetInclusionProof)."""

from __future__ import annotations

import grpc
import pytest

from services.core.channels import open_channel
from tests.conftest import enroll
from tests.event_agent.test_reports import World, _report, world  # noqa: F401


async def test_inclusion_proofs_only_for_the_callers_own_submissions(
    world: World,  # noqa: F811
) -> None:
    entry = await world.sender.seal(await _report(world))
    receipt = (await world.sender.deliver(entry)).receipt
    assert receipt is not None
    leaf, _ = await world.agent.registry.inclusion_proof(receipt.log_index, receipt.tree_size)
    assert leaf

    channel = open_channel(world.registry.address)
    try:
        other = await enroll(world.admin, channel, "other-2027")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await other.client.inclusion_proof(receipt.log_index, receipt.tree_size)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert "other-2027" not in (info.value.details() or "")
        assert "agentconf" not in (info.value.details() or "")
    finally:
        await channel.close()
