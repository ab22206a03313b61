"""Building a snapshot's SnapshotEntries from entries that arrive in tag order.

A whole snapshot reaches an agent as a stream of chunks (and comes back out of its store
as rows) already sorted by tag (docs/snapshot.md). Packing each bucket as its entries go
by keeps the peak memory near the packed size (snapshot_tree.ENTRY_BYTES per entry)
instead of holding every entry as a separate object first; an entry of the wrong shape,
a tag out of order or a repeated tag refuses the whole snapshot (SignatureError).
"""

from __future__ import annotations

from collections.abc import Iterable

from lanyard.core import screen
from lanyard.core.errors import SignatureError
from lanyard.core.snapshot_tree import (
    BUCKETS,
    SEALED_BYTES,
    HashTree,
    SnapshotEntries,
    bucket_of,
    check_entry,
    leaf_hash,
)


class InOrderBuilder:
    """Collects (tag, sealed) entries given in strictly increasing tag order; finish()
    returns the SnapshotEntries. Raises SignatureError on a bad shape, a tag out of order
    or a tag repeated; after an error the builder must not be used again.

    With `like` (entries already held, e.g. the snapshot a full download replaces), a
    bucket that comes out byte for byte the same as there shares its bytes object and
    its leaf hash: a whole list replacing a similar one costs memory only for the
    buckets that differ."""

    __slots__ = ("_buckets", "_count", "_current", "_last", "_like", "_records", "_reused")

    def __init__(self, like: SnapshotEntries | None = None) -> None:
        self._buckets: list[bytes] = [b""] * BUCKETS
        self._current = -1  # the bucket being filled
        self._records: list[bytes] = []  # its entries so far, each tag || sealed
        self._last = b""  # the last tag taken
        self._count = 0
        self._like = like
        self._reused: set[int] = set()  # buckets shared with `like`

    def _pack(self, bucket: int, records: list[bytes]) -> bytes:
        packed = b"".join(records)
        if self._like is not None:
            held = self._like.packed(bucket)
            if held == packed:
                self._reused.add(bucket)
                return held
        return packed

    def __len__(self) -> int:
        return self._count

    def extend(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Take the next entries (tag 32 bytes, sealed SEALED_BYTES), in tag order."""
        tag_bytes = screen.TAG_BYTES
        buckets, records = self._buckets, self._records
        current, last, count = self._current, self._last, self._count
        try:
            for tag, sealed in entries:
                if len(tag) != tag_bytes or len(sealed) != SEALED_BYTES:
                    check_entry(tag, sealed)
                if tag <= last:
                    if tag == last:
                        raise SignatureError("the snapshot repeats a tag")
                    raise SignatureError("the snapshot's entries are not in tag order")
                bucket = bucket_of(tag)
                if bucket != current:
                    if records:
                        buckets[current] = self._pack(current, records)
                        records = []
                    current = bucket
                records.append(tag + sealed)
                last = tag
                count += 1
        finally:
            self._records, self._current, self._last, self._count = records, current, last, count

    def finish(self) -> SnapshotEntries:
        """The entries taken, packed per bucket, with their hash tree."""
        if self._records:
            self._buckets[self._current] = self._pack(self._current, self._records)
            self._records = []
        buckets, reused, like = self._buckets, self._reused, self._like
        tree = HashTree()
        tree.update(
            {
                b: like.tree.leaf(b) if like is not None and b in reused else leaf_hash(packed)
                for b, packed in enumerate(buckets)
                if packed
            }
        )
        return SnapshotEntries(buckets, tree, self._count)


def build_in_order(
    entries: Iterable[tuple[bytes, bytes]], like: SnapshotEntries | None = None
) -> SnapshotEntries:
    """SnapshotEntries from entries in strictly increasing tag order (InOrderBuilder)."""
    builder = InOrderBuilder(like)
    builder.extend(entries)
    return builder.finish()


__all__ = ["InOrderBuilder", "build_in_order"]
