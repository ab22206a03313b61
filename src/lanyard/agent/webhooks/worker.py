"""The background worker: screens what the receivers stored, then acts and alerts.

For each due delivery: read the sale (Tito's ticket as sent; pretix's order and
Eventbrite's object fetched from their APIs), screen each attendee and the buyer through
the agent's own Check, and then

- raise an alert when anyone is REVIEW or DENY, or could not be screened;
- for a pretix order awaiting approval: deny it on DENY, approve it when everyone is clear
  (if `approve_clear`), and otherwise leave it for a person to decide.

When the agent cannot decide (UNAVAILABLE, a refusal from the registry) or the vendor's API
is away, the delivery stays queued and is tried again later with a doubling pause: it is
never dropped and never taken as clear.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

import structlog

from lanyard.agent.errors import InvalidRequest, RegistryRefused, Unavailable
from lanyard.agent.screening.decision import CLEAR, Decision, Result
from lanyard.agent.webhooks import vendors
from lanyard.agent.webhooks.config import WebhookConfig
from lanyard.agent.webhooks.errors import VendorError
from lanyard.agent.webhooks.queue import DONE, DROPPED, DeliveryQueue, Job
from lanyard.core.supervise import stop_if_cancelled

log = structlog.get_logger("lanyard.agent.webhooks")

TITO_ACTIONS = frozenset(
    {
        "ticket.created",
        "ticket.completed",
        "ticket.updated",
        "ticket.reassigned",
        "ticket.unsnoozed",
        "ticket.unvoided",
    }
)
PRETIX_ACTIONS = frozenset(
    {
        "pretix.event.order.placed",
        "pretix.event.order.placed.require_approval",
        "pretix.event.order.modified",
        "pretix.event.order.contact.changed",
    }
)
EVENTBRITE_ACTIONS = frozenset({"order.placed", "order.updated", "attendee.updated"})
MAX_IDLE_SECONDS = 60.0
SWEEP_INTERVAL_SECONDS = 3600.0
# Senders retry for days (pretix up to three); a month covers every late retry.
KEEP_FINISHED_SECONDS = 30 * 24 * 3600.0
_RANK = {Decision.ALLOW: 0, Decision.REVIEW: 2, Decision.DENY: 3}


class Screener(Protocol):
    """The agent's Check (AgentService.check): raises Unavailable or RegistryRefused when
    it cannot decide, InvalidRequest for an identifier it cannot use."""

    async def check(self, name: str, email: str, role: str, caller_ref: str) -> Result: ...


class Retry(Exception):
    """This delivery cannot be finished now; try again later."""


class Worker:
    def __init__(
        self,
        queue: DeliveryQueue,
        screener: Screener,
        config: WebhookConfig,
        pretix: vendors.PretixApi | None,
        eventbrite: vendors.EventbriteApi | None,
        first_retry: float = 5.0,
        max_retry: float = 900.0,
    ) -> None:
        self._queue = queue
        self._screener = screener
        self._config = config
        self._pretix = pretix
        self._eventbrite = eventbrite
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Condition()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Process due deliveries until cancelled; sleeps until woken or the next is due.
        Once an hour, finished deliveries older than KEEP_FINISHED_SECONDS are forgotten."""
        swept = 0.0
        while True:
            self._wakeup.clear()
            try:
                await self.run_once()
                if time.time() - swept > SWEEP_INTERVAL_SECONDS:
                    forgotten = await self._queue.forget_finished(
                        time.time() - KEEP_FINISHED_SECONDS
                    )
                    swept = time.time()
                    if forgotten:
                        log.info("webhook.forgotten", deliveries=forgotten)
            except Exception as exc:
                stop_if_cancelled(exc)  # a cancelled call that came up as an error
                log.exception("webhook.worker_failed")
            stop_if_cancelled()  # or that a delivery took for a refusal and kept for later
            due = await self._queue.next_due()
            pause = MAX_IDLE_SECONDS if due is None else min(MAX_IDLE_SECONDS, due - time.time())
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(pause, 0.0))

    async def run_once(self) -> int:
        done = 0
        for job in await self._queue.due():
            await self._process(job)
            done += 1
            async with self._progress:
                self._progress.notify_all()
        return done

    async def until(self, predicate: Callable[[], Awaitable[bool]]) -> None:
        """Wait until `predicate` holds, checking after each delivery processed (callers
        bound the wait with asyncio.timeout)."""
        async with self._progress:
            while not await predicate():
                await self._progress.wait()

    async def _process(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            payload = json.loads(job.payload)
            ref, outcome = await self._handle(job, payload)
        except Retry as exc:
            delay = min(self._first_retry * 2**job.attempts, self._max_retry)
            await self._queue.retry(job.delivery_id, delay, str(exc))
            log.warning(
                "webhook.retry",
                vendor=job.vendor,
                delivery_id=job.delivery_id,
                attempts=job.attempts + 1,
                reason=str(exc),
                seconds=delay,
            )
            return
        except VendorError as exc:
            await self._queue.finish(job.delivery_id, DROPPED, "", str(exc))
            log.error(
                "webhook.dropped", vendor=job.vendor, delivery_id=job.delivery_id, reason=str(exc)
            )
            return
        except (ValueError, TypeError, KeyError) as exc:
            await self._queue.finish(job.delivery_id, DROPPED, "", "malformed payload")
            log.error(
                "webhook.dropped",
                vendor=job.vendor,
                delivery_id=job.delivery_id,
                reason=type(exc).__name__,
            )
            return
        await self._queue.finish(job.delivery_id, DONE, ref, outcome)
        log.info(
            "webhook.processed",
            vendor=job.vendor,
            delivery_id=job.delivery_id,
            outcome=outcome,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _handle(self, job: Job, payload: dict[str, Any]) -> tuple[str, str]:
        try:
            if job.vendor == "tito":
                return await self._tito(job, payload)
            if job.vendor == "pretix":
                return await self._pretix_order(job, payload)
            return await self._eventbrite_object(job, payload)
        except VendorError as exc:
            if exc.retry:
                raise Retry(str(exc)) from exc
            raise

    async def _screen(self, sale: vendors.Sale) -> tuple[str, Result]:
        """The strongest answer over everyone in the sale: ("deny"|"review"|"allow", result),
        "unscreened" when someone could not be screened, "empty" when there is no one."""
        if not sale.people:
            return "empty", CLEAR
        strongest, unusable = CLEAR, False
        for person in sale.people:
            try:
                result = await self._screener.check(person.name, person.email, "attendee", sale.ref)
            except InvalidRequest:
                unusable = True
                continue
            except (Unavailable, RegistryRefused) as exc:
                raise Retry(f"screening unavailable ({type(exc).__name__})") from exc
            if _RANK[result.decision] > _RANK[strongest.decision]:
                strongest = result
        if strongest.decision == Decision.ALLOW and unusable:
            return "unscreened", strongest
        return strongest.decision.value, strongest

    async def _alert(self, job: Job, ref: str, decision: str, result: Result) -> None:
        if decision not in ("review", "deny", "unscreened"):
            return
        alert_id = await self._queue.raise_alert(job.vendor, ref, decision, result, job.delivery_id)
        if alert_id is not None:
            log.info(
                "agent.alert",
                source="webhook",
                alert_id=alert_id,
                vendor=job.vendor,
                ref=ref,
                decision=decision,
                reason=result.reason.value,
                record_ref=result.record_ref,
            )

    async def _tito(self, job: Job, payload: dict[str, Any]) -> tuple[str, str]:
        # A signed ticket without X-Webhook-Name is screened too, rather than let through.
        if payload["action"] and payload["action"] not in TITO_ACTIONS:
            return "", "ignored"
        sale = vendors.tito_sale(payload["ticket"])
        decision, result = await self._screen(sale)
        await self._alert(job, sale.ref, decision, result)
        return sale.ref, decision

    async def _eventbrite_object(self, job: Job, payload: dict[str, Any]) -> tuple[str, str]:
        if payload["action"] not in EVENTBRITE_ACTIONS or self._eventbrite is None:
            return "", "ignored"
        sale = vendors.eventbrite_sale(await self._eventbrite.fetch(payload["api_url"]))
        decision, result = await self._screen(sale)
        await self._alert(job, sale.ref, decision, result)
        return sale.ref, decision

    async def _pretix_order(self, job: Job, pointer: dict[str, Any]) -> tuple[str, str]:
        action = str(pointer["action"])
        wanted = action in PRETIX_ACTIONS or action.startswith("pretix.event.order.changed.")
        api, config = self._pretix, self._config.pretix
        if not wanted or api is None or config is None:
            return "", "ignored"
        event, code = str(pointer["event"]), str(pointer["code"])
        sale = vendors.pretix_sale(await api.order(event, code))
        decision, result = await self._screen(sale)
        if decision == "empty":
            decision = "unscreened"
        await self._alert(job, sale.ref, decision, result)
        if not sale.awaiting_approval:
            return sale.ref, decision
        if decision == "deny":
            await api.deny(event, code)
            return sale.ref, "deny; order denied"
        if decision == "allow" and config.approve_clear:
            await api.approve(event, code)
            return sale.ref, "allow; order approved"
        return sale.ref, f"{decision}; left for a person to decide"
