"""Finalisation with batched inverses (Montgomery's trick) equals finalising one by one,
and still refuses what it must: a zero scalar, and every invalid Z (spec SCREEN-v1 §3)."""

from __future__ import annotations

from typing import Any

import pytest
from nacl import bindings as sodium

from lanyard.core import screen
from lanyard.core.errors import InvalidPoint, InvalidScalar
from tests.spec import load_vectors

VECTORS = load_vectors()
K = screen.scalar_from_seed(VECTORS["oprf"]["key_seed"].encode())


@pytest.mark.parametrize("count", [1, 2, 3, 17, 200])
def test_batched_inverses_equal_one_by_one(count: int) -> None:
    scalars = [screen.random_scalar() for _ in range(count)]
    assert screen.invert_all(scalars) == [
        sodium.crypto_core_ed25519_scalar_invert(s) for s in scalars
    ]


def test_batched_finalise_equals_the_vectors_and_one_by_one() -> None:
    cases = VECTORS["oprf"]["cases"]
    pairs = [
        (
            bytes.fromhex(c["r"]),
            screen.evaluate(K, bytes.fromhex(c["B"])),
        )
        for c in cases
    ]
    batched = screen.finalize_all(pairs)
    assert [y.hex() for y in batched] == [c["Y"] for c in cases]
    assert batched == [screen.finalize(r, z) for r, z in pairs]
    assert screen.finalize_all([]) == []


def test_zero_scalar_is_refused_by_index() -> None:
    scalars = [screen.random_scalar(), bytes(32), screen.random_scalar()]
    with pytest.raises(InvalidScalar) as info:
        screen.invert_all(scalars, offset=10)
    assert info.value.index == 11
    assert "scalar 11" in str(info.value)
    z = screen.blind(b"lanyard:v1:name:x").blinded
    with pytest.raises(InvalidScalar):
        screen.finalize_all([(screen.random_scalar(), z), (bytes(32), z)])


@pytest.mark.parametrize("case", VECTORS["invalid_points"], ids=lambda c: c["label"])
def test_invalid_z_is_refused_without_a_separate_check(case: dict[str, Any]) -> None:
    point = bytes.fromhex(case["point"])
    r = screen.random_scalar()
    with pytest.raises(InvalidPoint) as info:
        screen.finalize(r, point, index=3)
    assert info.value.index == 3
    good = screen.blind(b"lanyard:v1:name:y").blinded
    with pytest.raises(InvalidPoint) as batch_info:
        screen.finalize_all([(r, good), (screen.random_scalar(), point)], offset=5)
    assert batch_info.value.index == 6
