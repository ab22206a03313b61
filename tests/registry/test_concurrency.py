"""Many callers at once against one real registry and its real SQLite file.

Bounded mixes (a few seconds each, 127.0.0.1 only) of Evaluate from several events,
SubmitReport, AddRecord, RemoveRecord (known and unknown refs) and snapshot reads. What
must hold: every evaluation answered is counted, exactly, and nothing else is; no call
answers INTERNAL; the records and the report log are what the callers were told.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
import nacl.public
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.core import envelope, screen
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry
from lanyard.wire.registry.v1 import registry_pb2
from tests.conftest import Enrolled, enroll

MIX_SECONDS = 3.0  # per mix; the 30 s soak is the same loop with a longer bound
EVENTS = 3
QUOTA = 1_500  # small enough that some evaluators meet the quota during the mix
POINTS = [screen.blind(f"lanyard:v1:email:p{i}@example.org".encode()).blinded for i in range(40)]

# What each kind of call may answer besides OK; anything else (INTERNAL above all) fails.
EXPECTED = {
    "evaluate": {grpc.StatusCode.RESOURCE_EXHAUSTED},
    # One event may submit a bounded number of reports a day (lanyard.core.limits).
    "submit": {grpc.StatusCode.RESOURCE_EXHAUSTED},
    "records": set(),
    "snapshot": set(),
}


class Tally:
    def __init__(self) -> None:
        self.codes: Counter[tuple[str, str]] = Counter()
        self.evaluated: Counter[str] = Counter()
        self.submitted: list[str] = []
        self.added: set[str] = set()
        self.removed: set[str] = set()

    def unexpected(self) -> dict[tuple[str, str], int]:
        return {
            (kind, code): n
            for (kind, code), n in self.codes.items()
            if code != "OK" and grpc.StatusCode[code] not in EXPECTED[kind]
        }


async def _until(
    deadline: float, tally: Tally, kind: str, call: Callable[[int], Awaitable[None]]
) -> None:
    for i in itertools.count():
        if time.monotonic() >= deadline:
            return
        try:
            await call(i)
            tally.codes[(kind, "OK")] += 1
        except RpcFailed as exc:
            tally.codes[(kind, exc.code.name)] += 1
        except grpc.aio.AioRpcError as exc:  # calls made on a raw stub
            tally.codes[(kind, exc.code().name)] += 1


async def _recipients(admin: AdminClient) -> None:
    await admin.add_recipient(
        "reader",
        bytes(nacl.public.PrivateKey.generate().public_key),
        bytes(nacl.signing.SigningKey.generate().verify_key),
    )


def _evaluator(ev: Enrolled, tally: Tally, epoch: int) -> Callable[[int], Awaitable[None]]:
    async def call(i: int) -> None:
        batch = POINTS[: 1 + (i * 7) % len(POINTS)]
        zs = await ev.client.evaluate(epoch, batch)
        assert len(zs) == len(batch)
        tally.evaluated[ev.event_id] += len(batch)

    return call


def _submitter(ev: Enrolled, tally: Tally) -> Callable[[int], Awaitable[None]]:
    async def call(i: int) -> None:
        recipients = await ev.client.recipients()
        sealed = envelope.seal_report(
            {"incidents": [], "n": i},
            ev.event_id,
            ev.key,
            recipients,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        receipt = await ev.client.submit_report(sealed.envelope, sealed.signature)
        assert receipt.submission_id == sealed.submission_id
        tally.submitted.append(sealed.submission_id)

    return call


def _record_writer(admin: AdminClient, tally: Tally, tag: str) -> Callable[[int], Awaitable[None]]:
    async def call(i: int) -> None:
        if i % 3 == 2:
            # An unknown ref: NOT_FOUND, and nothing else disturbed.
            try:
                await admin.remove_record(f"WG-NONE-{tag}-{i}")
            except RpcFailed as exc:
                if exc.code != grpc.StatusCode.NOT_FOUND:
                    raise
                return
            raise AssertionError("removing an unknown record succeeded")
        ref = f"WG-{tag}-{i}"
        if i % 3 == 1 and f"WG-{tag}-{i - 1}" in tally.added:
            await admin.remove_record(f"WG-{tag}-{i - 1}")
            tally.removed.add(f"WG-{tag}-{i - 1}")
            return
        await admin.add_record(ref, "banned", [Identifier(Kind.EMAIL, f"{tag}{i}@example.net")])
        tally.added.add(ref)

    return call


def _snapshot_reader(ev: Enrolled, tally: Tally) -> Callable[[int], Awaitable[None]]:
    async def call(i: int) -> None:
        # Alternately a full snapshot and a delta from an older version; both verify.
        since = 0 if i % 2 == 0 else max(1, i // 2)
        request = registry_pb2.GetSnapshotRequest(since_version=since)
        response = await ev.client._stub.GetSnapshot(
            request,
            metadata=ev.client._signer.metadata(
                "/lanyard.registry.v1.Registry/GetSnapshot", request
            ),
        )
        assert response.WhichOneof("body") in ("full", "delta")

    return call


@pytest.mark.slow
async def test_mixed_writers_count_every_evaluation_and_never_fail_internally(
    registry: RunningRegistry, admin: AdminClient, channel: grpc.aio.Channel
) -> None:
    events = [await enroll(admin, channel, f"mix-{n}", quota=QUOTA) for n in range(EVENTS)]
    await _recipients(admin)
    epoch = await admin.current_epoch()
    tally = Tally()
    deadline = time.monotonic() + MIX_SECONDS
    workers: list[Awaitable[None]] = []
    for ev in events:
        for _ in range(3):
            workers.append(_until(deadline, tally, "evaluate", _evaluator(ev, tally, epoch)))
        workers.append(_until(deadline, tally, "submit", _submitter(ev, tally)))
        workers.append(_until(deadline, tally, "snapshot", _snapshot_reader(ev, tally)))
    for tag in ("a", "b"):
        workers.append(_until(deadline, tally, "records", _record_writer(admin, tally, tag)))
    await asyncio.gather(*workers)

    assert not tally.unexpected(), tally.codes
    for kind in ("evaluate", "submit", "records", "snapshot"):
        assert tally.codes[(kind, "OK")] > 0, (kind, tally.codes)
    # The quota counters equal the evaluations answered, exactly, and stay within quota.
    used = {e.event_id: e.evaluations_used for e in await admin.list_events()}
    for ev in events:
        assert used[ev.event_id] == tally.evaluated[ev.event_id], (ev.event_id, tally.codes)
        assert used[ev.event_id] <= QUOTA
    # Records and the report log hold what callers were told, no more, no less.
    listed = {r.record_ref for r in (await admin.list_records()).records}
    assert listed == tally.added - tally.removed
    logged = {s.receipt.submission_id for s in await admin.list_submissions()}
    assert logged == set(tally.submitted)
