"""The agent's Check service for ticketing systems, snapshot following and alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import grpc
import nacl.signing
import pytest

from lanyard.agent import server as agent_server
from lanyard.agent.errors import InvalidRequest, RetentionApplied, SnapshotRejected, Unavailable
from lanyard.agent.screening.decision import Decision, Reason
from lanyard.agent.service import AgentService
from lanyard.client.admin import Identifier
from lanyard.core import auth, keys, screen
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind, message
from lanyard.core.snapshot_tree import SEALED_BYTES
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc
from tests.agent.conftest import AgentSetup, used

CHECK = "/lanyard.agent.v1.Screening/Check"


@pytest.fixture
async def served(setup: AgentSetup) -> AsyncIterator[agent_server.RunningAgent]:
    async with agent_server.running(setup.adir, "127.0.0.1:0") as running:
        yield running


async def _integration(agent: AgentService, name: str = "pretix") -> auth.CallSigner:
    key = await agent.add_integration(name)
    return auth.CallSigner(f"integration:{name}", key)


async def _check(
    address: str, signer: auth.CallSigner | None, **fields: str
) -> screening_pb2.CheckResponse:
    channel = open_channel(address)
    try:
        stub = screening_pb2_grpc.ScreeningStub(channel)
        request = screening_pb2.CheckRequest(**fields)
        metadata = signer.metadata(CHECK, request) if signer else None
        response: screening_pb2.CheckResponse = await stub.Check(request, metadata=metadata)
        return response
    finally:
        await channel.close()


async def test_check_decisions(served: agent_server.RunningAgent) -> None:
    signer = await _integration(served.agent)
    cases = [
        (
            {"email": "JORDAN.blake+x@example.net", "name": "J B"},
            screening_pb2.DECISION_DENY,
            screening_pb2.REASON_BANNED_CONFIRMED,
            "WG-BAN",
        ),
        (
            {"name": "blake jordan", "email": "jb@other.example"},
            screening_pb2.DECISION_REVIEW,
            screening_pb2.REASON_BANNED_POSSIBLE,
            "WG-BAN",
        ),
        (
            {"name": "Sam Rivera"},
            screening_pb2.DECISION_REVIEW,
            screening_pb2.REASON_FLAGGED_POSSIBLE,
            "WG-FLAG",
        ),
        (
            {"name": "Nobody Listed", "email": "nobody@example.org"},
            screening_pb2.DECISION_ALLOW,
            screening_pb2.REASON_UNSPECIFIED,
            "",
        ),
    ]
    for fields, decision, reason, record in cases:
        assert isinstance(fields, dict)
        response = await _check(served.address, signer, caller_ref="ORDER-1", **fields)
        assert (response.decision, response.reason, response.record_ref) == (
            decision,
            reason,
            record,
        ), fields
        assert response.snapshot_version > 0


async def test_check_needs_a_valid_integration_token(
    served: agent_server.RunningAgent,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, None, name="Any One")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stranger = auth.CallSigner("integration:pretix", nacl.signing.SigningKey.generate())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, stranger, name="Any One")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    signer = await _integration(served.agent, "tito")
    await _check(served.address, signer, name="Any One")
    await served.agent.revoke_integration("tito")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, signer, name="Any One")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    event_key = auth.CallSigner("event:agentconf-2027", nacl.signing.SigningKey.generate())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, event_key, name="Any One")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "needs a name or an e-mail"),
        ({"email": "not-an-address"}, "email is not usable"),
        ({"name": "---"}, "name is not usable"),
        ({"name": "A B", "caller_ref": "has space"}, "caller_ref"),
        ({"name": "x" * 513}, "at most 512"),
        # A part not screened is never left out of an ALLOW: beside a usable e-mail too.
        ({"name": "Dana Quill" + "." * 600, "email": "x@example.org"}, "name is not usable"),
        ({"name": "???", "email": "x@example.org"}, "name is not usable"),
        ({"name": "Dana Quill", "email": "n/a"}, "email is not usable"),
        # Text that is no address, even after unwrapping, is refused, never cleared.
        ({"email": "mailto:x@example.org?subject=hi"}, "email is not usable"),
        ({"email": "x@example.org,,"}, "email is not usable"),
        ({"email": "other@example.org <x@example.org>"}, "email is not usable"),
        ({"email": "x@localhost"}, "no dot in its domain"),
    ],
)
async def test_check_bad_input(
    served: agent_server.RunningAgent, fields: dict[str, str], text: str
) -> None:
    signer = await _integration(served.agent)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, signer, **fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in (info.value.details() or "")
    for value in fields.values():
        assert value[:8] not in (info.value.details() or "")  # never echoed


@pytest.mark.parametrize(
    "email",
    [
        "<jordan.blake@example.net>",
        "mailto:jordan.blake@example.net",
        "jordan.blake@example.net,",
        "jordan.blake@example.net;",
        '"jordan.blake@example.net"',
        "Jordan Blake <Jordan.Blake@example.net>",
    ],
)
async def test_check_screens_the_address_inside_its_wrapping(
    served: agent_server.RunningAgent, email: str
) -> None:
    signer = await _integration(served.agent)
    response = await _check(served.address, signer, email=email, caller_ref="ORDER-2")
    assert (response.decision, response.record_ref) == (screening_pb2.DECISION_DENY, "WG-BAN")


async def test_registry_down_is_unavailable_unless_already_known(
    setup: AgentSetup, served: agent_server.RunningAgent
) -> None:
    signer = await _integration(served.agent)
    known = await _check(served.address, signer, email="jordan.blake@example.net")
    assert known.decision == screening_pb2.DECISION_DENY
    await setup.registry.server.stop(0)
    again = await _check(served.address, signer, email="jordan.blake@example.net")
    assert again.decision == screening_pb2.DECISION_DENY
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, signer, email="never.seen@example.org")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach the registry" in (info.value.details() or "")
    assert "not been screened before" in (info.value.details() or "")


async def test_a_registry_that_answers_it_cannot_serve_is_not_called_unreachable(
    setup: AgentSetup, served: agent_server.RunningAgent
) -> None:
    """The registry up but its storage closed answers UNAVAILABLE itself: the agent says
    the registry answered so, with its reason, rather than that it could not be reached."""
    signer = await _integration(served.agent)
    await setup.registry.service.store.close()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _check(served.address, signer, email="never.seen@example.org")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    details = info.value.details() or ""
    assert "answered that it cannot serve now" in details
    assert "cannot reach the registry" not in details
    assert "not been screened before" in details


async def test_known_people_cost_no_new_evaluations(agent: AgentService, setup: AgentSetup) -> None:
    await agent.check("Repeat Buyer", "repeat@example.org", "attendee", "A")
    before = await used(setup.admin)
    await agent.check("Repeat Buyer", "repeat@example.org", "attendee", "B")
    assert await used(setup.admin) == before


async def test_alert_when_the_wg_adds_and_removes_a_record(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.check("Late Addition", "late@example.org", "attendee", "ORDER-9")
    evaluations = await used(setup.admin)
    await setup.admin.add_record("WG-LATE", "banned", [Identifier(Kind.EMAIL, "late@example.org")])
    raised = await agent.sync()
    assert [(a.ref, a.kind, a.result.reason, a.result.record_ref) for a in raised] == [
        ("ORDER-9", "new-match", Reason.BANNED_CONFIRMED, "WG-LATE")
    ]
    await setup.admin.remove_record("WG-LATE")
    cleared = await agent.sync()
    assert [(a.ref, a.kind, a.result.decision) for a in cleared] == [
        ("ORDER-9", "cleared", Decision.ALLOW)
    ]
    assert len(await agent.alerts()) == 2
    assert await used(setup.admin) == evaluations  # re-checks are local
    # Both syncs were deltas, stored as changes: what is stored is what is held.
    stored = await agent.store.load_snapshot()
    assert stored is not None
    assert (stored.version, stored.entries.root, stored.verified) == (
        agent.snapshot.version,
        agent.snapshot.root,
        True,
    )


async def test_follower_raises_alerts_while_serving(
    setup: AgentSetup, served: agent_server.RunningAgent
) -> None:
    await served.agent.check("Watched Person", "", "attendee", "ORDER-W")
    await setup.admin.add_record("WG-W", "flagged", [Identifier(Kind.NAME, "Watched Person")])
    for _ in range(50):
        alerts = await served.agent.alerts()
        if alerts:
            break
        await asyncio.sleep(0.1)
    assert [(a.ref, a.result.reason) for a in alerts] == [("ORDER-W", Reason.FLAGGED_POSSIBLE)]


async def test_snapshot_with_a_bad_signature_is_refused_and_the_old_kept(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.sync()
    held = (agent.snapshot.version, agent.snapshot.root)
    await setup.admin.add_record("WG-NEW", "flagged", [Identifier(Kind.NAME, "New Person")])
    agent.registry.pin(bytes(nacl.signing.SigningKey.generate().verify_key))
    with pytest.raises(SnapshotRejected, match="keeping version"):
        await agent.sync()
    assert (agent.snapshot.version, agent.snapshot.root) == held
    stored = await agent.store.load_snapshot()
    assert stored is not None
    assert stored.version == held[0]


async def test_a_tag_whose_box_does_not_open_is_an_error(agent: AgentService) -> None:
    await agent.sync()
    m = message(Kind.EMAIL, "jordan.blake@example.net")
    [y] = await agent.points_for([m])
    tag = screen.tag(agent.snapshot.epoch, y)
    assert tag in agent.snapshot.entries
    agent.snapshot.entries = agent.snapshot.entries.apply([(tag, bytes(SEALED_BYTES))], [])
    with pytest.raises(Unavailable, match="does not open"):
        await agent.check("", "jordan.blake@example.net", "attendee", "X")


async def test_check_without_identifiers_is_refused(agent: AgentService) -> None:
    with pytest.raises(InvalidRequest):
        await agent.check("", "", "attendee", "")


async def test_retention_deletes_attendees_after_the_period(agent: AgentService) -> None:
    await agent.check("Some One", "some@example.org", "attendee", "R")
    assert await agent.apply_retention(30, today=date(2027, 6, 1)) == 0
    assert await agent.store.attendee_count() == 1
    assert await agent.apply_retention(30, today=date(2027, 6, 2)) == 1
    assert await agent.store.attendee_count() == 0
    # The data is gone for good: screening this event again is refused, saying so.
    with pytest.raises(RetentionApplied, match=r"deleted on .* under the retention policy"):
        await agent.check("Some One", "some@example.org", "attendee", "R2")
    assert await agent.store.attendee_count() == 0


def test_integration_credentials_parse(tmp_path: object) -> None:
    key = nacl.signing.SigningKey.generate()
    assert len(keys.public_key_bytes(key)) == 32


async def test_agent_follows_a_key_rotation(agent: AgentService, setup: AgentSetup) -> None:
    await agent.check("Jordan Blake", "jordan.blake@example.net", "attendee", "ORDER-R")
    await agent.check("Not Listed", "not.listed@example.org", "attendee", "ORDER-N")
    evaluations = await used(setup.admin)
    await setup.admin.rotate_key(1)
    raised = await agent.sync()
    assert raised == []  # the same people match under the new key: nothing changed
    assert agent.snapshot.epoch == 2
    assert await used(setup.admin) == evaluations + 4  # every stored identity, once
    assert await agent.store.stale_identities(2, 10) == []
    result = await agent.check("", "jordan.blake@example.net", "attendee", "ORDER-R2")
    assert result.reason == Reason.BANNED_CONFIRMED
    assert await used(setup.admin) == evaluations + 4  # known in the new epoch too


async def test_check_follows_the_new_epoch_by_itself(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.sync()
    await setup.admin.rotate_key(1)
    result = await agent.check("Sam Rivera", "", "attendee", "ORDER-S")
    assert result.reason == Reason.FLAGGED_POSSIBLE
    assert agent.snapshot.epoch == 2


async def test_checks_at_once_share_evaluate_calls_and_keep_their_own_answers(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.sync()  # the list is held: no Check stops to fetch it
    log = setup.registry.service.evaluation_log
    leaves, before = log.size, await used(setup.admin)
    crowd = [(f"Crowd Person {i}", f"crowd{i}@example.org", Decision.ALLOW) for i in range(12)]
    jordan = ("Jordan Blake", "jordan.blake@example.net", Decision.DENY)
    people = [
        crowd[0],
        jordan,
        ("Sam Rivera", "sam.rivera@example.org", Decision.REVIEW),
        *crowd[1:],
        jordan,  # the same person twice at once
    ]

    results = await asyncio.gather(
        *(agent.check(n, e, "attendee", f"C{i}") for i, (n, e, _) in enumerate(people))
    )

    assert [r.decision for r in results] == [want for _, _, want in people]
    # 14 distinct people, two points each; the one asked twice is evaluated at most twice.
    assert 28 <= await used(setup.admin) - before <= 30
    # ...in fewer calls than Checks: those waiting for a call in flight share the next.
    assert log.size - leaves < len(people) // 2
