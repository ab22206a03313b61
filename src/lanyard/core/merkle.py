"""An append-only Merkle tree log in the manner of RFC 6962 §2.1 (Certificate Transparency).

The WG's registry logs every encrypted end-of-event report submission as a leaf and signs
each tree head (size, root). An event that keeps a signed tree head and an inclusion proof
for its own submission can show that the WG later dropped or rewrote it; two signed heads
and a consistency proof show that the log only ever grew.

Hashing is RFC 6962 §2.1 with SHA-256 and its domain separation, so that no leaf can pose
as an interior node:

    leaf hash  = SHA-256(0x00 || data)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")

The tree over n > 1 leaves splits at k, the largest power of two strictly less than n.
Proofs are RFC 6962 §2.1.1 PATH and §2.1.2 PROOF/SUBPROOF, walked over index ranges rather
than by recursion over slices; they are verified with the iterative algorithms of RFC 9162
§2.1.3.2 and §2.1.4.2, which accept exactly the proofs RFC 6962 defines. Every function
takes leaf *hashes*, not leaf data: the registry stores and ships the 32-byte hashes, and a
verifier hashes its own submission with `leaf_hash`. Computing a root or a proof costs O(n)
hashes; nothing is cached, so these pure functions stay the single source of truth.

Proofs bind a leaf to a root, not to a tree size: a verifier must take `tree_size` and the
root from the same signed tree head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from lanyard.core import errors

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(errors.Error):
    """A Merkle proof that does not verify, or a proof or root the tree cannot give."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 §2.1 hash of one leaf's data: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 §2.1 hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes], tree_size: int | None = None) -> bytes:
    """MTH over the first `tree_size` leaf hashes (all of them by default), RFC 6962 §2.1."""
    size = _tree_size(leaf_hashes, tree_size)
    _check_leaves(leaf_hashes, size)
    return _range_root(leaf_hashes, 0, size)


def inclusion_proof(
    leaf_hashes: Sequence[bytes], index: int, tree_size: int | None = None
) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 6962 §2.1.1: sibling hashes, leaf level first."""
    size = _tree_size(leaf_hashes, tree_size)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for a tree of size {size}")
    _check_leaves(leaf_hashes, size)
    siblings: list[bytes] = []  # top of the tree first; PATH lists them from the bottom
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append(_range_root(leaf_hashes, mid, hi))
            hi = mid
        else:
            siblings.append(_range_root(leaf_hashes, lo, mid))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 6962 §2.1.2; empty when old_size is 0 or new_size."""
    size = _tree_size(leaf_hashes, new_size)
    if not 0 <= old_size <= size:
        raise ProofError(f"old tree size {old_size} is not between 0 and new tree size {size}")
    _check_leaves(leaf_hashes, size)
    if old_size in (0, size):
        return []
    # SUBPROOF(m, D[lo:hi], complete), unrolled: each step appends one subtree root after
    # the proof of the part that holds the old tree's edge, so the steps come out reversed.
    later: list[bytes] = []
    lo, hi, m, complete = 0, size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            later.append(_range_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            later.append(_range_root(leaf_hashes, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    proof = [] if complete else [_range_root(leaf_hashes, lo, hi)]
    proof.extend(reversed(later))
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` sits at `index` of the tree of `tree_size` leaves with `root`.

    RFC 9162 §2.1.3.2. Raises ProofError saying what did not match; returns None on success.
    """
    if tree_size < 1:
        raise ProofError(f"an inclusion proof needs a tree of at least 1 leaf, got {tree_size}")
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is out of range for a tree of size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_proof(proof)
    expected = _inclusion_length(index, tree_size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof for leaf {index} of a tree of size {tree_size} must hold "
            f"{expected} hashes, got {len(proof)}"
        )
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is high")
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the root of the tree of "
            f"size {tree_size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `new_size` leaves extends the tree of `old_size` leaves.

    RFC 9162 §2.1.4.2, which covers 0 < old_size < new_size. Beyond it: equal sizes need
    equal roots and an empty proof; an old size of 0 needs the empty root (SHA-256("")) and
    an empty proof, and is consistent with any new tree. Raises ProofError on any mismatch.
    """
    if old_size < 0:
        raise ProofError(f"old tree size must not be negative, got {old_size}")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    _check_proof(proof)
    if old_size in (0, new_size):
        if proof:
            raise ProofError(
                f"consistency proof from size {old_size} to size {new_size} must be empty, "
                f"got {len(proof)} hashes"
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("old root of an empty tree must be SHA-256 of the empty string")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two trees of size {old_size} have different roots")
        return
    expected = _consistency_length(old_size, new_size)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from size {old_size} to size {new_size} must hold "
            f"{expected} hashes, got {len(proof)}"
        )
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the new tree is high")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the new tree is high")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root (size {new_size})")


class MerkleLog:
    """Leaf hashes held in memory, in append order, with the functions above over them.

    The registry persists leaves itself and rebuilds a log with `MerkleLog(stored_hashes)`.
    Not safe for concurrent appends from several threads.
    """

    __slots__ = ("_leaves",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = list(leaf_hashes)
        _check_leaves(leaves, len(leaves))
        self._leaves = leaves

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return len(self._leaves)

    def append(self, data: bytes) -> int:
        """Append one leaf's data and return its index."""
        self._leaves.append(leaf_hash(data))
        return len(self._leaves) - 1

    def leaf_hash(self, index: int) -> bytes:
        """The stored hash of the leaf at `index`."""
        if not 0 <= index < len(self._leaves):
            raise ProofError(f"leaf index {index} is out of range for a log of size {self.size}")
        return self._leaves[index]

    def root(self, tree_size: int | None = None) -> bytes:
        """The root of the first `tree_size` leaves (the whole log by default)."""
        return root(self._leaves, tree_size)

    def proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """The inclusion proof of leaf `index` in the first `tree_size` leaves."""
        return inclusion_proof(self._leaves, index, tree_size)

    def consistency(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The consistency proof from the first `old_size` leaves to the first `new_size`."""
        return consistency_proof(
            self._leaves, old_size, self.size if new_size is None else new_size
        )


def _split(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(hashes[lo:hi]) without copying the leaves.

    Pairs nodes level by level and carries an odd last node up unchanged, which builds the
    same tree as the split rule: the left part of every split is a complete subtree.
    """
    if hi - lo == 0:
        return EMPTY_ROOT
    if hi - lo == 1:
        return hashes[lo]
    level = [node_hash(hashes[i], hashes[i + 1]) for i in range(lo, hi - 1, 2)]
    if (hi - lo) & 1:
        level.append(hashes[hi - 1])
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if odd is not None:
            level.append(odd)
    return level[0]


def _inclusion_length(index: int, tree_size: int) -> int:
    """How many hashes PATH(index, D[tree_size]) holds: the levels below the point where
    the leaf's path leaves the tree's right edge, plus the left siblings along that edge."""
    inner = (index ^ (tree_size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(old_size: int, new_size: int) -> int:
    """How many hashes PROOF(old_size, D[new_size]) holds, for 0 < old_size < new_size."""
    shift = (old_size & -old_size).bit_length() - 1  # levels of the old tree's last subtree
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    seed = 0 if old_size == 1 << shift else 1  # the old root itself is never sent
    return seed + inner - shift + border


def _tree_size(leaf_hashes: Sequence[bytes], tree_size: int | None) -> int:
    if tree_size is None:
        return len(leaf_hashes)
    if not 0 <= tree_size <= len(leaf_hashes):
        raise ProofError(
            f"tree size {tree_size} is not between 0 and the {len(leaf_hashes)} leaves held"
        )
    return tree_size


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_hash(element, f"proof hash {i}")


def _check_leaves(leaf_hashes: Sequence[bytes], size: int) -> None:
    for i in range(size):
        if len(leaf_hashes[i]) != HASH_SIZE:
            raise ProofError(
                f"leaf hash {i} must be {HASH_SIZE} bytes, got {len(leaf_hashes[i])}"
                " (pass leaf hashes, not leaf data)"
            )
