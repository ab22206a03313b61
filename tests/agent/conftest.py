"""An enrolled agent in a real data directory, talking to a real registry on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.service import AgentService
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.identity import Kind
from lanyard.registry.server import RunningRegistry


@dataclass
class AgentSetup:
    adir: AgentDir
    admin: AdminClient
    registry: RunningRegistry


async def enrolled_agent_dir(
    tmp_path: Path,
    admin: AdminClient,
    endpoint: str,
    event_id: str = "agentconf-2027",
    quota: int = 100_000,
    ends_on: date = date(2027, 5, 3),
) -> AgentDir:
    adir = AgentDir(tmp_path / "agent")
    public = agent_operator.init_agent(adir, "127.0.0.1:0")
    response = await admin.enroll_event(
        event_id, "AgentConf", date(2027, 5, 1), ends_on, public, quota
    )
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "format": "lanyard-enrolment/1",
                "event_id": event_id,
                "event_name": "AgentConf",
                "endpoint": endpoint,
                "registry_public_key": response.registry_public_key.hex(),
                "suite": response.suite,
                "starts_on": "2027-05-01",
                "ends_on": ends_on.isoformat(),
            }
        )
    )
    adir.pin(bundle)
    return adir


@pytest.fixture
async def setup(tmp_path: Path, admin: AdminClient, registry: RunningRegistry) -> AgentSetup:
    adir = await enrolled_agent_dir(tmp_path, admin, registry.address)
    await admin.add_record(
        "WG-BAN",
        "banned",
        [
            Identifier(Kind.EMAIL, "jordan.blake@example.net"),
            Identifier(Kind.NAME, "Jordan Blake"),
        ],
    )
    await admin.add_record("WG-FLAG", "flagged", [Identifier(Kind.NAME, "Sam Rivera")])
    return AgentSetup(adir, admin, registry)


@pytest.fixture
async def agent(setup: AgentSetup) -> AsyncIterator[AgentService]:
    async with agent_operator.opened(setup.adir) as service:
        yield service


async def used(admin: AdminClient, event_id: str = "agentconf-2027") -> int:
    events = await admin.list_events()
    return next(int(e.evaluations_used) for e in events if e.event_id == event_id)
