"""Sealed reports at the level where their checks live (services/core/envelope.py).

Opening a report checks, in order: the envelope's shape and size, a sealed key for this
reader, that the key opens the box, and the event's inner signature over the report. Each
check has a test here that fails when the check is taken out; the steps' and receipts'
signatures are checked over every field they carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nacl.public
import nacl.signing
import pytest
from nacl.secret import SecretBox

from lanyard.core import envelope, keys
from lanyard.core.errors import SignatureError
from lanyard.wire.registry.v1 import reports_pb2

EVENT_ID = "envconf-2027"
REPORT = {"event": {"event_id": EVENT_ID}, "incidents": [{"what": "a sealed fact"}]}


@dataclass
class Parties:
    event: nacl.signing.SigningKey
    reader: nacl.public.PrivateKey
    reader_signing: nacl.signing.SigningKey
    recipients: reports_pb2.RecipientSet


@pytest.fixture(scope="module")
def parties() -> Parties:
    reader = nacl.public.PrivateKey.generate()
    reader_signing = nacl.signing.SigningKey.generate()
    recipients = reports_pb2.RecipientSet(
        version=1,
        recipients=[
            reports_pb2.Recipient(
                name="wg-alex",
                encryption_key=bytes(reader.public_key),
                signing_key=bytes(reader_signing.verify_key),
            )
        ],
    )
    return Parties(nacl.signing.SigningKey.generate(), reader, reader_signing, recipients)


def _seal(p: Parties, inner_key: nacl.signing.SigningKey | None = None) -> envelope.Sealed:
    return envelope.seal_report(REPORT, EVENT_ID, inner_key or p.event, p.recipients, "2027-05-04")


def _reseal_inner(p: Parties, data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The same envelope with the signed plaintext inside changed by `change`, re-encrypted
    under the same data key: what an insider holding the data key could produce."""
    parsed = envelope.parse_envelope(data)
    data_key = nacl.public.SealedBox(p.reader).decrypt(parsed.keys[0].sealed_key)
    signed = SecretBox(data_key).decrypt(parsed.ciphertext)
    parsed.ciphertext = bytes(SecretBox(data_key).encrypt(change(signed)))
    return parsed.SerializeToString(deterministic=True)


def _open(p: Parties, data: bytes) -> dict[str, object]:
    return envelope.open_report(data, "wg-alex", p.reader, bytes(p.event.verify_key))


def test_a_sealed_report_opens_for_its_reader(parties: Parties) -> None:
    sealed = _seal(parties)
    keys.verify(bytes(parties.event.verify_key), sealed.envelope, sealed.signature, what="outer")
    assert _open(parties, sealed.envelope) == REPORT


def test_an_inner_signature_by_another_key_does_not_open(parties: Parties) -> None:
    impostor = nacl.signing.SigningKey.generate()
    sealed = _seal(parties, inner_key=impostor)
    with pytest.raises(envelope.EnvelopeError, match="event's signature on the report"):
        _open(parties, sealed.envelope)


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("a signature byte", lambda s: bytes([s[0] ^ 1]) + s[1:]),
        ("a report byte", lambda s: s[:-2] + bytes([s[-2] ^ 1]) + s[-1:]),
        ("a truncated signature", lambda s: s[: keys.SIGNATURE_BYTES - 1]),
        ("no signature at all", lambda s: s[keys.SIGNATURE_BYTES :]),
    ],
)
def test_a_changed_inner_signature_or_report_does_not_open(
    parties: Parties, where: str, change: Callable[[bytes], bytes]
) -> None:
    data = _reseal_inner(parties, _seal(parties).envelope, change)
    with pytest.raises(envelope.EnvelopeError, match="signature"):
        _open(parties, data)


def test_a_signed_body_that_is_not_json_does_not_open(parties: Parties) -> None:
    def not_json(signed: bytes) -> bytes:
        body = b"\xff not json"
        return keys.sign(parties.event, body) + body

    data = _reseal_inner(parties, _seal(parties).envelope, not_json)
    with pytest.raises(envelope.EnvelopeError, match="not JSON"):
        _open(parties, data)


def test_a_reader_whose_key_changed_is_told_so(parties: Parties) -> None:
    sealed = _seal(parties)
    with pytest.raises(envelope.EnvelopeError, match="not sealed to wg-alex"):
        envelope.open_report(
            sealed.envelope,
            "wg-alex",
            nacl.public.PrivateKey.generate(),
            bytes(parties.event.verify_key),
        )
    with pytest.raises(envelope.EnvelopeError, match="not sealed to wg-bo"):
        envelope.open_report(
            sealed.envelope, "wg-bo", parties.reader, bytes(parties.event.verify_key)
        )


def test_a_sealed_key_that_does_not_open_the_box(parties: Parties) -> None:
    parsed = envelope.parse_envelope(_seal(parties).envelope)
    other = _seal(parties)  # another data key, sealed to the same reader
    parsed.keys[0].sealed_key = envelope.parse_envelope(other.envelope).keys[0].sealed_key
    with pytest.raises(envelope.EnvelopeError, match="does not open"):
        _open(parties, parsed.SerializeToString())


# -- the envelope's shape and size ------------------------------------------------------


def _envelope(**fields: object) -> bytes:
    base: dict[str, object] = {
        "format": envelope.REPORT_FORMAT,
        "submission_id": "0" * 32,
        "event_id": EVENT_ID,
        "keys": [reports_pb2.WrappedKey(recipient="wg-alex", sealed_key=b"k")],
        "ciphertext": b"c",
    }
    base.update(fields)
    return reports_pb2.ReportEnvelope(**base).SerializeToString()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "lanyard-report/2"}, "format must be"),
        ({"submission_id": "0" * 31}, "32 lowercase hex"),
        ({"submission_id": "0" * 33}, "32 lowercase hex"),
        ({"submission_id": "A" * 32}, "32 lowercase hex"),
        ({"submission_id": "g" * 32}, "32 lowercase hex"),
        ({"keys": []}, "no sealed keys"),
        ({"ciphertext": b""}, "no ciphertext"),
    ],
)
def test_malformed_envelopes_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(envelope.EnvelopeError, match=message):
        envelope.parse_envelope(_envelope(**fields))


def test_a_well_formed_envelope_parses() -> None:
    assert envelope.parse_envelope(_envelope()).event_id == EVENT_ID
    assert envelope.parse_envelope(_envelope(submission_id="0123456789abcdef" * 2))


def test_not_protobuf_is_refused() -> None:
    with pytest.raises(envelope.EnvelopeError, match="not a ReportEnvelope"):
        envelope.parse_envelope(b"\xff\xff\xff")


def _padded_to(size: int) -> bytes:
    """A well-formed envelope whose serialised length is exactly `size` bytes."""
    n = size - len(_envelope())
    while len(data := _envelope(ciphertext=b"c" * n)) != size:
        n += size - len(data)
    return data


def test_an_envelope_of_exactly_the_size_limit_is_accepted() -> None:
    assert envelope.parse_envelope(_padded_to(envelope.MAX_ENVELOPE_BYTES)).ciphertext


def test_an_envelope_one_byte_over_the_size_limit_is_refused() -> None:
    with pytest.raises(envelope.EnvelopeError, match=f"at most {envelope.MAX_ENVELOPE_BYTES:,}"):
        envelope.parse_envelope(_padded_to(envelope.MAX_ENVELOPE_BYTES + 1))


def test_sealing_refuses_no_recipients(parties: Parties) -> None:
    with pytest.raises(envelope.EnvelopeError, match="no report recipients"):
        envelope.seal_report(REPORT, EVENT_ID, parties.event, reports_pb2.RecipientSet(), "x")


# -- steps and receipts are signed over every field ---------------------------------------


def _step(p: Parties, **change: str) -> reports_pb2.SubmissionStep:
    step = reports_pb2.SubmissionStep(
        step="acknowledged", member="wg-alex", at="2027-05-05T10:00:00+00:00", message="thanks"
    )
    step.signature = keys.sign(p.reader_signing, envelope.step_message("a" * 32, step))
    for name, value in change.items():
        setattr(step, name, value)
    return step


def test_a_signed_step_verifies(parties: Parties) -> None:
    envelope.verify_step(bytes(parties.reader_signing.verify_key), "a" * 32, _step(parties))


@pytest.mark.parametrize(
    "change",
    [
        {"message": "thanks!"},
        {"message": ""},
        {"step": "reviewed"},
        {"member": "wg-bo"},
        {"at": "2027-05-05T10:00:01+00:00"},
    ],
)
def test_a_changed_step_does_not_verify(parties: Parties, change: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="step signature"):
        envelope.verify_step(
            bytes(parties.reader_signing.verify_key), "a" * 32, _step(parties, **change)
        )


def test_a_step_for_another_submission_or_key_does_not_verify(parties: Parties) -> None:
    step = _step(parties)
    with pytest.raises(SignatureError):
        envelope.verify_step(bytes(parties.reader_signing.verify_key), "b" * 32, step)
    other = bytes(nacl.signing.SigningKey.generate().verify_key)
    with pytest.raises(SignatureError):
        envelope.verify_step(other, "a" * 32, step)
    step.signature = step.signature[:-1] + bytes([step.signature[-1] ^ 1])
    with pytest.raises(SignatureError):
        envelope.verify_step(bytes(parties.reader_signing.verify_key), "a" * 32, step)


RECEIPT_FIELDS: dict[str, object] = {
    "submission_id": "b" * 32,
    "event_id": "otherconf",
    "envelope_sha256": b"\x01" * 32,
    "log_index": 8,
    "tree_size": 9,
    "root": b"\x02" * 32,
    "received_at": "2027-05-06T00:00:00+00:00",
}


@pytest.mark.parametrize("field", sorted(RECEIPT_FIELDS))
def test_a_receipt_is_signed_over_each_field(field: str) -> None:
    registry = nacl.signing.SigningKey.generate()
    receipt = reports_pb2.Receipt(
        submission_id="a" * 32,
        event_id=EVENT_ID,
        envelope_sha256=b"\x00" * 32,
        log_index=7,
        tree_size=8,
        root=b"\x00" * 32,
        received_at="2027-05-05T00:00:00+00:00",
    )
    receipt.signature = keys.sign(registry, envelope.receipt_message(receipt))
    envelope.verify_receipt(bytes(registry.verify_key), receipt)
    setattr(receipt, field, RECEIPT_FIELDS[field])
    with pytest.raises(SignatureError, match="receipt signature"):
        envelope.verify_receipt(bytes(registry.verify_key), receipt)


def test_recipient_sets_and_tree_heads_are_signed_over_what_they_say(parties: Parties) -> None:
    registry = nacl.signing.SigningKey.generate()
    rs = reports_pb2.RecipientSet()
    rs.CopyFrom(parties.recipients)
    rs.signature = keys.sign(registry, envelope.recipient_set_message(rs.version, rs.recipients))
    envelope.verify_recipients(bytes(registry.verify_key), rs)
    rs.version = 2
    with pytest.raises(SignatureError, match="recipient set"):
        envelope.verify_recipients(bytes(registry.verify_key), rs)
    rs.version = 1
    rs.recipients[0].encryption_key = bytes(nacl.public.PrivateKey.generate().public_key)
    with pytest.raises(SignatureError, match="recipient set"):
        envelope.verify_recipients(bytes(registry.verify_key), rs)

    head = reports_pb2.TreeHead(tree_size=3, root=b"\x05" * 32, signed_at="2027-05-05")
    head.signature = keys.sign(registry, envelope.tree_head_message(head))
    envelope.verify_tree_head(bytes(registry.verify_key), head)
    for name, value in (("tree_size", 4), ("root", b"\x06" * 32), ("signed_at", "2027-05-06")):
        changed = reports_pb2.TreeHead()
        changed.CopyFrom(head)
        setattr(changed, name, value)
        with pytest.raises(SignatureError, match="tree head"):
            envelope.verify_tree_head(bytes(registry.verify_key), changed)
