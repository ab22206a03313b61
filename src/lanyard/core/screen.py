"""The screening crypto of LANYARD-SCREEN-v1 (spec SCREEN-v1 §2-§6), over libsodium.

The agent blinds P = H2G(m) with a fresh scalar r, the registry multiplies by its secret k,
the agent removes r and derives a tag and a status key from Y = k * P. Every function here
is a pure function of its arguments; PyNaCl releases the GIL inside libsodium, so the
batch helpers spread work over threads.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
from nacl import bindings as sodium
from nacl.secret import SecretBox

from lanyard.core.errors import InvalidPoint, InvalidScalar, SealError

__all__ = [
    "NONCE_BYTES",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "SUITE",
    "TAG_BYTES",
    "Blinded",
    "blind",
    "blind_all",
    "check_point",
    "evaluate",
    "evaluate_all",
    "finalize",
    "finalize_all",
    "h2g_digest",
    "hash_to_group",
    "invert_all",
    "lp",
    "multiply",
    "open_sealed",
    "random_scalar",
    "rotate",
    "rotation_delta",
    "scalar_from_seed",
    "seal",
    "status_key",
    "tag",
]

SUITE = "LANYARD-SCREEN-v1"
POINT_BYTES = 32
SCALAR_BYTES = 32
TAG_BYTES = 32
NONCE_BYTES = SecretBox.NONCE_SIZE

_ONE = (1).to_bytes(SCALAR_BYTES, "little")
_H2G_DST = b"lanyard:v1:h2g"
_TAG_DST = b"lanyard:v1:tag"
_STATUS_DST = b"lanyard:v1:status"


def lp(data: bytes) -> bytes:
    """2-byte big-endian length, then the bytes (spec notation)."""
    if len(data) > 0xFFFF:
        raise ValueError(f"lp() takes at most 65535 bytes, got {len(data)}")
    return struct.pack(">H", len(data)) + data


def h2g_digest(message: bytes) -> bytes:
    """u = H(lp("lanyard:v1:h2g") || lp(m)), 64 bytes (spec §2)."""
    return hashlib.sha512(lp(_H2G_DST) + lp(message)).digest()


def hash_to_group(message: bytes) -> bytes:
    """P = add(from_uniform(u[0:32]), from_uniform(u[32:64])) (spec §2)."""
    u = h2g_digest(message)
    return sodium.crypto_core_ed25519_add(
        sodium.crypto_core_ed25519_from_uniform(u[:32]),
        sodium.crypto_core_ed25519_from_uniform(u[32:]),
    )


def random_scalar() -> bytes:
    """A uniformly random non-zero scalar: reduce(64 random bytes) (spec §3)."""
    while True:
        r = sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))
        if any(r):
            return r


def scalar_from_seed(seed: bytes) -> bytes:
    """reduce(SHA-512(seed)): how the test vectors derive their keys from a seed string."""
    return sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(seed).digest())


def check_point(index: int, point: bytes) -> None:
    """Raise InvalidPoint naming `index` unless `point` may be evaluated (spec §3)."""
    if len(point) != POINT_BYTES:
        raise InvalidPoint(index, f"must be {POINT_BYTES} bytes, got {len(point)}")
    if not sodium.crypto_core_ed25519_is_valid_point(point):
        raise InvalidPoint(
            index,
            "is not a valid edwards25519 point (identity, small order, off the curve "
            "or non-canonical)",
        )


def multiply(scalar: bytes, point: bytes, index: int = 0) -> bytes:
    """mul(s, P) = crypto_scalarmult_ed25519_noclamp, with libsodium's refusals wrapped."""
    try:
        return sodium.crypto_scalarmult_ed25519_noclamp(scalar, point)
    except (
        nacl.exceptions.RuntimeError,
        nacl.exceptions.ValueError,
        nacl.exceptions.TypeError,
    ) as exc:
        raise InvalidPoint(index, "was refused by scalar multiplication") from exc


@dataclass(frozen=True, slots=True)
class Blinded:
    """One identity on its way through the blinded round: keep r secret, send B."""

    r: bytes
    blinded: bytes


def blind(message: bytes, r: bytes | None = None) -> Blinded:
    """B = mul(r, H2G(m)) with a fresh r (or the given one, for the vectors) (spec §3)."""
    r = random_scalar() if r is None else r
    return Blinded(r=r, blinded=multiply(r, hash_to_group(message)))


def blind_all(messages: Sequence[bytes], offset: int = 0) -> list[tuple[bytes, bytes]]:
    """blind() over a slice, as (r, B) pairs: what a worker process hands back (the
    offset is the slice's place in the batch; blinding raises nothing index-bound)."""
    return [(b.r, b.blinded) for b in map(blind, messages)]


def evaluate(k: bytes, blinded: bytes, index: int = 0) -> bytes:
    """Z = mul(k, B) after checking B (spec §3): the registry's whole part."""
    check_point(index, blinded)
    return multiply(k, blinded, index)


def evaluate_all(k: bytes, points: Sequence[bytes], offset: int = 0) -> list[bytes]:
    """evaluate() over a slice; `offset` keeps error indexes relative to the whole request."""
    return [evaluate(k, b, offset + i) for i, b in enumerate(points)]


def finalize(r: bytes, evaluated: bytes, index: int = 0) -> bytes:
    """Y = mul(inv(r), Z) = k * P (spec §3). Z is a registry answer, so input too: the
    multiplication refuses every point `check_point` would (spec §3 calls a separate
    `valid` call defence in depth; the registry keeps it on B), raising InvalidPoint."""
    if len(evaluated) != POINT_BYTES:
        raise InvalidPoint(index, f"must be {POINT_BYTES} bytes, got {len(evaluated)}")
    return multiply(sodium.crypto_core_ed25519_scalar_invert(r), evaluated, index)


def invert_all(scalars: Sequence[bytes], offset: int = 0) -> list[bytes]:
    """inv(s) for every scalar with one inversion (Montgomery's trick): prefix products
    forward, one `inv` of the whole product, then unwound backwards; three scalar
    multiplications per scalar instead of an inversion each. Raises InvalidScalar naming
    the index (plus `offset`) of a zero scalar, which has no inverse."""
    mul = sodium.crypto_core_ed25519_scalar_mul
    prefix: list[bytes] = []
    acc = _ONE
    for i, s in enumerate(scalars):
        if len(s) != SCALAR_BYTES or not any(s):
            raise InvalidScalar(offset + i, "is zero or not 32 bytes: it has no inverse")
        prefix.append(acc)
        acc = mul(acc, s)
    if not scalars:
        return []
    inv = sodium.crypto_core_ed25519_scalar_invert(acc)
    out = [b""] * len(scalars)
    for i in range(len(scalars) - 1, -1, -1):
        out[i] = mul(inv, prefix[i])  # inv(s_0 … s_i) · (s_0 … s_{i-1}) = inv(s_i)
        inv = mul(inv, scalars[i])
    return out


def finalize_all(pairs: Sequence[tuple[bytes, bytes]], offset: int = 0) -> list[bytes]:
    """finalize() over (r, Z) pairs with the inverses batched (invert_all); `offset` keeps
    error indexes relative to the whole request."""
    inverses = invert_all([r for r, _ in pairs], offset)
    out = []
    for i, ((_, z), inv) in enumerate(zip(pairs, inverses, strict=True)):
        if len(z) != POINT_BYTES:
            raise InvalidPoint(offset + i, f"must be {POINT_BYTES} bytes, got {len(z)}")
        out.append(multiply(inv, z, offset + i))
    return out


def tag(epoch: int, y: bytes) -> bytes:
    """tag = H(lp("lanyard:v1:tag") || be32(e) || Y)[0:32] (spec §3)."""
    return hashlib.sha512(lp(_TAG_DST) + struct.pack(">I", epoch) + y).digest()[:TAG_BYTES]


def status_key(epoch: int, y: bytes) -> bytes:
    """status_key = H(lp("lanyard:v1:status") || be32(e) || Y)[0:32] (spec §3)."""
    return hashlib.sha512(lp(_STATUS_DST) + struct.pack(">I", epoch) + y).digest()[:32]


def seal(key: bytes, payload: bytes, nonce: bytes | None = None) -> bytes:
    """nonce(24) || crypto_secretbox(payload, nonce, key) (spec §4)."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return bytes(SecretBox(key).encrypt(payload, nonce))


def open_sealed(key: bytes, sealed: bytes) -> bytes:
    """Open a sealed status box; a box that does not open is an error, not a match (§4)."""
    try:
        return SecretBox(key).decrypt(sealed)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError) as exc:
        raise SealError("sealed status box does not open under this status key") from exc


def rotation_delta(k_old: bytes, k_new: bytes) -> bytes:
    """delta = k' * inv(k) mod L (spec §6)."""
    return sodium.crypto_core_ed25519_scalar_mul(
        k_new, sodium.crypto_core_ed25519_scalar_invert(k_old)
    )


def rotate(delta: bytes, y: bytes) -> bytes:
    """Y' = mul(delta, Y) (spec §6)."""
    return multiply(delta, y)
