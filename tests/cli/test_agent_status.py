"""`lanyard agent status` as typed: it names what needs a person (open registry faults
among them) and exits 1 then, and says what each background task of `agent serve` is
doing, an idle one included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lanyard.agent import server as agent_server
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.core.supervise import Supervisor
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir
from tests.agent.test_evaluation_proof import EVENT, OtherKeyForOneEvent
from tests.cli.test_agent_cli import lanyard

BOUND = 20.0


def _flat(text: str) -> str:
    """Terminal output with its line wrapping undone."""
    return " ".join(text.split())


async def _until_ok(tasks: Supervisor, name: str) -> None:
    async def reached() -> None:
        while tasks.states[name].state != "ok":
            tasks.changed.clear()
            if tasks.states[name].state == "ok":
                return
            await tasks.changed.wait()

    await asyncio.wait_for(reached(), BOUND)


async def test_open_registry_faults_are_listed_and_exit_1(
    registry_dir: RegistryDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = OtherKeyForOneEvent({1: registry_dir.oprf_key(1)}, EVENT)
    async with server.running(registry_dir, epoch_keys=keys) as running:
        channel = open_channel(running.address)
        try:
            admin = AdminClient(channel, registry_dir.admin_key())
            await admin.add_record(
                "WG-BAN", "banned", [Identifier(Kind.EMAIL, "jordan.blake@example.net")]
            )
            adir = await enrolled_agent_dir(tmp_path, admin, running.address, EVENT)
            d = ["--data-dir", str(adir.path)]
            # Two checks of new people: each answer fails its proof, each raises a fault.
            for email in ("first.new@example.org", "second.new@example.org"):
                code, _, err = await lanyard(capsys, "check", *d, "--email", email)
                assert code == 1, err
                assert "evaluation proof failed" in err

            code, out, err = await lanyard(capsys, "agent", "status", *d)
            assert code == 1, out + err
            text = _flat(out)
            assert "registry faults: 2 open; newest #2 (evaluation-proof," in text, text
            assert "does not verify under the epoch's public key" in text
            assert "2 registry fault(s) open, the newest (#2, evaluation-proof)" in text

            code, out, err = await lanyard(capsys, "agent", "status", *d, "--json")
            status = json.loads(out)
            assert code == 1, err
            assert status["registry"]["reachable"] is True  # it answers; it cannot be trusted
            assert status["registry_faults"]["open"] == 2
            newest = status["registry_faults"]["newest"]
            assert (newest["fault_id"], newest["kind"]) == (2, "evaluation-proof")
            assert "does not verify" in newest["reason"]
            assert [p for p in status["problems"] if "registry fault" in p], status["problems"]

            # Once understood with the WG and acknowledged, nothing is left to look at.
            code, _, err = await lanyard(capsys, "alerts", "ack-fault", *d, "--all")
            assert code == 0, err
            code, out, err = await lanyard(capsys, "agent", "status", *d, "--json")
            status = json.loads(out)
            assert (code, status["problems"]) == (0, []), status["problems"]
            assert status["registry_faults"] == {"open": 0, "newest": None}
        finally:
            await channel.close()


async def test_an_idle_task_reads_as_waiting_not_starting(
    registry: RunningRegistry,
    admin: AdminClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    d = ["--data-dir", str(adir.path)]
    async with agent_server.running(adir, "127.0.0.1:0") as served:
        assert served.tasks is not None
        await _until_ok(served.tasks, "snapshot-follower")
        code, out, err = await lanyard(capsys, "agent", "status", *d)
        assert code == 0, out + err
        text = _flat(out)
        assert "task key-rotation: idle, waiting for a key rotation" in text, text
        assert "starting" not in text
        assert "task snapshot-follower: ok" in text
        code, out, err = await lanyard(capsys, "agent", "status", *d, "--json")
        rotation_task = json.loads(out)["serve"]["tasks"]["key-rotation"]
        assert (rotation_task["state"], rotation_task["summary"]) == (
            "ok",
            "idle, waiting for a key rotation",
        )
