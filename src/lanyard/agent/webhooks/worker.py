"""The background worker: screens what the receivers stored, then acts and alerts.

For each due delivery: read the sale (Tito's ticket as sent; pretix's order and
Eventbrite's object fetched from their APIs), screen each attendee and the buyer through
the agent's own Check, and then

- raise an alert when anyone is REVIEW or DENY, or could not be screened, or the sale has
  nobody in it to screen ("unscreened": a person must look);
- for a pretix order awaiting approval: deny it on DENY, approve it when everyone is clear
  (if `approve_clear`), and otherwise leave it for a person to decide.

When the agent cannot decide (UNAVAILABLE, a refusal from the registry, a proof that does
not verify, a full disk, any other failure under the Check) or the vendor's API is away,
the delivery stays queued and is tried again later with a doubling pause, its last error
shown by `lanyard agent webhooks status`: never taken as clear. Only a delivery that can
never be processed (its payload, or the object the vendor returns, is not the documented
shape; the vendor no longer has the order) is dropped, and every drop raises an alert.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol, TypeVar

import structlog

from lanyard import errors
from lanyard.agent.errors import InvalidRequest, RegistryRefused, Unavailable
from lanyard.agent.screening.decision import CLEAR, Decision, Result
from lanyard.agent.webhooks import vendors
from lanyard.agent.webhooks.config import WebhookConfig
from lanyard.agent.webhooks.errors import VendorError
from lanyard.agent.webhooks.queue import DONE, DROPPED, IGNORED, DeliveryQueue, Job
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
UNSCREENED = "unscreened"
# What reading a payload can raise when it is not the shape it should be; caught around
# the reading only, so that the same errors from deeper down are never taken for it.
_SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)
T = TypeVar("T")


class Screener(Protocol):
    """The agent's Check (AgentService.check): raises InvalidRequest for an identifier it
    cannot use, and a Lanyard error (Unavailable, RegistryRefused, RegistryFaulted, …),
    a timeout or a storage error when it cannot decide now."""

    async def check(self, name: str, email: str, role: str, caller_ref: str) -> Result: ...


class Retry(Exception):
    """This delivery cannot be finished now; try again later."""


class Malformed(Exception):
    """A payload, as stored or as the vendor's API answered it, that is not the documented
    shape: it can never be processed. The message names the part, never its content."""


def _stored(job: Job) -> dict[str, Any]:
    """The delivery as the receiver stored it: a JSON object."""
    try:
        data = json.loads(job.payload)
    except ValueError as exc:  # not UTF-8, not JSON
        raise Malformed("the stored payload is not JSON") from exc
    if not isinstance(data, dict):
        raise Malformed("the stored payload is not a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type[T]) -> T:
    value = data.get(name)
    if not isinstance(value, kind):
        raise Malformed(f"the payload's {name} is missing or not a {kind.__name__}")
    return value


def _sale(
    vendor: str, read: Callable[[dict[str, Any]], vendors.Sale], obj: dict[str, Any]
) -> vendors.Sale:
    try:
        return read(obj)
    except _SHAPE_ERRORS as exc:
        raise Malformed(
            f"the {vendor} object is not the documented shape ({type(exc).__name__})"
        ) from exc


def _cannot_decide(exc: BaseException) -> str:
    """The reason a failed Check gives for trying again, for the operator (a Lanyard
    error's message names no person)."""
    if isinstance(exc, Unavailable | RegistryRefused):
        return f"screening unavailable ({type(exc).__name__}): {exc}"
    detail = f": {exc}" if isinstance(exc, errors.Error) and str(exc) else ""
    return f"screening failed ({type(exc).__name__}){detail}"


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

    def _pause(self, failures: int) -> float:
        return float(min(self._first_retry * 2 ** max(failures - 1, 0), self._max_retry))

    async def run(self, healthy: Callable[[], Awaitable[None]]) -> None:
        """Process due deliveries until cancelled; sleeps until woken or the next is due.
        Once an hour, finished deliveries older than KEEP_FINISHED_SECONDS are forgotten.
        Meant to run under a core.supervise.Supervisor: `healthy` is awaited after each
        round done, and a round that fails (the queue itself cannot be used) raises, for
        the supervisor to log, show in health and start again after its pause."""
        swept = 0.0
        while True:
            self._wakeup.clear()
            await self.run_once()
            if time.time() - swept > SWEEP_INTERVAL_SECONDS:
                forgotten = await self._queue.forget_finished(time.time() - KEEP_FINISHED_SECONDS)
                swept = time.time()
                if forgotten:
                    log.info("webhook.forgotten", deliveries=forgotten)
            stop_if_cancelled()  # or that a delivery took for a refusal and kept for later
            await healthy()
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
            ref, outcome = await self._handle(job)
        except Retry as exc:
            await self._retry(job, str(exc))
            return
        except (VendorError, Malformed) as exc:
            await self._drop(job, str(exc))
            return
        except Exception as exc:
            stop_if_cancelled(exc)
            # A fault of Lanyard's own: the delivery is kept, and the cause logged.
            log.error(
                "webhook.failed",
                vendor=job.vendor,
                delivery_id=job.delivery_id,
                cause=type(exc).__name__,
                exc_info=exc,
            )
            await self._retry(job, f"internal error ({type(exc).__name__})")
            return
        finished = await self._queue.finish(job, DONE, ref, outcome)
        log.info(
            "webhook.processed",
            vendor=job.vendor,
            delivery_id=job.delivery_id,
            outcome=outcome,
            # False: another delivery for the same key came meanwhile; it goes round again.
            finished=finished,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _retry(self, job: Job, reason: str) -> None:
        delay = self._pause(job.attempts + 1)
        await self._queue.retry(job.delivery_id, delay, reason)
        log.warning(
            "webhook.retry",
            vendor=job.vendor,
            delivery_id=job.delivery_id,
            attempts=job.attempts + 1,
            reason=reason,
            seconds=delay,
        )

    async def _drop(self, job: Job, reason: str) -> None:
        """Never silent: the alert (raised first, so that a crash cannot lose it) names
        the delivery by its key, for a person to look the sale up at the vendor."""
        alert_id = await self._queue.raise_alert(
            job.vendor, job.key, UNSCREENED, f"dropped: {reason}", "", job.delivery_id
        )
        await self._queue.finish(job, DROPPED, "", reason)
        log.error(
            "webhook.dropped",
            vendor=job.vendor,
            delivery_id=job.delivery_id,
            alert_id=alert_id,
            reason=reason,
        )

    async def _handle(self, job: Job) -> tuple[str, str]:
        payload = _stored(job)
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

    async def _screen(self, sale: vendors.Sale) -> tuple[str, Result, str]:
        """The strongest answer over everyone in the sale: (decision, result, reason),
        decision "deny", "review" or "allow", or UNSCREENED when someone could not be
        screened or there is nobody to screen; `reason` is the alert's."""
        if not sale.people:
            return UNSCREENED, CLEAR, "nobody-to-screen"
        strongest, unusable = CLEAR, False
        for person in sale.people:
            try:
                result = await self._screener.check(person.name, person.email, "attendee", sale.ref)
            except InvalidRequest:
                unusable = True
                continue
            except (errors.Error, TimeoutError, sqlite3.Error) as exc:
                stop_if_cancelled(exc)
                raise Retry(_cannot_decide(exc)) from exc
            if _RANK[result.decision] > _RANK[strongest.decision]:
                strongest = result
        if strongest.decision == Decision.ALLOW and unusable:
            return UNSCREENED, strongest, "not-screenable"
        return strongest.decision.value, strongest, strongest.reason.value

    async def _alert(self, job: Job, ref: str, decision: str, result: Result, reason: str) -> None:
        if decision not in ("review", "deny", UNSCREENED):
            return
        alert_id = await self._queue.raise_alert(
            job.vendor, ref, decision, reason, result.record_ref, job.delivery_id
        )
        if alert_id is not None:
            log.info(
                "agent.alert",
                source="webhook",
                alert_id=alert_id,
                vendor=job.vendor,
                ref=ref,
                decision=decision,
                reason=reason,
                record_ref=result.record_ref,
            )

    async def _screen_and_alert(self, job: Job, sale: vendors.Sale) -> str:
        decision, result, reason = await self._screen(sale)
        await self._alert(job, sale.ref, decision, result, reason)
        return decision

    async def _tito(self, job: Job, payload: dict[str, Any]) -> tuple[str, str]:
        action = _field(payload, "action", str)
        ticket = _field(payload, "ticket", dict)
        # A signed ticket without X-Webhook-Name is screened too, rather than let through.
        if action and action not in TITO_ACTIONS:
            return "", IGNORED
        sale = _sale("Tito", vendors.tito_sale, ticket)
        return sale.ref, await self._screen_and_alert(job, sale)

    async def _eventbrite_object(self, job: Job, payload: dict[str, Any]) -> tuple[str, str]:
        action = _field(payload, "action", str)
        api_url = _field(payload, "api_url", str)
        if action not in EVENTBRITE_ACTIONS or self._eventbrite is None:
            return "", IGNORED
        sale = _sale("Eventbrite", vendors.eventbrite_sale, await self._eventbrite.fetch(api_url))
        return sale.ref, await self._screen_and_alert(job, sale)

    async def _pretix_order(self, job: Job, pointer: dict[str, Any]) -> tuple[str, str]:
        action = _field(pointer, "action", str)
        event, code = _field(pointer, "event", str), _field(pointer, "code", str)
        wanted = action in PRETIX_ACTIONS or action.startswith("pretix.event.order.changed.")
        api, config = self._pretix, self._config.pretix
        if not wanted or api is None or config is None:
            return "", IGNORED
        sale = _sale("pretix", vendors.pretix_sale, await api.order(event, code))
        decision = await self._screen_and_alert(job, sale)
        if not sale.awaiting_approval:
            return sale.ref, decision
        if decision == "deny":
            await api.deny(event, code)
            return sale.ref, "deny; order denied"
        if decision == "allow" and config.approve_clear:
            await api.approve(event, code)
            return sale.ref, "allow; order approved"
        return sale.ref, f"{decision}; left for a person to decide"
