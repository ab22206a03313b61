"""Call tokens cannot be reused: not with another body, not on another method, not after a
restart, not outside ±120 s, not with the time written any other way; each refusal is
UNAUTHENTICATED with the one message, and changes nothing (docs/call-token.md)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.core import auth, screen
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc, registry_pb2, registry_pb2_grpc

EVALUATE = "/lanyard.registry.v1.Registry/Evaluate"
SNAPSHOT = "/lanyard.registry.v1.Registry/GetSnapshot"
ENROLL = "/lanyard.registry.v1.Admin/EnrollEvent"


class Clock:
    """The registry's clock, held still at a whole second of the real time (so that the
    real admin client's tokens are in its window too), moved by the tests."""

    def __init__(self) -> None:
        self.t0 = float(int(time.time()))
        self.now = self.t0

    def __call__(self) -> float:
        return self.now


def _blinded(n: int, seed: str = "victim") -> list[bytes]:
    return [screen.blind(f"lanyard:v1:name:{seed} {i}".encode()).blinded for i in range(n)]


async def _refused(call: Awaitable[object]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == auth.REFUSED


class World:
    """A registry on a controlled clock, restartable on the same data directory."""

    def __init__(self, rdir: RegistryDir, clock: Clock) -> None:
        self.rdir = rdir
        self.clock = clock
        self.event_key = nacl.signing.SigningKey.generate()
        self.admin_signer = auth.CallSigner("admin:operator", rdir.admin_key(), clock)
        self.event_signer = auth.CallSigner("event:victim-2027", self.event_key, clock)
        self.channel: grpc.aio.Channel | None = None  # while `with_server` runs

    def evaluate_request(self, seed: str = "victim", n: int = 3) -> registry_pb2.EvaluateRequest:
        return registry_pb2.EvaluateRequest(
            suite=screen.SUITE, epoch=1, blinded_points=_blinded(n, seed)
        )

    def enroll_request(self, event_id: str, quota: int) -> admin_pb2.EnrollEventRequest:
        key = self.event_key if event_id == "victim-2027" else nacl.signing.SigningKey.generate()
        return admin_pb2.EnrollEventRequest(
            event=admin_pb2.EventInfo(
                event_id=event_id,
                name="Conf",
                starts_on="2027-05-01",
                ends_on="2027-05-03",
                public_key=bytes(key.verify_key),
                quota=quota,
            )
        )

    def admin(self) -> AdminClient:
        """The real admin client, on the channel of the running `with_server`."""
        assert self.channel is not None
        return AdminClient(self.channel, self.rdir.admin_key())

    async def with_server(
        self,
        body: Callable[[registry_pb2_grpc.RegistryStub, admin_pb2_grpc.AdminStub], Awaitable[None]],
    ) -> None:
        async with server.running(self.rdir, clock=self.clock) as running:
            channel = self.channel = open_channel(running.address)
            try:
                await body(
                    registry_pb2_grpc.RegistryStub(channel), admin_pb2_grpc.AdminStub(channel)
                )
            finally:
                await channel.close()

    async def events(self) -> dict[str, tuple[int, int]]:
        """event id -> (quota, used), read through the real admin client."""
        result: dict[str, tuple[int, int]] = {}

        async def read(_: registry_pb2_grpc.RegistryStub, admin: admin_pb2_grpc.AdminStub) -> None:
            request = admin_pb2.ListEventsRequest()
            response = await admin.ListEvents(
                request,
                metadata=self.admin_signer.metadata(
                    "/lanyard.registry.v1.Admin/ListEvents", request
                ),
            )
            for e in response.events:
                result[e.event_id] = (int(e.quota), int(e.evaluations_used))

        await self.with_server(read)
        return result


@pytest.fixture
async def world(tmp_path: Path) -> World:
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    w = World(rdir, Clock())

    async def enrol(_: registry_pb2_grpc.RegistryStub, admin: admin_pb2_grpc.AdminStub) -> None:
        request = w.enroll_request("victim-2027", 1000)
        await admin.EnrollEvent(request, metadata=w.admin_signer.metadata(ENROLL, request))

    await w.with_server(enrol)
    return w


async def test_a_token_with_another_body_is_refused(world: World) -> None:
    victims = world.evaluate_request("victim", 2)
    token = world.event_signer.metadata(EVALUATE, victims)

    async def attack(reg: registry_pb2_grpc.RegistryStub, _: admin_pb2_grpc.AdminStub) -> None:
        await _refused(reg.Evaluate(world.evaluate_request("attacker", 50), metadata=token))
        # The owner's own call still goes through: the refused call used nothing up.
        await reg.Evaluate(victims, metadata=token)

    await world.with_server(attack)
    assert (await world.events())["victim-2027"] == (1000, 2)


async def test_tokens_replayed_after_a_restart_are_refused(world: World) -> None:
    evaluate = world.evaluate_request()
    evaluate_md = world.event_signer.metadata(EVALUATE, evaluate)
    snapshot = registry_pb2.GetSnapshotRequest()
    snapshot_md = world.event_signer.metadata(SNAPSHOT, snapshot)
    enroll = world.enroll_request("attacker-2027", 10**9 // 10)
    enroll_md = world.admin_signer.metadata(ENROLL, enroll)

    remove = admin_pb2.RemoveRecordRequest(record_ref="WG-1")
    remove_md = world.admin_signer.metadata("/lanyard.registry.v1.Admin/RemoveRecord", remove)

    async def honest(reg: registry_pb2_grpc.RegistryStub, adm: admin_pb2_grpc.AdminStub) -> None:
        client = world.admin()
        await client.add_record("WG-1", "banned", [Identifier(Kind.NAME, "Pat Example")])
        await adm.RemoveRecord(remove, metadata=remove_md)
        await client.add_record("WG-1", "banned", [Identifier(Kind.NAME, "Pat Example")])
        await reg.Evaluate(evaluate, metadata=evaluate_md)
        await reg.GetSnapshot(snapshot, metadata=snapshot_md)
        await adm.EnrollEvent(enroll, metadata=enroll_md)
        await adm.RevokeEvent(
            revoke := admin_pb2.RevokeEventRequest(event_id="attacker-2027"),
            metadata=world.admin_signer.metadata("/lanyard.registry.v1.Admin/RevokeEvent", revoke),
        )

    await world.with_server(honest)
    before = await world.events()
    world.clock.now += 100  # still inside the window

    async def replay(reg: registry_pb2_grpc.RegistryStub, adm: admin_pb2_grpc.AdminStub) -> None:
        await _refused(reg.Evaluate(evaluate, metadata=evaluate_md))
        await _refused(reg.GetSnapshot(snapshot, metadata=snapshot_md))
        await _refused(adm.EnrollEvent(enroll, metadata=enroll_md))
        await _refused(adm.RemoveRecord(remove, metadata=remove_md))
        records = await world.admin().list_records()
        assert [r.record_ref for r in records.records] == ["WG-1"]

    await world.with_server(replay)
    assert await world.events() == before
    assert before["victim-2027"] == (1000, 3)


async def test_a_token_for_one_method_is_refused_on_another(world: World) -> None:
    empty_eval = registry_pb2.EvaluateRequest()
    snapshot = registry_pb2.GetSnapshotRequest()
    # Same serialized bytes (empty) for both requests: only the method tells them apart.
    assert empty_eval.SerializeToString() == snapshot.SerializeToString()
    md = world.event_signer.metadata(EVALUATE, empty_eval)

    async def attack(reg: registry_pb2_grpc.RegistryStub, adm: admin_pb2_grpc.AdminStub) -> None:
        await _refused(reg.GetSnapshot(snapshot, metadata=md))
        watch = reg.WatchSnapshot(registry_pb2.WatchSnapshotRequest(), metadata=md)
        await _refused(watch.read())
        await _refused(adm.ListEvents(admin_pb2.ListEventsRequest(), metadata=md))

    await world.with_server(attack)


def _with_time(token: str, text: str) -> str:
    fields = token.split(".")
    fields[-3] = text
    return ".".join(fields)


async def test_times_in_any_other_textual_form_are_refused(world: World) -> None:
    request = registry_pb2.GetSnapshotRequest()
    token = world.event_signer.token(SNAPSHOT, request)
    ts = token.split(".")[-3]
    forms = [
        f"+{ts}",
        f"0{ts}",
        f"00{ts}",
        f" {ts}",
        f"{ts} ",
        f"{ts}.0",
        f"{int(ts):_}",
        hex(int(ts)),
        f"{float(ts):e}",
        f"-{ts}",
    ]

    async def attack(reg: registry_pb2_grpc.RegistryStub, _: admin_pb2_grpc.AdminStub) -> None:
        for form in forms:
            md = ((auth.METADATA_KEY, _with_time(token, form)),)
            await _refused(reg.GetSnapshot(request, metadata=md))
        await reg.GetSnapshot(request, metadata=((auth.METADATA_KEY, token),))

    await world.with_server(attack)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-120, True), (120, True), (120.999, True), (-121, False), (121, False), (121.5, False)],
)
async def test_the_window_is_exactly_120_seconds(
    world: World, offset: float, accepted: bool
) -> None:
    """`offset`: the server's clock minus the token's time."""
    request = world.evaluate_request(n=1)
    md = world.event_signer.metadata(EVALUATE, request)
    world.clock.now += offset

    async def call(reg: registry_pb2_grpc.RegistryStub, _: admin_pb2_grpc.AdminStub) -> None:
        if accepted:
            await reg.Evaluate(request, metadata=md)
        else:
            await _refused(reg.Evaluate(request, metadata=md))

    await world.with_server(call)
    world.clock.now = world.clock.t0
    assert (await world.events())["victim-2027"] == (1000, 1 if accepted else 0)


async def test_a_used_token_is_refused_even_at_the_edge_of_its_window(world: World) -> None:
    request = world.evaluate_request(n=1)
    md = world.event_signer.metadata(EVALUATE, request)

    async def twice(reg: registry_pb2_grpc.RegistryStub, _: admin_pb2_grpc.AdminStub) -> None:
        await reg.Evaluate(request, metadata=md)
        world.clock.now = world.clock.t0 + 120
        await _refused(reg.Evaluate(request, metadata=md))
        world.clock.now = world.clock.t0 + 121
        await _refused(reg.Evaluate(request, metadata=md))

    await world.with_server(twice)
    world.clock.now = world.clock.t0
    assert (await world.events())["victim-2027"] == (1000, 1)
