"""Serving the webhook receivers: TLS, configuration, the operator's view, forgetting."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
from pathlib import Path

import aiohttp
import pytest
import structlog
from structlog.testing import capture_logs

from lanyard.agent.service import AgentService
from lanyard.agent.webhooks import server as webhook_server
from lanyard.agent.webhooks.errors import WebhookConfigError
from lanyard.core.supervise import Supervisor
from tests.agent.conftest import AgentSetup
from tests.agent.webhooks.conftest import (
    PRETIX_AUTH,
    Harness,
    Vendors,
    pointer,
    pretix_key,
    pretix_order,
    tito_headers,
    tito_ticket,
    write_config,
)
from tests.canary_tools import run_cli
from tests.cli.test_agent_cli import assert_one_sentence, lanyard
from tests.registry.test_serve_process import self_signed


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
    assert (await harness.settled("pretix", pretix_key(paid))).outcome == "ignored"
    ticket = tito_ticket("t8", "Never Seen", "never.seen@example.org")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body)
    ) as r:
        assert r.status == 200
    queue = harness.hooks.queue
    assert await queue.forget_finished(time.time() + 1) == 1
    assert [d.vendor for d in await queue.deliveries()] == ["tito"]


NO_PASSWORD = (
    '[pretix]\napi_url = "{url}/pretix"\napi_token = "t"\norganizer = "acme"\n\n'
    '[eventbrite]\napi_url = "{url}/eventbrite/"\ntoken = "t"\npassword = "set"\n'
)


async def test_a_receiver_without_a_password_is_refused_off_loopback_and_warned_on_it(
    tmp_path: Path,
    setup: AgentSetup,
    agent: AgentService,
    vendors: Vendors,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: cannot make a test certificate")
    cert, key = self_signed(tmp_path, "webhooks")
    config = setup.adir.path / "webhooks.toml"
    config.write_text(
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n' + NO_PASSWORD.format(url=vendors.url)
    )
    config.chmod(0o600)
    with pytest.raises(WebhookConfigError, match=r"\[pretix\] receiver has no password"):
        async with webhook_server.running(setup.adir.path, agent, "0.0.0.0:0"):
            pass
    serve = ("agent", "serve", "--data-dir", str(setup.adir.path), "--listen", "127.0.0.1:0")
    saved = structlog.get_config()  # the CLI configures logging for the whole process
    try:
        assert_one_sentence(
            await lanyard(capsys, *serve, "--webhooks", "0.0.0.0:0"), "[pretix]", "password"
        )
    finally:
        structlog.configure(**saved)
    with capture_logs() as logs:
        async with webhook_server.running(setup.adir.path, agent, "127.0.0.1:0"):
            pass
    warned = [e for e in logs if e["event"] == "webhooks.no_password"]
    assert [(e["vendor"], e["log_level"]) for e in warned] == [("pretix", "warning")]


async def test_status_counts_ignored_deliveries_and_fails_on_a_dropped_one(
    setup: AgentSetup, harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = tito_ticket("t9", "Ada Lovelace", "ada@example.org")
    body = json.dumps(ticket).encode()
    async with harness.http.post(
        harness.hooks.url + "/tito", data=body, headers=tito_headers(body, "ticket.voided")
    ) as r:
        assert r.status == 200
    await harness.settled("tito", "ticket.voided:t9:2027-03-01T10:00:00.000Z")
    other = pointer(3, "ABC12") | {"organizer": "someone-else"}
    assert await harness.post("/pretix", other, PRETIX_AUTH) == (200, "{}")
    elsewhere = {"api_url": "http://127.0.0.1:9/x/", "config": {"action": "order.placed"}}
    assert await harness.post("/eventbrite", elsewhere) == (200, "{}")
    await harness.settled("eventbrite", "order.placed:http://127.0.0.1:9/x/")
    d = ("--data-dir", str(setup.adir.path))
    saved = structlog.get_config()  # the CLI configures logging for the whole process
    try:
        capsys.readouterr()
        code = await asyncio.wait_for(
            asyncio.to_thread(run_cli, ["agent", "webhooks", "status", *d, "--json"]), 30
        )
        shown = json.loads(capsys.readouterr().out)
        text_code = await asyncio.wait_for(
            asyncio.to_thread(run_cli, ["agent", "webhooks", "status", *d]), 30
        )
        text = capsys.readouterr().out
    finally:
        structlog.configure(**saved)
    assert (code, text_code) == (1, 1)
    assert shown["deliveries"] == {"done": 2, "dropped": 1}
    assert (shown["ignored"], shown["other_event"]) == (1, 1)
    assert [(x["vendor"], x["key"]) for x in shown["dropped"]] == [
        ("eventbrite", "order.placed:http://127.0.0.1:9/x/")
    ]
    assert len(shown["problems"]) == 1
    assert [a["decision"] for a in shown["alerts"]] == ["unscreened"]
    for shown_in_text in ("1 dropped", "1 ignored", "1 for another event"):
        assert shown_in_text in text
    assert "No sales need a person" not in text


async def test_the_worker_runs_supervised_and_a_failing_round_shows_in_health(
    setup: AgentSetup, agent: AgentService, vendors: Vendors
) -> None:
    """Under `agent serve` the delivery worker is one of the agent's supervised tasks: a
    round that fails (its queue unusable) is logged, shown in health and restarted."""
    write_config(setup.adir.path, vendors.url)
    tasks = Supervisor(first_retry=0.05)
    name = webhook_server.WORKER_TASK

    async def until(state: str) -> None:
        while tasks.states[name].state != state:
            tasks.changed.clear()
            await asyncio.wait_for(tasks.changed.wait(), 10)

    try:
        async with webhook_server.running(
            setup.adir.path, agent, "127.0.0.1:0", tasks=tasks
        ) as hooks:
            await until("ok")
            assert tasks.serving
            await hooks.queue.close()  # every later round fails
            hooks.worker.wake()
            await until("failing")
            assert not tasks.serving
            assert tasks.states[name].failures >= 1
        assert tasks.states[name].state == "stopped"
    finally:
        await tasks.stop()
