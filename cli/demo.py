"""`lanyard demo`: the main job end to end, on loopback, in a temporary directory.

A WG registry is initialised and served; an event is enrolled; the WG adds records through
the blinded round; the event screens a small attendee list through a real gRPC client and
matches the results against the registry's signed snapshot. Nothing is left behind.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import nacl.signing

from cli.admin_client import AdminClient, Identifier
from cli.output import console, table
from services.core.channels import open_channel
from services.core.identity import Kind, message
from services.event_agent.registry_client import LocalSnapshot, RegistryClient
from services.registry import server

EVENT_ID = "demo-conf-2027"

# Fictional people. Two are on the WG's list; the attendee list spells them differently.
RECORDS = [
    ("WG-2025-003", "banned", ["jordan.blake@example.net"], ["Jordan Blake"]),
    ("WG-2024-011", "flagged", ["s.rivera@example.org"], ["Sam Rivera"]),
]
ATTENDEES = [
    ("A-1001", "Priya Natarajan", "priya@example.com"),
    ("A-1002", "BLAKE, Jordan", "Jordan.Blake+demo@Example.NET"),
    ("A-1003", "Tomás Ruiz", "tomas.ruiz@example.es"),
    ("A-1004", "Sam Rivera", "sam.r@another.example"),
    ("A-1005", "Zoë O'Brien", "zoe@example.ie"),
    ("A-1006", "Chen Wei", "chen.wei@example.cn"),
]


@dataclass
class Outcome:
    ref: str
    decision: str
    matched: str
    record_ref: str


def _decide(email_hit: str | None, name_hit: str | None) -> tuple[str, str, str]:
    hit = email_hit or name_hit
    if hit is None:
        return "clear", "", ""
    kind = "confirmed" if email_hit else "possible"
    status = hit.split(":", 1)[0]
    decision = "deny" if status == "banned" and email_hit else "review"
    return decision, kind, hit.split(":", 1)[1]


async def _run(workdir: Path) -> None:
    started = time.perf_counter()
    console.rule("[bold]Lanyard demo[/bold]")
    rdir = await server.init_registry(workdir / "registry", listen="127.0.0.1:0")
    console.print(f"1. WG registry initialised in {rdir.path} (OPRF key, epoch 1).")
    async with server.running(rdir) as reg:
        console.print(f"2. Registry serving gRPC on {reg.address}.")
        event_key = nacl.signing.SigningKey.generate()
        channel = open_channel(reg.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            today = date.today()
            enrolled = await admin.enroll_event(
                EVENT_ID,
                "DemoConf 2027",
                today + timedelta(days=30),
                today + timedelta(days=32),
                bytes(event_key.verify_key),
                quota=1000,
            )
            console.print(
                f"3. Event {EVENT_ID} enrolled (quota 1000); it pins the registry "
                f"key {enrolled.registry_public_key.hex()[:16]}…."
            )
            for ref, status, emails, names in RECORDS:
                idents = [Identifier(Kind.EMAIL, e) for e in emails]
                idents += [Identifier(Kind.NAME, n) for n in names]
                await admin.add_record(ref, status, idents)
            console.print(
                f"4. WG added {len(RECORDS)} records through the blinded round: "
                "the registry stored points, not names."
            )

            client = RegistryClient(channel, EVENT_ID, event_key, enrolled.registry_public_key)
            snap = await client.refresh(LocalSnapshot())
            console.print(
                f"5. Event fetched snapshot v{snap.version}: {len(snap.entries)} "
                "entries (padded to a multiple of 64), signature verified."
            )
            messages: list[bytes] = []
            for _, name, email in ATTENDEES:
                messages += [message(Kind.EMAIL, email), message(Kind.NAME, name)]
            ys = await client.evaluate_messages(snap.epoch, messages)
            outcomes = []
            for i, (ref, _, _) in enumerate(ATTENDEES):
                hits = [snap.match(y) for y in ys[2 * i : 2 * i + 2]]
                email_hit, name_hit = (f"{h.status}:{h.record_ref}" if h else None for h in hits)
                outcomes.append(Outcome(ref, *_decide(email_hit, name_hit)))
            console.print(
                f"6. Screened {len(ATTENDEES)} attendees ({len(messages)} "
                f"identifiers, blinded); quota left: {client.quota_remaining}."
            )
            table(
                "Matches",
                ["attendee", "decision", "matched", "record"],
                [
                    (o.ref, o.decision, o.matched, o.record_ref)
                    for o in outcomes
                    if o.decision != "clear"
                ],
            )
            clear = sum(1 for o in outcomes if o.decision == "clear")
            console.print(f"   {clear} clear, {len(outcomes) - clear} to act on.")
            events = await admin.list_events()
            used = next(e.evaluations_used for e in events if e.event_id == EVENT_ID)
            console.print(
                f"7. The registry's view of the event: {used} evaluations, no names, no results."
            )
        finally:
            await channel.close()
    console.print(f"Done in {time.perf_counter() - started:.1f} s; registry stopped.")


def demo(
    keep: bool = False,
) -> None:
    """Run the main job end to end on loopback in a temporary directory."""
    if keep:
        workdir = Path(tempfile.mkdtemp(prefix="lanyard-demo-"))
        asyncio.run(_run(workdir))
        console.print(f"Files kept in {workdir}.")
        return
    with tempfile.TemporaryDirectory(prefix="lanyard-demo-") as tmp:
        asyncio.run(_run(Path(tmp)))
