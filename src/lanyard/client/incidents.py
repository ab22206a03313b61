"""A team member's client for the agent's Incidents service.

Each member holds their own Ed25519 key on their own machine and signs every call with it
("member:<name>", lanyard/core/auth.py); the event's operator may instead sign with the
agent's event key to add the first chair. This module loads the member's key, opens the
channel, and turns each gRPC failure into one sentence (`IncidentRpcError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nacl.signing

from lanyard.client.errors import ClientError, RpcFailed, answered_by_peer
from lanyard.core import auth, files, keychain, keys, limits
from lanyard.core.auth import MEMBER_NAME
from lanyard.core.channels import open_channel
from lanyard.wire.agent.v1 import incidents_pb2 as pb
from lanyard.wire.agent.v1 import incidents_pb2_grpc

PREFIX = "/lanyard.agent.v1.Incidents/"
CALL_TIMEOUT_SECONDS = 30.0
PIECE_BYTES = limits.ATTACHMENTS["piece_bytes"]  # the agent refuses larger upload pieces
KEY_FORMAT_KEYS = ("name", "private_key")


def default_member_key() -> Path:
    """`$LANYARD_MEMBER_KEY`, else `$XDG_CONFIG_HOME/lanyard/member.json`
    (~/.config/lanyard/member.json)."""
    env = os.environ.get("LANYARD_MEMBER_KEY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lanyard" / "member.json"


# -- the member's own key ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberKey:
    name: str
    key: nacl.signing.SigningKey

    @property
    def public_hex(self) -> str:
        return bytes(self.key.verify_key).hex()


def check_member_name(name: str) -> str:
    if not MEMBER_NAME.match(name):
        raise ClientError(
            f"member name must be 1 to 64 lowercase letters, digits, dots, dashes or "
            f"underscores, got {name!r}"
        )
    return name


def create_member_key(path: Path, name: str) -> MemberKey:
    """A fresh key written to `path` (mode 0600); an existing file is never replaced."""
    member = MemberKey(check_member_name(name), nacl.signing.SigningKey.generate())
    body = {"name": member.name, "private_key": bytes(member.key).hex()}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ClientError(
            f"{path} already exists; refusing to replace a member key (use --out for another)"
        ) from exc
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(body, indent=2) + "\n")
    return member


def save_member_key(path: Path, member: MemberKey) -> None:
    """Write (or replace) a member key file, atomically, mode 0600."""
    body = {"name": member.name, "private_key": bytes(member.key).hex()}
    try:
        files.write_atomically(path, json.dumps(body, indent=2) + "\n")
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror}") from exc


def load_member_key(path: Path) -> MemberKey:
    """The key `team keygen` wrote; refused when other users can read it."""
    try:
        info = path.stat()
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ClientError(
            f"no member key at {path}: run `lanyard team keygen --name NAME`, or give --key"
        ) from exc
    except OSError as exc:
        raise ClientError(f"cannot read member key {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClientError(f"member key {path} is not JSON") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClientError(
            f"member key {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "run chmod 600 on it"
        )
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in KEY_FORMAT_KEYS):
        raise ClientError(f"member key {path} must hold a name and a private_key")
    try:
        seed = bytes.fromhex(data["private_key"])
    except ValueError as exc:
        raise ClientError(f"member key {path}: private_key must be hex") from exc
    if len(seed) != 32:
        raise ClientError(f"member key {path}: private_key must be 32 bytes, got {len(seed)}")
    return MemberKey(check_member_name(data["name"]), nacl.signing.SigningKey(seed))


# -- one sentence per failure --------------------------------------------------------------


def describe(exc: grpc.aio.AioRpcError, endpoint: str, incident_id: int | None = None) -> str:
    code, details = exc.code(), (exc.details() or "").strip().rstrip(".")
    if code == grpc.StatusCode.UNAVAILABLE and answered_by_peer(exc):
        return f"the agent at {endpoint} answered but cannot serve the call now: {details}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the agent at {endpoint}: is `lanyard agent serve` running?"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the agent at {endpoint} did not answer in time"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            "this agent does not keep incident records yet: run `lanyard agent incidents-init` "
            "and restart it"
        )
    if code == grpc.StatusCode.ABORTED and incident_id is not None:
        return (
            f"incident {incident_id} changed since you read it; run "
            f"`lanyard incident show {incident_id}` and try again"
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"not allowed: {details}"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (
            f"the agent did not accept your key ({details}): you may not be on the team "
            "(or were removed), your key may not be the one the chair added, or this "
            "machine's clock may be more than two minutes off"
        )
    if code in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.ALREADY_EXISTS,
    ):
        return details or code.name.lower().replace("_", " ")
    return f"the agent failed: {details or 'no details'} ({code.name})"


class IncidentRpcError(RpcFailed):
    """A refused or failed call to the agent's Incidents service, put into one sentence."""


# -- the client --------------------------------------------------------------------------


class IncidentClient:
    """One typed method per Incidents RPC; each signs its own call."""

    def __init__(self, channel: grpc.aio.Channel, signer: auth.CallSigner, endpoint: str) -> None:
        self._stub = incidents_pb2_grpc.IncidentsStub(channel)
        self._signer = signer
        self.endpoint = endpoint

    async def _call(
        self, method: str, request: Any, incident_id: int | None = None
    ) -> Any:  # the generated stubs are untyped; each public method names its response
        rpc: Callable[..., Awaitable[Any]] = getattr(self._stub, method)
        try:
            return await rpc(
                request,
                metadata=self._signer.metadata(PREFIX + method, request),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise IncidentRpcError(
                describe(exc, self.endpoint, incident_id),
                exc.code(),
                (exc.details() or "").strip(),
                "agent",
                self.endpoint,
                answered_by_peer(exc),
            ) from exc

    # team
    async def add_member(self, name: str, role: str, public_key: bytes) -> pb.Member:
        """Add `name` as "volunteer", "responder" or "chair" with a 32-byte Ed25519 key."""
        wire_role = f"MEMBER_ROLE_{role.upper()}"
        member = pb.Member(name=name, role=wire_role, public_key=public_key)
        response: pb.AddMemberResponse = await self._call(
            "AddMember", pb.AddMemberRequest(member=member)
        )
        return response.member

    async def rekey_member(self, name: str, new_key: nacl.signing.SigningKey) -> pb.Member:
        """Replace this client's member key (the one it signs with) by `new_key`."""
        public = bytes(new_key.verify_key)
        proof = keys.sign(new_key, keychain.member_rekey_message(name, public))
        response: pb.RekeyMemberResponse = await self._call(
            "RekeyMember", pb.RekeyMemberRequest(new_public_key=public, proof=proof)
        )
        return response.member

    async def remove_member(self, name: str) -> None:
        await self._call("RemoveMember", pb.RemoveMemberRequest(name=name))

    async def list_members(self) -> list[pb.Member]:
        response: pb.ListMembersResponse = await self._call("ListMembers", pb.ListMembersRequest())
        return list(response.members)

    # incidents
    async def file_incident(self, report: pb.Report) -> pb.IncidentSummary:
        response: pb.FileIncidentResponse = await self._call(
            "FileIncident", pb.FileIncidentRequest(report=report)
        )
        return response.incident

    async def list_incidents(self, overdue_only: bool = False) -> list[pb.IncidentSummary]:
        response: pb.ListIncidentsResponse = await self._call(
            "ListIncidents", pb.ListIncidentsRequest(overdue_only=overdue_only)
        )
        return list(response.incidents)

    async def get_incident(self, incident_id: int) -> pb.Incident:
        response: pb.GetIncidentResponse = await self._call(
            "GetIncident", pb.GetIncidentRequest(incident_id=incident_id), incident_id
        )
        return response.incident

    async def update_incident(
        self,
        incident_id: int,
        expected_version: int,
        status: str = "",
        report: pb.Report | None = None,
    ) -> pb.Incident:
        request = pb.UpdateIncidentRequest(
            incident_id=incident_id,
            expected_version=expected_version,
            status=status,
            report=report,
            replace_report=report is not None,
        )
        response: pb.GetIncidentResponse = await self._call("UpdateIncident", request, incident_id)
        return response.incident

    async def add_note(self, incident_id: int, text: str, present: list[str]) -> pb.Incident:
        request = pb.AddNoteRequest(incident_id=incident_id, text=text, present=present)
        response: pb.GetIncidentResponse = await self._call("AddNote", request, incident_id)
        return response.incident

    async def declare_conflict(
        self, incident_id: int, member: str, reason: str, recuse: bool
    ) -> pb.Incident:
        request = pb.DeclareConflictRequest(
            incident_id=incident_id, member=member, reason=reason, recuse=recuse
        )
        response: pb.GetIncidentResponse = await self._call("DeclareConflict", request, incident_id)
        return response.incident

    async def decide(self, incident_id: int, decision: pb.IncidentDecision) -> pb.Incident:
        request = pb.DecideRequest(incident_id=incident_id, decision=decision)
        response: pb.GetIncidentResponse = await self._call("Decide", request, incident_id)
        return response.incident

    async def record_communication(
        self, incident_id: int, reported_person_told_on: str, reporter_told_on: str
    ) -> pb.Incident:
        request = pb.RecordCommunicationRequest(
            incident_id=incident_id,
            communication=pb.Communication(
                reported_person_told_on=reported_person_told_on, reporter_told_on=reporter_told_on
            ),
        )
        response: pb.GetIncidentResponse = await self._call(
            "RecordCommunication", request, incident_id
        )
        return response.incident

    # attachments
    def _failed(self, exc: grpc.aio.AioRpcError, incident_id: int) -> IncidentRpcError:
        return IncidentRpcError(
            describe(exc, self.endpoint, incident_id),
            exc.code(),
            (exc.details() or "").strip(),
            "agent",
            self.endpoint,
        )

    async def attach(self, incident_id: int, path: Path, note: str = "") -> pb.AttachmentInfo:
        """Stream the file at `path` to the incident in pieces of PIECE_BYTES; the file is
        never read whole. ClientError if it cannot be read."""
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from exc

        header = pb.AttachRequest(
            header=pb.AttachHeader(incident_id=incident_id, name=path.name, note=note)
        )

        async def requests() -> AsyncIterator[pb.AttachRequest]:
            yield header
            while piece := handle.read(PIECE_BYTES):
                yield pb.AttachRequest(data=piece)

        try:
            with handle:
                response: pb.AttachResponse = await self._stub.Attach(
                    requests(), metadata=self._signer.metadata(PREFIX + "Attach", header)
                )
        except grpc.aio.AioRpcError as exc:
            raise self._failed(exc, incident_id) from exc
        return response.attachment

    async def list_attachments(self, incident_id: int) -> list[pb.AttachmentInfo]:
        response: pb.ListAttachmentsResponse = await self._call(
            "ListAttachments", pb.ListAttachmentsRequest(incident_id=incident_id), incident_id
        )
        return list(response.attachments)

    async def get_attachment(
        self, incident_id: int, attachment_id: int, out: Path
    ) -> pb.AttachmentInfo:
        """Stream an attachment into `out` (mode 0600), written under a temporary name and
        moved into place only once its size and SHA-256 match what the agent recorded."""
        request = pb.GetAttachmentRequest(incident_id=incident_id, attachment_id=attachment_id)
        partial = out.with_name(f".{out.name}.partial")
        digest = hashlib.sha256()
        info: pb.AttachmentInfo | None = None
        written = 0
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise ClientError(f"cannot write {out}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                call = self._stub.GetAttachment(
                    request, metadata=self._signer.metadata(PREFIX + "GetAttachment", request)
                )
                async for part in call:
                    if part.WhichOneof("part") == "info":
                        info = part.info
                        continue
                    fh.write(part.data)
                    digest.update(part.data)
                    written += len(part.data)
                fh.flush()
                os.fsync(fh.fileno())
            if info is None or written != info.size or digest.hexdigest() != info.sha256:
                raise ClientError(
                    f"attachment {attachment_id} arrived incomplete or changed "
                    f"({written:,} bytes); nothing was written to {out}"
                )
            os.replace(partial, out)
        except grpc.aio.AioRpcError as exc:
            raise self._failed(exc, incident_id) from exc
        finally:
            partial.unlink(missing_ok=True)
        return info

    async def audit(self, incident_id: int) -> list[pb.AuditEntry]:
        response: pb.GetAuditResponse = await self._call(
            "GetAudit", pb.GetAuditRequest(incident_id=incident_id), incident_id
        )
        return list(response.entries)

    async def dispose(self, incident_id: int, action: str) -> pb.DisposeIncidentResponse:
        """Approve destroying or exporting an incident waiting for a decision ("destroy"
        or "export"); the second distinct chair's call carries it out."""
        response: pb.DisposeIncidentResponse = await self._call(
            "DisposeIncident",
            pb.DisposeIncidentRequest(incident_id=incident_id, action=action),
            incident_id,
        )
        return response


@asynccontextmanager
async def connect(
    endpoint: str, signer: auth.CallSigner, ca: Path | None = None
) -> AsyncIterator[IncidentClient]:
    """A client for one command, signing every call with `signer`, on one channel."""
    channel = open_channel(endpoint, ca)
    try:
        yield IncidentClient(channel, signer, endpoint)
    finally:
        await channel.close()
