"""Files sealed in chunks, so that a file of hundreds of MB is never held in memory.

Each chunk of at most CHUNK_BYTES plaintext is sealed with XChaCha20-Poly1305 under a
subkey of the owner's key; the associated data binds the chunk to its context (which
file: e.g. the incident and attachment ids), its index and whether it is the last one.
So chunks cannot be reordered, moved to another file, dropped from the end, or
appended to: every such change fails to open.

Sealed chunk: nonce(24) || ciphertext || tag(16).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import AsyncIterable, AsyncIterator

import nacl.bindings as sodium
import nacl.exceptions

from lanyard.core.errors import SealError

CHUNK_BYTES = 1 << 20  # plaintext per chunk: 1 MiB
KEY_BYTES = 32
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
OVERHEAD = NONCE_BYTES + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES
_DST = b"lanyard:v1:chunk"


def subkey(key: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for `purpose` derived from `key` (BLAKE2b keyed hash), so that the
    chunk cipher never shares a key with another construction."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"expected a {KEY_BYTES}-byte key, got {len(key)}")
    return hashlib.blake2b(_DST + b":" + purpose, key=key, digest_size=KEY_BYTES).digest()


def _aad(context: bytes, index: int, final: bool) -> bytes:
    return (
        struct.pack(">H", len(_DST))
        + _DST
        + struct.pack(">H", len(context))
        + context
        + (struct.pack(">QB", index, 1 if final else 0))
    )


def seal_chunk(key: bytes, context: bytes, index: int, final: bool, plain: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plain, _aad(context, index, final), nonce, key
    )


def open_chunk(key: bytes, context: bytes, index: int, final: bool, sealed: bytes) -> bytes:
    """The plaintext; SealError if the chunk is not this file's chunk `index` (or, with
    `final`, not its last one), or was changed."""
    if len(sealed) < OVERHEAD:
        raise SealError(f"chunk {index} is {len(sealed)} bytes, shorter than its overhead")
    try:
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed[NONCE_BYTES:], _aad(context, index, final), sealed[:NONCE_BYTES], key
            )
        )
    except nacl.exceptions.CryptoError as exc:
        raise SealError(f"chunk {index} does not open: changed, moved or truncated") from exc


class ChunkDigest:
    """SHA-256 over sealed chunks in order, each as a 4-byte big-endian length then its
    bytes: what a manifest (ReportEnvelope.attachments) commits to."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.count = 0
        self.size = 0

    def update(self, sealed: bytes) -> None:
        self._h.update(struct.pack(">I", len(sealed)) + sealed)
        self.count += 1
        self.size += len(sealed)

    def digest(self) -> bytes:
        return self._h.digest()


class Sealer:
    """Turns a stream of pieces of any size into sealed chunks of CHUNK_BYTES plaintext,
    holding at most one chunk and one piece. Call `finish` once at the end."""

    def __init__(self, key: bytes, context: bytes, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._key, self._context, self._size = key, context, chunk_bytes
        self._buffer = bytearray()
        self.index = 0
        self.total = 0
        self.sha256 = hashlib.sha256()

    def feed(self, piece: bytes) -> list[bytes]:
        """Sealed chunks now complete; the last chunk is held back until `finish`."""
        self._buffer += piece
        self.total += len(piece)
        self.sha256.update(piece)
        out: list[bytes] = []
        # Keep at least one byte back: the last chunk must be sealed as the last one.
        while len(self._buffer) > self._size:
            out.append(self._seal(bytes(self._buffer[: self._size]), final=False))
            del self._buffer[: self._size]
        return out

    def finish(self) -> bytes:
        return self._seal(bytes(self._buffer), final=True)

    def _seal(self, plain: bytes, final: bool) -> bytes:
        sealed = seal_chunk(self._key, self._context, self.index, final, plain)
        self.index += 1
        return sealed


async def open_all(
    key: bytes, context: bytes, count: int, sealed: AsyncIterable[bytes]
) -> AsyncIterator[bytes]:
    """Open `count` sealed chunks in order; SealError on any that does not open, and if
    fewer or more than `count` arrive."""
    index = 0
    async for chunk in sealed:
        if index >= count:
            raise SealError(f"more than the {count} chunks expected")
        yield open_chunk(key, context, index, index == count - 1, chunk)
        index += 1
    if index != count:
        raise SealError(f"{index} chunks of {count} arrived: the file is truncated")
