"""The evaluation log of spec SCREEN-v1 §3b: leaves, signed tree heads, and their checks.

Every accepted evaluation, by an event or by an admin key, is one leaf of an RFC 6962
Merkle log (`lanyard.core.merkle`): who asked, for which event, under which epoch, how
many points, when, and the SHA-256 of the blinded points (which reveal nothing). The
registry signs each tree head with its snapshot key under a domain of its own, so that a
head of this log can never pass for one of the report submission log. A caller rebuilds
its own leaf from what it sent and checks the inclusion proof its answer carries.

`Frontier` keeps only the roots of the log's perfect subtrees (O(log n) hashes): enough
to append, to give the root after every append, and to give the last leaf's inclusion
proof, so that answering an Evaluate never costs a pass over the whole log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.signing

from lanyard.core import envelope, keys, merkle
from lanyard.core.errors import SignatureError
from lanyard.wire.registry.v1 import evaluation_log_pb2, reports_pb2

__all__ = [
    "ADMIN_EVENT",
    "Frontier",
    "Leaf",
    "points_digest",
    "sign_tree_head",
    "tree_head_message",
    "verify_entry",
    "verify_tree_head",
]

ADMIN_EVENT = "admin"  # the event id of an admin key's evaluation (spec §3b)
_LEAF_DST = "lanyard:v1:evaluation"
_HEAD_DST = "lanyard:v1:evaluation-tree-head"


def points_digest(blinded: Iterable[bytes]) -> bytes:
    """SHA-256 of the concatenated blinded points, in request order (32 bytes)."""
    h = hashlib.sha256()
    for b in blinded:
        h.update(b)
    return h.digest()


@dataclass(frozen=True, slots=True)
class Leaf:
    """One evaluation: caller key id ("event:<id>" / "admin:<name>"), event id or "admin",
    epoch, number of points, time (ISO 8601 UTC, seconds), SHA-256 of the points."""

    caller: str
    event_id: str
    epoch: int
    points: int
    logged_at: str
    points_sha256: bytes

    def data(self) -> bytes:
        """The leaf's bytes, before RFC 6962 leaf hashing."""
        return envelope.canonical(
            _LEAF_DST,
            self.caller,
            self.event_id,
            self.epoch,
            self.points,
            self.logged_at,
            self.points_sha256,
        )

    def hash(self) -> bytes:
        return merkle.leaf_hash(self.data())


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def tree_head_message(head: reports_pb2.TreeHead) -> bytes:
    return envelope.canonical(_HEAD_DST, head.tree_size, head.root, head.signed_at)


def sign_tree_head(key: nacl.signing.SigningKey, size: int, root: bytes) -> reports_pb2.TreeHead:
    head = reports_pb2.TreeHead(tree_size=size, root=root, signed_at=now())
    head.signature = keys.sign(key, tree_head_message(head))
    return head


def verify_tree_head(registry_key: bytes, head: reports_pb2.TreeHead) -> None:
    """Raise SignatureError unless the registry signed this evaluation log head."""
    keys.verify(registry_key, tree_head_message(head), head.signature, what="evaluation log head")


def verify_entry(
    registry_key: bytes, leaf: Leaf, entry: evaluation_log_pb2.EvaluationLogEntry
) -> None:
    """Check that `leaf` (rebuilt by the caller) is in the signed head the answer carries.
    Raises SignatureError naming what did not hold."""
    if entry.logged_at != leaf.logged_at:
        raise SignatureError("evaluation log entry names another time than its leaf")
    verify_tree_head(registry_key, entry.head)
    try:
        merkle.verify_inclusion(
            leaf.hash(), entry.log_index, entry.head.tree_size, list(entry.path), entry.head.root
        )
    except merkle.ProofError as exc:
        raise SignatureError(f"evaluation log entry: {exc}") from exc


class Frontier:
    """The roots of the perfect subtrees of an append-only RFC 6962 log, largest first."""

    __slots__ = ("_nodes", "size")

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._nodes: list[tuple[int, bytes]] = []  # (subtree size, root)
        self.size = 0
        for h in leaf_hashes:
            self.append(h)

    def append(self, leaf_hash: bytes) -> list[bytes]:
        """Append a leaf hash; return its inclusion proof in the tree that now ends with it
        (RFC 6962 PATH, leaf level first)."""
        path = [h for _, h in reversed(self._nodes)]
        node = (1, leaf_hash)
        while self._nodes and self._nodes[-1][0] == node[0]:
            size, left = self._nodes.pop()
            node = (2 * size, merkle.node_hash(left, node[1]))
        self._nodes.append(node)
        self.size += 1
        return path

    def root(self) -> bytes:
        """MTH of every leaf appended so far (RFC 6962 §2.1)."""
        if not self._nodes:
            return merkle.EMPTY_ROOT
        acc = self._nodes[-1][1]
        for _, h in reversed(self._nodes[:-1]):
            acc = merkle.node_hash(h, acc)
        return acc
