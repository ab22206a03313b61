"""The transparency report: its sections, its rules (initial, final, reminder, a single
report), and the privacy check that must refuse every identifier the agent holds.

An agent directory with real SQLite files, real incident records (filed, decided by two
members, closed through IncidentService) and screened attendees is built once per module;
the report is then composed from it many times, because composing is pure and cheap.
Every person and text in the records is a canary with a unique tag.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import DataDirError, InvalidRequest, NotAllowed
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Decision, Incident, Report, ReportedPerson
from lanyard.agent.incidents.service import Caller
from lanyard.agent.screening.decision import CLEAR
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.store import Identity, Screened
from lanyard.agent.transparency import privacy, service
from lanyard.agent.transparency import settings as tsettings
from lanyard.agent.transparency.privacy import PrivacyLeak
from lanyard.agent.transparency.settings import HistoryEntry, Settings
from lanyard.core import identity
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import Kind

PASSPHRASE = "correct horse battery staple"
UNLOCK = crypto.Unlock(passphrase=PASSPHRASE)
TAG = uuid.uuid4().hex[:8]
EVENT_DAY = date(2027, 5, 3)
URL = "https://agentconf.example/conduct"


@dataclass(frozen=True)
class Canaries:
    """Every identifier and text the records hold, by the field code the check reports."""

    reporter_name: str = f"Reporter Canary{TAG}"
    reporter_contact: str = f"reporter.{TAG}@example.org"
    reported_name: str = f"Reported Canary{TAG}"
    bad_actor: str = f"Actor Canary{TAG}"
    received_by: str = f"Receiver Canary{TAG}"
    description: str = f"Description canary{TAG}: he kept touching my shoulder near the poster wall"
    location: str = f"Room canary{TAG}"
    circumstances: str = f"Circumstances canary{TAG} at the party"
    others_involved: str = f"Witness canary{TAG}"
    category: str = f"Category canary{TAG}"
    note: str = f"Note canary{TAG}: spoke with both of them in the quiet room"
    conflict_reason: str = f"Conflict canary{TAG} friends since school"
    reasoning: str = f"Reasoning canary{TAG} first time and apologised"
    other_resolution: str = f"Resolution canary{TAG} moved to another hotel"
    second_reporter: str = f"Second Reporter{TAG}"
    attendee_name: str = f"Attendee Canary{TAG}"
    attendee_email: str = f"attendee.{TAG}@example.net"
    attendee_ref: str = f"ORD-{TAG}"
    member: str = f"quiet{TAG}"


C = Canaries()


def pin(adir: AgentDir, tmp: Path, starts: date, ends: date, name: str = "AgentConf") -> None:
    bundle = tmp / f"bundle-{uuid.uuid4().hex}.json"
    bundle.write_text(
        json.dumps(
            {
                "format": "lanyard-enrolment/1",
                "event_id": f"{name.lower()}-{starts.year}",
                "event_name": name,
                "endpoint": "127.0.0.1:9",
                "registry_public_key": bytes(nacl.signing.SigningKey.generate().verify_key).hex(),
                "suite": "test",
                "starts_on": starts.isoformat(),
                "ends_on": ends.isoformat(),
            }
        )
    )
    adir.pin(bundle)


async def make_agent(
    root: Path, ends: date = EVENT_DAY, open_case: bool = True, name: str = "AgentConf"
) -> AgentDir:
    """An enrolled agent (no registry needed) with canary incidents and attendees: one
    incident decided by two members and closed, one (with `open_case`) still open."""
    adir = AgentDir(root / "agent")
    agent_operator.init_agent(adir, "127.0.0.1:0")
    pin(adir, root, ends.replace(day=1), ends, name)
    agent_operator.init_incidents(adir, UNLOCK, "interactive")
    async with agent_operator.incident_records(adir, UNLOCK) as records:
        operator = Caller("operator", "operator")
        for member, role in (
            ("chair", "chair"),
            ("ana", "responder"),
            ("ben", "responder"),
            ("vic", "volunteer"),
            (C.member, "responder"),
        ):
            await records.add_member(
                operator, member, role, bytes(nacl.signing.SigningKey.generate().verify_key)
            )
        vic, ana, chair = (
            Caller("vic", "volunteer"),
            Caller("ana", "responder"),
            Caller("chair", "chair"),
        )
        first = await records.file(
            vic,
            Report(
                reporter_name=C.reporter_name,
                reporter_contact=C.reporter_contact,
                received_by=C.received_by,
                reported=[ReportedPerson(C.reported_name, "speaker")],
                description=C.description,
                location=C.location,
                circumstances=C.circumstances,
                others_involved=C.others_involved,
                venue_security_called="yes",
                category="Unwanted physical contact",
            ),
        )
        iid = first.incident_id
        await records.add_note(ana, iid, C.note, ["ana", C.member])
        await records.declare_conflict(
            Caller(C.member, "responder"), iid, "", C.conflict_reason, True
        )
        decision = Decision(
            violation="yes",
            bad_actors=[C.bad_actor],
            resolutions=["warning", "other"],
            other_resolution=C.other_resolution,
            reasoning=C.reasoning,
        )
        await records.decide(ana, iid, decision)
        decided = await records.decide(chair, iid, decision)
        await records.update(ana, iid, decided.version, status="closed")
        if open_case:
            await records.file(
                vic,
                Report(
                    reporter_name=C.second_reporter,
                    reported=[ReportedPerson("", "attendee")],
                    description="Someone shouted at a volunteer at the registration desk",
                    category=C.category,
                    law_enforcement_called="yes",
                ),
            )
    store = await SqliteStore.open(adir.db_path)
    try:
        people = [
            (C.attendee_ref, [(Kind.NAME, C.attendee_name), (Kind.EMAIL, C.attendee_email)]),
            ("ORD-ANA", [(Kind.NAME, "Ana Example")]),
        ]
        await store.commit_rows(
            None,
            0,
            1,
            [
                Screened(
                    ref,
                    "attendee",
                    [
                        Identity(kind, identity.message(kind, value), bytes(32))
                        for kind, value in ids
                    ],
                    CLEAR,
                )
                for ref, ids in people
            ],
            [],
        )
    finally:
        await store.close()
    return adir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[AgentDir, service.Records]:
    adir = asyncio.run(make_agent(tmp_path_factory.mktemp("transparency")))
    return adir, asyncio.run(service.gather(adir, UNLOCK, "test"))


@pytest.fixture
def records(built: tuple[AgentDir, service.Records]) -> service.Records:
    return built[1]


def chosen(**changes: Any) -> Settings:
    base = Settings(
        in_person=350,
        online=120,
        team_public=["Ana Example (chair)", "Ben Example (responder)"],
        reporting_channels="E-mail conduct@agentconf.example or find any volunteer in a red "
        "lanyard.",
        published_at=URL,
        history=[
            HistoryEntry(2024, 1, 250, 40, {"warning": 1}, {"harassment": 1}),
            HistoryEntry(2025, 3, 300, 60, {"warning": 2, "leave-event": 1}),
            HistoryEntry(2026, 2, 320, 90, {"no-action": 2}),
        ],
        survey=tsettings.survey(
            {
                "respondents": 212,
                "results": [
                    {
                        "statement": "I knew how to report a Code of Conduct incident",
                        "answers": {"yes": 190, "not sure": 15, "no": 7},
                    }
                ],
            }
        ),
    )
    return replace(base, **changes)


def compose(
    records: service.Records,
    fmt: str = "md",
    settings: Settings | None = None,
    kind: str = "initial",
    count_only: tuple[str, ...] = (),
) -> str:
    s = settings or chosen()
    return service.compose(records, s, kind, fmt, EVENT_DAY, count_only).text


# -- what the report says ----------------------------------------------------------------


def test_markdown_has_every_section_and_only_fixed_words(records: service.Records) -> None:
    text = compose(records)
    for heading in (
        "# Code of Conduct transparency report: AgentConf",
        "## The event",
        "## How reports were handled",
        "## Reports",
        "### By category",
        "### By outcome",
        "### Each report",
        "## Law enforcement and venue security",
        "## Earlier years",
        "## Post-event survey",
    ):
        assert heading in text
    assert "Dates: 2027-05-01 to 2027-05-03" in text
    assert "Attendance: 350 in person, 120 online (470 in total)" in text
    assert "Code of Conduct team: Ana Example (chair); Ben Example (responder)" in text
    assert f"Where this was published: {URL}" in text
    assert "2 reports were received." in text
    assert (
        "1. A speaker made unwanted physical contact; a warning was given; another action; "
        "closed." in text
    )
    assert "2. An attendee was reported for another kind of behaviour; in progress." in text
    assert "| other | 1 |" in text  # the unknown category, never its wording
    assert "Law enforcement and venue security were called." in text
    assert "| 2025 | 300 | 60 | 3 |" in text
    assert "2027 (this event)" in text
    assert "212 people answered." in text
    folded = text.casefold()
    for value in vars(C).values():
        assert str(value).casefold() not in folded
    assert TAG not in text


def test_json_carries_the_figures_and_imports_as_next_years_history(
    records: service.Records,
) -> None:
    data = json.loads(compose(records, "json"))
    assert data["format"] == tsettings.REPORT_FORMAT
    assert data["statistics"]["reports"] == 2
    assert data["statistics"]["by_category"] == {"unwanted physical contact": 1, "other": 1}
    assert data["statistics"]["by_outcome"] == {"warning": 1, "other": 1, "in-progress": 1}
    assert [r["status"] for r in data["statistics"]["each_report"]] == ["closed", "in progress"]
    assert data["law_enforcement_called"] is True
    assert [h["year"] for h in data["history"]] == [2024, 2025, 2026]
    own, *carried = tsettings.entries_from_report(data, include_history=True)
    assert own == HistoryEntry(
        2027,
        2,
        350,
        120,
        {"warning": 1, "other": 1, "in-progress": 1},
        {"unwanted physical contact": 1, "other": 1},
        "imported",
    )
    assert [(h.year, h.reports, h.by_outcome) for h in carried] == [
        (h.year, h.reports, h.by_outcome) for h in chosen().history
    ]
    # Next year's report shows it.
    next_year = replace(records, enrolment=replace(records.enrolment, starts_on=date(2028, 5, 1)))
    later = service.compose(next_year, chosen(history=[own]), "initial", "md", date(2028, 5, 3))
    assert "| 2027 | 350 | 120 | 2 |" in later.text


def test_html_is_self_contained_with_an_svg_chart(records: service.Records) -> None:
    page = compose(records, "html")
    assert page.startswith("<!DOCTYPE html>")
    for part in ("<svg", "<rect", "Reports per year"):
        assert part in page
    assert page.count(URL) == 2  # the link's address and its text
    rest = page.replace(URL, "")
    assert "http" not in rest
    for external in ("<script", "src=", "url(", "@import", "<link", "xmlns"):
        assert external not in rest
    assert "A speaker made unwanted physical contact" in page


def test_history_shows_at_most_five_earlier_years(records: service.Records) -> None:
    history = [HistoryEntry(year, year - 2010) for year in range(2015, 2027)]
    data = json.loads(compose(records, "json", settings=chosen(history=history)))
    assert [h["year"] for h in data["history"]] == [2022, 2023, 2024, 2025, 2026]


def test_team_roles_only_and_without_names(records: service.Records) -> None:
    text = compose(records, settings=chosen(team_roles_only=True))
    assert "Code of Conduct team: chair; responder" in text
    assert "Ana Example" not in text
    text = compose(records, settings=chosen(team_public=[]))
    assert (
        "Code of Conduct team: one chair; three responders; one volunteer who took reports" in text
    )


# -- initial, final, reminder --------------------------------------------------------------


def test_final_is_refused_while_a_case_is_open(records: service.Records) -> None:
    with pytest.raises(NotAllowed, match=r"every incident closed.*incident 2"):
        compose(records, kind="final")


def test_final_shows_no_case_in_progress(records: service.Records) -> None:
    closed_only = replace(records, incidents=[i for i in records.incidents if i.status == "closed"])
    text = compose(closed_only, kind="final")
    assert "Final report." in text
    assert "in progress" not in text
    assert "1 report was received." in text


async def test_reminder_after_thirty_days_without_a_final_report(tmp_path: Path) -> None:
    adir = AgentDir(tmp_path / "agent")
    agent_operator.init_agent(adir, "127.0.0.1:0")
    pin(adir, tmp_path, date(2027, 5, 1), EVENT_DAY)
    with capture_logs() as logs:
        assert service.reminder(adir, date(2027, 6, 2)) is None  # day 30: not yet
        sentence = service.reminder(adir, date(2027, 6, 3))
    assert sentence is not None
    assert "--final" in sentence
    assert "2027-05-03" in sentence
    assert logs == [
        {
            "event": "transparency.final_overdue",
            "event_id": "agentconf-2027",
            "log_level": "warning",
        }
    ]
    service.record_final(adir, date(2027, 6, 3))
    assert service.reminder(adir, date(2027, 9, 1)) is None
    assert tsettings.load_stored(adir).final_written_on == "2027-06-03"


# -- a category with a single report --------------------------------------------------------


def test_single_report_categories_are_shown_unless_the_chair_asks(
    records: service.Records,
) -> None:
    shown = service.compose(records, chosen(), "initial", "md", EVENT_DAY)
    assert sorted(shown.report.single_detailed) == ["other", "unwanted physical contact"]
    text = compose(records, count_only=("unwanted physical contact",))
    assert "made unwanted physical contact" not in text
    assert "Unwanted physical contact: 1 report; details withheld" in text
    assert "a warning was given" not in text.split("## Law")[0]  # not even by outcome
    assert "| details withheld | 1 |" in text
    assert "1. An attendee was reported for another kind of behaviour" in text
    both = service.compose(records, chosen(), "initial", "json", EVENT_DAY, (), True)
    data = json.loads(both.text)
    assert data["statistics"]["each_report"] == []
    assert data["statistics"]["by_outcome"] == {"withheld": 2}
    assert both.report.single_detailed == []
    with pytest.raises(InvalidRequest, match="count-only"):
        compose(records, count_only=("things that happened",))


# -- the privacy check ---------------------------------------------------------------------

PLANTED = {
    "reporter_name": C.reporter_name,
    "reporter_contact": C.reporter_contact,
    "reported_name": C.reported_name,
    "bad_actor": C.bad_actor,
    "description": " ".join(C.description.split()[2:9]),  # a run copied out of it
    "location": C.location,
    "circumstances": C.circumstances,
    "others_involved": C.others_involved,
    "category": C.category,
    "note": C.note.split(":")[1],
    "conflict_reason": C.conflict_reason,
    "reasoning": C.reasoning,
    "other_resolution": C.other_resolution,
    "attendee_name": C.attendee_name,
    "attendee_email": C.attendee_email.upper(),
    "attendee_ref": C.attendee_ref,
    "member": C.member,
}
SPELLED_DIFFERENTLY = {
    "reporter_name": f"CANARY{TAG}, Reporter",
    "attendee_name": f"canary{TAG.upper()} attendee",
    "reporter_contact": f"Reporter.{TAG}+report@Example.ORG",
}
WHERE = {
    "channels": "the reporting channels text",
    "team": "the team's public names",
    "survey": "the survey results",
    "url": "the published-at address",
}


def planted(where: str, value: str) -> Settings:
    if where == "channels":
        return chosen(reporting_channels=f"Write to us, or ask {value} at the desk.")
    if where == "team":
        return chosen(team_public=["Ana Example (chair)", f"{value} (responder)"])
    if where == "url":
        return chosen(published_at=f"{URL}/{value.replace(' ', '-').replace('@', '%40')}")
    return chosen(
        survey=tsettings.survey(
            {"results": [{"statement": f"I trusted {value}", "answers": {"yes": 3}}]}
        )
    )


# The team's public names may name team members, who are usually attendees too (below).
CASES = [
    (code, where)
    for code in sorted(PLANTED)
    for where in ("channels", "team", "survey")
    if not (where == "team" and code in ("attendee_name", "member"))
]


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
@pytest.mark.parametrize(("code", "where"), CASES)
def test_each_canary_planted_in_a_public_field_is_caught(
    records: service.Records, code: str, where: str, fmt: str
) -> None:
    with pytest.raises(PrivacyLeak) as info:
        compose(records, fmt, settings=planted(where, PLANTED[code]))
    assert info.value.field_code == code
    sentence = str(info.value)
    assert sentence.startswith("the report would reveal ")
    assert sentence.endswith("; nothing was written")
    assert WHERE[where] in sentence
    assert TAG not in sentence.casefold()
    if code not in ("attendee_name", "attendee_email", "attendee_ref", "member"):
        assert "(incident " in sentence


@pytest.mark.parametrize("code", sorted(SPELLED_DIFFERENTLY))
def test_canaries_are_caught_however_spelled(records: service.Records, code: str) -> None:
    with pytest.raises(PrivacyLeak) as info:
        compose(records, settings=planted("channels", SPELLED_DIFFERENTLY[code]))
    assert info.value.field_code == code


def test_a_name_split_across_lines_is_caught_in_json(records: service.Records) -> None:
    channels = f"Ask Reporter\nCanary{TAG} at the desk."
    with pytest.raises(PrivacyLeak, match="reporter name"):
        compose(records, "json", settings=chosen(reporting_channels=channels))


def test_a_canary_in_the_published_address_is_caught(records: service.Records) -> None:
    with pytest.raises(PrivacyLeak, match="published-at address"):
        compose(records, "html", settings=planted("url", C.reporter_contact))


def test_a_team_name_equal_to_a_reporters_is_refused(records: service.Records) -> None:
    team = ["Ana Example (chair)", f"{C.reporter_name} (responder)"]
    with pytest.raises(PrivacyLeak) as info:
        compose(records, settings=chosen(team_public=team))
    assert str(info.value) == (
        "the report would reveal an incident's reporter name (incident 1) in the team's "
        "public names; nothing was written"
    )


def test_what_reveals_no_one_passes(records: service.Records) -> None:
    # The team's named members are attendees too ("Ana Example"); the member "chair" is
    # also a word of the report; the description's words "unwanted physical contact"
    # are a category's; short words like "the" are everywhere.
    text = compose(
        records,
        settings=chosen(reporting_channels="Ask Ana Example or the chair: talk to any volunteer."),
    )
    assert "Ana Example or the chair" in text


def test_the_team_may_name_its_members_who_are_attendees(records: service.Records) -> None:
    team = ["Ana Example (chair)", f"{C.attendee_name} (responder)", f"{C.member} (responder)"]
    assert C.attendee_name in compose(records, settings=chosen(team_public=team))


def test_names_are_not_exempt_when_the_team_is_shown_by_role(records: service.Records) -> None:
    s = chosen(team_roles_only=True, reporting_channels="Ask Ana Example at the desk.")
    # The member "ana" and the attendee "Ana Example" both.
    with pytest.raises(PrivacyLeak, match=r"team member's name .*and 1 other identifier"):
        compose(records, settings=s)


def test_every_leak_is_counted_but_only_the_first_named(records: service.Records) -> None:
    channels = f"Ask {C.reported_name} or {C.attendee_email}, or {C.member}."
    with pytest.raises(PrivacyLeak, match=r"reported person's name \(incident 1\).*and 2 other"):
        compose(records, settings=chosen(reporting_channels=channels))


def test_held_identifiers_come_from_the_database(records: service.Records) -> None:
    held = records.held
    assert ("email", C.attendee_email) in held.identities
    assert ("name", identity.normalize_name(C.attendee_name)) in held.identities
    assert C.attendee_ref in held.refs
    assert (C.member, "responder") in held.members


@given(st.text(max_size=200))
def test_tokens_normalise_as_names_do(text: str) -> None:
    try:
        expected = identity.normalize_name(text).split()
    except InvalidIdentifier:
        expected = []
    assert sorted(privacy.tokens(text)) == expected


# -- settings --------------------------------------------------------------------------------


@pytest.fixture
def bare(tmp_path: Path) -> AgentDir:
    adir = AgentDir(tmp_path / "agent")
    agent_operator.init_agent(adir, "127.0.0.1:0")
    pin(adir, tmp_path, date(2027, 5, 1), EVENT_DAY)
    return adir


def test_settings_file_is_private_and_agent_toml_fills_gaps(bare: AgentDir) -> None:
    with bare.config_path.open("a", encoding="utf-8") as fh:
        fh.write('\n[transparency]\nin_person = 10\nonline = 5\nreporting_channels = "toml"\n')
    stored = tsettings.load_stored(bare)
    stored.online = 7
    tsettings.save(bare, stored)
    assert tsettings.path(bare).stat().st_mode & 0o777 == 0o600
    merged = tsettings.load(bare)
    assert (merged.in_person, merged.online, merged.reporting_channels) == (10, 7, "toml")


def test_bad_settings_are_refused(bare: AgentDir) -> None:
    with pytest.raises(InvalidRequest, match="http"):
        tsettings.published_at("javascript:alert(1)")
    with pytest.raises(InvalidRequest, match="unknown outcome"):
        tsettings.history_entry({"year": 2025, "reports": 1, "by_outcome": {"jail": 1}}, "entered")
    with pytest.raises(InvalidRequest, match="not the JSON of a Lanyard"):
        tsettings.entries_from_report({"reports": 3}, False)
    with pytest.raises(InvalidRequest, match="survey"):
        tsettings.survey({"results": "all good"})
    tsettings.path(bare).write_text('{"format": "something else"}')
    with pytest.raises(DataDirError, match="not a Lanyard transparency settings file"):
        tsettings.load(bare)


def test_a_phone_contact_is_caught_however_grouped() -> None:
    incident = Incident(7, Report(description="x", reporter_contact="+49 170 5550123"), "vic", "")
    found = privacy.needles([incident], privacy.HeldIdentifiers())
    for text, leaks in (
        ("Call +49 (170) 555-0123 any time.", True),
        ("Call 0800 1234 567 any time.", False),
    ):
        assert bool(privacy.find_leaks(text, [""], "", [], found)) is leaks, text


def test_removed_members_no_longer_count_as_the_team(records: service.Records) -> None:
    held = dataclasses.replace(
        records.held,
        members=[*records.held.members, ("gone", "responder")],
        current_roles=[r for r in records.held.current_roles if r != "volunteer"],
    )
    text = compose(dataclasses.replace(records, held=held), settings=chosen(team_public=[]))
    assert "Code of Conduct team: one chair; three responders" in text
    assert "volunteer" not in text.split("Code of Conduct team:")[1].split("\n")[0]
