"""The snapshot's entries in buckets under one Merkle root (docs/snapshot.md).

A snapshot signature covers a 32-byte root instead of every entry, so that a change costs
the entries it touches, a path of 16 hashes per touched bucket and one signature, and an
agent verifies a delta without reading the whole list again:

* every entry is `tag (32 bytes) || sealed (SEALED_BYTES)`, a fixed ENTRY_BYTES;
* an entry belongs to bucket `b` = the first two bytes of its tag, big-endian (0..65,535);
  tags are keyed hashes, so buckets fill evenly (about 15 entries each at 1,000,000);
* a bucket's leaf is SHA-256(0x00 || its entries in tag order, concatenated); an empty
  bucket's leaf is SHA-256(0x00);
* the tree is the complete binary tree of depth 16 over the 65,536 leaves in bucket order,
  each node SHA-256(0x01 || left || right); its top is the root.

HashTree keeps only the hashes (what the registry holds in memory: its entries stay in its
store). SnapshotEntries keeps the entries too, packed one bytes object per bucket (about
ENTRY_BYTES per entry in memory): what an agent looks its tags up in. Both are changed by
copying the lists of references and replacing what changed (copy on write), so a reader of
the old one is never disturbed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise

from lanyard.core import screen
from lanyard.core.errors import SignatureError

DEPTH = 16
BUCKETS = 1 << DEPTH
PAYLOAD_BYTES = 96  # every StatusPayload is serialised to exactly this length
SEALED_BYTES = screen.NONCE_BYTES + 16 + PAYLOAD_BYTES  # nonce || Poly1305 tag || box
ENTRY_BYTES = screen.TAG_BYTES + SEALED_BYTES

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(packed: bytes) -> bytes:
    """SHA-256(0x00 || packed): the leaf of a bucket whose entries, in tag order, are
    `packed` (a multiple of ENTRY_BYTES; empty for an empty bucket)."""
    return hashlib.sha256(_LEAF + packed).digest()


def leaf_hasher() -> hashlib._Hash:
    """leaf_hash() taken piecewise: update() it with each entry (tag, then sealed) of one
    bucket in tag order, then digest(); for a reader that never holds a whole bucket."""
    return hashlib.sha256(_LEAF)


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an inner node of the tree."""
    return hashlib.sha256(_NODE + left + right).digest()


def _empty_hashes() -> list[bytes]:
    """EMPTY[d]: the hash of an all-empty subtree whose top is at depth d (0 = the root)."""
    out = [leaf_hash(b"")]
    for _ in range(DEPTH):
        out.append(node_hash(out[-1], out[-1]))
    return out[::-1]


EMPTY = _empty_hashes()


def bucket_of(tag: bytes) -> int:
    """The bucket of a 32-byte tag: its first two bytes, big-endian."""
    return (tag[0] << 8) | tag[1]


class HashTree:
    """The Merkle tree over the 65,536 bucket leaves: levels[d] holds the 2**d node hashes
    at depth d (levels[0] = [root], levels[16] = the leaves). 131,071 references, about
    4 MB once every bucket holds something."""

    __slots__ = ("_levels",)

    def __init__(self, levels: list[list[bytes]] | None = None) -> None:
        if levels is None:
            levels = [[EMPTY[d]] * (1 << d) for d in range(DEPTH + 1)]
        self._levels = levels

    def copy(self) -> HashTree:
        """An independent tree with the same hashes (copies references only)."""
        return HashTree([list(level) for level in self._levels])

    @property
    def root(self) -> bytes:
        return self._levels[0][0]

    def leaf(self, bucket: int) -> bytes:
        return self._levels[DEPTH][bucket]

    def update(self, leaves: Mapping[int, bytes]) -> None:
        """Set the leaf hash of each bucket in `leaves` and rehash the paths above them:
        16 hashes per changed bucket at most, fewer where paths meet."""
        if not leaves:
            return
        bottom = self._levels[DEPTH]
        for bucket, value in leaves.items():
            bottom[bucket] = value
        dirty = set(leaves)
        for depth in range(DEPTH, 0, -1):
            below, above = self._levels[depth], self._levels[depth - 1]
            parents = {i >> 1 for i in dirty}
            for p in parents:
                above[p] = node_hash(below[2 * p], below[2 * p + 1])
            dirty = parents

    def inclusion_proof(self, bucket: int) -> list[bytes]:
        """The 16 sibling hashes from the bucket's leaf up to the root (leaf side first):
        with the bucket's entries they rebuild the root (verify_inclusion)."""
        path = []
        index = bucket
        for depth in range(DEPTH, 0, -1):
            path.append(self._levels[depth][index ^ 1])
            index >>= 1
        return path


def root_from_inclusion_proof(bucket: int, packed: bytes, path: list[bytes]) -> bytes:
    """The root that a bucket's packed entries and its inclusion proof lead to."""
    if len(path) != DEPTH:
        raise SignatureError(f"an inclusion proof has {DEPTH} hashes, got {len(path)}")
    node = leaf_hash(packed)
    index = bucket
    for sibling in path:
        node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
        index >>= 1
    return node


def check_entry(tag: bytes, sealed: bytes) -> None:
    """Raise SignatureError unless the entry has the fixed shape (32-byte tag, sealed of
    SEALED_BYTES): a snapshot of any other shape is refused whole."""
    if len(tag) != screen.TAG_BYTES:
        raise SignatureError(f"a snapshot tag must be {screen.TAG_BYTES} bytes, got {len(tag)}")
    if len(sealed) != SEALED_BYTES:
        raise SignatureError(
            f"a sealed snapshot entry must be {SEALED_BYTES} bytes, got {len(sealed)}"
        )


def pack_bucket(records: list[bytes]) -> bytes:
    """Entries (each tag || sealed) of one bucket, sorted by tag and joined. Raises
    SignatureError if a tag repeats."""
    records.sort()
    for a, b in pairwise(records):
        if a[: screen.TAG_BYTES] == b[: screen.TAG_BYTES]:
            raise SignatureError("the snapshot repeats a tag")
    return b"".join(records)


def _unpack(packed: bytes) -> list[bytes]:
    return [packed[i : i + ENTRY_BYTES] for i in range(0, len(packed), ENTRY_BYTES)]


class SnapshotEntries:
    """Every (tag, sealed) entry of a snapshot, one packed bytes object per bucket, with
    the hash tree over them. Treat as immutable: apply() returns a new one."""

    __slots__ = ("_buckets", "_count", "_tree")

    def __init__(self, buckets: list[bytes], tree: HashTree, count: int) -> None:
        self._buckets = buckets
        self._tree = tree
        self._count = count

    @classmethod
    def empty(cls) -> SnapshotEntries:
        return cls([b""] * BUCKETS, HashTree(), 0)

    @classmethod
    def build(cls, entries: Iterable[tuple[bytes, bytes]]) -> SnapshotEntries:
        """From entries in any order. Raises SignatureError on a bad shape or a repeat."""
        grouped: dict[int, list[bytes]] = {}
        count = 0
        for tag, sealed in entries:
            check_entry(tag, sealed)
            grouped.setdefault(bucket_of(tag), []).append(tag + sealed)
            count += 1
        buckets = [b""] * BUCKETS
        leaves: dict[int, bytes] = {}
        for bucket, records in grouped.items():
            packed = pack_bucket(records)
            buckets[bucket] = packed
            leaves[bucket] = leaf_hash(packed)
        tree = HashTree()
        tree.update(leaves)
        return cls(buckets, tree, count)

    @property
    def root(self) -> bytes:
        """The Merkle root over every bucket (32 bytes)."""
        return self._tree.root

    @property
    def tree(self) -> HashTree:
        return self._tree

    def __len__(self) -> int:
        return self._count

    def packed(self, bucket: int) -> bytes:
        """The bucket's entries in tag order, each tag || sealed, joined."""
        return self._buckets[bucket]

    def get(self, tag: bytes) -> bytes | None:
        """The sealed value stored under `tag`, or None."""
        if len(tag) != screen.TAG_BYTES:
            return None
        packed = self._buckets[bucket_of(tag)]
        n = len(packed) // ENTRY_BYTES
        lo, hi = 0, n
        while lo < hi:  # binary search over the bucket's fixed-size records
            mid = (lo + hi) // 2
            start = mid * ENTRY_BYTES
            found = packed[start : start + screen.TAG_BYTES]
            if found < tag:
                lo = mid + 1
            elif found > tag:
                hi = mid
            else:
                return packed[start + screen.TAG_BYTES : start + ENTRY_BYTES]
        return None

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, bytes) and self.get(tag) is not None

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (tag, sealed), in tag order."""
        t = screen.TAG_BYTES
        for packed in self._buckets:
            for i in range(0, len(packed), ENTRY_BYTES):
                yield packed[i : i + t], packed[i + t : i + ENTRY_BYTES]

    def apply(
        self, added: Iterable[tuple[bytes, bytes]], removed: Iterable[bytes]
    ) -> SnapshotEntries:
        """A new SnapshotEntries with `removed` tags dropped (absent ones ignored), then
        `added` entries put (replacing a live entry with the same tag). Costs the touched
        buckets and their paths, plus copying 196,607 references. Raises SignatureError
        on an entry of the wrong shape."""
        changes: dict[int, tuple[dict[bytes, bytes], list[bytes]]] = {}
        for tag in removed:
            if len(tag) != screen.TAG_BYTES:
                raise SignatureError(
                    f"a removed tag must be {screen.TAG_BYTES} bytes, got {len(tag)}"
                )
            changes.setdefault(bucket_of(tag), ({}, []))[1].append(tag)
        for tag, sealed in added:
            check_entry(tag, sealed)
            puts = changes.setdefault(bucket_of(tag), ({}, []))[0]
            if tag in puts:
                raise SignatureError("a snapshot delta adds the same tag twice")
            puts[tag] = sealed
        buckets = list(self._buckets)
        count = self._count
        leaves: dict[int, bytes] = {}
        t = screen.TAG_BYTES
        for bucket, (puts, drops) in changes.items():
            held = {r[:t]: r for r in _unpack(buckets[bucket])}
            before = len(held)
            for tag in drops:
                held.pop(tag, None)
            for tag, sealed in puts.items():
                held[tag] = tag + sealed
            count += len(held) - before
            packed = b"".join(held[k] for k in sorted(held))
            buckets[bucket] = packed
            leaves[bucket] = leaf_hash(packed)
        tree = self._tree.copy()
        tree.update(leaves)
        return SnapshotEntries(buckets, tree, count)


__all__ = [
    "BUCKETS",
    "DEPTH",
    "EMPTY",
    "ENTRY_BYTES",
    "PAYLOAD_BYTES",
    "SEALED_BYTES",
    "HashTree",
    "SnapshotEntries",
    "bucket_of",
    "check_entry",
    "leaf_hash",
    "leaf_hasher",
    "node_hash",
    "pack_bucket",
    "root_from_inclusion_proof",
]
