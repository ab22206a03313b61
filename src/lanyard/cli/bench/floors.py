"""The crypto floors every benchmark is a ratio against, measured in the same run.

A floor is one core's cost of the raw spec operations for one identity, best of a few
rounds: the agent's side (spec SCREEN-v1 §2-§3: hash to group, blind, finalise) and the
registry's (§3: check the point, multiply by k), each with its share of the evaluation
proof (§3a): the registry's prover adds one weight and one multiplication per point, the
agent's verifier two, and each batch a constant part that its points share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from lanyard.core import proof, screen

FLOOR_ROUNDS = 3
FLOOR_WARMUP = 200
BUSY_ENOUGH = 0.9  # below this, the cores were not all the process's


def bench_messages(count: int) -> list[bytes]:
    # Shaped like spec §1 messages; normalisation is not libsodium work, so not timed.
    return [f"lanyard:v1:email:bench-{i}@example.org".encode() for i in range(count)]


def _best_seconds_per_item(rounds: Iterator[tuple[float, int]]) -> float:
    """The fastest round: the floor is what the machine can do, not what it did once."""
    return min(seconds / count for seconds, count in rounds)


def agent_floor_seconds(iterations: int) -> float:
    """One core's cost of the agent's libsodium work for one identity (spec §2-§3)."""
    messages = bench_messages(iterations)
    scalars = [screen.random_scalar() for _ in range(iterations)]

    def one_round(count: int) -> tuple[float, int]:
        started = time.perf_counter()
        for m, r in zip(messages[:count], scalars[:count], strict=True):
            b = screen.multiply(r, screen.hash_to_group(m))
            # Z = B stands in for the registry's answer: any valid point costs the same.
            screen.finalize(r, b)
        return time.perf_counter() - started, count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return _best_seconds_per_item(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def registry_floor_seconds(iterations: int) -> float:
    """One core's cost of screen.evaluate for one point: exactly the server's per-point work."""
    k = screen.random_scalar()
    points = [screen.blind(m).blinded for m in bench_messages(iterations)]

    def one_round(count: int) -> tuple[float, int]:
        started = time.perf_counter()
        for b in points[:count]:
            screen.evaluate(k, b)
        return time.perf_counter() - started, count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return _best_seconds_per_item(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def proof_floor_seconds(iterations: int, batch: int, verifier: bool) -> float:
    """One core's cost per point of the §3a proof over batches of `batch` points: the
    prover's (the registry's, given Z) or the verifier's (the agent's)."""
    size = max(1, min(batch, iterations, proof.MAX_BATCH))
    k = screen.random_scalar()
    pk = proof.public_key(k)
    seed = proof.seed(pk)
    blinded = [screen.blind(m).blinded for m in bench_messages(size)]
    evaluated = [screen.evaluate(k, b) for b in blinded]
    made = proof.prove(k, blinded, evaluated)

    def one_round(count: int) -> tuple[float, int]:
        batches = max(1, count // size)
        started = time.perf_counter()
        for _ in range(batches):
            if verifier:
                proof.verify(pk, blinded, evaluated, made)
            else:
                m = proof.composite_part(seed, blinded, evaluated, 0, with_z=False).m
                proof.finish_proof(k, pk, m)
        return time.perf_counter() - started, batches * size

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return _best_seconds_per_item(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def available_cores() -> int:
    """The cores the registry's evaluation pool can use.

    server.running sizes the pool to os.cpu_count(); an affinity mask (taskset, a
    container's cpuset) can leave it fewer cores than threads, and then fewer is the truth.
    """
    pool = os.cpu_count() or 1
    try:
        return min(pool, len(os.sched_getaffinity(0)))
    except AttributeError:  # not every platform has affinity masks
        return pool
