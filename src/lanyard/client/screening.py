"""The client a ticketing system uses to screen one person during a sale.

A plugin (pretix, a Tito or Eventbrite webhook handler, any Python code) imports this one
module: it signs every call with the integration key from `lanyard agent integration add`
(the credentials file holds `key_id`, `private_key` and `endpoint`), calls the agent's
`lanyard.agent.v1.Screening/Check`, and returns the decision. It is synchronous, so a
Django signal handler can call it directly; one client may be shared between threads.

A failed call raises `lanyard.client.errors.RpcFailed`; `exc.code` is
`grpc.StatusCode.UNAVAILABLE` when the agent cannot decide (never treat that as ALLOW):
`exc.answered` tells an agent that answered so (it could not reach the registry, say:
its reason is in the sentence) from one that could not be reached at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import grpc
import nacl.signing

from lanyard.client.errors import ClientError, from_rpc_error
from lanyard.core import auth
from lanyard.core.channels import is_loopback
from lanyard.wire.agent.v1 import screening_pb2 as pb
from lanyard.wire.agent.v1 import screening_pb2_grpc

__all__ = ["CheckResult", "ScreeningClient"]

CHECK_METHOD = "/lanyard.agent.v1.Screening/Check"
DEFAULT_TIMEOUT_SECONDS = 5.0

Decision = Literal["ALLOW", "REVIEW", "DENY"]
_DECISIONS: dict[int, Decision] = {
    pb.DECISION_ALLOW: "ALLOW",
    pb.DECISION_REVIEW: "REVIEW",
    pb.DECISION_DENY: "DENY",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One screening answer.

    `decision` is "ALLOW", "REVIEW" (flagged, or a name-only match: a person should look) or
    "DENY" (banned, matched on e-mail); `reason` the reason code without its prefix
    ("BANNED_CONFIRMED", "FLAGGED_POSSIBLE", … or "" with ALLOW); `record_ref` the WG's
    record reference when something matched; `snapshot_version` the version of the WG's
    list the decision was made against, and `snapshot_age_seconds` how long before the
    answer the registry last confirmed that list was its newest (an ALLOW from a list
    hours old may deserve a second look).
    """

    decision: Decision
    reason: str
    record_ref: str
    snapshot_version: int
    snapshot_age_seconds: int


class ScreeningClient:
    """Screens people through the event's agent at `endpoint` ("host:port").

    TLS is used whenever a CA certificate (`ca`, PEM bytes) is given or the agent is not on
    loopback (then the system's trust store verifies it); plaintext only to loopback.
    """

    def __init__(
        self,
        endpoint: str,
        key_id: str,
        signing_key: nacl.signing.SigningKey,
        ca: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self._signer = auth.CallSigner(key_id, signing_key)
        self._timeout = timeout
        if ca is None and is_loopback(endpoint):
            self._channel = grpc.insecure_channel(endpoint)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(endpoint, creds)
        self._stub = screening_pb2_grpc.ScreeningStub(self._channel)

    @classmethod
    def from_credentials(cls, path: Path, ca: Path | None = None) -> ScreeningClient:
        """A client from the credentials file `lanyard agent integration add` wrote.

        Raises ClientError naming the file when it cannot be read or is malformed.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            seed = bytes.fromhex(data["private_key"])
            key_id, endpoint = str(data["key_id"]), str(data["endpoint"])
            root = ca.read_bytes() if ca is not None else None
        except OSError as exc:
            raise ClientError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ClientError(
                f"{path} is not a Lanyard credentials file (key_id, private_key, endpoint)"
            ) from exc
        if len(seed) != 32:
            raise ClientError(f"{path}: private_key must be 32 bytes, got {len(seed)}")
        return cls(endpoint, key_id, nacl.signing.SigningKey(seed), root)

    def check(
        self,
        name: str = "",
        email: str = "",
        role: Literal["attendee", "speaker"] = "attendee",
        caller_ref: str = "",
    ) -> CheckResult:
        """Screen one person (name and/or e-mail, each at most 512 characters).

        `caller_ref` is the ticketing system's own order or ticket reference (at most 64
        printable ASCII characters), echoed in the team's alerts. Raises RpcFailed when the
        agent refuses or cannot decide.
        """
        request = pb.CheckRequest(
            name=name,
            email=email,
            role=pb.ROLE_SPEAKER if role == "speaker" else pb.ROLE_ATTENDEE,
            caller_ref=caller_ref,
        )
        try:
            answer = self._stub.Check(
                request,
                metadata=self._signer.metadata(CHECK_METHOD, request),
                timeout=self._timeout,
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "agent", self.endpoint) from exc
        decision = _DECISIONS.get(answer.decision)
        if decision is None:
            raise ClientError(f"the agent answered an unknown decision {answer.decision}")
        return CheckResult(
            decision,
            pb.Reason.Name(answer.reason).removeprefix("REASON_").replace("UNSPECIFIED", ""),
            answer.record_ref,
            answer.snapshot_version,
            answer.snapshot_age_seconds,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ScreeningClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
