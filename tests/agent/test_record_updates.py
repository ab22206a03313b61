"""A record the WG changes reaches the agents: a REVIEW becomes a DENY with no evaluation."""

from __future__ import annotations

import asyncio

from lanyard.agent import server as agent_server
from lanyard.agent.screening.decision import Decision, Reason
from lanyard.agent.service import AgentService
from lanyard.client.admin import Identifier
from lanyard.core.identity import Kind
from tests.agent.conftest import AgentSetup, used


async def test_flagged_to_banned_turns_review_into_deny_without_evaluating(
    agent: AgentService, setup: AgentSetup
) -> None:
    await setup.admin.add_record(
        "WG-CHG", "flagged", [Identifier(Kind.EMAIL, "drew.moss@example.org")]
    )
    first = await agent.check("Drew Moss", "drew.moss@example.org", "attendee", "ORDER-D")
    assert (first.decision, first.reason) == (Decision.REVIEW, Reason.FLAGGED_CONFIRMED)
    evaluations = await used(setup.admin)
    await setup.admin.update_record("WG-CHG", status="banned")
    raised = await agent.sync()
    assert [
        (a.ref, a.kind, a.result.decision, a.result.reason, a.result.record_ref) for a in raised
    ] == [("ORDER-D", "changed", Decision.DENY, Reason.BANNED_CONFIRMED, "WG-CHG")]
    assert await used(setup.admin) == evaluations  # the re-check was local
    # And back: a banned record lowered to flagged is a change the agent reports too.
    await setup.admin.update_record("WG-CHG", status="flagged")
    lowered = await agent.sync()
    assert [(a.kind, a.result.decision) for a in lowered] == [("changed", Decision.REVIEW)]


async def test_an_alias_added_later_matches_an_attendee_already_screened(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.check("Other Name", "alias@example.org", "attendee", "ORDER-A")
    assert await agent.sync() == []
    await setup.admin.update_record("WG-BAN", aliases=[Identifier(Kind.EMAIL, "alias@example.org")])
    raised = await agent.sync()
    assert [(a.ref, a.kind, a.result.reason, a.result.record_ref) for a in raised] == [
        ("ORDER-A", "new-match", Reason.BANNED_CONFIRMED, "WG-BAN")
    ]


async def test_a_serving_agent_alerts_on_an_update_by_itself(
    setup: AgentSetup,
) -> None:
    async with agent_server.running(setup.adir, "127.0.0.1:0") as running:
        await running.agent.check("Sam Rivera", "", "attendee", "ORDER-S")
        before = {a.alert_id for a in await running.agent.alerts()}
        await setup.admin.update_record("WG-FLAG", status="banned")

        async def changed() -> list[object]:
            while True:
                fresh = [a for a in await running.agent.alerts() if a.alert_id not in before]
                if fresh:
                    return [(a.ref, a.kind, a.result.reason) for a in fresh]
                await asyncio.sleep(0.05)

        assert await asyncio.wait_for(changed(), timeout=10) == [
            ("ORDER-S", "changed", Reason.BANNED_POSSIBLE)
        ]
