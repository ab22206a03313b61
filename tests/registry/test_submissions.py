"""The registry's side of end-of-event reports, at its gRPC boundary on loopback.

SubmitReport binds a submission to the enrolled event that sent it; AdvanceSubmission
takes only steps signed by the member who calls, over exactly what is stored. Every
refusal here leaves the log, the submissions and the steps as they were, and logs no
submission.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import grpc
import nacl.public
import nacl.signing
import pytest
from structlog.testing import capture_logs

from lanyard.client.admin import AdminClient
from lanyard.client.errors import RpcFailed
from lanyard.core import envelope
from lanyard.registry.server import RunningRegistry
from tests.conftest import Enrolled, enroll

REPORT = {"event": {"event_id": "testconf-2027"}, "incidents": []}


@dataclass
class Reader:
    name: str
    encryption: nacl.public.PrivateKey
    signing: nacl.signing.SigningKey


@pytest.fixture
async def reader(admin: AdminClient) -> Reader:
    r = Reader("wg-alex", nacl.public.PrivateKey.generate(), nacl.signing.SigningKey.generate())
    await admin.add_recipient(r.name, bytes(r.encryption.public_key), bytes(r.signing.verify_key))
    return r


async def _seal(event: Enrolled, event_id: str | None = None) -> envelope.Sealed:
    return envelope.seal_report(
        REPORT,
        event_id or event.event_id,
        event.key,
        await event.client.recipients(),
        "2027-05-04T00:00:00+00:00",
    )


@dataclass(frozen=True)
class Refusal:
    """A refused call, whether made on a raw stub or through a Lanyard client."""

    status: grpc.StatusCode
    text: str

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text


async def _refused(coro: object) -> Refusal:
    with pytest.raises((grpc.aio.AioRpcError, RpcFailed)) as info:
        await coro  # type: ignore[misc]
    err = info.value
    if isinstance(err, RpcFailed):
        return Refusal(err.code, err.details)
    return Refusal(err.code(), err.details() or "")


def _logged_submissions(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if str(e.get("event", "")).startswith("registry.submission_")]


async def test_an_envelope_naming_another_enrolled_event_is_refused(
    registry: RunningRegistry,
    admin: AdminClient,
    channel: grpc.aio.Channel,
    event: Enrolled,
    reader: Reader,
) -> None:
    other = await enroll(admin, channel, "otherconf-2027")
    # Signed by the caller's own key, so only the event id inside gives it away.
    sealed = await _seal(event, event_id=other.event_id)
    with capture_logs() as logs:
        err = await _refused(event.client.submit_report(sealed.envelope, sealed.signature))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "otherconf-2027" in (err.details() or "")
    assert event.event_id in (err.details() or "")
    assert _logged_submissions(logs) == []
    assert await admin.list_submissions() == []
    assert registry.submissions.tree_head().tree_size == 0
    # ...and it cannot be slipped in as the other event's submission either.
    err = await _refused(other.client.submit_report(sealed.envelope, sealed.signature))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "envelope signature" in (err.details() or "")
    assert await admin.list_submissions() == []

    # The same event's own report still goes in, under its own id.
    mine = await _seal(event)
    receipt = await event.client.submit_report(mine.envelope, mine.signature)
    assert (receipt.event_id, receipt.log_index) == (event.event_id, 0)


async def test_a_submission_id_taken_by_another_event_is_refused(
    admin: AdminClient, channel: grpc.aio.Channel, event: Enrolled, reader: Reader
) -> None:
    other = await enroll(admin, channel, "otherconf-2027")
    first = await _seal(event)
    await event.client.submit_report(first.envelope, first.signature)
    theirs = envelope.seal_report(
        {"incidents": []},
        other.event_id,
        other.key,
        await other.client.recipients(),
        "2027-05-04T00:00:00+00:00",
        submission_id=first.submission_id,
    )
    err = await _refused(other.client.submit_report(theirs.envelope, theirs.signature))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    (only,) = await admin.list_submissions()
    assert only.receipt.event_id == event.event_id


# -- WG steps -------------------------------------------------------------------------------


@pytest.fixture
async def submitted(event: Enrolled, reader: Reader) -> str:
    sealed = await _seal(event)
    await event.client.submit_report(sealed.envelope, sealed.signature)
    return sealed.submission_id


def _as(reader: Reader, channel: grpc.aio.Channel) -> AdminClient:
    return AdminClient(channel, reader.signing, admin_name=reader.name)


async def _steps(admin: AdminClient, submission_id: str) -> list[str]:
    return [s.step for s in (await admin.get_submission(submission_id)).steps]


async def test_a_step_message_of_exactly_the_limit_is_taken_and_one_more_is_not(
    admin: AdminClient, channel: grpc.aio.Channel, reader: Reader, submitted: str
) -> None:
    alex = _as(reader, channel)
    err = await _refused(
        alex.advance_submission(submitted, "acknowledged", reader.name, reader.signing, "x" * 2001)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 2000 characters" in (err.details() or "")
    assert await _steps(admin, submitted) == []
    await alex.advance_submission(
        submitted, "acknowledged", reader.name, reader.signing, "é" * 2000
    )
    assert await _steps(admin, submitted) == ["acknowledged"]


async def test_a_step_whose_signature_does_not_cover_it_is_refused(
    admin: AdminClient, channel: grpc.aio.Channel, reader: Reader, submitted: str
) -> None:
    alex = _as(reader, channel)
    impostor = nacl.signing.SigningKey.generate()
    err = await _refused(
        alex.advance_submission(submitted, "acknowledged", reader.name, impostor, "ok")
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "acknowledged step signature" in (err.details() or "")
    assert await _steps(admin, submitted) == []


async def test_only_members_sign_steps_and_only_as_themselves(
    admin: AdminClient, channel: grpc.aio.Channel, reader: Reader, submitted: str
) -> None:
    bo = Reader("wg-bo", nacl.public.PrivateKey.generate(), nacl.signing.SigningKey.generate())
    await admin.add_recipient(
        bo.name, bytes(bo.encryption.public_key), bytes(bo.signing.verify_key)
    )
    err = await _refused(
        _as(bo, channel).advance_submission(submitted, "acknowledged", reader.name, bo.signing)
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only sign steps as themselves" in (err.details() or "")
    # The operator is an admin, not a report reader: it cannot acknowledge for the WG.
    op_key = nacl.signing.SigningKey.generate()
    err = await _refused(admin.advance_submission(submitted, "acknowledged", "operator", op_key))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not one of the WG's report recipients" in (err.details() or "")
    assert await _steps(admin, submitted) == []


async def test_an_event_sees_only_its_own_submissions(
    admin: AdminClient, channel: grpc.aio.Channel, event: Enrolled, submitted: str
) -> None:
    other = await enroll(admin, channel, "otherconf-2027")
    assert (await event.client.submission_status(submitted)).status == "received"
    err = await _refused(other.client.submission_status(submitted))
    assert err.code() == grpc.StatusCode.NOT_FOUND


# -- recipient names: the limits of what a reader may be called ------------------------------


async def test_a_recipient_name_of_64_characters_is_taken_and_65_is_not(
    admin: AdminClient,
) -> None:
    enc = bytes(nacl.public.PrivateKey.generate().public_key)
    sig = bytes(nacl.signing.SigningKey.generate().verify_key)
    err = await _refused(admin.add_recipient("w" * 65, enc, sig))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 to 64" in (err.details() or "")
    names = [r.name for r in (await admin.add_recipient("w" * 64, enc, sig)).recipients]
    assert names == ["w" * 64]
    for bad_key, field in ((enc[:31], "encryption_key"), (sig[:31], "signing_key")):
        args = (bad_key, sig) if field == "encryption_key" else (enc, bad_key)
        err = await _refused(admin.add_recipient("wg-x", *args))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"recipient.{field} must be 32 bytes" in (err.details() or "")
