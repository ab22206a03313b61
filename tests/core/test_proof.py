"""Spec SCREEN-v1 §3a: the `proof` vectors byte for byte, and every way a proof must fail."""

from __future__ import annotations

import pytest

from lanyard.core import proof, screen
from lanyard.core.errors import ProofFailed
from tests.spec import load_vectors

VECTORS = load_vectors()
PROOF = VECTORS["proof"]
CASES = VECTORS["oprf"]["cases"]
K = bytes.fromhex(VECTORS["oprf"]["k"])
PK = bytes.fromhex(PROOF["public_key"])
B = [bytes.fromhex(c["B"]) for c in CASES]
Z = [bytes.fromhex(c["Z"]) for c in CASES]
GOOD = proof.Proof(bytes.fromhex(PROOF["c"]), bytes.fromhex(PROOF["s"]))


def test_constants_are_the_spec_strings() -> None:
    assert proof.HASH_TO_SCALAR_DST == b"HashToScalar-LANYARD-SCREEN-v1"
    assert proof.SEED_DST == b"Seed-LANYARD-SCREEN-v1"
    assert proof.COMPOSITE_LABEL == b"Composite"
    assert proof.CHALLENGE_LABEL == b"Challenge"
    assert proof.PROOF_BYTES == 64


def test_vector_keys_and_batch() -> None:
    assert len(CASES) >= 6
    assert screen.scalar_from_seed(b"lanyard test key 1") == K
    assert screen.scalar_from_seed(b"lanyard test proof nonce").hex() == PROOF["nonce"]
    assert proof.public_key(K) == PK


def test_composites_match_the_vectors() -> None:
    whole = proof.composite_part(proof.seed(PK), B, Z, 0, with_z=True)
    assert whole.m.hex() == PROOF["M"]
    assert whole.z is not None
    assert whole.z.hex() == PROOF["Z"]
    # The prover's shortcut Zc = k * Mc gives the same point.
    assert screen.multiply(K, whole.m).hex() == PROOF["Z"]


def test_composites_split_over_slices_match_the_whole() -> None:
    seed = proof.seed(PK)
    parts = [proof.composite_part(seed, B[a:b], Z[a:b], a) for a, b in ((0, 2), (2, 5), (5, 6))]
    combined = proof.combine(list(reversed(parts)))
    assert combined.m.hex() == PROOF["M"]
    assert combined.z is not None
    assert combined.z.hex() == PROOF["Z"]


def test_prove_with_the_vector_nonce_gives_c_and_s() -> None:
    made = proof.prove(K, B, Z, nonce=bytes.fromhex(PROOF["nonce"]))
    assert made.c.hex() == PROOF["c"]
    assert made.s.hex() == PROOF["s"]
    assert made.to_bytes() == GOOD.c + GOOD.s


def test_the_vector_proof_verifies() -> None:
    proof.verify(PK, B, Z, GOOD)


def test_a_fresh_proof_verifies_and_differs() -> None:
    made = proof.prove(K, B, Z)
    proof.verify(PK, B, Z, made)
    assert made != GOOD


def test_tampered_answer_fails() -> None:
    i = PROOF["tampered_index"]
    k_new = screen.scalar_from_seed(b"lanyard test key 2")
    assert screen.multiply(k_new, B[i]).hex() == PROOF["tampered_Z"]
    tampered = list(Z)
    tampered[i] = bytes.fromhex(PROOF["tampered_Z"])
    with pytest.raises(ProofFailed, match="does not verify"):
        proof.verify(PK, B, tampered, GOOD)


def test_non_canonical_s_is_refused() -> None:
    s = bytes.fromhex(PROOF["non_canonical_s"])
    assert int.from_bytes(s, "little") == int.from_bytes(GOOD.s, "little") + proof.L
    with pytest.raises(ProofFailed, match="not reduced"):
        proof.verify(PK, B, Z, proof.Proof(GOOD.c, s))


@pytest.mark.parametrize("which", ["c", "s"])
@pytest.mark.parametrize("byte", [0, 17, 31])
def test_a_flipped_byte_in_c_or_s_fails(which: str, byte: int) -> None:
    raw = bytearray(getattr(GOOD, which))
    raw[byte] ^= 0x01
    bad = proof.Proof(bytes(raw), GOOD.s) if which == "c" else proof.Proof(GOOD.c, bytes(raw))
    with pytest.raises(ProofFailed):
        proof.verify(PK, B, Z, bad)


def test_wrong_public_key_fails() -> None:
    other = proof.public_key(screen.scalar_from_seed(b"lanyard test key 2"))
    with pytest.raises(ProofFailed, match="does not verify"):
        proof.verify(other, B, Z, GOOD)


def test_public_key_that_is_no_point_fails() -> None:
    with pytest.raises(ProofFailed, match="public key"):
        proof.verify(bytes(32), B, Z, GOOD)


def test_reordered_points_fail() -> None:
    with pytest.raises(ProofFailed, match="does not verify"):
        proof.verify(PK, [B[1], B[0], *B[2:]], [Z[1], Z[0], *Z[2:]], GOOD)


def test_truncated_batch_fails() -> None:
    with pytest.raises(ProofFailed, match="does not verify"):
        proof.verify(PK, B[:-1], Z[:-1], GOOD)


def test_one_evaluated_point_missing_fails() -> None:
    with pytest.raises(ProofFailed, match="evaluated points for"):
        proof.verify(PK, B, Z[:-1], GOOD)


def test_empty_batch_is_invalid() -> None:
    with pytest.raises(ProofFailed, match="1 to 65535"):
        proof.verify(PK, [], [], GOOD)


@pytest.mark.parametrize("length", [0, 31, 63, 65])
def test_truncated_or_long_proof_bytes_are_refused(length: int) -> None:
    data = (GOOD.to_bytes() * 2)[:length]
    with pytest.raises(ProofFailed, match="64 bytes"):
        proof.Proof.from_bytes(data)
    assert proof.Proof.from_bytes(GOOD.to_bytes()) == GOOD


def test_short_scalar_is_refused() -> None:
    with pytest.raises(ProofFailed, match="32 bytes"):
        proof.verify(PK, B, Z, proof.Proof(GOOD.c[:31], GOOD.s))


def test_evaluated_point_that_is_no_point_fails() -> None:
    bad = list(Z)
    bad[3] = bytes(32)
    with pytest.raises(ProofFailed, match="evaluated point 3"):
        proof.verify(PK, B, bad, GOOD)
