"""`lanyard demo`: the main job end to end, on loopback, in a temporary directory.

A WG registry and an event agent run side by side. The WG adds records through the
blinded round; the event screens a shipped synthetic ticketing export (its listed people
spelled differently), answers one ticketing-system Check, and raises an alert when the WG
adds a record mid-way. The registry sees counts of blinded points, nothing else.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.admin_client import AdminClient, Identifier
from cli.agent_cmds import print_outcome, screen_with_progress
from cli.output import console, table
from lanyard.agent.v1 import screening_pb2, screening_pb2_grpc
from services.core import auth
from services.core.channels import open_channel
from services.core.enrolment import Enrolment
from services.core.identity import Kind
from services.event_agent import server as agent_server
from services.event_agent.csv_import import open_export
from services.event_agent.datadir import AgentDir
from services.registry import server as registry_server

EVENT_ID = "democonf-2027"
DEMO_EXPORT = Path(__file__).resolve().parent / "data" / "demo_attendees.csv"

# Fictional people on the WG's list; the export spells them differently.
Record = tuple[str, str, list[str], list[str]]
RECORDS: list[Record] = [
    ("WG-2025-003", "banned", ["jordan.blake@example.net"], ["Jordan Blake"]),
    ("WG-2024-011", "flagged", ["s.rivera@example.org"], ["Sam Rivera"]),
    ("WG-2025-017", "flagged", ["zoe.angstrom@example.org"], ["Zoë Ångström"]),
    ("WG-2023-002", "banned", ["mj.garcia@example.es"], ["María José García-López"]),
]
# Added while the agent runs: someone already screened as clear.
LATE_RECORD: Record = ("WG-2027-001", "flagged", ["lukasz.capek.778@example.net"], [])


def _step(number: int, text: str) -> None:
    console.print(f"[bold]{number}.[/bold] {text}", highlight=False)


async def _add(admin: AdminClient, record: Record) -> None:
    ref, status, emails, names = record
    idents = [Identifier(Kind.EMAIL, e) for e in emails]
    idents += [Identifier(Kind.NAME, n) for n in names]
    await admin.add_record(ref, status, idents)


async def _run(workdir: Path) -> None:
    started = time.perf_counter()
    console.rule("[bold]Lanyard demo[/bold]")
    rdir = await registry_server.init_registry(workdir / "registry", listen="127.0.0.1:0")
    async with registry_server.running(rdir) as reg:
        _step(1, f"The WG's registry is serving on {reg.address} (OPRF key, epoch 1).")
        channel = open_channel(reg.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            for record in RECORDS:
                await _add(admin, record)
            _step(
                2,
                f"The WG added {len(RECORDS)} records through the blinded round: "
                "the registry stored curve points, not names.",
            )

            adir = AgentDir(workdir / "agent")
            public = agent_server.init_agent(adir, "127.0.0.1:0")
            starts = date.today() + timedelta(days=60)
            enrolled = await admin.enroll_event(
                EVENT_ID, "DemoConf 2027", starts, starts + timedelta(days=2), public, 50_000
            )
            bundle = workdir / "bundle.json"
            bundle.write_text(
                json.dumps(
                    Enrolment(
                        EVENT_ID,
                        "DemoConf 2027",
                        reg.address,
                        enrolled.registry_public_key,
                        enrolled.suite,
                        starts,
                        starts + timedelta(days=2),
                    ).to_json()
                )
            )
            adir.pin(bundle)
            _step(
                3,
                f"Event {EVENT_ID} enrolled; its agent pinned the registry key "
                f"{enrolled.registry_public_key.hex()[:16]}….",
            )

            async with agent_server.running(adir, "127.0.0.1:0") as agent_run:
                agent = agent_run.agent
                _step(
                    4,
                    f"The event's agent is serving Check on {agent_run.address} and "
                    "following the WG's snapshot.",
                )
                export = open_export(DEMO_EXPORT)
                _step(
                    5,
                    f"Screening the ticketing export {DEMO_EXPORT.name} "
                    f"({export.layout.format} layout):",
                )
                outcome = await screen_with_progress(agent, export, "attendee", console.is_terminal)
                print_outcome(outcome)

                key = await agent.add_integration("demo-ticketing")
                signer = auth.CallSigner("integration:demo-ticketing", key)
                check_channel = open_channel(agent_run.address)
                try:
                    response = await screening_pb2_grpc.ScreeningStub(check_channel).Check(
                        screening_pb2.CheckRequest(
                            name="Jordan BLAKE",
                            email="j.blake+2027@example.net",
                            role=screening_pb2.ROLE_ATTENDEE,
                            caller_ref="SALE-0042",
                        ),
                        metadata=signer.metadata("/lanyard.agent.v1.Screening/Check"),
                    )
                finally:
                    await check_channel.close()
                _step(
                    6,
                    "A new ticket sale, checked by the ticketing system over gRPC: "
                    f"{screening_pb2.Decision.Name(response.decision)[9:]} "
                    f"({screening_pb2.Reason.Name(response.reason)[7:].lower().replace('_', '-')}, "
                    f"record {response.record_ref}) — a name-only match, for a person "
                    "to look at.",
                )

                await _add(admin, LATE_RECORD)
                _step(
                    7,
                    f"Mid-way, the WG adds {LATE_RECORD[0]}; the agent re-checks its "
                    "stored attendees locally, sending nothing:",
                )
                alerts = []
                for _ in range(100):
                    alerts = await agent.alerts()
                    if alerts:
                        break
                    await asyncio.sleep(0.05)
                table(
                    "Alerts",
                    ["#", "ref", "what", "decision", "reason", "record"],
                    [
                        (
                            a.alert_id,
                            a.ref,
                            a.kind,
                            a.result.decision.value,
                            a.result.reason.value,
                            a.result.record_ref,
                        )
                        for a in alerts
                    ],
                )
            events = await admin.list_events()
            used = next(e.evaluations_used for e in events if e.event_id == EVENT_ID)
            _step(
                8,
                f"What the registry learnt about the event: {used:,} evaluations of "
                "blinded points. No names, no e-mail addresses, no results.",
            )
        finally:
            await channel.close()
    console.print(
        f"Done in {time.perf_counter() - started:.1f} s; registry and agent "
        "stopped, temporary files removed."
    )


def demo(
    keep: Annotated[bool, typer.Option(help="Keep the temporary directory to look at.")] = False,
) -> None:
    """Run the main job end to end on loopback in a temporary directory."""
    if keep:
        workdir = Path(tempfile.mkdtemp(prefix="lanyard-demo-"))
        asyncio.run(_run(workdir))
        console.print(f"Files kept in {workdir}.")
        return
    with tempfile.TemporaryDirectory(prefix="lanyard-demo-") as tmp:
        asyncio.run(_run(Path(tmp)))
