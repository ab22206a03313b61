"""A fresh agent enrolled against a benchmark's registry, as `lanyard agent enrol` leaves
one: its data directory, its key known to the registry, the enrolment bundle pinned."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.client.admin import AdminClient


async def enrol_agent(
    admin: AdminClient, workdir: Path, address: str, event_id: str, quota: int
) -> AgentDir:
    """A fresh agent data directory under `workdir`, enrolled as `event_id` with the
    registry at `address`, its bundle pinned (what `lanyard agent enrol` leaves)."""
    adir = AgentDir(workdir / event_id)
    public = agent_operator.init_agent(adir, "127.0.0.1:0")
    today = date.today()
    ends = today + timedelta(days=1)
    response = await admin.enroll_event(
        event_id, f"Benchmark {event_id}", today, ends, public, quota
    )
    bundle = workdir / f"{event_id}.json"
    bundle.write_text(
        json.dumps(
            {
                "format": "lanyard-enrolment/1",
                "event_id": event_id,
                "event_name": f"Benchmark {event_id}",
                "endpoint": address,
                "registry_public_key": response.registry_public_key.hex(),
                "suite": response.suite,
                "starts_on": today.isoformat(),
                "ends_on": ends.isoformat(),
            }
        ),
        encoding="utf-8",
    )
    adir.pin(bundle)
    return adir
