"""Report edges: log proofs only for the submitting event, the envelope limit named before
anything is sealed, a bounded number of submissions per event and day."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from lanyard.agent.reports import build_report
from lanyard.client.errors import RpcFailed
from lanyard.core import envelope, limits
from lanyard.core.channels import open_channel
from tests.agent import test_reports
from tests.agent.test_reports import World, _report
from tests.conftest import enroll

world = test_reports.world  # the fixture, shared with test_reports.py


async def test_inclusion_proofs_only_for_the_callers_own_submissions(
    world: World,
) -> None:
    entry = await world.sender.seal(await _report(world))
    receipt = (await world.sender.deliver(entry)).receipt
    assert receipt is not None
    leaf, _ = await world.agent.registry.inclusion_proof(receipt.log_index, receipt.tree_size)
    assert leaf

    channel = open_channel(world.registry.address)
    try:
        other = await enroll(world.admin, channel, "other-2027")
        with pytest.raises(RpcFailed) as info:
            await other.client.inclusion_proof(receipt.log_index, receipt.tree_size)
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        assert "other-2027" not in info.value.details
        assert "agentconf" not in info.value.details
    finally:
        await channel.close()


async def test_a_report_over_the_envelope_limit_is_refused_before_sealing(
    world: World,
) -> None:
    incident = (await world.records.export_all("report"))[0]
    big = dataclasses.replace(
        incident, report=dataclasses.replace(incident.report, description="x" * 20_000)
    )
    many = [dataclasses.replace(big, incident_id=n) for n in range(1, 230)]
    with pytest.raises(envelope.EnvelopeError, match=f"{limits.MAX_ENVELOPE_BYTES:,}"):
        build_report(world.agent.enrolment, many)
    assert await world.sender.outbox.entries() == []


async def test_one_event_submits_a_bounded_number_of_reports_a_day(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "SUBMISSIONS_PER_EVENT_PER_DAY", 1)
    first = await world.sender.seal(await _report(world))
    second = await world.sender.seal(await _report(world))
    receipt = (await world.sender.deliver(first)).receipt
    assert receipt is not None
    with pytest.raises(RpcFailed) as info:
        await world.agent.registry.submit_report(second.envelope, second.signature)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 1 submissions per event" in info.value.details
    again = await world.agent.registry.submit_report(first.envelope, first.signature)
    assert again == receipt  # the same submission again is no new one
    assert len(await world.admin.list_submissions()) == 1
