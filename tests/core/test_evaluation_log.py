"""The evaluation log's pieces (spec §3b): leaves, the frontier, signed heads, entries."""

from __future__ import annotations

import hashlib

import nacl.signing
import pytest

from lanyard.core import evaluation_log, merkle
from lanyard.core.errors import SignatureError
from lanyard.core.evaluation_log import Frontier, Leaf
from lanyard.wire.registry.v1 import evaluation_log_pb2

KEY = nacl.signing.SigningKey(bytes(range(32)))
PUBLIC = bytes(KEY.verify_key)


def _leaf(i: int) -> Leaf:
    return Leaf(
        f"event:e{i % 3}",
        f"e{i % 3}",
        1,
        i + 1,
        f"2027-05-01T10:00:{i % 60:02d}+00:00",
        hashlib.sha256(bytes([i])).digest(),
    )


def test_frontier_agrees_with_the_whole_tree_at_every_size() -> None:
    hashes = [_leaf(i).hash() for i in range(70)]
    frontier = Frontier()
    for i, h in enumerate(hashes):
        path = frontier.append(h)
        assert frontier.size == i + 1
        assert frontier.root() == merkle.root(hashes[: i + 1])
        assert path == merkle.inclusion_proof(hashes, i, i + 1)
    assert Frontier(hashes).root() == merkle.root(hashes)
    assert Frontier().root() == merkle.EMPTY_ROOT


def test_leaf_bytes_bind_every_field() -> None:
    base = _leaf(4)
    variants = [
        Leaf("event:x", base.event_id, base.epoch, base.points, base.logged_at, base.points_sha256),
        Leaf(base.caller, "x", base.epoch, base.points, base.logged_at, base.points_sha256),
        Leaf(base.caller, base.event_id, 2, base.points, base.logged_at, base.points_sha256),
        Leaf(base.caller, base.event_id, base.epoch, 6, base.logged_at, base.points_sha256),
        Leaf(base.caller, base.event_id, base.epoch, base.points, "2027", base.points_sha256),
        Leaf(base.caller, base.event_id, base.epoch, base.points, base.logged_at, bytes(32)),
    ]
    assert len({base.hash(), *(v.hash() for v in variants)}) == 7
    assert (
        evaluation_log.points_digest([b"a" * 32, b"b" * 32])
        == hashlib.sha256(b"a" * 32 + b"b" * 32).digest()
    )


def _entry(leaves: list[Leaf]) -> evaluation_log_pb2.EvaluationLogEntry:
    frontier = Frontier([leaf.hash() for leaf in leaves[:-1]])
    path = frontier.append(leaves[-1].hash())
    head = evaluation_log.sign_tree_head(KEY, frontier.size, frontier.root())
    return evaluation_log_pb2.EvaluationLogEntry(
        log_index=len(leaves) - 1, logged_at=leaves[-1].logged_at, head=head, path=path
    )


def test_an_entry_verifies_and_each_tampering_fails() -> None:
    leaves = [_leaf(i) for i in range(11)]
    entry = _entry(leaves)
    evaluation_log.verify_entry(PUBLIC, leaves[-1], entry)

    other_key = bytes(nacl.signing.SigningKey.generate().verify_key)
    with pytest.raises(SignatureError):
        evaluation_log.verify_entry(other_key, leaves[-1], entry)
    with pytest.raises(SignatureError, match="does not lead to the root"):
        evaluation_log.verify_entry(PUBLIC, leaves[-2], _with_time(entry, leaves[-2]))
    bad = evaluation_log_pb2.EvaluationLogEntry()
    bad.CopyFrom(entry)
    bad.head.tree_size += 1
    with pytest.raises(SignatureError):
        evaluation_log.verify_entry(PUBLIC, leaves[-1], bad)
    bad.CopyFrom(entry)
    del bad.path[-1]
    with pytest.raises(SignatureError, match="must hold"):
        evaluation_log.verify_entry(PUBLIC, leaves[-1], bad)


def _with_time(
    entry: evaluation_log_pb2.EvaluationLogEntry, leaf: Leaf
) -> evaluation_log_pb2.EvaluationLogEntry:
    copy = evaluation_log_pb2.EvaluationLogEntry()
    copy.CopyFrom(entry)
    copy.logged_at = leaf.logged_at
    return copy


def test_a_submission_log_head_does_not_pass_for_an_evaluation_log_head() -> None:
    from lanyard.core import envelope, keys

    head = evaluation_log.sign_tree_head(KEY, 3, b"r" * 32)
    evaluation_log.verify_tree_head(PUBLIC, head)
    head.signature = keys.sign(KEY, envelope.tree_head_message(head))
    with pytest.raises(SignatureError):
        evaluation_log.verify_tree_head(PUBLIC, head)
