"""`lanyard report …`: the event's end-of-event report, the one moment names leave it.

`build` shows the chair exactly what would leave and sends nothing. `submit` seals it to
the WG's verified report readers, keeps it in the durable outbox first, and sends until
the registry's signed receipt comes back; running it again sends the very same envelope
(same submission id), never a second copy. `status` checks each receipt against the log
the registry signs today and shows each step the WG signed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from lanyard.agent import operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.operator import OutboxEntry
from lanyard.agent.reports import (
    SEND_ATTEMPTS,
    ReceiptError,
    ReportSender,
    build_report,
    check_receipt,
    covers,
    preview,
    verify_in_log,
)
from lanyard.agent.server import OUTBOX_INTERVAL_SECONDS
from lanyard.agent.service import AgentService, registry_failure
from lanyard.cli.agent.commands import DataDir, MasterKeyFile, PassphraseFile, records_unlock
from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, confirm, console, emit_json, say
from lanyard.cli.registry.submissions import steps_table
from lanyard.client.errors import RpcFailed
from lanyard.core import files
from lanyard.core.errors import Error as CoreError
from lanyard.wire.registry.v1 import reports_pb2

T = TypeVar("T")

report_app = typer.Typer(
    help="The end-of-event report to the WG: build, submit, status.", no_args_is_help=True
)
RETRYABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def _endpoint(adir: AgentDir) -> str:
    return adir.enrolment().endpoint if adir.enrolment_path.exists() else ""


def _with_sender(adir: AgentDir, work: Callable[[AgentService, ReportSender], Awaitable[T]]) -> T:
    async def go() -> T:
        async with operator.opened(adir) as agent, operator.report_sender(adir, agent) as sender:
            return await work(agent, sender)

    return run(go(), _endpoint(adir))


async def _build(adir: AgentDir, unlock: crypto.Unlock, choice: str) -> dict[str, Any]:
    chosen = operator.parse_file_choice(choice)
    async with operator.report_sources(adir, unlock, chosen) as (incidents, files):
        return build_report(adir.enrolment(), incidents, files)


FilesOpt = Annotated[
    str,
    typer.Option(
        "--attachments",
        help="Incident files to include: none, all, or INCIDENT:ATTACHMENT,… "
        "(see `incident attachments N`).",
    ),
]


def summary(report: dict[str, Any]) -> str:
    incidents = report["incidents"]
    reported = {p["name"] for i in incidents for p in i["report"]["reported_people"]}
    actors = {n for i in incidents if i["decision"] for n in i["decision"]["bad_actors"]}
    reporters = sum(1 for i in incidents if i["report"]["reporter"] is not None)
    decided = sum(1 for i in incidents if i["decision"] and i["decision"]["final"])
    files = [a for i in incidents for a in i.get("attachments", [])]
    size = sum(a["bytes"] for a in files)
    return (
        f"{len(incidents)} incident(s), {decided} with a final decision, naming "
        f"{len(reported)} reported person(s), {len(actors)} bad actor(s) and "
        f"{reporters} reporter(s) by name, with {len(files)} file(s) ({size:,} bytes)"
    )


@report_app.command("build")
def build(
    data_dir: DataDir,
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the report as JSON here (mode 0600).")
    ] = None,
    attachments: FilesOpt = "none",
    json_out: JsonOut = False,
) -> None:
    """Show exactly what the end-of-event report holds; nothing is sent."""
    adir = AgentDir(data_dir)
    unlock = records_unlock(passphrase_file, key_file)
    report = run(_build(adir, unlock, attachments))
    if out is not None:
        files.write_atomically(
            out, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()
        )
    if json_out:
        emit_json(report)
        return
    say(preview(report))
    console.print(f"Nothing was sent. It holds {summary(report)}.")
    if out is not None:
        console.print(
            f"[yellow]Warning:[/yellow] {escape(str(out))} (mode 0600) holds names and "
            "incident details in the clear; delete it when you are done."
        )
    console.print("Send it to the WG with `lanyard report submit`.")


def _receipt_json(r: reports_pb2.Receipt) -> dict[str, Any]:
    return {
        "submission_id": r.submission_id,
        "log_index": r.log_index,
        "tree_size": r.tree_size,
        "received_at": r.received_at,
        "envelope_sha256": r.envelope_sha256.hex(),
    }


@dataclass
class Submitted:
    receipt: reports_pb2.Receipt | None
    note: str


def _changed_since(report: dict[str, Any], entry: OutboxEntry) -> bool:
    """Whether any incident was added or changed since `entry` was sealed."""
    return covers(report) != entry.covers


def _undelivered(entry: OutboxEntry, error: str, attempts: int, endpoint: str) -> CliError:
    short = entry.submission_id[:12]
    if error.split(":", 1)[0] in RETRYABLE:
        return CliError(
            f"the registry at {endpoint} did not answer after {attempts} attempt(s); "
            f"submission {short} is sealed and kept in the outbox, queued: "
            f"`lanyard agent serve` retries it every {int(OUTBOX_INTERVAL_SECONDS)} s while "
            "it runs, or run `lanyard report submit` again"
        )
    return CliError(
        f"the registry refused submission {short} ({error}); it is kept in the outbox, "
        "and sending it again will not help until that is fixed"
    )


@report_app.command("submit")
def submit(
    data_dir: DataDir,
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    new: Annotated[
        bool, typer.Option("--new", help="Seal a fresh submission even if nothing changed.")
    ] = False,
    attempts: Annotated[
        int, typer.Option(min=1, max=20, help="Tries before leaving it in the outbox.")
    ] = SEND_ATTEMPTS,
    attachments: FilesOpt = "none",
    json_out: JsonOut = False,
) -> None:
    """Seal the report to the WG's readers and send it until the registry's receipt comes."""
    adir = AgentDir(data_dir)
    endpoint = _endpoint(adir)

    async def work(agent: AgentService, sender: ReportSender) -> Submitted:
        entries = await sender.outbox.entries()
        pending = [e for e in entries if e.receipt is None]
        if pending:
            entry = pending[0]
            if not json_out:
                console.print(
                    f"Sending submission {entry.submission_id[:12]}, sealed "
                    f"{entry.created_at} and kept in the outbox (not a new one)."
                )
            delivery = await sender.deliver(entry, attempts=attempts)
            if delivery.receipt is None:
                raise _undelivered(entry, delivery.error, attempts, endpoint)
            return Submitted(delivery.receipt, "")
        unlock = records_unlock(passphrase_file, key_file)
        chosen = operator.parse_file_choice(attachments)
        async with operator.report_sources(adir, unlock, chosen) as (incidents, files):
            report = build_report(adir.enrolment(), incidents, files)
            if entries and not new and not _changed_since(report, entries[-1]):
                receipt = entries[-1].receipt
                assert receipt is not None
                return Submitted(
                    receipt,
                    f"already submitted as {receipt.submission_id[:12]} and no incident changed "
                    "since; `lanyard report status` shows what the WG did with it, "
                    "`lanyard report submit --new` seals a fresh submission",
                )
            recipients, kept_since = await sender.recipients("nothing was sealed or sent")
            readers = [r.name for r in recipients.recipients]
            if not json_out:
                console.print(
                    f"The report holds {summary(report)}; `lanyard report build` shows all of it."
                )
                console.print(
                    f"It will be sealed to the WG's report readers: {', '.join(readers)}."
                )
                if kept_since:
                    console.print(
                        f"The registry cannot be reached: the readers are those it signed, as "
                        f"fetched {kept_since}; the sealed report will wait in the outbox."
                    )
            confirm(
                "Seal the report and send it to the WG?",
                "submit the report",
                yes,
                "not submitted; nothing was sealed or sent",
            )
            entry = await sender.seal(report, recipients, files=files)
        delivery = await sender.deliver(entry, attempts=attempts)
        if delivery.receipt is None:
            raise _undelivered(entry, delivery.error, attempts, endpoint)
        return Submitted(delivery.receipt, "")

    result = _with_sender(adir, work)
    assert result.receipt is not None
    if json_out:
        emit_json(
            {"receipt": _receipt_json(result.receipt), "already_submitted": bool(result.note)}
        )
        return
    r = result.receipt
    if result.note:
        console.print(f"The report was {result.note}.")
        return
    console.print(
        f"Submitted {r.submission_id}: the registry's signed receipt puts it at log index "
        f"{r.log_index} (tree size {r.tree_size}), received {r.received_at}."
    )
    console.print("`lanyard report status` checks it against the log and shows the WG's steps.")


@dataclass
class Checked:
    entry: OutboxEntry
    verified: bool = False
    tree_size: int = 0
    status: str = ""
    steps: list[dict[str, str]] | None = None
    failure: str = ""
    offline: str = ""  # why the log could not be asked now (the receipt itself checked)


@report_app.command("status")
def status(data_dir: DataDir, json_out: JsonOut = False) -> None:
    """Each submission: its receipt, whether the log still holds it, the WG's steps."""
    adir = AgentDir(data_dir)
    endpoint = _endpoint(adir)

    async def work(agent: AgentService, sender: ReportSender) -> list[Checked]:
        outbox = sender.outbox
        key = agent.enrolment.registry_public_key
        out: list[Checked] = []
        for entry in await outbox.entries():
            if entry.receipt is None:
                out.append(Checked(entry))
                continue
            try:
                check_receipt(entry, entry.receipt, key)
                v = await verify_in_log(agent.registry, key, entry.receipt)
            except (ReceiptError, CoreError) as exc:
                out.append(Checked(entry, failure=str(exc)))
                continue
            except RpcFailed as exc:
                if exc.code.name not in RETRYABLE:
                    raise registry_failure(exc, endpoint, "the receipts were not checked") from exc
                # Offline: the local receipt (its signature checked above) is the answer.
                out.append(Checked(entry, offline=f"the registry at {endpoint} cannot be reached"))
                continue
            now = datetime.now(UTC)
            await outbox.verified(entry.submission_id, now)
            entry = replace(entry, verified_at=now.isoformat(timespec="seconds"))
            steps = [
                {"step": s.step, "member": s.member, "at": s.at, "message": s.message}
                for s in v.steps
            ]
            out.append(Checked(entry, True, v.head.tree_size, v.status, steps))
        return out

    checked = _with_sender(adir, work)
    failed = [c for c in checked if c.failure]
    if json_out:
        emit_json([_checked_json(c) for c in checked])
    elif not checked:
        console.print(
            "No report has been sealed yet: see it with `lanyard report build`, send it with "
            "`lanyard report submit`."
        )
    for c in checked if not json_out else []:
        _print_checked(c)
    if failed:
        first = failed[0]
        raise CliError(
            f"the proof failed for submission {first.entry.submission_id[:12]}: {first.failure}"
            + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
        )


def _checked_json(c: Checked) -> dict[str, Any]:
    e = c.entry
    return {
        "submission_id": e.submission_id,
        "sealed_at": e.created_at,
        "attempts": e.attempts,
        "last_error": e.last_error or None,
        "receipt": _receipt_json(e.receipt) if e.receipt else None,
        "log": None
        if e.receipt is None
        else {"verified": c.verified, "tree_size": c.tree_size or None, "error": c.failure or None},
        "status": c.status or ("pending" if e.receipt is None else None),
        "steps": c.steps or [],
        "offline": c.offline or None,
        "last_verified_at": e.verified_at,
    }


def _print_checked(c: Checked) -> None:
    e = c.entry
    r = e.receipt
    short = e.submission_id[:12]
    if r is None:
        console.print(
            f"Submission {short} (sealed {e.created_at}): [yellow]pending[/yellow] in the "
            f"outbox after {e.attempts} attempt(s)"
            + (f"; last error: {escape(e.last_error)}" if e.last_error else "")
            + ". `lanyard report submit` sends it."
        )
        return
    console.print(
        f"Submission {short} (sealed {e.created_at}): receipt for log index {r.log_index}, "
        f"received {r.received_at}."
    )
    if c.failure:
        console.print(f"  [red]The proof failed:[/red] {escape(c.failure)}")
        return
    if c.offline:
        console.print(
            f"  [yellow]Not checked against the log now[/yellow]: {escape(c.offline)}; the "
            "receipt's signature checks out; last verified in the log "
            + (e.verified_at or "never")
            + "."
        )
        return
    console.print(
        f"  [green]Verified in the log[/green] (tree size {c.tree_size}); status {c.status}."
    )
    steps_table(c.steps or [])
