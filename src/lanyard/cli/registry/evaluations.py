"""`lanyard registry evaluations`: the evaluation log (spec SCREEN-v1 §3b), for the operator
and the WG's readers: every accepted evaluation, who asked, how many points, and when; with
a summary per caller, and a flag on every admin-key evaluation no record came with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from lanyard.cli.output import JsonOut, console, emit_json, table
from lanyard.cli.registry.common import Endpoint, parse_date
from lanyard.cli.wg.commands import (
    RegistryDataDir,
    WgPassphraseFile,
    member_session,
    operator_session,
)
from lanyard.client.admin import AdminClient
from lanyard.core.evaluation_log import ADMIN_EVENT
from lanyard.wire.registry.v1 import evaluation_log_pb2

NO_RECORD = "admin evaluation without a record added"


@dataclass
class CallerSummary:
    calls: int = 0
    points: int = 0
    flagged: int = 0
    events: set[str] = field(default_factory=set)
    first: str = ""
    last: str = ""


def flag(leaf: evaluation_log_pb2.EvaluationLeaf) -> str:
    """Why a leaf deserves a look: an admin key evaluated and added no record after."""
    return NO_RECORD if leaf.event_id == ADMIN_EVENT and not leaf.record_ref else ""


def followed_by(leaf: evaluation_log_pb2.EvaluationLeaf) -> str:
    """The record an admin evaluation was followed by, with how many more a batch added,
    and whether that record has since been removed."""
    if not leaf.record_ref:
        return ""
    more = leaf.records - 1
    named = f"{leaf.record_ref} and {more:,} more" if more > 0 else leaf.record_ref
    return f"{named} (since removed)" if leaf.record_removed else named


def summarise(leaves: list[evaluation_log_pb2.EvaluationLeaf]) -> dict[str, CallerSummary]:
    """Per caller key id: calls, points, flagged calls, events, first and last time."""
    out: dict[str, CallerSummary] = {}
    for leaf in leaves:
        s = out.setdefault(leaf.caller, CallerSummary(first=leaf.logged_at))
        s.calls += 1
        s.points += leaf.points
        s.flagged += 1 if flag(leaf) else 0
        s.events.add(leaf.event_id)
        s.last = leaf.logged_at
    return out


def evaluations(
    data_dir: RegistryDataDir,
    event: Annotated[
        str | None,
        typer.Option("--event", help='Only this event\'s evaluations ("admin" for admin keys).'),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only from this date on, YYYY-MM-DD.")
    ] = None,
    endpoint: Endpoint = None,
    wg_key: Annotated[
        Path | None,
        typer.Option(
            "--wg-key",
            envvar="LANYARD_WG_KEY",
            help="Sign in as this WG member (default: the operator's key in --data-dir).",
        ),
    ] = None,
    passphrase_file: WgPassphraseFile = None,
    json_out: JsonOut = False,
) -> None:
    """List the evaluation log: every evaluation, a summary per caller, flagged admin use."""
    day = parse_date(since, "--since")
    session = (
        member_session(data_dir, endpoint, wg_key, passphrase_file)
        if wg_key is not None
        else operator_session(data_dir, endpoint)
    )

    async def work(
        client: AdminClient,
    ) -> tuple[list[evaluation_log_pb2.EvaluationLeaf], int, str]:
        response = await client.list_evaluations(event or "", day.isoformat() if day else "")
        return list(response.leaves), int(response.head.tree_size), response.head.root.hex()

    leaves, size, root = session.run(work)
    summary = summarise(leaves)
    flagged = [leaf for leaf in leaves if flag(leaf)]
    if json_out:
        emit_json(
            {
                "tree_size": size,
                "root": root,
                "leaves": [
                    {
                        "log_index": leaf.log_index,
                        "caller": leaf.caller,
                        "event_id": leaf.event_id,
                        "epoch": leaf.epoch,
                        "points": leaf.points,
                        "logged_at": leaf.logged_at,
                        "points_sha256": leaf.points_sha256.hex(),
                        "record_ref": leaf.record_ref or None,
                        "records": leaf.records,
                        "record_removed": leaf.record_removed,
                        "flag": flag(leaf) or None,
                    }
                    for leaf in leaves
                ],
                "callers": {
                    caller: {
                        "calls": s.calls,
                        "points": s.points,
                        "flagged": s.flagged,
                        "events": sorted(s.events),
                        "first": s.first,
                        "last": s.last,
                    }
                    for caller, s in sorted(summary.items())
                },
            }
        )
        return
    console.print(f"Evaluation log: {size} leaves in all, root {root[:16]}…")
    if not leaves:
        console.print("No evaluations match.")
        return
    table(
        "Evaluations",
        ["#", "time", "caller", "event", "epoch", "points", "record / flag"],
        [
            (
                leaf.log_index,
                leaf.logged_at[:19],
                leaf.caller,
                leaf.event_id,
                leaf.epoch,
                leaf.points,
                followed_by(leaf) or flag(leaf),
            )
            for leaf in leaves
        ],
    )
    table(
        "By caller",
        ["caller", "calls", "points", "flagged", "first", "last"],
        [
            (caller, s.calls, s.points, s.flagged, s.first[:19], s.last[:19])
            for caller, s in sorted(summary.items())
        ],
    )
    if flagged:
        console.print(
            f"[red]{len(flagged)} admin-key evaluation(s) came with no record added[/red]: "
            + ", ".join(f"#{leaf.log_index} ({leaf.caller})" for leaf in flagged)
        )
