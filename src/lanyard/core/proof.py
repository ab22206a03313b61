"""Verifiable evaluation: the batched DLEQ proof of spec SCREEN-v1 §3a.

The registry proves, for a whole Evaluate batch at once, that every Z[i] = k * B[i] with
the same k whose public key pk = k * G it published in the signed snapshot. The shape is
RFC 9497 §2.2 (VOPRF's GenerateProof / VerifyProof with composites), over this suite's
group: edwards25519 through libsodium, with this suite's own domain-separation strings.
An agent that accepted an unproven batch could be told "clear" for everyone by a registry
using another key; so no point of a batch whose proof fails may be finalised.

The per-point work (one composite weight and one or two scalar multiplications per point)
is split into slices (`composite_part`) so that callers can spread it over threads like
the evaluation itself; `combine` adds the partial sums. PyNaCl releases the GIL inside
libsodium.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import nacl.exceptions
from nacl import bindings as sodium

from lanyard.core.blinding import run_chunked
from lanyard.core.errors import ProofFailed
from lanyard.core.screen import POINT_BYTES, SCALAR_BYTES, SUITE, evaluate_all, lp

__all__ = [
    "CHALLENGE_LABEL",
    "COMPOSITE_LABEL",
    "HASH_TO_SCALAR_DST",
    "MAX_BATCH",
    "PROOF_BYTES",
    "SEED_DST",
    "Composite",
    "L",
    "Proof",
    "challenge",
    "combine",
    "composite_part",
    "evaluate_slice",
    "finish_proof",
    "hash_to_scalar",
    "prove",
    "public_key",
    "seed",
    "verify",
    "verify_batch",
    "verify_composite",
    "verify_slice",
]

# The group order of edwards25519's prime-order subgroup.
L = 2**252 + 27742317777372353535851937790883648493
HASH_TO_SCALAR_DST = b"HashToScalar-" + SUITE.encode()  # "HashToScalar-LANYARD-SCREEN-v1"
SEED_DST = b"Seed-" + SUITE.encode()  # "Seed-LANYARD-SCREEN-v1"
COMPOSITE_LABEL = b"Composite"
CHALLENGE_LABEL = b"Challenge"
PROOF_BYTES = 2 * SCALAR_BYTES  # c || s
MAX_BATCH = 0xFFFF  # be16(i) numbers the points of one batch

_SODIUM_ERRORS = (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, TypeError)


@dataclass(frozen=True, slots=True)
class Proof:
    """The pair (c, s) of §3a: two 32-byte little-endian scalars, 64 bytes on the wire."""

    c: bytes
    s: bytes

    def to_bytes(self) -> bytes:
        return self.c + self.s

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        """Split c || s; raises ProofFailed unless exactly 64 bytes came."""
        if len(data) != PROOF_BYTES:
            raise ProofFailed(f"proof must be {PROOF_BYTES} bytes (c || s), got {len(data)}")
        return cls(data[:SCALAR_BYTES], data[SCALAR_BYTES:])


@dataclass(frozen=True, slots=True)
class Composite:
    """Partial or whole composites: M = sum d[i] * B[i], Z = sum d[i] * Z[i] (Z is None
    when the prover takes Zc = k * Mc instead)."""

    m: bytes
    z: bytes | None


def hash_to_scalar(data: bytes) -> bytes:
    """HashToScalar(x) = reduce(H(lp("HashToScalar-LANYARD-SCREEN-v1") || x)) (§3a)."""
    return sodium.crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(lp(HASH_TO_SCALAR_DST) + data).digest()
    )


def _base(scalar: bytes) -> bytes:
    try:
        return sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)
    except _SODIUM_ERRORS as exc:
        raise ProofFailed("a proof scalar is zero") from exc


def _mul(scalar: bytes, point: bytes, what: str) -> bytes:
    try:
        return sodium.crypto_scalarmult_ed25519_noclamp(scalar, point)
    except _SODIUM_ERRORS as exc:
        raise ProofFailed(f"{what} is not a usable edwards25519 point") from exc


def _add(p: bytes, q: bytes, what: str) -> bytes:
    try:
        return sodium.crypto_core_ed25519_add(p, q)
    except _SODIUM_ERRORS as exc:
        raise ProofFailed(f"{what} is not a usable edwards25519 point") from exc


def public_key(k: bytes) -> bytes:
    """pk = base(k): the epoch's 32-byte public key (§3a)."""
    return _base(k)


def seed(pk: bytes) -> bytes:
    """seed = H(lp(pk) || lp("Seed-LANYARD-SCREEN-v1")), 64 bytes (§3a)."""
    return hashlib.sha512(lp(pk) + lp(SEED_DST)).digest()


def _weight(seed_: bytes, index: int, b: bytes, z: bytes) -> bytes:
    return hash_to_scalar(lp(seed_) + struct.pack(">H", index) + lp(b) + lp(z) + COMPOSITE_LABEL)


def _check_lengths(blinded: Sequence[bytes], evaluated: Sequence[bytes], offset: int) -> None:
    if len(blinded) != len(evaluated):
        raise ProofFailed(f"{len(evaluated)} evaluated points for {len(blinded)} blinded ones")
    for i, (b, z) in enumerate(zip(blinded, evaluated, strict=True)):
        if len(b) != POINT_BYTES or len(z) != POINT_BYTES:
            raise ProofFailed(f"point {offset + i} is not {POINT_BYTES} bytes")


def composite_part(
    seed_: bytes,
    blinded: Sequence[bytes],
    evaluated: Sequence[bytes],
    offset: int = 0,
    with_z: bool = True,
) -> Composite:
    """The composites over one slice of a batch whose first point has index `offset`.

    Costs one scalar multiplication per point (two with `with_z`, as a verifier needs).
    Raises ProofFailed on an empty slice, a point of the wrong length or one libsodium
    refuses."""
    if not blinded:
        raise ProofFailed("a proof covers 1 to 65535 points, got an empty slice")
    _check_lengths(blinded, evaluated, offset)
    if offset + len(blinded) > MAX_BATCH:
        raise ProofFailed(f"a proof covers at most {MAX_BATCH} points")
    m: bytes | None = None
    zc: bytes | None = None
    for i, (b, z) in enumerate(zip(blinded, evaluated, strict=True)):
        d = _weight(seed_, offset + i, b, z)
        mb = _mul(d, b, f"blinded point {offset + i}")
        m = mb if m is None else _add(m, mb, "the composite M")
        if with_z:
            mz = _mul(d, z, f"evaluated point {offset + i}")
            zc = mz if zc is None else _add(zc, mz, "the composite Z")
    assert m is not None
    return Composite(m, zc)


def combine(parts: Sequence[Composite]) -> Composite:
    """Add partial composites (in any order: point addition commutes)."""
    if not parts:
        raise ProofFailed("a proof covers 1 to 65535 points, got none")
    m, z = parts[0].m, parts[0].z
    for part in parts[1:]:
        m = _add(m, part.m, "the composite M")
        z = _add(z, part.z, "the composite Z") if z is not None and part.z is not None else None
    return Composite(m, z)


def challenge(pk: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> bytes:
    """c = HashToScalar(lp(pk) || lp(Mc) || lp(Zc) || lp(t2) || lp(t3) || "Challenge")."""
    return hash_to_scalar(lp(pk) + lp(m) + lp(z) + lp(t2) + lp(t3) + CHALLENGE_LABEL)


def _random_nonzero_scalar() -> bytes:
    while True:
        n = sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))
        if any(n):
            return n


def finish_proof(k: bytes, pk: bytes, m: bytes, nonce: bytes | None = None) -> Proof:
    """The prover's constant part, given Mc: Zc = k * Mc, t2, t3, c and s (§3a).

    `nonce` is for the vectors only; a fresh one is drawn otherwise (and again in the
    negligible case that c or s comes out zero)."""
    z = _mul(k, m, "the composite M")
    while True:
        n = nonce if nonce is not None else _random_nonzero_scalar()
        t2 = _base(n)
        t3 = _mul(n, m, "the composite M")
        c = challenge(pk, m, z, t2, t3)
        s = sodium.crypto_core_ed25519_scalar_sub(n, sodium.crypto_core_ed25519_scalar_mul(c, k))
        if (any(c) and any(s)) or nonce is not None:
            return Proof(c, s)


def prove(
    k: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], nonce: bytes | None = None
) -> Proof:
    """The §3a proof that every evaluated[i] = k * blinded[i], in one thread."""
    pk = public_key(k)
    return finish_proof(k, pk, composite_part(seed(pk), blinded, evaluated, 0, False).m, nonce)


def _canonical_scalar(value: bytes, name: str) -> None:
    if len(value) != SCALAR_BYTES:
        raise ProofFailed(f"proof scalar {name} must be {SCALAR_BYTES} bytes, got {len(value)}")
    if int.from_bytes(value, "little") >= L:
        raise ProofFailed(f"proof scalar {name} is not reduced below the group order")


def verify_composite(pk: bytes, composite: Composite, proof: Proof) -> None:
    """The verifier's constant part, given both composites; raises ProofFailed."""
    _canonical_scalar(proof.c, "c")
    _canonical_scalar(proof.s, "s")
    if len(pk) != POINT_BYTES or not sodium.crypto_core_ed25519_is_valid_point(pk):
        raise ProofFailed("the epoch's public key is not a valid edwards25519 point")
    if composite.z is None:
        raise ProofFailed("the verifier needs the composite Z")
    # A zero c or s is refused by libsodium's base multiplication: the proof then fails.
    t2 = _add(_base(proof.s), _mul(proof.c, pk, "the public key"), "t2")
    t3 = _add(
        _mul(proof.s, composite.m, "the composite M"),
        _mul(proof.c, composite.z, "the composite Z"),
        "t3",
    )
    if challenge(pk, composite.m, composite.z, t2, t3) != proof.c:
        raise ProofFailed("the proof does not verify under the epoch's public key")


def verify(pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], proof: Proof) -> None:
    """Accept iff `proof` shows evaluated[i] = k * blinded[i] for the k behind `pk`, for
    every i, in one thread. Raises ProofFailed naming what failed (never the points)."""
    _canonical_scalar(proof.c, "c")
    _canonical_scalar(proof.s, "s")
    verify_composite(pk, composite_part(seed(pk), blinded, evaluated, 0, True), proof)


async def verify_batch(
    pk: bytes,
    blinded: Sequence[bytes],
    evaluated: Sequence[bytes],
    proof: Proof,
    executor: Executor | None,
) -> None:
    """verify(), with the per-point work spread over `executor` in slices."""
    _canonical_scalar(proof.c, "c")
    _canonical_scalar(proof.s, "s")
    _check_lengths(blinded, evaluated, 0)
    if not blinded:
        raise ProofFailed("a proof covers 1 to 65535 points, got none")
    pairs = list(zip(blinded, evaluated, strict=True))
    work = functools.partial(verify_slice, seed(pk))
    verify_composite(pk, combine(await run_chunked(pairs, work, executor, picklable=True)), proof)


def verify_slice(
    seed_: bytes, pairs: Sequence[tuple[bytes, bytes]], offset: int
) -> list[Composite]:
    """The verifier's composites over one slice of (B, Z) pairs starting at `offset`, as
    a one-item list (run_chunked's shape); module-level so that a worker process can run
    it."""
    return [composite_part(seed_, [b for b, _ in pairs], [z for _, z in pairs], offset)]


def evaluate_slice(
    k: bytes, seed_: bytes, points: Sequence[bytes], offset: int
) -> list[tuple[list[bytes], Composite]]:
    """The prover's per-point work over one slice starting at `offset`: Z = k * B for
    each point, checked (spec §3; InvalidPoint names the index in the whole batch), and
    the slice's composite M (§3a), as a one-item list (run_chunked's shape)."""
    zs = evaluate_all(k, points, offset)
    return [(zs, composite_part(seed_, points, zs, offset, with_z=False))]
