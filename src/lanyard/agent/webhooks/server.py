"""Serving the receivers beside the agent: HTTPS (or plain HTTP on loopback), the queue,
the worker, and one HTTP client session for the vendors' APIs; and the operator's view of
what they did (`lanyard agent webhooks status`)."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from lanyard.agent.webhooks import config as webhook_config
from lanyard.agent.webhooks import vendors
from lanyard.agent.webhooks.errors import WebhookConfigError
from lanyard.agent.webhooks.queue import (
    DONE,
    DROPPED,
    IGNORED,
    OTHER_EVENT,
    QUEUED,
    Delivery,
    DeliveryQueue,
    SaleAlert,
)
from lanyard.agent.webhooks.receiver import Receiver
from lanyard.agent.webhooks.worker import Screener, Worker
from lanyard.core.channels import is_loopback
from lanyard.core.supervise import Supervisor

log = structlog.get_logger("lanyard.agent.webhooks")

QUEUE_FILE = "webhooks.db"


@dataclass
class RunningWebhooks:
    address: str  # "host:port" as bound
    url: str  # base URL, "http://127.0.0.1:PORT" or "https://…"
    queue: DeliveryQueue
    worker: Worker


def _tls(config: webhook_config.WebhookConfig, listen: str) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        if not is_loopback(listen):
            raise WebhookConfigError(
                f"the webhook receivers would listen on {listen} without TLS: set tls_cert and "
                "tls_key in webhooks.toml, or listen on loopback behind a TLS proxy"
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise WebhookConfigError(
            f"the webhooks' TLS certificate or key cannot be used: {exc}"
        ) from exc
    return context


def _passwords(config: webhook_config.WebhookConfig, listen: str) -> None:
    """A receiver without a password takes pointers from anyone who can reach it: refused
    off loopback, warned about on loopback (where a proxy in front may check callers)."""
    open_to_all = [
        name
        for name, section in (("pretix", config.pretix), ("eventbrite", config.eventbrite))
        if section is not None and not section.password
    ]
    if open_to_all and not is_loopback(listen):
        raise WebhookConfigError(
            f"the [{open_to_all[0]}] receiver has no password in webhooks.toml, so anyone who "
            f"can reach {listen} could post to it: set password there (and in the webhook's URL)"
        )
    for name in open_to_all:
        log.warning("webhooks.no_password", vendor=name)


WORKER_TASK = "webhook-worker"  # its name under the agent's supervisor
# A delivery failing this many times is a problem for `webhooks status` (exit 1): with
# pauses doubling from 5 s, its sale has gone unscreened for over a minute.
STUCK_ATTEMPTS = 5


@asynccontextmanager
async def running(
    data_dir: Path,
    screener: Screener,
    listen: str,
    first_retry: float = 5.0,
    tasks: Supervisor | None = None,
) -> AsyncIterator[RunningWebhooks]:
    """Receivers on `listen` ("host:port"; port 0 picks one) for the vendors webhooks.toml
    in `data_dir` configures, screening through `screener`. The delivery worker runs
    under `tasks` (the agent's supervisor: logged, restarted, in health and status as
    WORKER_TASK) when given, else under its own. Raises WebhookConfigError when the file
    is missing or bad, or a non-loopback address has no TLS, or a receiver there would
    have no password."""
    config = webhook_config.load(data_dir / webhook_config.FILE_NAME)
    tls = _tls(config, listen)
    _passwords(config, listen)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise WebhookConfigError(f"--webhooks must be HOST:PORT, got {listen!r}")
    queue = await DeliveryQueue.open(data_dir / QUEUE_FILE)
    session = aiohttp.ClientSession()
    pretix = vendors.PretixApi(session, config.pretix) if config.pretix else None
    eventbrite = vendors.EventbriteApi(session, config.eventbrite) if config.eventbrite else None
    worker = Worker(queue, screener, config, pretix, eventbrite, first_retry=first_retry)
    runner = web.AppRunner(Receiver(config, queue, worker.wake).app(), access_log=None)
    # Its own supervisor where no agent's is given (tests, a receiver run alone).
    supervisor = tasks if tasks is not None else Supervisor(first_retry=first_retry)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls)
        try:
            await site.start()
        except OSError as exc:
            raise WebhookConfigError(
                f"the webhook receivers cannot listen on {listen}: {exc.strerror}"
            ) from exc
        bound_host, bound_port = runner.addresses[0][:2]
        address = (
            f"{host}:{bound_port}" if ":" not in bound_host else f"[{bound_host}]:{bound_port}"
        )
        url = f"{'https' if tls else 'http'}://{address}"
        supervisor.run(WORKER_TASK, lambda: worker.run(lambda: supervisor.healthy(WORKER_TASK)))
        log.info(
            "webhooks.listening", address=address, tls=tls is not None, vendors=list(config.vendors)
        )
        yield RunningWebhooks(address, url, queue, worker)
    finally:
        await supervisor.stop_task(WORKER_TASK)
        await runner.cleanup()
        await session.close()
        await queue.close()


@dataclass(frozen=True, slots=True)
class Overview:
    """What the receivers did, for the operator: alerts raised for sales and every
    delivery's state (no payloads, no names)."""

    alerts: list[SaleAlert]
    deliveries: list[Delivery]

    def states(self) -> dict[str, int]:
        """How many deliveries are queued, done and dropped (only the states seen)."""
        return dict(Counter(d.state for d in self.deliveries))

    def ignored(self) -> int:
        """Done without screening: the action is not a sale."""
        return sum(d.state == DONE and d.outcome == IGNORED for d in self.deliveries)

    def other_event(self) -> int:
        """Done without screening: a pretix pointer for another organiser or event."""
        return sum(d.state == DONE and d.outcome == OTHER_EVENT for d in self.deliveries)

    def retrying(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == QUEUED and d.attempts]

    def dropped(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == DROPPED]

    def stuck(self) -> list[Delivery]:
        """Queued deliveries that failed STUCK_ATTEMPTS times or more: retried still, but
        their sales have gone unscreened for a while (an outage, a fault to look at)."""
        return [d for d in self.retrying() if d.attempts >= STUCK_ATTEMPTS]

    def problems(self) -> list[str]:
        """What an operator must look at, one sentence each (empty when all is well)."""
        found = []
        if dropped := len(self.dropped()):
            found.append(
                f"{dropped} delivery(ies) could not be processed and were dropped: those "
                "sales were not screened (each has an alert)"
            )
        if stuck := len(self.stuck()):
            found.append(
                f"{stuck} delivery(ies) failed {STUCK_ATTEMPTS} times or more and are still "
                "retried: those sales are not screened yet (see each one's last error)"
            )
        return found


async def overview(data_dir: Path) -> Overview:
    """`lanyard agent webhooks status`: read webhooks.db (empty when never served)."""
    path = data_dir / QUEUE_FILE
    if not path.exists():
        return Overview([], [])
    queue = await DeliveryQueue.open(path)
    try:
        return Overview(await queue.alerts(), await queue.deliveries())
    finally:
        await queue.close()
