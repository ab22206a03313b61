"""Per-call tokens: every way a token can be wrong is refused (lanyard/core/auth.py)."""

from __future__ import annotations

import nacl.signing
import pytest

from lanyard.core import auth
from lanyard.core.errors import AuthError

METHOD = "/lanyard.registry.v1.Registry/Evaluate"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def _setup(key: nacl.signing.SigningKey) -> tuple[Clock, auth.CallSigner, auth.TokenVerifier]:
    clock = Clock()
    return clock, auth.CallSigner("event:conf-2027", key, clock), auth.TokenVerifier(clock)


def test_valid_token_verifies(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    token = auth.parse_token(signer.metadata(METHOD))
    assert token.kind == "event"
    assert token.subject == "conf-2027"
    verifier.verify(token, METHOD, bytes(key.verify_key))


def test_replay_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    md = signer.metadata(METHOD)
    verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key))
    with pytest.raises(AuthError, match="replay"):
        verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key))


def test_token_is_bound_to_the_method(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    token = auth.parse_token(signer.metadata(METHOD))
    with pytest.raises(AuthError, match="does not verify"):
        verifier.verify(token, "/lanyard.registry.v1.Admin/AddRecord", bytes(key.verify_key))


@pytest.mark.parametrize("offset", [-121, 121, -10_000])
def test_skewed_token_is_refused(key: nacl.signing.SigningKey, offset: int) -> None:
    clock, signer, verifier = _setup(key)
    md = signer.metadata(METHOD)
    clock.now += offset
    with pytest.raises(AuthError, match="±120 s"):
        verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key))


@pytest.mark.parametrize("offset", [-119, 119])
def test_skew_within_window_is_accepted(key: nacl.signing.SigningKey, offset: int) -> None:
    clock, signer, verifier = _setup(key)
    md = signer.metadata(METHOD)
    clock.now += offset
    verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key))


def test_wrong_key_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    other = nacl.signing.SigningKey.generate()
    with pytest.raises(AuthError, match="does not verify"):
        verifier.verify(auth.parse_token(signer.metadata(METHOD)), METHOD, bytes(other.verify_key))


def test_tampered_key_id_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    text = signer.token(METHOD).replace("conf-2027", "conf-2028")
    with pytest.raises(AuthError):
        verifier.verify(
            auth.parse_token([(auth.METADATA_KEY, text)]), METHOD, bytes(key.verify_key)
        )


def test_refused_token_does_not_burn_its_nonce(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    md = signer.metadata(METHOD)
    other = nacl.signing.SigningKey.generate()
    with pytest.raises(AuthError):
        verifier.verify(auth.parse_token(md), METHOD, bytes(other.verify_key))
    verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], "missing"),
        ([("other", "x")], "missing"),
        ([(auth.METADATA_KEY, "garbage")], "malformed"),
        ([(auth.METADATA_KEY, "v2.event:a.1.AAAA.AAAA")], "malformed"),
        ([(auth.METADATA_KEY, "v1.EVENT:A.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "bad key id"),
        ([(auth.METADATA_KEY, "v1.event:a.notatime.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "time"),
        ([(auth.METADATA_KEY, "v1.event:a.1.AAAA.AAAA")], "nonce"),
        ([(auth.METADATA_KEY, "a"), (auth.METADATA_KEY, "b")], "more than one"),
    ],
)
def test_malformed_tokens(metadata: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(AuthError, match=message):
        auth.parse_token(metadata)


def test_truncated_signature_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    text = signer.token(METHOD)
    token = auth.parse_token([(auth.METADATA_KEY, text[:-10])])
    with pytest.raises(AuthError, match="64 bytes"):
        verifier.verify(token, METHOD, bytes(key.verify_key))


def test_nonce_cache_forgets_after_the_window() -> None:
    cache = auth.NonceCache(window=10)
    cache.check_and_add("event:a", b"n" * 16, now=100.0)
    with pytest.raises(AuthError):
        cache.check_and_add("event:a", b"n" * 16, now=105.0)
    cache.check_and_add("event:a", b"m" * 16, now=200.0)  # evicts the old entry
    cache.check_and_add("event:a", b"n" * 16, now=201.0)


def test_nonce_cache_is_bounded() -> None:
    cache = auth.NonceCache(window=1000, limit=3)
    for i in range(10):
        cache.check_and_add("event:a", bytes([i]) * 16, now=1.0)
    assert len(cache._seen) <= 3
