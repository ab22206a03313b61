"""End-of-event reports, end to end on loopback: build, seal, submit, receipt, proof,
open by a WG reader, signed steps; and every refusal the issue names."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nacl.public
import nacl.signing
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Decision, Report, ReportedPerson
from lanyard.agent.incidents.service import Caller, IncidentService
from lanyard.agent.reports import ReceiptError, ReportSender, build_report, preview, verify_in_log
from lanyard.agent.service import AgentService
from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.core import envelope, keys
from lanyard.core.channels import open_channel
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import reports_pb2
from tests.agent.conftest import enrolled_agent_dir

PASSPHRASE = "a long enough passphrase"


@dataclass
class Reader:
    name: str
    encryption: nacl.public.PrivateKey
    signing: nacl.signing.SigningKey


@dataclass
class World:
    adir: AgentDir
    agent: AgentService
    sender: ReportSender
    records: IncidentService
    admin: AdminClient
    registry: RunningRegistry
    registry_dir: RegistryDir
    readers: list[Reader]

    def reader_client(self, reader: Reader, channel: grpc.aio.Channel) -> AdminClient:
        return AdminClient(channel, reader.signing, admin_name=reader.name)


async def _incidents(records: IncidentService) -> None:
    ana, ben = Caller("ana", "responder"), Caller("ben", "responder")
    incident = await records.file(
        ana,
        Report(
            reporter_name="Rae Porter",
            reporter_contact="rae@example.org",
            reported=[ReportedPerson("Rex Reported", "attendee")],
            description="Kept following the reporter between rooms",
            category="unwanted attention",
        ),
    )
    decision = Decision(
        violation="yes",
        bad_actors=["Rex Reported"],
        resolutions=["leave-event", "ban-future-events"],
        reasoning="second report this year",
    )
    await records.decide(ana, incident.incident_id, decision)
    await records.decide(ben, incident.incident_id, decision)


@pytest.fixture
async def world(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry, registry_dir: RegistryDir
) -> AsyncIterator[World]:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    readers = [
        Reader(n, nacl.public.PrivateKey.generate(), nacl.signing.SigningKey.generate())
        for n in ("wg-alex", "wg-bo")
    ]
    for r in readers:
        await admin.add_recipient(
            r.name, bytes(r.encryption.public_key), bytes(r.signing.verify_key)
        )
    async with (
        agent_operator.opened(adir) as agent,
        agent_operator.report_sender(adir, agent) as sender,
        agent_operator.incident_records(adir, crypto.Unlock(passphrase=PASSPHRASE)) as records,
    ):
        await _incidents(records)
        yield World(adir, agent, sender, records, admin, registry, registry_dir, readers)


async def _report(world: World) -> dict[str, object]:
    return build_report(world.agent.enrolment, await world.records.export_all("report"))


async def test_submit_receipt_proof_open_and_acknowledge(world: World) -> None:
    report = await _report(world)
    text = preview(report)
    for expected in ("Rae Porter", "Rex Reported", "asked to leave the event"):
        assert expected in text
    entry = await world.sender.seal(report)
    delivery = await world.sender.deliver(entry)
    assert delivery.receipt is not None
    receipt = delivery.receipt
    assert (receipt.log_index, receipt.tree_size) == (0, 1)

    verified = await verify_in_log(
        world.agent.registry, world.agent.enrolment.registry_public_key, receipt
    )
    assert verified.status == "received"

    # A WG reader opens it with their own key and checks the event's inner signature.
    event_key = bytes(world.adir.event_key().verify_key)
    stored = await world.admin.get_submission(receipt.submission_id)
    opened = envelope.open_report(stored.envelope, "wg-bo", world.readers[1].encryption, event_key)
    assert opened["incidents"][0]["report"]["reporter"]["name"] == "Rae Porter"
    assert opened["event"]["event_id"] == "agentconf-2027"

    channel = open_channel(world.registry.address)
    try:
        alex = world.reader_client(world.readers[0], channel)
        for step in ("acknowledged", "reviewed"):
            await alex.advance_submission(
                receipt.submission_id,
                step,
                "wg-alex",
                world.readers[0].signing,
                message=f"{step} by alex",
            )
        with pytest.raises(RpcFailed) as info:
            await alex.advance_submission(
                receipt.submission_id, "acknowledged", "wg-alex", world.readers[0].signing
            )
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "next step is recorded" in info.value.details
    finally:
        await channel.close()
    verified = await verify_in_log(
        world.agent.registry, world.agent.enrolment.registry_public_key, receipt
    )
    assert verified.status == "reviewed"
    assert [s.step for s in verified.steps] == ["acknowledged", "reviewed"]


async def test_concurrent_identical_steps_record_one(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    receipt = (await world.sender.deliver(entry)).receipt
    assert receipt is not None
    channel = open_channel(world.registry.address)
    try:
        alex = world.reader_client(world.readers[0], channel)
        results = await asyncio.gather(
            *(
                alex.advance_submission(
                    receipt.submission_id, "acknowledged", "wg-alex", world.readers[0].signing
                )
                for _ in range(8)
            ),
            return_exceptions=True,
        )
    finally:
        await channel.close()
    refused = [r for r in results if isinstance(r, RpcFailed)]
    assert len(results) - len(refused) == 1, results
    assert {r.code for r in refused} == {grpc.StatusCode.INVALID_ARGUMENT}
    verified = await verify_in_log(
        world.agent.registry, world.agent.enrolment.registry_public_key, receipt
    )
    assert [s.step for s in verified.steps] == ["acknowledged"]


async def test_resubmission_is_idempotent(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    first = await world.sender.deliver(entry)
    # The registry answered but the agent "crashed" before storing: it sends again.
    again = await world.agent.registry.submit_report(entry.envelope, entry.signature)
    assert first.receipt == again
    assert len(await world.admin.list_submissions()) == 1
    assert world.registry.submissions.tree_head().tree_size == 1


async def test_registry_restart_between_store_and_answer_gives_the_same_receipt(
    world: World,
) -> None:
    entry = await world.sender.seal(await _report(world))
    event = await world.registry.store.get_event("agentconf-2027")
    assert event is not None
    stored = await world.registry.submissions.submit(
        event, entry.envelope, entry.signature
    )  # stored; answer "lost"
    await world.registry.server.stop(0)
    from lanyard.registry import server as registry_server

    async with registry_server.running(world.registry_dir, listen=world.registry.address):
        delivery = await world.sender.deliver(entry)
    assert delivery.receipt == stored
    assert (await world.sender.outbox.get(entry.submission_id)) is not None


async def test_outage_keeps_the_report_in_the_outbox(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    await world.registry.server.stop(0)
    delivery = await world.sender.deliver(entry, attempts=2, first_pause=0.01)
    assert delivery.receipt is None
    assert "UNAVAILABLE" in delivery.error
    pending = await world.sender.outbox.pending()
    assert [p.submission_id for p in pending] == [entry.submission_id]
    assert pending[0].attempts == 2


async def test_tampered_envelope_is_refused_and_nothing_stored(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    tampered = bytearray(entry.envelope)
    tampered[-5] ^= 1
    with pytest.raises(RpcFailed) as info:
        await world.agent.registry.submit_report(bytes(tampered), entry.signature)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "envelope signature" in info.value.details
    wrong_key = keys.sign(nacl.signing.SigningKey.generate(), entry.envelope)
    with pytest.raises(RpcFailed) as info:
        await world.agent.registry.submit_report(entry.envelope, wrong_key)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await world.admin.list_submissions() == []


async def test_oversized_envelope_is_refused(world: World) -> None:
    huge = b"\x00" * (envelope.MAX_ENVELOPE_BYTES + 1)
    with pytest.raises(RpcFailed) as info:
        await world.agent.registry.submit_report(huge, b"s" * 64)
    assert info.value.code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert await world.admin.list_submissions() == []


async def test_revoked_event_cannot_submit(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    await world.admin.revoke_event("agentconf-2027")
    delivery = await world.sender.deliver(entry, attempts=1)
    assert delivery.receipt is None
    assert "UNAUTHENTICATED" in delivery.error
    assert await world.admin.list_submissions() == []


async def test_recipient_set_with_a_bad_signature_is_refused(world: World) -> None:
    world.agent.registry.pin(bytes(nacl.signing.SigningKey.generate().verify_key))
    with pytest.raises(ReceiptError, match="does not verify"):
        await world.sender.seal(await _report(world))
    assert await world.sender.outbox.entries() == []


async def test_reader_without_a_key_in_the_envelope(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    stranger = nacl.public.PrivateKey.generate()
    with pytest.raises(envelope.EnvelopeError, match="not sealed to"):
        envelope.open_report(
            entry.envelope, "wg-carol", stranger, bytes(world.adir.event_key().verify_key)
        )


async def test_a_log_without_the_receipts_entry_fails_the_proof(world: World) -> None:
    entry = await world.sender.seal(await _report(world))
    delivery = await world.sender.deliver(entry)
    assert delivery.receipt is not None
    # A registry that signed a receipt, then rewrote what its log holds for it: the
    # receipt still verifies, but the log's entry is not the one it promised.
    forged = reports_pb2.Receipt()
    forged.CopyFrom(delivery.receipt)
    forged.received_at = "2001-01-01T00:00:00+00:00"
    forged.signature = keys.sign(world.registry_dir.signing_key(), envelope.receipt_message(forged))
    with pytest.raises(ReceiptError, match=r"not this submission"):
        await verify_in_log(world.agent.registry, world.agent.enrolment.registry_public_key, forged)


async def test_the_registry_stores_only_ciphertext(world: World) -> None:
    await world.sender.deliver(await world.sender.seal(await _report(world)))
    raw = b"".join(p.read_bytes() for p in world.registry_dir.path.iterdir() if p.is_file())
    for needle in (
        "Rae Porter",
        "rae@example.org",
        "Rex Reported",
        "following the reporter",
        "second report this year",
    ):
        assert needle.encode() not in raw
        assert needle.encode("utf-16-le") not in raw


async def test_the_outbox_knows_which_incident_versions_a_report_held(world: World) -> None:
    first = await world.sender.seal(await _report(world))
    assert first.covers == "1:3"  # incident 1 after its two decisions
    await world.records.add_note(Caller("ana", "responder"), 1, "a later conversation", [])
    second = await world.sender.seal(await _report(world))
    assert second.covers == "1:4"


# -- the WG's steps, as the event checks them (`lanyard report status`) --------------------


def _rewrite_step(world: World, submission_id: str, **values: object) -> None:
    """What a registry that rewrote a stored step would serve from then on."""
    sets = ", ".join(f"{k} = ?" for k in values)
    with sqlite3.connect(world.registry_dir.db_path) as db:
        changed = db.execute(
            f"UPDATE submission_steps SET {sets} WHERE submission_id = ? AND step = ?",  # noqa: S608 - column names are the test's own
            (*values.values(), submission_id, "acknowledged"),
        ).rowcount
    assert changed == 1


async def _acknowledged(world: World) -> reports_pb2.Receipt:
    delivery = await world.sender.deliver(await world.sender.seal(await _report(world)))
    assert delivery.receipt is not None
    channel = open_channel(world.registry.address)
    try:
        alex = world.reader_client(world.readers[0], channel)
        await alex.advance_submission(
            delivery.receipt.submission_id,
            "acknowledged",
            "wg-alex",
            world.readers[0].signing,
            message="received, reading it",
        )
    finally:
        await channel.close()
    verified = await verify_in_log(
        world.agent.registry, world.agent.enrolment.registry_public_key, delivery.receipt
    )
    assert [(s.step, s.message) for s in verified.steps] == [
        ("acknowledged", "received, reading it")
    ]
    return delivery.receipt


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"message": "received, and dismissed"}, "acknowledged step signature"),
        ({"message": ""}, "acknowledged step signature"),
        ({"at": "2001-01-01T00:00:00+00:00"}, "acknowledged step signature"),
        ({"signature": b"\x00" * 64}, "acknowledged step signature"),
        ({"signature": b"\x00" * 63}, "signature"),
        ({"member": "wg-bo"}, "acknowledged step signature"),
        ({"member": "wg-nobody"}, "signed by wg-nobody, who is not one of the WG's report"),
    ],
    ids=[
        "message",
        "message-emptied",
        "time",
        "signature",
        "short-signature",
        "member",
        "stranger",
    ],
)
async def test_a_changed_step_fails_the_events_check(
    world: World, values: dict[str, object], expected: str
) -> None:
    receipt = await _acknowledged(world)
    _rewrite_step(world, receipt.submission_id, **values)
    with pytest.raises(ReceiptError, match=expected):
        await verify_in_log(
            world.agent.registry, world.agent.enrolment.registry_public_key, receipt
        )


async def test_a_step_by_a_member_no_longer_a_reader_fails_the_events_check(world: World) -> None:
    receipt = await _acknowledged(world)
    await world.admin.remove_recipient("wg-alex")
    with pytest.raises(ReceiptError, match="signed by wg-alex, who is not one of"):
        await verify_in_log(
            world.agent.registry, world.agent.enrolment.registry_public_key, receipt
        )
