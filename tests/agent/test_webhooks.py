"""Webhook receivers, for real: documented payloads posted to the agent's receiver, the
vendors' APIs played by a small aiohttp app on 127.0.0.1:0 that records every call."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from lanyard.agent.service import AgentService
from lanyard.agent.webhooks import server as webhook_server
from lanyard.agent.webhooks.errors import WebhookConfigError
from lanyard.agent.webhooks.queue import Delivery
from tests.agent.conftest import AgentSetup
from tests.canary_tools import run_cli
from tests.cli.test_agent_cli import assert_one_sentence, lanyard
from tests.registry.test_serve_process import self_signed

TITO_TOKEN = "tito-endpoint-token"
PRETIX_TOKEN = "pretix-api-token"
EVENTBRITE_TOKEN = "eventbrite-private-token"


@dataclass
class Vendors:
    """The stand-in for pretix's and Eventbrite's REST APIs."""

    url: str = ""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth

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
            order = self.orders.get(parts[2])
            if order is not None and request.query.get("expand") == "attendees":
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


async def test_a_forged_or_missing_tito_signature_is_refused(harness: Harness) -> None:
    body = json.dumps(tito_ticket("t1", "Jordan Blake", "jordan.blake@example.net")).encode()
    forged = tito_headers(body, token="not-the-token")
    for headers in (forged, {"X-Webhook-Name": "ticket.completed"}):
        async with harness.http.post(harness.hooks.url + "/tito", data=body, headers=headers) as r:
            assert r.status == 401
    tampered = tito_headers(body)
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body.replace(b"Jordan", b"Jordam"), headers=tampered
    ) as r:
        assert r.status == 401
    assert await harness.hooks.queue.deliveries() == []
    assert await harness.hooks.queue.alerts() == []


async def test_a_signed_tito_ticket_is_screened_and_alerted_without_echoing_the_decision(
    setup: AgentSetup, harness: Harness
) -> None:
    ticket = tito_ticket("t2", "Jordan Blake", "jordan.blake@example.net")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert (r.status, await r.text()) == (200, "{}")
    done = await harness.settled("tito", "ticket.completed:t2:2027-03-01T10:00:00.000Z")
    assert (done.state, done.outcome, done.ref) == ("done", "deny", "tito:T2")
    [alert] = await harness.hooks.queue.alerts()
    assert (alert.ref, alert.decision, alert.reason, alert.record_ref) == (
        "tito:T2",
        "deny",
        "banned-confirmed",
        "WG-BAN",
    )
    # The stored payload (names, e-mails) is erased once processed.
    with sqlite3.connect(setup.adir.path / "webhooks.db") as db:
        assert db.execute("SELECT payload FROM deliveries").fetchall() == [(None,)]


async def test_a_replayed_pretix_delivery_is_processed_once(harness: Harness) -> None:
    harness.vendors.orders["ABC12"] = pretix_order(
        "ABC12", "jordan.blake@example.net", [("Jordan Blake", "")], approval=True
    )
    statuses = await asyncio.gather(
        *(harness.post("/pretix", pointer(4711, "ABC12"), PRETIX_AUTH) for _ in range(12))
    )
    assert statuses == [(200, "{}")] * 12
    done = await harness.settled("pretix", "4711")
    assert done.outcome == "deny; order denied"
    assert await harness.post("/pretix", pointer(4711, "ABC12"), PRETIX_AUTH) == (200, "{}")
    async with asyncio.timeout(5):
        await harness.hooks.worker.run_once()
    gets = [c for c in harness.vendors.calls if c[0] == "GET"]
    assert len(gets) == 1
    assert harness.vendors.decisions() == [("ABC12", "deny")]
    assert len(await harness.hooks.queue.deliveries()) == 1


async def test_pretix_pointers_lead_to_the_right_approval_calls(harness: Harness) -> None:
    orders = {
        "CLEAR1": pretix_order(
            "CLEAR1", "ada@example.org", [("Ada Lovelace", "ada@example.org")], True
        ),
        "BANNED": pretix_order(
            "BANNED", "someone@example.org", [("Kim Doe", "jordan.blake@example.net")], True
        ),
        "FLAG1": pretix_order("FLAG1", "grace@example.org", [("Sam Rivera", "")], True),
        "PAID1": pretix_order("PAID1", "jordan.blake@example.net", [("X Y", "")], False),
    }
    harness.vendors.orders.update(orders)
    for number, code in enumerate(orders, start=1):
        assert await harness.post("/pretix", pointer(number, code), PRETIX_AUTH) == (200, "{}")
    outcomes = {
        code: (await harness.settled("pretix", str(n))).outcome
        for n, code in enumerate(orders, start=1)
    }
    assert outcomes == {
        "CLEAR1": "allow; order approved",
        "BANNED": "deny; order denied",
        "FLAG1": "review; left for a person to decide",
        "PAID1": "deny",
    }
    assert sorted(harness.vendors.decisions()) == [("BANNED", "deny"), ("CLEAR1", "approve")]
    alerts = {(a.ref, a.decision, a.record_ref) for a in await harness.hooks.queue.alerts()}
    assert alerts == {
        ("pretix:BANNED", "deny", "WG-BAN"),
        ("pretix:FLAG1", "review", "WG-FLAG"),
        ("pretix:PAID1", "deny", "WG-BAN"),
    }
    assert all(auth == f"Token {PRETIX_TOKEN}" for _, _, auth in harness.vendors.calls)


async def test_pretix_needs_the_url_password_and_ignores_other_organisers(harness: Harness) -> None:
    assert (await harness.post("/pretix", pointer(9, "ABC12")))[0] == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"pretix:guess").decode()}
    assert (await harness.post("/pretix", pointer(9, "ABC12"), wrong))[0] == 401
    other = pointer(10, "ABC12") | {"organizer": "someone-else"}
    assert await harness.post("/pretix", other, PRETIX_AUTH) == (200, "{}")
    assert (await harness.post("/pretix", {"code": "X"}, PRETIX_AUTH))[0] == 400
    assert await harness.hooks.queue.deliveries() == []
    assert harness.vendors.calls == []


async def test_eventbrite_pointer_is_fetched_with_the_token_only_from_its_api(
    harness: Harness,
) -> None:
    harness.vendors.orders["9001"] = {
        "id": "9001",
        "name": "Grace Hopper",
        "email": "grace@example.org",
        "attendees": [{"profile": {"name": "Sam Rivera", "email": "sam@example.org"}}],
    }
    api = f"{harness.vendors.url}/eventbrite/orders/9001/"
    hook = {"api_url": api, "config": {"action": "order.placed", "webhook_id": "77"}}
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    done = await harness.settled("eventbrite", f"order.placed:{api}")
    assert (done.outcome, done.ref) == ("review", "eventbrite:9001")
    elsewhere = {"api_url": "http://127.0.0.1:9/steal/", "config": {"action": "order.placed"}}
    assert await harness.post("/eventbrite", elsewhere) == (200, "{}")
    dropped = await harness.settled("eventbrite", "order.placed:http://127.0.0.1:9/steal/")
    assert dropped.state == "dropped"
    assert [c[1] for c in harness.vendors.calls] == ["/eventbrite/orders/9001/"]


async def test_screening_unavailable_keeps_the_delivery_queued(
    setup: AgentSetup, harness: Harness
) -> None:
    await setup.registry.server.stop(0)
    ticket = tito_ticket("t9", "Never Seen", "never.seen@example.org", buyer="Also New")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert (r.status, await r.text()) == (200, "{}")
    key = "ticket.completed:t9:2027-03-01T10:00:00.000Z"

    async def retried() -> bool:
        d = await harness.hooks.queue.delivery("tito", key)
        return d is not None and d.attempts >= 2

    async with asyncio.timeout(15):
        await harness.hooks.worker.until(retried)
    delivery = await harness.hooks.queue.delivery("tito", key)
    assert delivery is not None
    assert delivery.state == "queued"
    assert "unavailable" in delivery.last_error
    assert await harness.hooks.queue.alerts() == []


async def test_receivers_refuse_plain_http_off_loopback_and_a_readable_config(
    setup: AgentSetup, agent: AgentService, vendors: Vendors
) -> None:
    write_config(setup.adir.path, vendors.url)
    with pytest.raises(WebhookConfigError, match="without TLS"):
        async with webhook_server.running(setup.adir.path, agent, "0.0.0.0:0"):
            pass
    write_config(setup.adir.path, vendors.url, mode=0o644)
    with pytest.raises(WebhookConfigError, match="chmod 600"):
        async with webhook_server.running(setup.adir.path, agent, "127.0.0.1:0"):
            pass


async def test_the_operator_sees_sales_that_need_a_person(
    setup: AgentSetup, harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = tito_ticket("t5", "Sam Rivera", "sam@example.org")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert r.status == 200
    await harness.settled("tito", "ticket.completed:t5:2027-03-01T10:00:00.000Z")
    capsys.readouterr()
    argv = ["agent", "webhooks", "status", "--data-dir", str(setup.adir.path), "--json"]
    saved = structlog.get_config()  # the CLI configures logging for the whole process
    try:
        code = await asyncio.wait_for(asyncio.to_thread(run_cli, argv), 30)
    finally:
        structlog.configure(**saved)
    out = capsys.readouterr().out
    assert code == 0
    shown = json.loads(out)
    assert shown["deliveries"] == {"done": 1}
    assert [(a["ref"], a["decision"], a["record_ref"]) for a in shown["alerts"]] == [
        ("tito:T5", "review", "WG-FLAG")
    ]
    assert "Sam" not in out


async def test_receivers_speak_https_when_given_a_certificate(
    tmp_path: Path, setup: AgentSetup, agent: AgentService, vendors: Vendors
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: cannot make a test certificate")
    cert, key = self_signed(tmp_path, "webhooks")
    write_config(setup.adir.path, vendors.url)
    config = setup.adir.path / "webhooks.toml"
    config.write_text(f'tls_cert = "{cert}"\ntls_key = "{key}"\n' + config.read_text())
    body = json.dumps(tito_ticket("t7", "Ada Lovelace", "ada@example.org")).encode()
    trusted = ssl.create_default_context(cafile=str(cert))
    async with (
        webhook_server.running(setup.adir.path, agent, "127.0.0.1:0") as hooks,
        aiohttp.ClientSession() as http,
    ):
        assert hooks.url.startswith("https://127.0.0.1:")
        async with http.post(
            hooks.url + "/tito", data=body, headers=tito_headers(body), ssl=trusted
        ) as r:
            assert (r.status, await r.text()) == (200, "{}")
        plain = hooks.url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):
            async with http.post(plain + "/tito", data=body, headers=tito_headers(body)) as r:
                await r.read()


async def test_serve_with_webhooks_but_no_config_is_one_sentence(
    setup: AgentSetup, vendors: Vendors, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ("--data-dir", str(setup.adir.path))
    serve = ("agent", "serve", *d, "--listen", "127.0.0.1:0", "--webhooks")
    saved = structlog.get_config()  # the CLI configures logging for the whole process
    try:
        assert_one_sentence(
            await lanyard(capsys, *serve, "127.0.0.1:0"), "webhooks.toml is missing"
        )
        write_config(setup.adir.path, vendors.url)
        assert_one_sentence(await lanyard(capsys, *serve, "0.0.0.0:0"), "without TLS")
    finally:
        structlog.configure(**saved)
    assert not setup.adir.endpoint_path.exists()


async def test_a_port_in_use_is_a_clear_error(
    setup: AgentSetup, agent: AgentService, harness: Harness
) -> None:
    with pytest.raises(WebhookConfigError, match="cannot listen on"):
        async with webhook_server.running(setup.adir.path, agent, harness.hooks.address):
            pass


async def test_finished_deliveries_are_forgotten_queued_ones_never(
    setup: AgentSetup, harness: Harness
) -> None:
    await setup.registry.server.stop(0)  # the second delivery cannot be screened
    harness.vendors.orders["OLD1"] = pretix_order("OLD1", "ada@example.org", [], approval=False)
    paid = pointer(1, "OLD1", "pretix.event.order.paid")
    assert await harness.post("/pretix", paid, PRETIX_AUTH) == (200, "{}")
    assert (await harness.settled("pretix", "1")).outcome == "ignored"
    ticket = tito_ticket("t8", "Never Seen", "never.seen@example.org")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert r.status == 200
    queue = harness.hooks.queue
    assert await queue.forget_finished(time.time() + 1) == 1
    assert [d.vendor for d in await queue.deliveries()] == ["tito"]
