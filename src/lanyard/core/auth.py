"""Per-call authentication: an Ed25519-signed token in gRPC metadata.

The token binds the caller's key id, the full method name, a timestamp and a random nonce.
A server accepts it when the signature verifies under the key it holds for that id, the
timestamp is within ±120 s of its clock, and the nonce has not been seen in that window.
TLS protects the channel; the token says who is calling, per call, so a leaked channel or
a replayed request buys nothing.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import nacl.signing

from lanyard.core import keys
from lanyard.core.errors import AuthError, SignatureError

METADATA_KEY = "lanyard-auth"
MAX_SKEW_SECONDS = 120
NONCE_BYTES = 16
_DST = b"lanyard:v1:auth"
_KEY_ID = re.compile(r"^[a-z]+:[a-z0-9][a-z0-9._-]{0,63}$")
# A team member's, admin's or integration's own name: the part after "member:" etc.
MEMBER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _signed_bytes(key_id: str, method: str, timestamp: int, nonce: bytes) -> bytes:
    return b"\x00".join([_DST, key_id.encode(), method.encode(), str(timestamp).encode(), nonce])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class CallSigner:
    """Makes the metadata for one call. `key_id` is e.g. "event:pycon-2027" or "admin:wg"."""

    key_id: str
    key: nacl.signing.SigningKey
    clock: Callable[[], float] = time.time

    def token(self, method: str) -> str:
        ts = int(self.clock())
        nonce = os.urandom(NONCE_BYTES)
        sig = keys.sign(self.key, _signed_bytes(self.key_id, method, ts, nonce))
        return f"v1.{self.key_id}.{ts}.{_b64(nonce)}.{_b64(sig)}"

    def metadata(self, method: str) -> tuple[tuple[str, str], ...]:
        return ((METADATA_KEY, self.token(method)),)


@dataclass(frozen=True, slots=True)
class Token:
    key_id: str
    timestamp: int
    nonce: bytes
    signature: bytes

    @property
    def kind(self) -> str:
        return self.key_id.split(":", 1)[0]

    @property
    def subject(self) -> str:
        return self.key_id.split(":", 1)[1]


def parse_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> Token:
    values = [v for k, v in (metadata or ()) if k == METADATA_KEY]
    if not values:
        raise AuthError(f"missing '{METADATA_KEY}' call token")
    if len(values) > 1:
        raise AuthError(f"more than one '{METADATA_KEY}' call token")
    raw = values[0]
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    # The key id holds no further ".", except in its subject: split from both ends.
    head, _, rest = text.partition(".")
    parts = rest.rsplit(".", 3)
    if head != "v1" or len(parts) != 4:
        raise AuthError("malformed call token: expected v1.<key id>.<time>.<nonce>.<signature>")
    key_id, ts_text, nonce_text, sig_text = parts
    if not _KEY_ID.match(key_id):
        raise AuthError("malformed call token: bad key id")
    try:
        timestamp = int(ts_text)
        nonce = _unb64(nonce_text)
        signature = _unb64(sig_text)
    except (ValueError, binascii.Error) as exc:
        raise AuthError("malformed call token: bad time, nonce or signature encoding") from exc
    if len(nonce) != NONCE_BYTES:
        raise AuthError(f"malformed call token: nonce must be {NONCE_BYTES} bytes")
    return Token(key_id, timestamp, nonce, signature)


class NonceCache:
    """Nonces seen within the skew window, bounded so a flood cannot exhaust memory."""

    def __init__(self, window: float = 2 * MAX_SKEW_SECONDS, limit: int = 1_000_000) -> None:
        self._seen: OrderedDict[tuple[str, bytes], float] = OrderedDict()
        self._window = window
        self._limit = limit

    def check_and_add(self, key_id: str, nonce: bytes, now: float) -> None:
        while self._seen:
            (_, oldest) = next(iter(self._seen.items()))
            if oldest > now - self._window and len(self._seen) < self._limit:
                break
            self._seen.popitem(last=False)
        entry = (key_id, nonce)
        if entry in self._seen:
            raise AuthError("call token was already used (replay refused)")
        self._seen[entry] = now


class TokenVerifier:
    """Checks a parsed token against the caller's public key, the clock and the nonce cache."""

    def __init__(self, clock: Callable[[], float] = time.time, skew: int = MAX_SKEW_SECONDS):
        self._clock = clock
        self._skew = skew
        self._nonces = NonceCache(window=2 * skew)

    def verify(self, token: Token, method: str, public_key: bytes) -> None:
        now = self._clock()
        if abs(now - token.timestamp) > self._skew:
            raise AuthError(
                f"call token time is {int(token.timestamp - now):+d} s from the server's clock; "
                f"at most ±{self._skew} s allowed"
            )
        try:
            keys.verify(
                public_key,
                _signed_bytes(token.key_id, method, token.timestamp, token.nonce),
                token.signature,
                what="call token signature",
            )
        except SignatureError as exc:
            raise AuthError(f"{exc} for {token.key_id} on {method}") from exc
        self._nonces.check_and_add(token.key_id, token.nonce, now)
