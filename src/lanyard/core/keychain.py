"""Hand-overs of a long-lived Ed25519 signing key: the old key vouches for the new one.

The registry signs snapshots, recipient sets, receipts and tree heads with one key, which
every event pins at enrolment. Rotating it must not make events enrol again, so each
rotation leaves a transition statement signed by both keys (proto `KeyTransition`). An
event walks the chain from the key it pinned to the current one, and refuses a chain that
does not start at its key or skips a link: that is a break, never a reason to trust.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime

import nacl.signing

from lanyard.core import keys, screen
from lanyard.core.errors import SignatureError
from lanyard.wire.registry.v1 import snapshot_pb2

_DST = b"lanyard:v1:key-transition"


def transition_message(old: bytes, new: bytes, sequence: int, at: str) -> bytes:
    """lp(DST) || old(32) || new(32) || u32be(sequence) || lp(at): what both keys sign."""
    if len(old) != 32 or len(new) != 32:
        raise SignatureError(
            f"transition keys must be 32 bytes each, got {len(old)} and {len(new)}"
        )
    return b"".join(
        [screen.lp(_DST), old, new, struct.pack(">I", sequence), screen.lp(at.encode())]
    )


def make_transition(
    old: nacl.signing.SigningKey, new: nacl.signing.SigningKey, sequence: int, at: str
) -> snapshot_pb2.KeyTransition:
    """The statement handing over from `old` to `new`, signed by both."""
    old_pub, new_pub = bytes(old.verify_key), bytes(new.verify_key)
    message = transition_message(old_pub, new_pub, sequence, at)
    return snapshot_pb2.KeyTransition(
        old_public_key=old_pub,
        new_public_key=new_pub,
        sequence=sequence,
        at=at,
        old_signature=keys.sign(old, message),
        new_signature=keys.sign(new, message),
    )


def verify_transition(t: snapshot_pb2.KeyTransition) -> None:
    """Raise SignatureError unless both keys signed the statement and the keys differ."""
    if t.old_public_key == t.new_public_key:
        raise SignatureError("a key transition must name a new key")
    message = transition_message(t.old_public_key, t.new_public_key, t.sequence, t.at)
    keys.verify(t.old_public_key, message, t.old_signature, what="transition signature (old key)")
    keys.verify(t.new_public_key, message, t.new_signature, what="transition signature (new key)")


def follow(
    pinned: bytes, transitions: Sequence[snapshot_pb2.KeyTransition], current: bytes
) -> list[bytes]:
    """Every key from `pinned` to `current`, in order, each vouched for by the one before.

    `transitions` is the registry's whole chain, oldest first. Raises SignatureError if a
    statement does not verify, the sequence skips, the chain never passes `pinned`, or it
    does not end at `current`."""
    trusted = [pinned]
    for expected, t in enumerate(transitions, start=1):
        if t.sequence != expected:
            raise SignatureError(
                f"key chain skips: transition {t.sequence} where {expected} was due"
            )
        verify_transition(t)
        if trusted[-1] == t.old_public_key:
            trusted.append(t.new_public_key)
        elif len(trusted) > 1:
            raise SignatureError(f"key chain breaks at transition {t.sequence}")
    if trusted[-1] != current:
        raise SignatureError(
            "the registry's current signing key is not vouched for by the key this event pinned"
        )
    return trusted


def retirements(transitions: Sequence[snapshot_pb2.KeyTransition]) -> dict[bytes, datetime]:
    """Each handed-over key -> the time it stopped signing (its transition's `at`). A key
    missing here is current, or its hand-over time does not parse (then see `signed_by`)."""
    out: dict[bytes, datetime] = {}
    for t in transitions:
        try:
            out[bytes(t.old_public_key)] = datetime.fromisoformat(t.at)
        except ValueError:
            out[bytes(t.old_public_key)] = datetime.min.replace(tzinfo=UTC)
    return out


def valid_at(retired: dict[bytes, datetime], key: bytes, signed_at: str | None) -> bool:
    """Whether `key` may have signed something dated `signed_at` (ISO 8601): a retired key
    only what is dated no later than its hand-over; an undated thing only the current key."""
    if key not in retired:
        return True
    if signed_at is None:
        return False
    try:
        when = datetime.fromisoformat(signed_at)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= retired[key]


_MEMBER_DST = b"lanyard:v1:member-rekey"


def member_rekey_message(name: str, new_key: bytes) -> bytes:
    """lp(DST) || lp(name) || new_key(32): what a team member's new key signs to prove
    it is held by whoever asks for it (the call itself is signed by the old key)."""
    return b"".join([screen.lp(_MEMBER_DST), screen.lp(name.encode()), new_key])


_RECIPIENT_DST = b"lanyard:v1:recipient-rekey"


def recipient_rekey_message(name: str, encryption_key: bytes, signing_key: bytes) -> bytes:
    """lp(DST) || lp(name) || encryption_key(32) || signing_key(32): what a WG report
    reader's new signing key signs when the reader replaces their keys."""
    return b"".join(
        [screen.lp(_RECIPIENT_DST), screen.lp(name.encode()), encryption_key, signing_key]
    )


_EVENT_DST = b"lanyard:v1:event-rekey"


def event_rekey_message(event_id: str, old_key: bytes, new_key: bytes) -> bytes:
    """lp(DST) || lp(event_id) || old_key(32) || new_key(32): the statement both of an
    event's keys sign when the event replaces its key."""
    return b"".join([screen.lp(_EVENT_DST), screen.lp(event_id.encode()), old_key, new_key])
