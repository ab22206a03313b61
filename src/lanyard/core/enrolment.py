"""The enrolment bundle: what the WG sends an event, and what the event's agent pins.

The registry's CLI writes it at enrolment; the agent reads it once and keeps it. It holds
no secret: the registry's address and public signing key, and the event's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from lanyard.core import keys
from lanyard.core.errors import ConfigError, SignatureError

BUNDLE_FORMAT = "lanyard-enrolment/1"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the event pins from the WG's bundle."""

    event_id: str
    event_name: str
    endpoint: str
    registry_public_key: bytes
    suite: str
    starts_on: date | None
    ends_on: date | None
    # The OPRF epoch at enrolment and its public key pk = k * G (spec §3a, 32 bytes):
    # the agent checks the first signed snapshot of that epoch against it.
    epoch: int = 0
    epoch_public_key: bytes = b""

    @classmethod
    def from_json(cls, data: Any, source: str) -> Enrolment:
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise ConfigError(f"{source} is not a Lanyard enrolment bundle ({BUNDLE_FORMAT})")
        try:
            key = keys.parse_public_key_hex(str(data["registry_public_key"]), "registry key")
            starts = data.get("starts_on")
            ends = data.get("ends_on")
            epoch_key = bytes.fromhex(str(data.get("epoch_public_key") or ""))
            if epoch_key and len(epoch_key) != 32:
                raise ValueError(f"epoch_public_key must be 32 bytes, got {len(epoch_key)}")
            return cls(
                event_id=str(data["event_id"]),
                event_name=str(data.get("event_name", data["event_id"])),
                endpoint=str(data["endpoint"]),
                registry_public_key=key,
                suite=str(data["suite"]),
                starts_on=date.fromisoformat(starts) if starts else None,
                ends_on=date.fromisoformat(ends) if ends else None,
                epoch=int(data.get("epoch") or 0),
                epoch_public_key=epoch_key,
            )
        except KeyError as exc:
            raise ConfigError(f"{source} lacks the field {exc.args[0]!r}") from exc
        except (SignatureError, ValueError) as exc:
            raise ConfigError(f"{source} has a malformed field: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "event_id": self.event_id,
            "event_name": self.event_name,
            "endpoint": self.endpoint,
            "registry_public_key": self.registry_public_key.hex(),
            "suite": self.suite,
            "starts_on": self.starts_on.isoformat() if self.starts_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "epoch": self.epoch,
            "epoch_public_key": self.epoch_public_key.hex(),
        }
