"""The agent's edges: Check and Incidents tokens cannot be replayed (not even after a
restart) or moved to another body, and every authentication failure reads the same."""

from __future__ import annotations

from pathlib import Path

import grpc
import nacl.signing
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.incidents import crypto
from lanyard.client.admin import AdminClient
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.registry.server import RunningRegistry
from lanyard.wire.agent.v1 import incidents_pb2 as ipb
from lanyard.wire.agent.v1 import incidents_pb2_grpc, screening_pb2, screening_pb2_grpc
from tests.agent.conftest import AgentSetup, enrolled_agent_dir

CHECK = "/lanyard.agent.v1.Screening/Check"
LIST_MEMBERS = "/lanyard.agent.v1.Incidents/ListMembers"
ADD_MEMBER = "/lanyard.agent.v1.Incidents/AddMember"
PASSPHRASE = "correct horse battery staple"


async def _details(call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return info.value.details() or ""


async def test_check_tokens_cannot_be_replayed_or_moved(setup: AgentSetup) -> None:
    adir = setup.adir
    request = screening_pb2.CheckRequest(name="Jordan Blake", caller_ref="SALE-1")
    async with agent_server.running(adir, "127.0.0.1:0") as running:
        key = await running.agent.add_integration("pretix")
        signer = auth.CallSigner("integration:pretix", key)
        md = signer.metadata(CHECK, request)
        channel = open_channel(running.address)
        try:
            stub = screening_pb2_grpc.ScreeningStub(channel)
            other = screening_pb2.CheckRequest(name="Someone Else", caller_ref="SALE-2")
            assert await _details(stub.Check(other, metadata=md)) == auth.REFUSED
            answer = await stub.Check(request, metadata=md)
            assert answer.decision == screening_pb2.DECISION_REVIEW
            assert await _details(stub.Check(request, metadata=md)) == auth.REFUSED
        finally:
            await channel.close()
        screened = await running.agent.store.attendee_count()
    async with agent_server.running(adir, "127.0.0.1:0") as running:
        channel = open_channel(running.address)
        try:
            stub = screening_pb2_grpc.ScreeningStub(channel)
            assert await _details(stub.Check(request, metadata=md)) == auth.REFUSED
            assert await _details(stub.Check(other, metadata=md)) == auth.REFUSED
        finally:
            await channel.close()
        assert await running.agent.store.attendee_count() == screened


async def test_every_authentication_failure_reads_the_same(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    async with agent_server.running(
        adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=PASSPHRASE)
    ) as running:
        agent = running.agent
        live = await agent.add_integration("live")
        gone = await agent.add_integration("gone")
        await agent.revoke_integration("gone")
        stranger = nacl.signing.SigningKey.generate()
        event_key = adir.event_key()
        chair = nacl.signing.SigningKey.generate()
        channel = open_channel(running.address)
        try:
            check = screening_pb2_grpc.ScreeningStub(channel)
            incidents = incidents_pb2_grpc.IncidentsStub(channel)
            add = ipb.AddMemberRequest(
                member=ipb.Member(
                    name="chair", role=ipb.MEMBER_ROLE_CHAIR, public_key=bytes(chair.verify_key)
                )
            )
            operator = auth.CallSigner("event:agentconf-2027", event_key)
            await incidents.AddMember(add, metadata=operator.metadata(ADD_MEMBER, add))

            request = screening_pb2.CheckRequest(name="Ann Example")
            check_md = [
                auth.CallSigner("integration:nobody", stranger).metadata(CHECK, request),
                auth.CallSigner("integration:gone", gone).metadata(CHECK, request),
                auth.CallSigner("integration:live", stranger).metadata(CHECK, request),
                auth.CallSigner("event:agentconf-2027", event_key).metadata(CHECK, request),
                auth.CallSigner("member:chair", chair).metadata(CHECK, request),
                ((auth.METADATA_KEY, "v2.integration:live.1.x.y"),),
                (),
            ]
            seen = {await _details(check.Check(request, metadata=md)) for md in check_md}
            assert seen == {auth.REFUSED}

            listing = ipb.ListMembersRequest()
            incident_md = [
                auth.CallSigner("member:nobody", stranger).metadata(LIST_MEMBERS, listing),
                auth.CallSigner("member:chair", stranger).metadata(LIST_MEMBERS, listing),
                auth.CallSigner("integration:live", live).metadata(LIST_MEMBERS, listing),
                auth.CallSigner("event:other-2027", event_key).metadata(LIST_MEMBERS, listing),
            ]
            seen = {
                await _details(incidents.ListMembers(listing, metadata=md)) for md in incident_md
            }
            assert seen == {auth.REFUSED}
            ok = await incidents.ListMembers(
                listing,
                metadata=auth.CallSigner("member:chair", chair).metadata(LIST_MEMBERS, listing),
            )
            assert [m.name for m in ok.members] == ["chair"]
        finally:
            await channel.close()
