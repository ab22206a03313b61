"""What the webhook tests share: the vendors' APIs played by a small aiohttp app on
127.0.0.1:0 that records every call, the documented payload shapes, and a running receiver."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lanyard.agent.service import AgentService
from lanyard.agent.webhooks import server as webhook_server
from lanyard.agent.webhooks.queue import Delivery
from tests.agent.conftest import AgentSetup

TITO_TOKEN = "tito-endpoint-token"
PRETIX_TOKEN = "pretix-api-token"
EVENTBRITE_TOKEN = "eventbrite-private-token"


@dataclass
class Vendors:
    """The stand-in for pretix's and Eventbrite's REST APIs.

    With `hold` set, an Eventbrite GET reads the order, sets `waiting`, and answers what it
    read only once `hold` is set: a change made meanwhile is one the worker has not seen."""

    url: str = ""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    hold: asyncio.Event | None = None
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.calls.append((request.method, request.path, auth))
        parts = request.path.strip("/").split("/")
        if parts[:2] == ["pretix", "organizers"] and auth == f"Token {PRETIX_TOKEN}":
            code = parts[6]
            if request.method == "GET" and code in self.orders:
                return web.json_response(self.orders[code])
            if request.method == "POST" and parts[7] in ("approve", "deny"):
                return web.json_response(self.orders[code])
        if parts[:2] == ["eventbrite", "orders"] and auth == f"Bearer {EVENTBRITE_TOKEN}":
            order = copy.deepcopy(self.orders.get(parts[2]))
            if order is not None and request.query.get("expand") == "attendees":
                if self.hold is not None:
                    self.waiting.set()
                    await self.hold.wait()
                return web.json_response(order)
        return web.json_response({"detail": "not found"}, status=404)

    def decisions(self) -> list[tuple[str, str]]:
        """(order code, "approve"|"deny") for every approval call made."""
        return [
            (path.split("/")[7], path.split("/")[8])
            for method, path, _ in self.calls
            if method == "POST"
        ]


@dataclass
class Harness:
    hooks: webhook_server.RunningWebhooks
    vendors: Vendors
    http: aiohttp.ClientSession

    async def post(
        self, path: str, payload: object, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        body = json.dumps(payload).encode()
        async with self.http.post(
            self.hooks.url + path, data=body, headers=headers or {}
        ) as response:
            return response.status, await response.text()

    async def settled(self, vendor: str, key: str) -> Delivery:
        """Wait for the delivery to be done or dropped (bounded)."""
        found: list[Delivery] = []

        async def finished() -> bool:
            d = await self.hooks.queue.delivery(vendor, key)
            found[:] = [d] if d else []
            return d is not None and d.state != "queued"

        async with asyncio.timeout(15):
            await self.hooks.worker.until(finished)
        return found[0]


def tito_headers(
    body: bytes, action: str = "ticket.completed", token: str = TITO_TOKEN
) -> dict[str, str]:
    digest = hmac.new(token.encode(), body, hashlib.sha256).digest()
    return {"Tito-Signature": base64.b64encode(digest).decode(), "X-Webhook-Name": action}


def tito_ticket(slug: str, name: str, email: str, buyer: str = "Ada Lovelace") -> dict[str, Any]:
    return {
        "id": 795,
        "slug": slug,
        "reference": slug.upper(),
        "name": name,
        "first_name": name.split(" ")[0],
        "last_name": name.split(" ")[-1],
        "email": email,
        "state_name": "complete",
        "updated_at": "2027-03-01T10:00:00.000Z",
        "registration": {"name": buyer, "email": "buyer@example.org"},
    }


def pretix_order(
    code: str, buyer_email: str, attendees: list[tuple[str, str]], approval: bool
) -> dict[str, Any]:
    return {
        "code": code,
        "status": "n",
        "require_approval": approval,
        "email": buyer_email,
        "invoice_address": {"name": "Buyer Person"},
        "positions": [
            {"positionid": i + 1, "attendee_name": n, "attendee_email": e}
            for i, (n, e) in enumerate(attendees)
        ],
    }


def pointer(
    notification_id: int, code: str, action: str = "pretix.event.order.placed.require_approval"
) -> dict[str, Any]:
    return {
        "notification_id": notification_id,
        "organizer": "acme",
        "event": "democon",
        "code": code,
        "action": action,
    }


def pretix_key(sent: dict[str, Any]) -> str:
    """The key a pretix delivery is stored under: the whole pointer, not its id alone."""
    fields = ("notification_id", "organizer", "event", "code", "action")
    return ":".join(str(sent[f]) for f in fields)


def eventbrite_order(order_id: str, attendee: tuple[str, str]) -> dict[str, Any]:
    """An Eventbrite order expanded with its attendees; the buyer is someone clear."""
    return {
        "id": order_id,
        "name": "Grace Hopper",
        "email": "grace@example.org",
        "attendees": [{"profile": {"name": attendee[0], "email": attendee[1]}}],
    }


def write_config(data_dir: Path, vendors_url: str, mode: int = 0o600) -> None:
    path = data_dir / "webhooks.toml"
    path.write_text(
        f'[tito]\ntoken = "{TITO_TOKEN}"\n\n'
        f'[pretix]\napi_url = "{vendors_url}/pretix"\napi_token = "{PRETIX_TOKEN}"\n'
        'organizer = "acme"\nevents = ["democon"]\npassword = "hook-pass"\n\n'
        f'[eventbrite]\napi_url = "{vendors_url}/eventbrite/"\ntoken = "{EVENTBRITE_TOKEN}"\n'
    )
    os.chmod(path, mode)


@pytest.fixture
async def vendors() -> AsyncIterator[Vendors]:
    stand_in = Vendors()
    runner = web.AppRunner(stand_in.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stand_in.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield stand_in
    await runner.cleanup()


@pytest.fixture
async def harness(
    setup: AgentSetup, agent: AgentService, vendors: Vendors
) -> AsyncIterator[Harness]:
    write_config(setup.adir.path, vendors.url)
    async with (
        webhook_server.running(setup.adir.path, agent, "127.0.0.1:0", first_retry=0.05) as hooks,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(hooks, vendors, http)


PRETIX_AUTH = {"Authorization": "Basic " + base64.b64encode(b"pretix:hook-pass").decode()}
