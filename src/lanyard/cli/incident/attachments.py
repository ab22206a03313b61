"""`lanyard incident attach | attachments | get-attachment`: evidence kept with the incident.

Files stream to the agent in pieces and come back the same way, so a long recording is
never read whole into memory; the agent seals them under the incident's own key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lanyard.cli.agent.commands import DataDir
from lanyard.cli.incident.commands import IncidentId, incident_app
from lanyard.cli.incident.common import AgentOpt, CaOpt, KeyOpt, OperatorOpt, with_client
from lanyard.cli.output import CliError, JsonOut, emit_json, say, table
from lanyard.wire.agent.v1 import incidents_pb2 as pb


def attachment_json(a: pb.AttachmentInfo) -> dict[str, Any]:
    return {
        "attachment_id": int(a.attachment_id),
        "name": a.name,
        "type": a.media_type,
        "bytes": int(a.size),
        "sha256": a.sha256,
        "note": a.note,
        "added_by": a.added_by,
        "added_at": a.added_at,
    }


@incident_app.command("attach")
def incident_attach(
    data_dir: DataDir,
    incident_id: IncidentId,
    path: Annotated[Path, typer.Argument(help="The file: image, PDF, audio, video or text.")],
    note: Annotated[str, typer.Option(help="What the file shows, where it came from.")] = "",
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Attach a file to an incident (responders, chairs, and the volunteer who filed it)."""
    if not path.is_file():
        raise CliError(f"{path} is not a file")
    got = with_client(agent, key, operator, ca, data_dir)(
        lambda c: c.attach(incident_id, path, note)
    )
    if json_out:
        emit_json(attachment_json(got))
        return
    say(
        f"Attached {escape(got.name)} ({got.media_type}, {got.size:,} bytes) to incident "
        f"{incident_id} as attachment {got.attachment_id}."
    )


@incident_app.command("attachments")
def incident_attachments(
    data_dir: DataDir,
    incident_id: IncidentId,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """The files attached to an incident (the listing is audited)."""
    found = with_client(agent, key, operator, ca, data_dir)(
        lambda c: c.list_attachments(incident_id)
    )
    rows = [attachment_json(a) for a in found]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        say(f"Incident {incident_id} has no attachments.")
        return
    table(
        f"Attachments of incident {incident_id}",
        ["id", "name", "type", "bytes", "added by", "note"],
        [
            (
                r["attachment_id"],
                escape(r["name"]),
                r["type"],
                f"{r['bytes']:,}",
                r["added_by"],
                escape(r["note"]),
            )
            for r in rows
        ],
    )


@incident_app.command("get-attachment")
def incident_get_attachment(
    data_dir: DataDir,
    incident_id: IncidentId,
    attachment_id: Annotated[int, typer.Argument(help="The attachment's number.", min=1)],
    out: Annotated[Path, typer.Option(help="Where to write the file (mode 0600).")],
    agent: AgentOpt = None,
    key: KeyOpt = None,
    operator: OperatorOpt = False,
    ca: CaOpt = None,
) -> None:
    """Fetch an attachment into --out; written only once it is whole and verified."""
    if out.exists():
        raise CliError(f"{out} already exists; choose another --out")
    got = with_client(agent, key, operator, ca, data_dir)(
        lambda c: c.get_attachment(incident_id, attachment_id, out)
    )
    say(
        f"Wrote {escape(got.name)} ({got.media_type}, {got.size:,} bytes, SHA-256 "
        f"{got.sha256[:16]}…) to {escape(str(out))}."
    )
