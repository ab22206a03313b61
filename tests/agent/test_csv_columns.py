"""Column detection, table-driven: one small export per tool and language sample, and the
round trip of random dialects and cells through detection without losing a row."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanyard.agent.errors import ImportFailed
from lanyard.agent.screening.csv_columns import key
from lanyard.agent.screening.csv_import import BadRow, Row, open_export

ROOT = Path(__file__).resolve().parents[2]

# (sample id, header, one data row, expected columns per role, format, roles warned about)
CASES: list[tuple[str, list[str], list[str], dict[str, list[str]], str, set[str]]] = [
    (
        "pretix-en",
        ["Order code", "Email", "Attendee name", "Attendee name: Title",
         "Attendee name: Given name", "Attendee name: Family name", "Attendee email",
         "Invoice address name"],
        ["AB1", "b@example.org", "Dr Ana Souza", "Dr", "Ana", "Souza", "", "Bo Buyer"],
        {"name": ["Attendee name: Given name", "Attendee name: Family name"],
         "email": ["Attendee email"], "buyer_name": ["Invoice address name"],
         "buyer_email": ["Email"], "ref": ["Order code"]},
        "pretix", set(),
    ),
    (
        "pretix-de",
        ["Bestellnummer", "E-Mail", "Name Teilnehmer*in", "Name Teilnehmer*in: Titel",
         "Name Teilnehmer*in: Vorname", "Name Teilnehmer*in: Nachname",
         "E-Mail Teilnehmer*in", "Rechnungsadresse: Name"],
        ["AB1", "b@example.de", "Jürgen Groß", "", "Jürgen", "Groß", "", "Bea Käufer"],
        {"name": ["Name Teilnehmer*in: Vorname", "Name Teilnehmer*in: Nachname"],
         "email": ["E-Mail Teilnehmer*in"], "buyer_name": ["Rechnungsadresse: Name"],
         "buyer_email": ["E-Mail"], "ref": ["Bestellnummer"]},
        "pretix", set(),
    ),
    (
        "pretix-fr",
        ["Code de commande", "E-Mail", "Nom du participant", "E-mail du participant"],
        ["AB1", "b@example.fr", "Léa Moreau", "lea@example.fr"],
        {"name": ["Nom du participant"], "email": ["E-mail du participant"],
         "buyer_name": [], "buyer_email": ["E-Mail"], "ref": ["Code de commande"]},
        "pretix", set(),
    ),
    (
        "pretix-ja",
        ["注文コード", "電子メール", "参加者の名前", "参加者の電子メール"],
        ["AB1", "b@example.jp", "山田 太郎", ""],
        {"name": ["参加者の名前"], "email": ["参加者の電子メール"], "buyer_name": [],
         "buyer_email": ["電子メール"], "ref": ["注文コード"]},
        "pretix", set(),
    ),
    (
        "pretix-pl",
        ["Kod zamówienia", "Imię i nazwisko uczestnika", "Adres email uczestnika"],
        ["AB1", "Łucja Wróbel", "lucja@example.pl"],
        {"name": ["Imię i nazwisko uczestnika"], "email": ["Adres email uczestnika"],
         "buyer_name": [], "buyer_email": [], "ref": ["Kod zamówienia"]},
        "pretix", set(),
    ),
    (
        "pretix-orders-sheet",
        ["Event slug", "Order code", "Order total", "Status", "Email", "Company", "Name"],
        ["conf", "AB1", "10.00", "p", "b@example.org", "", "Bo Buyer"],
        {"name": [], "email": [], "buyer_name": ["Name"], "buyer_email": ["Email"],
         "ref": ["Order code"]},
        "pretix", {"name", "email"},
    ),
    (
        "tito",
        ["Number", "Ticket Full Name", "Ticket First Name", "Ticket Last Name", "Ticket Email",
         "Ticket Reference", "Order Name", "Order Email"],
        ["1", "Ana Souza", "Ana", "Souza", "ana@example.org", "T-1", "Bo", "bo@example.org"],
        {"name": ["Ticket Full Name"], "email": ["Ticket Email"], "buyer_name": ["Order Name"],
         "buyer_email": ["Order Email"], "ref": ["Ticket Reference"]},
        "tito", set(),
    ),
    (
        "eventbrite",
        ["Order #", "Order Date", "First Name", "Last Name", "Email", "Attendee #",
         "Buyer First Name", "Buyer Last Name", "Buyer Email"],
        ["1", "2027-01-01", "Ana", "Souza", "ana@example.org", "9", "Bo", "B", "b@example.org"],
        {"name": ["First Name", "Last Name"], "email": ["Email"],
         "buyer_name": ["Buyer First Name", "Buyer Last Name"], "buyer_email": ["Buyer Email"],
         "ref": ["Attendee #"]},
        "eventbrite", set(),
    ),
    (
        "indico",
        ["Registration ID", "First Name", "Last Name", "Email Address", "Affiliation"],
        ["7", "Ana", "Souza", "ana@example.org", "CERN"],
        {"name": ["First Name", "Last Name"], "email": ["Email Address"], "buyer_name": [],
         "buyer_email": [], "ref": ["Registration ID"]},
        "indico", set(),
    ),
    (
        "ticket-tailor",
        ["Ticket ID", "Ticket type", "Full name", "Email", "Order ID", "Barcode"],
        ["1", "GA", "Ana Souza", "ana@example.org", "O-1", "X"],
        {"name": ["Full name"], "email": ["Email"], "buyer_name": [], "buyer_email": [],
         "ref": ["Ticket ID"]},
        "ticket tailor", set(),
    ),
    (
        "humanitix",
        ["Order ID", "Ticket ID", "First Name", "Last Name", "Email", "Ticket Type"],
        ["O-1", "T-1", "Ana", "Souza", "ana@example.org", "GA"],
        {"name": ["First Name", "Last Name"], "email": ["Email"], "buyer_name": [],
         "buyer_email": [], "ref": ["Ticket ID"]},
        "plain", set(),
    ),
    (
        "luma",
        ["api_id", "name", "first_name", "last_name", "email", "approval_status"],
        ["gst-1", "Ana Souza", "Ana", "Souza", "ana@example.org", "approved"],
        {"name": ["name"], "email": ["email"], "buyer_name": [], "buyer_email": [],
         "ref": ["api_id"]},
        "luma", set(),
    ),
    (
        "meetup",
        ["Name", "User ID", "Title", "Event Host", "RSVPed on", "Attendance"],
        ["Ana Souza", "123", "", "No", "2027-01-01", "Yes"],
        {"name": ["Name"], "email": [], "buyer_name": [], "buyer_email": [],
         "ref": ["User ID"]},
        "meetup", {"email"},
    ),
    (
        "google-forms",
        ["Timestamp", "Email Address", "What is your full name?", "Join our mailing list?"],
        ["2027-01-01", "ana@example.org", "Ana Souza", "yes"],
        {"name": ["What is your full name?"], "email": ["Email Address"], "buyer_name": [],
         "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "forms-given-family",
        ["Timestamp", "What is your first name?", "What is your last name?",
         "Your e-mail please", "Company name"],
        ["2027-01-01", "Ana", "Souza", "ana@example.org", "ACME"],
        {"name": ["What is your first name?", "What is your last name?"],
         "email": ["Your e-mail please"], "buyer_name": [], "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "forms-german",
        ["Zeitstempel", "Wie ist dein Name?", "Deine E-Mail-Adresse", "Newsletter per E-Mail?"],
        ["2027-01-01", "Jürgen Groß", "j@example.de", "ja"],
        {"name": ["Wie ist dein Name?"], "email": ["Deine E-Mail-Adresse"], "buyer_name": [],
         "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "forms-optional-email",
        ["Opt-in to emails", "Name (as listed on your ID)", "Email (optional)"],
        ["yes", "Ana Souza", "ana@example.org"],
        {"name": ["Name (as listed on your ID)"], "email": ["Email (optional)"],
         "buyer_name": [], "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "form-fr-prenom-nom",
        ["Prénom", "Nom", "Courriel"],
        ["Léa", "Moreau", "lea@example.fr"],
        {"name": ["Prénom", "Nom"], "email": ["Courriel"], "buyer_name": [],
         "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "form-de-vorname-name",
        ["Vorname", "Name", "E-Mail"],
        ["Jürgen", "Groß", "j@example.de"],
        {"name": ["Vorname", "Name"], "email": ["E-Mail"], "buyer_name": [],
         "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "form-es-nombre-apellidos",
        ["Nombre", "Apellidos", "Correo electrónico"],
        ["María José", "García López", "mj@example.es"],
        {"name": ["Nombre", "Apellidos"], "email": ["Correo electrónico"], "buyer_name": [],
         "buyer_email": [], "ref": []},
        "plain", set(),
    ),
    (
        "excel-fr",
        ["Nom", "Courriel", "Remarques"],
        ["Léa Moreau", "lea@example.fr", "rien"],
        {"name": ["Nom"], "email": ["Courriel"], "buyer_name": [], "buyer_email": [],
         "ref": []},
        "plain", set(),
    ),
    (
        "content-sniffed",
        ["Teilnehmer", "Kontakt", "Ticket ID"],
        ["Ana Souza", "ana@example.org", "T-1"],
        {"name": [], "email": ["Kontakt"], "buyer_name": [], "buyer_email": [],
         "ref": ["Ticket ID"]},
        "plain", {"name"},
    ),
]  # fmt: skip


def write_rows(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_header_detection(tmp_path: Path, case: tuple[Any, ...]) -> None:
    _, header, row, roles, fmt, warned = case
    export = open_export(write_rows(tmp_path / "x.csv", [header, row, row]))
    assert export.layout.roles() == roles
    assert export.layout.format == fmt
    warnings = " ".join(export.layout.warnings)
    assert ("no attendee name column" in warnings) == ("name" in warned)
    assert ("no attendee e-mail column" in warnings) == ("email" in warned)
    if warned:  # the warning names what was there and the flag that fixes it
        assert header[0] in warnings
        assert "--name-col" in warnings or "--email-col" in warnings
    assert all(isinstance(r, Row) for r in export.rows())


def test_a_file_without_header_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "x.csv", [["Ana Souza", "ana@example.org"], ["B", "b@ex.org"]])
    with pytest.raises(ImportFailed, match="add a header row") as info:
        open_export(path)
    assert "ana@example.org" not in str(info.value)
    assert "Souza" not in str(info.value)


def test_content_sniffing_says_so(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "x.csv", [["Name", "B"], ["x", "a@example.org"], ["y", "b@ex.org"]]
    )
    assert dict(open_export(path).layout.found_by) == {"name": "header", "email": "content"}


@pytest.mark.parametrize(
    "first",
    [
        ["Dana Quill", ""],  # no header: the first person would be taken for column names
        ["Dana Quill", "n/a"],
    ],
)
def test_first_row_of_unknown_words_is_refused_when_only_contents_say_where(
    tmp_path: Path, first: list[str]
) -> None:
    path = write_rows(tmp_path / "x.csv", [first, ["Bob", "bob@x.org"], ["Kim", "kim@ex.cz"]])
    with pytest.raises(ImportFailed) as info:
        open_export(path)
    text = str(info.value)
    assert "add a header row" in text
    assert "--name-col" in text
    assert "--email-col" in text
    assert "Dana" not in text  # it may be a person
    assert text.count(";") == 1  # one sentence
    # Saying which column holds what is the organiser's word that row 1 is a header.
    if first[1]:
        export = open_export(path, email_col=first[1])
        assert [r.line for r in export.rows()] == [2, 3]


def test_a_first_row_of_unknown_words_with_one_where_the_addresses_are_is_a_header(
    tmp_path: Path,
) -> None:
    path = write_rows(
        tmp_path / "x.csv", [["Teilnehmer", "Kontakt"], ["Bob", "bob@x.org"], ["Kim", "kim@ex.cz"]]
    )
    export = open_export(path)
    assert export.layout.roles()["email"] == ["Kontakt"]
    assert [r.line for r in export.rows()] == [2, 3]
    assert any("--name-col" in w for w in export.layout.warnings)


def test_twin_columns_are_named_in_a_warning(tmp_path: Path) -> None:
    # Google Forms: the collected "Email Address" beside a question "Email address".
    header = ["Timestamp", "Email Address", "Your name", "Email address"]
    path = write_rows(tmp_path / "x.csv", [header, ["t", "a@example.org", "Ana", "b@ex.org"]])
    export = open_export(path)
    assert export.layout.roles()["email"] == ["Email Address"]
    assert export.layout.warnings == (
        "column 'Email Address' appears 2 times (columns 2, 4): each row is read from the "
        "first of them that is not empty, and a later one holding something else is "
        "reported as not screened",
    )


def test_repeated_flags_join_given_and_family_in_order(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "x.csv",
        [["Q1", "Q2", "Q3", "Q4"], ["Souza", "Ana", "a@example.org", "b@example.org"]],
    )
    export = open_export(
        path, name_col=["Q2", "Q1"], email_col=["Q3"], buyer_email_col=["Q4"], ref_col="Q1"
    )
    assert export.layout.roles() == {
        "name": ["Q2", "Q1"],
        "email": ["Q3"],
        "buyer_name": [],
        "buyer_email": ["Q4"],
        "ref": ["Q1"],
    }
    assert list(export.rows()) == [
        Row(2, "Souza", "ana souza", "a@example.org", None, "b@example.org")
    ]


def test_pretix_data_covers_every_language_pretix_ships() -> None:
    data = json.loads(
        (ROOT / "src/lanyard/agent/screening/data/pretix_headers.json").read_text("utf-8")
    )
    assert data["source"].startswith("pretix ")
    langs = set(data["strings"]["Attendee name"])
    assert {"en", "de", "fr", "es", "ja", "pl", "nl", "zh_Hans", "pt_BR"} <= langs
    assert len(langs) >= 35
    assert key("E-Mail Teilnehmer*in") in {
        key(v) for v in data["strings"]["Attendee email"].values()
    }


# --- random dialects round-trip through detection ----------------------------------------

cell = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufeff"), max_size=20
) | st.sampled_from(["", "a,b;c|d\te", 'say "hi"', "two\nlines", "x" * 300])


@given(
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quote_all=st.booleans(),
    newline=st.sampled_from(["\r\n", "\n"]),
    sep_line=st.booleans(),
    extra=st.lists(st.tuples(cell, cell), min_size=1, max_size=12),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_dialects_lose_no_row(
    delimiter: str, quote_all: bool, newline: str, sep_line: bool, extra: list[tuple[str, str]]
) -> None:
    out = io.StringIO(newline="")
    if sep_line:
        out.write(f"sep={delimiter}{newline}")
    writer = csv.writer(
        out,
        delimiter=delimiter,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        lineterminator=newline,
    )
    writer.writerow(["Name", "Email", "Notes, remarks; etc.", "Ref"])
    for i, (notes, more) in enumerate(extra):
        writer.writerow([f"Person {i}", f"p{i}@example.org", notes + more, f"R{i}"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_text(out.getvalue(), encoding="utf-8", newline="")
        export = open_export(path)
        result = list(export.rows())
    assert export.delimiter == delimiter
    assert [r.ref for r in result] == [f"R{i}" for i in range(len(extra))]
    assert all(not isinstance(r, BadRow) for r in result)
    assert [r.email for r in result if isinstance(r, Row)] == [
        f"p{i}@example.org" for i in range(len(extra))
    ]


def test_tito_unassigned_ticket_is_screened_through_its_buyer(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "x.csv",
        [
            ["Ticket Full Name", "Ticket Email", "Ticket Reference", "Order Name", "Order Email"],
            ["", "", "T-1", "Dana Quill", "dana.quill@example.net"],
            ["Ana Souza", "ana@example.org", "T-2", "Ana Souza", "ana@example.org"],
        ],
    )
    assert list(open_export(path).rows()) == [
        Row(2, "T-1", None, None, "dana quill", "dana.quill@example.net"),
        Row(3, "T-2", "ana souza", "ana@example.org"),  # bought her own: one person
    ]
