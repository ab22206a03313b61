"""webhooks.toml: which ticketing systems may notify the agent, and with what credentials.

The file lives in the agent's data directory and holds API tokens, so it must be mode 0600
(a file others can read is refused). A vendor's section missing means its receiver answers
404. Shape (every key but the section headers optional unless said):

    tls_cert = "/etc/lanyard/webhooks.crt"   # both needed to listen off loopback
    tls_key = "/etc/lanyard/webhooks.key"

    [tito]
    token = "…"                  # required: the endpoint's security token (Tito-Signature)

    [pretix]
    api_url = "https://pretix.eu/api/v1"      # required: the REST API's base
    api_token = "…"              # required: an API token allowed to read and approve orders
    organizer = "acme"           # required: pointers for any other organiser are ignored
    events = ["democon"]         # only these events (all of the organiser's when empty)
    password = "…"               # HTTP basic auth password put in the webhook's URL
    approve_clear = true         # approve an order awaiting approval when all are clear

    [eventbrite]
    api_url = "https://www.eventbriteapi.com/v3/"   # pointers elsewhere are refused
    token = "…"                  # required: the organiser's private token
    password = "…"

A password is required to listen off loopback (server.py refuses to start without one:
anyone could post pointers); on loopback its absence is logged as a warning.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanyard.agent.webhooks.errors import WebhookConfigError

FILE_NAME = "webhooks.toml"
EVENTBRITE_API = "https://www.eventbriteapi.com/v3/"


@dataclass(frozen=True, slots=True)
class Tito:
    token: str


@dataclass(frozen=True, slots=True)
class Pretix:
    api_url: str
    api_token: str
    organizer: str
    events: tuple[str, ...] = ()
    password: str = ""
    approve_clear: bool = True


@dataclass(frozen=True, slots=True)
class Eventbrite:
    token: str
    api_url: str = EVENTBRITE_API
    password: str = ""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    tito: Tito | None = None
    pretix: Pretix | None = None
    eventbrite: Eventbrite | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    vendors: tuple[str, ...] = field(default=())


def _text(section: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = section.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise WebhookConfigError(f"{where}: {key} must be a non-empty string")
    return value


def _base_url(value: str, where: str) -> str:
    if not value.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise WebhookConfigError(f"{where}: api_url must be https:// (or http:// on loopback)")
    return value.rstrip("/") + "/"


def load(path: Path) -> WebhookConfig:
    """Read and check webhooks.toml. Raises WebhookConfigError naming the file and key."""
    try:
        if path.stat().st_mode & 0o077:
            raise WebhookConfigError(
                f"{path} holds API tokens and is readable by other users; run chmod 600 on it"
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise WebhookConfigError(
            f"{path} is missing: it says which ticketing systems may notify the agent"
        ) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WebhookConfigError(f"{path} cannot be read: {exc}") from exc
    tito = pretix = eventbrite = None
    if isinstance(section := data.get("tito"), dict):
        tito = Tito(_text(section, "token", f"{path} [tito]"))
    if isinstance(section := data.get("pretix"), dict):
        where = f"{path} [pretix]"
        events = section.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise WebhookConfigError(f"{where}: events must be a list of event slugs")
        approve = section.get("approve_clear", True)
        if not isinstance(approve, bool):
            raise WebhookConfigError(f"{where}: approve_clear must be true or false")
        pretix = Pretix(
            _base_url(_text(section, "api_url", where), where),
            _text(section, "api_token", where),
            _text(section, "organizer", where),
            tuple(events),
            _text(section, "password", where, required=False),
            approve,
        )
    if isinstance(section := data.get("eventbrite"), dict):
        where = f"{path} [eventbrite]"
        eventbrite = Eventbrite(
            _text(section, "token", where),
            _base_url(str(section.get("api_url") or EVENTBRITE_API), where),
            _text(section, "password", where, required=False),
        )
    cert, key = data.get("tls_cert"), data.get("tls_key")
    if bool(cert) != bool(key):
        raise WebhookConfigError(f"{path}: tls_cert and tls_key go together")
    vendors = tuple(
        name
        for name, on in (("tito", tito), ("pretix", pretix), ("eventbrite", eventbrite))
        if on is not None
    )
    if not vendors:
        raise WebhookConfigError(f"{path} configures no ticketing system ([tito], [pretix] …)")
    return WebhookConfig(
        tito,
        pretix,
        eventbrite,
        Path(str(cert)) if cert else None,
        Path(str(key)) if key else None,
        vendors,
    )
