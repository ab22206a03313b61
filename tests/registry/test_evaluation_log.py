"""The evaluation log (spec §3b) on a real registry: every accepted evaluation is a leaf,
charged and logged together, under a signed head; admin evaluations without a record stand
out (test_evaluation_claims.py: those a record change followed); the log survives a
restart."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.core import evaluation_log, merkle
from lanyard.core.evaluation_log import Leaf
from lanyard.core.identity import Kind, message
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.store import LoggedEvaluation
from lanyard.wire.registry.v1 import evaluation_log_pb2
from tests.conftest import Enrolled, enroll


def leaf_of(pb: evaluation_log_pb2.EvaluationLeaf) -> Leaf:
    return Leaf(pb.caller, pb.event_id, pb.epoch, pb.points, pb.logged_at, pb.points_sha256)


async def test_log_counts_equal_the_quota_charged_after_a_concurrent_run(
    registry: server.RunningRegistry, admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    events: list[Enrolled] = [
        await enroll(admin, channel, f"conf-{i}-2027", quota=q)
        for i, q in enumerate((10_000, 10_000, 60))
    ]
    rng = random.Random(15)
    jobs: list[tuple[Enrolled, list[bytes]]] = []
    for n in range(36):
        who = events[n % 3]
        size = rng.randint(1, 12)
        jobs.append((who, [message(Kind.EMAIL, f"p{n}-{j}@example.org") for j in range(size)]))
    results = await asyncio.gather(
        *(who.client.evaluate_messages(1, msgs) for who, msgs in jobs), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert refused, "the small quota should have refused some calls"
    assert all(
        isinstance(r, RpcFailed) and r.code == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refused
    )
    listing = await admin.list_evaluations()
    leaves = list(listing.leaves)
    assert [leaf.log_index for leaf in leaves] == list(range(len(leaves)))
    assert len(leaves) == len(results) - len(refused)
    used = {e.event_id: int(e.evaluations_used) for e in await admin.list_events()}
    for who in events:
        mine = [leaf for leaf in leaves if leaf.event_id == who.event_id]
        assert {leaf.caller for leaf in mine} == {f"event:{who.event_id}"}
        assert sum(leaf.points for leaf in mine) == used[who.event_id]
    assert used["conf-2-2027"] <= 60
    # The listed leaves rebuild the signed head's root.
    head = listing.head
    evaluation_log.verify_tree_head(registry.service.public_key, head)
    assert head.tree_size == len(leaves)
    assert merkle.root([leaf_of(leaf).hash() for leaf in leaves]) == head.root
    # Each caller's last answer was checked against its own leaf on the way in.
    assert events[0].client.last_log_entry is not None
    assert events[0].client.last_log_entry.head.tree_size <= head.tree_size


async def test_listing_by_event_and_date(
    admin: AdminClient, event: Enrolled, channel: grpc.aio.Channel
) -> None:
    other = await enroll(admin, channel, "other-2027")
    await event.client.evaluate_messages(1, [message(Kind.EMAIL, "a@example.org")])
    await other.client.evaluate_messages(1, [message(Kind.EMAIL, "b@example.org")] * 2)
    mine = await admin.list_evaluations(event_id=event.event_id)
    assert [(leaf.event_id, leaf.points) for leaf in mine.leaves] == [(event.event_id, 1)]
    assert len((await admin.list_evaluations(since="2000-01-01")).leaves) == 2
    assert len((await admin.list_evaluations(since="2999-01-01")).leaves) == 0
    with pytest.raises(RpcFailed, match="since must be an ISO date") as info:
        await admin.list_evaluations(since="yesterday")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_admin_evaluation_without_a_record_is_flagged(admin: AdminClient) -> None:
    who = [Identifier(Kind.EMAIL, "listed@example.org"), Identifier(Kind.NAME, "Listed One")]
    await admin.add_record("WG-1", "banned", who)
    with pytest.raises(RpcFailed) as info:
        await admin.add_record("WG-1", "banned", who)  # evaluated, then refused
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    leaves = list((await admin.list_evaluations(event_id=evaluation_log.ADMIN_EVENT)).leaves)
    assert [(leaf.caller, leaf.points, leaf.record_ref) for leaf in leaves] == [
        ("admin:operator", 2, "WG-1"),
        ("admin:operator", 2, ""),
    ]


async def test_log_survives_a_restart(registry_dir: RegistryDir) -> None:
    async with server.running(registry_dir) as first:
        chan = grpc.aio.insecure_channel(first.address)
        admin = AdminClient(chan, registry_dir.admin_key())
        ev = await enroll(admin, chan, "restart-2027")
        for i in range(3):
            await ev.client.evaluate_messages(1, [message(Kind.EMAIL, f"r{i}@example.org")])
        old = (await admin.list_evaluations()).head
        await chan.close()
    async with server.running(registry_dir) as second:
        chan = grpc.aio.insecure_channel(second.address)
        ev.client = type(ev.client)(chan, ev.event_id, ev.key, ev.registry_key)
        await ev.client.evaluate_messages(1, [message(Kind.EMAIL, "after@example.org")])
        entry = ev.client.last_log_entry
        assert entry is not None
        assert entry.log_index == 3
        new = entry.head
        leaves = list((await AdminClient(chan, registry_dir.admin_key()).list_evaluations()).leaves)
        hashes = [leaf_of(leaf).hash() for leaf in leaves]
        merkle.verify_consistency(
            old.tree_size,
            new.tree_size,
            old.root,
            new.root,
            merkle.consistency_proof(hashes, old.tree_size, new.tree_size),
        )
        await chan.close()


async def test_a_leaf_the_registry_missed_is_picked_up_not_overwritten(
    registry: server.RunningRegistry, event: Enrolled
) -> None:
    await event.client.evaluate_messages(1, [message(Kind.EMAIL, "a@example.org")])
    # A leaf committed behind the in-memory log's back (as by a call cancelled mid-commit).
    stray = Leaf("admin:operator", "admin", 1, 1, evaluation_log.now(), b"s" * 32)
    await registry.store.append_evaluation(LoggedEvaluation(1, stray))
    await event.client.evaluate_messages(1, [message(Kind.EMAIL, "b@example.org")])
    entry = event.client.last_log_entry
    assert entry is not None
    assert (entry.log_index, entry.head.tree_size) == (2, 3)
    hashes = await registry.store.evaluation_hashes()
    assert hashes[1] == stray.hash()
    assert merkle.root(hashes) == entry.head.root
