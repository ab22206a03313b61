"""End-of-event reports on the registry's side: verify, log, receipt, steps.

The registry checks the enrolled event's signature on the envelope, stores ciphertext it
cannot read in an append-only Merkle log, and signs a receipt binding the submission to
its place in the log. Resubmitting the same id with the same envelope returns the stored
receipt, so a retry after a crash or a lost answer never logs a submission twice.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import nacl.signing
import structlog

from lanyard.core import envelope, keys, limits, merkle
from lanyard.core.errors import Error as CoreError
from lanyard.registry.blobs import BlobService
from lanyard.registry.errors import (
    AlreadyExists,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    QuotaExhausted,
)
from lanyard.registry.store import Event, Store
from lanyard.registry.submission_store import StoredSubmission, SubmissionStore, SubmissionSummary
from lanyard.wire.registry.v1 import reports_pb2

log = structlog.get_logger("lanyard.registry")

RECIPIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SubmissionService:
    def __init__(
        self,
        store: Store,
        submissions: SubmissionStore,
        signing_key: nacl.signing.SigningKey,
        blobs: BlobService | None = None,
    ) -> None:
        self._store = store
        self._subs = submissions
        self.blobs = blobs
        self._key = signing_key
        self._log = merkle.MerkleLog()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._log = merkle.MerkleLog(merkle.leaf_hash(d) for d in await self._subs.leaves())
        log.info("registry.submission_log_loaded", size=self._log.size)

    # -- recipients ----------------------------------------------------------------------
    async def recipient_set(self) -> reports_pb2.RecipientSet:
        version, recipients = await self._subs.recipients()
        return reports_pb2.RecipientSet(
            version=version,
            recipients=recipients,
            signature=keys.sign(self._key, envelope.recipient_set_message(version, recipients)),
        )

    async def add_recipient(self, recipient: reports_pb2.Recipient) -> reports_pb2.RecipientSet:
        if not RECIPIENT_NAME.match(recipient.name):
            raise InvalidRequest(
                "recipient name must be 1 to 64 lowercase letters, digits, "
                "dots, dashes or underscores"
            )
        for field in ("encryption_key", "signing_key"):
            if len(getattr(recipient, field)) != 32:
                raise InvalidRequest(f"recipient.{field} must be 32 bytes")
        try:
            keys.parse_public_key(recipient.signing_key, "recipient.signing_key")
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from exc
        # The reader's signing key also authenticates their admin calls (open, steps).
        await self._subs.put_recipient(recipient)
        log.info("registry.recipient_added", recipient=recipient.name)
        return await self.recipient_set()

    async def remove_recipient(self, name: str) -> reports_pb2.RecipientSet:
        if await self._subs.remove_recipient(name) is None:
            raise NotFound(f"no recipient {name}")
        log.info("registry.recipient_removed", recipient=name)
        return await self.recipient_set()

    # -- submissions ---------------------------------------------------------------------
    async def submit(self, event: Event, data: bytes, signature: bytes) -> reports_pb2.Receipt:
        """`event`: the caller's enrolment, as authentication read it (unrevoked)."""
        event_id = event.event_id
        try:
            parsed = envelope.parse_envelope(data)
            keys.verify(event.public_key, data, signature, what="envelope signature")
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from exc
        if parsed.event_id != event_id:
            raise PermissionDenied(
                f"envelope names event {parsed.event_id[:64]!r}, not the caller {event_id}"
            )
        digest = envelope.sha256(data)
        async with self._lock:
            existing = await self._subs.get(parsed.submission_id)
            if existing is None and parsed.attachments:
                if self.blobs is None:
                    raise InvalidRequest("this registry does not take reports with files")
                await self.blobs.check_complete(event_id, parsed.submission_id, parsed.attachments)
            if existing is not None:
                if existing.envelope_sha256 != digest or existing.event_id != event_id:
                    raise AlreadyExists(
                        f"submission {parsed.submission_id} already exists with other content"
                    )
                log.info(
                    "registry.submission_repeated",
                    submission_id=parsed.submission_id,
                    event_id=event_id,
                )
                return existing.receipt
            await self._check_daily_limits(event_id, len(data))
            received_at = _now()
            leaf = envelope.leaf_data(parsed.submission_id, event_id, digest, received_at)
            index = self._log.size
            next_log = merkle.MerkleLog(
                [*(self._log.leaf_hash(i) for i in range(index)), merkle.leaf_hash(leaf)]
            )
            receipt = reports_pb2.Receipt(
                submission_id=parsed.submission_id,
                event_id=event_id,
                envelope_sha256=digest,
                log_index=index,
                tree_size=index + 1,
                root=next_log.root(),
                received_at=received_at,
            )
            receipt.signature = keys.sign(self._key, envelope.receipt_message(receipt))
            await self._subs.append(
                StoredSubmission(
                    parsed.submission_id,
                    event_id,
                    index,
                    data,
                    digest,
                    signature,
                    received_at,
                    "received",
                    receipt,
                ),
                leaf,
            )
            self._log = next_log
        log.info(
            "registry.submission_logged",
            submission_id=parsed.submission_id,
            event_id=event_id,
            log_index=index,
            bytes=len(data),
            files=len(parsed.attachments),
        )
        return receipt

    async def is_logged(self, submission_id: str) -> bool:
        return await self._subs.get(submission_id) is not None

    async def manifest(
        self, submission_id: str, event_id: str | None
    ) -> list[reports_pb2.AttachmentBlob]:
        """The files a logged submission lists (NotFound for another event's)."""
        sub = await self._own(submission_id, event_id)
        return list(envelope.parse_envelope(sub.envelope).attachments)

    async def _check_daily_limits(self, event_id: str, size: int) -> None:
        """At most limits.SUBMISSIONS_PER_EVENT_PER_DAY submissions and
        SUBMISSION_BYTES_PER_EVENT_PER_DAY envelope bytes per event in 24 hours."""
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        count, used = await self._subs.recent(event_id, since)
        if count + 1 > limits.SUBMISSIONS_PER_EVENT_PER_DAY:
            raise QuotaExhausted(
                f"at most {limits.SUBMISSIONS_PER_EVENT_PER_DAY} submissions per event in 24 "
                "hours; try again later"
            )
        if used + size > limits.SUBMISSION_BYTES_PER_EVENT_PER_DAY:
            raise QuotaExhausted(
                f"at most {limits.SUBMISSION_BYTES_PER_EVENT_PER_DAY:,} bytes of reports per "
                f"event in 24 hours ({used:,} used); try again later"
            )

    def tree_head(self) -> reports_pb2.TreeHead:
        head = reports_pb2.TreeHead(
            tree_size=self._log.size, root=self._log.root(), signed_at=_now()
        )
        head.signature = keys.sign(self._key, envelope.tree_head_message(head))
        return head

    async def inclusion(
        self, index: int, tree_size: int, event_id: str | None = None
    ) -> tuple[bytes, list[bytes]]:
        """The leaf at `index` and its audit path in the tree of `tree_size`; for an event
        (`event_id`), only for its own submissions (the WG's readers, None, see all)."""
        if not 0 <= index < tree_size <= self._log.size:
            raise InvalidRequest(f"need 0 <= log_index < tree_size <= {self._log.size}")
        if event_id is not None and await self._subs.event_at(index) != event_id:
            raise NotFound("no submission of this event at that log index")
        return await self._subs.leaf(index), self._log.proof(index, tree_size)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        if not 0 < old_size <= new_size <= self._log.size:
            raise InvalidRequest(f"need 0 < old_size <= new_size <= {self._log.size}")
        return self._log.consistency(old_size, new_size)

    async def _own(self, submission_id: str, event_id: str | None) -> StoredSubmission:
        sub = await self._subs.get(submission_id)
        if sub is None or (event_id is not None and sub.event_id != event_id):
            raise NotFound(f"no submission {submission_id[:40]}")
        return sub

    async def status(
        self, submission_id: str, event_id: str | None
    ) -> tuple[StoredSubmission, list[reports_pb2.SubmissionStep]]:
        sub = await self._own(submission_id, event_id)
        return sub, await self._subs.steps(submission_id)

    async def submissions(self) -> list[SubmissionSummary]:
        return await self._subs.summaries()

    async def advance(
        self, member: str, submission_id: str, step: reports_pb2.SubmissionStep
    ) -> str:
        """Record a WG member's signed step; steps go in order, each once."""
        sub = await self._own(submission_id, None)
        if step.step not in envelope.STEPS:
            raise InvalidRequest(f"step must be one of {', '.join(envelope.STEPS)}")
        expected = (
            envelope.STATUS_ORDER[envelope.STATUS_ORDER.index(sub.status) + 1]
            if sub.status != envelope.STATUS_ORDER[-1]
            else None
        )
        if step.step != expected:
            raise InvalidRequest(
                f"submission {submission_id} is {sub.status}; the next step "
                f"is {expected or 'none: it is recorded'}"
            )
        if step.member != member:
            raise PermissionDenied(f"{member} may only sign steps as themselves")
        _, recipients = await self._subs.recipients()
        signer = next((r for r in recipients if r.name == member), None)
        if signer is None:
            raise PermissionDenied(f"{member} is not one of the WG's report recipients")
        if len(step.message) > 2000:
            raise InvalidRequest("a step's message is at most 2000 characters")
        try:
            envelope.verify_step(signer.signing_key, submission_id, step)
        except CoreError as exc:
            raise InvalidRequest(str(exc)) from exc
        if not await self._subs.add_step(submission_id, step, sub.status):
            raise InvalidRequest(
                f"submission {submission_id} moved on meanwhile; look at it again "
                "before taking the next step"
            )
        log.info(
            "registry.submission_advanced",
            submission_id=submission_id,
            step=step.step,
            member=member,
        )
        return step.step
