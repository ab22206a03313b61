"""The crypto workers: bulk slices in processes, small ones on threads, same answers."""

from __future__ import annotations

import functools
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import grpc
import pytest

from lanyard.agent import grpc_errors as agent_status
from lanyard.core import blinding, proof, screen, serving
from lanyard.core.errors import Error, InvalidPoint, ProofFailed, WorkerStopped
from lanyard.core.workers import PROCESS_MIN_ITEMS, Workers, processes_available
from lanyard.registry import grpc_errors as registry_status
from lanyard.registry.evaluations import evaluate_and_prove

pytestmark = pytest.mark.skipif(not processes_available(), reason="no forkserver here")


def _pids(items: Sequence[object], offset: int) -> list[int]:
    return [os.getpid()] * len(items)


def _exit(items: Sequence[object], offset: int) -> list[int]:
    os._exit(3)


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers("test-workers", processes=2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


async def test_bulk_picklable_work_runs_in_processes_and_the_rest_on_threads(
    workers: Workers,
) -> None:
    bulk = list(range(PROCESS_MIN_ITEMS))
    assert set(await blinding.run_chunked(bulk, _pids, workers, picklable=True)) - {os.getpid()}
    # Work that may not be pickled, or too little of it to pay a hop: this process.
    assert set(await blinding.run_chunked(bulk, _pids, workers)) == {os.getpid()}
    small = bulk[: PROCESS_MIN_ITEMS - 1]
    assert set(await blinding.run_chunked(small, _pids, workers, picklable=True)) == {os.getpid()}


async def test_a_round_in_processes_gives_the_points_a_round_on_threads_gives(
    workers: Workers,
) -> None:
    k = screen.random_scalar()
    messages = [f"lanyard:v1:email:p{i}@example.org".encode() for i in range(PROCESS_MIN_ITEMS)]

    async def registry(points: list[bytes]) -> list[bytes]:
        return screen.evaluate_all(k, points)

    threads = Workers("test-threads", processes=0)
    try:
        in_threads = await blinding.blinded_round(messages, registry, threads)
    finally:
        threads.shutdown()
    in_processes = await blinding.blinded_round(messages, registry, workers)
    expected = [screen.multiply(k, screen.hash_to_group(m)) for m in messages]
    assert in_processes == in_threads == expected


async def test_a_bad_point_in_a_worker_is_named_by_its_place_in_the_batch(
    workers: Workers,
) -> None:
    k = screen.random_scalar()
    points = [screen.blind(b"m%d" % i).blinded for i in range(PROCESS_MIN_ITEMS + 50)]
    points[331] = bytes(32)  # the identity's neighbour: not a valid point
    with pytest.raises(InvalidPoint) as info:
        await evaluate_and_prove(k, proof.public_key(k), points, workers)
    assert info.value.index == 331


async def test_the_proof_checks_in_processes_and_refuses_a_tampered_answer(
    workers: Workers,
) -> None:
    k = screen.random_scalar()
    pk = proof.public_key(k)
    points = [screen.blind(b"m%d" % i).blinded for i in range(PROCESS_MIN_ITEMS)]
    evaluated, made = await evaluate_and_prove(k, pk, points, workers)
    await proof.verify_batch(pk, points, evaluated, proof.Proof.from_bytes(made), workers)
    evaluated[200] = screen.multiply(screen.random_scalar(), points[200])
    with pytest.raises(ProofFailed):
        await proof.verify_batch(pk, points, evaluated, proof.Proof.from_bytes(made), workers)


async def test_a_pool_whose_worker_died_fails_that_work_and_is_replaced(
    workers: Workers,
) -> None:
    bulk = list(range(PROCESS_MIN_ITEMS))
    with pytest.raises(Error, match="worker process stopped unexpectedly"):
        await blinding.run_chunked(bulk, _exit, workers, picklable=True)
    after = await blinding.run_chunked(bulk, functools.partial(_pids), workers, picklable=True)
    assert len(after) == len(bulk)
    assert set(after) - {os.getpid()}


def test_a_dead_worker_is_unavailable_on_either_service_never_internal() -> None:
    stopped = WorkerStopped("a crypto worker process stopped unexpectedly")
    for table in (agent_status.STATUS, registry_status.STATUS):
        assert serving.status_for(table, stopped) == grpc.StatusCode.UNAVAILABLE


_KILLED_PARENT = """
import os, sys
from lanyard.core.workers import Workers
pool = Workers("test-orphans", processes=2)
pids = pool.for_items(10_000, True).submit(os.getpid).result()
print(" ".join(str(p) for p in {pids} | set(pool._processes._processes)), flush=True)
sys.stdin.read()  # until killed
"""


def test_workers_end_when_their_parent_is_killed_outright() -> None:
    """SIGKILL (or SIGTERM's default, or the out-of-memory killer) runs no shutdown in the
    parent: its workers must not wait for work for ever."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert parent.stdout is not None
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert workers
    assert parent.pid not in workers
    # A descriptor per worker that becomes readable when it ends: wait on that, bounded.
    watched = {os.pidfd_open(pid): pid for pid in workers}
    parent.kill()
    parent.wait()
    try:
        deadline = time.monotonic() + 30
        while watched and time.monotonic() < deadline:
            ended, _, _ = select.select(list(watched), [], [], deadline - time.monotonic())
            for fd in ended:
                watched.pop(fd)
                os.close(fd)
        assert not watched, f"workers {sorted(watched.values())} outlived their parent"
    finally:
        for fd in watched:
            os.close(fd)
