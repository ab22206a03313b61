"""When the worker cannot finish a delivery: it is kept and tried again later with a
growing pause, visible in the queue, unless it can never be processed; then it is dropped
and an alert names it. Never a silent drop, never a tight loop."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from pathlib import Path

import pytest

from lanyard.agent.errors import RegistryFaulted, RetentionApplied
from lanyard.agent.screening.decision import Result
from lanyard.agent.service import AgentService
from lanyard.agent.webhooks import server as webhook_server
from lanyard.agent.webhooks.config import Tito, WebhookConfig
from lanyard.agent.webhooks.queue import DeliveryQueue
from lanyard.agent.webhooks.worker import Worker
from lanyard.core.sqlite_files import StorageError
from tests.agent.webhooks.conftest import (
    PRETIX_AUTH,
    Harness,
    pointer,
    pretix_key,
    tito_headers,
    tito_ticket,
)


async def test_an_agent_error_outside_the_expected_ones_is_retried_with_a_pause(
    agent: AgentService, harness: Harness
) -> None:
    # The retention sweep has run: every Check is refused, and says why.
    assert await agent.apply_retention(30, today=date(2100, 1, 1)) == 0
    body = json.dumps(tito_ticket("t30", "Jordan Blake", "jordan.blake@example.net")).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert r.status == 200
    key = "ticket.completed:t30:2027-03-01T10:00:00.000Z"

    async def retried() -> bool:
        d = await harness.hooks.queue.delivery("tito", key)
        return d is not None and d.attempts >= 3

    async with asyncio.timeout(15):
        await harness.hooks.worker.until(retried)
    delivery = await harness.hooks.queue.delivery("tito", key)
    assert delivery is not None
    assert (delivery.state, delivery.outcome) == ("queued", "")
    assert "RetentionApplied" in delivery.last_error
    due = await harness.hooks.queue.next_due()
    assert due is not None
    assert due > time.time()  # paused, not polled again at once


class Failing:
    """A screener that fails the way the agent can fail under it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def check(self, name: str, email: str, role: str, caller_ref: str) -> Result:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ValueError("raised inside the agent"),
        KeyError("raised inside the agent"),
        TypeError("raised inside the agent"),
        TimeoutError(),
        StorageError("database agent.db cannot be written: the disk is full"),
        RegistryFaulted("cannot decide: the evaluation proof does not verify"),
        RetentionApplied("the attendee data was deleted"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_screening_failure_keeps_the_delivery_never_drops_it(
    tmp_path: Path, error: BaseException
) -> None:
    queue = await DeliveryQueue.open(tmp_path / "webhooks.db")
    try:
        screener = Failing(error)
        config = WebhookConfig(tito=Tito("token"), vendors=("tito",))
        worker = Worker(queue, screener, config, None, None, first_retry=30.0)
        ticket = tito_ticket("t31", "Jordan Blake", "jordan.blake@example.net")
        payload = json.dumps({"action": "ticket.completed", "ticket": ticket}).encode()
        assert await queue.enqueue("tito", "ticket.completed:t31:", payload, True) is not None
        assert await worker.run_once() == 1
        [delivery] = await queue.deliveries()
        assert (delivery.state, delivery.attempts) == ("queued", 1)
        assert type(error).__name__ in delivery.last_error
        due = await queue.next_due()
        assert due is not None
        assert due > time.time() + 20
        assert await worker.run_once() == 0  # not due again yet: no second Check
        assert screener.calls == 1
        assert await queue.alerts() == []
    finally:
        await queue.close()


async def test_a_malformed_order_from_the_api_is_dropped_with_an_alert(harness: Harness) -> None:
    harness.vendors.orders["ODD01"] = {"code": "ODD01", "status": "n", "positions": 5}
    sent = pointer(41, "ODD01")
    assert await harness.post("/pretix", sent, PRETIX_AUTH) == (200, "{}")
    dropped = await harness.settled("pretix", pretix_key(sent))
    assert dropped.state == "dropped"
    [alert] = await harness.hooks.queue.alerts()
    assert (alert.vendor, alert.ref, alert.decision) == ("pretix", pretix_key(sent), "unscreened")
    assert alert.reason.startswith("dropped")


async def test_a_pointer_outside_the_api_is_dropped_with_an_alert(harness: Harness) -> None:
    elsewhere = {"api_url": "http://127.0.0.1:9/steal/", "config": {"action": "order.placed"}}
    assert await harness.post("/eventbrite", elsewhere) == (200, "{}")
    key = "order.placed:http://127.0.0.1:9/steal/"
    assert (await harness.settled("eventbrite", key)).state == "dropped"
    [alert] = await harness.hooks.queue.alerts()
    assert (alert.vendor, alert.ref, alert.decision) == ("eventbrite", key, "unscreened")
    assert "outside the configured API" in alert.reason
    assert harness.vendors.calls == []


async def test_a_delivery_that_keeps_failing_is_a_problem_for_status(
    tmp_path: Path,
) -> None:
    """Retried still, but its sale unscreened for a while: `webhooks status` says so (and
    exits 1), it does not read as all well."""
    queue = await DeliveryQueue.open(tmp_path / "webhooks.db")
    try:
        config = WebhookConfig(tito=Tito("token"), vendors=("tito",))
        worker = Worker(queue, Failing(TimeoutError()), config, None, None, first_retry=0.0)
        ticket = tito_ticket("t32", "Jordan Blake", "jordan.blake@example.net")
        payload = json.dumps({"action": "ticket.completed", "ticket": ticket}).encode()
        assert await queue.enqueue("tito", "ticket.completed:t32:", payload, True) is not None
        for attempt in range(1, webhook_server.STUCK_ATTEMPTS + 1):
            assert await worker.run_once() == 1
            problems = (await webhook_server.overview(tmp_path)).problems()
            assert bool(problems) == (attempt >= webhook_server.STUCK_ATTEMPTS), problems
        assert "still retried: those sales are not screened yet" in problems[0]
    finally:
        await queue.close()
