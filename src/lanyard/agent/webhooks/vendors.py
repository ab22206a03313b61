"""What each ticketing system sends, and the calls back to its REST API.

- Tito posts the whole ticket (name, e-mail, reference, and the registration's buyer).
- pretix posts a pointer (organizer, event, order code, action); the order is fetched from
  `GET {api}/organizers/{o}/events/{e}/orders/{code}/` with `Authorization: Token …`, and
  an order awaiting approval is approved or denied through `…/approve/` and `…/deny/`.
- Eventbrite posts a pointer (`api_url`, `config.action`); the object is fetched with the
  organiser's token (`Authorization: Bearer …`), and only from the configured API base, so
  a forged pointer can never send the token elsewhere.

Every failure is a VendorError saying whether trying later may help; messages name the
vendor and the HTTP status, never a field of the object.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lanyard.agent.webhooks.config import Eventbrite, Pretix
from lanyard.agent.webhooks.errors import VendorError

TIMEOUT = aiohttp.ClientTimeout(total=15)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RETRYABLE = {408, 425, 429}


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Sale:
    """One ticket or order to screen: `ref` is the vendor's reference, as a caller_ref
    (at most 64 printable ASCII characters); `people` the attendees and the buyer."""

    ref: str
    people: list[Person] = field(default_factory=list)
    awaiting_approval: bool = False


def caller_ref(vendor: str, ref: object) -> str:
    text = "".join(c for c in f"{vendor}:{ref}" if "!" <= c <= "~")
    return text[:64]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _people(candidates: list[tuple[object, object]]) -> list[Person]:
    seen: dict[tuple[str, str], Person] = {}
    for name, email in candidates:
        person = Person(_text(name), _text(email))
        if person.name or person.email:
            seen.setdefault((person.name.casefold(), person.email.casefold()), person)
    return list(seen.values())


def tito_sale(ticket: dict[str, Any]) -> Sale:
    """The ticket's holder and the registration's buyer from a Tito ticket payload."""
    name = _text(ticket.get("name")) or " ".join(
        p for p in (_text(ticket.get("first_name")), _text(ticket.get("last_name"))) if p
    )
    registration = ticket.get("registration")
    buyer = registration if isinstance(registration, dict) else {}
    ref = ticket.get("reference") or ticket.get("slug") or ticket.get("id") or ""
    return Sale(
        caller_ref("tito", ref),
        _people([(name, ticket.get("email")), (buyer.get("name"), buyer.get("email"))]),
    )


def pretix_sale(order: dict[str, Any]) -> Sale:
    """Every position's attendee and the buyer (order e-mail, invoice name)."""
    candidates: list[tuple[object, object]] = []
    for position in order.get("positions") or []:
        if isinstance(position, dict):
            candidates.append((position.get("attendee_name"), position.get("attendee_email")))
    address = order.get("invoice_address")
    buyer_name = address.get("name") if isinstance(address, dict) else ""
    candidates.append((buyer_name, order.get("email")))
    return Sale(
        caller_ref("pretix", order.get("code", "")),
        _people(candidates),
        order.get("status") == "n" and bool(order.get("require_approval")),
    )


def eventbrite_sale(obj: dict[str, Any]) -> Sale:
    """An order (its buyer and expanded attendees) or a single attendee."""
    candidates: list[tuple[object, object]] = []
    attendees = obj.get("attendees") if "attendees" in obj else [obj]
    for attendee in attendees or []:
        profile = attendee.get("profile") if isinstance(attendee, dict) else None
        if isinstance(profile, dict):
            candidates.append((profile.get("name"), profile.get("email")))
    if "attendees" in obj:
        candidates.append((obj.get("name"), obj.get("email")))
    return Sale(
        caller_ref("eventbrite", obj.get("order_id") or obj.get("id", "")), _people(candidates)
    )


async def _call(
    session: aiohttp.ClientSession,
    vendor: str,
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    try:
        async with session.request(
            method, url, headers=headers, json=body, timeout=TIMEOUT, allow_redirects=False
        ) as response:
            if response.status >= 500 or response.status in _RETRYABLE:
                raise VendorError(f"{vendor} answered HTTP {response.status}", retry=True)
            if response.status in (401, 403):
                # The organiser's token is wrong or lacks a permission: keep the work until
                # it is fixed rather than lose it.
                raise VendorError(
                    f"{vendor} refused the API token (HTTP {response.status}); check webhooks.toml",
                    retry=True,
                )
            if response.status >= 300:
                raise VendorError(f"{vendor} answered HTTP {response.status}", retry=False)
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise VendorError(
            f"cannot reach {vendor}'s API ({type(exc).__name__})", retry=True
        ) from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise VendorError(f"{vendor} answered something that is not JSON", retry=True) from exc
    if not isinstance(data, dict):
        raise VendorError(f"{vendor} answered JSON that is not an object", retry=False)
    return data


class PretixApi:
    def __init__(self, session: aiohttp.ClientSession, config: Pretix) -> None:
        self._session = session
        self._config = config
        self._headers = {"Authorization": f"Token {config.api_token}"}

    def _order_url(self, event: str, code: str) -> str:
        for part in (event, code):
            if not SLUG.match(part):
                raise VendorError("a pretix pointer with a malformed event or code", retry=False)
        base = f"{self._config.api_url}organizers/{self._config.organizer}"
        return f"{base}/events/{event}/orders/{code}/"

    async def order(self, event: str, code: str) -> dict[str, Any]:
        return await _call(
            self._session, "pretix", "GET", self._order_url(event, code), self._headers
        )

    async def approve(self, event: str, code: str) -> None:
        url = self._order_url(event, code) + "approve/"
        await _call(self._session, "pretix", "POST", url, self._headers, {"send_email": True})

    async def deny(self, event: str, code: str) -> None:
        # The buyer is told the order was not accepted, nothing more (no reason given).
        url = self._order_url(event, code) + "deny/"
        await _call(
            self._session, "pretix", "POST", url, self._headers, {"send_email": True, "comment": ""}
        )


class EventbriteApi:
    def __init__(self, session: aiohttp.ClientSession, config: Eventbrite) -> None:
        self._session = session
        self._config = config
        self._headers = {"Authorization": f"Bearer {config.token}"}

    def allowed(self, api_url: str) -> bool:
        return api_url.startswith(self._config.api_url) and ".." not in api_url

    async def fetch(self, api_url: str) -> dict[str, Any]:
        if not self.allowed(api_url):
            raise VendorError("an Eventbrite pointer outside the configured API", retry=False)
        separator = "&" if "?" in api_url else "?"
        url = api_url + (f"{separator}expand=attendees" if "/orders/" in api_url else "")
        return await _call(self._session, "Eventbrite", "GET", url, self._headers)
