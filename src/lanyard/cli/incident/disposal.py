"""`lanyard incident destroy|export N`: the fate of an incident kept until decided.

An incident that did not end in a warning only is kept until the event's chairs decide.
Each chair runs the command with their own key; the first call records an approval, the
second distinct chair's carries it out (the agent audits both). Destroying deletes the
incident's key first, so no copy of the record can be opened again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lanyard.cli.agent.commands import DataDir
from lanyard.cli.incident.common import AgentOpt, CaOpt, KeyOpt, with_client
from lanyard.cli.incident.render import incident_json
from lanyard.cli.output import CliError, JsonOut, confirm, emit_json, say
from lanyard.core import files

IncidentId = Annotated[int, typer.Argument(help="The incident's number.", min=1)]


def _pending(incident_id: int, action: str, approvals: list[str]) -> str:
    return (
        f"Approved {action} of incident {incident_id} ({', '.join(approvals)}); "
        f"a second chair must run `lanyard incident {action} {incident_id}` too."
    )


def incident_destroy(
    data_dir: DataDir,
    incident_id: IncidentId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    ca: CaOpt = None,
) -> None:
    """Approve destroying an incident that waits for a decision (two chairs; key first)."""
    confirm(
        f"Once two chairs approve, incident {incident_id} is gone. Approve destroying it?",
        "approve destroying an incident",
        yes,
        "nothing approved",
    )
    result = with_client(agent, key, False, ca, data_dir)(
        lambda c: c.dispose(incident_id, "destroy")
    )
    approvals = list(result.approvals)
    if json_out:
        emit_json({"incident_id": incident_id, "approvals": approvals, "destroyed": result.done})
        return
    if result.done:
        say(f"Incident {incident_id} destroyed (approved by {', '.join(approvals)}).")
    else:
        say(_pending(incident_id, "destroy", approvals))


def incident_export(
    data_dir: DataDir,
    incident_id: IncidentId,
    out: Annotated[Path, typer.Option(help="Write the record here (mode 0600).")],
    json_out: JsonOut = False,
    agent: AgentOpt = None,
    key: KeyOpt = None,
    ca: CaOpt = None,
) -> None:
    """Approve exporting an incident that waits for a decision; the second chair's run
    writes the whole record to --out. Destroy it afterwards with `incident destroy`."""
    if out.exists():
        raise CliError(f"{out} already exists; choose another --out")
    result = with_client(agent, key, False, ca, data_dir)(
        lambda c: c.dispose(incident_id, "export")
    )
    approvals = list(result.approvals)
    if result.done:
        files.write_atomically(out, json.dumps(incident_json(result.incident), indent=2) + "\n")
    if json_out:
        emit_json(
            {
                "incident_id": incident_id,
                "approvals": approvals,
                "exported_to": str(out) if result.done else None,
            }
        )
        return
    if result.done:
        say(
            f"Incident {incident_id} exported to {out} (approved by {', '.join(approvals)}); "
            "keep it safe, then destroy the record with `lanyard incident destroy`."
        )
    else:
        say(_pending(incident_id, "export", approvals))


def register(app: typer.Typer) -> None:
    app.command("destroy")(incident_destroy)
    app.command("export")(incident_export)
