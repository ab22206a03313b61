"""The organiser's settings page, in pretix's control panel."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_scopes import scopes_disabled
from pretix.base.models import User

from tests.conftest import Shop

pytestmark = pytest.mark.django_db(transaction=True)


def admin_client(shop: Shop) -> Client:
    with scopes_disabled():
        user = User.objects.create_user("organiser@example.org", "a long passphrase")
        team = shop.event.organizer.teams.create(
            name="Admins", all_events=True, all_event_permissions=True
        )
        team.members.add(user)
    client = Client()
    client.login(email="organiser@example.org", password="a long passphrase")
    return client


def test_the_settings_page_saves_the_policy_and_never_logs_the_credentials(shop: Shop) -> None:
    client = admin_client(shop)
    url = f"/control/event/{shop.event.organizer.slug}/{shop.event.slug}/lanyard/"
    page = client.get(url)
    assert page.status_code == 200
    assert b"Lanyard screening" in page.content
    secret = json.dumps(
        {"key_id": "integration:pretix", "private_key": "ab" * 32, "endpoint": "127.0.0.1:4760"}
    )
    answer = client.post(
        url,
        {
            "lanyard_agent": "agent.example.org:4760",
            "lanyard_ca": "",
            "lanyard_credentials": secret,
            "lanyard_when": "placement",
            "lanyard_on_deny": "hold",
            "lanyard_on_unavailable": "allow_rescreen",
        },
    )
    assert answer.status_code == 302
    shop.event.settings.flush()
    assert shop.event.settings.get("lanyard_when") == "placement"
    assert shop.event.settings.get("lanyard_on_unavailable") == "allow_rescreen"
    assert shop.event.settings.get("lanyard_credentials") == secret
    with scopes_disabled():
        logged = " ".join(str(e.data) for e in shop.event.logentry_set.all())
    assert "ab" * 32 not in logged
    assert "lanyard_credentials" in logged  # which field changed, not its value


def test_a_credentials_file_that_is_not_one_is_refused(shop: Shop) -> None:
    client = admin_client(shop)
    url = f"/control/event/{shop.event.organizer.slug}/{shop.event.slug}/lanyard/"
    answer = client.post(
        url,
        {
            "lanyard_credentials": "not json",
            "lanyard_when": "checkout",
            "lanyard_on_deny": "refuse",
            "lanyard_on_unavailable": "hold",
        },
    )
    assert answer.status_code == 200
    assert b"not a Lanyard credentials file" in answer.content
