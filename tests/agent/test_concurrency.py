"""The agent under load, following the WG, and through a key rotation it cannot finish.

Real registry and agent servers on 127.0.0.1, real SQLite files. Loads are bounded by a
count of calls (a few seconds at most), never by sleeping.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.errors import RotationPending, Unavailable
from lanyard.agent.screening.batch import screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.agent.screening.decision import Decision
from lanyard.agent.service import AgentService
from lanyard.agent.status import agent_status, problems
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc
from tests.agent.conftest import AgentSetup, enrolled_agent_dir

CHECK = "/lanyard.agent.v1.Screening/Check"
BOUND = 20.0  # seconds any wait in here may take before the test fails


@pytest.fixture
async def served(setup: AgentSetup) -> AsyncIterator[agent_server.RunningAgent]:
    async with agent_server.running(setup.adir, "127.0.0.1:0") as running:
        yield running


async def _signer(agent: AgentService) -> auth.CallSigner:
    return auth.CallSigner("integration:load", await agent.add_integration("load"))


async def _checks(
    address: str, signer: auth.CallSigner, callers: int, per_caller: int, tag: str
) -> Counter[str]:
    """`callers` concurrent callers, each `per_caller` Checks: half new people, half the
    banned one; returns how many of each status code (and decision) came back."""
    seen: Counter[str] = Counter()
    channel = open_channel(address)
    stub = screening_pb2_grpc.ScreeningStub(channel)

    async def caller(n: int) -> None:
        for i in range(per_caller):
            banned = i % 2 == 1
            request = screening_pb2.CheckRequest(
                name="Jordan Blake" if banned else f"Load Person {tag} {n} {i}",
                email="jordan.blake@example.net" if banned else f"load.{tag}.{n}.{i}@example.org",
                caller_ref=f"L-{n}-{i}",
            )
            try:
                response = await stub.Check(request, metadata=signer.metadata(CHECK, request))
            except grpc.aio.AioRpcError as exc:
                seen[exc.code().name] += 1
                continue
            seen["OK"] += 1
            expected = screening_pb2.DECISION_DENY if banned else screening_pb2.DECISION_ALLOW
            seen["right" if response.decision == expected else "wrong"] += 1
            assert response.snapshot_version > 0

    try:
        await asyncio.gather(*(caller(n) for n in range(callers)))
    finally:
        await channel.close()
    return seen


@pytest.mark.parametrize("callers", [1, 8, 32])
async def test_concurrent_checks_never_fail_internally(
    served: agent_server.RunningAgent, callers: int
) -> None:
    signer = await _signer(served.agent)
    per_caller = max(2, 64 // callers)
    seen = await _checks(served.address, signer, callers, per_caller, f"c{callers}")
    assert seen == Counter({"OK": callers * per_caller, "right": callers * per_caller}), seen


async def _until_version(agent: AgentService, version: int) -> None:
    async def reached() -> None:
        while agent.newest.version < version:
            agent.updated.clear()
            if agent.newest.version >= version:
                return
            await agent.updated.wait()

    await asyncio.wait_for(reached(), BOUND)


async def test_the_follower_keeps_up_while_checks_run(
    served: agent_server.RunningAgent, setup: AgentSetup
) -> None:
    agent = served.agent
    signer = await _signer(agent)
    early = await agent.check("Early Bird", "early.bird@example.org", "attendee", "EARLY")
    assert early.decision == Decision.ALLOW
    # The WG adds records one after another while eight callers keep checking.
    load = asyncio.create_task(_checks(served.address, signer, 8, 12, "f"))
    version = 0
    for n in range(8):
        added = await setup.admin.add_record(
            f"WG-F{n}", "banned", [Identifier(Kind.EMAIL, f"newly.banned.{n}@example.org")]
        )
        version = int(added.snapshot_version)
    added = await setup.admin.add_record(
        "WG-EARLY", "banned", [Identifier(Kind.EMAIL, "early.bird@example.org")]
    )
    version = int(added.snapshot_version)
    seen = await asyncio.wait_for(load, BOUND)
    assert set(seen) == {"OK", "right"}, seen
    await _until_version(agent, version)
    assert agent.newest.version == setup.registry.service.version
    # The newly banned person, and the person checked before the ban, are both denied;
    # the earlier one raised an alert without being evaluated again.
    late = await agent.check("", "newly.banned.7@example.org", "attendee", "LATE")
    assert late.decision == Decision.DENY
    again = await agent.check("Early Bird", "early.bird@example.org", "attendee", "EARLY-2")
    assert again.decision == Decision.DENY
    assert [(a.ref, a.result.record_ref) for a in await agent.alerts()] == [("EARLY", "WG-EARLY")]
    assert served.tasks is not None
    assert served.tasks.states["snapshot-follower"].state == "ok"


async def test_a_rotation_the_quota_cannot_cover_is_never_a_silent_allow(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    await admin.add_record("WG-FLAG", "flagged", [Identifier(Kind.NAME, "Sam Rivera")])
    people = [(f"Person {n}", f"person.{n}@example.org") for n in range(6)]
    adir = await enrolled_agent_dir(
        tmp_path, admin, registry.address, event_id="rot-2027", quota=2 * len(people) + 4
    )
    async with agent_operator.opened(adir) as agent:
        for name, email in people:
            assert (await agent.check(name, email, "attendee", "R")).decision == Decision.ALLOW
        await admin.rotate_key(1)
        await agent.sync()  # tries to finish at once; 4 evaluations left for 12 identities
        assert (agent.snapshot.epoch, agent.newest.epoch) == (1, 2)
        assert await agent.store.pending_count(2) == 12
        with pytest.raises(RotationPending, match=r"12 stored identities .* 4 evaluations left"):
            await agent.finish_rotation()
        status = await agent_status(agent, adir)
        assert status["rotation"] == {"next_epoch": 2, "pending_identities": 12}
        assert status["quota"]["left"] == 4
        assert any("waits for 12 identities" in p for p in problems(status))

        # After the rotation the WG bans person 0: re-evaluated for this check (2 of the 4
        # left), matched against the new epoch's list: DENY.
        await admin.add_record("WG-P0", "banned", [Identifier(Kind.EMAIL, people[0][1])])
        await agent.sync()
        # That delta moved the waiting snapshot; the stored copy moved with it.
        waiting = await agent.store.load_next_snapshot()
        assert waiting is not None
        assert (waiting.version, waiting.entries.root) == (agent.newest.version, agent.newest.root)
        export = tmp_path / "late.csv"
        export.write_text(
            f"Order code,Attendee name,Attendee email\nORD-0,{people[0][0]},{people[0][1]}\n",
            encoding="utf-8",
        )
        outcome = await screen_export(agent, open_export(export))
        assert [m.result.decision for m in outcome.report.matches] == [Decision.DENY]
        assert outcome.rotation_pending == 10  # person 0's two identities are done
        assert (await agent.check(*people[0], "attendee", "P0")).decision == Decision.DENY
        assert (await agent.check(*people[1], "attendee", "P1")).decision == Decision.ALLOW
        assert await agent.store.pending_count(2) == 8
        # The quota is spent: a new person cannot be decided at all, and a person not yet
        # re-evaluated is not cleared from the old epoch's list once it is stale.
        with pytest.raises(Exception, match="quota") as info:
            await agent.check("Someone New", "new@example.org", "attendee", "NEW")
        assert not isinstance(info.value, AssertionError)
        agent.max_snapshot_age = timedelta(0)
        with pytest.raises(Unavailable, match="not yet evaluated under the registry's new key"):
            await agent.check(*people[2], "attendee", "P2")
        assert agent.snapshot.epoch == 1

        # The WG raises the quota: the switch completes, nothing is left pending.
        await admin.set_quota("rot-2027", 100)
        await agent.finish_rotation()
        agent.max_snapshot_age = timedelta(minutes=10)
        assert (agent.snapshot.epoch, agent.next_snapshot) == (2, None)
        assert await agent.store.pending_count(2) == 0
        assert (await agent.check(*people[2], "attendee", "P2b")).decision == Decision.ALLOW
        assert (await agent.check(*people[0], "attendee", "P0b")).decision == Decision.DENY
        used = {e.event_id: e.evaluations_used for e in await admin.list_events()}
        # 12 at first, 4 during the rotation for P0 and P1, the 8 left once raised: each
        # distinct identity once per epoch, however many times it was checked.
        assert used["rot-2027"] == 12 + 4 + 8
