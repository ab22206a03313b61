"""`lanyard demo`: the main job end to end, on loopback, in a temporary directory.

A WG registry and an event agent run side by side. The WG adds records through the
blinded round; the event screens a shipped synthetic ticketing export (its listed people
spelled differently), answers one ticketing-system Check and one sale posted to its
webhook receiver, and raises an alert when the WG
adds a record mid-way. The Code of Conduct team handles an incident (a volunteer files,
two responders decide, the chair audits), and the end-of-event report goes to the WG
sealed, is receipted in the registry's log, opened by a WG reader and acknowledged. The
registry sees counts of blinded points and ciphertext, nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import aiohttp
import grpc
import nacl.public
import nacl.signing
import typer

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.reports import build_report, verify_in_log
from lanyard.agent.screening.csv_import import open_export
from lanyard.agent.service import AgentService
from lanyard.agent.transparency import settings as tsettings
from lanyard.agent.webhooks import server as webhook_server
from lanyard.cli.output import CliError, console, table
from lanyard.cli.screening.commands import print_outcome, screen_with_progress
from lanyard.cli.transparency import commands as transparency_cmds
from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.incidents import IncidentClient
from lanyard.core import auth, envelope, files
from lanyard.core.channels import open_channel
from lanyard.core.enrolment import Enrolment
from lanyard.core.identity import Kind
from lanyard.registry import server as registry_server
from lanyard.wire.agent.v1 import incidents_pb2 as ipb
from lanyard.wire.agent.v1 import screening_pb2, screening_pb2_grpc

EVENT_ID = "democonf-2027"
UNLOCK = crypto.Unlock(passphrase="demo passphrase, not for real use")  # noqa: S106 - demo only
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


@dataclass(frozen=True)
class Reader:
    name: str
    encryption: nacl.public.PrivateKey
    signing: nacl.signing.SigningKey


_steps = itertools.count(1)


def _step(text: str) -> None:
    """The next numbered step: numbers never jump or repeat."""
    console.print(f"[bold]{next(_steps)}.[/bold] {text}", highlight=False)


async def _add(admin: AdminClient, record: Record) -> None:
    ref, status, emails, names = record
    idents = [Identifier(Kind.EMAIL, e) for e in emails]
    idents += [Identifier(Kind.NAME, n) for n in names]
    await admin.add_record(ref, status, idents)


async def _webhook_sale(adir: AgentDir, agent: AgentService) -> str:
    """One Tito sale through the agent's webhook receiver: answered at once with nothing
    about the person, screened behind by the worker; returns what the demo prints."""
    token = "demo-tito-token"  # noqa: S105 - demo only
    files.write_atomically(adir.path / "webhooks.toml", f'[tito]\ntoken = "{token}"\n')
    ticket = {"slug": "demo-t1", "reference": "TITO-7", "name": "Sam Rivera", "email": ""}
    body = json.dumps(ticket).encode()
    signature = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest())
    headers = {"Tito-Signature": signature.decode(), "X-Webhook-Name": "ticket.completed"}
    async with (
        webhook_server.running(adir.path, agent, "127.0.0.1:0") as hooks,
        aiohttp.ClientSession() as http,
        http.post(hooks.url + "/tito", data=body, headers=headers) as response,
    ):
        answer = f"{response.status} {await response.text()}"

        async def alerted() -> bool:
            return bool(await hooks.queue.alerts())

        async with asyncio.timeout(30):
            await hooks.worker.until(alerted)
        [alert] = await hooks.queue.alerts()
    return (
        f"A Tito sale posted to the agent's webhook receiver was answered {answer} (no "
        f"decision goes back); the worker behind it: {alert.decision.upper()} "
        f"({alert.reason}, record {alert.record_ref}), an alert for the team."
    )


async def _incident_story(address: str, adir: AgentDir) -> None:
    """A volunteer files a report; two responders review and decide; the chair audits."""
    members = {name: nacl.signing.SigningKey.generate() for name in ("chair", "ana", "ben", "vic")}
    channel = open_channel(address)
    try:

        def as_(who: str) -> IncidentClient:
            signer = (
                auth.CallSigner(f"event:{EVENT_ID}", adir.event_key())
                if who == "operator"
                else auth.CallSigner(f"member:{who}", members[who])
            )
            return IncidentClient(channel, signer, address)

        await as_("operator").add_member("chair", "chair", bytes(members["chair"].verify_key))
        for name, role in (("ana", "responder"), ("ben", "responder"), ("vic", "volunteer")):
            await as_("chair").add_member(name, role, bytes(members[name].verify_key))
        filed = await as_("vic").file_incident(
            ipb.Report(
                reporter_name="Robin Example",
                reporter_contact="robin@example.org",
                received_by="vic",
                description="Unwanted comments about appearance after a talk",
                reported=[ipb.ReportedPerson(name="Casey Example", role="attendee")],
                location="Hallway by room B",
                ongoing=ipb.ANSWER_NO,
                safety_threat=ipb.ANSWER_NO,
                category="harassment",
            )
        )
        iid = filed.incident_id
        _step(
            f"A volunteer filed incident {iid} (contents sealed under a key of its own); "
            "volunteers cannot read reports back.",
        )
        incident = await as_("ana").get_incident(iid)
        incident = await as_("ana").update_incident(iid, incident.version, "acknowledged")
        await as_("ana").add_note(iid, "Ana and Ben spoke with the reporter", ["ana", "ben"])
        decision = ipb.IncidentDecision(
            violation=ipb.ANSWER_YES,
            bad_actors=["Casey Example"],
            resolutions=["warning"],
            reasoning="first report; behaviour stopped when asked",
        )
        await as_("ana").decide(iid, decision)
        final = await as_("ben").decide(iid, decision)
        today = date.today().isoformat()
        told = await as_("ana").record_communication(iid, today, today)
        await as_("chair").update_incident(iid, told.version, "closed")
        _step(
            f"Two responders decided ({', '.join(final.decision.approved_by)}: a "
            "warning); both people were told; the chair closed it. The chair's audit "
            "trail, every read and change:",
        )
        trail = await as_("chair").audit(iid)
        table(
            f"Audit trail of incident {iid}",
            ["when", "who", "what"],
            [(e.at[11:19], e.member, e.action) for e in trail],
        )
    finally:
        await channel.close()


async def _report_story(
    admin: AdminClient, agent: AgentService, adir: AgentDir, channel: grpc.aio.Channel
) -> None:
    """The end-of-event report: sealed, submitted, receipted, opened and acknowledged."""
    reader = Reader(
        "wg-alex", nacl.public.PrivateKey.generate(), nacl.signing.SigningKey.generate()
    )
    await admin.add_recipient(
        reader.name, bytes(reader.encryption.public_key), bytes(reader.signing.verify_key)
    )
    async with (
        agent_operator.incident_records(adir, UNLOCK) as records,
        agent_operator.report_sender(adir, agent) as sender,
    ):
        report = build_report(agent.enrolment, await records.export_all("report"))
        entry = await sender.seal(report)
        delivery = await sender.deliver(entry)
    receipt = delivery.receipt
    if receipt is None:
        raise CliError(f"the demo's report was not receipted: {delivery.error}")
    _step(
        f"The chair submitted the end-of-event report, signed and sealed to the WG's "
        f"reader {reader.name}: receipt for log entry {receipt.log_index} (tree size "
        f"{receipt.tree_size}, root {receipt.root.hex()[:16]}…).",
    )
    wg = AdminClient(channel, reader.signing, admin_name=reader.name)
    stored = await wg.get_submission(receipt.submission_id)
    event_key = (await wg.events_by_id())[EVENT_ID].public_key
    opened = envelope.open_report(stored.envelope, reader.name, reader.encryption, event_key)
    await wg.advance_submission(
        receipt.submission_id,
        "acknowledged",
        reader.name,
        reader.signing,
        message="Received, thank you",
    )
    verified = await verify_in_log(agent.registry, receipt)
    console.print(
        f"    {reader.name} opened it with their own key ({len(opened['incidents'])} "
        "incident, the event's signature verified) and acknowledged it; the event "
        f"checked its receipt against the signed log (tree size "
        f"{verified.head.tree_size}) and sees: "
        + ", ".join(f"{s.step} by {s.member}" for s in verified.steps)
        + ".",
        highlight=False,
    )


async def _run(workdir: Path, keep: bool = False) -> None:
    global _steps
    _steps = itertools.count(1)
    started = time.perf_counter()
    console.rule("[bold]Lanyard demo[/bold]")
    rdir = await registry_server.init_registry(workdir / "registry", listen="127.0.0.1:0")
    async with registry_server.running(rdir) as reg:
        _step(f"The WG's registry is serving on {reg.address} (OPRF key, epoch 1).")
        channel = open_channel(reg.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            for record in RECORDS:
                await _add(admin, record)
            _step(
                f"The WG added {len(RECORDS)} records through the blinded round: "
                "the registry stored curve points, not names.",
            )

            adir = AgentDir(workdir / "agent")
            public = agent_operator.init_agent(adir, "127.0.0.1:0")
            # The event ran these last three days: screening, an incident, then the reports.
            starts = date.today() - timedelta(days=2)
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
            agent_operator.init_incidents(adir, UNLOCK, strength="interactive")
            _step(
                f"Event {EVENT_ID} enrolled; its agent pinned the registry key "
                f"{enrolled.registry_public_key.hex()[:16]}….",
            )

            async with agent_server.running(adir, "127.0.0.1:0", unlock=UNLOCK) as agent_run:
                agent = agent_run.agent
                _step(
                    f"The event's agent is serving Check on {agent_run.address} and "
                    "following the WG's snapshot.",
                )
                export = open_export(DEMO_EXPORT)
                _step(
                    f"Screening the ticketing export {DEMO_EXPORT.name} "
                    f"({export.layout.format} layout):",
                )
                outcome = await screen_with_progress(agent, export, "attendee", console.is_terminal)
                print_outcome(outcome, export)

                key = await agent.add_integration("demo-ticketing")
                signer = auth.CallSigner("integration:demo-ticketing", key)
                check_channel = open_channel(agent_run.address)
                try:
                    response = await screening_pb2_grpc.ScreeningStub(check_channel).Check(
                        request := screening_pb2.CheckRequest(
                            name="Jordan BLAKE",
                            email="j.blake+2027@example.net",
                            role=screening_pb2.ROLE_ATTENDEE,
                            caller_ref="SALE-0042",
                        ),
                        metadata=signer.metadata("/lanyard.agent.v1.Screening/Check", request),
                    )
                finally:
                    await check_channel.close()
                _step(
                    "A new ticket sale, checked by the ticketing system over gRPC: "
                    f"{screening_pb2.Decision.Name(response.decision)[9:]} "
                    f"({screening_pb2.Reason.Name(response.reason)[7:].lower().replace('_', '-')}, "
                    f"record {response.record_ref}) — a name-only match, for a person "
                    "to look at.",
                )
                console.print(await _webhook_sale(adir, agent))

                await _add(admin, LATE_RECORD)
                _step(
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
                    ["#", "who", "what", "decision", "reason", "record"],
                    [
                        (
                            a.alert_id,
                            a.label,
                            a.kind,
                            a.result.decision.value,
                            a.result.reason.value,
                            a.record_ref,
                        )
                        for a in alerts
                    ],
                )
                await _incident_story(agent_run.address, adir)
                await _report_story(admin, agent, adir, channel)
                tsettings.set_facts(
                    adir,
                    in_person=2850,
                    online=410,
                    channels="in person at the registration desk, or by e-mail to the CoC team",
                    published="https://democonf.example.org/code-of-conduct",
                )
                _step(
                    "The initial transparency report, checked for every name and "
                    "identifier the agent holds before it is printed:",
                )
                await transparency_cmds.print_initial_report(adir, UNLOCK)
            events = await admin.list_events()
            used = next(e.evaluations_used for e in events if e.event_id == EVENT_ID)
            sealed = len(await admin.list_submissions())
            _step(
                f"What the registry learnt about the event: {used:,} evaluations of "
                f"blinded points and {sealed} sealed report it cannot read. No names, no "
                "e-mail addresses, no results.",
            )
        finally:
            await channel.close()
    files = f"files kept in {workdir}" if keep else "temporary files removed"
    console.print(
        f"Done in {time.perf_counter() - started:.1f} s; registry and agent stopped, {files}.",
        highlight=False,
    )


def demo(
    keep: Annotated[bool, typer.Option(help="Keep the temporary directory to look at.")] = False,
) -> None:
    """Run the main job end to end on loopback in a temporary directory."""
    if keep:
        workdir = Path(tempfile.mkdtemp(prefix="lanyard-demo-"))
        asyncio.run(_run(workdir, keep=True))
        return
    with tempfile.TemporaryDirectory(prefix="lanyard-demo-") as tmp:
        asyncio.run(_run(Path(tmp)))
