"""Re-checks after a delta look at the people it concerns — those holding a tag it added
or removed, and those stored since (by this process or another) — and still find every
new match and every cleared one; anything else re-checks everyone."""

from __future__ import annotations

import gc
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from lanyard.agent import operator as agent_operator
from lanyard.agent.recheck import PeopleIndex, collection_paused
from lanyard.agent.screening.batch import screen_export
from lanyard.agent.screening.csv_import import open_export
from lanyard.agent.screening.decision import Decision, Reason
from lanyard.agent.service import AgentService
from lanyard.client.admin import Identifier
from lanyard.core import screen
from lanyard.core.identity import Kind
from tests.agent.conftest import AgentSetup


def _rechecks(logs: list[MutableMapping[str, Any]]) -> list[tuple[str, int, int]]:
    return [
        (e["scope"], e["attendees"], e["changes"]) for e in logs if e["event"] == "agent.rechecked"
    ]


async def test_a_delta_rechecks_only_whom_it_concerns_and_finds_them(
    agent: AgentService, setup: AgentSetup
) -> None:
    for i in range(5):
        await agent.check(f"Bystander {i}", f"by{i}@example.org", "attendee", f"B-{i}")
    await agent.check("Late Addition", "late@example.org", "attendee", "ORDER-9")
    await agent.recheck_now()  # a full re-check: who holds which tag is known from here
    with capture_logs() as logs:
        await setup.admin.add_record(
            "WG-LATE", "banned", [Identifier(Kind.EMAIL, "late@example.org")]
        )
        raised = await agent.sync()
        await setup.admin.remove_record("WG-LATE")
        cleared = await agent.sync()
        await setup.admin.add_record("WG-ELSE", "flagged", [Identifier(Kind.NAME, "Nobody Here")])
        assert await agent.sync() == []
    assert [(a.ref, a.kind, a.result.reason) for a in raised] == [
        ("ORDER-9", "new-match", Reason.BANNED_CONFIRMED)
    ]
    assert [(a.ref, a.kind, a.result.decision) for a in cleared] == [
        ("ORDER-9", "cleared", Decision.ALLOW)
    ]
    # Six people are stored; each delta looked at the one it concerned, then at none.
    assert _rechecks(logs) == [("changed", 1, 1), ("changed", 1, 1), ("changed", 0, 0)]


async def test_a_person_stored_by_another_process_is_rechecked_by_the_next_delta(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.check("First Person", "first@example.org", "attendee", "A-1")
    await agent.recheck_now()
    # `lanyard check` in another process stores someone this agent has never seen.
    async with agent_operator.opened(setup.adir) as other:
        answer = await other.check("Other Person", "other@example.org", "attendee", "A-2")
    assert answer.decision == Decision.ALLOW
    with capture_logs() as logs:
        await setup.admin.add_record(
            "WG-OTHER", "flagged", [Identifier(Kind.EMAIL, "other@example.org")]
        )
        raised = await agent.sync()
    assert [(a.ref, a.kind, a.result.reason) for a in raised] == [
        ("A-2", "new-match", Reason.FLAGGED_CONFIRMED)
    ]
    assert _rechecks(logs) == [("changed", 1, 1)]


async def test_without_a_full_recheck_in_this_process_a_delta_rechecks_everyone(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.check("Some Body", "some@example.org", "attendee", "S-1")
    async with agent_operator.opened(setup.adir) as fresh:  # as after a restart
        await fresh.sync()
        with capture_logs() as logs:
            await setup.admin.add_record(
                "WG-SOME", "banned", [Identifier(Kind.EMAIL, "some@example.org")]
            )
            raised = await fresh.sync()
    assert [(a.ref, a.kind) for a in raised] == [("S-1", "new-match")]
    assert [scope for scope, _, _ in _rechecks(logs)] == ["all"]


async def test_one_alert_per_identity_and_change_names_every_file_row(
    agent: AgentService, setup: AgentSetup, tmp_path: Path
) -> None:
    """Exports without a reference column: the same address in two files, under two
    spellings of the name, is one person. A change raises one alert about them that names
    each file and line, and a "cleared" alert names the record that no longer matches."""
    daily = tmp_path / "daily.csv"
    daily.write_text(
        "Name,Email\nAnn A,ann@example.com\nBob B,bob@example.com\nCat C,cat@example.com\n"
    )
    second = tmp_path / "t2.csv"
    second.write_text("Name,Email\nDee D,dee@example.com\nAnn,ann@example.com\n")
    for export in (daily, second):
        await screen_export(agent, open_export(export))
    await agent.recheck_now()
    await setup.admin.add_record("WG-ANN", "banned", [Identifier(Kind.EMAIL, "ann@example.com")])
    await setup.admin.add_record("WG-BOB", "flagged", [Identifier(Kind.EMAIL, "bob@example.com")])
    raised = await agent.sync()  # one delta for both records
    assert [
        (a.label, [o.label for o in a.also], a.kind, a.result.decision, a.record_ref)
        for a in raised
    ] == [
        ("daily.csv line 2", ["t2.csv line 3"], "new-match", Decision.DENY, "WG-ANN"),
        ("daily.csv line 3", [], "new-match", Decision.REVIEW, "WG-BOB"),
    ]
    assert raised[0].previous is not None
    assert raised[0].previous.decision == Decision.ALLOW
    # Both of Ann's rows hold the new result, though one alert names them.
    results = await agent.store.results()
    assert sorted(r.record_ref for r in results.values() if r.reason) == [
        "WG-ANN",
        "WG-ANN",
        "WG-BOB",
    ]

    await setup.admin.remove_record("WG-ANN")
    cleared = await agent.sync()
    assert [(a.label, [o.label for o in a.also], a.kind) for a in cleared] == [
        ("daily.csv line 2", ["t2.csv line 3"], "cleared")
    ]
    [gone] = cleared
    assert (gone.result.decision, gone.result.record_ref) == (Decision.ALLOW, "")
    assert gone.previous is not None
    assert (gone.previous.reason, gone.record_ref) == (Reason.BANNED_CONFIRMED, "WG-ANN")
    # As stored: what `lanyard alerts` reads back is what was raised.
    stored = {a.alert_id: a for a in await agent.alerts()}
    assert [stored[a.alert_id] for a in (*raised, *cleared)] == [*raised, *cleared]


def test_the_index_knows_every_holder_of_a_tag_once() -> None:
    index = PeopleIndex(epoch=1, built_at=0.0)
    y, other = b"\x01" * 32, b"\x02" * 32
    index.add(1, Kind.EMAIL, y)
    index.add(2, Kind.EMAIL, y)  # the same person screened again: a second attendee
    index.add(3, Kind.NAME, y)
    index.add(2, Kind.EMAIL, y)
    index.add(4, Kind.NAME, other)
    assert index.holders(screen.tag(1, y)) == (1, 2, 3)
    assert index.holders(screen.tag(1, other)) == (4,)
    assert index.holders(screen.tag(2, y)) == ()


def test_the_collector_is_paused_only_while_a_recheck_builds() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: left as it was
    finally:
        gc.enable()


async def test_rows_of_one_identity_whose_changes_differ_are_separate_alerts(
    agent: AgentService, setup: AgentSetup, tmp_path: Path
) -> None:
    """One address on two rows: one row was already under review (its name is flagged),
    the other clear. A ban on the address makes both deny, but one is a new match and the
    other a change: two alerts, each saying what it was before."""
    await setup.admin.add_record("WG-NAME", "flagged", [Identifier(Kind.NAME, "Eve Flagname")])
    export = tmp_path / "eve.csv"
    export.write_text("Name,Email\nEve Flagname,eve@example.com\nEve Other,eve@example.com\n")
    await screen_export(agent, open_export(export))
    await setup.admin.add_record("WG-EVE", "banned", [Identifier(Kind.EMAIL, "eve@example.com")])
    raised = await agent.sync()
    assert sorted(
        (a.label, [o.label for o in a.also], a.kind, a.previous.decision if a.previous else None)
        for a in raised
    ) == [
        ("eve.csv line 2", [], "changed", Decision.REVIEW),
        ("eve.csv line 3", [], "new-match", Decision.ALLOW),
    ]
    assert {a.result.decision for a in raised} == {Decision.DENY}
