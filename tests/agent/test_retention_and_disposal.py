"""The event's retention as a policy, and the chairs' decision on incidents it keeps:
over the agent's real gRPC service, with real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import grpc
import nacl.signing
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.errors import NotAllowed
from lanyard.agent.incidents import crypto
from lanyard.agent.retention import Policy
from lanyard.client.admin import AdminClient
from lanyard.core.channels import open_channel
from lanyard.registry.server import RunningRegistry
from lanyard.wire.agent.v1 import incidents_pb2 as pb
from tests.agent.test_incidents import PASSPHRASE, Team, file, get, make_team

END = date(2027, 5, 3)  # the test event's last day
UNLOCK = crypto.Unlock(passphrase=PASSPHRASE)


@pytest.fixture
async def chairs(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> AsyncIterator[Team]:
    """Two chairs (chair, cleo), two responders (ana, ben)."""
    adir = await make_team(tmp_path, admin, registry)
    async with agent_server.running(adir, "127.0.0.1:0", unlock=UNLOCK) as running:
        channel = open_channel(running.address)
        names = {
            "chair": pb.MEMBER_ROLE_CHAIR,
            "cleo": pb.MEMBER_ROLE_CHAIR,
            "ana": pb.MEMBER_ROLE_RESPONDER,
            "ben": pb.MEMBER_ROLE_RESPONDER,
        }
        t = Team(adir, running, channel, {n: nacl.signing.SigningKey.generate() for n in names})
        for name, role in names.items():
            member = pb.Member(name=name, role=role, public_key=bytes(t.keys[name].verify_key))
            await t.call("operator", "AddMember", pb.AddMemberRequest(member=member))
        yield t
        await channel.close()


async def _decided(team: Team, resolution: str, close: bool, tag: str) -> int:
    iid = await file(team, "ana", tag)
    for who in ("ana", "ben"):
        decision = pb.IncidentDecision(resolutions=[resolution])
        await team.call(who, "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    if close:
        version = (await get(team, "ana", iid)).version
        await team.call(
            "ana",
            "UpdateIncident",
            pb.UpdateIncidentRequest(incident_id=iid, expected_version=version, status="closed"),
        )
    return iid


async def _dispose(team: Team, who: str, iid: int, action: str) -> pb.DisposeIncidentResponse:
    response = await team.call(
        who, "DisposeIncident", pb.DisposeIncidentRequest(incident_id=iid, action=action)
    )
    assert isinstance(response, pb.DisposeIncidentResponse)
    return response


def _audit(team: Team, iid: int) -> list[tuple[str, str]]:
    with sqlite3.connect(team.adir.db_path) as db:
        rows = db.execute(
            "SELECT member, action FROM audit WHERE incident_id = ? ORDER BY audit_id", (iid,)
        ).fetchall()
    return [(str(m), str(a)) for m, a in rows]


async def test_two_distinct_chairs_destroy_an_incident_key_first(chairs: Team) -> None:
    iid = await _decided(chairs, "ban-future-events", close=False, tag="d")
    err = await chairs.refused(
        "chair", "DisposeIncident", pb.DisposeIncidentRequest(incident_id=iid, action="destroy")
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "close it first" in (err.details() or "")
    iid = await _decided(chairs, "ban-future-events", close=True, tag="e")
    err = await chairs.refused(
        "ana", "DisposeIncident", pb.DisposeIncidentRequest(incident_id=iid, action="destroy")
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    first = await _dispose(chairs, "chair", iid, "destroy")
    assert (list(first.approvals), first.done) == (["chair"], False)
    again = await _dispose(chairs, "chair", iid, "destroy")  # the same chair twice
    assert (list(again.approvals), again.done) == (["chair"], False)
    assert (await get(chairs, "ana", iid)).incident_id == iid
    second = await _dispose(chairs, "cleo", iid, "destroy")
    assert (list(second.approvals), second.done) == (["chair", "cleo"], True)
    err = await chairs.refused("chair", "GetIncident", pb.GetIncidentRequest(incident_id=iid))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    with sqlite3.connect(chairs.adir.keyring_path) as keyring:
        assert keyring.execute(
            "SELECT count(*) FROM incident_keys WHERE incident_id = ?", (iid,)
        ).fetchone() == (0,)
    trail = _audit(chairs, iid)
    assert [a for _, a in trail if a.startswith("approve") or a == "destroyed"] == [
        "approve:destroy",
        "approve:destroy",
        "approve:destroy",
        "destroyed",
    ]
    assert trail[-1] == ("cleo", "destroyed")


async def test_export_needs_two_chairs_and_keeps_the_record(chairs: Team) -> None:
    iid = await _decided(chairs, "leave-event", close=True, tag="x")
    first = await _dispose(chairs, "cleo", iid, "export")
    assert not first.done
    assert not first.HasField("incident")
    done = await _dispose(chairs, "chair", iid, "export")
    assert done.done
    assert done.incident.report.description.startswith("Description canary")
    assert (await get(chairs, "ana", iid)).incident_id == iid  # kept until destroyed
    assert ("chair", "exported") in _audit(chairs, iid)
    # Each export needs two chairs anew.
    assert list((await _dispose(chairs, "chair", iid, "export")).approvals) == ["chair"]


async def test_a_warning_only_incident_follows_the_schedule_not_the_chairs(chairs: Team) -> None:
    iid = await _decided(chairs, "warning", close=True, tag="w")
    err = await chairs.refused(
        "chair", "DisposeIncident", pb.DisposeIncidentRequest(incident_id=iid, action="destroy")
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "retention schedule" in (err.details() or "")


async def test_the_retention_preview_is_what_apply_removes(chairs: Team) -> None:
    adir = chairs.adir
    assert await agent_operator.retention_policy(adir) == Policy(30, 730)
    policy = await agent_operator.set_retention_policy(adir, None, 400)
    assert (policy.attendee_days, policy.warning_incident_days) == (30, 400)
    warned = await _decided(chairs, "warning", close=False, tag="w")
    kept = await _decided(chairs, "ban-future-events", close=True, tag="b")
    still_open = await file(chairs, "ana", "o")

    soon = await agent_operator.retention_sweep(adir, END + timedelta(days=399), UNLOCK, False)
    assert soon.warning_incidents == []
    day = END + timedelta(days=400)
    preview = await agent_operator.retention_sweep(adir, day, UNLOCK, apply=False)
    assert [i for i, _ in preview.warning_incidents] == [warned]
    assert sorted(i for i, _ in preview.waiting) == [kept, still_open]
    assert preview.attendee_cutoff == END + timedelta(days=30)
    assert (await get(chairs, "ana", warned)).incident_id == warned  # a preview removes nothing

    applied = await agent_operator.retention_sweep(adir, day, UNLOCK, apply=True)
    assert applied == preview
    err = await chairs.refused("chair", "GetIncident", pb.GetIncidentRequest(incident_id=warned))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    for iid in (kept, still_open):
        assert (await get(chairs, "ana", iid)).incident_id == iid
    assert ("operator", "expired") in _audit(chairs, warned)

    locked = await agent_operator.retention_sweep(adir, day, None, apply=False)
    assert not locked.incidents_checked


async def test_agent_toml_attendee_days_override_the_stored_policy(chairs: Team) -> None:
    adir = chairs.adir
    with adir.config_path.open("a", encoding="utf-8") as fh:
        fh.write("attendee_retention_days = 45\n")
    policy = await agent_operator.retention_policy(adir)
    assert (policy.attendee_days, policy.attendee_days_from_config) == (45, True)
    with pytest.raises(NotAllowed, match=r"agent\.toml sets attendee_retention_days"):
        await agent_operator.set_retention_policy(adir, 10, None)
