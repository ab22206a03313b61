"""Ticketing exports: every format, encoding and kind of bad input the issue names."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import random
import re
import runpy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ftfy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanyard.agent.errors import ImportFailed
from lanyard.agent.screening.csv_import import BadRow, Export, Layout, Row, file_digest, open_export
from lanyard.core.address import screenable_email
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import normalize_name

ROOT = Path(__file__).resolve().parents[2]
DEMO_CSV = ROOT / "src" / "lanyard" / "cli" / "data" / "demo_attendees.csv"


def write(tmp_path: Path, text: str, encoding: str = "utf-8", bom: bytes = b"") -> Path:
    path = tmp_path / "attendees.csv"
    path.write_bytes(bom + text.encode(encoding))
    return path


def items(export: Export, start_after_line: int = 0) -> list[Row | BadRow]:
    return list(export.rows(start_after_line))


# --- formats ------------------------------------------------------------------------------


def test_pretix_name_parts_skip_the_title_and_prefer_the_attendee_email(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Order code,Email,Attendee name,Attendee name: Title,Attendee name: Given name,"
        "Attendee name: Family name,Attendee email\r\n"
        "ABC12,buyer@example.org,Dr Ana Lúcia Souza,Dr,Ana Lúcia,Souza,Ana@Example.org\r\n"
        "ABC12,buyer@example.org,Kofi Osei,,Kofi,Osei,\r\n",
    )
    export = open_export(path)
    assert export.layout == Layout(
        "pretix",
        ("Attendee name: Given name", "Attendee name: Family name"),
        ("Attendee email",),
        "Order code",
        (),
        ("Email",),
    )
    assert export.encoding == "utf-8"
    assert items(export) == [
        Row(2, "ABC12", "ana lucia souza", "ana@example.org", None, "buyer@example.org"),
        Row(3, "ABC12", "kofi osei", None, None, "buyer@example.org"),
    ]


def test_pretix_single_name_column_with_order_email_only(tmp_path: Path) -> None:
    path = write(tmp_path, 'Order code,Attendee name,Email\nX1Y2Z,"Okafor, Amara",a@example.com\n')
    export = open_export(path)
    # pretix's "Email" is the buyer's: screened as a second person of the row.
    assert export.layout == Layout("pretix", ("Attendee name",), (), "Order code", (), ("Email",))
    assert items(export) == [Row(2, "X1Y2Z", "amara okafor", None, None, "a@example.com")]


def test_pretix_semicolon_delimiter(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Order code;Attendee name;Attendee email\nQ7;Müller, Jürgen;j@example.de\n"
    )
    export = open_export(path)
    assert export.delimiter == ";"
    assert items(export) == [Row(2, "Q7", "jurgen muller", "j@example.de")]


def test_tito_full_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Ticket Reference,Ticket Full Name,Ticket Email,Order Reference\n"
        "ABCD-1,Håkon Lindqvist,hakon@example.no,ORD-1\n",
    )
    export = open_export(path)
    assert export.layout == Layout(
        "tito", ("Ticket Full Name",), ("Ticket Email",), "Ticket Reference"
    )
    assert items(export) == [Row(2, "ABCD-1", "hakon lindqvist", "hakon@example.no")]


def test_tito_first_and_last_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Ticket First Name,Ticket Last Name,Ticket Email,Ticket Reference\n"
        "Nadia,Haddad,nadia@example.com,ABCD-2\n",
    )
    export = open_export(path)
    assert export.layout.format == "tito"
    assert export.layout.name_columns == ("Ticket First Name", "Ticket Last Name")
    assert items(export) == [Row(2, "ABCD-2", "haddad nadia", "nadia@example.com")]


TITO_TSV = (
    "Ticket Full Name\tTicket Email\tTicket Reference\r\n"
    "Åsa Öberg\tasa@example.se\tT-1\r\n"
    "王𠀋\tw@example.cn\tT-2\r\n"
)
TITO_ROWS = [
    Row(2, "T-1", "asa oberg", "asa@example.se"),
    Row(3, "T-2", "王𠀋", "w@example.cn"),
]


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
    ],
)
def test_tito_utf16_tab_separated(tmp_path: Path, codec: str, bom: bytes) -> None:
    export = open_export(write(tmp_path, TITO_TSV, codec, bom))
    assert export.encoding == codec
    assert export.delimiter == "\t"
    assert export.header() == ["Ticket Full Name", "Ticket Email", "Ticket Reference"]
    assert items(export) == TITO_ROWS


def test_eventbrite(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Order #,Order Date,First Name,Last Name,Email,Ticket Type\n"
        "1234567890,2027-01-05,Renée,O'Connell,renee@example.ie,General\n",
    )
    export = open_export(path)
    assert export.layout == Layout("eventbrite", ("First Name", "Last Name"), ("Email",), "Order #")
    assert items(export) == [Row(2, "1234567890", "oconnell renee", "renee@example.ie")]


def test_plain_without_ref_uses_the_line(tmp_path: Path) -> None:
    export = open_export(write(tmp_path, "Full Name,E-mail\nLéa Moreau,lea@example.fr\n"))
    assert export.layout == Layout("plain", ("Full Name",), ("E-mail",), None)
    assert items(export) == [Row(2, "line 2", "lea moreau", "lea@example.fr")]


def test_plain_email_only_with_ref(tmp_path: Path) -> None:
    export = open_export(write(tmp_path, "id,email address\n7,x@example.org\n"))
    assert export.layout == Layout("plain", (), ("email address",), "id")
    assert items(export) == [Row(2, "7", None, "x@example.org")]


def test_utf8_bom_and_messy_header_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, "  NAME ,EMAIL\r\nChen Wei,chen@example.cn\r\n", bom=codecs.BOM_UTF8)
    export = open_export(path)
    assert export.encoding == "utf-8-sig"
    assert export.header() == ["NAME", "EMAIL"]
    assert export.layout == Layout("plain", ("NAME",), ("EMAIL",), None)
    assert items(export) == [Row(2, "line 2", "chen wei", "chen@example.cn")]


# --- overrides ----------------------------------------------------------------------------


def test_overrides_name_every_column(tmp_path: Path) -> None:
    path = write(tmp_path, "Who,Contact,Booking\nSøren Novak,s@example.dk,B-9\n")
    export = open_export(path, name_col="who", email_col=" CONTACT ", ref_col="Booking")
    assert export.layout == Layout("custom", ("Who",), ("Contact",), "Booking")
    assert items(export) == [Row(2, "B-9", "novak soren", "s@example.dk")]


def test_partial_override_keeps_what_was_detected(tmp_path: Path) -> None:
    path = write(tmp_path, "Order code,Attendee name,Contact\nZ1,Ravi Kaur,ravi@example.in\n")
    export = open_export(path, email_col="Contact")
    assert export.layout == Layout("custom", ("Attendee name",), ("Contact",), "Order code")
    assert items(export) == [Row(2, "Z1", "kaur ravi", "ravi@example.in")]


def test_override_makes_an_unknown_layout_usable(tmp_path: Path) -> None:
    export = open_export(write(tmp_path, "Foo,Bar\nx@example.org,1\n"), email_col="Foo")
    assert export.layout == Layout("custom", (), ("Foo",), None)
    assert items(export) == [Row(2, "line 2", None, "x@example.org")]


def test_unknown_layout_names_the_columns_and_the_flags(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as info:
        open_export(write(tmp_path, "Foo,Bar,Baz Qux\n1,2,3\n"))
    text = str(info.value)
    assert "found columns: Foo, Bar, Baz Qux" in text
    assert "--name-col" in text
    assert "--email-col" in text
    assert "--ref-col" in text
    assert "\n" not in text


@pytest.mark.parametrize("flag", ["name_col", "email_col", "ref_col"])
def test_override_naming_a_missing_column(tmp_path: Path, flag: str) -> None:
    path = write(tmp_path, "Name,Email\nA B,a@example.org\n")
    with pytest.raises(ImportFailed) as info:
        open_export(path, **{flag: "Nope"})
    text = str(info.value)
    assert "'Nope'" in text
    assert f"--{flag.replace('_', '-')}" in text
    assert "found columns: Name, Email" in text


# --- files that are not exports -----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"  \r\n\t\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")],
)
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "attendees.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFailed, match="is empty"):
        open_export(path)


def test_header_only_yields_no_rows(tmp_path: Path) -> None:
    export = open_export(write(tmp_path, "Attendee name,Attendee email\r\n"))
    assert export.layout.format == "pretix"
    assert items(export) == []


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
        random.Random(7).randbytes(8192),
    ],
    ids=["png", "xlsx", "random"],
)
def test_binary_file_is_refused_up_front(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "attendees.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFailed, match=r"is not UTF-8 or UTF-16 text \(binary file\?"):
        open_export(path)


def test_undecodable_bytes_late_in_the_file_are_refused_before_any_row(tmp_path: Path) -> None:
    body = "".join(f"P{i} Name,p{i}@example.org\n" for i in range(4000))
    path = tmp_path / "attendees.csv"
    path.write_bytes(b"name,email\n" + body.encode() + b"Jos\xe9 Ruiz,j@example.es\n")
    # The first 64 KiB are fine; the whole file is checked before anything is screened.
    with pytest.raises(
        ImportFailed, match=r'line 4002 is not UTF-8 text.*re-save it as "CSV UTF-8"'
    ):
        open_export(path)
    export = open_export(path, encoding="cp1252")
    assert export.encoding == "cp1252"
    assert list(export.rows())[-1] == Row(4002, "line 4002", "jose ruiz", "j@example.es")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_file_or_directory(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.csv" if kind == "missing" else tmp_path
    with pytest.raises(ImportFailed, match=re.escape(str(path))):
        open_export(path)


# --- rows: bad data, line numbers, resume -------------------------------------------------

MESSY = (
    "Order code,Attendee name,Attendee email,Comment\r\n"  # 1
    'A1,Priya Natarajan,priya@example.com,"needs a\r\nstep-free\r\nroute"\r\n'  # 2-4
    "A2,,,left blank\r\n"  # 5
    "\r\n"  # 6: blank, skipped silently
    "A3,Tomás Ruiz,tomas at example.es\r\n"  # 7: short row, invalid e-mail
    ",,,\r\n"  # 8: all cells empty, skipped silently
    'A4,"multi\nline name",m@example.org,x\r\n'  # 9-10
    "A5,--- ,only-email@example.org\r\n"  # 11: name without letters
    "A6,???,,\r\n"  # 12: neither usable
    ",Ömer Öztürk,\r\n"  # 13: no ref: the line is the ref
)
NOT_SCREENED = "and was not screened; the rest of the row was"
MESSY_ITEMS: list[Row | BadRow] = [
    Row(2, "A1", "natarajan priya", "priya@example.com"),
    BadRow(5, "A2", "no name and no e-mail"),
    # The name is screened; the e-mail that is not an address is reported, not dropped.
    Row(7, "A3", "ruiz tomas", None),
    BadRow(
        7,
        "A3",
        f"the e-mail is invalid (e-mail address must contain exactly one '@') {NOT_SCREENED}",
    ),
    BadRow(
        9,
        "line 9",
        "the cell of column 'Attendee name' runs from line 9 to line 10 (a quote opened on "
        "line 9 and not closed?), so lines 9-10 were read as one row and not screened",
    ),
    Row(11, "A5", None, "only-email@example.org"),
    BadRow(
        11, "A5", f"the name ('---') is not usable (name has no letters or digits) {NOT_SCREENED}"
    ),
    BadRow(
        12,
        "A6",
        "the name ('???') is not usable (name has no letters or digits) and was not screened; "
        "the row has nothing else to screen: fix it in the export",
    ),
    Row(13, "line 13", "omer ozturk", None),
]


def test_bad_rows_are_reported_with_their_lines_and_the_rest_runs(tmp_path: Path) -> None:
    assert items(open_export(write(tmp_path, MESSY))) == MESSY_ITEMS


def test_resume_skips_exactly_the_records_started_on_or_before_the_line(tmp_path: Path) -> None:
    export = open_export(write(tmp_path, MESSY))
    for after in range(15):
        assert items(export, after) == [i for i in MESSY_ITEMS if i.line > after], after
    # Resuming from inside a multi-line record does not yield its tail as a record.
    assert items(export, 3)[0] == MESSY_ITEMS[1]
    # A row screened in part is resumed as a whole: both its Row and its BadRow or neither.
    assert items(export, 7)[0].line == 9
    assert items(export, 6)[:2] == MESSY_ITEMS[2:4]


def test_resume_does_not_normalise_the_skipped_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = open_export(write(tmp_path, MESSY))
    calls: list[str] = []

    def spy(name: Callable[[str], str]) -> Callable[[str], str]:
        def wrapped(value: str) -> str:
            calls.append(value)
            return name(value)

        return wrapped

    module = "lanyard.agent.screening.csv_import"
    monkeypatch.setattr(f"{module}.normalize_name", spy(normalize_name))
    monkeypatch.setattr(f"{module}.screenable_email", spy(screenable_email))
    assert [i.line for i in export.rows(start_after_line=12)] == [13]
    assert calls == ["Ömer Öztürk"]


def test_invalid_email_reason_never_quotes_the_address(tmp_path: Path) -> None:
    bad = [
        "Secret.Person@@leak.example",
        "Secret Person@leak.example",
        "secretperson",
        "<secret@leak.example>>",
        "secret@leak.example,,",
        "mailto:secret@leak.example?subject=hi",
        "Other@leak.example <secret@leak.example>",
        "secret@leak",
    ]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["name", "email"])
    writer.writerows(["Kim Ondrej", b] for b in bad)
    writer.writerows(["", b] for b in bad)  # the address alone: nothing else to screen
    text = out.getvalue()
    result = items(open_export(write(tmp_path, text)))
    assert [type(i) for i in result] == [Row, BadRow] * len(bad) + [BadRow] * len(bad)
    for item in result:
        if isinstance(item, Row):
            assert (item.name, item.email) == ("kim ondrej", None)
            continue
        assert item.reason.startswith("the e-mail is invalid (e-mail address ")
        assert item.reason.endswith(
            ("the rest of the row was", "nothing else to screen: fix it in the export")
        )
        assert "secret" not in item.reason.casefold()
        assert "leak" not in item.reason


def test_unclosed_quote_is_one_bad_row_not_silent_loss(tmp_path: Path) -> None:
    text = (
        'name,email\n"Jane Doe,jane@example.org\n'  # the quote is never closed ...
        'Bob Ray,"bob@example.org"\n'  # ... until here, where strict parsing notices
        "Al Li,al@example.org\n"
    )
    result = items(open_export(write(tmp_path, text)))
    assert len(result) == 3
    first = result[0]
    assert isinstance(first, BadRow)
    assert (first.line, first.ref) == (2, "line 2")
    assert "line 2 was skipped and reading went on at line 3" in first.reason
    assert "unclosed quote" in first.reason
    # The parser starts again at the next line that can begin a record: none is lost.
    assert result[1] == Row(3, "line 3", "bob ray", "bob@example.org")
    assert result[2] == Row(4, "line 4", "al li", "al@example.org")


def test_a_cell_over_the_field_limit_is_one_bad_row_and_the_rows_after_it_count(
    tmp_path: Path,
) -> None:
    # The limit is 16 MiB; a small one here makes the same failure cheap to provoke.
    answer = "\n".join("lorem ipsum, dolor sit amet" for _ in range(200))
    text = (
        "Name,Email,About\n"
        "Lee Park,lee@example.org,short\n"  # 2
        f'Kim Ondrej,kim@example.cz,"{answer}"\n'  # 3-202
        "Zoe Angstrom,zoe.angstrom@example.org,hi\n"  # 203
        "Sean OBrien,sean.obrien@example.ie,hi\n"  # 204
    )
    export = open_export(write(tmp_path, text))
    old = csv.field_size_limit(1000)
    try:
        result = items(export)
    finally:
        csv.field_size_limit(old)
    assert result[0] == Row(2, "line 2", "lee park", "lee@example.org")
    bad = result[1]
    assert isinstance(bad, BadRow)
    assert bad.line == 3
    assert "lines 3-202 were skipped and reading went on at line 203" in bad.reason
    assert result[2:] == [
        Row(203, "line 203", "angstrom zoe", "zoe.angstrom@example.org"),
        Row(204, "line 204", "obrien sean", "sean.obrien@example.ie"),
    ]


def test_double_encoded_text_is_repaired_and_counted(tmp_path: Path) -> None:
    mojibake = "Seán O'Brien".encode().decode("cp1252")  # "SeÃ¡n O'Brien"
    export = open_export(write(tmp_path, f"Name,Email\n{mojibake},\nKim Ondrej,\n"))
    assert items(export) == [
        Row(2, "line 2", "obrien sean", None, repaired=True),
        Row(3, "line 3", "kim ondrej", None),
    ]


def test_nul_late_in_the_file_is_a_bad_row(tmp_path: Path) -> None:
    body = "".join(f"P{i} Name,p{i}@example.org\n" for i in range(4000))
    path = write(tmp_path, "name,email\n" + body + "Bad\x00Name,n@example.org\nOk Name,\n")
    result = items(open_export(path))
    assert result[-2] == BadRow(
        4002, "line 4002", "the row contains NUL characters (damaged file?)"
    )
    assert result[-1] == Row(4003, "line 4003", "name ok", None)


def test_file_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(3 * 1024 * 1024 + 17)
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(ImportFailed, match="does not exist"):
        file_digest(tmp_path / "gone.csv")


_BREAKS = re.compile(r"\r\n|\r|\n")
cells = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)


@given(records=st.lists(st.tuples(cells, cells), max_size=25))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_any_cells_round_trip_with_exact_lines(records: list[tuple[str, str]]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Ref"])
    expected_lines, line = [], 2
    for i, (name, email) in enumerate(records):
        start = out.tell()
        writer.writerow([name, email, f"R{i}"])
        expected_lines.append(line)
        line += len(_BREAKS.findall(out.getvalue()[start:]))
    with tempfile.TemporaryDirectory() as tmp:
        result = items(open_export(write(Path(tmp), out.getvalue())))
    by_line: dict[int, list[Row | BadRow]] = {}
    for item in result:
        by_line.setdefault(item.line, []).append(item)
    assert list(by_line) == expected_lines
    for (at, group), (i, (name, email)) in zip(by_line.items(), enumerate(records), strict=True):
        rows = [r for r in group if isinstance(r, Row)]
        bad = [r for r in group if isinstance(r, BadRow)]
        assert len(bad) <= 1
        assert all(b.reason for b in bad)
        if _BREAKS.search(name.strip()) or _BREAKS.search(email.strip()):
            # A name or an e-mail over several lines: a quote left open, not screened.
            assert (rows, bad[0].ref) == ([], f"line {at}")
            continue
        # Cells are read as the importer reads them: double-encoding repaired.
        name, email = ftfy.fix_encoding(name.strip()), ftfy.fix_encoding(email.strip())
        want_name, want_email = _name_or_none(name), _email_or_none(email)
        unusable = (bool(name) and want_name is None) or (bool(email) and want_email is None)
        if want_name is None and want_email is None:
            assert rows == []
            assert bad[0].ref == f"R{i}"
            continue
        assert rows == [Row(at, f"R{i}", want_name, want_email, repaired=rows[0].repaired)]
        assert bool(bad) == unusable  # what was not screened is said, and only that


def _name_or_none(value: str) -> str | None:
    try:
        return normalize_name(value.strip())
    except InvalidIdentifier:
        return None


def _email_or_none(value: str) -> str | None:
    try:
        return screenable_email(value) if value else None
    except InvalidIdentifier:
        return None


# --- rows that cannot be read as they look -----------------------------------------------


@pytest.mark.parametrize(("delimiter", "said"), [(",", "comma"), (";", "semicolon")])
def test_a_row_wider_than_its_header_is_not_screened(
    tmp_path: Path, delimiter: str, said: str
) -> None:
    # An unquoted delimiter in a name shifts every later cell: "Quill" would be screened
    # as the name, and the e-mail column would hold part of the name.
    text = "Email,Name,Company\r\nsomeone@else.org,Quill, Dana,ACME\r\nkim@example.cz,Kim,ACME\r\n"
    export = open_export(write(tmp_path, text.replace(",", delimiter)), delimiter=delimiter)
    assert items(export) == [
        BadRow(
            2,
            "line 2",
            f"line 2 has 4 cells but the header has 3 (a {said} in a cell that is not "
            "quoted?), so its cells cannot be told apart and it was not screened",
        ),
        Row(3, "line 3", "kim", "kim@example.cz"),
    ]


def test_a_short_row_missing_a_screened_column_says_so(tmp_path: Path) -> None:
    # A bare CR inside an unquoted name ends the record early: its e-mail column is gone.
    text = (
        "Name,Company,Email\r\n"
        "Dana Qu\rill,ACME,dana.quill@example.net\r\n"
        "Kim Ondrej,ACME\r\n"  # the e-mail column is not there at all
        "Lee Park,ACME,lee@example.org\r\n"
    )
    result = items(open_export(write(tmp_path, text)))
    missing = (
        "but the header has 3, so its e-mail column is missing and not screened (a line "
        "break in a cell that is not quoted?); the rest of the row was"
    )
    assert result == [
        Row(2, "line 2", "dana qu", None),
        BadRow(2, "line 2", f"the row has 1 cell {missing}"),
        Row(3, "line 3", "ill", "dana.quill@example.net"),
        Row(4, "line 4", "kim ondrej", None),
        BadRow(4, "line 4", f"the row has 2 cells {missing}"),
        Row(5, "line 5", "lee park", "lee@example.org"),
    ]


def test_a_short_row_missing_only_unscreened_columns_is_screened_quietly(tmp_path: Path) -> None:
    text = "Name,Email,Company,Notes\nKim Ondrej,kim@example.cz\n"
    assert items(open_export(write(tmp_path, text))) == [
        Row(2, "line 2", "kim ondrej", "kim@example.cz")
    ]


def test_every_usable_identity_of_a_row_is_screened(tmp_path: Path) -> None:
    text = (
        "Name,Email,Buyer email\r\n"
        "Dana Quill,dana.quill@example.net,n/a\r\n"
        "Kim,not an address,kim.buyer@example.cz\r\n"
        "Lee Park,lee@example.org,lee@example.org\r\n"
    )
    assert items(open_export(write(tmp_path, text))) == [
        Row(2, "line 2", "dana quill", "dana.quill@example.net"),
        BadRow(
            2,
            "line 2",
            "the buyer's e-mail ('n/a') is invalid (e-mail address must contain exactly "
            "one '@') and was not screened; the rest of the row was",
        ),
        Row(3, "line 3", "kim", None, None, "kim.buyer@example.cz"),
        BadRow(
            3,
            "line 3",  # a cell that may be someone's name is never quoted
            "the e-mail is invalid (e-mail address must contain exactly one '@') and was "
            "not screened; the rest of the row was",
        ),
        Row(4, "line 4", "lee park", "lee@example.org"),
    ]


@pytest.mark.parametrize(
    "cell",
    [
        "<dana.quill@example.net>",
        "mailto:dana.quill@example.net",
        "MAILTO:Dana.Quill@example.net",
        "dana.quill@example.net,",
        "dana.quill@example.net;",
        '"dana.quill@example.net"',
        "Dana Quill <dana.quill@example.net>",
        '"Quill, Dana" <mailto:dana.quill@example.net>;',
        "\u200b<dana.quill@example.net>\u200b",
    ],
)
def test_wrapped_addresses_are_screened_as_the_address(tmp_path: Path, cell: str) -> None:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([["Name", "Email"], ["", cell]])
    assert items(open_export(write(tmp_path, out.getvalue()))) == [
        Row(2, "line 2", None, "dana.quill@example.net")
    ]


def test_twin_columns_are_read_first_non_empty(tmp_path: Path) -> None:
    text = (
        "First Name,Last Name,Email,Email\r\n"
        "Dana,Quill,,dana.quill@example.net\r\n"
        "Kim,Ondrej,kim@example.cz,\r\n"
        "Lee,Park,lee@example.org,LEE@example.org\r\n"
        "Zoe,Angstrom,zoe@example.org,zoe.angstrom@example.org\r\n"
    )
    export = open_export(write(tmp_path, text))
    assert any("column 'Email' appears 2 times (columns 3, 4)" in w for w in export.layout.warnings)
    assert items(export) == [
        Row(2, "line 2", "dana quill", "dana.quill@example.net"),
        Row(3, "line 3", "kim ondrej", "kim@example.cz"),
        Row(4, "line 4", "lee park", "lee@example.org"),
        Row(5, "line 5", "angstrom zoe", "zoe@example.org"),
        BadRow(
            5,
            "line 5",
            "column 4 ('Email' again) holds another e-mail, which was not screened; the rest "
            "of the row was",
        ),
    ]


def test_a_placeholder_never_hides_the_address_beside_it(tmp_path: Path) -> None:
    """Of twin columns, or of several --email-col, the address is screened: a placeholder
    ("n/a") taken first would leave the person screened on the name alone. A twin that
    holds the same address wrapped is the same address, not another."""
    text = (
        "Name,Email,Email\r\n"
        "Dana Quill,n/a,dana.quill@example.net\r\n"
        "Kim Ondrej,<kim@example.cz>,kim@example.cz\r\n"
    )
    assert items(open_export(write(tmp_path, text))) == [
        Row(2, "line 2", "dana quill", "dana.quill@example.net"),
        Row(3, "line 3", "kim ondrej", "kim@example.cz"),
    ]
    text = "Name,Email,Work Email\r\nDana Quill,n/a,dana.quill@example.net\r\n"
    export = open_export(write(tmp_path, text), email_col=["Email", "Work Email"])
    assert items(export) == [Row(2, "line 2", "dana quill", "dana.quill@example.net")]


def test_a_quote_left_open_in_a_name_swallows_no_row_silently(tmp_path: Path) -> None:
    text = (
        "Name,Email\r\n"
        '"Alice,alice@x.org\r\n'
        "Dana Quill,dana.quill@example.net\r\n"
        'Bob",bob@x.org\r\n'
        "Kim,kim@example.cz\r\n"
    )
    assert items(open_export(write(tmp_path, text))) == [
        BadRow(
            2,
            "line 2",
            "the cell of column 'Name' runs from line 2 to line 4 (a quote opened on line 2 "
            "and not closed?), so lines 2-4 were read as one row and not screened",
        ),
        Row(5, "line 5", "kim", "kim@example.cz"),
    ]


def test_rows_swallowed_by_another_cell_are_reported(tmp_path: Path) -> None:
    text = (
        "Name,Email,Comment\r\n"
        'Alice,alice@x.org,"I like\r\n'
        "Dana Quill,dana.quill@example.net,foo\r\n"
        'Bob,bob@x.org,bar"\r\n'
        'Kim,kim@example.cz,"two\r\nlines, with a@b.org in them"\r\n'
    )
    assert items(open_export(write(tmp_path, text))) == [
        Row(2, "line 2", "alice", "alice@x.org"),
        BadRow(
            2,
            "line 2",
            "the cell of column 'Comment' runs from line 2 to line 4 and 2 of its lines look "
            "like rows of their own (a quote opened on line 2 and not closed?), which were "
            "not screened; the rest of the row was",
        ),
        Row(5, "line 5", "kim", "kim@example.cz"),  # an address in prose is no row
    ]


# --- the shipped demo export --------------------------------------------------------------


def _generator() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "scripts" / "make_demo_export.py"))


def test_shipped_demo_export_reads_as_pretix_with_one_bad_row() -> None:
    gen = _generator()
    export = open_export(DEMO_CSV)
    assert export.layout == Layout(
        "pretix", ("Attendee name",), ("Attendee email",), "Order code", (), ("Email",)
    )
    result = items(export)
    bad = [i for i in result if isinstance(i, BadRow)]
    # Its attendee e-mail is not an address: the name and buyer are screened all the same.
    assert [(b.line, b.ref) for b in bad] == [(2201, "DEMO-02200")]
    assert bad[0].reason.endswith("the rest of the row was")
    by_line = {i.line: i for i in result if isinstance(i, Row)}
    assert len(by_line) == gen["DEFAULT_ROWS"]
    assert by_line[2201] == Row(
        2201, "DEMO-02200", "lindqvist ravi", None, None, "ravi.lindqvist.2200@example.com"
    )
    # An unassigned ticket: no attendee, screened through the buyer's address.
    assert by_line[401] == Row(401, "DEMO-00400", None, None, None, "attendee.400@example.net")
    assert by_line[118] == Row(118, "DEMO-00117", "blake jordan", "jordan.blake@example.net")
    assert by_line[1025] == Row(1025, "DEMO-01024", "rivera sam", "sam.r@another.example")
    assert by_line[1874] == Row(1874, "DEMO-01873", "angstrom zoe", "zoe.angstrom@example.org")
    assert by_line[2651] == Row(
        2651, "DEMO-02650", normalize_name("María José García-López"), "mj.garcia@example.es"
    )


def test_shipped_demo_export_is_not_stale(tmp_path: Path) -> None:
    fresh = tmp_path / "demo.csv"
    _generator()["write_export"](fresh)
    assert fresh.read_bytes() == DEMO_CSV.read_bytes(), (
        "src/lanyard/cli/data/demo_attendees.csv is stale: "
        "run python scripts/make_demo_export.py src/lanyard/cli/data/demo_attendees.csv"
    )
