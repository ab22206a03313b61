"""Sealed end-of-event reports and what the registry signs about them.

An event's report is signed with the event's key, encrypted once under a fresh data key,
and the data key is sealed to each WG recipient; the envelope is signed again so the
registry can check who sent it without being able to read it. The canonical byte
encodings here are what the registry signs (recipient sets, receipts, tree heads) and
what WG members sign (steps), so that each side verifies exactly what the other signed.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
from google.protobuf.message import DecodeError
from nacl.secret import SecretBox

from lanyard.core import chunks, keys, limits, screen
from lanyard.core.errors import Error, SignatureError
from lanyard.wire.registry.v1 import reports_pb2

REPORT_FORMAT = "lanyard-report/1"
MAX_ENVELOPE_BYTES = limits.MAX_ENVELOPE_BYTES
STEPS = ("acknowledged", "reviewed", "recorded")
STATUS_ORDER = ("received", *STEPS)


class EnvelopeError(Error):
    """An envelope that is malformed, not addressed to this reader, or does not open."""


def _field(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def _canonical(dst: str, *fields: bytes | str | int) -> bytes:
    parts = [screen.lp(dst.encode())]
    for f in fields:
        parts.append(struct.pack(">Q", f) if isinstance(f, int) else _field(f))
    return b"".join(parts)


# -- what gets signed ------------------------------------------------------------------


def recipient_set_message(version: int, recipients: Sequence[reports_pb2.Recipient]) -> bytes:
    fields: list[bytes | str | int] = [version, len(recipients)]
    for r in sorted(recipients, key=lambda r: r.name):
        fields += [r.name, r.encryption_key, r.signing_key, len(r.retired_signing_keys)]
        fields += list(r.retired_signing_keys)
    return _canonical("lanyard:v1:recipients", *fields)


def receipt_message(r: reports_pb2.Receipt) -> bytes:
    return _canonical(
        "lanyard:v1:receipt",
        r.submission_id,
        r.event_id,
        r.envelope_sha256,
        r.log_index,
        r.tree_size,
        r.root,
        r.received_at,
    )


def tree_head_message(h: reports_pb2.TreeHead) -> bytes:
    return _canonical("lanyard:v1:tree-head", h.tree_size, h.root, h.signed_at)


def step_message(submission_id: str, step: reports_pb2.SubmissionStep) -> bytes:
    return _canonical(
        "lanyard:v1:step", submission_id, step.step, step.member, step.at, step.message
    )


def leaf_data(submission_id: str, event_id: str, envelope_sha256: bytes, received_at: str) -> bytes:
    """What the log commits to for one submission (the leaf, before leaf hashing)."""
    return _canonical("lanyard:v1:log-entry", submission_id, event_id, envelope_sha256, received_at)


def verify_recipients(registry_key: bytes, recipients: reports_pb2.RecipientSet) -> None:
    keys.verify(
        registry_key,
        recipient_set_message(recipients.version, recipients.recipients),
        recipients.signature,
        what="recipient set signature",
    )


def verify_receipt(registry_key: bytes, receipt: reports_pb2.Receipt) -> None:
    keys.verify(registry_key, receipt_message(receipt), receipt.signature, what="receipt signature")


def verify_tree_head(registry_key: bytes, head: reports_pb2.TreeHead) -> None:
    keys.verify(registry_key, tree_head_message(head), head.signature, what="tree head signature")


def verify_step(signing_key: bytes, submission_id: str, step: reports_pb2.SubmissionStep) -> None:
    keys.verify(
        signing_key,
        step_message(submission_id, step),
        step.signature,
        what=f"{step.step} step signature",
    )


# -- sealing and opening ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sealed:
    envelope: bytes  # a serialised ReportEnvelope
    signature: bytes  # the event's signature over `envelope`
    submission_id: str


def new_submission_id() -> str:
    return os.urandom(16).hex()


# What sealing adds around the report's JSON: the event's signature (64), the secretbox
# nonce and tag (40), and room for every reader's sealed key and the envelope's framing.
SEAL_OVERHEAD_BYTES = 64 + 40 + 64 * 1024


def report_body(report: dict[str, Any]) -> bytes:
    """The report's canonical JSON, as signed and sealed."""
    return json.dumps(report, ensure_ascii=False, sort_keys=True).encode()


def check_report_size(report: dict[str, Any]) -> None:
    """EnvelopeError, naming the limit, when `report` cannot fit in one sealed envelope of
    limits.MAX_ENVELOPE_BYTES; checked before anything is sealed."""
    size = len(report_body(report)) + SEAL_OVERHEAD_BYTES
    if size > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"the report would seal to about {size:,} bytes, over the limit of "
            f"{MAX_ENVELOPE_BYTES:,} bytes for one sealed report (MAX_ENVELOPE_BYTES); "
            "nothing was sealed"
        )


def new_data_key() -> bytes:
    return os.urandom(SecretBox.KEY_SIZE)


def attachment_key(data_key: bytes) -> bytes:
    """The key a report's attached files are sealed under (core/chunks.py)."""
    return chunks.subkey(data_key, b"report-attachments")


def attachment_context(submission_id: str, blob: int) -> bytes:
    return f"report:{submission_id}:blob:{blob}".encode()


def seal_report(
    report: dict[str, Any],
    event_id: str,
    event_key: nacl.signing.SigningKey,
    recipients: reports_pb2.RecipientSet,
    sealed_at: str,
    submission_id: str | None = None,
    data_key: bytes | None = None,
    attachments: Sequence[reports_pb2.AttachmentBlob] = (),
) -> Sealed:
    """Sign, encrypt once, seal the data key to every recipient, sign the envelope.
    Attached files were sealed beforehand under `data_key` (attachment_key); their
    manifest, `attachments`, goes in the envelope."""
    if not recipients.recipients:
        raise EnvelopeError("the WG has published no report recipients yet")
    check_report_size(report)
    body = report_body(report)
    signed = keys.sign(event_key, body) + body
    data_key = data_key or new_data_key()
    wrapped = [
        reports_pb2.WrappedKey(
            recipient=r.name,
            encryption_key=r.encryption_key,
            sealed_key=bytes(
                nacl.public.SealedBox(nacl.public.PublicKey(r.encryption_key)).encrypt(data_key)
            ),
        )
        for r in recipients.recipients
    ]
    envelope = reports_pb2.ReportEnvelope(
        format=REPORT_FORMAT,
        submission_id=submission_id or new_submission_id(),
        event_id=event_id,
        sealed_at=sealed_at,
        recipient_set_version=recipients.version,
        keys=wrapped,
        ciphertext=bytes(SecretBox(data_key).encrypt(signed)),
        attachments=attachments,
    ).SerializeToString(deterministic=True)
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"the sealed report is {len(envelope):,} bytes; at most {MAX_ENVELOPE_BYTES:,}"
        )
    parsed = reports_pb2.ReportEnvelope.FromString(envelope)
    return Sealed(envelope, keys.sign(event_key, envelope), parsed.submission_id)


def parse_envelope(envelope: bytes) -> reports_pb2.ReportEnvelope:
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"envelope is {len(envelope):,} bytes; at most {MAX_ENVELOPE_BYTES:,} allowed"
        )
    try:
        parsed = reports_pb2.ReportEnvelope.FromString(envelope)
    except DecodeError as exc:
        raise EnvelopeError("envelope is not a ReportEnvelope") from exc
    if parsed.format != REPORT_FORMAT:
        raise EnvelopeError(f"envelope format must be {REPORT_FORMAT}")
    if len(parsed.submission_id) != 32 or any(
        c not in "0123456789abcdef" for c in parsed.submission_id
    ):
        raise EnvelopeError("submission_id must be 32 lowercase hex characters")
    if not parsed.keys or not parsed.ciphertext:
        raise EnvelopeError("envelope carries no sealed keys or no ciphertext")
    return parsed


def open_report(
    envelope: bytes,
    reader: str,
    private_key: nacl.public.PrivateKey | Sequence[nacl.public.PrivateKey],
    event_key: bytes,
) -> dict[str, Any]:
    """Decrypt as `reader` and verify the event's inner signature; the report's JSON.
    `private_key` may be several (the current one and those a rekey retired): the one
    the report was sealed to opens it."""
    return open_report_and_key(envelope, reader, private_key, event_key)[0]


def open_report_and_key(
    envelope: bytes,
    reader: str,
    private_key: nacl.public.PrivateKey | Sequence[nacl.public.PrivateKey],
    event_key: bytes,
) -> tuple[dict[str, Any], bytes]:
    """As open_report, with the data key that also opens the report's attached files."""
    held = [private_key] if isinstance(private_key, nacl.public.PrivateKey) else private_key
    by_public = {bytes(k.public_key): k for k in held}
    parsed = parse_envelope(envelope)
    mine = [
        (k, by_public[k.encryption_key])
        for k in parsed.keys
        if k.recipient == reader and k.encryption_key in by_public
    ]
    if not mine:
        raise EnvelopeError(f"this report was not sealed to {reader} (under any key held)")
    try:
        wrapped, key = mine[0]
        data_key = nacl.public.SealedBox(key).decrypt(wrapped.sealed_key)
        signed = SecretBox(data_key).decrypt(parsed.ciphertext)
    except nacl.exceptions.CryptoError as exc:
        raise EnvelopeError("the report does not open with this key") from exc
    signature, body = signed[: keys.SIGNATURE_BYTES], signed[keys.SIGNATURE_BYTES :]
    try:
        keys.verify(event_key, body, signature, what="the event's signature on the report")
    except SignatureError as exc:
        raise EnvelopeError(str(exc)) from exc
    try:
        report: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise EnvelopeError("the report inside the envelope is not JSON") from exc
    return report, bytes(data_key)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# The one canonical encoding of signed fields; the evaluation log's leaves and heads use it.
canonical = _canonical
