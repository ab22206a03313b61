"""Orders placed in a real pretix with the plugin on, screened by a real Lanyard agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.signals import post_save
from django.utils.timezone import now
from django_scopes import scopes_disabled
from pretix.base.models import CartPosition, InvoiceAddress, LogEntry, Order
from pretix.base.services.orders import OrderError, _perform_order, approve_order
from pretix.base.signals import order_modified
from pretix_lanyard import signals
from pretix_lanyard.models import PendingRescreen

from tests.conftest import BANNED_EMAIL, FLAGGED_NAME, Lanyard, Shop

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


def waiting(shop: Shop) -> list[str]:
    """Codes of the event's orders waiting to be screened again."""
    with scopes_disabled():
        return sorted(
            PendingRescreen.objects.filter(order__event=shop.event).values_list(
                "order__code", flat=True
            )
        )


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
    assert waiting(shop) == [order.code]
    shop.event.settings.set("lanyard_agent", lanyard.address)  # the agent is back
    with scopes_disabled():
        assert signals.rescreen_event(shop.event) == 0
    assert blocked(order) == [["lanyard"]]
    assert [e["action"] for e in screening_log(order)] == ["rescreen", "re-screened: hold"]
    assert waiting(shop) == []


def edit_attendee_while_the_agent_is_away(shop: Shop, lanyard: Lanyard, order: Order) -> None:
    """The buyer renames the ticket to the flagged person; the agent cannot answer."""
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    with scopes_disabled():
        position = order.positions.get()
        position.attendee_name_parts = {"_scheme": "full", "full_name": FLAGGED_NAME}
        position.attendee_email = None
        position.save()
        order_modified.send(shop.event, order=order)
    shop.event.settings.set("lanyard_agent", lanyard.address)


@contextmanager
def while_rescreen_records(then: Callable[[], None]) -> Iterator[None]:
    """Runs `then` once, at the moment the re-screen writes its first result to an order's
    log: after it screened that order, before it is done with the waiting orders."""
    done: list[bool] = []

    def meanwhile(
        sender: type[LogEntry], instance: LogEntry, created: bool, **kwargs: object
    ) -> None:
        if done or not created or instance.action_type != signals.LOG_ACTION:
            return
        if not str(instance.parsed_data.get("action", "")).startswith("re-screened"):
            return
        done.append(True)
        then()

    post_save.connect(meanwhile, sender=LogEntry, weak=False, dispatch_uid="lanyard-test-meanwhile")
    try:
        yield
    finally:
        post_save.disconnect(sender=LogEntry, dispatch_uid="lanyard-test-meanwhile")
    assert done, "the re-screen never recorded a result"


def test_an_order_queued_while_the_rescreen_runs_is_not_lost(shop: Shop, lanyard: Lanyard) -> None:
    shop.event.settings.set("lanyard_on_unavailable", "allow_rescreen")
    later = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    first = place(shop, [("Kim Doe", "kim@example.org")], "kim@example.org")
    shop.event.settings.set("lanyard_agent", lanyard.address)
    assert waiting(shop) == [first.code]
    with (
        scopes_disabled(),
        while_rescreen_records(lambda: edit_attendee_while_the_agent_is_away(shop, lanyard, later)),
    ):
        assert signals.rescreen_event(shop.event) == 1
    assert waiting(shop) == [later.code]
    assert blocked(later) == [None]  # let through for now, as the organiser chose
    with scopes_disabled():
        assert signals.rescreen_event(shop.event) == 0
    assert blocked(later) == [["lanyard"]]
    assert [e["action"] for e in screening_log(later)] == ["allow", "rescreen", "re-screened: hold"]
    assert [e["action"] for e in screening_log(first)] == ["rescreen", "re-screened: allow"]


def test_an_order_queued_again_while_it_is_rescreened_stays_queued(
    shop: Shop, lanyard: Lanyard
) -> None:
    """The re-screen answered for the order as it was; the edit made meanwhile still waits."""
    shop.event.settings.set("lanyard_on_unavailable", "allow_rescreen")
    shop.event.settings.set("lanyard_agent", "127.0.0.1:1")
    order = place(shop, [("Ada Lovelace", "ada@example.org")], "ada@example.org")
    shop.event.settings.set("lanyard_agent", lanyard.address)
    with (
        scopes_disabled(),
        while_rescreen_records(lambda: edit_attendee_while_the_agent_is_away(shop, lanyard, order)),
    ):
        assert signals.rescreen_event(shop.event) == 1
    assert waiting(shop) == [order.code]
    with scopes_disabled():
        assert signals.rescreen_event(shop.event) == 0
    assert blocked(order) == [["lanyard"]]
    assert [e["action"] for e in screening_log(order)] == [
        "rescreen",
        "re-screened: allow",
        "rescreen",
        "re-screened: hold",
    ]


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


@pytest.mark.parametrize("on_unavailable", ["hold", "allow_rescreen"])
def test_an_order_with_nobody_to_screen_is_held_whatever_the_policy(
    shop: Shop, on_unavailable: str
) -> None:
    """No attendee name or e-mail, no order e-mail, no invoice name: nothing was screened,
    which is never "allow"; nor can screening it again later ever answer."""
    shop.event.settings.set("lanyard_on_unavailable", on_unavailable)
    order = place(shop, [("", ""), ("  ", "")], "", buyer="")
    assert order.require_approval
    assert blocked(order) == [["lanyard"], ["lanyard"]]
    assert screening_log(order) == [
        {"decision": "review", "reasons": ["NOBODY_SCREENABLE"], "action": "hold"}
    ]
    assert waiting(shop) == []
    with scopes_disabled():
        [entry] = order.all_logentries().filter(action_type=signals.LOG_ACTION)
        assert "nobody in this order could be screened" in str(entry.display()).lower()


@pytest.mark.parametrize(
    "padding", [600, 70_000], ids=["over-the-name-limit", "over-the-request-limit"]
)
def test_a_long_name_is_screened_whole_and_held_as_not_screenable(shop: Shop, padding: int) -> None:
    """Cut to 512 characters, this name would read "Sam" and match nothing; whole, the agent
    refuses it, and a person must look, even when the organiser lets orders through while
    the agent is away."""
    shop.event.settings.set("lanyard_on_unavailable", "allow_rescreen")
    padded = "Sam" + "\u200b" * padding + " Rivera"
    order = place(shop, [(padded, "")], "ada@example.org", buyer="Ada Lovelace")
    assert order.require_approval
    assert blocked(order) == [["lanyard"]]
    assert screening_log(order) == [
        {"decision": "review", "reasons": ["NOT_SCREENABLE"], "action": "hold"}
    ]
    assert waiting(shop) == []
