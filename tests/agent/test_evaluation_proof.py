"""Spec §3a end to end: a registry that evaluates one event with another key, or an answer
altered in transit, is refused: nothing finalised or reported clear, an operator alert
raised, Check UNAVAILABLE. The registry, agent and clients are real; only the registry's
key store (in one test) and the wire (in the other) are not what they should be."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import RegistryFaulted, SnapshotRejected, Unavailable
from lanyard.agent.screening.batch import screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.agent.service import AgentService
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import EvaluationLogInvalid, EvaluationProofFailed
from lanyard.client.registry import RegistryClient
from lanyard.core import auth, screen
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind, message
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.epoch_keys import EpochKeys
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc
from lanyard.wire.registry.v1 import registry_pb2
from tests.agent.conftest import enrolled_agent_dir, used
from tests.agent.test_screening import crowd, write_export
from tests.conftest import Enrolled, enroll

EVENT = "agentconf-2027"


class OtherKeyForOneEvent(EpochKeys):
    """A key store that hands one event's batches another scalar: a restore gone wrong.
    It still publishes the right public key, as such a registry would."""

    def __init__(self, keys: dict[int, bytes], event_id: str) -> None:
        super().__init__(keys)
        self._caller = f"event:{event_id}"
        self.other = screen.random_scalar()

    def secret(self, epoch: int, caller: str) -> bytes:
        return self.other if caller == self._caller else super().secret(epoch, caller)


@dataclass
class Faulty:
    registry: server.RunningRegistry
    admin: AdminClient
    agent_dir: Path


@pytest.fixture
async def faulty(registry_dir: RegistryDir, tmp_path: Path) -> AsyncIterator[Faulty]:
    keys = OtherKeyForOneEvent({1: registry_dir.oprf_key(1)}, EVENT)
    async with server.running(registry_dir, epoch_keys=keys) as running:
        channel = open_channel(running.address)
        admin = AdminClient(channel, registry_dir.admin_key())
        await admin.add_record(
            "WG-BAN", "banned", [Identifier(Kind.EMAIL, "jordan.blake@example.net")]
        )
        adir = await enrolled_agent_dir(tmp_path, admin, running.address, EVENT)
        yield Faulty(running, admin, adir.path)
        await channel.close()


async def test_agent_refuses_a_batch_evaluated_with_another_key(
    faulty: Faulty, tmp_path: Path
) -> None:
    rows = crowd(12)
    rows[3] = ("ORD-BAN", "Jordan Blake", "jordan.blake@example.net")
    export = open_export(write_export(tmp_path / "a.csv", rows))
    adir = AgentDir(faulty.agent_dir)
    async with agent_operator.opened(adir) as agent:
        with pytest.raises(RegistryFaulted) as info:
            await screen_export(agent, export, batch_rows=5)
        text = str(info.value)
        assert text.startswith("the registry's evaluation proof failed")
        assert "stopped after 0 rows" in text
        assert "\n" not in text
        # Nothing finalised, matched or reported clear; the operator is alerted.
        assert await agent.store.attendee_count() == 0
        # One alert per refused answer (the batches in flight were all refused).
        faults = await agent.registry_faults()
        assert faults
        assert {f.kind for f in faults} == {"evaluation-proof"}
        assert "does not verify under the epoch's public key" in faults[0].detail
        with pytest.raises(RegistryFaulted, match=r"^cannot decide: the registry's evaluation"):
            await agent.check("Jordan Blake", "jordan.blake@example.net", "attendee", "A")
        assert await agent.store.attendee_count() == 0
    # The registry did charge the event: the fault is the registry's, and logged there.
    assert await used(faulty.admin, EVENT) > 0


async def test_check_answers_unavailable_when_the_proof_fails(faulty: Faulty) -> None:
    adir = AgentDir(faulty.agent_dir)
    async with agent_server.running(adir, "127.0.0.1:0") as running:
        key = await running.agent.add_integration("pretix")
        signer = auth.CallSigner("integration:pretix", key)
        channel = open_channel(running.address)
        try:
            stub = screening_pb2_grpc.ScreeningStub(channel)
            request = screening_pb2.CheckRequest(email="jordan.blake@example.net")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Check(
                    request, metadata=signer.metadata("/lanyard.agent.v1.Screening/Check", request)
                )
        finally:
            await channel.close()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "evaluation proof failed" in (info.value.details() or "")
        assert len(await running.agent.registry_faults()) == 1


async def test_other_events_on_the_same_registry_are_unaffected(faulty: Faulty) -> None:
    channel = open_channel(faulty.registry.address)
    try:
        other = await enroll(faulty.admin, channel, "otherconf-2027")
        msgs = [message(Kind.EMAIL, "jordan.blake@example.net")]
        assert len(await other.client.evaluate_messages(1, msgs)) == 1
    finally:
        await channel.close()


# -- altered in transit --------------------------------------------------------------------

Alter = Callable[[registry_pb2.EvaluateResponse], None]


class AlterEvaluate(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Changes every Evaluate answer on its way to the client."""

    def __init__(self, alter: Alter) -> None:
        self._alter = alter

    async def intercept_unary_unary(
        self,
        continuation: Callable[[Any, Any], Awaitable[Any]],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        call = await continuation(client_call_details, request)
        response = await call
        method = client_call_details.method
        if (method.decode() if isinstance(method, bytes) else method).endswith("/Evaluate"):
            self._alter(response)
        return response


def flip_proof(byte: int) -> Alter:
    def alter(response: registry_pb2.EvaluateResponse) -> None:
        raw = bytearray(response.proof)
        raw[byte] ^= 0x04
        response.proof = bytes(raw)

    return alter


def drop_proof_byte(response: registry_pb2.EvaluateResponse) -> None:
    response.proof = response.proof[:-1]


def swap_points(response: registry_pb2.EvaluateResponse) -> None:
    a, b = response.evaluated_points[0], response.evaluated_points[1]
    response.evaluated_points[0], response.evaluated_points[1] = b, a


def flip_log_path(response: registry_pb2.EvaluateResponse) -> None:
    raw = bytearray(response.log_entry.path[0])
    raw[0] ^= 0x01
    response.log_entry.path[0] = bytes(raw)


def other_log_time(response: registry_pb2.EvaluateResponse) -> None:
    response.log_entry.logged_at = "2000-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("alter", "error", "text"),
    [
        (flip_proof(0), EvaluationProofFailed, "evaluation proof failed"),
        (flip_proof(40), EvaluationProofFailed, "evaluation proof failed"),
        (drop_proof_byte, EvaluationProofFailed, "64 bytes"),
        (swap_points, EvaluationProofFailed, "does not verify"),
        (flip_log_path, EvaluationLogInvalid, "evaluation log entry"),
        (other_log_time, EvaluationLogInvalid, "evaluation log entry"),
    ],
    ids=["c", "s", "truncated", "reordered", "log-path", "log-time"],
)
async def test_an_answer_altered_in_transit_is_refused(
    registry: server.RunningRegistry,
    event: Enrolled,
    alter: Alter,
    error: type[Exception],
    text: str,
) -> None:
    msgs = [message(Kind.EMAIL, f"p{i}@example.org") for i in range(3)]
    # Every log entry is two leaves or more into the log, so it has a path to flip.
    assert len(await event.client.evaluate_messages(1, msgs)) == 3
    channel = grpc.aio.insecure_channel(registry.address, interceptors=[AlterEvaluate(alter)])
    try:
        client = RegistryClient(channel, event.event_id, event.key, event.registry_key)
        with pytest.raises(error, match=text):
            await client.evaluate_messages(1, msgs)
    finally:
        await channel.close()


async def test_agent_refuses_a_flipped_proof_and_alerts(
    registry: server.RunningRegistry, admin: AdminClient, tmp_path: Path
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    store = await SqliteStore.open(adir.db_path)
    channel = grpc.aio.insecure_channel(
        registry.address, interceptors=[AlterEvaluate(flip_proof(7))]
    )
    try:
        enrolment = adir.enrolment()
        client = RegistryClient(
            channel, enrolment.event_id, adir.event_key(), enrolment.registry_public_key
        )
        agent = AgentService(store, enrolment, client, None)
        await agent.start()
        with pytest.raises(RegistryFaulted, match=r"^cannot decide: the registry's evaluation"):
            await agent.check("Some One", "some.one@example.org", "attendee", "A")
        assert [f.kind for f in await agent.registry_faults()] == ["evaluation-proof"]
        assert await store.attendee_count() == 0
    finally:
        await channel.close()
        await store.close()


# -- the epoch key the enrolment bundle names ------------------------------------------------


@pytest.mark.parametrize("matches", [True, False])
async def test_snapshot_must_publish_the_epoch_key_of_the_bundle(
    registry: server.RunningRegistry, admin: AdminClient, tmp_path: Path, matches: bool
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    data = json.loads(adir.enrolment_path.read_text(encoding="utf-8"))
    real = registry.service.epoch_public_key
    data |= {"epoch": 1, "epoch_public_key": (real if matches else bytes(32)).hex()}
    bundle = tmp_path / "bundle-with-key.json"
    bundle.write_text(json.dumps(data), encoding="utf-8")
    assert adir.pin(bundle).epoch_public_key == (real if matches else bytes(32))
    async with agent_operator.opened(adir) as agent:
        if matches:
            await agent.sync()
            assert agent.snapshot.public_key == real
        else:
            with pytest.raises(SnapshotRejected, match="another public key for epoch 1"):
                await agent.sync()
            assert agent.snapshot.version == 0


async def test_after_a_restart_known_people_need_no_epoch_key_and_new_ones_fetch_it(
    registry: server.RunningRegistry, admin: AdminClient, tmp_path: Path
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    async with agent_operator.opened(adir) as agent:
        await agent.check("Known Person", "known@example.org", "attendee", "A")
    async with agent_operator.opened(adir) as agent:
        assert agent.registry.epoch_key(1) is None
        await agent.check("New Person", "new@example.org", "attendee", "B")
        assert agent.registry.epoch_key(1) == registry.service.epoch_public_key
    await registry.server.stop(0)
    async with agent_operator.opened(adir) as agent:
        result = await agent.check("Known Person", "known@example.org", "attendee", "C")
        assert result.decision.value == "allow"
        with pytest.raises(Unavailable, match="cannot reach the registry"):
            await agent.check("Third Person", "third@example.org", "attendee", "D")
