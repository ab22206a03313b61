"""A synthetic pretix export for `lanyard bench agent`: the same unique people in every file.

It lives in the package, not in scripts/, because scripts/ is not part of the package.
Every generated person is unique (a family name coded from the row number), so each
identity costs one blinded round: nothing is answered from the store and the floor is
exactly the work done.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from lanyard.client.admin import Identifier
from lanyard.core.identity import Kind

HEADER = (
    "Order code",
    "Position ID",
    "Status",
    "Email",
    "Order date",
    "Product",
    "Price",
    "Attendee name",
    "Attendee email",
    "Company",
)
# Given names in several scripts, so normalisation does the work a real list costs it.
_GIVEN = (
    "Alex",
    "Priya",
    "Daniel",
    "Chloe",
    "Amara",
    "Lucas",
    "Hannah",
    "Kofi",
    "Léonie",
    "Björn",
    "Søren",
    "Łukasz",
    "Ana Lúcia",
    "Íñigo",
    "Renée",
    "Ömer",
    "Νίκος",
    "Ελένη",
    "Ольга",
    "Дмитрий",
    "ليلى",
    "נועה",
    "अनन्या",
    "さくら",
    "민준",
    "芳",
)
# Sixteen syllables, distinct after normalisation: family names code the row number.
_SYLLABLES = (
    "ba",
    "ke",
    "lo",
    "mi",
    "nu",
    "ra",
    "se",
    "ti",
    "vo",
    "za",
    "dré",
    "fe",
    "gø",
    "ho",
    "ju",
    "py",
)
_DOMAINS = ("example.org", "example.com", "example.net")
_PRODUCTS = (
    ("Conference ticket", "240.00"),
    ("Student ticket", "60.00"),
    ("Supporter ticket", "400.00"),
    ("Workshop day", "90.00"),
)
_COMPANIES = ("", "", "", "Example Cooperative", "Demo Labs", "Sample University")
_NO_EMAIL_EVERY = 20  # one attendee in twenty gave no e-mail: screened by name alone
_ASCII_SPELLINGS = str.maketrans({"ł": "l", "ø": "o"})


def _family(index: int) -> str:
    """A family name unique to `index`: its last syllable, then bijective base 16."""
    parts = [_SYLLABLES[index % 16]]
    n = index // 16 + 1
    while n:
        n, digit = divmod(n - 1, 16)
        parts.append(_SYLLABLES[digit])
    return "".join(parts).capitalize()


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_ASCII_SPELLINGS))
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


@dataclass(frozen=True, slots=True)
class Person:
    """One generated attendee; `email` is None when the ticket did not ask for one."""

    name: str
    email: str | None

    @property
    def identifiers(self) -> list[Identifier]:
        found = [Identifier(Kind.NAME, self.name)]
        return found if self.email is None else [Identifier(Kind.EMAIL, self.email), *found]


def person(index: int) -> Person:
    """The person on generated row `index` (0-based): the same one in every file."""
    given, family = _GIVEN[(index * 7) % len(_GIVEN)], _family(index)
    email = f"{_ascii(given) or 'attendee'}.{_ascii(family)}@{_DOMAINS[index % 3]}"
    no_email = index % _NO_EMAIL_EVERY == _NO_EMAIL_EVERY - 1
    return Person(f"{given} {family}", None if no_email else email)


def write_export(path: Path, rows: int) -> int:
    """Write a pretix-style export of `rows` people, one row at a time (never the whole
    file in memory); returns the identities it holds (a name each, most an e-mail too, and
    the buyer's e-mail where the attendee gave none: a second person of the row)."""
    identities = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for index in range(rows):
            p = person(index)
            product, price = _PRODUCTS[index % len(_PRODUCTS)]
            identities += 2
            writer.writerow(
                (
                    f"B{index:07d}",
                    "1",
                    "Paid",
                    p.email or f"buyer.{index}@example.org",
                    (date(2027, 1, 4) + timedelta(days=index % 120)).isoformat(),
                    product,
                    price,
                    p.name,
                    p.email or "",
                    _COMPANIES[index % len(_COMPANIES)],
                )
            )
    return identities
