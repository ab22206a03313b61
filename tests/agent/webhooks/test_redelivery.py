"""A second delivery for the same sale: screened again when it may carry a change, taken
as a replay only when it cannot (conftest.py plays the vendors' APIs)."""

from __future__ import annotations

import asyncio
import json

from tests.agent.webhooks.conftest import (
    PRETIX_AUTH,
    Harness,
    eventbrite_order,
    pointer,
    pretix_key,
    pretix_order,
    tito_headers,
    tito_ticket,
)

BANNED = ("Jordan Blake", "jordan.blake@example.net")
CLEAR = ("Ada Lovelace", "ada@example.org")


async def test_an_eventbrite_change_after_the_first_was_screened_is_screened_again(
    harness: Harness,
) -> None:
    harness.vendors.orders["5001"] = eventbrite_order("5001", CLEAR)
    api = f"{harness.vendors.url}/eventbrite/orders/5001/"
    hook = {"api_url": api, "config": {"action": "order.updated"}}
    key = f"order.updated:{api}"
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    assert (await harness.settled("eventbrite", key)).outcome == "allow"
    # The buyer hands the ticket to a banned person: the same pointer, moments later.
    harness.vendors.orders["5001"] = eventbrite_order("5001", BANNED)
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    done = await harness.settled("eventbrite", key)
    assert (done.state, done.outcome) == ("done", "deny")
    assert [(a.ref, a.decision) for a in await harness.hooks.queue.alerts()] == [
        ("eventbrite:5001", "deny")
    ]
    assert [c[0] for c in harness.vendors.calls] == ["GET", "GET"]


async def test_an_eventbrite_change_while_the_first_is_being_fetched_is_screened_too(
    harness: Harness,
) -> None:
    harness.vendors.orders["5002"] = eventbrite_order("5002", CLEAR)
    harness.vendors.hold = asyncio.Event()
    api = f"{harness.vendors.url}/eventbrite/orders/5002/"
    hook = {"api_url": api, "config": {"action": "attendee.updated"}}
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    async with asyncio.timeout(15):
        await harness.vendors.waiting.wait()  # the worker has asked; the answer is the old one
    harness.vendors.orders["5002"] = eventbrite_order("5002", BANNED)
    assert await harness.post("/eventbrite", hook) == (200, "{}")
    harness.vendors.hold.set()
    done = await harness.settled("eventbrite", f"attendee.updated:{api}")
    assert (done.state, done.outcome) == ("done", "deny")
    assert len([c for c in harness.vendors.calls if c[0] == "GET"]) == 2


async def test_a_pending_eventbrite_pointer_sent_twice_is_fetched_once(harness: Harness) -> None:
    harness.vendors.orders["5003"] = eventbrite_order("5003", CLEAR)
    harness.vendors.hold = asyncio.Event()
    harness.vendors.orders["5004"] = eventbrite_order("5004", CLEAR)
    first = f"{harness.vendors.url}/eventbrite/orders/5004/"
    api = f"{harness.vendors.url}/eventbrite/orders/5003/"
    hook = {"api_url": api, "config": {"action": "order.placed"}}
    # The worker is held on the first order, so the second waits, queued, and is sent again.
    assert await harness.post("/eventbrite", {"api_url": first, "config": hook["config"]}) == (
        200,
        "{}",
    )
    async with asyncio.timeout(15):
        await harness.vendors.waiting.wait()
    for _ in range(3):
        assert await harness.post("/eventbrite", hook) == (200, "{}")
    harness.vendors.hold.set()
    assert (await harness.settled("eventbrite", f"order.placed:{api}")).outcome == "allow"
    assert [c[1] for c in harness.vendors.calls].count("/eventbrite/orders/5003/") == 1


async def test_a_tito_ticket_changed_without_a_new_updated_at_is_screened_again(
    harness: Harness,
) -> None:
    key = "ticket.updated:t20:"
    for name, email, outcome in ((*CLEAR, "allow"), (*BANNED, "deny")):
        ticket = tito_ticket("t20", name, email)
        del ticket["updated_at"]
        body = json.dumps(ticket).encode()
        async with harness.http.post(
            harness.hooks.url + "/tito", data=body, headers=tito_headers(body, "ticket.updated")
        ) as r:
            assert (r.status, await r.text()) == (200, "{}")
        assert (await harness.settled("tito", key)).outcome == outcome
    assert [(a.ref, a.decision) for a in await harness.hooks.queue.alerts()] == [
        ("tito:T20", "deny")
    ]


async def test_a_pretix_pointer_cannot_take_the_place_of_another_with_the_same_id(
    harness: Harness,
) -> None:
    harness.vendors.orders["BANND"] = pretix_order(
        "BANND", "jordan.blake@example.net", [BANNED], approval=True
    )
    forged = pointer(9001, "AAAAA", "pretix.event.order.paid")
    assert await harness.post("/pretix", forged, PRETIX_AUTH) == (200, "{}")
    assert (await harness.settled("pretix", pretix_key(forged))).outcome == "ignored"
    real = pointer(9001, "BANND")
    assert await harness.post("/pretix", real, PRETIX_AUTH) == (200, "{}")
    assert (await harness.settled("pretix", pretix_key(real))).outcome == "deny; order denied"
    assert harness.vendors.decisions() == [("BANND", "deny")]
