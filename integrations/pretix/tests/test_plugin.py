"""Orders placed in a real pretix with the plugin on, screened by a real Lanyard agent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils.timezone import now
from django_scopes import scopes_disabled
from pretix.base.models import CartPosition, InvoiceAddress, Order
from pretix.base.services.orders import OrderError, _perform_order, approve_order
from pretix.base.signals import order_modified
from pretix_lanyard import signals

from tests.conftest import BANNED_EMAIL, FLAGGED_NAME, Shop

pytestmark = pytest.mark.django_db(transaction=True)


def place(
    shop: Shop,
    attendees: list[tuple[str, str]],
    email: str,
    buyer: str = "Pat Buyer",
    price: Decimal = Decimal("23.00"),
) -> Order:
    """Check out a cart the way the shop does; raises OrderError when the order is refused."""
    with scopes_disabled():
        positions = [
            CartPosition.objects.create(
                event=shop.event,
                item=shop.item,
                price=price,
                expires=now() + timedelta(days=1),
                cart_id="cart-1",
                attendee_name_parts={"_scheme": "full", "full_name": name},
                attendee_email=mail or None,
            )
            for name, mail in attendees
        ]
        address = InvoiceAddress.objects.create(name_parts={"_scheme": "full", "full_name": buyer})
        payments = []
        if shop.item.default_price != price:
            shop.item.default_price = price
            shop.item.save()
        if not price:
            free = {"provider": "free", "max_value": None, "min_value": None}
            payments = [free | {"multi_use_supported": False, "info_data": {}}]
        result = _perform_order(
            shop.event, payments, [p.id for p in positions], email, "en", address.pk, {}, "web"
        )
        return Order.objects.get(pk=result["order_id"])


def screening_log(order: Order) -> list[dict[str, object]]:
    with scopes_disabled():
        return [
            e.parsed_data
            for e in order.all_logentries().filter(action_type=signals.LOG_ACTION).order_by("pk")
        ]


def blocked(order: Order) -> list[object]:
    with scopes_disabled():
        return [p.blocked for p in order.positions.all()]


def test_a_clear_order_goes_through(shop: Shop) -> None:
    order = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    assert not order.require_approval
    assert blocked(order) == [None]
    assert screening_log(order) == [{"decision": "allow", "reasons": [], "action": "allow"}]


def test_a_banned_buyer_is_refused_with_a_neutral_message(shop: Shop) -> None:
    with pytest.raises(OrderError) as info:
        place(shop, [("Kim Doe", "kim@example.org")], BANNED_EMAIL)
    assert str(info.value) == str(signals.NEUTRAL_MESSAGE)
    assert "WG-BAN" not in str(info.value)
    assert "banned" not in str(info.value).lower()
    with scopes_disabled():
        assert not Order.objects.filter(event=shop.event).exists()


def test_a_banned_buyer_is_held_when_the_organiser_chooses(shop: Shop) -> None:
    shop.event.settings.set("lanyard_on_deny", "hold")
    order = place(shop, [("Kim Doe", "kim@example.org")], BANNED_EMAIL)
    assert order.require_approval
    assert order.status == Order.STATUS_PENDING
    assert blocked(order) == [["lanyard"]]
    assert screening_log(order) == [
        {"decision": "deny", "reasons": ["BANNED_CONFIRMED"], "action": "hold"}
    ]


def test_a_flagged_attendee_waits_for_approval_blocked_until_a_person_decides(shop: Shop) -> None:
    order = place(
        shop, [("Ada Lovelace", "ada@example.org"), (FLAGGED_NAME, "")], "ada@example.org"
    )
    assert order.require_approval
    assert blocked(order) == [["lanyard"], ["lanyard"]]
    [entry] = screening_log(order)
    assert entry == {"decision": "review", "reasons": ["FLAGGED_POSSIBLE"], "action": "hold"}
    # Nothing about the record reaches the order's log.
    with scopes_disabled():
        logged = " ".join(str(e.data) for e in order.all_logentries())
    assert "WG-FLAG" not in logged
    assert FLAGGED_NAME not in logged
    with scopes_disabled():
        approve_order(order, send_mail=False)
    assert blocked(order) == [None, None]


def test_agent_down_holds_the_order(shop: Shop) -> None:
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    order = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    assert order.require_approval
    assert blocked(order) == [["lanyard"]]
    assert screening_log(order)[0]["decision"] == "unavailable"


def test_agent_down_allows_and_rescreens_when_the_organiser_chooses(shop: Shop, lanyard) -> None:  # type: ignore[no-untyped-def]
    shop.event.settings.set("lanyard_on_unavailable", "allow_rescreen")
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    order = place(shop, [(FLAGGED_NAME, "")], "sam@example.org")
    assert not order.require_approval
    assert blocked(order) == [None]
    assert shop.event.settings.get("lanyard_rescreen", as_type=list) == [order.code]
    shop.event.settings.set("lanyard_agent", lanyard.address)  # the agent is back
    with scopes_disabled():
        assert signals.rescreen_event(shop.event) == 0
    assert blocked(order) == [["lanyard"]]
    assert [e["action"] for e in screening_log(order)] == ["rescreen", "re-screened: hold"]
    assert shop.event.settings.get("lanyard_rescreen", as_type=list) == []


def test_screening_at_placement_holds_rather_than_refuses(shop: Shop) -> None:
    shop.event.settings.set("lanyard_when", "placement")
    order = place(shop, [("Kim Doe", BANNED_EMAIL)], "kim@example.org")
    assert order.require_approval
    assert screening_log(order)[0]["decision"] == "deny"


def test_a_free_order_is_held_too(shop: Shop) -> None:
    """pretix confirms a free order's payment right after placement; the hold stands."""
    order = place(shop, [(FLAGGED_NAME, "")], "sam@example.org", price=Decimal("0.00"))
    assert order.require_approval
    assert order.status == Order.STATUS_PENDING
    assert blocked(order) == [["lanyard"]]


def test_an_attendee_changed_after_the_sale_is_screened_again(shop: Shop) -> None:
    order = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    assert blocked(order) == [None]
    with scopes_disabled():
        position = order.positions.get()
        position.attendee_name_parts = {"_scheme": "full", "full_name": "Jordan Blake"}
        position.attendee_email = BANNED_EMAIL
        position.save()
        order_modified.send(shop.event, order=order)
    assert blocked(order) == [["lanyard"]]
    assert [e["decision"] for e in screening_log(order)] == ["allow", "deny"]


def test_a_paid_order_edited_to_a_banned_person_gets_a_block_the_team_can_lift(
    shop: Shop,
) -> None:
    order = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    with scopes_disabled():
        order.payments.create(provider="manual", amount=order.total).confirm()
        order.refresh_from_db()
        assert order.status == Order.STATUS_PAID
        position = order.positions.get()
        position.attendee_email = BANNED_EMAIL
        position.save()
        order_modified.send(shop.event, order=order)
    assert blocked(order) == [["admin"]]
    assert screening_log(order)[-1]["decision"] == "deny"
