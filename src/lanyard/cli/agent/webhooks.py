"""`lanyard agent webhooks status`: what the ticketing systems' webhooks brought in."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import typer

from lanyard.agent.webhooks import server as webhook_server
from lanyard.cli.agent.commands import DataDir
from lanyard.cli.common import run
from lanyard.cli.output import JsonOut, console, emit_json, table

webhooks_app = typer.Typer(
    help="Webhook receivers for Tito, pretix and Eventbrite (served by `agent serve --webhooks`).",
    no_args_is_help=True,
)


@webhooks_app.command("status")
def status(
    data_dir: DataDir,
    json_out: JsonOut = False,
) -> None:
    """Sales that need a person (REVIEW, DENY, not screenable) and the deliveries' states."""
    seen = run(webhook_server.overview(data_dir))
    states = Counter(d.state for d in seen.deliveries)
    waiting = [d for d in seen.deliveries if d.state == "queued" and d.attempts]
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
                "deliveries": dict(states),
                "retrying": [
                    {"vendor": d.vendor, "attempts": d.attempts, "reason": d.last_error}
                    for d in waiting
                ],
                "alerts": alerts,
            }
        )
        return
    console.print(
        f"Deliveries: {states.get('done', 0)} done, {states.get('queued', 0)} queued, "
        f"{states.get('dropped', 0)} dropped."
    )
    for d in waiting:
        console.print(
            f"[yellow]Retrying[/yellow] a {d.vendor} delivery ({d.attempts} attempts): "
            f"{d.last_error}"
        )
    if not alerts:
        console.print("No sales need a person.")
        return
    table(
        "Sales that need a person",
        ["#", "vendor", "ref", "decision", "reason", "record", "raised"],
        [tuple(a.values()) for a in alerts],
    )
