"""The HTTP receivers: check who sent a delivery, store it, answer at once.

POST /tito, /pretix and /eventbrite. A delivery is answered 200 with an empty JSON object
as soon as it is stored durably (never with a decision: a sender learns nothing about the
person); screening happens in the worker. Answers: 401 for a missing or wrong signature
or password, 400 for a body that is not the documented shape, 404 for a vendor that is
not configured, 413 past 1 MiB. A replayed delivery is answered 200 and not stored again.
Never 410: pretix and Eventbrite disable a webhook that is answered 410.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from lanyard.agent.webhooks.config import WebhookConfig
from lanyard.agent.webhooks.queue import DeliveryQueue

log = structlog.get_logger("lanyard.agent.webhooks")

MAX_BODY = 1 << 20
# Eventbrite sends no delivery id: the same pointer seen again after this many seconds is
# a new change to the same order, not a replay.
EVENTBRITE_REPLAY_WINDOW = 600.0


def _ok() -> web.Response:
    """The one answer to every accepted delivery, whatever the person turns out to be."""
    return web.Response(status=200, text="{}", content_type="application/json")


def tito_signature_valid(token: str, body: bytes, header: str) -> bool:
    """Tito-Signature: the HMAC-SHA256 of the raw body under the endpoint's security token,
    base64 (hex accepted too). Compared in constant time."""
    digest = hmac.new(token.encode(), body, hashlib.sha256).digest()
    header = header.strip()
    candidates = [base64.b64encode(digest).decode(), digest.hex()]
    return bool(header) and any(hmac.compare_digest(header, c) for c in candidates)


def _basic_password_ok(request: web.Request, password: str) -> bool:
    if not password:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given.encode(), password.encode())


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _refuse(status: int, reason: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": reason}), content_type="application/json"
    )


class Receiver:
    def __init__(
        self, config: WebhookConfig, queue: DeliveryQueue, wake: Callable[[], None]
    ) -> None:
        self._config = config
        self._queue = queue
        self._wake = wake

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/tito", self.tito)
        app.router.add_post("/pretix", self.pretix)
        app.router.add_post("/eventbrite", self.eventbrite)
        return app

    async def _store(
        self, vendor: str, key: str, payload: dict[str, Any], window: float | None = None
    ) -> web.Response:
        delivery_id = await self._queue.enqueue(
            vendor, key, json.dumps(payload, separators=(",", ":")).encode(), window
        )
        log.info(
            "webhook.received", vendor=vendor, delivery_id=delivery_id, replay=delivery_id is None
        )
        if delivery_id is not None:
            self._wake()
        return _ok()

    async def tito(self, request: web.Request) -> web.Response:
        if self._config.tito is None:
            raise web.HTTPNotFound()
        body = await request.read()
        if not tito_signature_valid(
            self._config.tito.token, body, request.headers.get("Tito-Signature", "")
        ):
            log.warning("webhook.refused", vendor="tito", reason="signature")
            return _refuse(401, "missing or invalid Tito-Signature")
        ticket = _json_object(body)
        if ticket is None:
            return _refuse(400, "the body is not a JSON object")
        action = request.headers.get("X-Webhook-Name", "")
        ident = ticket.get("slug") or ticket.get("id") or ticket.get("reference")
        if not ident:
            return _refuse(400, "the ticket has no slug, id or reference")
        key = f"{action}:{ident}:{ticket.get('updated_at', '')}"
        return await self._store("tito", key, {"action": action, "ticket": ticket})

    async def pretix(self, request: web.Request) -> web.Response:
        config = self._config.pretix
        if config is None:
            raise web.HTTPNotFound()
        if not _basic_password_ok(request, config.password):
            log.warning("webhook.refused", vendor="pretix", reason="password")
            return _refuse(401, "missing or wrong credentials")
        pointer = _json_object(await request.read())
        fields = ("notification_id", "organizer", "event", "code", "action")
        if pointer is None or any(f not in pointer for f in fields):
            return _refuse(400, "expected notification_id, organizer, event, code and action")
        if pointer["organizer"] != config.organizer or (
            config.events and pointer["event"] not in config.events
        ):
            # Not this agent's event: acknowledged (so pretix stops), never fetched.
            log.info("webhook.ignored", vendor="pretix", reason="other-event")
            return _ok()
        return await self._store(
            "pretix", str(pointer["notification_id"]), {f: pointer[f] for f in fields}
        )

    async def eventbrite(self, request: web.Request) -> web.Response:
        config = self._config.eventbrite
        if config is None:
            raise web.HTTPNotFound()
        if not _basic_password_ok(request, config.password):
            log.warning("webhook.refused", vendor="eventbrite", reason="password")
            return _refuse(401, "missing or wrong credentials")
        pointer = _json_object(await request.read())
        settings = pointer.get("config") if pointer else None
        if (
            pointer is None
            or not isinstance(pointer.get("api_url"), str)
            or not isinstance(settings, dict)
        ):
            return _refuse(400, "expected api_url and config")
        action = str(settings.get("action", ""))
        payload = {"api_url": pointer["api_url"], "action": action}
        return await self._store(
            "eventbrite", f"{action}:{pointer['api_url']}", payload, EVENTBRITE_REPLAY_WINDOW
        )
