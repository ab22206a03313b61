"""`lanyard agent webhooks status`: what the ticketing systems' webhooks brought in."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from lanyard.agent.webhooks import server as webhook_server
from lanyard.cli.agent.commands import DataDir
from lanyard.cli.common import run
from lanyard.cli.output import JsonOut, console, emit_json, printable, say, table

webhooks_app = typer.Typer(
    help="Webhook receivers for Tito, pretix and Eventbrite (served by `agent serve --webhooks`).",
    no_args_is_help=True,
)


@webhooks_app.command("status")
def status(
    data_dir: DataDir,
    json_out: JsonOut = False,
) -> None:
    """Sales that need a person (REVIEW, DENY, not screenable, dropped) and the deliveries'
    states. Exits 1 when a delivery was dropped (that sale was not screened)."""
    seen = run(webhook_server.overview(data_dir))
    states = seen.states()
    waiting, dropped, issues = seen.retrying(), seen.dropped(), seen.problems()
    alerts = [
        {
            "alert_id": a.alert_id,
            "vendor": a.vendor,
            "ref": a.ref,
            "decision": a.decision,
            "reason": a.reason,
            "record_ref": a.record_ref,
            "raised_at": datetime.fromtimestamp(a.raised_at, UTC).isoformat(timespec="seconds"),
        }
        for a in seen.alerts
    ]
    if json_out:
        emit_json(
            {
                "deliveries": states,
                "ignored": seen.ignored(),
                "other_event": seen.other_event(),
                "retrying": [
                    {"vendor": d.vendor, "attempts": d.attempts, "reason": d.last_error}
                    for d in waiting
                ],
                "dropped": [
                    {"vendor": d.vendor, "key": d.key, "reason": d.outcome} for d in dropped
                ],
                "alerts": alerts,
                "problems": issues,
            }
        )
    else:
        console.print(
            f"Deliveries: {states.get('done', 0)} done, {states.get('queued', 0)} queued, "
            f"{states.get('dropped', 0)} dropped."
        )
        console.print(
            f"Not screened, not sales: {seen.ignored()} ignored, "
            f"{seen.other_event()} for another event."
        )
        for d in waiting:
            say(
                f"Retrying a {d.vendor} delivery ({d.attempts} attempts): {printable(d.last_error)}"
            )
        for d in dropped:
            say(f"Dropped a {d.vendor} delivery ({printable(d.key)}): {printable(d.outcome)}")
        if alerts:
            table(
                "Sales that need a person",
                ["#", "vendor", "ref", "decision", "reason", "record", "raised"],
                [tuple(a.values()) for a in alerts],
            )
        else:
            console.print("No sales need a person.")
        for issue in issues:
            console.print(f"[yellow]! {issue}[/yellow]")
    if issues:
        raise typer.Exit(1)
