"""Every vector of spec/screen-v1r2-vectors.json, byte for byte (spec SCREEN-v1 §8)."""

from __future__ import annotations

from typing import Any

import pytest

from lanyard.core import proof, screen
from lanyard.core.errors import InvalidIdentifier, InvalidPoint, ProofFailed
from lanyard.core.identity import NORMALISATION_REVISION, Kind, message, name_variants, normalize
from tests.spec import load_vectors

VECTORS = load_vectors()
OPRF = VECTORS["oprf"]
K = bytes.fromhex(OPRF["k"])


def test_suite_name_matches() -> None:
    assert VECTORS["suite"] == screen.SUITE
    assert VECTORS["normalisation_revision"] == NORMALISATION_REVISION


def test_vector_file_is_complete() -> None:
    # Guards against a truncated copy silently shrinking what the tests below check.
    assert len(VECTORS["normalize"]) >= 60
    assert len(VECTORS["name_variants"]) >= 13
    assert len(OPRF["cases"]) >= 6
    assert {p["label"] for p in VECTORS["invalid_points"]} >= {
        "identity",
        "small_order",
        "non_canonical",
        "not_on_curve",
        "short",
    }


@pytest.mark.parametrize(
    "case", VECTORS["normalize"], ids=lambda c: f"{c['kind']}:{c['input'][:24]!r}"
)
def test_normalize(case: dict[str, Any]) -> None:
    kind = Kind(case["kind"])
    if "error" in case:
        with pytest.raises(InvalidIdentifier):
            normalize(kind, case["input"])
    else:
        assert normalize(kind, case["input"]) == case["normalized"]
        assert message(kind, case["input"]) == case["message"].encode()


@pytest.mark.parametrize("case", VECTORS["name_variants"], ids=lambda c: c["input"])
def test_name_variants(case: dict[str, Any]) -> None:
    assert name_variants(case["input"]) == case["forms"]


def test_proof() -> None:
    """The `proof` vectors in brief; every case and negative: tests/core/test_proof.py."""
    vec = VECTORS["proof"]
    b = [bytes.fromhex(c["B"]) for c in OPRF["cases"]]
    z = [bytes.fromhex(c["Z"]) for c in OPRF["cases"]]
    made = proof.prove(K, b, z, nonce=bytes.fromhex(vec["nonce"]))
    assert (made.c.hex(), made.s.hex()) == (vec["c"], vec["s"])
    proof.verify(bytes.fromhex(vec["public_key"]), b, z, made)
    z[vec["tampered_index"]] = bytes.fromhex(vec["tampered_Z"])
    with pytest.raises(ProofFailed):
        proof.verify(bytes.fromhex(vec["public_key"]), b, z, made)


def test_key_from_seed() -> None:
    assert screen.scalar_from_seed(OPRF["key_seed"].encode()) == K


@pytest.mark.parametrize("case", OPRF["cases"], ids=lambda c: f"{c['kind']}:{c['input']}")
def test_oprf_case(case: dict[str, Any]) -> None:
    kind = Kind(case["kind"])
    m = message(kind, case["input"])
    assert m == case["message"].encode()
    assert screen.h2g_digest(m).hex() == case["h2g_digest"]
    p = screen.hash_to_group(m)
    assert p.hex() == case["P"]
    r = bytes.fromhex(case["r"])
    blinded = screen.blind(m, r)
    assert blinded.blinded.hex() == case["B"]
    z = screen.evaluate(K, blinded.blinded)
    assert z.hex() == case["Z"]
    y = screen.finalize(r, z)
    assert y.hex() == case["Y"]
    assert screen.multiply(K, p) == y  # Y = k * P without the blinding
    assert screen.tag(1, y).hex() == case["tag_epoch1"]
    assert screen.status_key(1, y).hex() == case["status_key_epoch1"]
    rot = VECTORS["rotation"]
    delta = screen.rotation_delta(K, bytes.fromhex(rot["k_new"]))
    y2 = screen.rotate(delta, y)
    assert y2.hex() == case["Y_rotated"]
    assert screen.tag(rot["to_epoch"], y2).hex() == case["tag_epoch2"]


def test_rotation() -> None:
    rot = VECTORS["rotation"]
    k_new = screen.scalar_from_seed(rot["k_new_seed"].encode())
    assert k_new.hex() == rot["k_new"]
    assert screen.rotation_delta(K, k_new).hex() == rot["delta"]


def test_seal() -> None:
    vec = VECTORS["seal"]
    key = screen.status_key(vec["epoch"], bytes.fromhex(vec["Y"]))
    sealed = screen.seal(key, vec["plaintext_utf8"].encode(), bytes.fromhex(vec["nonce"]))
    assert sealed.hex() == vec["sealed"]
    assert screen.open_sealed(key, sealed) == vec["plaintext_utf8"].encode()


@pytest.mark.parametrize("case", VECTORS["invalid_points"], ids=lambda c: c["label"])
def test_invalid_points_refused(case: dict[str, str]) -> None:
    point = bytes.fromhex(case["point"])
    with pytest.raises(InvalidPoint) as info:
        screen.evaluate(K, point, index=7)
    assert info.value.index == 7
    assert "point 7" in str(info.value)
    # libsodium's own multiplication refuses them too (defence in depth, spec §3).
    with pytest.raises(InvalidPoint):
        screen.multiply(K, point, index=7)
