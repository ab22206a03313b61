"""Per-call authentication: an Ed25519-signed token in gRPC metadata (docs/call-token.md).

A v2 token binds the caller's key id, the full method name, the SHA-256 of the serialized
request message, a timestamp in one canonical integer form and a random nonce. A server
accepts it when it parses strictly, the timestamp is within ±120 s of its clock, the
signature verifies under the key it holds for that id over what the server itself saw
(its method, the bytes it received), and the nonce is new: nonces are kept in the
service's database (services/core/nonces.py) until their token leaves the window, so a
replay is refused across restarts too.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import math
import os
import re
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import nacl.signing
import structlog
from google.protobuf.message import Message

from lanyard.core import keys
from lanyard.core.errors import AuthError, SignatureError

log = structlog.get_logger("lanyard.auth")

METADATA_KEY = "lanyard-auth"
VERSION = "v2"
MAX_SKEW_SECONDS = 120
NONCE_BYTES = 16
SIGNATURE_BYTES = 64
DIGEST_BYTES = 32
DOMAIN = b"lanyard-call-token-v2"
# The one message every authentication failure answers with, on every service: which
# check failed goes to the server's log only, so the answer is no oracle.
REFUSED = "call not authenticated"

_KEY_ID = re.compile(r"^[a-z]+:[a-z0-9][a-z0-9._-]{0,63}$")
# A team member's, admin's or integration's own name: the part after "member:" etc.
MEMBER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_METHOD = re.compile(r"^/[A-Za-z0-9_.]{1,200}/[A-Za-z0-9_]{1,100}$")
_TIMESTAMP = re.compile(r"^(0|[1-9][0-9]{0,15})$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")

# The SHA-256 of the request message the server is handling, set by the request intake
# (lanyard/core/intake.py) before the servicer runs.
REQUEST_DIGEST: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "lanyard_request_digest", default=None
)


def body_digest(body: bytes | Message) -> bytes:
    """SHA-256 of the serialized request message (its exact bytes on the wire)."""
    data = body if isinstance(body, bytes) else body.SerializeToString()
    return hashlib.sha256(data).digest()


def signed_message(key_id: str, method: str, timestamp: int, nonce: bytes, digest: bytes) -> bytes:
    """The bytes the caller signs (docs/call-token.md "What is signed")."""
    kid, meth = key_id.encode("ascii"), method.encode("ascii")
    return b"".join(
        [
            DOMAIN,
            struct.pack(">B", len(kid)),
            kid,
            struct.pack(">H", len(meth)),
            meth,
            struct.pack(">Q", timestamp),
            nonce,
            digest,
        ]
    )


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str, size: int, what: str) -> bytes:
    if not _B64URL.match(text):
        raise AuthError(f"malformed call token: {what} is not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise AuthError(f"malformed call token: {what} is not base64url") from exc
    if len(data) != size or b64(data) != text:
        raise AuthError(f"malformed call token: {what} must be {size} bytes, canonically encoded")
    return data


def make_token(
    key_id: str,
    key: nacl.signing.SigningKey,
    method: str,
    body: bytes | Message,
    timestamp: int,
    nonce: bytes,
) -> str:
    """The token text for one call; `CallSigner` picks the time and nonce."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"not a valid key id: {key_id!r}")
    if not _METHOD.match(method):
        raise ValueError(f"not a full gRPC method name: {method!r}")
    message = signed_message(key_id, method, timestamp, nonce, body_digest(body))
    sig = keys.sign(key, message)
    return f"{VERSION}.{key_id}.{timestamp}.{b64(nonce)}.{b64(sig)}"


@dataclass(frozen=True, slots=True)
class CallSigner:
    """Makes the metadata for one call. `key_id` is e.g. "event:pycon-2027" or "admin:wg"."""

    key_id: str
    key: nacl.signing.SigningKey
    clock: Callable[[], float] = time.time

    def token(self, method: str, body: bytes | Message) -> str:
        """A fresh token for `method` carrying `body` (the request message or its bytes)."""
        ts = math.floor(self.clock())
        return make_token(self.key_id, self.key, method, body, ts, os.urandom(NONCE_BYTES))

    def metadata(self, method: str, body: bytes | Message) -> tuple[tuple[str, str], ...]:
        return ((METADATA_KEY, self.token(method, body)),)


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
    """The one call token in `metadata`, parsed strictly; AuthError says what was wrong
    (for the server's log, never for the caller)."""
    values = [v for k, v in (metadata or ()) if k == METADATA_KEY]
    if not values:
        raise AuthError(f"missing '{METADATA_KEY}' call token")
    if len(values) > 1:
        raise AuthError(f"more than one '{METADATA_KEY}' call token")
    raw = values[0]
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        text.encode("ascii")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise AuthError("malformed call token: not ASCII") from exc
    fields = text.split(".")
    if len(fields) < 5 or fields[0] != VERSION:
        raise AuthError("malformed call token: expected v2.<key id>.<time>.<nonce>.<signature>")
    key_id = ".".join(fields[1:-3])
    ts_text, nonce_text, sig_text = fields[-3:]
    if not _KEY_ID.match(key_id):
        raise AuthError("malformed call token: bad key id")
    if not _TIMESTAMP.match(ts_text):
        raise AuthError("malformed call token: time is not a canonical decimal integer")
    nonce = _unb64(nonce_text, NONCE_BYTES, "nonce")
    signature = _unb64(sig_text, SIGNATURE_BYTES, "signature")
    return Token(key_id, int(ts_text), nonce, signature)


class NonceStore(Protocol):
    """Where a verifier remembers the nonces it accepted (services/core/nonces.py)."""

    async def remember(self, key_id: str, nonce: bytes, expires_at: int, now: int) -> bool:
        """Record the nonce until `expires_at` (Unix seconds); False if already recorded."""
        ...


class MemoryNonces:
    """Nonces in memory: for one-shot commands and tests; servers use the database."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, bytes], int] = {}

    async def remember(self, key_id: str, nonce: bytes, expires_at: int, now: int) -> bool:
        if len(self._seen) > 100_000:
            self._seen = {k: v for k, v in self._seen.items() if v >= now}
        if self._seen.get((key_id, nonce), -1) >= now:
            return False
        self._seen[(key_id, nonce)] = expires_at
        return True


def current_digest() -> bytes:
    """The digest of the request being served; AuthError when the intake did not set it."""
    digest = REQUEST_DIGEST.get()
    if digest is None or len(digest) != DIGEST_BYTES:
        raise AuthError("no request digest: the server's request intake is not installed")
    return digest


class TokenVerifier:
    """Checks a token against the caller's key, the clock, the request and the nonces."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        skew: int = MAX_SKEW_SECONDS,
        nonces: NonceStore | None = None,
    ) -> None:
        self._clock = clock
        self._skew = skew
        self._nonces: NonceStore = nonces if nonces is not None else MemoryNonces()

    def use_nonces(self, nonces: NonceStore) -> None:
        """Remember accepted nonces in `nonces` from now on (set before serving)."""
        self._nonces = nonces

    def check_time(self, token: Token) -> int:
        """The server's time (whole seconds); AuthError unless |now - ts| <= skew."""
        now = math.floor(self._clock())
        if not now - self._skew <= token.timestamp <= now + self._skew:
            raise AuthError(f"call token time is {token.timestamp - now:+d} s from the clock")
        return now

    async def verify(
        self, token: Token, method: str, public_key: bytes, digest: bytes | None = None
    ) -> None:
        """Accept the token for `method` on the request whose SHA-256 is `digest` (default:
        the request being served) or raise AuthError."""
        now = self.check_time(token)
        digest = current_digest() if digest is None else digest
        message = signed_message(token.key_id, method, token.timestamp, token.nonce, digest)
        try:
            keys.verify(public_key, message, token.signature, what="call token signature")
        except SignatureError as exc:
            raise AuthError(f"{exc} on {method}") from exc
        expires_at = token.timestamp + self._skew
        if not await self._nonces.remember(token.key_id, token.nonce, expires_at, now):
            raise AuthError("call token was already used (replay refused)")


def refused(exc: AuthError, metadata: Iterable[tuple[str, str | bytes]] | None, method: str) -> str:
    """Log why a call was refused, with the key id it named (when well-formed), and return
    the one message the caller sees."""
    key_id = ""
    for k, v in metadata or ():
        if k == METADATA_KEY:
            text = v.decode("ascii", "replace") if isinstance(v, bytes) else v
            candidate = ".".join(text.split(".")[1:-3])
            key_id = candidate if _KEY_ID.match(candidate) else ""
    log.info("auth.refused", method=method, key_id=key_id or None, reason=str(exc))
    return REFUSED
