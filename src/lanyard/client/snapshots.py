"""The event's copy of the WG's list: a snapshot held, and the answers that move it on.

A whole snapshot comes as a stream of chunks (StreamSnapshot): its entries are packed into
their buckets as they arrive, in tag order (core/snapshot_stream.py), so the peak memory
stays near the packed size. A delta is applied to the held entries by changing only the
buckets it touches (core/snapshot_tree.py). Either way the result is accepted only once
the registry's signature over its Merkle root and entry count verifies (docs/snapshot.md);
until then nothing held changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lanyard.core import screen, snapshot, snapshot_stream
from lanyard.core.errors import SignatureError
from lanyard.core.snapshot_tree import SnapshotEntries
from lanyard.wire.registry.v1 import registry_pb2, snapshot_pb2


@dataclass(eq=False)
class LocalSnapshot:
    """The newest verified snapshot an event holds. Two are equal when they hold the same
    epoch, version, epoch key and entries (same count and Merkle root)."""

    epoch: int = 0
    version: int = 0
    entries: SnapshotEntries = field(default_factory=SnapshotEntries.empty)
    # The epoch's OPRF public key pk = k * G (32 bytes, spec §3a); empty until a snapshot
    # signed with it has been received in this process.
    public_key: bytes = b""
    # When this snapshot came from a delta: (entries added, tags removed) by it, so that a
    # holder can store the change instead of the whole list. None after a full fetch.
    last_change: tuple[dict[bytes, bytes], list[bytes]] | None = field(default=None, repr=False)
    # The registry's signature over the root (64 bytes; empty when not known).
    signature: bytes = field(default=b"", repr=False)
    # False for entries nobody could verify since they were stored (kept from before
    # roots were stored): the next refresh asks for the whole snapshot again.
    verified: bool = True

    def match(self, y: bytes) -> snapshot.Status | None:
        return snapshot.match(self.entries, self.epoch, y)

    @property
    def root(self) -> bytes:
        """The Merkle root over the entries (32 bytes)."""
        return self.entries.root

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalSnapshot):
            return NotImplemented
        return (self.epoch, self.version, self.public_key, len(self.entries), self.root) == (
            other.epoch,
            other.version,
            other.public_key,
            len(other.entries),
            other.root,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable


@dataclass(frozen=True, slots=True)
class StreamedSnapshot:
    """A whole snapshot as a StreamSnapshot stream carried it: the header (every field of
    Snapshot but its entries, signature included) and the entries, shape-checked and in
    tag order, not yet verified."""

    header: snapshot_pb2.Snapshot
    entries: SnapshotEntries


Answer = registry_pb2.GetSnapshotResponse | StreamedSnapshot


def _epoch_key(key: bytes) -> bytes:
    if len(key) != screen.POINT_BYTES:
        raise SignatureError(
            f"snapshot does not publish the epoch's public key: expected "
            f"{screen.POINT_BYTES} bytes, got {len(key)}"
        )
    return key


def _full(header: snapshot_pb2.Snapshot, entries: SnapshotEntries) -> tuple[LocalSnapshot, str]:
    key = _epoch_key(header.epoch_public_key)
    snap = LocalSnapshot(header.epoch, header.version, entries, key, signature=header.signature)
    return snap, header.suite


def unverified(current: LocalSnapshot, answer: Answer) -> tuple[LocalSnapshot, str]:
    """The snapshot `answer` leads to from `current`, and the suite it names, before any
    signature is checked (verify_snapshot). Raises SignatureError on an answer of the
    wrong shape (entries out of tag order or repeated too) or a delta that does not apply
    to `current`. Costs the delta's buckets
    for a delta; nothing held is changed."""
    if isinstance(answer, StreamedSnapshot):
        return _full(answer.header, answer.entries)
    kind = answer.WhichOneof("body")
    if kind == "full":
        full = answer.full
        pairs = ((e.tag, e.sealed) for e in full.entries)  # in tag order, as streamed
        return _full(full, snapshot_stream.build_in_order(pairs, current.entries))
    if kind == "delta":
        delta = answer.delta
        if not current.verified:
            raise SignatureError("a delta cannot apply to a snapshot that is not verified")
        if delta.from_version != current.version or delta.epoch != current.epoch:
            raise SignatureError(
                f"delta from version {delta.from_version} does not apply to version "
                f"{current.version}"
            )
        added_pairs = [(e.tag, e.sealed) for e in delta.added]
        removed = list(delta.removed_tags)
        entries = current.entries.apply(added_pairs, removed)  # refuses a tag added twice
        added = dict(added_pairs)
        key = _epoch_key(delta.epoch_public_key)
        snap = LocalSnapshot(
            delta.epoch, delta.to_version, entries, key, (added, removed), delta.signature
        )
        return snap, delta.suite
    raise SignatureError("snapshot response carries neither a snapshot nor a delta")


def verify_snapshot(snap: LocalSnapshot, suite: str, registry_key: bytes) -> None:
    """Raise SignatureError unless `registry_key` signed the snapshot's root and count at
    its epoch, version and epoch key (docs/snapshot.md)."""
    snapshot.verify_root(
        registry_key,
        suite,
        snap.epoch,
        snap.version,
        len(snap.entries),
        snap.root,
        snap.signature,
        snap.public_key,
    )


def apply_response(current: LocalSnapshot, answer: Answer, registry_key: bytes) -> LocalSnapshot:
    """The snapshot after `answer`, verified; raises SignatureError and keeps nothing."""
    snap, suite = unverified(current, answer)
    verify_snapshot(snap, suite, registry_key)
    return snap


async def assemble(
    chunks: AsyncIterator[registry_pb2.SnapshotChunk],
    held: SnapshotEntries | None = None,
) -> Answer:
    """What a StreamSnapshot stream carries: a GetSnapshotResponse holding its delta, or
    a StreamedSnapshot whose entries were packed as they came (buckets identical to
    those of `held` share its memory). Raises SignatureError on a stream of any other
    shape: chunks out of order, an entry of the wrong shape, tags out of order or
    repeated."""
    delta: registry_pb2.GetSnapshotResponse | None = None
    header: snapshot_pb2.Snapshot | None = None
    builder: snapshot_stream.InOrderBuilder | None = None
    async for chunk in chunks:
        kind = chunk.WhichOneof("body")
        if kind == "delta" and header is None and delta is None:
            delta = registry_pb2.GetSnapshotResponse(delta=chunk.delta)
        elif kind == "header" and header is None and delta is None:
            header = chunk.header
            if len(header.entries):
                raise SignatureError("snapshot stream header carries entries")
            builder = snapshot_stream.InOrderBuilder(held)
        elif kind == "entries" and builder is not None:
            builder.extend((e.tag, e.sealed) for e in chunk.entries.entries)
        else:
            raise SignatureError(f"snapshot stream sent {kind or 'an empty chunk'} out of order")
    if delta is not None:
        return delta
    if header is None or builder is None:
        return registry_pb2.GetSnapshotResponse()  # an empty stream: refused when applied
    return StreamedSnapshot(header, builder.finish())


__all__ = [
    "Answer",
    "LocalSnapshot",
    "StreamedSnapshot",
    "apply_response",
    "assemble",
    "unverified",
    "verify_snapshot",
]
