"""The event-facing Registry service: thin glue from protobuf to RegistryService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from lanyard.registry.v1 import registry_pb2, registry_pb2_grpc, snapshot_pb2
from services.core import screen
from services.core.serving import abort, is_abort
from services.registry.grpc_errors import STATUS, unary
from services.registry.service import DeltaSnapshot, RegistryService

PREFIX = "/lanyard.registry.v1.Registry/"


def _entries(pairs: list[tuple[bytes, bytes]]) -> list[snapshot_pb2.SnapshotEntry]:
    return [snapshot_pb2.SnapshotEntry(tag=t, sealed=s) for t, s in pairs]


class RegistryServicer(registry_pb2_grpc.RegistryServicer):
    def __init__(self, service: RegistryService) -> None:
        self._service = service

    async def _event(self, context: grpc.aio.ServicerContext, method: str) -> str:
        principal = await self._service.authenticate(
            context.invocation_metadata(), PREFIX + method, allowed="event"
        )
        return principal.subject

    @unary
    async def Evaluate(
        self, request: registry_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.EvaluateResponse:
        event_id = await self._event(context, "Evaluate")
        evaluated, remaining = await self._service.evaluate(
            event_id, request.suite, request.epoch, list(request.blinded_points)
        )
        return registry_pb2.EvaluateResponse(
            suite=screen.SUITE,
            epoch=request.epoch,
            evaluated_points=evaluated,
            quota_remaining=remaining,
        )

    @unary
    async def GetSnapshot(
        self, request: registry_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.GetSnapshotResponse:
        await self._event(context, "GetSnapshot")
        snap = await self._service.snapshot(request.since_version)
        if isinstance(snap, DeltaSnapshot):
            return registry_pb2.GetSnapshotResponse(
                delta=registry_pb2.SnapshotDelta(
                    suite=screen.SUITE,
                    epoch=snap.epoch,
                    from_version=snap.from_version,
                    to_version=snap.to_version,
                    added=_entries(snap.added),
                    removed_tags=snap.removed_tags,
                    signature=snap.signature,
                )
            )
        return registry_pb2.GetSnapshotResponse(
            full=snapshot_pb2.Snapshot(
                suite=screen.SUITE,
                epoch=snap.epoch,
                version=snap.version,
                entries=_entries(snap.entries),
                signature=snap.signature,
            )
        )

    async def WatchSnapshot(
        self, request: registry_pb2.WatchSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.SnapshotAnnouncement]:
        try:
            await self._event(context, "WatchSnapshot")
            async for epoch, version in self._service.watch():
                yield registry_pb2.SnapshotAnnouncement(epoch=epoch, version=version)
        except Exception as exc:
            if is_abort(exc):
                raise
            await abort(STATUS, context, exc, "WatchSnapshot")
