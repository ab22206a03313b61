"""Snapshots of keyed tags (spec SCREEN-v1 §4): canonical bytes, signatures, matching.

The registry builds and signs them; an agent verifies them against the key it pinned at
enrolment and looks its own tags up in them. Both sides use this one encoding, so a
signature made by one always verifies in the other.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import nacl.signing
from google.protobuf.message import DecodeError

from lanyard.core import keys, screen
from lanyard.core.errors import SealError
from lanyard.wire.registry.v1 import snapshot_pb2

PAD_MULTIPLE = 64
PAYLOAD_BYTES = 96  # every StatusPayload is serialised to exactly this length
SEALED_BYTES = screen.NONCE_BYTES + 16 + PAYLOAD_BYTES
_DST = b"lanyard:v1:snapshot"

STATUS_NAMES = {
    snapshot_pb2.RECORD_STATUS_FLAGGED: "flagged",
    snapshot_pb2.RECORD_STATUS_BANNED: "banned",
}
STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}


def encode_entry(tag: bytes, sealed: bytes) -> bytes:
    """One entry as the signature covers it: tag(32) || lp(sealed)."""
    return tag + screen.lp(sealed)


def signing_message(
    suite: str,
    epoch: int,
    version: int,
    entries: Iterable[tuple[bytes, bytes]],
    epoch_public_key: bytes = b"",
) -> bytes:
    """The bytes a snapshot signature covers: suite, epoch, version, lp(the epoch's OPRF
    public key, spec §3a), then every entry in tag order as tag(32) || lp(sealed).
    Entries MUST already be sorted by tag."""
    return signing_message_encoded(
        suite,
        epoch,
        version,
        [encode_entry(tag, sealed) for tag, sealed in entries],
        epoch_public_key,
    )


def signing_message_encoded(
    suite: str,
    epoch: int,
    version: int,
    encoded: Sequence[bytes],
    epoch_public_key: bytes = b"",
) -> bytes:
    """signing_message() from entries already encoded (encode_entry), in tag order: what
    a registry that keeps its entries encoded and sorted signs without re-encoding them."""
    head = [
        screen.lp(_DST),
        screen.lp(suite.encode()),
        struct.pack(">IQ", epoch, version),
        screen.lp(epoch_public_key),
    ]
    return b"".join([*head, *encoded, struct.pack(">I", len(encoded))])


def sign(
    key: nacl.signing.SigningKey,
    epoch: int,
    version: int,
    entries: Mapping[bytes, bytes],
    epoch_public_key: bytes = b"",
) -> bytes:
    """Sign a snapshot together with the epoch's 32-byte OPRF public key (spec §3a, §4)."""
    return keys.sign(
        key,
        signing_message(screen.SUITE, epoch, version, sorted(entries.items()), epoch_public_key),
    )


def verify(
    public_key: bytes,
    suite: str,
    epoch: int,
    version: int,
    entries: Mapping[bytes, bytes],
    signature: bytes,
    epoch_public_key: bytes = b"",
) -> None:
    """Raise SignatureError unless the registry signed exactly this snapshot, with this
    epoch public key (empty for none)."""
    message = signing_message(suite, epoch, version, sorted(entries.items()), epoch_public_key)
    keys.verify(public_key, message, signature, what="snapshot signature")


def padded_size(real_entries: int) -> int:
    """How many entries a snapshot with `real_entries` real ones publishes (≥ 64)."""
    return max(PAD_MULTIPLE, -(-real_entries // PAD_MULTIPLE) * PAD_MULTIPLE)


def padding_entry() -> tuple[bytes, bytes]:
    """A random (tag, sealed) pair the same shape as a real one: it opens under no key."""
    return os.urandom(screen.TAG_BYTES), os.urandom(SEALED_BYTES)


@dataclass(frozen=True, slots=True)
class Status:
    status: str  # "flagged" | "banned"
    record_ref: str
    expires_on: date | None


def encode_status(status: Status) -> bytes:
    msg = snapshot_pb2.StatusPayload(
        status=STATUS_VALUES[status.status],
        record_ref=status.record_ref,
        expires_on=status.expires_on.isoformat() if status.expires_on else "",
    )
    base = len(msg.SerializeToString(deterministic=True))
    # The padding field costs a tag byte and a one-byte length on top of its content.
    msg.padding = bytes(PAYLOAD_BYTES - base - 2)
    payload = msg.SerializeToString(deterministic=True)
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"status payload is {len(payload)} bytes, expected {PAYLOAD_BYTES}")
    return payload


def decode_status(payload: bytes) -> Status:
    try:
        msg = snapshot_pb2.StatusPayload.FromString(payload)
        expires = date.fromisoformat(msg.expires_on) if msg.expires_on else None
    except (DecodeError, ValueError) as exc:
        raise SealError("sealed status payload is not a valid StatusPayload") from exc
    if msg.status not in STATUS_NAMES:
        raise SealError(f"sealed status payload has unknown status {msg.status}")
    return Status(STATUS_NAMES[msg.status], msg.record_ref, expires)


def seal_status(epoch: int, y: bytes, status: Status) -> tuple[bytes, bytes]:
    """The (tag, sealed) snapshot entry for one identifier of a record (spec §4)."""
    return screen.tag(epoch, y), screen.seal(screen.status_key(epoch, y), encode_status(status))


def match(entries: Mapping[bytes, bytes], epoch: int, y: bytes) -> Status | None:
    """Look Y's tag up; None if absent, the opened status if present. A present tag whose
    box does not open raises SealError: that is an error, not a match (spec §4)."""
    sealed = entries.get(screen.tag(epoch, y))
    if sealed is None:
        return None
    return decode_status(screen.open_sealed(screen.status_key(epoch, y), sealed))
