"""The crypto floors every benchmark is a ratio against, measured in the same run.

A floor is one core's cost of the raw spec operations for one identity, best of a few
rounds, called straight on libsodium with nothing of Lanyard's around them: the agent's
side (spec SCREEN-v1 §2-§3: hash to group, blind, finalise with its own inversion of r)
and the registry's (§3: one multiplication by k). Whatever Lanyard adds (checks, wrappers,
batching, transport, storage) is what a benchmark's ratio to these floors shows. The
evaluation proof (§3a) has floors of its own, per point over a batch: the registry's
prover adds one weight and one multiplication per point, the agent's verifier two, and
each batch a constant part that its points share.

Floors are timed in the thread's own CPU time (time.thread_time), not wall time: on a
shared machine a floor loop descheduled for other programs would otherwise come out slow
and flatter every ratio against it. What such sharing does to the measured work shows in
each benchmark's "cores busy" figure instead.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

from nacl import bindings as sodium

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
    """One core's cost of the agent's libsodium work for one identity (spec §2-§3):
    SHA-512, two from_uniform and an add (hash to group), one multiplication (blind), one
    inversion and one multiplication (finalise)."""
    messages = bench_messages(iterations)
    scalars = [screen.random_scalar() for _ in range(iterations)]
    dst = screen.lp(b"lanyard:v1:h2g")
    sha512 = hashlib.sha512
    from_uniform = sodium.crypto_core_ed25519_from_uniform
    add = sodium.crypto_core_ed25519_add
    mul = sodium.crypto_scalarmult_ed25519_noclamp
    invert = sodium.crypto_core_ed25519_scalar_invert

    def one_round(count: int) -> tuple[float, int]:
        started = time.thread_time()
        for m, r in zip(messages[:count], scalars[:count], strict=True):
            u = sha512(dst + len(m).to_bytes(2, "big") + m).digest()
            b = mul(r, add(from_uniform(u[:32]), from_uniform(u[32:])))
            # Z = B stands in for the registry's answer: any valid point costs the same.
            mul(invert(r), b)
        return time.thread_time() - started, count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return _best_seconds_per_item(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def registry_floor_seconds(iterations: int) -> float:
    """One core's cost of the registry's libsodium work for one point: one multiplication
    by k (spec §3). The validity check the registry also runs on B is not in the floor."""
    k = screen.random_scalar()
    points = [screen.blind(m).blinded for m in bench_messages(iterations)]
    mul = sodium.crypto_scalarmult_ed25519_noclamp

    def one_round(count: int) -> tuple[float, int]:
        started = time.thread_time()
        for b in points[:count]:
            mul(k, b)
        return time.thread_time() - started, count

    one_round(min(FLOOR_WARMUP, iterations))
    per_round = max(1, iterations // FLOOR_ROUNDS)
    return _best_seconds_per_item(one_round(per_round) for _ in range(FLOOR_ROUNDS))


def point_check_seconds(iterations: int) -> float:
    """One core's cost of the validity check the registry runs on each blinded point
    before multiplying it (spec §3: canonical, on the curve, not of small order, in the
    prime-order subgroup). The spec requires it, the floor leaves it out; benchmarks show
    it beside the registry's figures, as work no implementation of the spec can skip."""
    points = [screen.blind(m).blinded for m in bench_messages(iterations)]
    valid = sodium.crypto_core_ed25519_is_valid_point

    def one_round(count: int) -> tuple[float, int]:
        started = time.thread_time()
        for b in points[:count]:
            valid(b)
        return time.thread_time() - started, count

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
        started = time.thread_time()
        for _ in range(batches):
            if verifier:
                proof.verify(pk, blinded, evaluated, made)
            else:
                m = proof.composite_part(seed, blinded, evaluated, 0, with_z=False).m
                proof.finish_proof(k, pk, m)
        return time.thread_time() - started, batches * size

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


def machine_ticks() -> tuple[int, int] | None:
    """(all, idle) CPU ticks of the whole machine since boot, from /proc/stat (Linux);
    None elsewhere. Two readings give how busy every core was between them, whoever
    used it: beside a process's own CPU time, that tells a benchmark starved by other
    programs from one that leaves cores idle."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields), sum(fields[3:5])  # idle and iowait


def machine_busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    """Share of the machine's CPU time busy between two machine_ticks() readings (-1.0
    when unknown)."""
    if before is None or after is None or after[0] <= before[0]:
        return -1.0
    return 1.0 - (after[1] - before[1]) / (after[0] - before[0])


def bytecode_note() -> str | None:
    """A sentence for tables with a whole-process figure when this environment keeps
    Python from caching bytecode (PYTHONDONTWRITEBYTECODE, inherited by the children
    measured): each child then compiles Lanyard's modules as it starts (about 0.1 s on 2
    shared cores), which an installed copy, compiled at installation, does not."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return None
    return (
        "PYTHONDONTWRITEBYTECODE is set: every `lanyard` process measured here compiles "
        "Lanyard's modules as it starts, which an installed copy does not."
    )
