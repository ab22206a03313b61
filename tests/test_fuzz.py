"""Fuzzing every RPC of both services: random bytes and generated messages, with no token,
a stranger's token and a real one. Never INTERNAL or UNKNOWN; the servers stay up; what
an unauthenticated caller sends changes nothing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nacl.signing
import pytest
from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.service import Caller
from lanyard.client.admin import AdminClient
from lanyard.core import auth, intake
from lanyard.core.channels import open_channel
from lanyard.registry.server import RunningRegistry
from lanyard.wire.agent.v1 import incidents_pb2, screening_pb2
from lanyard.wire.registry.v1 import admin_pb2, registry_pb2
from tests.agent.conftest import enrolled_agent_dir
from tests.conftest import enroll

PASSPHRASE = "correct horse battery staple"
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
CALL_TIMEOUT = 10.0
FD = descriptor.FieldDescriptor


@dataclass(frozen=True)
class Rpc:
    method: str  # full name
    request: type[Message]
    streaming: bool
    service: str  # "registry" | "agent"
    kind: str  # the key kind the service serves


def _rpcs() -> list[Rpc]:
    out = []
    for module, name, where, kind in [
        (registry_pb2, "Registry", "registry", "event"),
        (admin_pb2, "Admin", "registry", "admin"),
        (screening_pb2, "Screening", "agent", "integration"),
        (incidents_pb2, "Incidents", "agent", "member"),
    ]:
        service = module.DESCRIPTOR.services_by_name[name]
        for m in service.methods:
            out.append(
                Rpc(
                    f"/{service.full_name}/{m.name}",
                    message_factory.GetMessageClass(m.input_type),
                    m.server_streaming,
                    where,
                    kind,
                )
            )
    return out


RPCS = _rpcs()


def _scalar(field: Any, depth: int) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return st.integers(-(2**63), 2**63 - 1)
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_STRING:
        return st.text(max_size=24)
    if t == FD.TYPE_BYTES:
        return st.binary(max_size=48)
    if t == FD.TYPE_ENUM:
        return st.integers(-2, 8)
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(width=32 if t == FD.TYPE_FLOAT else 64)
    if t == FD.TYPE_MESSAGE and depth > 0 and field.message_type is not None:
        return messages(message_factory.GetMessageClass(field.message_type), depth - 1)
    return st.nothing()


def messages(cls: type[Message], depth: int = 2) -> st.SearchStrategy[Message]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in cls.DESCRIPTOR.fields:
        s = _scalar(f, depth)
        if s.is_empty:
            continue
        fields[f.name] = st.lists(s, max_size=3) if f.is_repeated else s
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: cls(**kw))


@dataclass
class Services:
    registry: RunningRegistry
    registry_channel: grpc.aio.Channel
    agent: agent_server.RunningAgent
    agent_channel: grpc.aio.Channel
    admin: AdminClient
    signers: dict[str, auth.CallSigner]  # key kind -> a real caller of that kind

    def channel(self, rpc: Rpc) -> grpc.aio.Channel:
        return self.registry_channel if rpc.service == "registry" else self.agent_channel

    async def call(self, rpc: Rpc, body: bytes, metadata: Any) -> grpc.StatusCode:
        """Send raw `body`; the status it ends with (OK for a stream that answers)."""
        channel = self.channel(rpc)
        try:
            if rpc.streaming:
                stream = channel.unary_stream(rpc.method)(
                    body, metadata=metadata, timeout=CALL_TIMEOUT
                )
                await stream.read()
                stream.cancel()
            else:
                await channel.unary_unary(rpc.method)(body, metadata=metadata, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    async def state(self) -> tuple[object, ...]:
        """What an outsider must not be able to change, read through the real services."""
        events = sorted(
            (e.event_id, e.quota, e.evaluations_used) for e in await self.admin.list_events()
        )
        records = await self.admin.list_records()
        agent = self.agent.agent
        assert self.agent.incidents is not None
        members = [m.name for m in await self.agent.incidents.members(_chair())]
        return (
            events,
            [(r.record_ref, r.status) for r in records.records],
            await agent.store.attendee_count(),
            [a.alert_id for a in await agent.store.alerts(True)],
            members,
            len(await self.admin.list_submissions()),
        )

    async def alive(self) -> None:
        for channel in (self.registry_channel, self.agent_channel):
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def _chair() -> Caller:
    return Caller("chair", "chair")


@pytest.fixture
async def services(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry, channel: grpc.aio.Channel
) -> AsyncIterator[Services]:
    event = await enroll(admin, channel, "fuzz-2027")
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    async with agent_server.running(
        adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=PASSPHRASE)
    ) as running:
        assert running.incidents is not None
        integration = await running.agent.add_integration("fuzz")
        chair = nacl.signing.SigningKey.generate()
        await running.incidents.add_member(
            Caller("operator", "operator"), "chair", "chair", bytes(chair.verify_key)
        )
        agent_channel = open_channel(running.address)
        try:
            yield Services(
                registry,
                channel,
                running,
                agent_channel,
                admin,
                {
                    "event": auth.CallSigner(f"event:{event.event_id}", event.key),
                    "admin": auth.CallSigner("admin:operator", admin._signer.key),
                    "integration": auth.CallSigner("integration:fuzz", integration),
                    "member": auth.CallSigner("member:chair", chair),
                },
            )
        finally:
            await agent_channel.close()


async def test_random_bytes_change_nothing_and_never_fail_inside(services: Services) -> None:
    rng = random.Random(11)
    stranger = auth.CallSigner("event:stranger", nacl.signing.SigningKey.generate())
    before = await services.state()
    for rpc in RPCS:
        bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) for _ in range(3)]
        bodies += [b"\xff", b"\x0a\xff\xff", b"\x08"]
        for body in bodies:
            for md in (
                None,
                stranger.metadata(rpc.method, body),
                services.signers[rpc.kind].metadata(rpc.method, body),
            ):
                code = await services.call(rpc, body, md)
                assert code not in NEVER, (rpc.method, body.hex())
                assert code != grpc.StatusCode.OK or md is not None, rpc.method
    # Bytes that are no message are refused before anything else, in one fixed sentence.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await services.registry_channel.unary_unary(RPCS[0].method)(b"\xff", timeout=CALL_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == intake.UNPARSABLE
    await services.alive()
    assert await services.state() == before


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_messages_never_fail_inside(
    services: Services, data: st.DataObject
) -> None:
    rpc = data.draw(st.sampled_from(RPCS))
    request = data.draw(messages(rpc.request))
    body = request.SerializeToString()
    stranger = auth.CallSigner(f"{rpc.kind}:stranger", nacl.signing.SigningKey.generate())
    before = await services.state()
    code = await services.call(rpc, body, stranger.metadata(rpc.method, body))
    assert code == grpc.StatusCode.UNAUTHENTICATED, rpc.method
    assert await services.state() == before
    code = await services.call(rpc, body, services.signers[rpc.kind].metadata(rpc.method, body))
    assert code not in NEVER, (rpc.method, request)
    await services.alive()
