"""docs/snapshot-vectors.json reproduced twice: by lanyard.core.snapshot_tree and by a
plain loop over all 65,536 buckets written from docs/snapshot.md alone."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from lanyard.core import screen, snapshot, snapshot_tree
from lanyard.core.errors import SignatureError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "snapshot-vectors.json").read_text("utf-8")
)


def _entries(items: list[dict[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(bytes.fromhex(e["tag"]), bytes.fromhex(e["sealed"])) for e in items]


def _after_delta() -> list[tuple[bytes, bytes]]:
    held = dict(_entries(VECTORS["entries"]))
    for tag in VECTORS["delta"]["removed_tags"]:
        held.pop(bytes.fromhex(tag), None)
    held.update(_entries(VECTORS["delta"]["added"]))
    return list(held.items())


def plain_root(entries: list[tuple[bytes, bytes]]) -> tuple[dict[int, bytes], bytes]:
    """The document's definition, followed literally: every bucket, every level."""
    buckets: list[list[bytes]] = [[] for _ in range(65536)]
    for tag, sealed in entries:
        buckets[int.from_bytes(tag[:2], "big")].append(tag + sealed)
    level = [hashlib.sha256(b"\x00" + b"".join(sorted(b))).digest() for b in buckets]
    leaves = {i: level[i] for i, b in enumerate(buckets) if b}
    while len(level) > 1:
        level = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level), 2)
        ]
    return leaves, level[0]


def plain_message(case: dict[str, Any], root: bytes) -> bytes:
    def lp(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    return (
        lp(b"lanyard:v1:snapshot-root")
        + lp(VECTORS["suite"].encode())
        + struct.pack(">IQ", case["epoch"], case["version"])
        + lp(bytes.fromhex(VECTORS["epoch_public_key"]))
        + struct.pack(">Q", case["count"])
        + root
    )


CASES = [
    ("snapshot", VECTORS["snapshot"], _entries(VECTORS["entries"])),
    ("after delta", VECTORS["delta"]["after"], _after_delta()),
]


def test_constants() -> None:
    assert VECTORS["entry_bytes"] == snapshot_tree.ENTRY_BYTES == 32 + snapshot.SEALED_BYTES
    assert bytes.fromhex(VECTORS["empty_leaf"]) == hashlib.sha256(b"\x00").digest()
    assert snapshot_tree.EMPTY[snapshot_tree.DEPTH].hex() == VECTORS["empty_leaf"]
    assert snapshot_tree.EMPTY[0].hex() == VECTORS["empty_root"]
    assert snapshot_tree.SnapshotEntries.empty().root.hex() == VECTORS["empty_root"]
    assert plain_root([])[1].hex() == VECTORS["empty_root"]
    key = nacl.signing.SigningKey(bytes.fromhex(VECTORS["signing_seed"]))
    assert bytes(key.verify_key).hex() == VECTORS["registry_public_key"]


@pytest.mark.parametrize(("name", "case", "entries"), CASES, ids=[c[0] for c in CASES])
def test_plain_loop_reproduces(
    name: str, case: dict[str, Any], entries: list[tuple[bytes, bytes]]
) -> None:
    leaves, root = plain_root(entries)
    assert {f"{b:04x}": h.hex() for b, h in leaves.items()} == case["leaves"]
    assert root.hex() == case["root"]
    assert len(entries) == case["count"]
    assert plain_message(case, root).hex() == case["signing_message"]
    key = nacl.signing.SigningKey(bytes.fromhex(VECTORS["signing_seed"]))
    assert key.sign(plain_message(case, root)).signature.hex() == case["signature"]


@pytest.mark.parametrize(("name", "case", "entries"), CASES, ids=[c[0] for c in CASES])
def test_module_reproduces(
    name: str, case: dict[str, Any], entries: list[tuple[bytes, bytes]]
) -> None:
    tree = snapshot_tree.SnapshotEntries.build(reversed(entries))  # order does not matter
    assert {b: tree.tree.leaf(int(b, 16)).hex() for b in case["leaves"]} == case["leaves"]
    assert tree.root.hex() == case["root"]
    pk = bytes.fromhex(VECTORS["epoch_public_key"])
    message = snapshot.signing_message(
        VECTORS["suite"], case["epoch"], case["version"], len(tree), tree.root, pk
    )
    assert message.hex() == case["signing_message"]
    snapshot.verify_root(
        bytes.fromhex(VECTORS["registry_public_key"]),
        VECTORS["suite"],
        case["epoch"],
        case["version"],
        len(tree),
        tree.root,
        bytes.fromhex(case["signature"]),
        pk,
    )
    assert list(tree) == sorted(entries)


def test_delta_applied_gives_the_signed_root() -> None:
    held = snapshot_tree.SnapshotEntries.build(_entries(VECTORS["entries"]))
    after = held.apply(
        _entries(VECTORS["delta"]["added"]),
        [bytes.fromhex(t) for t in VECTORS["delta"]["removed_tags"]],
    )
    assert after.root.hex() == VECTORS["delta"]["after"]["root"]
    assert len(after) == VECTORS["delta"]["after"]["count"]
    assert held.root.hex() == VECTORS["snapshot"]["root"]  # the old one is untouched
    assert len(held) == VECTORS["snapshot"]["count"]


def test_inclusion_proof() -> None:
    proof = VECTORS["inclusion_proof"]
    bucket = int(proof["bucket"], 16)
    path = [bytes.fromhex(h) for h in proof["path"]]
    held = snapshot_tree.SnapshotEntries.build(_entries(VECTORS["entries"]))
    assert held.packed(bucket).hex() == proof["packed"]
    assert held.tree.inclusion_proof(bucket) == path
    root = snapshot_tree.root_from_inclusion_proof(bucket, bytes.fromhex(proof["packed"]), path)
    assert root.hex() == VECTORS["snapshot"]["root"]
    # One entry fewer in the bucket leads elsewhere.
    short = bytes.fromhex(proof["packed"])[snapshot_tree.ENTRY_BYTES :]
    assert snapshot_tree.root_from_inclusion_proof(bucket, short, path) != root


def test_any_changed_field_breaks_the_signature() -> None:
    case = VECTORS["snapshot"]
    args: dict[str, Any] = {
        "public_key": bytes.fromhex(VECTORS["registry_public_key"]),
        "suite": VECTORS["suite"],
        "epoch": case["epoch"],
        "version": case["version"],
        "count": case["count"],
        "root": bytes.fromhex(case["root"]),
        "signature": bytes.fromhex(case["signature"]),
        "epoch_public_key": bytes.fromhex(VECTORS["epoch_public_key"]),
    }
    snapshot.verify_root(**args)
    changed: list[tuple[str, Any]] = [
        ("suite", "LANYARD-SCREEN-v0"),
        ("epoch", case["epoch"] + 1),
        ("version", case["version"] + 1),
        ("count", case["count"] + 64),
        ("root", bytes(32)),
        ("epoch_public_key", bytes(32)),
        ("signature", bytes(64)),
    ]
    for field, value in changed:
        with pytest.raises(SignatureError):
            snapshot.verify_root(**(args | {field: value}))


@pytest.mark.parametrize("count", [0, 63, 65, 100])
def test_count_that_is_not_padded_is_refused(count: int) -> None:
    with pytest.raises(SignatureError, match="multiple of 64"):
        snapshot.verify_root(bytes(32), screen.SUITE, 1, 1, count, bytes(32), bytes(64))
