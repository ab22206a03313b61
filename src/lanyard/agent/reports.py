"""The end-of-event report: built from the incident records, sealed, sent, receipted.

This is the one deliberate moment when names leave the event. The chair sees exactly what
will leave (preview); the report is signed with the event's key and sealed to the WG's
report readers only; it goes through the durable outbox until the registry's signed
receipt comes back; and the receipt is checked against the registry's append-only log,
so a WG that silently dropped or rewrote a submission would be caught.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import nacl.signing
import structlog

from lanyard.agent import report_files
from lanyard.agent.errors import Error, InvalidRequest, Unavailable
from lanyard.agent.incidents.model import RESOLUTIONS, Incident
from lanyard.agent.outbox import Entry, Outbox
from lanyard.agent.report_files import ReportFile
from lanyard.agent.service import registry_failure
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import RegistryClient
from lanyard.core import envelope, merkle
from lanyard.core.enrolment import Enrolment
from lanyard.core.errors import Error as CoreError
from lanyard.wire.registry.v1 import reports_pb2

log = structlog.get_logger("lanyard.agent")

SEND_ATTEMPTS = 4
FIRST_PAUSE = 1.0


class ReceiptError(Error):
    """A receipt or proof from the registry that does not check out."""


def build_report(
    enrolment: Enrolment, incidents: list[Incident], files: Sequence[ReportFile] = ()
) -> dict[str, Any]:
    """What the seeds ask events to send the WG about each incident they handled, with
    the files the team chose to include."""
    attached = report_files.describe(files)

    def one(i: Incident) -> dict[str, Any]:
        r = i.report
        d = i.decision
        return {
            "incident_id": i.incident_id,
            "version": i.version,
            "status": i.status,
            "filed_at": i.filed_at,
            "filed_by": i.filed_by,
            "report": {
                "reporter": None
                if r.anonymous
                else {"name": r.reporter_name, "contact": r.reporter_contact},
                "received_by": r.received_by,
                "reported_people": [{"name": p.name, "role": p.role} for p in r.reported],
                "what_happened": r.description,
                "when": r.occurred_at,
                "where": r.location,
                "circumstances": r.circumstances,
                "others_involved": r.others_involved,
                "ongoing": r.ongoing,
                "safety_threat": r.safety_threat,
                "law_enforcement_called": r.law_enforcement_called,
                "venue_security_called": r.venue_security_called,
                "category": r.category,
            },
            "review": {
                "conflicts_of_interest": [
                    {"member": c.member, "recused": c.recused} for c in i.conflicts
                ],
                "notes": [
                    {"by": n.author, "at": n.written_at, "present": n.present, "text": n.text}
                    for n in i.notes
                ],
            },
            "decision": None
            if d is None
            else {
                "violation": d.violation,
                "bad_actors": d.bad_actors,
                "resolutions": [{"code": c, "wording": RESOLUTIONS[c]} for c in d.resolutions],
                "other_resolution": d.other_resolution,
                "reasoning": d.reasoning,
                "urgent": d.urgent,
                "approved_by": d.approved_by,
                "final": d.final,
                "decided_at": d.decided_at,
            },
            "communication": {
                "reported_person_told_on": i.communication.reported_person_told_on,
                "reporter_told_on": i.communication.reporter_told_on,
            },
            "attachments": attached.get(i.incident_id, []),
        }

    report = {
        "format": "lanyard-event-report/1",
        "event": {
            "event_id": enrolment.event_id,
            "name": enrolment.event_name,
            "starts_on": enrolment.starts_on.isoformat() if enrolment.starts_on else None,
            "ends_on": enrolment.ends_on.isoformat() if enrolment.ends_on else None,
        },
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "incidents": [one(i) for i in incidents],
    }
    envelope.check_report_size(report)  # before anything is sealed: the limit, named
    return report


def covers(report: dict[str, Any]) -> str:
    """Which incident versions a report holds, as "id:version,…": equal strings mean no
    incident changed between two reports."""
    return ",".join(
        f"{i['incident_id']}:{i['version']}"
        + "".join(f"+{a['attachment_id']}" for a in i.get("attachments", []))
        for i in sorted(report["incidents"], key=lambda i: i["incident_id"])
    )


def preview(report: dict[str, Any], opened: bool = False) -> str:
    """A readable rendering of exactly what the sealed report holds: every field of it
    (tests/event_agent/test_report_canary.py checks that none is left out). `opened`: as a
    WG reader sees it after opening it, rather than as the event's chair before sending."""
    ev = report["event"]
    where = (
        "Everything below is what the event sent, opened here with your key and signed by "
        "the event."
        if opened
        else "Everything below leaves the event, sealed to the WG's report readers."
    )
    lines = [
        f"End-of-event report: {ev['name']} ({ev['event_id']}), "
        f"{ev['starts_on']} to {ev['ends_on']}",
        f"{len(report['incidents'])} incident(s). {where}",
        "",
    ]
    for i in report["incidents"]:
        r = i["report"]
        reporter = r["reporter"]
        lines.append(
            f"Incident {i['incident_id']} — {i['status']}, filed {i['filed_at']} by {i['filed_by']}"
        )
        lines.append(
            "  Reporter: "
            + (
                "anonymous"
                if reporter is None
                else f"{reporter['name'] or '—'}"
                + (f" <{reporter['contact']}>" if reporter["contact"] else "")
            )
        )
        people = ", ".join(f"{p['name']} ({p['role']})" for p in r["reported_people"]) or "—"
        lines.append(f"  Reported: {people}")
        lines.append(f"  What happened: {r['what_happened']}")
        for label, key in (
            ("Received by", "received_by"),
            ("Category", "category"),
            ("When", "when"),
            ("Where", "where"),
            ("Circumstances", "circumstances"),
            ("Others", "others_involved"),
        ):
            if r[key]:
                lines.append(f"  {label}: {r[key]}")
        lines.append(
            f"  Ongoing: {r['ongoing']}; threat to safety: {r['safety_threat']}; law "
            f"enforcement called: {r['law_enforcement_called']}; venue security called: "
            f"{r['venue_security_called']}"
        )
        for c in i["review"]["conflicts_of_interest"]:
            lines.append(
                f"  Conflict of interest: {c['member']}" + (" (recused)" if c["recused"] else "")
            )
        for n in i["review"]["notes"]:
            present = f", with {', '.join(n['present'])}" if n["present"] else ""
            lines.append(f"  Note by {n['by']} ({n['at']}{present}): {n['text']}")
        d = i["decision"]
        if d:
            wording = "; ".join(x["wording"] for x in d["resolutions"])
            state = "final" if d["final"] else "awaiting a second approval"
            lines.append(
                f"  Decision ({state}{', urgent' if d['urgent'] else ''}; approved by "
                f"{', '.join(d['approved_by'])}): violation {d['violation']}; {wording}"
                + (f"; {d['other_resolution']}" if d["other_resolution"] else "")
            )
            if d["bad_actors"]:
                lines.append(f"  Bad actor(s): {', '.join(d['bad_actors'])}")
            if d["reasoning"]:
                lines.append(f"  Reasoning: {d['reasoning']}")
        c = i["communication"]
        lines.append(
            f"  Reported person told: {c['reported_person_told_on'] or 'not yet'}; "
            f"reporter told: {c['reporter_told_on'] or 'not yet'}"
        )
        for a in i.get("attachments", []):
            lines.append(
                f"  Attachment {a['attachment_id']}: {a['name']} ({a['type']}, {a['bytes']:,} "
                f"bytes, SHA-256 {a['sha256'][:16]}…, added by {a['added_by']})"
                + (f": {a['note']}" if a["note"] else "")
            )
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Delivery:
    entry: Entry
    receipt: reports_pb2.Receipt | None
    error: str = ""


async def check_receipt(
    entry: Entry, receipt: reports_pb2.Receipt, registry: RegistryClient
) -> None:
    """The receipt is signed by a registry key this event trusts (following the key
    chain if need be), for this submission and the bytes sent; else ReceiptError."""
    try:
        await registry.verify_signed(
            lambda key: envelope.verify_receipt(key, receipt), receipt.received_at
        )
    except CoreError as exc:
        raise ReceiptError(str(exc)) from exc
    if receipt.submission_id != entry.submission_id:
        raise ReceiptError("the receipt is for another submission")
    if receipt.envelope_sha256 != envelope.sha256(entry.envelope):
        raise ReceiptError("the receipt's hash is not the hash of what was sent")


class ReportSender:
    """Seal into the outbox, then deliver with retries until a receipt is stored."""

    def __init__(
        self,
        outbox: Outbox,
        registry: RegistryClient,
        enrolment: Enrolment,
        event_key: nacl.signing.SigningKey,
    ) -> None:
        self.outbox = outbox
        self._registry = registry
        self._enrolment = enrolment
        self._key = event_key

    async def recipients(
        self, unreachable: str = "the report was not sealed; nothing was sent"
    ) -> tuple[reports_pb2.RecipientSet, str | None]:
        """The WG's verified report readers and None, fresh from the registry (and kept);
        while the registry cannot be reached, the set last fetched, re-verified, and when
        it was fetched. Raises Unavailable when there is none, ReceiptError when the set
        does not verify."""
        try:
            recipients = await self._registry.recipients()
        except CoreError as exc:
            raise ReceiptError(
                f"the WG's recipient list does not verify ({exc}); nothing was sealed or sent"
            ) from exc
        except RpcFailed as exc:
            failure = registry_failure(exc, self._enrolment.endpoint, unreachable)
            cached = await self.outbox.cached_recipients()
            if not isinstance(failure, Unavailable) or cached is None:
                raise failure from exc
            try:
                envelope.verify_recipients(self._enrolment.registry_public_key, cached[0])
            except CoreError as bad:
                raise ReceiptError(f"the kept recipient list does not verify ({bad})") from bad
            return cached[0], cached[1]
        await self.outbox.save_recipients(recipients, datetime.now(UTC))
        return recipients, None

    async def seal(
        self,
        report: dict[str, Any],
        recipients: reports_pb2.RecipientSet | None = None,
        files: Sequence[ReportFile] = (),
    ) -> Entry:
        """Encrypt to the WG's verified recipients (`recipients`, or fetched now) and keep
        it in the outbox; `files` (those build_report was given, in its order) are sealed
        first."""
        if recipients is None:
            recipients, _ = await self.recipients()
        submission_id, data_key = envelope.new_submission_id(), envelope.new_data_key()
        manifest = await report_files.seal_files(self.outbox, files, submission_id, data_key)
        try:
            sealed = envelope.seal_report(
                report,
                self._enrolment.event_id,
                self._key,
                recipients,
                datetime.now(UTC).isoformat(timespec="seconds"),
                submission_id=submission_id,
                data_key=data_key,
                attachments=manifest,
            )
        except envelope.EnvelopeError as exc:
            raise InvalidRequest(str(exc)) from exc
        await self.outbox.put(
            sealed.submission_id, sealed.envelope, sealed.signature, covers(report)
        )
        log.info(
            "agent.report_sealed",
            submission_id=sealed.submission_id,
            recipients=len(recipients.recipients),
            bytes=len(sealed.envelope),
            files=len(manifest),
        )
        entry = await self.outbox.get(sealed.submission_id)
        assert entry is not None
        return entry

    async def deliver(
        self, entry: Entry, attempts: int = SEND_ATTEMPTS, first_pause: float = FIRST_PAUSE
    ) -> Delivery:
        """Send until a receipt comes, pausing 1, 2, 4 … seconds; a receipt that does not
        check out is an error, never stored."""
        pause = first_pause
        error = ""
        for attempt in range(attempts):
            try:
                await report_files.upload_files(self._registry, self.outbox, entry)
                receipt = await self._registry.submit_report(entry.envelope, entry.signature)
            except RpcFailed as exc:
                error = f"{exc.code.name}: {exc.details}"
                await self.outbox.failed(entry.submission_id, error)
                log.warning(
                    "agent.report_send_failed",
                    submission_id=entry.submission_id,
                    code=exc.code.name,
                    attempt=attempt + 1,
                )
                if exc.code not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    break
                if attempt + 1 < attempts:
                    await asyncio.sleep(pause)
                    pause *= 2
                continue
            await check_receipt(entry, receipt, self._registry)
            await self.outbox.receipted(entry.submission_id, receipt)
            log.info(
                "agent.report_receipted",
                submission_id=entry.submission_id,
                log_index=receipt.log_index,
            )
            return Delivery(entry, receipt)
        return Delivery(entry, None, error)

    async def drain(self) -> list[Delivery]:
        """Deliver whatever the outbox still holds (agent serve calls this periodically)."""
        return [await self.deliver(e, attempts=1) for e in await self.outbox.pending()]


@dataclass(frozen=True, slots=True)
class Verified:
    receipt: reports_pb2.Receipt
    head: reports_pb2.TreeHead
    status: str
    steps: list[reports_pb2.SubmissionStep]


def _verify_step(
    candidates: list[bytes], submission_id: str, step: reports_pb2.SubmissionStep
) -> None:
    """The step is signed by the reader's current key or one they retired."""
    failure: CoreError | None = None
    for key in candidates:
        try:
            envelope.verify_step(key, submission_id, step)
            return
        except CoreError as exc:
            failure = exc
    raise ReceiptError(str(failure)) from failure


async def verify_in_log(registry: RegistryClient, receipt: reports_pb2.Receipt) -> Verified:
    """The receipt's entry is in the log the registry signs today, and today's log extends
    the one the receipt was given for; the WG's steps are signed by its readers."""
    try:
        await registry.verify_signed(
            lambda key: envelope.verify_receipt(key, receipt), receipt.received_at
        )
        head = await registry.tree_head()
    except CoreError as exc:
        raise ReceiptError(str(exc)) from exc
    if head.tree_size < receipt.tree_size:
        raise ReceiptError(
            f"the log shrank: the receipt saw {receipt.tree_size} entries, the "
            f"registry now signs {head.tree_size}"
        )
    try:
        leaf, path = await registry.inclusion_proof(receipt.log_index, head.tree_size)
        expected = envelope.leaf_data(
            receipt.submission_id, receipt.event_id, receipt.envelope_sha256, receipt.received_at
        )
        if leaf != expected:
            raise ReceiptError("the log's entry at the receipt's index is not this submission")
        merkle.verify_inclusion(
            merkle.leaf_hash(leaf), receipt.log_index, head.tree_size, path, head.root
        )
        if head.tree_size > receipt.tree_size:
            proof = await registry.consistency_proof(receipt.tree_size, head.tree_size)
        else:
            proof = []
        merkle.verify_consistency(receipt.tree_size, head.tree_size, receipt.root, head.root, proof)
    except merkle.ProofError as exc:
        raise ReceiptError(f"the inclusion proof failed: {exc}") from exc
    except RpcFailed as exc:
        raise ReceiptError(
            f"the inclusion proof failed: the registry answered {exc.code.name}: {exc.details}"
        ) from exc
    status = await registry.submission_status(receipt.submission_id)
    # A reader who rekeyed signed earlier steps with a key the set lists as retired.
    recipients = {
        r.name: [r.signing_key, *r.retired_signing_keys]
        for r in (await registry.recipients()).recipients
    }
    for step in status.steps:
        candidates = recipients.get(step.member)
        if candidates is None:
            raise ReceiptError(
                f"the {step.step} step is signed by {step.member}, who is not "
                "one of the WG's report readers"
            )
        _verify_step(candidates, receipt.submission_id, step)
    return Verified(receipt, head, status.status, list(status.steps))
