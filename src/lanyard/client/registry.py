"""The event's side of the registry: batched blinded evaluation and verified snapshots.

Only blinded points leave through this client. Every snapshot is verified against the
registry signing key the event pinned at enrolment before it replaces the one held. When
the registry has rotated that key, a signature by an unknown key makes the client fetch
the key chain, walk it from the pinned key (core/keychain.py) and verify again; a chain
that does not lead from the pinned key is refused like a bad signature; the
epoch's OPRF public key comes inside that signature, and every Evaluate answer is checked
against it (the batched proof of spec SCREEN-v1 §3a) and against the evaluation log's
signed head (§3b) before any point of it is finalised.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime

import grpc
import nacl.signing

from lanyard.client.errors import EvaluationLogInvalid, EvaluationProofFailed, TranslatingStub
from lanyard.client.snapshots import (
    LocalSnapshot,
    StreamedSnapshot,
    apply_response,
    assemble,
    unverified,
    verify_snapshot,
)
from lanyard.core import (
    auth,
    blinding,
    envelope,
    evaluation_log,
    keychain,
    keys,
    limits,
    proof,
    screen,
)
from lanyard.core.errors import ProofFailed, SignatureError
from lanyard.wire.registry.v1 import (
    evaluation_log_pb2,
    registry_pb2,
    registry_pb2_grpc,
    reports_pb2,
)

__all__ = [
    "DEFAULT_BATCH",
    "LocalSnapshot",
    "RegistryClient",
    "StreamedSnapshot",
    "apply_response",
    "assemble",
]

PREFIX = "/lanyard.registry.v1.Registry/"
DEFAULT_BATCH = min(1000, limits.MAX_BATCH)  # points per Evaluate call


class RegistryClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        event_id: str,
        event_key: nacl.signing.SigningKey,
        registry_key: bytes,
        endpoint: str = "",
    ) -> None:
        self._stub = TranslatingStub(registry_pb2_grpc.RegistryStub(channel), "registry", endpoint)
        self._signer = auth.CallSigner(f"event:{event_id}", event_key)
        self._event_id = event_id
        self._registry_key = registry_key
        self._trusted = [registry_key]
        self._retired: dict[bytes, datetime] = {}
        self._epoch_keys: dict[int, bytes] = {}
        self.quota_remaining: int | None = None
        self.last_log_entry: evaluation_log_pb2.EvaluationLogEntry | None = None

    def epoch_key(self, epoch: int) -> bytes | None:
        """The public key of `epoch` from the newest verified snapshot, if one came."""
        return self._epoch_keys.get(epoch)

    def pin(self, registry_key: bytes) -> None:
        """Verify everything from now on against `registry_key` (32-byte Ed25519 public
        key): the key an enrolment bundle names. The key chain is walked from it."""
        self._registry_key = registry_key
        self._trusted = [registry_key]
        self._retired = {}

    @property
    def registry_key(self) -> bytes:
        """The registry signing key trusted today (32 bytes)."""
        return self._registry_key

    @property
    def trusted_keys(self) -> tuple[bytes, ...]:
        """The pinned key, then each key the chain has vouched for so far, in order: what
        the registry signed with any of them (receipts, tree heads) still verifies."""
        return tuple(self._trusted)

    async def follow_key_chain(self) -> bytes:
        """Fetch the registry's key chain and trust its current key if the chain leads to
        it from the pinned key; returns that key. Raises SignatureError on a break."""
        response = await self._stub.GetKeyChain(
            request := registry_pb2.GetKeyChainRequest(),
            metadata=self._signer.metadata(PREFIX + "GetKeyChain", request),
        )
        transitions = list(response.transitions)
        self._trusted = keychain.follow(
            self._trusted[0], transitions, bytes(response.current_public_key)
        )
        self._retired = keychain.retirements(transitions)
        self._registry_key = self._trusted[-1]
        return self._registry_key

    def _try(self, keys_: Sequence[bytes], check: Callable[[bytes], None], at: str) -> bool:
        for key in keys_:
            if not keychain.valid_at(self._retired, key, at):
                continue
            try:
                check(key)
                return True
            except SignatureError:
                continue
        return False

    async def verify_signed(self, check: Callable[[bytes], None], signed_at: str) -> None:
        """`check(key)` raises SignatureError unless `key` made the signature at hand,
        on something dated `signed_at` (ISO 8601). Passes if a trusted key did — a key the
        chain retired only for what is dated before its hand-over; else follows the key
        chain once and tries again. Raises SignatureError if none did, or the chain breaks."""
        if self._try(list(reversed(self._trusted)), check, signed_at):
            return
        await self.follow_key_chain()
        if self._try(list(reversed(self._trusted)), check, signed_at):
            return
        check(self._registry_key)

    async def _current_signed(self, check: Callable[[bytes], None]) -> None:
        """Like verify_signed, for what only today's key may sign (snapshots, sets)."""
        try:
            check(self._registry_key)
        except SignatureError:
            before = self._registry_key
            if await self.follow_key_chain() == before:
                raise
            check(self._registry_key)

    async def rekey_event(
        self, event_id: str, old_key: nacl.signing.SigningKey, new_key: nacl.signing.SigningKey
    ) -> int:
        """Move the event to `new_key` (both keys sign the statement); from then on this
        client signs its calls with the new key. Returns how many keys the event retired."""
        old_public, new_public = bytes(old_key.verify_key), bytes(new_key.verify_key)
        statement = keychain.event_rekey_message(event_id, old_public, new_public)
        response = await self._stub.RekeyEvent(
            request := registry_pb2.RekeyEventRequest(
                new_public_key=new_public,
                old_signature=keys.sign(old_key, statement),
                new_signature=keys.sign(new_key, statement),
            ),
            metadata=self._signer.metadata(PREFIX + "RekeyEvent", request),
        )
        self._signer = auth.CallSigner(f"event:{event_id}", new_key)
        return int(response.retired_keys)

    async def evaluate(
        self, epoch: int, blinded: list[bytes], executor: Executor | None = None
    ) -> list[bytes]:
        """One Evaluate call: Z for each blinded point, in order, once the §3a proof has
        verified under the epoch's public key (from a verified snapshot; fetched first if
        none was) and the answer's log entry holds the call's own leaf (§3b).

        Raises EvaluationProofFailed or EvaluationLogInvalid (a registry fault: use
        nothing of the answer), or RpcFailed."""
        if epoch not in self._epoch_keys:
            # Learn the key from a verified snapshot; a registry that has moved on to
            # another epoch refuses the call below (FAILED_PRECONDITION).
            await self.refresh(LocalSnapshot())
        response = await self._stub.Evaluate(
            request := registry_pb2.EvaluateRequest(
                suite=screen.SUITE, epoch=epoch, blinded_points=blinded
            ),
            metadata=self._signer.metadata(PREFIX + "Evaluate", request),
        )
        evaluated = list(response.evaluated_points)
        key = self._epoch_keys.get(epoch)
        if key is None:
            raise EvaluationProofFailed(
                f"the registry's evaluation proof failed: no signed snapshot publishes the "
                f"public key of epoch {epoch}"
            )
        try:
            await proof.verify_batch(
                key, blinded, evaluated, proof.Proof.from_bytes(response.proof), executor
            )
        except ProofFailed as exc:
            raise EvaluationProofFailed(f"the registry's evaluation proof failed: {exc}") from exc
        leaf = evaluation_log.Leaf(
            f"event:{self._event_id}",
            self._event_id,
            epoch,
            len(blinded),
            response.log_entry.logged_at,
            evaluation_log.points_digest(blinded),
        )
        entry = response.log_entry
        try:
            # The head was signed just now: by today's key only, learnt through the key
            # chain when it was rotated in since this client last followed it (a Check of
            # a new person just after a rotation). A retired key does not pass, whatever
            # date the head claims.
            await self._current_signed(lambda key: evaluation_log.verify_entry(key, leaf, entry))
        except SignatureError as exc:
            raise EvaluationLogInvalid(
                f"the registry's evaluation log entry does not verify: {exc}"
            ) from exc
        self.quota_remaining = response.quota_remaining
        self.last_log_entry = response.log_entry
        return evaluated

    async def quota(self) -> registry_pb2.GetQuotaResponse:
        """This event's quota, evaluations used and enrolment window."""
        request = registry_pb2.GetQuotaRequest()
        response: registry_pb2.GetQuotaResponse = await self._stub.GetQuota(
            request, metadata=self._signer.metadata(PREFIX + "GetQuota", request)
        )
        self.quota_remaining = response.quota - response.evaluations_used
        return response

    async def evaluate_messages(
        self,
        epoch: int,
        messages: Sequence[bytes],
        executor: Executor | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> list[bytes]:
        """Y = k * P for each message, through blinded rounds of `batch` points."""
        ys: list[bytes] = []
        for start in range(0, len(messages), batch):
            ys.extend(
                await blinding.blinded_round(
                    messages[start : start + batch],
                    lambda b: self.evaluate(epoch, b, executor),
                    executor,
                )
            )
        return ys

    async def refresh(self, current: LocalSnapshot) -> LocalSnapshot:
        """Fetch a delta since `current` (or everything, in chunks: StreamSnapshot; always
        everything when `current` is not verified) and return the verified result.
        Raises SignatureError (nothing held changes) or RpcFailed."""
        since = current.version if current.verified else 0
        call = self._stub.streaming("StreamSnapshot")(
            request := registry_pb2.GetSnapshotRequest(since_version=since),
            metadata=self._signer.metadata(PREFIX + "StreamSnapshot", request),
        )
        fresh, suite = unverified(current, await assemble(call, current.entries))
        await self._current_signed(lambda key: verify_snapshot(fresh, suite, key))
        self._epoch_keys[fresh.epoch] = fresh.public_key
        return fresh

    async def watch(self) -> AsyncGenerator[tuple[int, int], None]:
        call = self._stub.streaming("WatchSnapshot")(
            request := registry_pb2.WatchSnapshotRequest(),
            metadata=self._signer.metadata(PREFIX + "WatchSnapshot", request),
        )
        async for announcement in call:
            yield announcement.epoch, announcement.version

    # -- end-of-event reports --------------------------------------------------------------
    async def recipients(self) -> reports_pb2.RecipientSet:
        """The WG's report readers, verified against the pinned registry key."""
        response = await self._stub.GetRecipients(
            request := reports_pb2.GetRecipientsRequest(),
            metadata=self._signer.metadata(PREFIX + "GetRecipients", request),
        )
        await self._current_signed(lambda key: envelope.verify_recipients(key, response.recipients))
        recipients: reports_pb2.RecipientSet = response.recipients
        return recipients

    async def submit_report(self, data: bytes, signature: bytes) -> reports_pb2.Receipt:
        response = await self._stub.SubmitReport(
            request := reports_pb2.SubmitReportRequest(envelope=data, signature=signature),
            metadata=self._signer.metadata(PREFIX + "SubmitReport", request),
        )
        receipt: reports_pb2.Receipt = response.receipt
        return receipt

    async def attachment_state(self, submission_id: str) -> dict[int, int]:
        """Chunks the registry holds per blob of a submission not yet (or just) logged."""
        request = reports_pb2.AttachmentStateRequest(submission_id=submission_id)
        response = await self._stub.AttachmentState(
            request, metadata=self._signer.metadata(PREFIX + "AttachmentState", request)
        )
        return dict(response.chunks_held)

    async def upload_attachment(
        self, submission_id: str, blob: int, first_chunk: int, sealed: AsyncIterator[bytes]
    ) -> int:
        """Stream a blob's sealed chunks from `first_chunk` on; returns chunks held.
        The call token covers the first (header) message."""
        header = reports_pb2.UploadAttachmentRequest(
            header=reports_pb2.UploadAttachmentHeader(
                submission_id=submission_id, blob=blob, first_chunk=first_chunk
            )
        )

        async def requests() -> AsyncIterator[reports_pb2.UploadAttachmentRequest]:
            yield header
            async for chunk in sealed:
                yield reports_pb2.UploadAttachmentRequest(chunk=chunk)

        response = await self._stub.UploadAttachment(
            requests(), metadata=self._signer.metadata(PREFIX + "UploadAttachment", header)
        )
        return int(response.chunks_held)

    async def tree_head(self) -> reports_pb2.TreeHead:
        response = await self._stub.GetTreeHead(
            request := reports_pb2.GetTreeHeadRequest(),
            metadata=self._signer.metadata(PREFIX + "GetTreeHead", request),
        )
        await self._current_signed(lambda key: envelope.verify_tree_head(key, response.head))
        head: reports_pb2.TreeHead = response.head
        return head

    async def inclusion_proof(self, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
        response = await self._stub.GetInclusionProof(
            request := reports_pb2.GetInclusionProofRequest(log_index=index, tree_size=tree_size),
            metadata=self._signer.metadata(PREFIX + "GetInclusionProof", request),
        )
        return bytes(response.leaf), list(response.path)

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        response = await self._stub.GetConsistencyProof(
            request := reports_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size),
            metadata=self._signer.metadata(PREFIX + "GetConsistencyProof", request),
        )
        return list(response.path)

    async def submission_status(
        self, submission_id: str
    ) -> reports_pb2.GetSubmissionStatusResponse:
        response: reports_pb2.GetSubmissionStatusResponse = await self._stub.GetSubmissionStatus(
            request := reports_pb2.GetSubmissionStatusRequest(submission_id=submission_id),
            metadata=self._signer.metadata(PREFIX + "GetSubmissionStatus", request),
        )
        return response
