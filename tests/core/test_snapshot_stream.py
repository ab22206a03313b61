"""Entries given in tag order are packed into the same SnapshotEntries as built from any
order, and anything out of order, repeated or of the wrong shape is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lanyard.core import snapshot
from lanyard.core.errors import SignatureError
from lanyard.core.snapshot_stream import InOrderBuilder, build_in_order
from lanyard.core.snapshot_tree import SEALED_BYTES, SnapshotEntries

Entries = list[tuple[bytes, bytes]]


def _sorted(n: int) -> list[tuple[bytes, bytes]]:
    return sorted(snapshot.padding_entry() for _ in range(n))


def test_in_order_packing_matches_building_from_any_order() -> None:
    entries = _sorted(3000)
    builder = InOrderBuilder()
    for start in range(0, len(entries), 700):  # in pieces, as chunks arrive
        builder.extend(entries[start : start + 700])
    packed = builder.finish()
    built = SnapshotEntries.build(reversed(entries))
    assert (len(packed), packed.root, list(packed)) == (3000, built.root, entries)
    assert build_in_order([]).root == SnapshotEntries.empty().root


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: [e[1], e[0], *e[2:]], "not in tag order"),
        (lambda e: [e[0], *e], "repeats a tag"),
        (lambda e: [*e[:5], (e[5][0][:31], e[5][1]), *e[6:]], "tag must be 32 bytes"),
        (lambda e: [*e[:5], (e[5][0], e[5][1] + b"x"), *e[6:]], f"must be {SEALED_BYTES}"),
    ],
    ids=["out-of-order", "repeated", "short-tag", "long-sealed"],
)
def test_anything_else_is_refused(change: Callable[[Entries], Entries], message: str) -> None:
    entries = _sorted(10)
    with pytest.raises(SignatureError, match=message):
        build_in_order(change(entries))
