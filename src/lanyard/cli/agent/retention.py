"""`lanyard agent retention show|set|apply [--dry-run]`: the event's retention schedule.

Attendee lists and screening results go `attendee_days` after the event ends; incidents
that ended in a warning only go `warning_incident_days` after it; every other incident
is kept until two chairs decide (`lanyard incident destroy|export`), and the plan lists
them. A dry run prints exactly what `apply` then removes: counts, incident numbers,
statuses and dates, never a name.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from lanyard.agent import operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.retention import Plan, Policy
from lanyard.cli.agent.commands import DataDir, MasterKeyFile, PassphraseFile, records_unlock
from lanyard.cli.common import run
from lanyard.cli.output import CliError, JsonOut, console, emit_json, table

retention_app = typer.Typer(
    help="The event's retention schedule: attendee data and incident records.",
    no_args_is_help=True,
)


def _policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "attendee_days": policy.attendee_days,
        "warning_incident_days": policy.warning_incident_days,
        "attendee_days_from_config": policy.attendee_days_from_config,
    }


def _say_policy(policy: Policy) -> None:
    where = " (set in agent.toml)" if policy.attendee_days_from_config else ""
    console.print(
        f"Attendee lists and screening results: deleted {policy.attendee_days} days after "
        f"the event ends{where}. Incidents that ended in a warning only: destroyed "
        f"{policy.warning_incident_days} days after the event. Other incidents: kept until "
        "two chairs decide (`lanyard incident destroy|export`)."
    )


@retention_app.command("show")
def retention_show(data_dir: DataDir, json_out: JsonOut = False) -> None:
    """Print the retention schedule in force."""
    policy = run(operator.retention_policy(AgentDir(data_dir)))
    if json_out:
        emit_json(_policy_json(policy))
    else:
        _say_policy(policy)


@retention_app.command("set")
def retention_set(
    data_dir: DataDir,
    attendee_days: Annotated[
        int | None, typer.Option(help="Days after the event attendee data is kept.")
    ] = None,
    warning_days: Annotated[
        int | None,
        typer.Option(help="Days after the event a warning-only incident is kept."),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Change the schedule (1 to 36500 days each)."""
    if attendee_days is None and warning_days is None:
        raise CliError("give --attendee-days, --warning-days or both")
    policy = run(operator.set_retention_policy(AgentDir(data_dir), attendee_days, warning_days))
    if json_out:
        emit_json(_policy_json(policy))
    else:
        _say_policy(policy)


def _unlock(
    adir: AgentDir, passphrase_file: Path | None, key_file: Path | None
) -> crypto.Unlock | None:
    """Unlock the incident records when they exist and a way to unlock them is at hand."""
    if not adir.master_path.exists():
        return None
    if passphrase_file or key_file or crypto.passphrase_from_env() or sys.stdin.isatty():
        return records_unlock(passphrase_file, key_file)
    return None


@retention_app.command("apply")
def retention_apply(
    data_dir: DataDir,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; remove nothing.")
    ] = False,
    passphrase_file: PassphraseFile = None,
    key_file: MasterKeyFile = None,
    json_out: JsonOut = False,
) -> None:
    """Remove what the schedule says is due today, or preview it with --dry-run."""
    adir = AgentDir(data_dir)
    unlock = _unlock(adir, passphrase_file, key_file)
    plan = asyncio.run(operator.retention_sweep(adir, date.today(), unlock, not dry_run))
    if json_out:
        emit_json(_plan_json(plan, dry_run))
        return
    _say_plan(plan, dry_run)


def _plan_json(plan: Plan, dry_run: bool) -> dict[str, Any]:
    return {
        "as_of": plan.as_of.isoformat(),
        "dry_run": dry_run,
        "policy": _policy_json(plan.policy),
        "attendees": plan.attendees,
        "attendee_cutoff": plan.attendee_cutoff.isoformat() if plan.attendee_cutoff else None,
        "warning_incidents": [{"incident_id": i, "since": s} for i, s in plan.warning_incidents],
        "waiting_for_decision": [{"incident_id": i, "status": s} for i, s in plan.waiting],
        "incidents_checked": plan.incidents_checked,
    }


def _say_plan(plan: Plan, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleted"
    if plan.attendee_cutoff is None:
        console.print("Attendee data: the event has no end date, so nothing is due.")
    elif plan.as_of < plan.attendee_cutoff:
        console.print(f"Attendee data: kept until {plan.attendee_cutoff.isoformat()}.")
    else:
        console.print(f"Attendee data: {verb} {plan.attendees} screened people.")
    if not plan.incidents_checked:
        console.print(
            "[bold yellow]Incidents were not checked:[/] give --passphrase-file or "
            "--key-file (or set LANYARD_AGENT_PASSPHRASE) to include them."
        )
        return
    verb = "would destroy" if dry_run else "destroyed"
    table(
        f"Warning-only incidents due: {verb} {len(plan.warning_incidents)}",
        ["incident", "last changed"],
        [(str(i), s) for i, s in plan.warning_incidents],
    )
    if plan.waiting:
        table(
            "Kept until two chairs decide (`lanyard incident destroy|export N`)",
            ["incident", "status"],
            [(str(i), s) for i, s in plan.waiting],
        )
