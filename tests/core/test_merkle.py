"""The report-submission log (lanyard/core/merkle.py) against RFC 6962 §2.1 and RFC 9162.

Known answers come three ways: trees composed by hand from the definition, a slow
reference implementation transcribed from RFC 6962's recursive MTH/PATH/PROOF text, and the
published RFC 6962 test vectors. Then every way a proof can be wrong is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanyard.core import errors, merkle
from lanyard.core.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 40


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [leaf_hash(salt + i.to_bytes(2, "big")) for i in range(n)]


# --- a reference transcribed from RFC 6962 §2.1, slices and recursion and all -------------


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return d[0]
    k = _ref_k(len(d))
    return _sha(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:]))


def _ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _ref_k(len(d))
    if m < k:
        return [*_ref_path(m, d[:k]), _ref_mth(d[k:])]
    return [*_ref_path(m - k, d[k:]), _ref_mth(d[:k])]


def _ref_subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    if m == len(d):
        return [] if complete else [_ref_mth(d)]
    k = _ref_k(len(d))
    if m <= k:
        return [*_ref_subproof(m, d[:k], complete), _ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), _ref_mth(d[:k])]


# --- hashing and hand-composed trees --------------------------------------------------------


def test_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"report") == _sha(b"\x00report")
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == _sha(b"\x01" + a + b)
    assert node_hash(a, b) != node_hash(b, a)
    assert leaf_hash(a + b) != node_hash(a, b)


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert _sha(b"") == EMPTY_ROOT
    assert root([]) == _sha(b"")
    assert MerkleLog().root() == _sha(b"")


def test_small_trees_match_hand_composed_roots() -> None:
    a, b, c, d, e, f, g, h = _leaves(8)
    n = node_hash
    expected = {
        1: a,
        2: n(a, b),
        3: n(n(a, b), c),
        4: n(n(a, b), n(c, d)),
        5: n(n(n(a, b), n(c, d)), e),
        6: n(n(n(a, b), n(c, d)), n(e, f)),
        7: n(n(n(a, b), n(c, d)), n(n(e, f), g)),
        8: n(n(n(a, b), n(c, d)), n(n(e, f), n(g, h))),
    }
    leaves = [a, b, c, d, e, f, g, h]
    for size, want in expected.items():
        assert root(leaves[:size]) == want, size
        assert root(leaves, size) == want, size


def test_hand_composed_proofs() -> None:
    """The worked examples of RFC 6962 §2.1.3, on its 7-leaf tree (leaves a..g here)."""
    a, b, c, d, e, f, g, _ = _leaves(8)
    n = node_hash
    leaves = [a, b, c, d, e, f, g]
    h_ab, h_cd, h_ef = n(a, b), n(c, d), n(e, f)
    h_abcd, h_efg = n(h_ab, h_cd), n(h_ef, g)  # k and l in the RFC
    assert inclusion_proof(leaves, 0) == [b, h_cd, h_efg]
    assert inclusion_proof(leaves, 3) == [c, h_ab, h_efg]
    assert inclusion_proof(leaves, 4) == [f, g, h_abcd]
    assert inclusion_proof(leaves, 6) == [h_ef, h_abcd]
    assert consistency_proof(leaves, 3, 7) == [c, d, h_ab, h_efg]
    assert consistency_proof(leaves, 4, 7) == [h_efg]
    assert consistency_proof(leaves, 6, 7) == [h_ef, g, h_abcd]
    assert inclusion_proof(leaves, 4, tree_size=5) == [h_abcd]


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_root_matches_the_rfc_definition(size: int) -> None:
    leaves = _leaves(size)
    assert root(leaves) == _ref_mth(leaves)


def test_root_and_proofs_of_a_prefix_ignore_later_leaves() -> None:
    leaves = _leaves(MAX_SIZE)
    for size in range(1, MAX_SIZE):
        assert root(leaves, size) == root(leaves[:size])
        assert inclusion_proof(leaves, size - 1, size) == inclusion_proof(leaves[:size], size - 1)


# --- the published RFC 6962 vectors (transparency-dev/merkle, from the CT reference code) ---

CT_LEAF_DATA = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
_H_01 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
_H_23 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
_H_4567 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
_H_4 = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
_H_67 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
_H_45 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
_H_6 = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
# (leaf index, tree size, proof); the Go source counts leaves from 1, these from 0.
CT_INCLUSION = [
    (0, 8, [_H_01, _H_23, _H_4567]),
    (5, 8, [_H_4, _H_67, CT_ROOTS[4]]),
    (2, 3, [CT_ROOTS[2]]),
    (1, 5, [CT_ROOTS[1], _H_23, _H_4]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [_H_01, _H_23, _H_4567]),
    (6, 8, [_H_45, _H_67, CT_ROOTS[4]]),
    (2, 5, [_H_23, _H_4]),
    (6, 7, [_H_45, _H_6, CT_ROOTS[4]]),
]
CT_LEAVES = [leaf_hash(x) for x in CT_LEAF_DATA]


def _ct_root(size: int) -> bytes:
    return bytes.fromhex(CT_ROOTS[size])


def test_roots_match_the_published_vectors() -> None:
    for size in range(len(CT_LEAVES) + 1):
        assert root(CT_LEAVES, size).hex() == CT_ROOTS[size], size


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, proof: list[str]
) -> None:
    assert [p.hex() for p in inclusion_proof(CT_LEAVES, index, size)] == proof
    verify_inclusion(
        CT_LEAVES[index], index, size, [bytes.fromhex(p) for p in proof], _ct_root(size)
    )


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    old: int, new: int, proof: list[str]
) -> None:
    assert [p.hex() for p in consistency_proof(CT_LEAVES, old, new)] == proof
    verify_consistency(old, new, _ct_root(old), _ct_root(new), [bytes.fromhex(p) for p in proof])


# --- every proof of every small tree --------------------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(size: int) -> None:
    leaves = _leaves(size)
    head = root(leaves)
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        assert proof == _ref_path(index, leaves)
        verify_inclusion(leaves[index], index, size, proof, head)


@pytest.mark.parametrize("new", range(1, MAX_SIZE + 1))
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(new: int) -> None:
    leaves = _leaves(new)
    new_root = root(leaves)
    for old in range(1, new + 1):
        proof = consistency_proof(leaves, old, new)
        assert proof == _ref_subproof(old, leaves, True)
        verify_consistency(old, new, root(leaves, old), new_root, proof)


def test_consistency_from_the_empty_tree() -> None:
    leaves = _leaves(5)
    assert consistency_proof(leaves, 0, 5) == []
    verify_consistency(0, 5, EMPTY_ROOT, root(leaves), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


# --- inclusion: every way to be wrong -------------------------------------------------------


def _accepts(verify: Callable[..., None], *args: object) -> bool:
    try:
        verify(*args)
    except ProofError:
        return False
    return True


def _refused(check: Callable[[], object], match: str | None = None) -> None:
    with pytest.raises(ProofError, match=match):
        check()


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], head: bytes, leaf: bytes
) -> dict[str, tuple[bytes, int, int, list[bytes], bytes]]:
    """The transparency-dev/merkle corruption probes, and a few more."""
    other = _sha(b"some other hash")
    probes = {
        "leaf index - 1": (leaf, index - 1, size, proof, head),
        "leaf index + 1": (leaf, index + 1, size, proof, head),
        "leaf index ^ 2": (leaf, index ^ 2, size, proof, head),
        "tree size * 2": (leaf, index, size * 2, proof, head),
        "tree size // 2": (leaf, index, size // 2, proof, head),
        "tampered leaf": (leaf_hash(b"rewritten submission"), index, size, proof, head),
        "empty root": (leaf, index, size, proof, EMPTY_ROOT),
        "other root": (leaf, index, size, proof, other),
        "trailing hash": (leaf, index, size, [*proof, other], head),
        "trailing root": (leaf, index, size, [*proof, head], head),
        "preceding hash": (leaf, index, size, [other, *proof], head),
        "preceding root": (leaf, index, size, [head, *proof], head),
        "short leaf hash": (leaf[:31], index, size, proof, head),
        "short root": (leaf, index, size, proof, head[:31]),
    }
    if proof:
        probes["truncated"] = (leaf, index, size, proof[:-1], head)
        probes["first dropped"] = (leaf, index, size, proof[1:], head)
        probes["short element"] = (leaf, index, size, [proof[0][:31], *proof[1:]], head)
        for i in range(len(proof)):
            flipped = [*proof]
            flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
            probes[f"flipped bit in element {i}"] = (leaf, index, size, flipped, head)
    if len(proof) > 1:
        probes["swapped elements"] = (leaf, index, size, [proof[1], proof[0], *proof[2:]], head)
        probes["inserted hash"] = (leaf, index, size, [proof[0], other, *proof[1:]], head)
    return probes


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_corrupted_inclusion_proof_is_refused(size: int) -> None:
    leaves = _leaves(size)
    head = root(leaves)
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        probes = _inclusion_probes(index, size, proof, head, leaves[index])
        accepted = [name for name, args in probes.items() if _accepts(verify_inclusion, *args)]
        assert accepted == [], f"leaf {index} of {size}"


def test_a_neighbours_leaf_is_refused() -> None:
    leaves = _leaves(9)
    proof = inclusion_proof(leaves, 3)
    _refused(lambda: verify_inclusion(leaves[2], 3, 9, proof, root(leaves)), "does not lead")


def test_inclusion_errors_say_what_was_wrong() -> None:
    leaves = _leaves(8)
    head, proof = root(leaves), inclusion_proof(leaves, 3)
    _refused(lambda: verify_inclusion(leaves[3], 8, 8, proof, head), "out of range")
    _refused(lambda: verify_inclusion(leaves[3], -1, 8, proof, head), "out of range")
    _refused(lambda: verify_inclusion(leaves[3], 0, 0, [], EMPTY_ROOT), "at least 1 leaf")
    _refused(
        lambda: verify_inclusion(leaves[3], 3, 8, proof[:2], head), "must hold 3 hashes, got 2"
    )
    _refused(lambda: verify_inclusion(leaves[3], 3, 8, [*proof, head], head), "got 4")
    _refused(lambda: verify_inclusion(leaves[3], 3, 8, proof, head[:-1]), "root must be 32 bytes")
    _refused(lambda: verify_inclusion(b"", 3, 8, proof, head), "leaf hash must be 32 bytes, got 0")
    _refused(lambda: verify_inclusion(leaves[4], 3, 8, proof, head), "does not lead to the root")
    short = [proof[0], proof[1][:31], proof[2]]
    _refused(lambda: verify_inclusion(leaves[3], 3, 8, short, head), "proof hash 1 must be 32")


def test_proof_error_is_a_core_error() -> None:
    assert issubclass(ProofError, errors.Error)


# --- consistency: every way to be wrong -----------------------------------------------------


def _consistency_probes(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> dict[str, tuple[int, int, bytes, bytes, list[bytes]]]:
    other = _sha(b"some other hash")
    probes = {
        "old size - 1": (old - 1, new, old_root, new_root, proof),
        "old size + 1": (old + 1, new, old_root, new_root, proof),
        "old size ^ 2": (old ^ 2, new, old_root, new_root, proof),
        "new size * 2": (old, new * 2, old_root, new_root, proof),
        "new size // 2": (old, new // 2, old_root, new_root, proof),
        "wrong old root": (old, new, other, new_root, proof),
        "wrong new root": (old, new, old_root, other, proof),
        "swapped roots": (old, new, new_root, old_root, proof),
        "empty proof": (old, new, old_root, new_root, []),
        "trailing hash": (old, new, old_root, new_root, [*proof, other]),
        "trailing old root": (old, new, old_root, new_root, [*proof, old_root]),
        "trailing new root": (old, new, old_root, new_root, [*proof, new_root]),
        "preceding hash": (old, new, old_root, new_root, [other, *proof]),
        "preceding old root": (old, new, old_root, new_root, [old_root, *proof]),
        "preceding new root": (old, new, old_root, new_root, [new_root, *proof]),
        "preceding first element": (old, new, old_root, new_root, [proof[0], *proof]),
        "truncated": (old, new, old_root, new_root, proof[:-1]),
        "short element": (old, new, old_root, new_root, [proof[0][:31], *proof[1:]]),
    }
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes[f"flipped bit in element {i}"] = (old, new, old_root, new_root, flipped)
    if len(proof) > 1:
        probes["swapped elements"] = (
            old,
            new,
            old_root,
            new_root,
            [proof[1], proof[0], *proof[2:]],
        )
    return probes


@pytest.mark.parametrize("new", range(2, MAX_SIZE + 1))
def test_every_corrupted_consistency_proof_is_refused(new: int) -> None:
    leaves = _leaves(new)
    new_root = root(leaves)
    for old in range(1, new):
        proof = consistency_proof(leaves, old, new)
        probes = _consistency_probes(old, new, root(leaves, old), new_root, proof)
        accepted = [name for name, args in probes.items() if _accepts(verify_consistency, *args)]
        assert accepted == [], f"{old} -> {new}"


def test_a_rewritten_old_leaf_breaks_consistency() -> None:
    leaves = _leaves(20)
    old_root = root(leaves, 13)
    rewritten = [*leaves]
    rewritten[7] = leaf_hash(b"quietly rewritten")
    proof = consistency_proof(rewritten, 13, 20)
    _refused(lambda: verify_consistency(13, 20, old_root, root(rewritten), proof), "old root")


def test_consistency_errors_say_what_was_wrong() -> None:
    leaves = _leaves(8)
    r5, r8 = root(leaves, 5), root(leaves)
    proof = consistency_proof(leaves, 5, 8)
    _refused(lambda: verify_consistency(8, 5, r8, r5, proof), "8 is larger than new tree size 5")
    _refused(lambda: verify_consistency(-1, 5, r8, r5, proof), "must not be negative")
    _refused(lambda: verify_consistency(5, 8, r5, r8, proof[:-1]), "must hold")
    _refused(lambda: verify_consistency(5, 8, r5, r8, []), "must hold")
    _refused(lambda: verify_consistency(5, 8, r5, r8, [*proof, r8]), "must hold")
    _refused(lambda: verify_consistency(5, 8, r5, r8, [*proof[:-1], r8[:31]]), "proof hash")
    _refused(lambda: verify_consistency(5, 8, r5, r8[:31], proof), "new root must be 32 bytes")
    _refused(lambda: verify_consistency(5, 8, r8, r8, proof), "old root")
    _refused(lambda: verify_consistency(5, 8, r5, r5, proof), "new root")
    _refused(lambda: verify_consistency(8, 8, r8, r8, [r8]), "must be empty")
    _refused(lambda: verify_consistency(8, 8, r8, r5, []), "different roots")
    _refused(lambda: verify_consistency(8, 8, r5, r8, []), "different roots")  # either order
    _refused(lambda: verify_consistency(0, 8, r5, r8, []), "empty tree")
    _refused(lambda: verify_consistency(0, 8, EMPTY_ROOT, r8, [r8]), "must be empty")


def test_proof_generators_refuse_impossible_requests() -> None:
    leaves = _leaves(6)
    _refused(lambda: inclusion_proof(leaves, 6), "out of range for a tree of size 6")
    _refused(lambda: inclusion_proof(leaves, 2, tree_size=2), "out of range")
    _refused(lambda: inclusion_proof([], 0), "out of range")
    _refused(lambda: inclusion_proof(leaves, 0, tree_size=7), "between 0 and the 6 leaves")
    _refused(lambda: root(leaves, 7), "between 0 and the 6 leaves")
    _refused(lambda: root(leaves, -1), "between 0")
    _refused(lambda: consistency_proof(leaves, 4, 3), "not between 0 and new tree size 3")
    _refused(lambda: consistency_proof(leaves, -1, 6), "old tree size -1 is not between 0")
    _refused(lambda: consistency_proof(leaves, 2, 7), "between 0 and the 6 leaves")
    _refused(lambda: root([b"raw report bytes"]), "not leaf data")


# --- the in-memory log ----------------------------------------------------------------------


def test_log_appends_and_proves() -> None:
    log = MerkleLog()
    heads = [log.root()]
    for i in range(25):
        assert log.append(f"submission {i}".encode()) == i
        assert log.size == i + 1
        heads.append(log.root())
    assert log.leaf_hash(3) == leaf_hash(b"submission 3")
    for size in range(1, 26):
        assert log.root(size) == heads[size]
        for index in range(size):
            verify_inclusion(log.leaf_hash(index), index, size, log.proof(index, size), heads[size])
        for old in range(size + 1):
            verify_consistency(old, size, heads[old], heads[size], log.consistency(old, size))
    verify_consistency(11, 25, heads[11], log.root(), log.consistency(11))
    verify_inclusion(leaf_hash(b"submission 24"), 24, 25, log.proof(24), log.root())


def test_log_rebuilt_from_stored_hashes_is_the_same_log() -> None:
    log = MerkleLog()
    for i in range(17):
        log.append(bytes([i]))
    stored = [log.leaf_hash(i) for i in range(log.size)]
    rebuilt = MerkleLog(stored)
    assert rebuilt.size == 17
    assert rebuilt.root() == log.root() == root(stored)
    assert rebuilt.proof(9) == log.proof(9)


def test_log_refuses_what_it_cannot_hold_or_give() -> None:
    _refused(lambda: MerkleLog([leaf_hash(b"ok"), b"not a hash"]), "leaf hash 1 must be 32")
    log = MerkleLog([leaf_hash(b"only")])
    _refused(lambda: log.leaf_hash(1), "out of range")
    _refused(lambda: log.proof(0, tree_size=2), "between 0 and the 1 leaves")
    _refused(lambda: log.consistency(2), "not between 0")


def test_large_log() -> None:
    """~100k leaves, as many submissions as the WG might log in years; O(n) per call."""
    size = 100_000
    log = MerkleLog(leaf_hash(i.to_bytes(4, "big")) for i in range(size))
    head = log.root()
    assert head == merkle.root([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])
    for index in (0, 1, 65_535, 65_536, 77_777, size - 1):
        verify_inclusion(log.leaf_hash(index), index, size, log.proof(index), head)
    verify_consistency(65_536, size, log.root(65_536), head, log.consistency(65_536))
    verify_consistency(99_999, size, log.root(99_999), head, log.consistency(99_999))


# --- properties -----------------------------------------------------------------------------

leaf_data = st.lists(st.binary(max_size=24), min_size=1, max_size=70)


@given(data=leaf_data, draw=st.data())
@settings(max_examples=200)
def test_any_inclusion_proof_verifies_and_any_flipped_byte_breaks_it(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(x) for x in data]
    index = draw.draw(st.integers(0, len(leaves) - 1), label="index")
    head = root(leaves)
    proof = inclusion_proof(leaves, index)
    verify_inclusion(leaf_hash(data[index]), index, len(leaves), proof, head)
    if not proof:
        return
    element = draw.draw(st.integers(0, len(proof) - 1), label="element")
    at = draw.draw(st.integers(0, 31), label="byte")
    mask = draw.draw(st.integers(1, 255), label="mask")
    tampered = [*proof]
    tampered[element] = (
        proof[element][:at] + bytes([proof[element][at] ^ mask]) + proof[element][at + 1 :]
    )
    _refused(lambda: verify_inclusion(leaves[index], index, len(leaves), tampered, head))


@given(data=leaf_data, draw=st.data())
@settings(max_examples=200)
def test_any_consistency_proof_verifies_and_any_flipped_byte_breaks_it(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(x) for x in data]
    new = len(leaves)
    old = draw.draw(st.integers(1, new), label="old size")
    old_root, new_root = root(leaves, old), root(leaves)
    proof = consistency_proof(leaves, old, new)
    verify_consistency(old, new, old_root, new_root, proof)
    if not proof:
        assert old == new
        return
    element = draw.draw(st.integers(0, len(proof) - 1), label="element")
    at = draw.draw(st.integers(0, 31), label="byte")
    mask = draw.draw(st.integers(1, 255), label="mask")
    tampered = [*proof]
    tampered[element] = (
        proof[element][:at] + bytes([proof[element][at] ^ mask]) + proof[element][at + 1 :]
    )
    _refused(lambda: verify_consistency(old, new, old_root, new_root, tampered))


hashes = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))


@given(
    leaf=hashes,
    index=st.integers(-3, 80),
    size=st.integers(-3, 80),
    proof=st.lists(hashes, max_size=10),
    head=hashes,
)
def test_verify_inclusion_raises_only_proof_error_on_junk(
    leaf: bytes, index: int, size: int, proof: list[bytes], head: bytes
) -> None:
    if _accepts(verify_inclusion, leaf, index, size, proof, head):
        # Only the one-leaf tree, whose root is its leaf hash, can be hit by chance.
        assert (index, size, proof, len(leaf)) == (0, 1, [], 32)
        assert leaf == head


@given(
    old=st.integers(-3, 80),
    new=st.integers(-3, 80),
    old_root=hashes,
    new_root=hashes,
    proof=st.lists(hashes, min_size=1, max_size=10),
)
def test_verify_consistency_raises_only_proof_error_on_junk(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    _refused(lambda: verify_consistency(old, new, old_root, new_root, proof))
