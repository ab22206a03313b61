"""Snapshots of keyed tags (spec SCREEN-v1 §4, docs/snapshot.md): sealed statuses,
the signed root, matching.

The registry signs the Merkle root over a snapshot's bucketed entries (snapshot_tree); an
agent verifies it against the key it pinned at enrolment and looks its own tags up in the
entries. Both sides use this one encoding, so a signature made by one always verifies in
the other.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import nacl.signing
from google.protobuf.message import DecodeError

from lanyard.core import keys, screen, snapshot_tree
from lanyard.core.errors import SealError, SignatureError
from lanyard.wire.registry.v1 import snapshot_pb2

PAD_MULTIPLE = 64
PAYLOAD_BYTES = snapshot_tree.PAYLOAD_BYTES
SEALED_BYTES = snapshot_tree.SEALED_BYTES
ROOT_BYTES = 32
_DST = b"lanyard:v1:snapshot-root"

STATUS_NAMES = {
    snapshot_pb2.RECORD_STATUS_FLAGGED: "flagged",
    snapshot_pb2.RECORD_STATUS_BANNED: "banned",
}
STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}


def signing_message(
    suite: str,
    epoch: int,
    version: int,
    count: int,
    root: bytes,
    epoch_public_key: bytes = b"",
) -> bytes:
    """The bytes a snapshot signature covers (docs/snapshot.md §3): lp(DST), lp(suite),
    u32 epoch, u64 version, lp(the epoch's OPRF public key, spec §3a), u64 count of
    entries (padding included), and the 32-byte Merkle root over them (snapshot_tree)."""
    if len(root) != ROOT_BYTES:
        raise SignatureError(f"a snapshot root must be {ROOT_BYTES} bytes, got {len(root)}")
    return b"".join(
        [
            screen.lp(_DST),
            screen.lp(suite.encode()),
            struct.pack(">IQ", epoch, version),
            screen.lp(epoch_public_key),
            struct.pack(">Q", count),
            root,
        ]
    )


def sign_root(
    key: nacl.signing.SigningKey,
    epoch: int,
    version: int,
    count: int,
    root: bytes,
    epoch_public_key: bytes = b"",
) -> bytes:
    """The registry's Ed25519 signature over a snapshot's root (64 bytes)."""
    return keys.sign(
        key, signing_message(screen.SUITE, epoch, version, count, root, epoch_public_key)
    )


def verify_root(
    public_key: bytes,
    suite: str,
    epoch: int,
    version: int,
    count: int,
    root: bytes,
    signature: bytes,
    epoch_public_key: bytes = b"",
) -> None:
    """Raise SignatureError unless the registry signed this root of `count` entries, or
    `count` is not a padded size (a positive multiple of 64, spec §4)."""
    if count < PAD_MULTIPLE or count % PAD_MULTIPLE:
        raise SignatureError(f"a snapshot holds a positive multiple of 64 entries, not {count}")
    message = signing_message(suite, epoch, version, count, root, epoch_public_key)
    keys.verify(public_key, message, signature, what="snapshot signature")


def sign(
    key: nacl.signing.SigningKey,
    epoch: int,
    version: int,
    entries: Mapping[bytes, bytes],
    epoch_public_key: bytes = b"",
) -> bytes:
    """Sign a whole snapshot given as tag -> sealed (builds its tree; spec §3a, §4)."""
    tree = snapshot_tree.SnapshotEntries.build(entries.items())
    return sign_root(key, epoch, version, len(tree), tree.root, epoch_public_key)


def verify(
    public_key: bytes,
    suite: str,
    epoch: int,
    version: int,
    entries: Mapping[bytes, bytes] | snapshot_tree.SnapshotEntries,
    signature: bytes,
    epoch_public_key: bytes = b"",
) -> None:
    """Raise SignatureError unless the registry signed exactly these entries at this
    epoch, version and epoch public key (empty for none)."""
    tree = (
        entries
        if isinstance(entries, snapshot_tree.SnapshotEntries)
        else snapshot_tree.SnapshotEntries.build(entries.items())
    )
    verify_root(
        public_key, suite, epoch, version, len(tree), tree.root, signature, epoch_public_key
    )


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


def match(
    entries: Mapping[bytes, bytes] | snapshot_tree.SnapshotEntries, epoch: int, y: bytes
) -> Status | None:
    """Look Y's tag up; None if absent, the opened status if present. A present tag whose
    box does not open raises SealError: that is an error, not a match (spec §4)."""
    sealed = entries.get(screen.tag(epoch, y))
    if sealed is None:
        return None
    return decode_status(screen.open_sealed(screen.status_key(epoch, y), sealed))
