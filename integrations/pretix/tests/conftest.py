"""A real Lanyard registry and agent on loopback, and a pretix event with the plugin on.

The two Lanyard servers run in one background thread with its own asyncio loop for the
whole session; pretix runs its own test settings on SQLite in the test's thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils.timezone import now
from django_scopes import scopes_disabled
from pretix.base.models import Event, Item, Organizer, Quota

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server as registry_server

BANNED_EMAIL = "jordan.blake@example.net"
FLAGGED_NAME = "Sam Rivera"


@dataclass
class Lanyard:
    credentials: str  # the JSON `lanyard agent integration add` writes
    address: str


async def _serve(
    base: Path, ready: threading.Event, stop: asyncio.Event, out: list[Lanyard]
) -> None:
    rdir = await registry_server.init_registry(base / "registry", listen="127.0.0.1:0")
    async with registry_server.running(rdir) as registry:
        channel = open_channel(registry.address)
        admin = AdminClient(channel, rdir.admin_key())
        await admin.add_record(
            "WG-BAN",
            "banned",
            [Identifier(Kind.EMAIL, BANNED_EMAIL), Identifier(Kind.NAME, "Jordan Blake")],
        )
        await admin.add_record("WG-FLAG", "flagged", [Identifier(Kind.NAME, FLAGGED_NAME)])
        adir = AgentDir(base / "agent")
        public = agent_operator.init_agent(adir, "127.0.0.1:0")
        response = await admin.enroll_event(
            "pretixconf", "PretixConf", date(2027, 5, 1), date(2027, 5, 3), public, 10_000
        )
        bundle = base / "bundle.json"
        bundle.write_text(
            json.dumps(
                {
                    "format": "lanyard-enrolment/1",
                    "event_id": "pretixconf",
                    "event_name": "PretixConf",
                    "endpoint": registry.address,
                    "registry_public_key": response.registry_public_key.hex(),
                    "suite": response.suite,
                    "starts_on": "2027-05-01",
                    "ends_on": "2027-05-03",
                }
            )
        )
        adir.pin(bundle)
        async with agent_server.running(adir, "127.0.0.1:0") as agent:
            key = await agent.agent.add_integration("pretix")
            creds = {
                "key_id": "integration:pretix",
                "private_key": bytes(key).hex(),
                "endpoint": agent.address,
            }
            out.append(Lanyard(json.dumps(creds), agent.address))
            ready.set()
            await stop.wait()
        await channel.close()


@pytest.fixture(scope="session")
def lanyard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lanyard]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    out: list[Lanyard] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(_serve(tmp_path_factory.mktemp("lanyard"), ready, stop, out))
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the Lanyard registry and agent did not start within 60 s"
    if errors:
        raise errors[0]
    yield out[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


@dataclass
class Shop:
    event: Event
    item: Item


@pytest.fixture
def shop(lanyard: Lanyard) -> Iterator[Shop]:
    with scopes_disabled():
        organizer = Organizer.objects.create(name="Acme", slug="acme")
        event = Event.objects.create(
            organizer=organizer,
            name="DemoCon",
            slug="democon",
            date_from=now() + timedelta(days=30),
            plugins="pretix_lanyard",
            live=True,
        )
        item = Item.objects.create(event=event, name="Ticket", default_price=23, admission=True)
        quota = Quota.objects.create(event=event, name="All", size=100)
        quota.items.add(item)
        # Orders without a payment method, as a box office places them.
        event.settings.set("payment_choice_postpone_allowed_channels", ["web"])
        event.settings.set("lanyard_credentials", lanyard.credentials)
        yield Shop(event, item)
