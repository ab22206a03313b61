"""The privacy canary: no raw identifier may reach the registry.

DESIGN.md, Invariants: "No raw identifier ever reaches the registry process: not in a
request, its database, its logs." The registry runs here as a real `lanyard registry serve`
subprocess behind a recording TCP proxy. Every flow that touches identities runs through the
proxy with unique canary names and e-mail addresses; afterwards every byte the registry
received, stored or logged is searched for each canary in every form it could plausibly
take. Positive controls (record references, which are *meant* to reach the registry, found
in each haystack; a scratch file holding a canary) show the search can fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import grpc
import nacl.signing
import pytest
import structlog

from lanyard.client.admin import AdminClient, Identifier, record_messages
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot, RegistryClient
from lanyard.core import identity
from lanyard.core.identity import Kind, normalize
from lanyard.core.limits import MAX_RESPONSE_BYTES as MAX_MESSAGE_BYTES
from lanyard.registry.datadir import RegistryDir
from tests.canary_tools import (
    Canary,
    MetadataRecorder,
    RecordingProxy,
    ServedRegistry,
    carrying,
    data_dir_files,
    describe,
    find_canaries,
    grpc_frames,
    log_events,
    make_canary,
    run_cli,
    serve_registry,
)

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 10.0


@pytest.fixture
def served_registry(tmp_path: Path) -> Iterator[ServedRegistry]:
    with serve_registry(tmp_path) as served:
        yield served


@pytest.fixture
def proxy(served_registry: ServedRegistry) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(served_registry.endpoint)
    try:
        yield recording
    finally:
        recording.close()


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """`cli.main.main` reconfigures structlog for the whole process; put it back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


# -- the self-check: the search can fail ---------------------------------------------------


def test_search_finds_a_planted_canary_in_every_form(tmp_path: Path) -> None:
    canary = make_canary("planted", Kind.NAME, "Çanäry Plänted Zq{token}")
    email = make_canary("planted e-mail", Kind.EMAIL, "Çanäry.{token}+tag@Example.ORG")
    for name, subject in (("name", canary), ("email", email)):
        for form, needle in subject.forms().items():
            scratch = tmp_path / f"scratch-{name}-{form.replace(' ', '_')}.bin"
            scratch.write_bytes(os.urandom(64) + needle + os.urandom(64))
            hits = find_canaries({"scratch": scratch.read_bytes()}, [subject])
            assert any(h.form == form and h.offset == 64 for h in hits), (name, form)
    # The forms are distinct: each is a check of its own.
    for subject in (canary, email):
        assert len(set(subject.forms().values())) == len(subject.forms())
    # And nothing is found where nothing was planted.
    assert find_canaries({"noise": os.urandom(1 << 16)}, [canary, email]) == []


# -- the canary run ------------------------------------------------------------------------


async def test_no_raw_identifier_reaches_the_registry(
    served_registry: ServedRegistry,
    proxy: RecordingProxy,
    restore_structlog: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = served_registry.data_dir
    banned_name = make_canary("banned record name", Kind.NAME, "Çanäry Pérsön Zq{token}")
    banned_email = make_canary("banned record e-mail", Kind.EMAIL, "Canary.{token}+tag@Example.ORG")
    flagged_name = make_canary("flagged record name", Kind.NAME, "Ms. Çanäry-O’Bríen Zq{token}")
    flagged_email = make_canary("flagged record e-mail", Kind.EMAIL, "ÇANÄRY.{token}@Example.ORG")
    cli_name = make_canary("CLI record name", Kind.NAME, "Çanäry Clí Ëntry Zq{token}")
    cli_email = make_canary("CLI record e-mail", Kind.EMAIL, "cli.canary.{token}+x@Example.ORG")
    attendee_name = make_canary("attendee name", Kind.NAME, "Ättendee Çanary Zq{token}")
    attendee_email = make_canary("attendee e-mail", Kind.EMAIL, "Attendee.{token}+t@Example.ORG")
    alias_name = make_canary("alias added by update", Kind.NAME, "Älias Çanary Zq{token}")
    # The banned person again, spelt as a ticket export might: a different raw string
    # that normalises to the same identifier, so the screening really matches.
    respelt = Canary(
        "banned person as attendee",
        Kind.NAME,
        f"ZQ{banned_name.token.upper()}, PERSON CANARY",
        banned_name.token,
    )
    assert normalize(Kind.NAME, respelt.raw) == normalize(Kind.NAME, banned_name.raw)
    canaries = [
        banned_name,
        banned_email,
        flagged_name,
        flagged_email,
        cli_name,
        cli_email,
        alias_name,
        attendee_name,
        attendee_email,
        respelt,
    ]
    # A control: the event's public name is *meant* to reach the registry, so the same
    # search must find it in the capture and the database, or the search is blind.
    control = make_canary("control (event name)", Kind.NAME, "Çanäry Cönf Zq{token}")
    run_id = uuid.uuid4().hex[:8]
    banned_ref, flagged_ref, cli_ref = (f"WG-{run_id}-{n}" for n in ("BAN", "FLAG", "CLI"))
    event_id = f"canaryconf-{run_id}"

    recorder = MetadataRecorder()
    channel = grpc.aio.insecure_channel(
        proxy.address,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.enable_http_proxy", 0),
        ],
        interceptors=[recorder],
    )
    try:
        admin = AdminClient(channel, RegistryDir(data_dir).admin_key())
        event_key = nacl.signing.SigningKey.generate()
        enrolled = await asyncio.wait_for(
            admin.enroll_event(
                event_id,
                control.raw,
                date(2027, 5, 1),
                date(2027, 5, 3),
                bytes(event_key.verify_key),
                1000,
            ),
            CALL_TIMEOUT,
        )
        epoch = int(enrolled.epoch)

        # Records: the blinded round, through the proxy.
        await asyncio.wait_for(
            admin.add_record(
                banned_ref,
                "banned",
                [
                    Identifier(Kind.NAME, banned_name.raw),
                    Identifier(Kind.EMAIL, banned_email.raw),
                ],
            ),
            CALL_TIMEOUT,
        )
        await asyncio.wait_for(
            admin.add_record(
                flagged_ref,
                "flagged",
                [
                    Identifier(Kind.NAME, flagged_name.raw),
                    Identifier(Kind.EMAIL, flagged_email.raw),
                ],
                date(2029, 1, 1),
            ),
            CALL_TIMEOUT,
        )

        # The CLI's own path, `lanyard registry record add`, pointed at the proxy.
        status = await asyncio.to_thread(
            run_cli,
            [
                "registry",
                "record",
                "add",
                "--data-dir",
                str(data_dir),
                "--endpoint",
                proxy.address,
                "--ref",
                cli_ref,
                "--status",
                "flagged",
                "--name",
                cli_name.raw,
                "--email",
                cli_email.raw,
                "--json",
            ],
        )
        out = capsys.readouterr()
        assert status == 0, out.err
        # The e-mail, and the name under every spec §5a form ("canaery" among them).
        forms = record_messages(
            [Identifier(Kind.NAME, cli_name.raw), Identifier(Kind.EMAIL, cli_email.raw)]
        )
        assert len(forms) >= 3
        assert json.loads(out.out)["identifiers"] == len(forms)
        # A later alias, `record update --alias`: blinded on this machine too.
        status = await asyncio.to_thread(
            run_cli,
            [
                "registry", "record", "update", cli_ref, "--data-dir", str(data_dir),
                "--endpoint", proxy.address, "--alias", alias_name.raw, "--json",
            ],
        )  # fmt: skip
        out = capsys.readouterr()
        assert status == 0, out.err
        alias_forms = record_messages([Identifier(Kind.NAME, alias_name.raw)])
        assert json.loads(out.out)["identifiers"] == len(forms) + len(alias_forms)

        listed = await asyncio.wait_for(admin.list_records(), CALL_TIMEOUT)
        assert {r.record_ref for r in listed.records} == {banned_ref, flagged_ref, cli_ref}
        events = await asyncio.wait_for(admin.list_events(), CALL_TIMEOUT)
        assert [e.event_id for e in events] == [event_id]

        # The event's side: watch, evaluate canary attendees, fetch and match snapshots.
        client = RegistryClient(channel, event_id, event_key, enrolled.registry_public_key)
        watch = client.watch()
        first = await asyncio.wait_for(anext(watch), CALL_TIMEOUT)
        assert first == (epoch, listed.snapshot_version)

        attendees = [
            (Kind.NAME, attendee_name.raw),
            (Kind.EMAIL, attendee_email.raw),
            (Kind.NAME, respelt.raw),
            (Kind.EMAIL, flagged_email.raw),
        ]
        ys = await asyncio.wait_for(
            client.evaluate_messages(epoch, [identity.message(k, v) for k, v in attendees]),
            CALL_TIMEOUT,
        )
        held = await asyncio.wait_for(client.refresh(LocalSnapshot()), CALL_TIMEOUT)
        found = [held.match(y) for y in ys]
        assert found[0] is None
        assert found[1] is None
        assert found[2] is not None
        assert (found[2].status, found[2].record_ref) == ("banned", banned_ref)
        assert found[3] is not None
        assert (found[3].status, found[3].record_ref) == ("flagged", flagged_ref)

        version = await asyncio.wait_for(admin.remove_record(flagged_ref), CALL_TIMEOUT)
        second = await asyncio.wait_for(anext(watch), CALL_TIMEOUT)
        assert second == (epoch, version)
        await watch.aclose()
        held = await asyncio.wait_for(client.refresh(held), CALL_TIMEOUT)
        assert held.version == version
        assert held.match(ys[3]) is None

        revoked = await asyncio.wait_for(admin.revoke_event(event_id), CALL_TIMEOUT)
        assert revoked.revoked_at
        with pytest.raises(RpcFailed) as refused:
            await asyncio.wait_for(client.refresh(held), CALL_TIMEOUT)
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()

    running_files = data_dir_files(data_dir, "while serving")
    assert await asyncio.to_thread(served_registry.stop) == 0
    proxy.close()
    stopped_files = data_dir_files(data_dir, "after stop")
    log_text = served_registry.log_path.read_text(encoding="utf-8", errors="replace")

    # Positive controls: each haystack is the real thing and searching it can succeed.
    sent, received = proxy.sent(), proxy.received()
    assert len(sent) >= 2, "the channel and the CLI should each have connected"
    assert sum(map(len, sent)) > 4000, "the proxy captured too little to mean anything"
    assert sum(map(len, received)) > 4000
    for stream in carrying(sent):
        messages, compressed = grpc_frames(stream)
        assert messages > 0
        assert compressed == 0, "a compressed gRPC message would hide a canary from the search"
    all_sent = b"".join(sent)
    for ref in (banned_ref, flagged_ref, cli_ref):
        assert ref.encode() in all_sent
    db_bytes = b"".join(v for k, v in running_files.items() if "registry.db" in k)
    assert banned_ref.encode() in db_bytes, "the database search cannot see stored text"
    assert len(stopped_files) >= 5
    lines = log_events(log_text)
    evaluated = [e for e in lines if e.get("event") == "registry.evaluated"]
    assert [e["count"] for e in evaluated] == [len(attendees)]
    assert any(e.get("event") == "registry.record_added" for e in lines)
    assert banned_ref in log_text
    assert any(e.get("event") == "registry.stopped" for e in lines)
    assert event_id.encode() in recorder.dump()

    haystacks: dict[str, bytes] = {}
    for i, stream in enumerate(sent):
        haystacks[f"proxy capture client→server, connection {i}"] = stream
    for i, stream in enumerate(received):
        haystacks[f"proxy capture server→client, connection {i}"] = stream
    haystacks["call metadata sent"] = recorder.dump()
    haystacks.update(running_files)
    haystacks.update(stopped_files)
    haystacks["registry log"] = log_text.encode("utf-8")
    control_hits = {h.where for h in find_canaries(haystacks, [control]) if h.form == "raw UTF-8"}
    assert any(w.startswith("proxy capture client→server") for w in control_hits), control_hits
    assert any(w.startswith("data dir file registry.db") for w in control_hits), control_hits
    hits = find_canaries(haystacks, canaries)
    assert not hits, describe(hits)
