"""`lanyard registry submission …`: the WG's side of end-of-event reports.

A WG member lists what events submitted, opens a report with their own key on their own
machine (the registry holds only ciphertext), checks the event's signatures and signs each
step the event will see. Turning the people a report names into records is in
submission_records.py. Names are printed to the member's terminal when asked for and
never reach a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lanyard.agent.reports import preview
from lanyard.cli.output import CliError, JsonOut, console, emit_json, say, table
from lanyard.cli.registry.common import Endpoint
from lanyard.cli.registry.submission_files import Carried, save_files
from lanyard.cli.wg.commands import (
    RegistryDataDir,
    Session,
    WgKey,
    WgPassphraseFile,
    default_wg_key,
    member_session,
    operator_session,
)
from lanyard.client.admin import AdminClient
from lanyard.core import envelope, files, keys
from lanyard.core.errors import Error as CoreError
from lanyard.core.wg_member import MemberKeys
from lanyard.wire.registry.v1 import reports_pb2

submission_app = typer.Typer(
    help="End-of-event reports held by the registry: list, open, acknowledge.",
    no_args_is_help=True,
)
SubmissionId = Annotated[
    str, typer.Argument(help="The submission's id, or enough of its start to be unique.")
]


async def resolve(client: AdminClient, wanted: str) -> reports_pb2.SubmissionInfo:
    """The one submission whose id starts with `wanted`."""
    prefix = wanted.strip().lower()
    found = [
        s for s in await client.list_submissions() if s.receipt.submission_id.startswith(prefix)
    ]
    if not found or not prefix:
        raise CliError(f"the registry holds no submission {wanted[:40]}")
    if len(found) > 1:
        raise CliError(f"{wanted} matches {len(found)} submissions; give more of the id")
    return found[0]


def _steps(steps: Any) -> list[dict[str, str]]:
    return [{"step": s.step, "member": s.member, "at": s.at, "message": s.message} for s in steps]


def steps_table(steps: list[dict[str, str]]) -> None:
    if steps:
        table(
            "Steps",
            ["step", "member", "at", "message"],
            [
                (
                    s["step"],
                    s["member"],
                    s["at"][:19].replace("T", " "),
                    s["message"],
                )
                for s in steps
            ],
        )


@submission_app.command("list")
def submission_list(
    data_dir: RegistryDataDir,
    endpoint: Endpoint = None,
    wg_key: Annotated[
        Path | None,
        typer.Option(
            "--wg-key",
            envvar="LANYARD_WG_KEY",
            help="Your WG member key file from `lanyard wg keygen` (default: yours, as for "
            "open and ack; the operator's admin key when you have none and --data-dir is a "
            "registry).",
        ),
    ] = None,
    passphrase_file: WgPassphraseFile = None,
    json_out: JsonOut = False,
) -> None:
    """List the submissions: ids, events, sizes, status, place in the log."""
    session = (
        operator_session(data_dir, endpoint)
        if wg_key is None and not default_wg_key().exists() and data_dir.is_dir()
        else member_session(data_dir, endpoint, wg_key, passphrase_file)
    )
    subs = session.run(lambda client: client.list_submissions())
    rows: list[dict[str, Any]] = [
        {
            "submission_id": s.receipt.submission_id,
            "event_id": s.receipt.event_id,
            "received_at": s.receipt.received_at,
            "bytes": s.envelope_bytes,
            "status": s.status,
            "log_index": s.receipt.log_index,
        }
        for s in subs
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        console.print("No submissions yet.")
        return
    table(
        "Submissions",
        ["id", "event", "received", "bytes", "status", "log"],
        [
            (
                r["submission_id"][:8],
                str(r["event_id"]),
                str(r["received_at"])[:16].replace("T", " "),
                f"{r['bytes']:,}",
                r["status"],
                r["log_index"],
            )
            for r in rows
        ],
    )


@dataclass
class Opened:
    submission_id: str
    event_id: str
    event_name: str
    received_at: str
    log_index: int
    status: str
    readers: list[str]
    steps: list[dict[str, str]]
    report: dict[str, Any] = field(repr=False)
    data_key: bytes = field(default=b"", repr=False)  # opens the report's files
    files: list[reports_pb2.AttachmentBlob] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "submission_id": self.submission_id,
            "event_id": self.event_id,
            "received_at": self.received_at,
            "log_index": self.log_index,
            "status": self.status,
            "sealed_to": self.readers,
            "steps": self.steps,
            "report": self.report,
        }


async def fetch_and_open(client: AdminClient, wanted: str, member: MemberKeys) -> Opened:
    """Fetch the envelope, check the event's signatures on it, decrypt it as `member`."""
    full_id = (await resolve(client, wanted)).receipt.submission_id
    got = await client.get_submission(full_id)
    receipt = got.info.receipt
    event = (await client.events_by_id()).get(receipt.event_id)
    if event is None:
        raise CliError(f"submission {full_id[:12]} names an event the registry does not know")
    data = got.envelope
    try:
        if envelope.sha256(data) != receipt.envelope_sha256:
            raise CliError("the registry returned an envelope other than the one it receipted")
        keys.verify(
            event.public_key, data, got.envelope_signature, "the event's signature on the envelope"
        )
        parsed = envelope.parse_envelope(data)
        readers = [k.recipient for k in parsed.keys]
        if not any(
            k.recipient == member.name and k.encryption_key == member.encryption_public
            for k in parsed.keys
        ):
            raise CliError(
                f"submission {full_id[:12]} was not sealed to {member.name}'s key, so it cannot "
                f"be opened with it; it was sealed to {', '.join(readers)}"
            )
        report, data_key = envelope.open_report_and_key(
            data, member.name, member.encryption, event.public_key
        )
    except CoreError as exc:
        raise CliError(f"submission {full_id[:12]} does not open: {exc}") from exc
    if parsed.event_id != receipt.event_id or report.get("event", {}).get("event_id") != (
        receipt.event_id
    ):
        raise CliError(f"submission {full_id[:12]} names another event inside than outside")
    return Opened(
        full_id,
        receipt.event_id,
        event.name,
        receipt.received_at,
        receipt.log_index,
        got.info.status,
        readers,
        _steps(got.steps),
        report,
        data_key,
        list(parsed.attachments),
    )


def open_as_member(
    data_dir: Path,
    endpoint: str | None,
    wanted: str,
    wg_key: Path | None,
    passphrase_file: Path | None,
) -> tuple[Session, Opened]:
    session = member_session(data_dir, endpoint, wg_key, passphrase_file)
    assert session.member is not None
    member = session.member
    return session, session.run(lambda client: fetch_and_open(client, wanted, member))


@submission_app.command("open")
def submission_open(
    data_dir: RegistryDataDir,
    submission_id: SubmissionId,
    wg_key: WgKey = None,
    passphrase_file: WgPassphraseFile = None,
    endpoint: Endpoint = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the opened report as JSON here (mode 0600).")
    ] = None,
    attachments_dir: Annotated[
        Path | None,
        typer.Option(help="Write the files the report carries into this directory (0600)."),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Open a report with your key, check the event's signature, show it."""
    session, opened = open_as_member(data_dir, endpoint, submission_id, wg_key, passphrase_file)
    written: list[Path] = []
    if attachments_dir is not None:
        carried = Carried(opened.submission_id, opened.report, opened.data_key, opened.files)
        written = session.run(lambda client: save_files(client, carried, attachments_dir))
    if out is not None:
        body = json.dumps(opened.to_json(), indent=2, ensure_ascii=False) + "\n"
        files.write_atomically(out, body.encode())
    if json_out:
        emit_json({**opened.to_json(), "files_written": [str(p) for p in written]})
        return
    if attachments_dir is not None:
        console.print(
            f"{len(written)} file(s) written to {escape(str(attachments_dir))}, each checked "
            "against the event's signature."
        )
    if out is not None:
        console.print(
            f"Report written to {escape(str(out))} (mode 0600). [yellow]It holds names in the "
            "clear:[/yellow] delete it when the WG is done with it."
        )
        return
    say(
        f"Submission {opened.submission_id} from {opened.event_name} ({opened.event_id}), "
        f"received {opened.received_at}, log index {opened.log_index}; status {opened.status}."
    )
    say(f"Sealed to {', '.join(opened.readers)}; the event's signature verifies.")
    say("")
    say(preview(opened.report, opened=True))
    steps_table(opened.steps)


@submission_app.command("ack")
def submission_ack(
    data_dir: RegistryDataDir,
    submission_id: SubmissionId,
    step: Annotated[str, typer.Option(help="acknowledged, reviewed or recorded.")],
    message: Annotated[str, typer.Option(help="A short note the event will see.")] = "",
    wg_key: WgKey = None,
    passphrase_file: WgPassphraseFile = None,
    endpoint: Endpoint = None,
) -> None:
    """Move a submission on (received → acknowledged → reviewed → recorded), signed by you."""
    if step not in envelope.STEPS:
        raise CliError(f"--step must be one of {', '.join(envelope.STEPS)}, got {step!r}")
    if len(message) > 2000:
        raise CliError(f"--message is at most 2000 characters, got {len(message)}")
    session = member_session(data_dir, endpoint, wg_key, passphrase_file)

    async def go(client: AdminClient) -> tuple[str, str]:
        full_id = (await resolve(client, submission_id)).receipt.submission_id
        return full_id, await client.advance_submission(
            full_id, step, session.name, session.key, message
        )

    full_id, status = session.run(go)
    console.print(f"Submission {full_id[:12]} is now {status}, signed by {escape(session.name)}.")
