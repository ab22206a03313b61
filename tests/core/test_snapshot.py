"""Snapshot signatures, padding and matching (spec SCREEN-v1 §4), with negative paths."""

from __future__ import annotations

import os
import random
from datetime import date

import nacl.signing
import pytest

from lanyard.core import screen, snapshot, snapshot_tree
from lanyard.core.errors import SealError, SignatureError

K = screen.scalar_from_seed(b"snapshot test key")


def _y(text: str) -> bytes:
    return screen.multiply(K, screen.hash_to_group(text.encode()))


@pytest.fixture
def signed() -> tuple[nacl.signing.SigningKey, dict[bytes, bytes], bytes]:
    key = nacl.signing.SigningKey.generate()
    status = snapshot.Status("banned", "WG-1", date(2029, 1, 1))
    entries = dict([snapshot.seal_status(3, _y("a"), status)])
    entries.update(snapshot.padding_entry() for _ in range(63))
    return key, entries, snapshot.sign(key, 3, 7, entries)


def test_signature_verifies(
    signed: tuple[nacl.signing.SigningKey, dict[bytes, bytes], bytes],
) -> None:
    key, entries, sig = signed
    snapshot.verify(bytes(key.verify_key), screen.SUITE, 3, 7, entries, sig)


@pytest.mark.parametrize(
    "change", ["epoch", "version", "suite", "entry", "dropped", "added", "signature", "key"]
)
def test_any_change_breaks_the_signature(
    signed: tuple[nacl.signing.SigningKey, dict[bytes, bytes], bytes], change: str
) -> None:
    key, entries, sig = signed
    public, suite, epoch, version = bytes(key.verify_key), screen.SUITE, 3, 7
    entries = dict(entries)
    if change == "epoch":
        epoch = 4
    elif change == "version":
        version = 8
    elif change == "suite":
        suite = "LANYARD-SCREEN-v2"
    elif change == "entry":
        tag = next(iter(entries))
        entries[tag] = entries[tag][:-1] + bytes([entries[tag][-1] ^ 1])
    elif change == "dropped":
        entries.pop(next(iter(entries)))
    elif change == "added":
        entries.update([snapshot.padding_entry()])
    elif change == "signature":
        sig = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
    else:
        public = bytes(nacl.signing.SigningKey.generate().verify_key)
    with pytest.raises(SignatureError):
        snapshot.verify(public, suite, epoch, version, entries, sig)


def test_truncated_signature_and_key_are_refused(
    signed: tuple[nacl.signing.SigningKey, dict[bytes, bytes], bytes],
) -> None:
    key, entries, sig = signed
    with pytest.raises(SignatureError, match="64 bytes"):
        snapshot.verify(bytes(key.verify_key), screen.SUITE, 3, 7, entries, sig[:63])
    with pytest.raises(SignatureError, match="32 bytes"):
        snapshot.verify(bytes(key.verify_key)[:31], screen.SUITE, 3, 7, entries, sig)


def test_match_finds_status_and_misses_others() -> None:
    status = snapshot.Status("flagged", "WG-9", None)
    entries = dict([snapshot.seal_status(1, _y("listed"), status)])
    entries.update(snapshot.padding_entry() for _ in range(63))
    assert snapshot.match(entries, 1, _y("listed")) == status
    assert snapshot.match(entries, 1, _y("not listed")) is None
    assert snapshot.match(entries, 2, _y("listed")) is None  # other epoch, other tag


def test_tag_whose_box_does_not_open_is_an_error() -> None:
    y = _y("listed")
    entries = {screen.tag(1, y): os.urandom(60)}
    with pytest.raises(SealError):
        snapshot.match(entries, 1, y)


def test_box_with_garbage_payload_is_an_error() -> None:
    y = _y("listed")
    entries = {screen.tag(1, y): screen.seal(screen.status_key(1, y), b"\xff\xff\xff")}
    with pytest.raises(SealError):
        snapshot.match(entries, 1, y)


@pytest.mark.parametrize(("real", "padded"), [(0, 64), (1, 64), (64, 64), (65, 128), (200, 256)])
def test_padded_size(real: int, padded: int) -> None:
    assert snapshot.padded_size(real) == padded


@pytest.mark.parametrize(
    "status",
    [
        snapshot.Status("banned", "W", None),
        snapshot.Status("flagged", "WG-2024-001", date(2030, 1, 1)),
        snapshot.Status("banned", "R" * 64, date(2099, 12, 31)),
    ],
)
def test_padding_is_the_same_shape_as_real_entries(status: snapshot.Status) -> None:
    real_tag, real_sealed = snapshot.seal_status(1, _y("x"), status)
    tag, sealed = snapshot.padding_entry()
    assert (len(tag), len(sealed)) == (len(real_tag), len(real_sealed))


def test_status_round_trip() -> None:
    status = snapshot.Status("banned", "WG-2025-003", date(2030, 2, 28))
    assert snapshot.decode_status(snapshot.encode_status(status)) == status


def test_changes_applied_one_by_one_give_the_root_of_a_rebuild() -> None:
    """Copy on write: every step's root equals a fresh build of the same entries, and the
    SnapshotEntries a step started from keeps its own root and entries."""
    rng = random.Random(7)

    def entry() -> tuple[bytes, bytes]:
        # Few distinct first bytes, so buckets hold several entries and paths meet.
        tag = bytes([rng.randrange(3), rng.randrange(2)]) + rng.randbytes(30)
        return tag, rng.randbytes(snapshot.SEALED_BYTES)

    held = dict(entry() for _ in range(40))
    tree = snapshot_tree.SnapshotEntries.build(held.items())
    for _ in range(30):
        removed = [*rng.sample(sorted(held), k=rng.randrange(4)), rng.randbytes(32)]
        added = [entry() for _ in range(rng.randrange(4))]
        added += [(t, rng.randbytes(snapshot.SEALED_BYTES)) for t in rng.sample(sorted(held), 1)]
        before, before_root = dict(held), tree.root
        new = tree.apply(added, removed)
        for tag in removed:
            held.pop(tag, None)
        held.update(added)
        assert new.root == snapshot_tree.SnapshotEntries.build(held.items()).root
        assert len(new) == len(held)
        assert dict(new) == held
        assert tree.root == before_root
        assert dict(tree) == before
        assert all(new.get(t) == s for t, s in held.items())
        tree = new


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(bytes(31), bytes(snapshot.SEALED_BYTES))], "tag must be 32 bytes"),
        ([(bytes(32), bytes(snapshot.SEALED_BYTES - 1))], "must be 136 bytes"),
        ([(bytes(32), bytes(snapshot.SEALED_BYTES))] * 2, "repeats a tag"),
    ],
)
def test_entries_of_the_wrong_shape_are_refused(
    entries: list[tuple[bytes, bytes]], message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        snapshot_tree.SnapshotEntries.build(entries)
    with pytest.raises(SignatureError):
        snapshot_tree.SnapshotEntries.empty().apply(entries, [])
