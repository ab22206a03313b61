"""Call tokens v2: the vectors of docs/call-token-vectors.json are reproduced (signing and
verification), and every way a token can be wrong is refused (lanyard/core/auth.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from lanyard.core import auth
from lanyard.core.errors import AuthError
from lanyard.core.nonces import SqliteNonces
from lanyard.registry.migrations import MIGRATIONS

METHOD = "/lanyard.registry.v1.Registry/Evaluate"
BODY = b"\x0a\x09SCREEN-v1"
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "call-token-vectors.json").read_text("utf-8")
)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS["signing"], ids=lambda v: v["key_id"])
def test_signing_vectors(v: dict[str, Any]) -> None:
    key = nacl.signing.SigningKey(bytes.fromhex(v["seed"]))
    assert bytes(key.verify_key).hex() == v["public_key"]
    body, nonce = bytes.fromhex(v["body"]), bytes.fromhex(v["nonce"])
    assert hashlib.sha256(body).hexdigest() == v["body_sha256"]
    digest = bytes.fromhex(v["body_sha256"])
    message = auth.signed_message(v["key_id"], v["method"], v["timestamp"], nonce, digest)
    assert message.hex() == v["signed_message"]
    assert key.sign(message).signature.hex() == v["signature"]
    token = auth.make_token(v["key_id"], key, v["method"], body, v["timestamp"], nonce)
    assert token == v["token"]
    signer = auth.CallSigner(v["key_id"], key, lambda: v["timestamp"] + 0.75)
    fresh = auth.parse_token(signer.metadata(v["method"], body))
    assert fresh.timestamp == v["timestamp"]
    assert fresh.nonce != nonce


async def _verify(v: dict[str, Any], verifier: auth.TokenVerifier) -> None:
    token = auth.parse_token([(auth.METADATA_KEY, v["token"])])
    digest = hashlib.sha256(bytes.fromhex(v["body"])).digest()
    await verifier.verify(token, v["method"], bytes.fromhex(v["public_key"]), digest)


@pytest.mark.parametrize("v", VECTORS["verification"], ids=lambda v: v["name"])
async def test_verification_vectors(v: dict[str, Any]) -> None:
    verifier = auth.TokenVerifier(Clock(v["now"]))
    if v["expect"] == "accept":
        await _verify(v, verifier)
    else:
        with pytest.raises(AuthError):
            await _verify(v, verifier)


async def test_replay_vector_across_a_restart(tmp_path: Path) -> None:
    v = VECTORS["replay"]
    db = tmp_path / "registry.db"
    nonces = await SqliteNonces.open(db, MIGRATIONS)
    try:
        await _verify(v, auth.TokenVerifier(Clock(v["now"]), nonces=nonces))
        with pytest.raises(AuthError, match="replay"):
            await _verify(v, auth.TokenVerifier(Clock(v["now"] + 1), nonces=nonces))
    finally:
        await nonces.close()
    reopened = await SqliteNonces.open(db, MIGRATIONS)
    try:
        with pytest.raises(AuthError, match="replay"):
            await _verify(v, auth.TokenVerifier(Clock(v["now"] + 120), nonces=reopened))
        assert await reopened.count() == 1
    finally:
        await reopened.close()


# -- the verifier ---------------------------------------------------------------------------


@pytest.fixture
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def _setup(key: nacl.signing.SigningKey) -> tuple[Clock, auth.CallSigner, auth.TokenVerifier]:
    clock = Clock()
    return clock, auth.CallSigner("event:conf-2027", key, clock), auth.TokenVerifier(clock)


DIGEST = hashlib.sha256(BODY).digest()


async def test_valid_token_verifies(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    token = auth.parse_token(signer.metadata(METHOD, BODY))
    assert token.kind == "event"
    assert token.subject == "conf-2027"
    await verifier.verify(token, METHOD, bytes(key.verify_key), DIGEST)


async def test_replay_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    md = signer.metadata(METHOD, BODY)
    await verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key), DIGEST)
    with pytest.raises(AuthError, match="replay"):
        await verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key), DIGEST)


async def test_token_is_bound_to_the_method_and_the_body(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    token = auth.parse_token(signer.metadata(METHOD, BODY))
    with pytest.raises(AuthError, match="does not verify"):
        await verifier.verify(
            token, "/lanyard.registry.v1.Admin/AddRecord", bytes(key.verify_key), DIGEST
        )
    other = hashlib.sha256(BODY + b"\x00").digest()
    with pytest.raises(AuthError, match="does not verify"):
        await verifier.verify(token, METHOD, bytes(key.verify_key), other)


async def test_no_request_digest_is_refused(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    token = auth.parse_token(signer.metadata(METHOD, BODY))
    with pytest.raises(AuthError, match="digest"):
        await verifier.verify(token, METHOD, bytes(key.verify_key))


@pytest.mark.parametrize("offset", [-121, 121, -10_000, 120.999 + 1])
async def test_skewed_token_is_refused(key: nacl.signing.SigningKey, offset: float) -> None:
    clock, signer, verifier = _setup(key)
    md = signer.metadata(METHOD, BODY)
    clock.now += offset
    with pytest.raises(AuthError, match="from the clock"):
        await verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key), DIGEST)


@pytest.mark.parametrize("offset", [-120, 120, 120.999])
async def test_skew_at_the_boundary_is_accepted(
    key: nacl.signing.SigningKey, offset: float
) -> None:
    clock, signer, verifier = _setup(key)
    md = signer.metadata(METHOD, BODY)
    clock.now += offset
    await verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key), DIGEST)


async def test_refused_token_does_not_burn_its_nonce(key: nacl.signing.SigningKey) -> None:
    _, signer, verifier = _setup(key)
    md = signer.metadata(METHOD, BODY)
    other = nacl.signing.SigningKey.generate()
    with pytest.raises(AuthError):
        await verifier.verify(auth.parse_token(md), METHOD, bytes(other.verify_key), DIGEST)
    await verifier.verify(auth.parse_token(md), METHOD, bytes(key.verify_key), DIGEST)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], "missing"),
        ([("other", "x")], "missing"),
        ([(auth.METADATA_KEY, "garbage")], "malformed"),
        ([(auth.METADATA_KEY, "v1.event:a.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "malformed"),
        ([(auth.METADATA_KEY, "v2.EVENT:A.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "bad key id"),
        ([(auth.METADATA_KEY, "v2.event:a.notatime.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "time"),
        ([(auth.METADATA_KEY, "v2.event:a.+1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "time"),
        ([(auth.METADATA_KEY, "v2.event:a.01.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "time"),
        ([(auth.METADATA_KEY, "v2.event:a.1 .AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "time"),
        ([(auth.METADATA_KEY, "v2.event:a.1.AAAA.AAAA")], "nonce"),
        ([(auth.METADATA_KEY, "v2.event:a.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "signature"),
        ([(auth.METADATA_KEY, "v2.event:é.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA")], "ASCII"),
        ([(auth.METADATA_KEY, "a"), (auth.METADATA_KEY, "b")], "more than one"),
    ],
)
def test_malformed_tokens(metadata: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(AuthError, match=message):
        auth.parse_token(metadata)


async def test_memory_nonces_forget_after_expiry() -> None:
    nonces = auth.MemoryNonces()
    assert await nonces.remember("event:a", b"n" * 16, expires_at=220, now=100)
    assert not await nonces.remember("event:a", b"n" * 16, expires_at=225, now=220)
    assert await nonces.remember("event:b", b"n" * 16, expires_at=225, now=105)
    assert await nonces.remember("event:a", b"n" * 16, expires_at=341, now=221)


async def test_sqlite_nonces_purge_expired_rows(tmp_path: Path) -> None:
    nonces = await SqliteNonces.open(tmp_path / "r.db", MIGRATIONS)
    try:
        for i in range(5):
            assert await nonces.remember("event:a", bytes([i]) * 16, expires_at=120, now=0)
        assert not await nonces.remember("event:a", bytes([0]) * 16, expires_at=130, now=10)
        assert await nonces.count() == 5
        assert await nonces.remember("event:a", b"z" * 16, expires_at=300, now=180)
        assert await nonces.count() == 1
    finally:
        await nonces.close()


async def test_nonces_remembered_at_once_share_a_transaction_and_refuse_a_replay(
    tmp_path: Path,
) -> None:
    nonces = await SqliteNonces.open(tmp_path / "r.db", MIGRATIONS)
    try:
        # The original and its replay race, among other calls' nonces.
        fresh = await asyncio.gather(
            *(
                nonces.remember("event:a", bytes([i % 5]) * 16, expires_at=120, now=0)
                for i in range(10)
            )
        )
        assert fresh == [True] * 5 + [False] * 5
        assert await nonces.count() == 5
    finally:
        await nonces.close()
