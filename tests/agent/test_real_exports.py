"""The exports organisers really have (../shared/exports), screened by a real agent against
a real registry holding the records of ../shared/exports/records.md: every listed person
found, with the decision expected, and whether it was the attendee or the buyer."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent.screening.batch import ScreenOutcome, screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.agent.service import AgentService
from lanyard.cli.output import console
from lanyard.cli.screening import commands as screen_cmds
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir, used
from tests.spec import EXPORTS_DIR

# records.md: (ref, status, e-mail or None, name)
RECORDS = [
    ("WG-001", "banned", "zoe.angstrom@example.org", "Zoë Ångström"),
    ("WG-002", "banned", "maria.jose.garcia@gmail.com", "María José García-López"),
    ("WG-004", "banned", "sean.obrien@example.ie", "Seán O'Brien"),
    ("WG-005", "flagged", None, "山田 太郎"),
    ("WG-006", "banned", "isil.yildiz@ornek.com.tr", "Işıl Yıldız"),
    ("WG-007", "flagged", None, "Jürgen Großmann"),
    ("WG-008", "banned", "duc.nguyen@example.vn", "Nguyễn Văn Đức"),
    ("WG-010", "banned", "lucja@przykład.pl", "Łucja Wróbel"),
    ("WG-014", "banned", "dana.quill@example.net", "Quill, Dana"),
]

# file -> ({(line, person): (decision, record)}, rows screened, {decision: rows})
EXPECTED: dict[str, tuple[dict[tuple[int, str], tuple[str, str]], int, dict[str, int]]] = {
    "pretix_en_default_no_attendee_email.csv": (
        {
            (3, "attendee"): ("review", "WG-001"),
            (3, "buyer"): ("deny", "WG-001"),
            (4, "buyer"): ("deny", "WG-004"),
        },
        3,
        {"allow": 1, "deny": 2},
    ),
    "tito_cjk_ideographic_space.csv": (
        {(2, "attendee"): ("review", "WG-005"), (2, "buyer"): ("review", "WG-005")},
        2,
        {"allow": 1, "review": 1},
    ),
    "excel_de_semicolon_header_commas.csv": (
        {(2, "attendee"): ("deny", "WG-001")},
        2,
        {"allow": 1, "deny": 1},
    ),
    "excel_sep_hint_line.csv": ({(3, "attendee"): ("deny", "WG-001")}, 2, {"allow": 1, "deny": 1}),
    "long_free_text_answer_200k.csv": (
        {(4, "attendee"): ("deny", "WG-001")},
        3,
        {"allow": 2, "deny": 1},
    ),
    "long_multiline_answer_192k.csv": (
        {(23, "attendee"): ("deny", "WG-001"), (24, "attendee"): ("deny", "WG-004")},
        3,
        {"allow": 1, "deny": 2},
    ),
    "zero_width_and_soft_hyphen.csv": (
        {
            (2, "attendee"): ("deny", "WG-001"),
            (3, "attendee"): ("deny", "WG-004"),
            (4, "attendee"): ("deny", "WG-014"),
            (5, "attendee"): ("review", "WG-007"),
            (6, "attendee"): ("review", "WG-001"),
        },
        6,
        {"allow": 1, "deny": 3, "review": 2},
    ),
    "idn_punycode_email.csv": (
        {(2, "attendee"): ("deny", "WG-010"), (3, "attendee"): ("deny", "WG-010")},
        2,
        {"deny": 2},
    ),
    "non_decomposable_letters_ascii.csv": (
        {
            (2, "attendee"): ("review", "WG-010"),
            (3, "attendee"): ("review", "WG-008"),
            (4, "attendee"): ("review", "WG-006"),
            (5, "attendee"): ("review", "WG-007"),
            (6, "attendee"): ("review", "WG-006"),
        },
        5,
        {"review": 5},
    ),
    "formula_injection_names.csv": (
        {
            (2, "attendee"): ("deny", "WG-001"),
            (3, "attendee"): ("deny", "WG-004"),
            (4, "attendee"): ("deny", "WG-014"),
            (5, "attendee"): ("deny", "WG-002"),
        },
        # Kim Ondrej's e-mail is not an address: his name is screened all the same.
        5,
        {"allow": 1, "deny": 4},
    ),
    "terminal_escape_in_ref.csv": ({(2, "attendee"): ("deny", "WG-001")}, 1, {"deny": 1}),
}


def test_every_shared_export_has_a_test() -> None:
    assert {p.name for p in EXPORTS_DIR.glob("*.csv")} == set(EXPECTED)


@pytest.fixture
async def listed_agent(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> AsyncIterator[AgentService]:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    for ref, status, email, name in RECORDS:
        identifiers = [Identifier(Kind.NAME, name)]
        if email:
            identifiers.append(Identifier(Kind.EMAIL, email))
        await admin.add_record(ref, status, identifiers)
    async with agent_operator.opened(adir) as service:
        yield service


async def screen(agent: AgentService, name: str, **flags: str) -> ScreenOutcome:
    return await screen_export(agent, open_export(EXPORTS_DIR / name, **flags))


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_listed_people_are_found(listed_agent: AgentService, name: str) -> None:
    matches, screened, counts = EXPECTED[name]
    outcome = await screen(listed_agent, name)
    report = outcome.report
    found = {
        (m.line, m.person): (m.result.decision.value, m.result.record_ref) for m in report.matches
    }
    assert found == matches
    assert report.screened == screened
    assert report.counts == counts


async def test_identical_identifiers_are_evaluated_once_per_run(
    listed_agent: AgentService, admin: AdminClient
) -> None:
    before = await used(admin)
    outcome = await screen(listed_agent, "idn_punycode_email.csv")
    # Two rows, one name and one address between them (punycode and Unicode are one).
    assert outcome.report.screened == 2
    assert await used(admin) - before == 2


async def test_csv_out_neutralises_formula_cells(
    listed_agent: AgentService, tmp_path: Path
) -> None:
    export = open_export(EXPORTS_DIR / "formula_injection_names.csv", ref_col="Name")
    outcome = await screen_export(listed_agent, export)
    out = tmp_path / "results.csv"
    screen_cmds._write_out(out, screen_cmds._outcome_json(outcome, export))
    text = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    refs = [r[2] for r in rows[1:5]]
    assert all(ref.startswith("'") for ref in refs), refs
    assert refs[0].startswith("'=HYPERLINK(")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    # Each match names the columns its person was read from.
    assert rows[0][-1] == "columns"
    assert rows[1][-1] == "name: Name; e-mail: Email"


async def test_terminal_output_escapes_control_characters(listed_agent: AgentService) -> None:
    export = open_export(EXPORTS_DIR / "terminal_escape_in_ref.csv", ref_col="Name")
    outcome = await screen_export(listed_agent, export)
    with console.capture() as captured:
        screen_cmds.print_outcome(outcome, export)
    shown = captured.get()
    assert "\x1b" not in shown
    assert "\\x1b[2J" in shown
    assert "WG-001" in shown


async def test_double_encoded_names_are_repaired_counted_and_found(
    listed_agent: AgentService, tmp_path: Path
) -> None:
    mojibake = "Seán O'Brien".encode().decode("cp1252")  # what a wrong re-save leaves
    path = tmp_path / "mojibake.csv"
    path.write_text(f"Name,Email\n{mojibake},\nKim Ondrej,kim@example.cz\n", encoding="utf-8")
    outcome = await screen_export(listed_agent, open_export(path))
    assert outcome.repaired_rows == 1
    assert [(m.line, m.result.record_ref) for m in outcome.report.matches] == [(2, "WG-004")]
    export = open_export(path)
    with console.capture() as captured:
        screen_cmds.print_outcome(outcome, export)
    assert "1 with double-encoded text repaired" in " ".join(captured.get().split())


async def test_what_a_row_could_not_give_is_reported_and_the_rest_screened(
    listed_agent: AgentService, tmp_path: Path
) -> None:
    """The review's false clears, end to end: a placeholder in the buyer's e-mail, wrapped
    addresses, an unquoted comma, a twin column, a quote left open."""
    path = tmp_path / "hostile.csv"
    path.write_text(
        "Name,Email,Buyer email,Email\r\n"
        "Dana Quill,dana.quill@example.net,n/a,\r\n"  # 2: deny, buyer not screened
        "Kim Ondrej,<zoe.angstrom@example.org>,,\r\n"  # 3: deny (unwrapped)
        "Lee Park,mailto:sean.obrien@example.ie;,,\r\n"  # 4: deny (unwrapped)
        "Quill, Dana,someone@else.org,,\r\n"  # 5: shifted cells: not screened
        "Alex Fennimore,,,maria.jose.garcia@gmail.com\r\n"  # 6: deny (twin column)
        '"Ana Souza,ana@example.org,,\r\n'  # 7-8: a quote left open swallows line 8
        "Seán O'Brien\",,,\r\n"
        "???,n/a,,\r\n",  # 9: nothing usable
        encoding="utf-8",
    )
    export = open_export(path)
    assert any("'Email' appears 2 times" in w for w in export.layout.warnings)
    outcome = await screen_export(listed_agent, export, batch_rows=2)
    report = outcome.report
    found = {
        (m.line, m.person): (m.result.decision.value, m.result.record_ref) for m in report.matches
    }
    assert found == {
        (2, "attendee"): ("deny", "WG-014"),
        (3, "attendee"): ("deny", "WG-001"),
        (4, "attendee"): ("deny", "WG-004"),
        (6, "attendee"): ("deny", "WG-002"),
    }
    assert (report.screened, report.counts) == (4, {"deny": 4})
    skipped = {s.line: s.reason for s in report.skipped}
    assert sorted(skipped) == [2, 5, 7, 9]
    assert skipped[2] == (
        "the buyer's e-mail ('n/a') is invalid (e-mail address must contain exactly one "
        "'@') and was not screened; the rest of the row was"
    )
    assert skipped[5].startswith("line 5 has 5 cells but the header has 4 (a comma")
    assert "lines 7-8 were read as one row and not screened" in skipped[7]
    assert skipped[9].endswith("the row has nothing else to screen: fix it in the export")
    for reason in skipped.values():  # never a name or an address
        assert not any(w in reason.casefold() for w in ("quill", "dana", "souza", "ana@", "@else"))
    with console.capture() as captured:
        screen_cmds.print_outcome(outcome, export)
    shown = " ".join(captured.get().replace("│", " ").split())
    assert "4 deny" in shown
    assert "the buyer's e-mail ('n/a') is invalid" in shown
    assert "was not screened; the rest of the row was" in shown
