"""The plugin's migrations: in step with its models; the queue of earlier builds carried over.

pretix's test settings build the test database from the models, not the migrations, so
these tests read the migration files themselves."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import override_settings
from django_scopes import scopes_disabled
from pretix_lanyard import signals

from tests.conftest import FLAGGED_NAME, Lanyard, Shop
from tests.test_plugin import blocked, place, screening_log, waiting

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_migrations_match_the_models() -> None:
    out = io.StringIO()
    with override_settings(MIGRATION_MODULES={}):
        call_command("makemigrations", "pretix_lanyard", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()


def test_orders_queued_by_an_earlier_build_are_carried_over_and_screened(
    shop: Shop, lanyard: Lanyard
) -> None:
    """Earlier builds kept the queue as a list of order codes in an event setting."""
    shop.event.settings.set("lanyard_on_unavailable", "allow_rescreen")
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    order = place(shop, [(FLAGGED_NAME, "")], "sam@example.org")
    shop.event.settings.set("lanyard_agent", lanyard.address)
    with scopes_disabled():
        order.lanyard_rescreen.delete()  # as an earlier build left it: no row, only the setting
    shop.event.settings.set("lanyard_rescreen", [order.code, "GONE1"])
    assert waiting(shop) == []

    initial = importlib.import_module("pretix_lanyard.migrations.0001_initial")
    initial.carry_over(apps, None)

    assert waiting(shop) == [order.code]
    shop.event.settings.flush()
    assert shop.event.settings.get("lanyard_rescreen") is None
    signals.rescreen_waiting(sender=None)  # pretix's periodic task
    assert waiting(shop) == []
    assert blocked(order) == [["lanyard"]]
    assert screening_log(order)[-1]["action"] == "re-screened: hold"
