"""The WG operator's client for the registry's Admin service.

Adding a record runs the blinded round of spec SCREEN-v1 §5 on this machine: names and
e-mail addresses become blinded points here, and only Y = k * P goes to the registry.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, TypeVar

import grpc
import nacl.signing
from google.protobuf.message import Message

from lanyard.client.errors import EvaluationProofFailed, RpcFailed, TranslatingStub
from lanyard.core import (
    auth,
    blinding,
    envelope,
    identity,
    keychain,
    keys,
    proof,
    screen,
    snapshot,
)
from lanyard.core.errors import ProofFailed
from lanyard.core.identity import Kind
from lanyard.wire.registry.v1 import admin_pb2, admin_pb2_grpc, reports_pb2, snapshot_pb2

PREFIX = "/lanyard.registry.v1.Admin/"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: Kind
    value: str


def record_messages(identifiers: Sequence[Identifier]) -> list[bytes]:
    """The §1 messages a record is registered under: each e-mail address, and every §5a
    variant of each name (an alias is one more name), deduplicated in first-seen order.
    Raises InvalidIdentifier."""
    messages: dict[bytes, None] = {}
    for ident in identifiers:
        if ident.kind is Kind.NAME:
            for form in identity.name_variants(ident.value):
                messages[identity.name_message(form)] = None
        else:
            messages[identity.message(ident.kind, ident.value)] = None
    return list(messages)


@dataclass(frozen=True, slots=True)
class NewRecord:
    """One record of a batch, before the blinded round."""

    record_ref: str
    status: str  # "flagged" | "banned"
    identifiers: Sequence[Identifier]
    expires_on: date | None = None
    ban_until: date | None = None  # a banned record's end of ban; None: no end


EVALUATE_LIMIT = 10_000  # points per EvaluateForRecord call (the registry's default limit)


class AdminClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        key: nacl.signing.SigningKey,
        admin_name: str = "operator",
        endpoint: str = "",
        executor: Executor | None = None,
    ) -> None:
        """`executor` runs the blinded rounds' crypto (blinding, the proof check,
        finalising): a core.workers.Workers spreads a bulk import over every core; None
        keeps it on the event loop's default threads."""
        self._stub = TranslatingStub(admin_pb2_grpc.AdminStub(channel), "registry", endpoint)
        self._executor = executor
        self._signer = auth.CallSigner(f"admin:{admin_name}", key)
        self._known_epoch: int | None = None
        # Each epoch's public key as GetState gave it: a proof is checked against the key
        # of the epoch its call named, also when another task has since learnt a newer one.
        self._epoch_keys: dict[int, bytes] = {}

    def _md(self, method: str, request: Message) -> tuple[tuple[str, str], ...]:
        """The call token for `method` carrying `request` (docs/call-token.md)."""
        return self._signer.metadata(PREFIX + method, request)

    async def enroll_event(
        self,
        event_id: str,
        name: str,
        starts_on: date,
        ends_on: date,
        public_key: bytes,
        quota: int,
    ) -> admin_pb2.EnrollEventResponse:
        info = admin_pb2.EventInfo(
            event_id=event_id,
            name=name,
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat(),
            public_key=public_key,
            quota=quota,
        )
        response: admin_pb2.EnrollEventResponse = await self._stub.EnrollEvent(
            request := admin_pb2.EnrollEventRequest(event=info),
            metadata=self._md("EnrollEvent", request),
        )
        return response

    async def revoke_event(self, event_id: str) -> admin_pb2.EventInfo:
        response: admin_pb2.RevokeEventResponse = await self._stub.RevokeEvent(
            request := admin_pb2.RevokeEventRequest(event_id=event_id),
            metadata=self._md("RevokeEvent", request),
        )
        return response.event

    async def set_quota(self, event_id: str, quota: int) -> admin_pb2.EventInfo:
        request = admin_pb2.SetQuotaRequest(event_id=event_id, quota=quota)
        response: admin_pb2.SetQuotaResponse = await self._stub.SetQuota(
            request, metadata=self._md("SetQuota", request)
        )
        return response.event

    async def list_events(self) -> list[admin_pb2.EventInfo]:
        response = await self._stub.ListEvents(
            request := admin_pb2.ListEventsRequest(), metadata=self._md("ListEvents", request)
        )
        return list(response.events)

    async def _epoch(self, refresh: bool = False) -> int:
        """The registry's OPRF epoch and its public key, asked once per client (GetState
        carries both, nothing listed)."""
        if self._known_epoch is None or refresh:
            response = await self._stub.GetState(
                request := admin_pb2.GetStateRequest(), metadata=self._md("GetState", request)
            )
            self._known_epoch = int(response.epoch)
            self._epoch_keys[self._known_epoch] = bytes(response.epoch_public_key)
        return self._known_epoch

    async def add_record(
        self,
        record_ref: str,
        status: str,
        identifiers: Sequence[Identifier],
        expires_on: date | None = None,
        ban_until: date | None = None,
        submission_id: str = "",
    ) -> admin_pb2.AddRecordResponse:
        """Normalise, blind, have the registry evaluate, unblind, upload Y (spec §5); a
        name is registered under every form of spec §5a (`record_messages`).
        `submission_id` links the record to the end-of-event report it comes from."""
        record = admin_pb2.RecordInfo(
            record_ref=record_ref,
            status=snapshot.STATUS_VALUES[status],
            expires_on=expires_on.isoformat() if expires_on else "",
            ban_until=ban_until.isoformat() if ban_until else "",
        )

        async def add(
            epoch: int, ys: list[bytes], leaves: list[int]
        ) -> admin_pb2.AddRecordResponse:
            request = admin_pb2.AddRecordRequest(
                suite=screen.SUITE,
                epoch=epoch,
                record=record,
                points=ys,
                submission_id=submission_id,
                evaluation_log_indexes=leaves,
            )
            response: admin_pb2.AddRecordResponse = await self._stub.AddRecord(
                request, metadata=self._md("AddRecord", request)
            )
            return response

        return await self._with_points(identifiers, add)

    async def _with_points(
        self,
        identifiers: Sequence[Identifier],
        send: Callable[[int, list[bytes], list[int]], Awaitable[T]],
    ) -> T:
        """Run the blinded round for `identifiers` and `send` (epoch, Y points, the
        evaluation log leaves they came from); if the key was rotated since this client
        learnt the epoch, once more afresh."""
        messages = record_messages(identifiers)
        try:
            epoch = await self._epoch()
            return await send(epoch, *await self._points(messages, epoch))
        except RpcFailed as exc:
            if exc.code != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            epoch = await self._epoch(refresh=True)
            return await send(epoch, *await self._points(messages, epoch))

    async def _points(self, messages: list[bytes], epoch: int) -> tuple[list[bytes], list[int]]:
        """(Y per message, the evaluation log leaves of the calls that evaluated them)."""
        leaves: list[int] = []
        if not messages:
            return [], leaves
        ys = await blinding.blinded_round(
            messages, lambda points: self._evaluate_proved(points, epoch, leaves), self._executor
        )
        return ys, leaves

    async def _evaluate_proved(
        self, points: list[bytes], epoch: int, leaves: list[int]
    ) -> list[bytes]:
        """EvaluateForRecord over `points` (blinded, 32 bytes each) in calls of at most
        EVALUATE_LIMIT, each answer's proof checked against the epoch's public key (spec
        §3a): a record whose tags came from another key would never match anyone, a false
        "clear" at every event. Each call's evaluation log index goes to `leaves`, for the
        record change to claim (spec §3b). Raises EvaluationProofFailed (nothing is to be
        added)."""
        out: list[bytes] = []
        for i in range(0, len(points), EVALUATE_LIMIT):
            part = points[i : i + EVALUATE_LIMIT]
            response = await self._stub.EvaluateForRecord(
                request := admin_pb2.EvaluateForRecordRequest(
                    suite=screen.SUITE, epoch=epoch, blinded_points=part
                ),
                metadata=self._md("EvaluateForRecord", request),
            )
            evaluated = list(response.evaluated_points)
            try:
                await proof.verify_batch(
                    self._epoch_keys.get(epoch, b""),
                    part,
                    evaluated,
                    proof.Proof.from_bytes(response.proof),
                    self._executor,
                )
            except ProofFailed as exc:
                raise EvaluationProofFailed(
                    f"the registry's evaluation proof failed: {exc}; no record was added"
                ) from exc
            if response.HasField("log_entry"):
                leaves.append(response.log_entry.log_index)
            out += evaluated
        return out

    async def update_record(
        self,
        record_ref: str,
        status: str | None = None,
        expires_on: date | Literal["clear"] | None = None,
        ban_until: date | Literal["clear"] | None = None,
        aliases: Sequence[Identifier] = (),
    ) -> admin_pb2.UpdateRecordResponse:
        """Change a record; None keeps a field, "clear" removes a date. Aliases go through
        the blinded round like add_record's identifiers."""
        request = admin_pb2.UpdateRecordRequest(
            record_ref=record_ref,
            status=snapshot.STATUS_VALUES[status]
            if status
            else snapshot_pb2.RECORD_STATUS_UNSPECIFIED,
            expires_on=expires_on.isoformat() if isinstance(expires_on, date) else "",
            clear_expires_on=expires_on == "clear",
            ban_until=ban_until.isoformat() if isinstance(ban_until, date) else "",
            clear_ban_until=ban_until == "clear",
        )

        async def send(
            epoch: int, ys: list[bytes], leaves: list[int]
        ) -> admin_pb2.UpdateRecordResponse:
            if ys:
                request.suite, request.epoch = screen.SUITE, epoch
                del request.add_points[:]
                request.add_points.extend(ys)
                del request.evaluation_log_indexes[:]
                request.evaluation_log_indexes.extend(leaves)
            response: admin_pb2.UpdateRecordResponse = await self._stub.UpdateRecord(
                request, metadata=self._md("UpdateRecord", request)
            )
            return response

        if not aliases:
            return await send(0, [], [])
        return await self._with_points(aliases, send)

    async def get_record(self, record_ref: str) -> admin_pb2.GetRecordResponse:
        """A record and its history (oldest first); RpcFailed NOT_FOUND for an unknown one."""
        request = admin_pb2.GetRecordRequest(record_ref=record_ref)
        response: admin_pb2.GetRecordResponse = await self._stub.GetRecord(
            request, metadata=self._md("GetRecord", request)
        )
        return response

    async def add_records(
        self, records: Sequence[NewRecord], skip_existing: bool = False
    ) -> admin_pb2.AddRecordsResponse:
        """One blinded round for every identifier of every record, then one AddRecords
        call: the registry adds the batch in one transaction and one snapshot version.
        At most 1,000 records and 10,000 forms per call (spec §5, §5a)."""
        messages = [record_messages(r.identifiers) for r in records]
        try:
            return await self._add_records(records, messages, skip_existing, await self._epoch())
        except RpcFailed as exc:
            if exc.code != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            epoch = await self._epoch(refresh=True)
            return await self._add_records(records, messages, skip_existing, epoch)

    async def _add_records(
        self,
        records: Sequence[NewRecord],
        messages: list[list[bytes]],
        skip_existing: bool,
        epoch: int,
    ) -> admin_pb2.AddRecordsResponse:
        points, leaves = await self._points([m for ms in messages for m in ms], epoch)
        ys = iter(points)
        items = [
            (r.record_ref, r.status, r.expires_on, [next(ys) for _ in ms])
            for r, ms in zip(records, messages, strict=True)
        ]
        bans = {r.record_ref: r.ban_until for r in records if r.ban_until is not None}
        return await self.upload_points(items, epoch, skip_existing, bans, leaves)

    async def add_record_batches(
        self,
        batches: Iterable[Sequence[NewRecord]],
        skip_existing: bool = False,
        in_flight: int = 2,
    ) -> AsyncIterator[admin_pb2.AddRecordsResponse]:
        """add_records() for each batch, `in_flight` batches at a time so that this
        machine's blinding overlaps the registry's evaluation and commit; answers in
        batch order. A failure stops the rest (batches already answered are added)."""
        pending: deque[asyncio.Task[admin_pb2.AddRecordsResponse]] = deque()
        try:
            for batch in batches:
                pending.append(asyncio.create_task(self.add_records(batch, skip_existing)))
                if len(pending) >= in_flight:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def upload_points(
        self,
        items: Sequence[tuple[str, str, date | None, list[bytes]]],
        epoch: int,
        skip_existing: bool = False,
        ban_until: Mapping[str, date] | None = None,
        log_indexes: Sequence[int] = (),
    ) -> admin_pb2.AddRecordsResponse:
        """AddRecords for (record_ref, status, expiry, Y points) already evaluated under
        `epoch`: the second half of add_records (spec §5). `ban_until` gives the end of
        ban of those banned records that have one, by record_ref; `log_indexes` the
        evaluation log leaves the points came from, for the batch to claim (spec §3b)."""
        bans = ban_until or {}
        request = admin_pb2.AddRecordsRequest(
            suite=screen.SUITE,
            epoch=epoch,
            skip_existing=skip_existing,
            evaluation_log_indexes=log_indexes,
        )
        for ref, status, expires_on, points in items:
            request.records.append(
                admin_pb2.RecordPoints(
                    record=admin_pb2.RecordInfo(
                        record_ref=ref,
                        status=snapshot.STATUS_VALUES[status],
                        expires_on=expires_on.isoformat() if expires_on else "",
                        ban_until=bans[ref].isoformat() if ref in bans else "",
                    ),
                    points=points,
                )
            )
        response: admin_pb2.AddRecordsResponse = await self._stub.AddRecords(
            request, metadata=self._md("AddRecords", request)
        )
        return response

    async def remove_record(self, record_ref: str) -> int:
        response = await self._stub.RemoveRecord(
            request := admin_pb2.RemoveRecordRequest(record_ref=record_ref),
            metadata=self._md("RemoveRecord", request),
        )
        return int(response.snapshot_version)

    async def list_records(self) -> admin_pb2.ListRecordsResponse:
        response: admin_pb2.ListRecordsResponse = await self._stub.ListRecords(
            request := admin_pb2.ListRecordsRequest(), metadata=self._md("ListRecords", request)
        )
        return response

    async def rotate_key(self, from_epoch: int) -> admin_pb2.RotateKeyResponse:
        response: admin_pb2.RotateKeyResponse = await self._stub.RotateKey(
            request := admin_pb2.RotateKeyRequest(from_epoch=from_epoch),
            metadata=self._md("RotateKey", request),
        )
        return response

    async def rotate_signing_key(self, from_public_key: bytes) -> snapshot_pb2.KeyTransition:
        """Hand the registry's signing key over to a new one; returns the statement."""
        response: admin_pb2.RotateSigningKeyResponse = await self._stub.RotateSigningKey(
            request := admin_pb2.RotateSigningKeyRequest(from_public_key=from_public_key),
            metadata=self._md("RotateSigningKey", request),
        )
        return response.transition

    async def retention(self) -> admin_pb2.RetentionPolicy:
        response: admin_pb2.GetRetentionResponse = await self._stub.GetRetention(
            request := admin_pb2.GetRetentionRequest(),
            metadata=self._md("GetRetention", request),
        )
        return response.policy

    async def set_retention(
        self, flagged_months: int, banned_months_after_ban: int
    ) -> admin_pb2.RetentionPolicy:
        policy = admin_pb2.RetentionPolicy(
            flagged_months=flagged_months, banned_months_after_ban=banned_months_after_ban
        )
        response: admin_pb2.SetRetentionResponse = await self._stub.SetRetention(
            request := admin_pb2.SetRetentionRequest(policy=policy),
            metadata=self._md("SetRetention", request),
        )
        return response.policy

    async def apply_retention(
        self, as_of: date | None = None, dry_run: bool = False
    ) -> admin_pb2.ApplyRetentionResponse:
        """Remove records expiring before `as_of` (default today); a dry run lists them."""
        response: admin_pb2.ApplyRetentionResponse = await self._stub.ApplyRetention(
            request := admin_pb2.ApplyRetentionRequest(
                as_of=as_of.isoformat() if as_of else "", dry_run=dry_run
            ),
            metadata=self._md("ApplyRetention", request),
        )
        return response

    async def current_epoch(self) -> int:
        return await self._epoch(refresh=True)

    # -- end-of-event reports (the WG's side) ----------------------------------------------
    async def add_recipient(
        self, name: str, encryption_key: bytes, signing_key: bytes
    ) -> reports_pb2.RecipientSet:
        response: reports_pb2.AddRecipientResponse = await self._stub.AddRecipient(
            request := reports_pb2.AddRecipientRequest(
                recipient=reports_pb2.Recipient(
                    name=name, encryption_key=encryption_key, signing_key=signing_key
                )
            ),
            metadata=self._md("AddRecipient", request),
        )
        return response.recipients

    async def rekey_recipient(
        self, name: str, encryption_key: bytes, signing_key: nacl.signing.SigningKey
    ) -> reports_pb2.RecipientSet:
        """Replace this reader's keys (the client signs with the current signing key) by
        `encryption_key` (X25519 public) and `signing_key`, which signs the proof."""
        public = bytes(signing_key.verify_key)
        proof = keys.sign(
            signing_key, keychain.recipient_rekey_message(name, encryption_key, public)
        )
        response: admin_pb2.RekeyRecipientResponse = await self._stub.RekeyRecipient(
            request := admin_pb2.RekeyRecipientRequest(
                recipient=reports_pb2.Recipient(
                    name=name, encryption_key=encryption_key, signing_key=public
                ),
                proof=proof,
            ),
            metadata=self._md("RekeyRecipient", request),
        )
        return response.recipients

    async def remove_recipient(self, name: str) -> reports_pb2.RecipientSet:
        response: reports_pb2.RemoveRecipientResponse = await self._stub.RemoveRecipient(
            request := reports_pb2.RemoveRecipientRequest(name=name),
            metadata=self._md("RemoveRecipient", request),
        )
        return response.recipients

    async def list_recipients(self) -> reports_pb2.RecipientSet:
        response: reports_pb2.ListRecipientsResponse = await self._stub.ListRecipients(
            request := reports_pb2.ListRecipientsRequest(),
            metadata=self._md("ListRecipients", request),
        )
        return response.recipients

    async def list_submissions(self) -> list[reports_pb2.SubmissionInfo]:
        response: reports_pb2.ListSubmissionsResponse = await self._stub.ListSubmissions(
            request := reports_pb2.ListSubmissionsRequest(),
            metadata=self._md("ListSubmissions", request),
        )
        return list(response.submissions)

    async def get_submission(self, submission_id: str) -> reports_pb2.GetSubmissionResponse:
        response: reports_pb2.GetSubmissionResponse = await self._stub.GetSubmission(
            request := reports_pb2.GetSubmissionRequest(submission_id=submission_id),
            metadata=self._md("GetSubmission", request),
        )
        return response

    async def submission_attachment(self, submission_id: str, blob: int) -> AsyncIterator[bytes]:
        """The sealed chunks of one file a submission carries, in order."""
        request = reports_pb2.GetSubmissionAttachmentRequest(submission_id=submission_id, blob=blob)
        call = self._stub.streaming("GetSubmissionAttachment")(
            request, metadata=self._md("GetSubmissionAttachment", request)
        )
        async for part in call:
            yield bytes(part.chunk)

    async def advance_submission(
        self,
        submission_id: str,
        step: str,
        member: str,
        signing_key: nacl.signing.SigningKey,
        message: str = "",
        at: str | None = None,
    ) -> str:
        """Sign the step as `member` (whose key this client must also authenticate with)."""
        signed = reports_pb2.SubmissionStep(
            step=step,
            member=member,
            message=message,
            at=at or datetime.now(UTC).isoformat(timespec="seconds"),
        )
        signed.signature = keys.sign(signing_key, envelope.step_message(submission_id, signed))
        response: reports_pb2.AdvanceSubmissionResponse = await self._stub.AdvanceSubmission(
            request := reports_pb2.AdvanceSubmissionRequest(
                submission_id=submission_id, step=signed
            ),
            metadata=self._md("AdvanceSubmission", request),
        )
        return str(response.status)

    async def list_evaluations(
        self, event_id: str = "", since: str = ""
    ) -> admin_pb2.ListEvaluationsResponse:
        """The evaluation log's leaves (spec §3b), of one event ("admin" for admin keys)
        and from an ISO date on; with the log's signed head."""
        request = admin_pb2.ListEvaluationsRequest(event_id=event_id, since=since)
        response: admin_pb2.ListEvaluationsResponse = await self._stub.ListEvaluations(
            request, metadata=self._md("ListEvaluations", request)
        )
        return response

    async def events_by_id(self) -> dict[str, admin_pb2.EventInfo]:
        return {e.event_id: e for e in await self.list_events()}
