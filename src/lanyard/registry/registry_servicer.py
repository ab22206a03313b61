"""The event-facing Registry service: thin glue from protobuf to RegistryService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from lanyard.core import auth, limits, screen
from lanyard.core.serving import abort, is_abort
from lanyard.registry import event_keys, snapshots
from lanyard.registry.blobs import BlobService
from lanyard.registry.errors import InvalidRequest, TooLarge, Unauthenticated
from lanyard.registry.grpc_errors import STATUS, unary
from lanyard.registry.service import RegistryService
from lanyard.registry.signing import SigningKeys
from lanyard.registry.snapshots import DeltaSnapshot, FullSnapshot
from lanyard.registry.store import Event
from lanyard.registry.submissions import SubmissionService
from lanyard.wire.registry.v1 import registry_pb2, registry_pb2_grpc, reports_pb2, snapshot_pb2

PREFIX = "/lanyard.registry.v1.Registry/"
CHUNK_ENTRIES = 8192  # ~1.4 MB a message: far below any limit, few enough messages


def _put(
    into: RepeatedCompositeFieldContainer[snapshot_pb2.SnapshotEntry],
    pairs: list[tuple[bytes, bytes]],
) -> None:
    """Append (tag, sealed) pairs to a repeated SnapshotEntry field: adding in place is
    about twice as fast as building the messages apart (8,192 entries a chunk)."""
    add = into.add
    for tag, sealed in pairs:
        add(tag=tag, sealed=sealed)


def _delta(snap: DeltaSnapshot) -> registry_pb2.SnapshotDelta:
    delta = registry_pb2.SnapshotDelta(
        suite=screen.SUITE,
        epoch=snap.epoch,
        from_version=snap.from_version,
        to_version=snap.to_version,
        removed_tags=snap.removed_tags,
        signature=snap.signature,
        epoch_public_key=snap.public_key,
    )
    _put(delta.added, snap.added)
    return delta


def _header(snap: FullSnapshot) -> snapshot_pb2.Snapshot:
    """Everything of a whole snapshot but its entries."""
    return snapshot_pb2.Snapshot(
        suite=screen.SUITE,
        epoch=snap.epoch,
        version=snap.version,
        signature=snap.signature,
        epoch_public_key=snap.public_key,
    )


class RegistryServicer(registry_pb2_grpc.RegistryServicer):
    def __init__(
        self, service: RegistryService, submissions: SubmissionService, signing: SigningKeys
    ) -> None:
        self._service = service
        self._subs = submissions
        self._signing = signing

    async def _event(self, context: grpc.aio.ServicerContext, method: str) -> Event:
        """The calling event's enrolment, as authentication read it (no second lookup)."""
        principal = await self._service.authenticate(
            context.invocation_metadata(), PREFIX + method, allowed="event"
        )
        if principal.event is None:
            raise Unauthenticated(auth.REFUSED)
        return principal.event

    @unary
    async def Evaluate(
        self, request: registry_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.EvaluateResponse:
        event = await self._event(context, "Evaluate")
        answer = await self._service.evaluate(
            event, request.suite, request.epoch, list(request.blinded_points)
        )
        return registry_pb2.EvaluateResponse(
            suite=screen.SUITE,
            epoch=request.epoch,
            evaluated_points=answer.evaluated,
            quota_remaining=answer.quota_remaining,
            proof=answer.proof,
            log_entry=answer.log_entry,
        )

    @unary
    async def GetKeyChain(
        self, request: registry_pb2.GetKeyChainRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.GetKeyChainResponse:
        await self._event(context, "GetKeyChain")
        transitions, current = await self._signing.chain()
        return registry_pb2.GetKeyChainResponse(transitions=transitions, current_public_key=current)

    @unary
    async def RekeyEvent(
        self, request: registry_pb2.RekeyEventRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.RekeyEventResponse:
        event = await self._event(context, "RekeyEvent")
        stored = await event_keys.rekey_event(
            self._service.store,
            event,
            request.new_public_key,
            request.old_signature,
            request.new_signature,
        )
        return registry_pb2.RekeyEventResponse(retired_keys=len(stored.retired_keys))

    @unary
    async def GetQuota(
        self, request: registry_pb2.GetQuotaRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.GetQuotaResponse:
        event = await self._event(context, "GetQuota")
        first, last = self._service.window(event)
        return registry_pb2.GetQuotaResponse(
            quota=event.quota,
            evaluations_used=event.used,
            evaluate_from=first.isoformat(),
            evaluate_until=last.isoformat(),
        )

    @unary
    async def GetSnapshot(
        self, request: registry_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.GetSnapshotResponse:
        await self._event(context, "GetSnapshot")
        async with self._service.snapshot(request.since_version) as snap:
            if isinstance(snap, DeltaSnapshot):
                return registry_pb2.GetSnapshotResponse(delta=_delta(snap))
            if snap.count * snapshots.WIRE_ENTRY_BYTES > snapshots.ANSWER_BUDGET:
                raise TooLarge(
                    f"the snapshot's {snap.count:,} entries do not fit in one "
                    f"{limits.MAX_RESPONSE_BYTES // limits.MIB} MiB answer; use StreamSnapshot"
                )
            header = _header(snap)
            async for part in snap.chunks(CHUNK_ENTRIES):
                _put(header.entries, part)
        return registry_pb2.GetSnapshotResponse(full=header)

    async def StreamSnapshot(
        self, request: registry_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.SnapshotChunk]:
        try:
            await self._event(context, "StreamSnapshot")
            async with self._service.snapshot(request.since_version) as snap:
                if isinstance(snap, DeltaSnapshot):
                    yield registry_pb2.SnapshotChunk(delta=_delta(snap))
                    return
                # The header and the reader were taken together under the service's
                # lock: every chunk is of the header's version, whatever commits meanwhile.
                yield registry_pb2.SnapshotChunk(header=_header(snap))
                async for part in snap.chunks(CHUNK_ENTRIES):
                    chunk = registry_pb2.SnapshotChunk()
                    _put(chunk.entries.entries, part)
                    yield chunk
        except Exception as exc:
            if is_abort(exc):
                raise
            await abort(STATUS, context, exc, "StreamSnapshot")

    async def WatchSnapshot(
        self, request: registry_pb2.WatchSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.SnapshotAnnouncement]:
        try:
            event = await self._event(context, "WatchSnapshot")
            async for epoch, version in self._service.watch(event.event_id):
                yield registry_pb2.SnapshotAnnouncement(epoch=epoch, version=version)
        except Exception as exc:
            if is_abort(exc):
                raise
            await abort(STATUS, context, exc, "WatchSnapshot")

    # -- end-of-event reports --------------------------------------------------------------
    @unary
    async def GetRecipients(
        self, request: reports_pb2.GetRecipientsRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.GetRecipientsResponse:
        await self._event(context, "GetRecipients")
        return reports_pb2.GetRecipientsResponse(recipients=await self._subs.recipient_set())

    @unary
    async def SubmitReport(
        self, request: reports_pb2.SubmitReportRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.SubmitReportResponse:
        event = await self._event(context, "SubmitReport")
        receipt = await self._subs.submit(event, request.envelope, request.signature)
        return reports_pb2.SubmitReportResponse(receipt=receipt)

    @unary
    async def UploadAttachment(
        self,
        request_iterator: AsyncIterator[reports_pb2.UploadAttachmentRequest],
        context: grpc.aio.ServicerContext,
    ) -> reports_pb2.UploadAttachmentResponse:
        first = await anext(aiter(request_iterator), None)
        # The call token of a client-streaming call covers its first (header) message;
        # the caller is authenticated before anything about the stream is judged.
        auth.REQUEST_DIGEST.set(auth.body_digest(first.SerializeToString() if first else b""))
        event = await self._event(context, "UploadAttachment")
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidRequest("the first message of an upload must carry the header")

        async def pieces() -> AsyncIterator[bytes]:
            async for request in request_iterator:
                if request.WhichOneof("part") != "chunk":
                    raise InvalidRequest("only the first message of an upload is a header")
                yield request.chunk

        blobs = self._blobs()
        logged = await self._subs.is_logged(first.header.submission_id)
        held = await blobs.upload(event.event_id, first.header, logged, pieces())
        return reports_pb2.UploadAttachmentResponse(chunks_held=held)

    @unary
    async def AttachmentState(
        self, request: reports_pb2.AttachmentStateRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.AttachmentStateResponse:
        event = await self._event(context, "AttachmentState")
        held = await self._blobs().state(event.event_id, request.submission_id)
        return reports_pb2.AttachmentStateResponse(chunks_held=held)

    def _blobs(self) -> BlobService:
        if self._subs.blobs is None:
            raise InvalidRequest("this registry does not take reports with files")
        return self._subs.blobs

    @unary
    async def GetTreeHead(
        self, request: reports_pb2.GetTreeHeadRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.GetTreeHeadResponse:
        await self._event(context, "GetTreeHead")
        return reports_pb2.GetTreeHeadResponse(head=self._subs.tree_head())

    @unary
    async def GetInclusionProof(
        self, request: reports_pb2.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.GetInclusionProofResponse:
        event = await self._event(context, "GetInclusionProof")
        leaf, path = await self._subs.inclusion(
            request.log_index, request.tree_size, event.event_id
        )
        return reports_pb2.GetInclusionProofResponse(leaf=leaf, path=path)

    @unary
    async def GetConsistencyProof(
        self,
        request: reports_pb2.GetConsistencyProofRequest,
        context: grpc.aio.ServicerContext,
    ) -> reports_pb2.GetConsistencyProofResponse:
        await self._event(context, "GetConsistencyProof")
        path = self._subs.consistency(request.old_size, request.new_size)
        return reports_pb2.GetConsistencyProofResponse(path=path)

    @unary
    async def GetSubmissionStatus(
        self,
        request: reports_pb2.GetSubmissionStatusRequest,
        context: grpc.aio.ServicerContext,
    ) -> reports_pb2.GetSubmissionStatusResponse:
        event = await self._event(context, "GetSubmissionStatus")
        sub, steps = await self._subs.status(request.submission_id, event.event_id)
        return reports_pb2.GetSubmissionStatusResponse(
            receipt=sub.receipt, status=sub.status, steps=steps
        )
