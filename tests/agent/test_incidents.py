"""Incident records over the agent's real gRPC service: roles, recusal, two-person
decisions, audit, version races, encryption at rest, retention and crash safety."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import grpc
import nacl.signing
import pytest
from google.protobuf.message import Message

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import LockedError
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.store import IncidentStore
from lanyard.client.admin import AdminClient
from lanyard.core import auth
from lanyard.core.channels import open_channel
from lanyard.registry.server import RunningRegistry
from lanyard.wire.agent.v1 import incidents_pb2 as pb
from lanyard.wire.agent.v1 import incidents_pb2_grpc
from tests.agent.conftest import enrolled_agent_dir

PASSPHRASE = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Team:
    adir: AgentDir
    running: agent_server.RunningAgent
    channel: grpc.aio.Channel
    keys: dict[str, nacl.signing.SigningKey]

    def stub(self) -> incidents_pb2_grpc.IncidentsStub:
        return incidents_pb2_grpc.IncidentsStub(self.channel)

    def md(self, who: str, method: str, request: Message) -> tuple[tuple[str, str], ...]:
        if who == "operator":
            signer = auth.CallSigner("event:agentconf-2027", self.adir.event_key())
        else:
            signer = auth.CallSigner(f"member:{who}", self.keys[who])
        return signer.metadata(f"/lanyard.agent.v1.Incidents/{method}", request)

    async def call(self, who: str, method: str, request: Message) -> object:
        rpc = getattr(self.stub(), method)
        return await rpc(request, metadata=self.md(who, method, request))

    async def refused(self, who: str, method: str, request: Message) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await self.call(who, method, request)
        return info.value


ROLES = {
    "chair": pb.MEMBER_ROLE_CHAIR,
    "ana": pb.MEMBER_ROLE_RESPONDER,
    "ben": pb.MEMBER_ROLE_RESPONDER,
    "vic": pb.MEMBER_ROLE_VOLUNTEER,
}


async def make_team(tmp_path: Path, admin: AdminClient, registry: RunningRegistry) -> AgentDir:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    return adir


@pytest.fixture
async def team(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> AsyncIterator[Team]:
    adir = await make_team(tmp_path, admin, registry)
    async with agent_server.running(
        adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=PASSPHRASE)
    ) as running:
        channel = open_channel(running.address)
        t = Team(adir, running, channel, {n: nacl.signing.SigningKey.generate() for n in ROLES})
        await t.call(
            "operator",
            "AddMember",
            pb.AddMemberRequest(
                member=pb.Member(
                    name="chair", role=ROLES["chair"], public_key=bytes(t.keys["chair"].verify_key)
                )
            ),
        )
        for name in ("ana", "ben", "vic"):
            await t.call(
                "chair",
                "AddMember",
                pb.AddMemberRequest(
                    member=pb.Member(
                        name=name, role=ROLES[name], public_key=bytes(t.keys[name].verify_key)
                    )
                ),
            )
        yield t
        await channel.close()


def canary_report(tag: str) -> pb.Report:
    return pb.Report(
        reporter_name=f"Reporter Canary{tag}",
        reporter_contact=f"reporter.{tag}@example.org",
        reported=[pb.ReportedPerson(name=f"Reported Canary{tag}", role="speaker")],
        description=f"Description canary {tag}: repeated unwanted comments after the talk",
        location=f"Room canary{tag}",
        circumstances=f"Circumstances canary{tag}",
        others_involved=f"Witness canary{tag}",
        ongoing=pb.ANSWER_NO,
        safety_threat=pb.ANSWER_NO,
        category="unwanted comments",
    )


async def file(team: Team, who: str = "vic", tag: str = "x") -> int:
    response = await team.call(
        who, "FileIncident", pb.FileIncidentRequest(report=canary_report(tag))
    )
    assert isinstance(response, pb.FileIncidentResponse)
    return int(response.incident.incident_id)


async def get(team: Team, who: str, incident_id: int) -> pb.Incident:
    response = await team.call(who, "GetIncident", pb.GetIncidentRequest(incident_id=incident_id))
    assert isinstance(response, pb.GetIncidentResponse)
    return response.incident


async def test_volunteer_files_but_cannot_read(team: Team) -> None:
    iid = await file(team)
    err = await team.refused("vic", "GetIncident", pb.GetIncidentRequest(incident_id=iid))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "volunteer" in (err.details() or "")
    err = await team.refused("vic", "ListIncidents", pb.ListIncidentsRequest())
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    incident = await get(team, "ana", iid)
    assert incident.report.description.startswith("Description canary")
    assert incident.filed_by == "vic"
    assert incident.status == "new"


async def test_only_a_description_is_required(team: Team) -> None:
    err = await team.refused("vic", "FileIncident", pb.FileIncidentRequest(report=pb.Report()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "description" in (err.details() or "")
    response = await team.call(
        "vic",
        "FileIncident",
        pb.FileIncidentRequest(
            report=pb.Report(description="Something happened near the coffee", anonymous=True)
        ),
    )
    assert isinstance(response, pb.FileIncidentResponse)


async def test_recused_member_cannot_read(team: Team) -> None:
    iid = await file(team)
    await team.call(
        "ben",
        "DeclareConflict",
        pb.DeclareConflictRequest(incident_id=iid, reason="friends with the reported person"),
    )
    assert (await get(team, "ben", iid)).conflicts[0].recused is False  # declared, not recused
    await team.call(
        "ana",
        "DeclareConflict",
        pb.DeclareConflictRequest(incident_id=iid, member="ben", reason="too close", recuse=True),
    )
    err = await team.refused("ben", "GetIncident", pb.GetIncidentRequest(incident_id=iid))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "recused" in (err.details() or "")
    listed = await team.call("ben", "ListIncidents", pb.ListIncidentsRequest())
    assert isinstance(listed, pb.ListIncidentsResponse)
    assert iid not in [s.incident_id for s in listed.incidents]
    err = await team.refused(
        "ben",
        "Decide",
        pb.DecideRequest(incident_id=iid, decision=pb.IncidentDecision(resolutions=["warning"])),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_decision_needs_two_distinct_members(team: Team) -> None:
    iid = await file(team)
    decision = pb.IncidentDecision(
        violation=pb.ANSWER_YES,
        resolutions=["warning"],
        bad_actors=["Reported Canaryx"],
        reasoning="first time",
    )
    await team.call("ana", "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    pending = await get(team, "ana", iid)
    assert list(pending.decision.approved_by) == ["ana"]
    assert pending.status != "decided"
    listed = await team.call("chair", "ListIncidents", pb.ListIncidentsRequest())
    assert isinstance(listed, pb.ListIncidentsResponse)
    assert listed.incidents[0].awaiting_second_approval
    err = await team.refused("ana", "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already approved" in (err.details() or "")
    err = await team.refused("vic", "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    await team.call("chair", "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    final = await get(team, "chair", iid)
    assert final.status == "decided"
    assert sorted(final.decision.approved_by) == ["ana", "chair"]
    assert final.decision.decided_at


async def test_urgent_action_is_marked_and_awaits_a_second(team: Team) -> None:
    iid = await file(team)
    urgent = pb.IncidentDecision(
        violation=pb.ANSWER_YES,
        resolutions=["leave-event"],
        reasoning="threatened someone",
        urgent=True,
    )
    await team.call("ana", "Decide", pb.DecideRequest(incident_id=iid, decision=urgent))
    incident = await get(team, "ben", iid)
    assert incident.decision.urgent
    assert list(incident.decision.approved_by) == ["ana"]
    assert not incident.decision.decided_at


async def test_decision_input_is_checked(team: Team) -> None:
    iid = await file(team)
    for decision, text in [
        (pb.IncidentDecision(resolutions=["exile"]), "unknown resolution"),
        (pb.IncidentDecision(resolutions=["other"]), "needs a description"),
        (pb.IncidentDecision(), "at least one resolution"),
    ]:
        err = await team.refused(
            "ana", "Decide", pb.DecideRequest(incident_id=iid, decision=decision)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in (err.details() or "")


async def test_racing_updates_lose_nothing(team: Team) -> None:
    iid = await file(team)
    v1 = (await get(team, "ana", iid)).version
    await team.call(
        "ana",
        "UpdateIncident",
        pb.UpdateIncidentRequest(incident_id=iid, expected_version=v1, status="acknowledged"),
    )
    err = await team.refused(
        "ben",
        "UpdateIncident",
        pb.UpdateIncidentRequest(incident_id=iid, expected_version=v1, status="in-review"),
    )
    assert err.code() == grpc.StatusCode.ABORTED
    assert "reload" in (err.details() or "")
    incident = await get(team, "ben", iid)
    assert (incident.status, incident.version) == ("acknowledged", v1 + 1)
    # Notes from two people at once both land.
    await asyncio.gather(
        *(
            team.call(
                who,
                "AddNote",
                pb.AddNoteRequest(incident_id=iid, text=f"note by {who}", present=["ana", "ben"]),
            )
            for who in ("ana", "ben", "chair")
        )
    )
    assert len((await get(team, "chair", iid)).notes) == 3


async def test_status_moves_in_order(team: Team) -> None:
    iid = await file(team)
    version = (await get(team, "ana", iid)).version
    err = await team.refused(
        "ana",
        "UpdateIncident",
        pb.UpdateIncidentRequest(incident_id=iid, expected_version=version, status="closed"),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await team.refused(
        "ana",
        "UpdateIncident",
        pb.UpdateIncidentRequest(incident_id=iid, expected_version=version, status="decided"),
    )
    assert "decide" in (err.details() or "")


async def test_audit_trail_records_reads_changes_and_refusals(team: Team) -> None:
    iid = await file(team)
    await get(team, "ana", iid)
    await team.call("ana", "AddNote", pb.AddNoteRequest(incident_id=iid, text="spoke to them"))
    await team.refused("vic", "GetIncident", pb.GetIncidentRequest(incident_id=iid))
    err = await team.refused("ana", "GetAudit", pb.GetAuditRequest(incident_id=iid))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    trail = await team.call("chair", "GetAudit", pb.GetAuditRequest(incident_id=iid))
    assert isinstance(trail, pb.GetAuditResponse)
    assert [(e.member, e.action) for e in trail.entries] == [
        ("vic", "file"),
        ("ana", "read"),
        ("ana", "note"),
        ("vic", "denied:read"),
    ]


async def test_removed_member_loses_access_at_once(team: Team) -> None:
    iid = await file(team)
    await get(team, "ben", iid)
    await team.call("chair", "RemoveMember", pb.RemoveMemberRequest(name="ben"))
    err = await team.refused("ben", "GetIncident", pb.GetIncidentRequest(incident_id=iid))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await team.refused(
        "ana",
        "AddMember",
        pb.AddMemberRequest(
            member=pb.Member(name="eve", role=pb.MEMBER_ROLE_CHAIR, public_key=b"k" * 32)
        ),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_strangers_are_unauthenticated(team: Team) -> None:
    team.keys["mallory"] = nacl.signing.SigningKey.generate()
    err = await team.refused("mallory", "ListIncidents", pb.ListIncidentsRequest())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def _raw_bytes(adir: AgentDir) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(adir.path.iterdir()) if p.is_file())


async def test_stolen_database_reveals_no_contents(team: Team) -> None:
    tag = uuid.uuid4().hex[:10]
    iid = await file(team, tag=tag)
    await team.call("ana", "AddNote", pb.AddNoteRequest(incident_id=iid, text=f"Note canary {tag}"))
    await team.call(
        "ana",
        "Decide",
        pb.DecideRequest(
            incident_id=iid,
            decision=pb.IncidentDecision(
                resolutions=["other"],
                other_resolution=f"Resolution canary {tag}",
                reasoning=f"Reasoning canary {tag}",
            ),
        ),
    )
    raw = _raw_bytes(team.adir)  # agent.db, its WAL, keyring.db and all
    for needle in (tag, f"Canary{tag}", "unwanted comments after the talk"):
        for encoded in (needle.encode(), needle.encode("utf-16-le")):
            assert encoded not in raw, f"{needle!r} found in the raw files"
    # ...while the team still reads it all.
    incident = await get(team, "chair", iid)
    assert incident.report.reporter_name == f"Reporter Canary{tag}"
    assert incident.notes[0].text == f"Note canary {tag}"


async def test_wrong_passphrase_refuses_and_changes_nothing(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    adir = await make_team(tmp_path, admin, registry)
    before = {p.name: p.read_bytes() for p in adir.path.iterdir() if p.is_file()}
    with pytest.raises(LockedError, match="wrong passphrase"):
        async with agent_server.running(
            adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase="not the passphrase")
        ):
            pass
    after = {p.name: p.read_bytes() for p in adir.path.iterdir() if p.is_file()}
    assert after == before


async def test_warning_only_incidents_are_destroyed_after_two_years(
    team: Team, tmp_path: Path
) -> None:
    warned = await file(team, tag="w")
    banned = await file(team, tag="b")
    for iid, resolution in ((warned, "warning"), (banned, "ban-future-events")):
        for who in ("ana", "chair"):
            await team.call(
                who,
                "Decide",
                pb.DecideRequest(
                    incident_id=iid, decision=pb.IncidentDecision(resolutions=[resolution])
                ),
            )
    backup = tmp_path / "backup.db"
    with sqlite3.connect(team.adir.db_path) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)  # what an operator's nightly backup does
    service = team.running.incidents
    assert service is not None
    end = date(2027, 5, 3)
    assert await service.apply_retention(end, end + timedelta(days=700)) == 0
    assert await service.apply_retention(end, end + timedelta(days=731)) == 1
    err = await team.refused("chair", "GetIncident", pb.GetIncidentRequest(incident_id=warned))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert (await get(team, "chair", banned)).decision.resolutions == ["ban-future-events"]
    # The old backup still has the sealed row, but its key is gone for good.
    store = await IncidentStore.open(backup, team.adir.keyring_path)
    try:
        row = await store.get(warned)
        assert row is not None
        assert await store.key(warned) is None
    finally:
        await store.close()


CRASH_SCRIPT = """
import asyncio, sys
from pathlib import Path
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Report
from lanyard.agent.incidents.service import (Caller, IncidentService)
from lanyard.agent.incidents.store import IncidentStore

async def main(path):
    adir = Path(path)
    master = crypto.unlock_master(adir / "incidents-master.json",
                                  crypto.Unlock(passphrase=sys.argv[2]))
    store = await IncidentStore.open(adir / "agent.db", adir / "keyring.db")
    service = IncidentService(store, master, "agentconf-2027", b"k" * 32)
    me = Caller("ana", "responder")
    print("ready", flush=True)
    while True:
        incident = await service.file(me, Report(description="crash test " * 50))
        for i in range(3):
            await service.add_note(me, incident.incident_id, f"note {i} " * 100, [])
        print("filed", incident.incident_id, flush=True)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.slow
async def test_a_crash_mid_write_leaves_every_incident_whole(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    adir = await make_team(tmp_path, admin, registry)
    # Migrations come from a first normal start.
    async with agent_server.running(
        adir, "127.0.0.1:0", unlock=crypto.Unlock(passphrase=PASSPHRASE)
    ):
        pass
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child to kill, not to await
        [sys.executable, "-c", CRASH_SCRIPT, str(adir.path), PASSPHRASE],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        # Kill it mid-stream: after some incidents are whole, while it writes the next.
        filed = 0
        while filed < 5:
            line = proc.stdout.readline()
            assert line, "the writer ended before it was killed"
            filed += line.startswith(b"filed ")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    master = crypto.unlock_master(adir.master_path, crypto.Unlock(passphrase=PASSPHRASE))
    store = await IncidentStore.open(adir.db_path, adir.keyring_path)
    try:
        rows = await store.rows()
        assert len(rows) >= 2, "the writer did not get far enough to test anything"
        for row in rows:
            wrapped = await store.key(row.incident_id)
            assert wrapped is not None
            content = crypto.open_sealed(
                crypto.unwrap(master, wrapped), row.incident_id, row.sealed
            )
            assert len(content["notes"]) == row.version - 1
            trail = await store.audit_trail(row.incident_id)
            assert len(trail) == row.version  # one audit entry per committed change
    finally:
        await store.close()


async def test_operator_export_is_audited(team: Team) -> None:
    iid = await file(team, tag="e")
    async with agent_operator.incident_records(
        team.adir, crypto.Unlock(passphrase=PASSPHRASE)
    ) as records:
        exported = await records.export_all("transparency")
    assert [i.incident_id for i in exported] == [iid]
    assert exported[0].report.reporter_name == "Reporter Canarye"
    trail = await team.call("chair", "GetAudit", pb.GetAuditRequest(incident_id=iid))
    assert isinstance(trail, pb.GetAuditResponse)
    assert ("operator", "export:transparency") in [(e.member, e.action) for e in trail.entries]


async def test_one_member_cannot_overturn_a_final_decision(team: Team) -> None:
    iid = await file(team)
    decision = pb.IncidentDecision(violation=pb.ANSWER_YES, resolutions=["warning"])
    for who in ("ana", "ben"):
        await team.call(who, "Decide", pb.DecideRequest(incident_id=iid, decision=decision))
    err = await team.refused(
        "ana",
        "Decide",
        pb.DecideRequest(
            incident_id=iid,
            decision=pb.IncidentDecision(violation=pb.ANSWER_NO, resolutions=["no-action"]),
        ),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot overturn" in (err.details() or "")
    final = await get(team, "chair", iid)
    assert list(final.decision.resolutions) == ["warning"]
    assert sorted(final.decision.approved_by) == ["ana", "ben"]


async def test_member_keys_must_be_real_ed25519_keys(team: Team) -> None:
    err = await team.refused(
        "chair",
        "AddMember",
        pb.AddMemberRequest(
            member=pb.Member(name="zed", role=pb.MEMBER_ROLE_RESPONDER, public_key=b"\x00" * 32)
        ),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid Ed25519 public key" in (err.details() or "")
