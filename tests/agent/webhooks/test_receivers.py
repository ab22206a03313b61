"""Webhook receivers, for real: documented payloads posted to the agent's receiver, the
vendors' APIs played by a stand-in on loopback (conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3

from structlog.testing import capture_logs

from tests.agent.conftest import AgentSetup
from tests.agent.webhooks.conftest import (
    PRETIX_AUTH,
    PRETIX_TOKEN,
    Harness,
    pointer,
    pretix_key,
    pretix_order,
    tito_headers,
    tito_ticket,
)


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
    done = await harness.settled("pretix", pretix_key(pointer(4711, "ABC12")))
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
        code: (await harness.settled("pretix", pretix_key(pointer(n, code)))).outcome
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
    # Kept (so that status can count it), never fetched.
    [kept] = await harness.hooks.queue.deliveries()
    assert (kept.vendor, kept.key, kept.state, kept.outcome) == (
        "pretix",
        pretix_key(other),
        "done",
        "other-event",
    )
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


async def test_logs_carry_ids_and_decisions_never_names(harness: Harness) -> None:
    ticket = tito_ticket("t3", "Canary Quillfeather", "canary.quill@example.org", "Buyer Canary")
    body = json.dumps(ticket).encode()
    with capture_logs() as logs:
        async with harness.http.post(
            harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
        ) as r:
            assert r.status == 200
        await harness.settled("tito", "ticket.completed:t3:2027-03-01T10:00:00.000Z")
    events = {entry["event"] for entry in logs}
    assert {"webhook.received", "webhook.processed"} <= events
    text = json.dumps(logs, default=str).lower()
    for needle in ("canary", "quillfeather", "example.org"):
        assert needle not in text


async def test_tito_actions_other_than_tickets_are_acknowledged_a_nameless_one_screened(
    harness: Harness,
) -> None:
    ticket = tito_ticket("t4", "Jordan Blake", "jordan.blake@example.net")
    body = json.dumps(ticket).encode()
    voided = tito_headers(body, action="ticket.voided")
    unnamed = {"Tito-Signature": tito_headers(body)["Tito-Signature"]}
    for headers in (voided, unnamed):
        async with harness.http.post(harness.hooks.url + "/tito", data=body, headers=headers) as r:
            assert r.status == 200
    stamp = "t4:2027-03-01T10:00:00.000Z"
    assert (await harness.settled("tito", f"ticket.voided:{stamp}")).outcome == "ignored"
    assert (await harness.settled("tito", f":{stamp}")).outcome == "deny"


async def test_a_signature_or_password_that_is_not_ascii_is_refused_not_an_error(
    harness: Harness,
) -> None:
    body = json.dumps(tito_ticket("t6", "Jordan Blake", "jordan.blake@example.net")).encode()
    headers = {"Tito-Signature": "\u00e9", "X-Webhook-Name": "ticket.completed"}
    async with harness.http.post(harness.hooks.url + "/tito", data=body, headers=headers) as r:
        assert r.status == 401
    for value in ("Basic \u00e9", "Basic " + base64.b64encode("pretix:h\u00e9".encode()).decode()):
        auth = {"Authorization": value}
        assert (await harness.post("/pretix", pointer(12, "ABC12"), auth))[0] == 401
    assert await harness.hooks.queue.deliveries() == []


async def test_a_sale_with_nobody_to_screen_needs_a_person_for_every_vendor(
    harness: Harness,
) -> None:
    nameless = {"slug": "t7", "reference": "T7", "name": "", "email": None}
    body = json.dumps(nameless).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert r.status == 200
    harness.vendors.orders["7001"] = {"id": "7001", "attendees": [{"status": "Attending"}]}
    api = f"{harness.vendors.url}/eventbrite/orders/7001/"
    hook = {"api_url": api, "config": {"action": "order.placed"}}
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    harness.vendors.orders["EMPTY"] = pretix_order("EMPTY", "", [("", "")], approval=True) | {
        "invoice_address": None
    }
    assert await harness.post("/pretix", pointer(13, "EMPTY"), PRETIX_AUTH) == (200, "{}")
    outcomes = [
        (await harness.settled("tito", "ticket.completed:t7:")).outcome,
        (await harness.settled("eventbrite", f"order.placed:{api}")).outcome,
        (await harness.settled("pretix", pretix_key(pointer(13, "EMPTY")))).outcome,
    ]
    assert outcomes == ["unscreened", "unscreened", "unscreened; left for a person to decide"]
    alerts = {(a.vendor, a.ref, a.decision) for a in await harness.hooks.queue.alerts()}
    assert alerts == {
        ("tito", "tito:T7", "unscreened"),
        ("eventbrite", "eventbrite:7001", "unscreened"),
        ("pretix", "pretix:EMPTY", "unscreened"),
    }
    assert harness.vendors.decisions() == []
