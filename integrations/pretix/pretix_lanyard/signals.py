"""The plugin's receivers: screen at checkout or placement, hold, release, re-screen.

pretix sends event-plugin signals only to plugins active for the event, so each receiver
runs only where the organiser turned Lanyard on.
"""

from __future__ import annotations

import json
import logging

import nacl.exceptions
import nacl.signing
from django.db import transaction
from django.dispatch import receiver
from django.urls import resolve, reverse
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled
from pretix.base.models import Event, Order, OrderPayment
from pretix.base.services.orders import OrderError
from pretix.base.signals import (
    logentry_display,
    order_approved,
    order_changed,
    order_modified,
    order_placed,
    orderposition_blocked_display,
    periodic_task,
    validate_order,
)
from pretix.control.signals import nav_event_settings

from lanyard.client import ScreeningClient
from lanyard.errors import Error as LanyardError
from pretix_lanyard import policy
from pretix_lanyard.models import PendingRescreen

log = logging.getLogger("pretix_lanyard")

BLOCK = "lanyard"
ADMIN_BLOCK = "admin"  # the block pretix's control panel lets the team lift
LOG_ACTION = "pretix_lanyard.screened"
# The same words whatever the reason: a person turned away learns nothing to work around.
NEUTRAL_MESSAGE = _(
    "We cannot complete this order. Please contact the event's organisers if you think this "
    "is a mistake."
)


def event_policy(event: Event) -> policy.Policy:
    s = event.settings
    return policy.Policy(
        s.get("lanyard_when", default="checkout"),
        s.get("lanyard_on_deny", default="refuse"),
        s.get("lanyard_on_unavailable", default="hold"),
    )


def client_for(event: Event) -> ScreeningClient:
    """A client from the event's settings; raises a Lanyard error when they are missing."""
    from lanyard.client.errors import ClientError

    try:
        creds = json.loads(event.settings.get("lanyard_credentials", default="") or "{}")
        seed = bytes.fromhex(creds["private_key"])
        key = nacl.signing.SigningKey(seed)
        endpoint = event.settings.get("lanyard_agent", default="") or creds["endpoint"]
    except (ValueError, KeyError, TypeError, nacl.exceptions.ValueError) as exc:
        raise ClientError("the Lanyard integration credentials are missing or malformed") from exc
    ca = event.settings.get("lanyard_ca", default="") or ""
    return ScreeningClient(endpoint, str(creds["key_id"]), key, ca.encode() or None)


def screen(event: Event, pairs: list[tuple[str | None, str | None]], ref: str) -> policy.Verdict:
    try:
        client = client_for(event)
    except LanyardError:
        log.error("lanyard: event %s has no usable credentials; nothing is allowed", event.slug)
        return policy.Verdict(policy.UNAVAILABLE, ("NOT_CONFIGURED",))
    with client:
        return policy.screen(client, policy.people(pairs), ref)


def order_pairs(order: Order) -> list[tuple[str | None, str | None]]:
    pairs: list[tuple[str | None, str | None]] = [
        (p.attendee_name, p.attendee_email) for p in order.positions.all()
    ]
    address = getattr(order, "invoice_address", None)
    pairs.append((address.name if address is not None else "", order.email))
    return pairs


def record(order: Order, verdict: policy.Verdict, action: str) -> None:
    """The order's log: decision, reason codes and what was done; no record contents."""
    order.log_action(
        LOG_ACTION,
        data={"decision": verdict.decision, "reasons": list(verdict.reasons), "action": action},
    )


@transaction.atomic
def hold(order: Order) -> None:
    """Into the approval queue (when still pending), every ticket blocked for check-in.

    A pending order's block is lifted when a person approves it. An order that can no
    longer wait for approval (paid already) gets pretix's own "admin" block instead, which
    the team lifts in the order's "Change" page once they have decided. pretix's ledger
    follows (create_transactions) in the same database transaction."""
    block = BLOCK
    if order.status == Order.STATUS_PENDING:
        if not order.require_approval:
            order.require_approval = True
            order.save(update_fields=["require_approval"])
            order.payments.filter(state=OrderPayment.PAYMENT_STATE_CREATED).update(
                state=OrderPayment.PAYMENT_STATE_CANCELED
            )
    else:
        block = ADMIN_BLOCK
    for position in order.positions.all():
        blocked = set(position.blocked or [])
        if block not in blocked:
            position.blocked = sorted(blocked | {block})
            position.save(update_fields=["blocked"])
    order.create_transactions()


@transaction.atomic
def release(order: Order) -> None:
    for position in order.positions.all():
        if position.blocked and BLOCK in position.blocked:
            position.blocked = [b for b in position.blocked if b != BLOCK] or None
            position.save(update_fields=["blocked"])
    order.create_transactions()


@receiver(validate_order, dispatch_uid="pretix_lanyard_validate_order")
def screen_at_checkout(sender: Event, positions, email=None, invoice_address=None, **kwargs):  # type: ignore[no-untyped-def]
    rules = event_policy(sender)
    if rules.when != "checkout":
        return
    pairs: list[tuple[str | None, str | None]] = [
        (p.attendee_name, p.attendee_email) for p in positions
    ]
    pairs.append((invoice_address.name if invoice_address else "", email))
    verdict = screen(sender, pairs, "pretix-checkout")
    if policy.at_checkout(verdict, rules) == "refuse":
        log.info("lanyard: an order was refused at checkout in event %s", sender.slug)
        raise OrderError(str(NEUTRAL_MESSAGE))


@receiver(order_placed, dispatch_uid="pretix_lanyard_order_placed")
def screen_at_placement(sender: Event, order: Order, **kwargs):  # type: ignore[no-untyped-def]
    screen_order(sender, order)


@receiver(order_modified, dispatch_uid="pretix_lanyard_order_modified")
@receiver(order_changed, dispatch_uid="pretix_lanyard_order_changed")
def screen_on_change(sender: Event, order: Order, **kwargs):  # type: ignore[no-untyped-def]
    """New attendee names or e-mails (by the buyer or the team) are screened again: a
    person turned away does not get in by editing a ticket afterwards."""
    screen_order(sender, order)


def screen_order(event: Event, order: Order) -> None:
    """Screen the order's people and apply the event's policy; an order already held
    stays held (only a person releases it)."""
    verdict = screen(event, order_pairs(order), f"pretix:{order.code}")
    action = policy.placed(verdict, event_policy(event))
    if action == "hold":
        hold(order)
    elif action == "rescreen":
        PendingRescreen.queue(order)
    record(order, verdict, action)


@receiver(order_approved, dispatch_uid="pretix_lanyard_order_approved")
def release_on_approval(sender: Event, order: Order, **kwargs):  # type: ignore[no-untyped-def]
    """A person approved the order: its tickets may be used for check-in again."""
    release(order)


def rescreen_event(event: Event) -> int:
    """Screen again the orders let through while the agent was away; returns how many are
    still waiting for it.

    Each order leaves the queue only with its own answer, and only if it was not queued
    again meanwhile (edited while the agent was still away): that edit waits its turn."""
    waiting = PendingRescreen.objects.filter(order__event=event).select_related("order")
    for pending in list(waiting.order_by("pk")):
        order = pending.order
        verdict = screen(event, order_pairs(order), f"pretix:{order.code}")
        if verdict.decision == policy.UNAVAILABLE:
            continue
        action = "hold" if verdict.decision in (policy.DENY, policy.REVIEW) else "allow"
        with transaction.atomic():
            if action == "hold":
                hold(order)
            record(order, verdict, f"re-screened: {action}")
            pending.settle()
    return int(PendingRescreen.objects.filter(order__event=event).count())


@receiver(periodic_task, dispatch_uid="pretix_lanyard_periodic")
def rescreen_waiting(sender, **kwargs):  # type: ignore[no-untyped-def]
    with scopes_disabled():
        events = Event.objects.filter(
            plugins__contains="pretix_lanyard",
            pk__in=PendingRescreen.objects.values("order__event"),
        )
        for event in events:
            rescreen_event(event)


@receiver(orderposition_blocked_display, dispatch_uid="pretix_lanyard_blocked")
def blocked_display(sender: Event, orderposition, block_name: str, **kwargs):  # type: ignore[no-untyped-def]
    if block_name == BLOCK:
        return _("Held for the Code of Conduct team")
    return None


@receiver(logentry_display, dispatch_uid="pretix_lanyard_logentry")
def log_display(sender: Event, logentry, **kwargs):  # type: ignore[no-untyped-def]
    if logentry.action_type != LOG_ACTION:
        return None
    data = logentry.parsed_data
    text = _("Code of Conduct screening: {decision} ({action}).").format(
        decision=data.get("decision", "?"), action=data.get("action", "?")
    )
    if policy.NOBODY_SCREENABLE in data.get("reasons", []):
        text += " " + str(
            _(
                "Nobody in this order could be screened: it has no attendee or buyer name or "
                "e-mail address. A person must look at it."
            )
        )
    return text


@receiver(nav_event_settings, dispatch_uid="pretix_lanyard_nav")
def settings_nav(sender: Event, request, **kwargs):  # type: ignore[no-untyped-def]
    url = resolve(request.path_info)
    return [
        {
            "label": _("Lanyard screening"),
            "url": reverse(
                "plugins:pretix_lanyard:settings",
                kwargs={"event": sender.slug, "organizer": sender.organizer.slug},
            ),
            "active": url.namespace == "plugins:pretix_lanyard",
        }
    ]
