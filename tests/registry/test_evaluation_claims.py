"""Spec §3b on a real registry: an admin evaluation that a record, an import batch or an
alias followed is claimed by it, in the change's transaction, so that only evaluations no
record followed stand flagged for the WG's readers. A claim is the admin's word (the
points were blinded), so it is bounded: the caller's own leaves of the change's epoch,
unclaimed, holding no more points than the change could have been evaluated for. Every
way around that bound (an older client's claim, records skipped as existing, repeated
points, an older epoch, an index no leaf has) leaves the probe flagged or refuses the
change, and adds nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.core import evaluation_log, screen, sqlite
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.migrations import MIGRATIONS
from lanyard.registry.sqlite_store import SqliteStore
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc, evaluation_log_pb2, snapshot_pb2


def _points(n: int) -> list[bytes]:
    return [screen.hash_to_group(os.urandom(16)) for _ in range(n)]


def _info(ref: str) -> admin_pb2.RecordInfo:
    return admin_pb2.RecordInfo(record_ref=ref, status=snapshot_pb2.RECORD_STATUS_FLAGGED)


class Raw:
    """Admin calls as a hand-made client would send them, call tokens and all."""

    def __init__(self, admin: AdminClient, channel: grpc.aio.Channel) -> None:
        self.admin = admin
        self.stub = admin_pb2_grpc.AdminStub(channel)

    async def probe(self, n: int) -> int:
        """n points evaluated, no record after: what an admin testing names does."""
        request = admin_pb2.EvaluateForRecordRequest(
            suite=screen.SUITE, epoch=await self.admin.current_epoch(), blinded_points=_points(n)
        )
        answer = await self.stub.EvaluateForRecord(
            request, metadata=self.admin._md("EvaluateForRecord", request)
        )
        return int(answer.log_entry.log_index)

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self.stub, method)(request, metadata=self.admin._md(method, request))

    async def refused(self, method: str, request: Any) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await self.call(method, request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        return info.value.details() or ""


async def _leaves(admin: AdminClient) -> list[evaluation_log_pb2.EvaluationLeaf]:
    return list((await admin.list_evaluations(event_id=evaluation_log.ADMIN_EVENT)).leaves)


def _flagged(leaves: Sequence[evaluation_log_pb2.EvaluationLeaf]) -> list[int]:
    return [leaf.log_index for leaf in leaves if not leaf.record_ref]


async def test_imports_and_aliases_claim_the_evaluations_they_came_from(
    admin: AdminClient,
) -> None:
    people = [
        NewRecord(f"IMP-{i}", "flagged", [Identifier(Kind.EMAIL, f"p{i}@example.org")])
        for i in range(30)
    ]
    await admin.add_records(people[:20])
    await admin.add_records(people[20:])
    await admin.add_record("WG-1", "banned", [Identifier(Kind.EMAIL, "one@example.org")])
    await admin.update_record("WG-1", aliases=[Identifier(Kind.EMAIL, "alias@example.org")])
    # An interrupted import run again: every record exists, and its evaluation is claimed.
    again = await admin.add_records(people[:20], skip_existing=True)
    assert (len(again.records), len(again.skipped_refs)) == (0, 20)
    assert [(leaf.points, leaf.record_ref, leaf.records) for leaf in await _leaves(admin)] == [
        (20, "IMP-0", 20),
        (10, "IMP-20", 10),
        (1, "WG-1", 1),
        (1, "WG-1", 1),
        (20, "IMP-0", 20),
    ]
    # A claim outlives its record: the listing says when the record naming it is gone.
    await admin.remove_record("IMP-20")
    assert [leaf.record_removed for leaf in await _leaves(admin)] == [
        False,
        True,
        False,
        False,
        False,
    ]


async def test_a_claim_never_covers_more_than_the_change_shows(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    raw = Raw(admin, channel)
    await admin.add_records(
        [
            NewRecord(f"OLD-{i}", "flagged", [Identifier(Kind.EMAIL, f"o{i}@example.org")])
            for i in range(5)
        ]
    )
    epoch = await admin.current_epoch()

    # An older client's claim (no indexes) takes a leaf of exactly its points: a record of
    # one point leaves a probe of 50 flagged.
    probe = await raw.probe(50)
    await raw.call(
        "AddRecord",
        admin_pb2.AddRecordRequest(
            suite=screen.SUITE, epoch=epoch, record=_info("L-1"), points=_points(1)
        ),
    )
    assert probe in _flagged(await _leaves(admin))

    # Records skipped as existing count only the points they hold: junk points under
    # their refs cover nothing, and the leaves stay unclaimed while the change stands.
    batch = admin_pb2.AddRecordsRequest(
        suite=screen.SUITE,
        epoch=epoch,
        skip_existing=True,
        records=[admin_pb2.RecordPoints(record=_info("NEW-1"), points=_points(1))]
        + [admin_pb2.RecordPoints(record=_info(f"OLD-{i}"), points=_points(10)) for i in range(5)],
        evaluation_log_indexes=[probe],
    )
    await raw.call("AddRecords", batch)

    # A point repeated counts once: in a record, and in aliases.
    probe64 = await raw.probe(64)
    same = _points(1) * 64
    request = admin_pb2.AddRecordRequest(
        suite=screen.SUITE, epoch=epoch, record=_info("DUP-1"), points=same,
        evaluation_log_indexes=[probe64],
    )  # fmt: skip
    await raw.call("AddRecord", request)
    update = admin_pb2.UpdateRecordRequest(
        record_ref="OLD-0", suite=screen.SUITE, epoch=epoch, add_points=same,
        evaluation_log_indexes=[probe64],
    )  # fmt: skip
    await raw.call("UpdateRecord", update)

    # An index no leaf can have is the same refusal as any leaf one may not claim.
    for index in (2**63, 2**64 - 1, 10_000):
        request = admin_pb2.AddRecordRequest(
            suite=screen.SUITE, epoch=epoch, record=_info("BIG-1"), points=_points(1),
            evaluation_log_indexes=[index],
        )  # fmt: skip
        words = await raw.refused("AddRecord", request)
        assert f"leaf {index} is not an unclaimed evaluation of this admin key" in words

    # Nothing of the refused changes was added; the over-claims' changes stand, and
    # their leaves stay flagged for the WG's readers.
    refs = {r.record_ref for r in (await admin.list_records()).records}
    assert refs == {"L-1", "NEW-1", "DUP-1", *(f"OLD-{i}" for i in range(5))}
    assert {probe, probe64} <= set(_flagged(await _leaves(admin)))


async def test_a_leaf_of_an_older_epoch_cannot_be_claimed_after_a_rotation(
    admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    raw = Raw(admin, channel)
    probe = await raw.probe(3)
    await admin.rotate_key(1)
    epoch = await admin.current_epoch()
    assert epoch == 2
    request = admin_pb2.AddRecordRequest(
        suite=screen.SUITE, epoch=epoch, record=_info("ROT-1"), points=_points(3),
        evaluation_log_indexes=[probe],
    )  # fmt: skip
    assert "in this epoch" in await raw.refused("AddRecord", request)


async def test_an_import_racing_a_rotation_checks_each_proof_under_its_own_epoch(
    registry: server.RunningRegistry, registry_dir: RegistryDir, admin: AdminClient
) -> None:
    """Two batches in flight on one client: one is answered under epoch 1, the key is
    rotated, and the other batch learns epoch 2 before the first checks its proof. The
    first's proof is of epoch 1 and must be checked against epoch 1's key (no false
    "evaluation proof failed"); its upload is then refused as of an old epoch and the
    client runs that batch again under epoch 2."""
    client: AdminClient | None = None
    armed = True

    class RotateAfterTheFirstAnswer(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            nonlocal armed
            call = await continuation(details, request)
            if armed and details.method.endswith(b"/EvaluateForRecord"):
                armed = False
                await call
                await admin.rotate_key(1)
                assert client is not None
                await client.current_epoch()  # what the other batch in flight would learn
            return call

    channel = grpc.aio.insecure_channel(
        registry.address, interceptors=[RotateAfterTheFirstAnswer()]
    )
    try:
        client = AdminClient(channel, registry_dir.admin_key())
        await client.current_epoch()
        added = await client.add_records(
            [NewRecord("R-1", "flagged", [Identifier(Kind.EMAIL, "r@example.org")])]
        )
        assert [r.record_ref for r in added.records] == ["R-1"]
    finally:
        await channel.close()
    # The first attempt's evaluation (epoch 1) stands flagged; it really had no record.
    leaves = await _leaves(admin)
    assert [(leaf.epoch, leaf.record_ref) for leaf in leaves] == [(1, ""), (2, "R-1")]


async def test_claims_of_a_database_from_before_migration_10_count_one_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.db"
    old = await sqlite.connect(path, MIGRATIONS[:9])
    try:
        await old.execute(
            "INSERT INTO evaluation_log (log_index, caller, event_id, epoch, points, "
            "logged_at, points_sha256, leaf_hash) VALUES (0, 'admin:operator', 'admin', 1, 2, "
            "'2027-01-01T00:00:00+00:00', ?, ?)",
            (b"\0" * 32, b"\1" * 32),
        )
        await old.execute(
            "INSERT INTO evaluation_claims (log_index, record_ref, claimed_at) "
            "VALUES (0, 'WG-1', '2027-01-01T00:00:00+00:00')"
        )
        await old.commit()
    finally:
        await old.close()
    store = await SqliteStore.open(path)
    try:
        assert [(e.record_ref, e.records) for e in await store.list_evaluations()] == [("WG-1", 1)]
    finally:
        await store.close()
