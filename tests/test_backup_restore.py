"""Backups as an operator takes them: while the registry serves, into one encrypted archive;
the registry is then killed and its data directory lost; the archive is restored, the
registry served again, and the event's agent (restored the same way) verifies the signed
snapshot, its receipt in the log and reads its incident records. A restore refuses to
bring back an OPRF key the registry has since destroyed, and to replace a directory a
`serve` is running on."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from pathlib import Path

import nacl.public
import nacl.signing
import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent import server as agent_server
from lanyard.agent.datadir import AgentDir
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Decision, Report
from lanyard.agent.incidents.service import Caller
from lanyard.agent.reports import build_report, verify_in_log
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from tests.agent.conftest import enrolled_agent_dir
from tests.canary_tools import lanyard_argv, run_cli, serve_subprocess
from tests.registry.test_serve_process import assert_one_sentence

PASSPHRASE = "incident records passphrase"
ARCHIVE_PASSPHRASE = "archive passphrase, long enough"
WAIT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.wait_for(asyncio.to_thread(run_cli, list(argv)), WAIT)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
async def test_kill_restore_serve_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "archive-passphrase"
    secret_file.write_text(ARCHIVE_PASSPHRASE + "\n")
    secret_file.chmod(0o600)
    pf = ["--passphrase-file", str(secret_file)]
    address = f"127.0.0.1:{free_port()}"
    rdir = await server.init_registry(tmp_path / "registry", listen=address)
    argv = lanyard_argv("registry", "serve", "--data-dir", str(rdir.path))
    unlock = crypto.Unlock(passphrase=PASSPHRASE)

    # -- a registry at work: records, an enrolled event, a receipted report ------------------
    with serve_subprocess("registry", argv, rdir.path, tmp_path / "serve-1.log") as served:
        channel = open_channel(served.endpoint)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            await admin.add_record("WG-1", "banned", [Identifier(Kind.EMAIL, "rex@example.org")])
            reader = nacl.public.PrivateKey.generate()
            await admin.add_recipient(
                "wg-alex",
                bytes(reader.public_key),
                bytes(nacl.signing.SigningKey.generate().verify_key),
            )
            adir = await enrolled_agent_dir(tmp_path, admin, served.endpoint)
            agent_operator.init_incidents(adir, unlock, "interactive")
            async with (
                agent_operator.opened(adir) as agent,
                agent_operator.incident_records(adir, unlock) as records,
                agent_operator.report_sender(adir, agent) as sender,
            ):
                await agent.sync()
                before = (agent.snapshot.epoch, agent.snapshot.version)
                found = await agent.check("", "rex@example.org", "attendee", "T-1")
                assert found.record_ref == "WG-1"
                ana, ben = Caller("ana", "responder"), Caller("ben", "responder")
                filed = await records.file(
                    ana, Report(description="Kept following the reporter", category="harassment")
                )
                decision = Decision(
                    violation="yes", resolutions=["warning"], reasoning="first report"
                )
                await records.decide(ana, filed.incident_id, decision)
                await records.decide(ben, filed.incident_id, decision)
                report = build_report(agent.enrolment, await records.export_all("report"))
                delivery = await sender.deliver(await sender.seal(report))
                assert delivery.receipt is not None
                receipt = delivery.receipt
        finally:
            await channel.close()

        # -- backups while it serves ------------------------------------------------------
        code, out, err = await cli(
            capsys,
            "registry", "backup", "--data-dir", str(rdir.path), "--out",
            str(tmp_path / "registry.lbk"), "--kdf", "interactive", *pf,
        )  # fmt: skip
        assert code == 0, err
        assert "OPRF epoch 1" in out
        code, _, err = await cli(
            capsys,
            "agent", "backup", "--data-dir", str(adir.path), "--out",
            str(tmp_path / "agent.lbk"), "--kdf", "interactive", *pf,
        )  # fmt: skip
        assert code == 0, err
        archive = (tmp_path / "registry.lbk").read_bytes()
        for secret in (b"rex@example.org", rdir.oprf_key(1), PASSPHRASE.encode()):
            assert secret not in archive

        # -- the machine dies: no graceful stop, the data directories are lost ----------------
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(timeout=WAIT)
    shutil.rmtree(rdir.path)
    shutil.rmtree(adir.path)

    code, _, err = await cli(
        capsys, "registry", "restore", str(tmp_path / "registry.lbk"), "--data-dir",
        str(rdir.path), "--passphrase-file", str(tmp_path / "agent.lbk"),
    )  # fmt: skip
    assert code == 1  # not a passphrase file: refused, nothing restored
    assert not (rdir.path / "registry.db").exists()
    wrong = tmp_path / "wrong"
    wrong.write_text("not the archive passphrase\n")
    wrong.chmod(0o600)
    code, _, err = await cli(
        capsys, "registry", "restore", str(tmp_path / "registry.lbk"), "--data-dir",
        str(rdir.path), "--passphrase-file", str(wrong),
    )  # fmt: skip
    assert code == 1
    assert "passphrase does not open" in err
    code, _, err = await cli(
        capsys, "agent", "restore", str(tmp_path / "registry.lbk"), "--data-dir",
        str(adir.path), *pf,
    )  # fmt: skip
    assert code == 1
    assert "not an agent's" in err

    for what, archive_path, target in (
        ("registry", tmp_path / "registry.lbk", rdir.path),
        ("agent", tmp_path / "agent.lbk", adir.path),
    ):
        code, _, err = await cli(
            capsys, what, "restore", str(archive_path), "--data-dir", str(target), *pf
        )
        assert code == 0, err

    # -- served again: the same snapshot, the receipt in the log, the incident readable -----
    with serve_subprocess("registry", argv, rdir.path, tmp_path / "serve-2.log") as served:
        assert served.endpoint == address
        restored = AgentDir(adir.path)
        async with (
            agent_operator.opened(restored) as agent,
            agent_operator.incident_records(restored, unlock) as records,
        ):
            await agent.sync()  # verifies the signature against the key pinned at enrolment
            assert (agent.snapshot.epoch, agent.snapshot.version) == before
            again = await agent.check("", "rex@example.org", "attendee", "T-2")
            assert again.record_ref == "WG-1"
            verified = await verify_in_log(agent.registry, receipt)
            assert verified.status == "received"
            incident = await records.get(Caller("ana", "responder"), filed.incident_id)
            assert incident.report.description == "Kept following the reporter"
            assert incident.decision is not None
            assert incident.decision.final

        # The WG rotates its key: the old archive would bring epoch 1's key back.
        channel = open_channel(served.endpoint)
        try:
            admin = AdminClient(channel, RegistryDir(rdir.path).admin_key())
            rotated = await admin.rotate_key(await admin.current_epoch())
            assert rotated.epoch == 2
        finally:
            await channel.close()
    code, _, err = await cli(
        capsys, "registry", "restore", str(tmp_path / "registry.lbk"), "--data-dir",
        str(rdir.path), "--replace", *pf,
    )  # fmt: skip
    assert code == 1
    sentence = " ".join(err.split())
    assert "has since moved to epoch 2" in sentence
    assert "bring a destroyed key back" in sentence
    assert not RegistryDir(rdir.path).oprf_key_path(1).exists()
    assert RegistryDir(rdir.path).oprf_key_path(2).exists()


async def test_a_restore_is_refused_while_serve_runs_on_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "archive-passphrase"
    secret_file.write_text(ARCHIVE_PASSPHRASE + "\n")
    secret_file.chmod(0o600)
    pf = ["--passphrase-file", str(secret_file)]
    rdir = await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")
    archives = {"registry": tmp_path / "registry.lbk", "agent": tmp_path / "agent.lbk"}

    def aside(path: Path) -> list[Path]:
        return sorted(path.parent.glob(f"{path.name}.replaced-*"))

    async with server.running(rdir) as registry:
        channel = open_channel(registry.address)
        try:
            admin = AdminClient(channel, rdir.admin_key())
            adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
            for what, target in (("registry", rdir.path), ("agent", adir.path)):
                code, _, err = await cli(
                    capsys, what, "backup", "--data-dir", str(target), "--out",
                    str(archives[what]), "--kdf", "interactive", *pf,
                )  # fmt: skip
                assert code == 0, err
            # Listed after the backup: a restore now would lose it at the next start.
            await admin.add_record("WG-LATE", "banned", [Identifier(Kind.EMAIL, "l@x.example")])
            code, _, err = await cli(
                capsys, "registry", "restore", str(archives["registry"]), "--data-dir",
                str(rdir.path), "--replace", *pf,
            )  # fmt: skip
            assert code == 1
            sentence = assert_one_sentence(err)
            assert "`lanyard registry serve` is running on" in sentence
            assert "stop it before restoring" in sentence
            assert aside(rdir.path) == []
            assert (rdir.path / "serve.lock").exists()
            listed = await admin.list_records()
            assert "WG-LATE" in {r.record_ref for r in listed.records}

            async with agent_server.running(adir, "127.0.0.1:0"):
                code, _, err = await cli(
                    capsys, "agent", "restore", str(archives["agent"]), "--data-dir",
                    str(adir.path), "--replace", *pf,
                )  # fmt: skip
                assert code == 1
                assert "`lanyard agent serve` is running on" in assert_one_sentence(err)
                assert aside(adir.path) == []
            # Stopped: the same restore goes ahead.
            code, _, err = await cli(
                capsys, "agent", "restore", str(archives["agent"]), "--data-dir",
                str(adir.path), "--replace", *pf,
            )  # fmt: skip
            assert code == 0, err
            assert len(aside(adir.path)) == 1
        finally:
            await channel.close()
    code, _, err = await cli(
        capsys, "registry", "restore", str(archives["registry"]), "--data-dir",
        str(rdir.path), "--replace", *pf,
    )  # fmt: skip
    assert code == 0, err
    assert len(aside(rdir.path)) == 1
