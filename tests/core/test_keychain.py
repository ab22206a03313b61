"""Signing key hand-overs (core/keychain.py): every way a chain can fail to vouch."""

from __future__ import annotations

import itertools

import nacl.signing
import pytest

from lanyard.core import keychain
from lanyard.core.errors import SignatureError
from lanyard.wire.registry.v1 import snapshot_pb2

AT = "2027-01-01T00:00:00+00:00"


def _keys(n: int) -> list[nacl.signing.SigningKey]:
    return [nacl.signing.SigningKey.generate() for _ in range(n)]


def _pub(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def _chain(ks: list[nacl.signing.SigningKey]) -> list[snapshot_pb2.KeyTransition]:
    pairs = enumerate(itertools.pairwise(ks), start=1)
    return [keychain.make_transition(a, b, i, AT) for i, (a, b) in pairs]


def test_follow_from_any_key_on_the_chain() -> None:
    ks = _keys(3)
    chain = _chain(ks)
    assert keychain.follow(_pub(ks[0]), chain, _pub(ks[2])) == [_pub(k) for k in ks]
    assert keychain.follow(_pub(ks[1]), chain, _pub(ks[2])) == [_pub(ks[1]), _pub(ks[2])]
    assert keychain.follow(_pub(ks[0]), [], _pub(ks[0])) == [_pub(ks[0])]


def test_a_tampered_byte_breaks_either_signature() -> None:
    ks = _keys(2)
    for field in ("old_signature", "new_signature", "at"):
        [t] = _chain(ks)
        if field == "at":
            t.at = "2027-01-02T00:00:00+00:00"
        else:
            sig = bytearray(getattr(t, field))
            sig[5] ^= 1
            setattr(t, field, bytes(sig))
        with pytest.raises(SignatureError):
            keychain.follow(_pub(ks[0]), [t], _pub(ks[1]))


def test_a_new_key_the_old_one_did_not_sign_for_is_refused() -> None:
    good, mallory = _keys(2), _keys(2)
    forged = keychain.make_transition(mallory[0], mallory[1], 1, AT)
    forged.old_public_key = _pub(good[0])  # claims to come from the pinned key
    with pytest.raises(SignatureError, match="old key"):
        keychain.follow(_pub(good[0]), [forged], _pub(mallory[1]))


def test_a_break_a_skip_or_a_wrong_end_is_refused() -> None:
    ks, other = _keys(3), _keys(2)
    chain = _chain(ks)
    spliced = [chain[0], keychain.make_transition(other[0], other[1], 2, AT)]
    with pytest.raises(SignatureError, match="breaks at transition 2"):
        keychain.follow(_pub(ks[0]), spliced, _pub(other[1]))
    with pytest.raises(SignatureError, match="skips"):
        keychain.follow(_pub(ks[0]), [chain[1]], _pub(ks[2]))
    with pytest.raises(SignatureError, match="not vouched for"):
        keychain.follow(_pub(ks[0]), chain[:1], _pub(ks[2]))
    with pytest.raises(SignatureError, match="not vouched for"):
        keychain.follow(_pub(other[0]), chain, _pub(ks[2]))
    same = keychain.make_transition(ks[0], ks[0], 1, AT)
    with pytest.raises(SignatureError, match="new key"):
        keychain.follow(_pub(ks[0]), [same], _pub(ks[0]))


def test_a_retired_key_vouches_only_for_what_came_before_its_hand_over() -> None:
    ks = _keys(2)
    retired = keychain.retirements(_chain(ks))
    old, new = _pub(ks[0]), _pub(ks[1])
    assert keychain.valid_at(retired, old, "2026-12-31T23:59:59+00:00")
    assert keychain.valid_at(retired, old, AT)
    assert not keychain.valid_at(retired, old, "2027-01-01T00:00:01+00:00")
    assert not keychain.valid_at(retired, old, None)
    assert not keychain.valid_at(retired, old, "yesterday")
    assert keychain.valid_at(retired, new, "2099-01-01T00:00:00+00:00")
