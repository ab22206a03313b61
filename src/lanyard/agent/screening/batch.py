"""Batch screening of a ticketing export: stream, blind, evaluate, match, store.

Rows stream from the file in batches; several batches are in flight at once so that the
agent's blinding, the registry's evaluation and the agent's unblinding overlap on every
core; batches are committed in file order, each with the line it reached, so a run that
is killed resumes after the last committed line: nothing evaluated twice, nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from lanyard.agent.errors import RegistryFaulted, SnapshotRejected
from lanyard.agent.recheck import match_result
from lanyard.agent.screening.csv_import import BadRow, Export, Row, file_digest
from lanyard.agent.service import AgentService, messages_for, registry_failure
from lanyard.agent.store import Identity, Run, RunReport, Screened, Skipped
from lanyard.client.errors import RpcFailed
from lanyard.core.errors import SealError
from lanyard.core.identity import Kind
from lanyard.core.workers import Workers

log = structlog.get_logger("lanyard.agent")

BATCH_ROWS = 500
IN_FLIGHT = 3

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ScreenOutcome:
    run: Run
    report: RunReport
    resumed_after_line: int
    already_done: bool
    repaired_rows: int = 0  # rows whose double-encoded text was repaired in this pass
    # A key rotation not yet finished: how many stored identities still wait for it.
    rotation_pending: int = 0


@dataclass(frozen=True, slots=True)
class _Batch:
    last_line: int
    rows: list[Row]
    skipped: list[Skipped]

    @property
    def lines(self) -> int:
        """File rows in the batch: one screened in part is both a Row and a Skipped."""
        return len({r.line for r in self.rows} | {s.line for s in self.skipped})


def count_lines(export: Export) -> int:
    """Rows a progress bar can expect: physical lines less the header (approximate for
    quoted cells that span lines)."""
    newline = "\n".encode(export.encoding.replace("-sig", ""))
    lines = 0
    with export.path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(newline)
    return max(0, lines - 1)


def _batches(rows: Iterator[Row | BadRow], size: int) -> Iterator[_Batch]:
    """Batches of about `size` items, cut only between file lines: a row screened in part
    comes as its Row and a BadRow of the same line, and a run stopped between the two
    would resume past the line and lose the note of what was not screened."""
    good: list[Row] = []
    bad: list[Skipped] = []
    last = 0
    for item in rows:
        if len(good) + len(bad) >= size and item.line != last:
            yield _Batch(last, good, bad)
            good, bad = [], []
        last = item.line
        if isinstance(item, BadRow):
            bad.append(Skipped(item.line, item.ref, item.reason))
        else:
            good.append(item)
    if good or bad:
        yield _Batch(last, good, bad)


def layout_key(export: Export) -> str:
    return export.layout.key()


async def screen_export(
    agent: AgentService,
    export: Export,
    role: str = "attendee",
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    in_flight: int = IN_FLIGHT,
    reached: Callable[[int], None] | None = None,
) -> ScreenOutcome:
    """Screen every row of `export` not yet stored. `progress(rows)` is called after each
    committed batch; `reached(line)` first with the line a stopped run had reached (0 for a
    new run) and then with the last line of each committed batch, so that a caller
    interrupted (Ctrl-C) can say where it stopped and a bar can resume there."""
    started = time.perf_counter()
    if isinstance(agent.executor, Workers):
        # The crypto workers start while the file is hashed and the list synced.
        agent.executor.warm()
    await agent.refuse_after_retention()
    digest = await asyncio.to_thread(file_digest, export.path)
    run = await agent.store.open_run(digest, role, layout_key(export), export.path.name)
    if not run.finished and reached is not None:
        reached(run.last_line)
    try:
        # Also for a file screened before: its stored results are shown re-checked
        # against the newest list, never as they stood when it was screened.
        await agent.sync()
    except RpcFailed as exc:
        said = (
            "this file's stored results were not re-checked against the WG's newest list, "
            "so they are not shown"
            if run.finished
            else "nothing was screened"
        )
        raise registry_failure(exc, agent.enrolment.endpoint, said) from exc
    if run.finished:
        return ScreenOutcome(run, await agent.store.run_report(run.run_id), 0, True)

    # Messages being evaluated by batches not yet committed: a later batch waits for
    # these rather than evaluating them again (committed ones come from the store).
    inflight: dict[bytes, asyncio.Future[tuple[int, bytes]]] = {}

    async def points(messages: list[bytes]) -> tuple[int, dict[bytes, bytes], list[bytes]]:
        """(epoch, Y per message, the messages this batch evaluated itself). Every Y is of
        one epoch, also while a key rotation is under way, so that the snapshot of that
        epoch decides (a point matched against another epoch's list matches nothing)."""
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(messages))
        mine = [m for m in unique if m not in inflight]
        futures = {m: loop.create_future() for m in mine}
        inflight.update(futures)
        waiting = {m: inflight[m] for m in unique}
        try:
            found = await agent.points_in_epoch(mine) if mine else None
        except BaseException as exc:
            for future in futures.values():
                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
                future.exception()  # retrieved: whoever waits on it sees it
            raise
        if found is not None:
            for m, y in zip(mine, found.ys, strict=True):
                futures[m].set_result((found.epoch, y))
        results = {m: await future for m, future in waiting.items()}
        epochs = {epoch for epoch, _ in results.values()}
        if len(epochs) > 1:
            # A rotation landed between two batches: take this batch's points afresh, in
            # one epoch.
            again = await agent.points_in_epoch(unique)
            return again.epoch, dict(zip(unique, again.ys, strict=True)), mine
        epoch = epochs.pop() if epochs else agent.newest.epoch
        return epoch, {m: y for m, (_, y) in results.items()}, mine

    async def process(batch: _Batch) -> tuple[_Batch, int, list[Screened], list[bytes]]:
        people = [
            (row, who, wanted)
            for row in batch.rows
            for who, wanted in (
                ("attendee", messages_for(row.name, row.email)),
                ("buyer", messages_for(row.buyer_name, row.buyer_email)),
            )
            if wanted
        ]
        epoch, known, mine = await points([m for _, _, wanted in people for _, m in wanted])
        snap = agent.snapshot_for(epoch)
        screened: list[Screened] = []
        for row, who, wanted in people:
            identities = [Identity(kind, m, known[m]) for kind, m in wanted]
            hits: dict[Kind, bytes] = {i.kind: i.y for i in identities}
            try:
                result = match_result(snap, hits)
            except SealError as exc:
                raise SnapshotRejected(
                    f"line {row.line}: a snapshot entry that matched does not open ({exc}); "
                    "the WG's snapshot may be damaged"
                ) from exc
            screened.append(Screened(row.ref, role, identities, result, row.line, who))
        return batch, epoch, screened, mine

    pending: deque[asyncio.Task[tuple[_Batch, int, list[Screened], list[bytes]]]] = deque()
    done_rows = 0
    repaired = 0

    async def commit_oldest() -> None:
        nonlocal done_rows, repaired
        batch, epoch, screened, mine = await pending.popleft()
        await agent.store.commit_rows(run.run_id, batch.last_line, epoch, screened, batch.skipped)
        for m in mine:
            inflight.pop(m, None)
        repaired += sum(row.repaired for row in batch.rows)
        done_rows += batch.lines
        if progress is not None:
            progress(batch.lines)
        if reached is not None:
            reached(batch.last_line)

    try:
        for batch in _batches(export.rows(start_after_line=run.last_line), batch_rows):
            pending.append(asyncio.create_task(process(batch)))
            if len(pending) >= in_flight:
                await commit_oldest()
        while pending:
            await commit_oldest()
    except asyncio.CancelledError:
        # Ctrl-C. A batch already handed to the store runs to its commit or rollback all
        # the same (Pool.transact), so where the run stopped is read back from the store,
        # never assumed from the batches seen to commit.
        if reached is not None:
            with contextlib.suppress(Exception):
                reached(await agent.store.run_line(run.run_id))
        raise
    except RpcFailed as exc:
        raise registry_failure(
            exc,
            agent.enrolment.endpoint,
            f"stopped after {done_rows} rows; what was screened is kept: run the same "
            "command again to resume",
        ) from exc
    except RegistryFaulted as exc:
        # Spec §3a: no point of a batch whose proof failed is finalised or matched; the
        # batches already committed were proved, the rest stay unscreened.
        raise RegistryFaulted(
            f"{exc}; stopped after {done_rows} rows, the rest stay unscreened, and an "
            "operator alert was raised (see `lanyard alerts`)"
        ) from exc
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    await agent.store.finish_run(run.run_id)
    report = await agent.store.run_report(run.run_id)
    log.info(
        "agent.screened",
        run_id=run.run_id,
        rows=done_rows,
        screened=report.screened,
        skipped=len(report.skipped),
        repaired=repaired,
        resumed_after=run.last_line,
        seconds=round(time.perf_counter() - started, 2),
    )
    waiting = 0
    if agent.next_snapshot is not None:
        waiting = await agent.store.pending_count(agent.next_snapshot.epoch)
    return ScreenOutcome(run, report, run.last_line, False, repaired, waiting)
