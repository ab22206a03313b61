"""The event's snapshot (client/snapshots.py): a stream packed into buckets as it comes and
refused on any other shape; a delta applied to the buckets it touches and accepted only
when the result's root is the one the registry signed; nothing held changes on a refusal.
Responses are built and signed here, as the registry would (docs/snapshot.md)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import nacl.signing
import pytest

from lanyard.client.snapshots import (
    LocalSnapshot,
    StreamedSnapshot,
    apply_response,
    assemble,
)
from lanyard.core import screen, snapshot
from lanyard.core.errors import SignatureError
from lanyard.core.snapshot_tree import SEALED_BYTES, SnapshotEntries
from lanyard.wire.registry.v1 import registry_pb2, snapshot_pb2

KEY = nacl.signing.SigningKey.generate()
REGISTRY_KEY = bytes(KEY.verify_key)
EPOCH_KEY = bytes(range(32))  # any 32 bytes: covered by the signature, not used here


def _random(n: int) -> dict[bytes, bytes]:
    return dict(snapshot.padding_entry() for _ in range(n))


def _pb(entries: dict[bytes, bytes]) -> list[snapshot_pb2.SnapshotEntry]:
    return [snapshot_pb2.SnapshotEntry(tag=t, sealed=s) for t, s in sorted(entries.items())]


def _header(entries: dict[bytes, bytes], version: int = 3) -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        suite=screen.SUITE,
        epoch=1,
        version=version,
        signature=snapshot.sign(KEY, 1, version, entries, EPOCH_KEY),
        epoch_public_key=EPOCH_KEY,
    )


def _stream(
    entries: dict[bytes, bytes], per_chunk: int = 16, order: list[bytes] | None = None
) -> list[registry_pb2.SnapshotChunk]:
    """A StreamSnapshot answer: the header, then the entries (in `order` if given)."""
    tags = sorted(entries) if order is None else order
    out = [registry_pb2.SnapshotChunk(header=_header(entries))]
    for i in range(0, len(tags), per_chunk):
        part = {t: entries[t] for t in tags[i : i + per_chunk]}
        pb = [snapshot_pb2.SnapshotEntry(tag=t, sealed=part[t]) for t in tags[i : i + per_chunk]]
        out.append(registry_pb2.SnapshotChunk(entries=registry_pb2.SnapshotEntries(entries=pb)))
    return out


async def _chunks(*chunks: registry_pb2.SnapshotChunk) -> AsyncIterator[registry_pb2.SnapshotChunk]:
    for chunk in chunks:
        yield chunk


def _delta(
    added: dict[bytes, bytes], removed: list[bytes], signed_over: dict[bytes, bytes]
) -> registry_pb2.GetSnapshotResponse:
    """A delta from version 3 to 4, signed over `signed_over` (the whole list at 4)."""
    return registry_pb2.GetSnapshotResponse(
        delta=registry_pb2.SnapshotDelta(
            suite=screen.SUITE,
            epoch=1,
            from_version=3,
            to_version=4,
            added=_pb(added),
            removed_tags=sorted(removed),
            signature=snapshot.sign(KEY, 1, 4, signed_over, EPOCH_KEY),
            epoch_public_key=EPOCH_KEY,
        )
    )


async def _held(entries: dict[bytes, bytes]) -> LocalSnapshot:
    answer = await assemble(_chunks(*_stream(entries)))
    return apply_response(LocalSnapshot(), answer, REGISTRY_KEY)


async def test_a_streamed_snapshot_is_packed_as_it_comes_and_verified() -> None:
    entries = _random(128)
    answer = await assemble(_chunks(*_stream(entries, per_chunk=10)))
    assert isinstance(answer, StreamedSnapshot)
    assert not answer.header.entries
    held = apply_response(LocalSnapshot(), answer, REGISTRY_KEY)
    assert (held.epoch, held.version, held.public_key, held.last_change) == (1, 3, EPOCH_KEY, None)
    assert list(held.entries) == sorted(entries.items())
    assert held.root == SnapshotEntries.build(entries.items()).root
    # The same list as one GetSnapshot answer gives an equal snapshot.
    header = _header(entries)
    header.entries.extend(_pb(entries))
    whole = registry_pb2.GetSnapshotResponse(full=header)
    assert apply_response(LocalSnapshot(), whole, REGISTRY_KEY) == held
    whole.full.entries[0].CopyFrom(whole.full.entries[1])  # a repeat, as one answer too
    with pytest.raises(SignatureError, match="repeats a tag"):
        apply_response(LocalSnapshot(), whole, REGISTRY_KEY)
    other = nacl.signing.SigningKey.generate().verify_key
    with pytest.raises(SignatureError):
        apply_response(LocalSnapshot(), answer, bytes(other))


async def test_a_delta_changes_its_buckets_and_verifies_against_the_signed_root() -> None:
    entries = _random(128)
    held = await _held(entries)
    gone = sorted(entries)[5]
    added = _random(1)
    after = {t: s for t, s in entries.items() if t != gone} | added
    fresh = apply_response(held, _delta(added, [gone], after), REGISTRY_KEY)
    assert (fresh.version, len(fresh.entries)) == (4, 128)
    assert list(fresh.entries) == sorted(after.items())
    assert fresh.last_change == (added, [gone])
    assert list(held.entries) == sorted(entries.items())  # the held one is untouched


@pytest.mark.parametrize("how", ["signed-over-another-list", "held-list-diverged"])
async def test_a_delta_leading_to_another_root_is_refused_and_the_held_kept(how: str) -> None:
    entries = _random(128)
    held = await _held(entries)
    root, listed = held.root, list(held.entries)
    gone = sorted(entries)[0]
    added = _random(1)
    after = {t: s for t, s in entries.items() if t != gone} | added
    if how == "signed-over-another-list":
        # The registry signs a list in which one sealed value differs from what the
        # delta produces here.
        tag = sorted(after)[-1]
        signed = after | {tag: bytes(SEALED_BYTES)}
        base = held
    else:
        # The list held here no longer matches the registry's (one entry changed): the
        # genuine delta cannot lead to the signed root.
        signed = after
        tag = sorted(entries)[7]
        base = LocalSnapshot(1, 3, held.entries.apply([(tag, bytes(SEALED_BYTES))], []), EPOCH_KEY)
    with pytest.raises(SignatureError):
        apply_response(base, _delta(added, [gone], signed), REGISTRY_KEY)
    assert (held.root, list(held.entries)) == (root, listed)


async def test_a_delta_must_start_from_the_version_held_and_be_verified_itself() -> None:
    entries = _random(64)
    held = await _held(entries)
    stale = LocalSnapshot(1, 2, held.entries, EPOCH_KEY)
    with pytest.raises(SignatureError, match="does not apply to version 2"):
        apply_response(stale, _delta({}, [], entries), REGISTRY_KEY)
    unverified = LocalSnapshot(1, 3, held.entries, EPOCH_KEY, verified=False)
    with pytest.raises(SignatureError, match="not verified"):
        apply_response(unverified, _delta({}, [], entries), REGISTRY_KEY)
    twice = _delta({}, [], entries)
    twice.delta.added.extend(_pb(_random(1)) * 2)
    with pytest.raises(SignatureError, match="same tag twice"):
        apply_response(held, twice, REGISTRY_KEY)


def _reordered(entries: dict[bytes, bytes], how: str) -> list[bytes]:
    tags = sorted(entries)
    if how == "swapped-in-a-chunk":
        tags[3], tags[4] = tags[4], tags[3]
    elif how == "swapped-across-chunks":
        tags[15], tags[16] = tags[16], tags[15]
    elif how == "repeated-in-a-chunk":
        tags[4] = tags[3]
    elif how == "repeated-across-chunks":
        tags[16] = tags[15]
    elif how == "descending":
        tags.reverse()
    return tags


@pytest.mark.parametrize(
    "how",
    [
        "swapped-in-a-chunk",
        "swapped-across-chunks",
        "repeated-in-a-chunk",
        "repeated-across-chunks",
        "descending",
    ],
)
async def test_a_stream_out_of_tag_order_or_repeating_a_tag_is_refused(how: str) -> None:
    entries = _random(64)
    with pytest.raises(SignatureError, match=r"not in tag order|repeats a tag"):
        await assemble(_chunks(*_stream(entries, order=_reordered(entries, how))))


def _bare_header() -> registry_pb2.SnapshotChunk:
    return registry_pb2.SnapshotChunk(header=snapshot_pb2.Snapshot(suite=screen.SUITE, version=3))


def _entry_chunk(tag: bytes, sealed: bytes) -> registry_pb2.SnapshotChunk:
    entry = snapshot_pb2.SnapshotEntry(tag=tag, sealed=sealed)
    return registry_pb2.SnapshotChunk(entries=registry_pb2.SnapshotEntries(entries=[entry]))


_OK = _entry_chunk(b"\x01" * 32, bytes(SEALED_BYTES))
_DELTA = registry_pb2.SnapshotChunk(delta=registry_pb2.SnapshotDelta(epoch=1, to_version=4))
_FULL_HEADER = registry_pb2.SnapshotChunk(
    header=snapshot_pb2.Snapshot(entries=[snapshot_pb2.SnapshotEntry(tag=b"\x01" * 32)])
)


@pytest.mark.parametrize(
    "chunks",
    [
        [_OK],
        [_bare_header(), _bare_header()],
        [_bare_header(), _DELTA],
        [_DELTA, _OK],
        [_DELTA, _DELTA],
        [_FULL_HEADER],
        [registry_pb2.SnapshotChunk()],
        [_bare_header(), _entry_chunk(b"\x01" * 31, bytes(SEALED_BYTES))],
        [_bare_header(), _entry_chunk(b"\x01" * 32, b"s")],
    ],
    ids=["entries-first", "two-headers", "delta-after-header", "entries-after-delta",
         "two-deltas", "header-with-entries", "empty-chunk", "short-tag", "short-sealed"],
)  # fmt: skip
async def test_a_stream_of_any_other_shape_is_refused(
    chunks: list[registry_pb2.SnapshotChunk],
) -> None:
    with pytest.raises(SignatureError):
        await assemble(_chunks(*chunks))


async def test_a_delta_stream_is_one_chunk_and_an_empty_stream_applies_to_nothing() -> None:
    answer = await assemble(_chunks(_DELTA))
    assert isinstance(answer, registry_pb2.GetSnapshotResponse)
    assert answer.WhichOneof("body") == "delta"
    empty = await assemble(_chunks())
    with pytest.raises(SignatureError, match="neither"):
        apply_response(LocalSnapshot(), empty, REGISTRY_KEY)


def test_snapshots_are_equal_by_epoch_version_key_and_root() -> None:
    entries = SnapshotEntries.build(_random(64).items())
    same = SnapshotEntries.build(list(entries))
    assert LocalSnapshot(1, 2, entries, EPOCH_KEY) == LocalSnapshot(1, 2, same, EPOCH_KEY)
    assert LocalSnapshot(1, 2, entries) != LocalSnapshot(1, 3, entries)
    changed = entries.apply([(os.urandom(32), bytes(SEALED_BYTES))], [])
    assert LocalSnapshot(1, 2, entries) != LocalSnapshot(1, 2, changed)


async def test_a_whole_list_replacing_a_held_one_shares_its_unchanged_buckets() -> None:
    entries = _random(256)
    held = await _held(entries)
    changed_tag = sorted(entries)[100]
    newer = entries | {changed_tag: bytes(SEALED_BYTES)}
    answer = await assemble(_chunks(*_stream(newer)), held.entries)
    fresh = apply_response(held, answer, REGISTRY_KEY)
    assert fresh.root == SnapshotEntries.build(newer.items()).root != held.root
    assert list(fresh.entries) == sorted(newer.items())
    changed = changed_tag[0] << 8 | changed_tag[1]
    buckets = {t[0] << 8 | t[1] for t in entries}
    shared = {b for b in buckets if fresh.entries.packed(b) is held.entries.packed(b)}
    assert shared == buckets - {changed}
