"""Write the synthetic pretix-style attendee export that `lanyard demo` screens.

Usage: python scripts/make_demo_export.py PATH [--rows N] [--seed S]

The shipped file is `src/lanyard/cli/data/demo_attendees.csv` (3000 rows, the default seed); a test
regenerates it and compares bytes, so change it only through this script. Every person in
it is fictional: random pairings from small name lists in several scripts, e-mail at
example.org/.com/.net. Four people the demo's registry lists are planted, spelled
differently from their records; one malformed row shows how bad data is reported, and one
unassigned ticket (no attendee yet) is screened through its buyer.
"""

from __future__ import annotations

import argparse
import csv
import random
import unicodedata
from datetime import date, timedelta
from pathlib import Path

DEFAULT_ROWS = 3000
DEFAULT_SEED = 2027

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

# (data row, 1-based; attendee name as written; attendee e-mail as written). The demo's
# records are "Jordan Blake" jordan.blake@example.net, "Sam Rivera" s.rivera@example.org,
# "Zoë Ångström" zoe.angstrom@example.org, "María José García-López" mj.garcia@example.es.
PLANTED = (
    (117, "BLAKE, Jordan", "Jordan.Blake+demoConf@Example.NET"),
    (1024, "Sam Rivera", "sam.r@another.example"),
    (1873, "zoe angstrom", "ZOE.ANGSTROM@EXAMPLE.ORG"),
    (2650, "Garcia Lopez, Maria Jose", "mj.garcia+tickets@example.es"),
)
NO_NAME_NO_EMAIL_ROW = 400
INVALID_EMAIL_ROW = 2200
INVALID_EMAIL = "not-an-email"

# No list contains a planted person's given or family name, so only planted rows match.
_LATIN = (
    ("Alex", "Priya", "Daniel", "Chloe", "Amara", "Lucas", "Hannah", "Kofi", "Nadia", "Ravi"),
    ("Okafor", "Lindqvist", "Moreau", "Novak", "Haddad", "Osei", "Tanaka", "O'Connell"),
)
_ACCENTED = (
    ("Léonie", "Björn", "Søren", "Łukasz", "Ana Lúcia", "Íñigo", "Håkon", "Renée", "Ömer"),
    ("Müller", "Čapek", "Nuñez", "Wiśniewska", "Gonçalves", "Öztürk", "Þórsdóttir", "Brontë"),
)
# (given names, family names, family name first without a space?)
_OTHER_SCRIPTS = (
    (("Νίκος", "Ελένη"), ("Παπαδοπούλου", "Γεωργίου"), False),
    (("Ольга", "Дмитрий"), ("Кузнецова", "Соколов"), False),
    (("ليلى", "عمر"), ("الحسن", "حداد"), False),
    (("נועה", "איתי"), ("כהן", "לוי"), False),
    (("अनन्या", "राहुल"), ("शर्मा", "वर्मा"), False),
    (("芳", "伟", "静"), ("王", "李", "张"), True),
    (("민준", "서연"), ("김", "박"), True),
    (("さくら", "健"), ("佐藤", "鈴木"), False),
)
_DOMAINS = ("example.org", "example.com", "example.net")
_PRODUCTS = (
    ("Conference ticket", "240.00"),
    ("Student ticket", "60.00"),
    ("Supporter ticket", "400.00"),
    ("Workshop day", "90.00"),
)
_COMPANIES = ("", "", "", "Example Cooperative", "Demo Labs", "Sample University")


# Letters NFKD does not decompose into an ASCII base letter.
_ASCII_SPELLINGS = str.maketrans({"ł": "l", "ø": "o", "þ": "th", "ð": "d"})


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_ASCII_SPELLINGS))
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    pick = rng.random()
    if pick < 0.55:
        given, family = rng.choice(_LATIN[0]), rng.choice(_LATIN[1])
        name = f"{given} {family}"
    elif pick < 0.8:
        given, family = rng.choice(_ACCENTED[0]), rng.choice(_ACCENTED[1])
        name = f"{given} {family}"
    else:
        givens, families, family_first = rng.choice(_OTHER_SCRIPTS)
        given, family = rng.choice(givens), rng.choice(families)
        name = f"{family}{given}" if family_first else f"{given} {family}"
    local = f"{_ascii(given)}.{_ascii(family)}" if _ascii(given) and _ascii(family) else "attendee"
    return name, f"{local}.{index}@{rng.choice(_DOMAINS)}"


def write_export(path: Path, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> None:
    """Write `rows` data rows (plus the header) to `path`; same arguments, same bytes."""
    last_fixed = max(INVALID_EMAIL_ROW, NO_NAME_NO_EMAIL_ROW, *(p[0] for p in PLANTED))
    if rows < last_fixed:
        raise ValueError(f"need at least {last_fixed} rows for the planted ones, got {rows}")
    rng = random.Random(seed)  # noqa: S311 -- synthetic data must be reproducible, not secret
    planted = {row: (name, email) for row, name, email in PLANTED}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for index in range(1, rows + 1):
            name, email = planted.get(index) or _person(rng, index)
            buyer = email
            if index == NO_NAME_NO_EMAIL_ROW:
                name, email = "", ""  # a ticket nobody filled in; the buyer bought several
            elif index == INVALID_EMAIL_ROW:
                email = INVALID_EMAIL
            elif index not in planted and rng.random() < 0.05:
                email = ""  # attendee e-mail not asked for: screened by name alone
            product, price = rng.choice(_PRODUCTS)
            ordered = date(2027, 1, 4) + timedelta(days=rng.randrange(120))
            writer.writerow(
                (
                    f"DEMO-{index:05d}",
                    "1",
                    "Paid",
                    buyer,
                    ordered.isoformat(),
                    product,
                    price,
                    name,
                    email,
                    rng.choice(_COMPANIES),
                )
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        write_export(args.path, args.rows, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(
        f"wrote {args.rows} synthetic attendees ({len(PLANTED)} planted matches, 2 malformed "
        f"rows at {NO_NAME_NO_EMAIL_ROW} and {INVALID_EMAIL_ROW}) to {args.path}"
    )


if __name__ == "__main__":
    main()
