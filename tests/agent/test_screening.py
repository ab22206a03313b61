"""Batch screening against a real registry: matches, summary, resume, faults."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent.errors import Unavailable
from lanyard.agent.screening.batch import ScreenOutcome, count_lines, layout_key, screen_export
from lanyard.agent.screening.csv_import import file_digest, open_export
from lanyard.agent.screening.decision import Decision, Reason
from lanyard.agent.service import AgentService
from lanyard.client.admin import Identifier
from lanyard.core.identity import Kind
from lanyard.core.workers import Workers
from tests.agent.conftest import AgentSetup, enrolled_agent_dir, used

DEMO_EXPORT = (
    Path(__file__).resolve().parents[2] / "src" / "lanyard" / "cli" / "data" / "demo_attendees.csv"
)


def write_export(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Order code", "Attendee name", "Attendee email"])
        writer.writerows(rows)
    return path


def crowd(n: int) -> list[tuple[str, str, str]]:
    return [(f"ORD-{i:05d}", f"Person Number{i}", f"person{i}@example.org") for i in range(n)]


async def test_planted_matches_are_found(
    agent: AgentService, tmp_path: Path, setup: AgentSetup
) -> None:
    rows = crowd(40)
    rows[5] = ("ORD-BAN", "BLAKE, Jordan", "Jordan.Blake+conf@Example.NET")
    rows[9] = ("ORD-NAMEONLY", "Jordan Blake", "other@example.org")
    rows[20] = ("ORD-FLAG", "sam  RIVERA", "sam@elsewhere.example")
    rows.append(("ORD-BAD", "", ""))
    export = open_export(write_export(tmp_path / "a.csv", rows))
    outcome = await screen_export(agent, export, batch_rows=7)
    report = outcome.report
    assert report.screened == 40
    assert report.counts == {"allow": 37, "deny": 1, "review": 2}
    found = {
        m.ref: (m.result.decision, m.result.reason, m.result.record_ref) for m in report.matches
    }
    assert found == {
        "ORD-BAN": (Decision.DENY, Reason.BANNED_CONFIRMED, "WG-BAN"),
        "ORD-NAMEONLY": (Decision.REVIEW, Reason.BANNED_POSSIBLE, "WG-BAN"),
        "ORD-FLAG": (Decision.REVIEW, Reason.FLAGGED_POSSIBLE, "WG-FLAG"),
    }
    assert [(s.line, s.reason) for s in report.skipped] == [(42, "no name and no e-mail")]
    # Two identities per good row, each distinct one once per run: "Jordan Blake" is on
    # two rows (5 and 9), so 79.
    assert await used(setup.admin) == 79


async def test_second_run_of_the_same_file_evaluates_nothing(
    agent: AgentService, tmp_path: Path, setup: AgentSetup
) -> None:
    export = open_export(write_export(tmp_path / "a.csv", crowd(30)))
    await screen_export(agent, export)
    before = await used(setup.admin)
    again = await screen_export(agent, open_export(export.path))
    assert again.already_done
    assert again.report.screened == 30
    assert await used(setup.admin) == before


async def test_a_file_screened_before_is_shown_against_the_newest_list(
    agent: AgentService, tmp_path: Path, setup: AgentSetup
) -> None:
    """Screening the same file again shows its stored results re-checked against the WG's
    newest list, never yesterday's "clear" for someone listed since."""
    export = open_export(write_export(tmp_path / "a.csv", crowd(30)))
    first = await screen_export(agent, export)
    assert first.report.counts == {"allow": 30}
    await setup.admin.add_record(
        "WG-LATE", "banned", [Identifier(Kind.EMAIL, "person7@example.org")]
    )
    again = await screen_export(agent, open_export(export.path))
    assert again.already_done
    assert again.report.counts == {"allow": 29, "deny": 1}
    assert [(m.ref, m.result.record_ref) for m in again.report.matches] == [
        ("ORD-00007", "WG-LATE")
    ]


async def test_a_file_screened_before_is_not_shown_when_the_list_cannot_be_refreshed(
    setup: AgentSetup, tmp_path: Path
) -> None:
    async with agent_operator.opened(setup.adir) as agent:
        export = open_export(write_export(tmp_path / "a.csv", crowd(5)))
        await screen_export(agent, export)
    await setup.registry.server.stop(0)
    async with agent_operator.opened(setup.adir) as agent:
        with pytest.raises(Unavailable, match="not re-checked against the WG's newest list"):
            await screen_export(agent, open_export(export.path))


async def test_interrupted_run_resumes_without_loss_or_duplication(
    agent: AgentService, tmp_path: Path, setup: AgentSetup
) -> None:
    export = open_export(write_export(tmp_path / "big.csv", crowd(1000)))
    committed: list[int] = []

    def crash_after_three_batches(rows: int) -> None:
        committed.append(rows)
        if len(committed) == 3:
            raise KeyboardInterrupt  # what Ctrl-C or a kill looks like mid-run

    with pytest.raises(KeyboardInterrupt):
        await screen_export(
            agent, export, progress=crash_after_three_batches, batch_rows=100, in_flight=2
        )
    partial = await used(setup.admin)
    assert 600 <= partial < 2000
    outcome = await screen_export(agent, open_export(export.path), batch_rows=100)
    assert outcome.resumed_after_line == 301
    assert outcome.report.screened == 1000
    assert outcome.report.counts == {"allow": 1000}
    # Committed batches are never evaluated again; at most the batches in flight at the
    # crash are.
    assert 2000 <= await used(setup.admin) <= 2000 + 2 * 200


async def test_ctrl_c_during_a_commit_reports_the_line_the_store_holds(
    agent: AgentService, tmp_path: Path, setup: AgentSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing while a batch's commit is on its connection's thread: the commit
    runs to its end all the same (Pool.transact), so the line reported is read back from
    the store, not the last batch seen to commit (it said line 101 with 201 stored)."""
    export = open_export(write_export(tmp_path / "big.csv", crowd(500)))
    commit = agent.store.commit_rows
    calls = 0

    async def cancelled_as_it_commits(*args: Any) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # lands at the commit's first wait, once it is handed over
        return await commit(*args)

    monkeypatch.setattr(agent.store, "commit_rows", cancelled_as_it_commits)
    lines: list[int] = []
    with pytest.raises(asyncio.CancelledError):
        await screen_export(agent, export, batch_rows=100, in_flight=1, reached=lines.append)
    run = await agent.store.open_run(
        file_digest(export.path), "attendee", layout_key(export), export.path.name
    )
    assert run.last_line == 201  # the second batch committed despite the cancellation
    assert lines[-1] == run.last_line
    monkeypatch.undo()
    outcome = await screen_export(agent, open_export(export.path), batch_rows=100)
    assert outcome.resumed_after_line == 201
    assert outcome.report.screened == 500


async def test_registry_down_keeps_finished_work(setup: AgentSetup, tmp_path: Path) -> None:
    export = open_export(write_export(tmp_path / "a.csv", crowd(600)))
    async with agent_operator.opened(setup.adir) as agent:
        stopped: list[bool] = []

        def stop_registry(rows: int) -> None:
            if not stopped:
                stopped.append(True)
                asyncio.get_running_loop().create_task(setup.registry.server.stop(0))

        with pytest.raises(Unavailable, match="run the same command again to resume"):
            await screen_export(agent, export, progress=stop_registry, batch_rows=100, in_flight=1)
        run = await agent.store.open_run(*_run_key(agent, export))
        assert 100 <= run.last_line < 601
        assert not run.finished


def _run_key(agent: AgentService, export: object) -> tuple[str, str, str, str]:
    from lanyard.agent.screening.batch import layout_key
    from lanyard.agent.screening.csv_import import Export, file_digest

    assert isinstance(export, Export)
    return file_digest(export.path), "attendee", layout_key(export), export.path.name


async def test_registry_down_before_start_screens_nothing(
    setup: AgentSetup, tmp_path: Path
) -> None:
    await setup.registry.server.stop(0)
    export = open_export(write_export(tmp_path / "a.csv", crowd(10)))
    async with agent_operator.opened(setup.adir) as agent:
        with pytest.raises(Unavailable, match="cannot reach the registry"):
            await screen_export(agent, export)
        assert await agent.store.attendee_count() == 0


async def test_speakers_are_screened_as_a_separate_run(agent: AgentService, tmp_path: Path) -> None:
    export = open_export(write_export(tmp_path / "a.csv", crowd(5)))
    first = await screen_export(agent, export, role="attendee")
    second = await screen_export(agent, open_export(export.path), role="speaker")
    assert first.run.run_id != second.run.run_id
    assert not second.already_done


def test_count_lines_is_a_good_total(tmp_path: Path) -> None:
    export = open_export(write_export(tmp_path / "a.csv", crowd(123)))
    assert count_lines(export) == 123


async def test_demo_export_screens_with_planted_matches(
    agent: AgentService, setup: AgentSetup
) -> None:
    await setup.admin.add_record(
        "WG-ZOE", "flagged", [Identifier(Kind.EMAIL, "zoe.angstrom@example.org")]
    )
    path = DEMO_EXPORT
    outcome = await screen_export(agent, open_export(path))
    refs = {m.result.record_ref for m in outcome.report.matches}
    assert {"WG-BAN", "WG-FLAG", "WG-ZOE"} <= refs
    # Row 401's ticket is unassigned: screened through its buyer, not skipped.
    assert len(outcome.report.skipped) == 1


async def test_screening_in_worker_processes_reports_what_threads_report(
    agent: AgentService, tmp_path: Path, setup: AgentSetup
) -> None:
    """Batches of 500 rows send 1,000 points: blinding, the proof check and finalising
    run in the worker processes; an agent kept on threads must report the same."""
    rows = crowd(300)
    rows[5] = ("ORD-BAN", "BLAKE, Jordan", "Jordan.Blake+conf@Example.NET")
    rows[250] = ("ORD-FLAG", "sam  RIVERA", "sam@elsewhere.example")
    path = write_export(tmp_path / "a.csv", rows)
    assert isinstance(agent.executor, Workers)
    assert agent.executor.process_count > 0
    in_processes = await screen_export(agent, open_export(path))
    other = tmp_path / "threads"
    other.mkdir()
    adir = await enrolled_agent_dir(
        other, setup.admin, setup.registry.address, event_id="threadconf-2027"
    )
    async with agent_operator.opened(adir) as on_threads:
        on_threads.executor = Workers("test-threads", processes=0)
        try:
            in_threads = await screen_export(on_threads, open_export(path))
        finally:
            on_threads.executor.shutdown()

    def summary(outcome: ScreenOutcome) -> tuple[object, ...]:
        report = outcome.report
        found = sorted((m.ref, m.result.decision, m.result.record_ref) for m in report.matches)
        return report.screened, report.counts, found

    assert summary(in_processes) == summary(in_threads)
    assert summary(in_processes) == (
        300,
        {"allow": 298, "deny": 1, "review": 1},
        [("ORD-BAN", Decision.DENY, "WG-BAN"), ("ORD-FLAG", Decision.REVIEW, "WG-FLAG")],
    )


def test_a_batch_is_cut_between_lines_never_inside_one() -> None:
    """A row screened in part is its Row and a BadRow of the same line: a batch never ends
    between them (a run stopped there would resume past the line and lose the note)."""
    from lanyard.agent.screening.batch import _batches
    from lanyard.agent.screening.csv_import import BadRow, Row

    items: list[Row | BadRow] = [
        Row(2, "A", "ann", None),
        Row(3, "B", "bea", None),
        BadRow(3, "B", "the buyer's e-mail was not screened; the rest of the row was"),
        Row(4, "C", "cy", None),
    ]
    batches = list(_batches(iter(items), 2))
    assert [(b.last_line, b.lines) for b in batches] == [(3, 2), (4, 1)]
    assert [len(b.skipped) for b in batches] == [1, 0]
