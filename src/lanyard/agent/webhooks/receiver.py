"""The HTTP receivers: check who sent a delivery, store it, answer at once.

POST /tito, /pretix and /eventbrite. A delivery is answered 200 with an empty JSON object
as soon as it is stored durably (never with a decision: a sender learns nothing about the
person); screening happens in the worker. Answers: 401 for a missing or wrong signature
or password, 400 for a body that is not the documented shape, 404 for a vendor that is
not configured, 413 past 1 MiB. A replayed delivery is answered 200 and not stored again.
Never 410: pretix and Eventbrite disable a webhook that is answered 410.

What counts as a replay (queue.py): pretix numbers each notification, and its delivery is
keyed on the whole pointer (id, organiser, event, code, action), so a pointer someone
forged can never stand in for a genuine one. Eventbrite's pointer and Tito's ticket carry
no id unique to one change: the same key seen again after its row was processed is
screened again.
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
from lanyard.agent.webhooks.queue import OTHER_EVENT, DeliveryQueue

log = structlog.get_logger("lanyard.agent.webhooks")

MAX_BODY = 1 << 20
PRETIX_FIELDS = ("notification_id", "organizer", "event", "code", "action")


def _ok() -> web.Response:
    """The one answer to every accepted delivery, whatever the person turns out to be."""
    return web.Response(status=200, text="{}", content_type="application/json")


def tito_signature_valid(token: str, body: bytes, header: str) -> bool:
    """Tito-Signature: the HMAC-SHA256 of the raw body under the endpoint's security token,
    base64 (hex accepted too). Compared in constant time."""
    digest = hmac.new(token.encode(), body, hashlib.sha256).digest()
    # Bytes: compare_digest refuses a str holding anything but ASCII.
    given = header.strip().encode("utf-8", "replace")
    candidates = [base64.b64encode(digest), digest.hex().encode()]
    return bool(given) and any(hmac.compare_digest(given, c) for c in candidates)


def _basic_password_ok(request: web.Request, password: str) -> bool:
    if not password:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip().encode("utf-8", "replace"), validate=True)
        given = decoded.decode().partition(":")[2]
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
        self, vendor: str, key: str, payload: dict[str, Any], requeue: bool
    ) -> web.Response:
        """`requeue`: the key may come again for a new change (see the module's doc)."""
        delivery_id = await self._queue.enqueue(
            vendor, key, json.dumps(payload, separators=(",", ":")).encode(), requeue
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
        return await self._store("tito", key, {"action": action, "ticket": ticket}, True)

    async def pretix(self, request: web.Request) -> web.Response:
        config = self._config.pretix
        if config is None:
            raise web.HTTPNotFound()
        if not _basic_password_ok(request, config.password):
            log.warning("webhook.refused", vendor="pretix", reason="password")
            return _refuse(401, "missing or wrong credentials")
        pointer = _json_object(await request.read())
        if pointer is None or any(f not in pointer for f in PRETIX_FIELDS):
            return _refuse(400, "expected notification_id, organizer, event, code and action")
        # The whole pointer, not its (guessable, sequential) id alone.
        key = ":".join(str(pointer[f]) for f in PRETIX_FIELDS)
        if pointer["organizer"] != config.organizer or (
            config.events and pointer["event"] not in config.events
        ):
            # Not this agent's event: acknowledged (so pretix stops), never fetched, and
            # counted by `agent webhooks status` (a mistyped organiser shows there).
            await self._queue.note_ignored("pretix", key, OTHER_EVENT)
            log.info("webhook.ignored", vendor="pretix", reason=OTHER_EVENT)
            return _ok()
        return await self._store("pretix", key, {f: pointer[f] for f in PRETIX_FIELDS}, False)

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
        return await self._store("eventbrite", f"{action}:{pointer['api_url']}", payload, True)
