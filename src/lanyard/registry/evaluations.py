"""The registry's side of verifiable evaluation (spec SCREEN-v1 §3a) and of the
evaluation log (§3b).

Each slice of a batch is evaluated and folded into its partial composite by a worker (a
process for bulk batches, a thread for small ones: core/workers.py), so the proof's
per-point work spreads over cores like the evaluation itself; only the proof's constant
part runs on the event loop.

Every accepted evaluation becomes a leaf in the same store transaction that charges it
(the store's charge method appends the leaf it is handed). Leaves are appended one at a
time, under one lock, so that the in-memory frontier, the index each leaf is given and the
database agree; the answer carries the leaf's index, a signed tree head that contains it
and the inclusion proof, all computed in O(log n).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import nacl.signing
import structlog

from lanyard.core import evaluation_log, proof
from lanyard.core.blinding import run_chunked
from lanyard.core.evaluation_log import Frontier, Leaf
from lanyard.registry.errors import LogOutOfStep
from lanyard.registry.store import LoggedEvaluation, Store
from lanyard.wire.registry.v1 import evaluation_log_pb2, reports_pb2

log = structlog.get_logger("lanyard.registry")

Charge = Callable[[LoggedEvaluation], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One answered batch: Z per point, the 64-byte §3a proof, the quota left (0 for
    admin keys), and where the call sits in the evaluation log."""

    evaluated: list[bytes]
    proof: bytes
    quota_remaining: int
    log_entry: evaluation_log_pb2.EvaluationLogEntry


async def evaluate_and_prove(
    k: bytes, pk: bytes, points: Sequence[bytes], executor: Executor | None
) -> tuple[list[bytes], bytes]:
    """Z = k * B for each point (checked, spec §3) and the 64-byte proof over the whole
    batch under `pk` (§3a). Raises InvalidPoint naming the first bad point's index."""
    work = functools.partial(proof.evaluate_slice, k, proof.seed(pk))
    parts = await run_chunked(points, work, executor, picklable=True)
    made = proof.finish_proof(k, pk, proof.combine([c for _, c in parts]).m)
    return [z for zs, _ in parts for z in zs], made.to_bytes()


class EvaluationLog:
    def __init__(self, store: Store, signing_key: nacl.signing.SigningKey) -> None:
        self._store = store
        self._key = signing_key
        self._frontier = Frontier()
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        self._frontier = Frontier(await self._store.evaluation_hashes())
        log.info("registry.evaluation_log_loaded", size=self._frontier.size)

    @property
    def size(self) -> int:
        return self._frontier.size

    async def rekey(self, signing_key: nacl.signing.SigningKey) -> None:
        """Sign tree heads with `signing_key` from now on: after a signing-key rotation,
        agents that followed the chain (or enrolled since) verify heads with the new key.
        Taken under the log's lock, so a leaf being appended is answered with one key."""
        async with self._lock:
            self._key = signing_key

    def head(self) -> reports_pb2.TreeHead:
        """The signed tree head of the whole log now."""
        return evaluation_log.sign_tree_head(self._key, self._frontier.size, self._frontier.root())

    async def record(
        self, caller: str, event_id: str, epoch: int, points: Sequence[bytes], charge: Charge
    ) -> tuple[int, evaluation_log_pb2.EvaluationLogEntry]:
        """Build the call's leaf, have `charge` commit it (with the quota, for events), and
        return what `charge` returned with the log entry for the answer. Nothing is
        logged when `charge` raises.

        Shielded: a caller that goes away mid-call must not leave a committed leaf out of
        this view of the log (the next leaf would then be refused)."""
        return await asyncio.shield(self._record(caller, event_id, epoch, points, charge))

    async def _record(
        self, caller: str, event_id: str, epoch: int, points: Sequence[bytes], charge: Charge
    ) -> tuple[int, evaluation_log_pb2.EvaluationLogEntry]:
        async with self._lock:
            leaf = Leaf(
                caller,
                event_id,
                epoch,
                len(points),
                evaluation_log.now(),
                evaluation_log.points_digest(points),
            )
            try:
                result = await charge(LoggedEvaluation(self._frontier.size, leaf))
            except LogOutOfStep:
                # The database holds leaves this view lacks: reload, and try once more
                # (the refused transaction charged nothing).
                log.warning("registry.evaluation_log_reloaded", size=self._frontier.size)
                await self.load()
                result = await charge(LoggedEvaluation(self._frontier.size, leaf))
            index = self._frontier.size
            path = self._frontier.append(leaf.hash())
            head = self.head()
        return result, evaluation_log_pb2.EvaluationLogEntry(
            log_index=index, logged_at=leaf.logged_at, head=head, path=path
        )
