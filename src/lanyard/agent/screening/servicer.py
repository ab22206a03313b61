"""The Screening service for ticketing systems: thin glue to AgentService.check."""

from __future__ import annotations

import grpc

from lanyard.agent.grpc_errors import unary
from lanyard.agent.screening.decision import Decision, Reason
from lanyard.agent.service import AgentService
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc

PREFIX = "/lanyard.agent.v1.Screening/"

ROLE_NAMES = {
    screening_pb2.ROLE_UNSPECIFIED: "attendee",
    screening_pb2.ROLE_ATTENDEE: "attendee",
    screening_pb2.ROLE_SPEAKER: "speaker",
}
DECISIONS = {
    Decision.ALLOW: screening_pb2.DECISION_ALLOW,
    Decision.REVIEW: screening_pb2.DECISION_REVIEW,
    Decision.DENY: screening_pb2.DECISION_DENY,
}
REASONS = {
    Reason.NONE: screening_pb2.REASON_UNSPECIFIED,
    Reason.BANNED_CONFIRMED: screening_pb2.REASON_BANNED_CONFIRMED,
    Reason.BANNED_POSSIBLE: screening_pb2.REASON_BANNED_POSSIBLE,
    Reason.FLAGGED_CONFIRMED: screening_pb2.REASON_FLAGGED_CONFIRMED,
    Reason.FLAGGED_POSSIBLE: screening_pb2.REASON_FLAGGED_POSSIBLE,
}


class ScreeningServicer(screening_pb2_grpc.ScreeningServicer):
    def __init__(self, agent: AgentService) -> None:
        self._agent = agent

    @unary
    async def Check(
        self, request: screening_pb2.CheckRequest, context: grpc.aio.ServicerContext
    ) -> screening_pb2.CheckResponse:
        await self._agent.authenticate(context.invocation_metadata(), PREFIX + "Check")
        role = ROLE_NAMES.get(request.role, "")
        answer = await self._agent.check_answer(
            request.name, request.email, role or "?", request.caller_ref
        )
        result = answer.result
        return screening_pb2.CheckResponse(
            decision=DECISIONS[result.decision],
            reason=REASONS[result.reason],
            record_ref=result.record_ref,
            snapshot_version=answer.snapshot_version,
            snapshot_age_seconds=answer.snapshot_age_seconds,
        )
