"""The spec's length prefix at its edge (spec/SCREEN-v1.md notation: lp is 2 bytes)."""

from __future__ import annotations

import pytest

from lanyard.core import screen


def test_lp_takes_65535_bytes_and_refuses_65536() -> None:
    assert screen.lp(b"x" * 0xFFFF)[:2] == b"\xff\xff"
    assert screen.lp(b"") == b"\x00\x00"
    with pytest.raises(ValueError, match="at most 65535 bytes, got 65536"):
        screen.lp(b"x" * 0x10000)
