"""The WG's Admin service: thin glue from protobuf to RegistryService."""

from __future__ import annotations

from datetime import date

import grpc
import structlog

from lanyard.core import screen, snapshot
from lanyard.registry import retention
from lanyard.registry.errors import InvalidRequest, PermissionDenied
from lanyard.registry.grpc_errors import unary
from lanyard.registry.record_changes import KEEP, Keep, RecordUpdate
from lanyard.registry.retention import Policy
from lanyard.registry.service import RegistryService
from lanyard.registry.signing import SigningKeys
from lanyard.registry.store import Event, Record, RecordEvent
from lanyard.registry.submission_store import StoredSubmission, SubmissionSummary
from lanyard.registry.submissions import SubmissionService
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc, evaluation_log_pb2, reports_pb2

PREFIX = "/lanyard.registry.v1.Admin/"
log = structlog.get_logger("lanyard.registry")
# What a WG report reader's key may do: read and acknowledge submissions, and turn the
# people a report names into records (through the blinded round).
READER_METHODS = frozenset(
    {
        "ListEvents",
        "ListRecords",
        "GetState",
        "EvaluateForRecord",
        "AddRecord",
        "UpdateRecord",
        "GetRecord",
        # The schedule a reader's record add or update derives its expiry from.
        "GetRetention",
        "ListRecipients",
        "RekeyRecipient",
        "ListSubmissions",
        "GetSubmission",
        "GetSubmissionAttachment",
        "AdvanceSubmission",
        "ListEvaluations",
    }
)


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"{field} must be an ISO date (YYYY-MM-DD), got {text[:20]!r}"
        ) from exc


def _optional_date(text: str, clear: bool, field: str) -> date | Keep | None:
    """KEEP for an empty field, None when asked to clear it, else the date."""
    if clear:
        if text:
            raise InvalidRequest(f"give {field} or clear_{field}, not both")
        return None
    return _date(text, field) if text else KEEP


def event_info(event: Event) -> admin_pb2.EventInfo:
    return admin_pb2.EventInfo(
        event_id=event.event_id,
        name=event.name,
        starts_on=event.starts_on.isoformat(),
        ends_on=event.ends_on.isoformat(),
        public_key=event.public_key,
        quota=event.quota,
        evaluations_used=event.used,
        revoked_at=event.revoked_at.isoformat() if event.revoked_at else "",
        retired_public_keys=list(event.retired_keys),
    )


def record_info(record: Record) -> admin_pb2.RecordInfo:
    return admin_pb2.RecordInfo(
        record_ref=record.record_ref,
        status=snapshot.STATUS_VALUES[record.status],
        expires_on=record.expires_on.isoformat() if record.expires_on else "",
        identifier_count=record.identifier_count,
        created_at=record.created_at.isoformat() if record.created_at else "",
        ban_until=record.ban_until.isoformat() if record.ban_until else "",
        submission_id=record.submission_id,
        updated_at=record.updated_at.isoformat() if record.updated_at else "",
    )


def record_change(event: RecordEvent) -> admin_pb2.RecordChange:
    return admin_pb2.RecordChange(
        snapshot_version=event.version,
        at=event.at.isoformat() if event.at else "",
        by=event.member,
        action=event.action,
        detail=event.detail,
    )


def submission_info(sub: StoredSubmission | SubmissionSummary) -> reports_pb2.SubmissionInfo:
    size = sub.envelope_bytes if isinstance(sub, SubmissionSummary) else len(sub.envelope)
    return reports_pb2.SubmissionInfo(receipt=sub.receipt, status=sub.status, envelope_bytes=size)


def policy_info(policy: Policy) -> admin_pb2.RetentionPolicy:
    return admin_pb2.RetentionPolicy(
        flagged_months=policy.flagged_months,
        banned_months_after_ban=policy.banned_months_after_ban,
    )


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(
        self, service: RegistryService, submissions: SubmissionService, signing: SigningKeys
    ) -> None:
        self._service = service
        self._subs = submissions
        self._signing = signing

    async def _admin(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """The caller's admin name. Report readers may only call READER_METHODS."""
        principal = await self._service.authenticate(
            context.invocation_metadata(), PREFIX + method, allowed="admin"
        )
        if principal.role != "operator" and method not in READER_METHODS:
            raise PermissionDenied(
                f"{principal.subject} is a WG report reader; {method} needs the operator's key"
            )
        return principal.subject

    @unary
    async def EnrollEvent(
        self, request: admin_pb2.EnrollEventRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.EnrollEventResponse:
        await self._admin(context, "EnrollEvent")
        ev = request.event
        event = await self._service.enroll_event(
            Event(
                event_id=ev.event_id,
                name=ev.name,
                starts_on=_date(ev.starts_on, "starts_on"),
                ends_on=_date(ev.ends_on, "ends_on"),
                public_key=ev.public_key,
                quota=ev.quota,
            )
        )
        return admin_pb2.EnrollEventResponse(
            event=event_info(event),
            registry_public_key=self._signing.public_key,
            suite=screen.SUITE,
            epoch=self._service.epoch,
            epoch_public_key=self._service.epoch_public_key,
        )

    @unary
    async def RevokeEvent(
        self, request: admin_pb2.RevokeEventRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RevokeEventResponse:
        await self._admin(context, "RevokeEvent")
        event = await self._service.revoke_event(request.event_id)
        return admin_pb2.RevokeEventResponse(event=event_info(event))

    @unary
    async def SetQuota(
        self, request: admin_pb2.SetQuotaRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.SetQuotaResponse:
        await self._admin(context, "SetQuota")
        event = await self._service.set_quota(request.event_id, request.quota)
        return admin_pb2.SetQuotaResponse(event=event_info(event))

    @unary
    async def ListEvents(
        self, request: admin_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListEventsResponse:
        await self._admin(context, "ListEvents")
        events = await self._service.list_events()
        return admin_pb2.ListEventsResponse(events=[event_info(e) for e in events])

    @unary
    async def EvaluateForRecord(
        self, request: admin_pb2.EvaluateForRecordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.EvaluateForRecordResponse:
        admin = await self._admin(context, "EvaluateForRecord")
        answer = await self._service.evaluate_for_record(
            admin, request.suite, request.epoch, list(request.blinded_points)
        )
        return admin_pb2.EvaluateForRecordResponse(
            suite=screen.SUITE,
            epoch=request.epoch,
            evaluated_points=answer.evaluated,
            proof=answer.proof,
            log_entry=answer.log_entry,
        )

    @unary
    async def AddRecord(
        self, request: admin_pb2.AddRecordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.AddRecordResponse:
        member = await self._admin(context, "AddRecord")
        rec = request.record
        if rec.status not in snapshot.STATUS_NAMES:
            raise InvalidRequest("record.status must be FLAGGED or BANNED")
        if request.submission_id:
            # NotFound unless the registry holds that report.
            await self._subs.status(request.submission_id, None)
        status = snapshot.STATUS_NAMES[rec.status]
        ban_until = _date(rec.ban_until, "ban_until") if rec.ban_until else None
        schedule = await retention.load(self._service.store)
        expires = self._expiry(rec, status, ban_until, "", schedule)
        record = Record(
            record_ref=rec.record_ref,
            status=status,
            expires_on=expires,
            ban_until=ban_until,
            submission_id=request.submission_id,
        )
        stored, version, extended = await self._service.add_record(
            request.suite,
            request.epoch,
            record,
            list(request.points),
            by=member,
            log_indexes=list(request.evaluation_log_indexes),
        )
        return admin_pb2.AddRecordResponse(
            record=record_info(stored), snapshot_version=version, extended_refs=extended
        )

    def _expiry(
        self,
        rec: admin_pb2.RecordInfo,
        status: str,
        ban_until: date | None,
        where: str,
        schedule: Policy,
    ) -> date | None:
        """`rec`'s expires_on, or the retention `schedule`'s expiry for a record added
        today (None: a ban without end does not lapse). Raises InvalidRequest, naming
        `where` ("records[3]."), for a date that cannot be read or a derived expiry not
        after today (a given one is checked with the record)."""
        if rec.expires_on:
            return _date(rec.expires_on, f"{where}expires_on")
        today = self._service.today()
        expires = schedule.expiry(status, ban_until, today)
        if ban_until is not None and expires is not None and expires <= today:
            raise InvalidRequest(
                f"{where}ban_until {ban_until.isoformat()} gives the record an expiry of "
                f"{expires.isoformat()} under the retention schedule, which is not after "
                f"today ({today.isoformat()}): give expires_on with a later date"
            )
        return expires

    @unary
    async def AddRecords(
        self, request: admin_pb2.AddRecordsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.AddRecordsResponse:
        member = await self._admin(context, "AddRecords")
        schedule = await retention.load(self._service.store)
        items: list[tuple[Record, list[bytes]]] = []
        for index, item in enumerate(request.records):
            rec = item.record
            if rec.status not in snapshot.STATUS_NAMES:
                raise InvalidRequest(f"records[{index}]: status must be FLAGGED or BANNED")
            status = snapshot.STATUS_NAMES[rec.status]
            ban_until = (
                _date(rec.ban_until, f"records[{index}].ban_until") if rec.ban_until else None
            )
            # As AddRecord: no expiry given is the retention schedule's, never "for ever".
            expires = self._expiry(rec, status, ban_until, f"records[{index}].", schedule)
            record = Record(rec.record_ref, status, expires, ban_until=ban_until)
            items.append((record, list(item.points)))
        added, skipped, version = await self._service.add_records(
            request.suite,
            request.epoch,
            items,
            request.skip_existing,
            by=member,
            log_indexes=list(request.evaluation_log_indexes),
        )
        return admin_pb2.AddRecordsResponse(
            records=[record_info(r) for r in added],
            skipped_refs=skipped,
            snapshot_version=version,
        )

    @unary
    async def UpdateRecord(
        self, request: admin_pb2.UpdateRecordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.UpdateRecordResponse:
        member = await self._admin(context, "UpdateRecord")
        status: str | None = None
        if request.status:
            if request.status not in snapshot.STATUS_NAMES:
                raise InvalidRequest("status must be FLAGGED, BANNED or unspecified")
            status = snapshot.STATUS_NAMES[request.status]
        change = RecordUpdate(
            status=status,
            expires_on=_optional_date(request.expires_on, request.clear_expires_on, "expires_on"),
            ban_until=_optional_date(request.ban_until, request.clear_ban_until, "ban_until"),
            suite=request.suite,
            epoch=request.epoch,
            add_points=list(request.add_points),
            log_indexes=list(request.evaluation_log_indexes),
        )
        stored, version = await self._service.update_record(request.record_ref, change, member)
        return admin_pb2.UpdateRecordResponse(record=record_info(stored), snapshot_version=version)

    @unary
    async def GetRecord(
        self, request: admin_pb2.GetRecordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetRecordResponse:
        await self._admin(context, "GetRecord")
        record, history = await self._service.get_record(request.record_ref)
        return admin_pb2.GetRecordResponse(
            record=record_info(record), history=[record_change(e) for e in history]
        )

    @unary
    async def RemoveRecord(
        self, request: admin_pb2.RemoveRecordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RemoveRecordResponse:
        await self._admin(context, "RemoveRecord")
        version = await self._service.remove_records([request.record_ref])
        return admin_pb2.RemoveRecordResponse(snapshot_version=version)

    @unary
    async def ListRecords(
        self, request: admin_pb2.ListRecordsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListRecordsResponse:
        await self._admin(context, "ListRecords")
        records = await self._service.list_records()
        return admin_pb2.ListRecordsResponse(
            records=[record_info(r) for r in records],
            epoch=self._service.epoch,
            snapshot_version=self._service.version,
            epoch_public_key=self._service.epoch_public_key,
        )

    @unary
    async def GetState(
        self, request: admin_pb2.GetStateRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetStateResponse:
        await self._admin(context, "GetState")
        return admin_pb2.GetStateResponse(
            epoch=self._service.epoch,
            snapshot_version=self._service.version,
            snapshot_entries=self._service.snapshot_entries,
            epoch_public_key=self._service.epoch_public_key,
        )

    @unary
    async def RotateKey(
        self, request: admin_pb2.RotateKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RotateKeyResponse:
        await self._admin(context, "RotateKey")
        epoch, version, points = await self._service.rotate_key(request.from_epoch)
        return admin_pb2.RotateKeyResponse(epoch=epoch, snapshot_version=version, points=points)

    @unary
    async def RotateSigningKey(
        self, request: admin_pb2.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RotateSigningKeyResponse:
        await self._admin(context, "RotateSigningKey")
        transition = await self._signing.rotate(request.from_public_key)
        return admin_pb2.RotateSigningKeyResponse(transition=transition)

    @unary
    async def GetRetention(
        self, request: admin_pb2.GetRetentionRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetRetentionResponse:
        await self._admin(context, "GetRetention")
        policy = await retention.load(self._service.store)
        return admin_pb2.GetRetentionResponse(policy=policy_info(policy))

    @unary
    async def SetRetention(
        self, request: admin_pb2.SetRetentionRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.SetRetentionResponse:
        await self._admin(context, "SetRetention")
        p = request.policy
        policy = await retention.save(
            self._service.store, Policy(p.flagged_months, p.banned_months_after_ban)
        )
        return admin_pb2.SetRetentionResponse(policy=policy_info(policy))

    @unary
    async def ApplyRetention(
        self, request: admin_pb2.ApplyRetentionRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ApplyRetentionResponse:
        await self._admin(context, "ApplyRetention")
        today = self._service.today()
        as_of = _date(request.as_of, "as_of") if request.as_of else today
        if as_of > today and not request.dry_run:
            raise InvalidRequest(
                f"as_of {as_of.isoformat()} is after today: only a dry run may look ahead"
            )
        records, version = await self._service.sweep(as_of, request.dry_run)
        return admin_pb2.ApplyRetentionResponse(
            records=[record_info(r) for r in records],
            snapshot_version=version,
            as_of=as_of.isoformat(),
        )

    @unary
    async def AddRecipient(
        self, request: reports_pb2.AddRecipientRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.AddRecipientResponse:
        await self._admin(context, "AddRecipient")
        return reports_pb2.AddRecipientResponse(
            recipients=await self._subs.add_recipient(request.recipient)
        )

    @unary
    async def RemoveRecipient(
        self, request: reports_pb2.RemoveRecipientRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.RemoveRecipientResponse:
        await self._admin(context, "RemoveRecipient")
        return reports_pb2.RemoveRecipientResponse(
            recipients=await self._subs.remove_recipient(request.name)
        )

    @unary
    async def RekeyRecipient(
        self, request: admin_pb2.RekeyRecipientRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RekeyRecipientResponse:
        member = await self._admin(context, "RekeyRecipient")
        return admin_pb2.RekeyRecipientResponse(
            recipients=await self._subs.rekey_recipient(member, request.recipient, request.proof)
        )

    @unary
    async def ListSubmissions(
        self, request: reports_pb2.ListSubmissionsRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.ListSubmissionsResponse:
        await self._admin(context, "ListSubmissions")
        return reports_pb2.ListSubmissionsResponse(
            submissions=[submission_info(s) for s in await self._subs.submissions()]
        )

    @unary
    async def GetSubmission(
        self, request: reports_pb2.GetSubmissionRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.GetSubmissionResponse:
        await self._admin(context, "GetSubmission")
        sub, steps = await self._subs.status(request.submission_id, None)
        return reports_pb2.GetSubmissionResponse(
            info=submission_info(sub),
            envelope=sub.envelope,
            envelope_signature=sub.signature,
            steps=steps,
        )

    @unary
    async def GetSubmissionAttachment(
        self,
        request: reports_pb2.GetSubmissionAttachmentRequest,
        context: grpc.aio.ServicerContext,
    ) -> None:
        member = await self._admin(context, "GetSubmissionAttachment")
        manifest = await self._subs.manifest(request.submission_id, None)
        if self._subs.blobs is None:
            raise InvalidRequest("this registry does not take reports with files")
        sealed = await self._subs.blobs.read(request.submission_id, request.blob, manifest)
        async for chunk in sealed:
            await context.write(reports_pb2.GetSubmissionAttachmentResponse(chunk=chunk))
        log.info(
            "registry.attachment_read",
            submission_id=request.submission_id,
            blob=request.blob,
            member=member,
        )

    @unary
    async def AdvanceSubmission(
        self, request: reports_pb2.AdvanceSubmissionRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.AdvanceSubmissionResponse:
        member = await self._admin(context, "AdvanceSubmission")
        status = await self._subs.advance(member, request.submission_id, request.step)
        return reports_pb2.AdvanceSubmissionResponse(status=status)

    @unary
    async def ListRecipients(
        self, request: reports_pb2.ListRecipientsRequest, context: grpc.aio.ServicerContext
    ) -> reports_pb2.ListRecipientsResponse:
        await self._admin(context, "ListRecipients")
        return reports_pb2.ListRecipientsResponse(recipients=await self._subs.recipient_set())

    @unary
    async def ListEvaluations(
        self, request: admin_pb2.ListEvaluationsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListEvaluationsResponse:
        await self._admin(context, "ListEvaluations")
        since = request.since or None
        if since is not None:
            _date(since[:10], "since")
        logged = await self._service.list_evaluations(request.event_id or None, since)
        return admin_pb2.ListEvaluationsResponse(
            leaves=[
                evaluation_log_pb2.EvaluationLeaf(
                    log_index=e.log_index,
                    caller=e.leaf.caller,
                    event_id=e.leaf.event_id,
                    epoch=e.leaf.epoch,
                    points=e.leaf.points,
                    logged_at=e.leaf.logged_at,
                    points_sha256=e.leaf.points_sha256,
                    record_ref=e.record_ref or "",
                    records=e.records,
                    record_removed=e.record_removed,
                )
                for e in logged
            ],
            head=self._service.evaluation_log.head(),
        )
