"""Write docs/snapshot-vectors.json: the signed-snapshot test vectors (docs/snapshot.md).

Every input is derived from fixed seeds, so running this again writes the same file. The
tests (tests/core/test_snapshot_vectors.py) reproduce each value twice: through
lanyard.core.snapshot_tree and through a plain loop over all 65,536 buckets written from
the document alone.

    python scripts/make_snapshot_vectors.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.signing

from lanyard.core import screen, snapshot, snapshot_tree

OUT = Path(__file__).resolve().parent.parent / "docs" / "snapshot-vectors.json"
SIGNING_SEED = bytes(range(32))
EPOCH_PUBLIC_KEY = screen.hash_to_group(b"lanyard:snapshot-vectors:epoch-key")


def _bytes(label: str, n: int) -> bytes:
    """n deterministic bytes for `label` (SHAKE-256)."""
    return hashlib.shake_256(f"lanyard:snapshot-vectors:{label}".encode()).digest(n)


def _entries() -> list[tuple[bytes, bytes]]:
    """64 entries: 60 spread by their derived tags, and four in bucket 0x1234 (two of them
    sharing the tag's first 16 bytes), so a bucket holds several entries in tag order."""
    out = []
    for i in range(60):
        out.append((_bytes(f"tag:{i}", 32), _bytes(f"sealed:{i}", snapshot_tree.SEALED_BYTES)))
    shared = bytes.fromhex("1234") + _bytes("shared", 14)
    for i in range(4):
        tail = _bytes(f"shared-tail:{i}", 16)
        tag = shared + tail if i < 2 else bytes.fromhex("1234") + _bytes(f"near:{i}", 30)
        out.append((tag, _bytes(f"sealed-shared:{i}", snapshot_tree.SEALED_BYTES)))
    return out


def _case(
    key: nacl.signing.SigningKey, epoch: int, version: int, entries: list[tuple[bytes, bytes]]
) -> dict[str, object]:
    tree = snapshot_tree.SnapshotEntries.build(entries)
    message = snapshot.signing_message(
        screen.SUITE, epoch, version, len(tree), tree.root, EPOCH_PUBLIC_KEY
    )
    buckets = sorted({snapshot_tree.bucket_of(t) for t, _ in entries})
    return {
        "epoch": epoch,
        "version": version,
        "count": len(tree),
        "leaves": {f"{b:04x}": tree.tree.leaf(b).hex() for b in buckets},
        "root": tree.root.hex(),
        "signing_message": message.hex(),
        "signature": snapshot.sign_root(
            key, epoch, version, len(tree), tree.root, EPOCH_PUBLIC_KEY
        ).hex(),
    }


def main() -> None:
    key = nacl.signing.SigningKey(SIGNING_SEED)
    entries = _entries()
    tree = snapshot_tree.SnapshotEntries.build(entries)
    full = _case(key, 3, 41, entries)
    removed = [entries[5][0], entries[61][0]]
    added = [
        (_bytes("delta-tag:0", 32), _bytes("delta-sealed:0", snapshot_tree.SEALED_BYTES)),
        (
            bytes.fromhex("1234") + _bytes("delta-tag:1", 30),
            _bytes("delta-sealed:1", snapshot_tree.SEALED_BYTES),
        ),
        (entries[62][0], _bytes("delta-resealed:62", snapshot_tree.SEALED_BYTES)),
    ]
    after = [(t, s) for t, s in entries if t not in set(removed) and t != entries[62][0]]
    after += added
    bucket = 0x1234
    vectors = {
        "description": "Lanyard signed snapshot (docs/snapshot.md): bucket leaves, Merkle "
        "root, signing message and Ed25519 signature for a 64-entry snapshot, then for "
        "the snapshot after a delta (two tags removed, two added, one re-sealed), the "
        "inclusion proof of bucket 1234, and the empty-subtree hashes.",
        "suite": screen.SUITE,
        "signing_seed": SIGNING_SEED.hex(),
        "registry_public_key": bytes(key.verify_key).hex(),
        "epoch_public_key": EPOCH_PUBLIC_KEY.hex(),
        "entry_bytes": snapshot_tree.ENTRY_BYTES,
        "empty_leaf": snapshot_tree.EMPTY[snapshot_tree.DEPTH].hex(),
        "empty_root": snapshot_tree.EMPTY[0].hex(),
        "entries": [{"tag": t.hex(), "sealed": s.hex()} for t, s in entries],
        "snapshot": full,
        "delta": {
            "removed_tags": [t.hex() for t in removed],
            "added": [{"tag": t.hex(), "sealed": s.hex()} for t, s in added],
            "after": _case(key, 3, 42, after),
        },
        "inclusion_proof": {
            "bucket": f"{bucket:04x}",
            "packed": tree.packed(bucket).hex(),
            "path": [h.hex() for h in tree.tree.inclusion_proof(bucket)],
        },
    }
    OUT.write_text(json.dumps(vectors, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
