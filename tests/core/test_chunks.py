"""Files sealed in chunks (core/chunks.py): round trips, and every way a chunk can lie."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence

import pytest

from lanyard.core import chunks
from lanyard.core.errors import SealError

KEY = chunks.subkey(os.urandom(32), b"test")
CTX = b"incident:1:attachment:1"


def _seal(data: bytes, size: int = 1000) -> list[bytes]:
    sealer = chunks.Sealer(KEY, CTX, size)
    out: list[bytes] = []
    for at in range(0, len(data), 333):
        out += sealer.feed(data[at : at + 333])
    out.append(sealer.finish())
    return out


async def _iter(items: Sequence[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def _open(sealed: Sequence[bytes], count: int | None = None, key: bytes = KEY) -> bytes:
    out = bytearray()
    async for piece in chunks.open_all(
        key, CTX, len(sealed) if count is None else count, _iter(sealed)
    ):
        out += piece
    return bytes(out)


@pytest.mark.parametrize("size", [1, 999, 1000, 1001, 5000])
async def test_round_trip_in_chunks_of_at_most_the_chunk_size(size: int) -> None:
    data = os.urandom(size)
    sealed = _seal(data)
    assert len(sealed) == max(1, -(-size // 1000))
    assert all(len(s) <= 1000 + chunks.OVERHEAD for s in sealed)
    assert await _open(sealed) == data


async def test_every_tampering_is_refused() -> None:
    sealed = _seal(os.urandom(3500))  # four chunks
    flipped = bytearray(sealed[1])
    flipped[-1] ^= 1
    cases = {
        "swapped": [sealed[1], sealed[0], *sealed[2:]],
        "flipped bit": [sealed[0], bytes(flipped), *sealed[2:]],
        "truncated at the end": sealed[:-1],
        "a chunk from another file": [_seal(os.urandom(1000))[0], *sealed[1:]],
        "too short": [sealed[0][:10], *sealed[1:]],
    }
    for what, bad in cases.items():
        with pytest.raises(SealError):
            await _open(bad, count=len(bad) if what != "truncated at the end" else None)
    with pytest.raises(SealError, match="truncated"):
        await _open(sealed[:-1], count=4)
    with pytest.raises(SealError, match="more than"):
        await _open([*sealed, sealed[-1]], count=4)
    with pytest.raises(SealError):  # the wrong key
        await _open(sealed, key=chunks.subkey(os.urandom(32), b"test"))
    # A file cut short before its last chunk: the new last chunk was not sealed as last.
    with pytest.raises(SealError):
        await _open(sealed[:2], count=2)
