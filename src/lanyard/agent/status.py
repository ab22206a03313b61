"""What `lanyard agent status` shows: is this agent able to answer, and if not, why.

Everything here is counts, versions, times and states: never an identity.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from lanyard.agent.datadir import AgentDir
from lanyard.agent.outbox import Outbox
from lanyard.agent.service import AgentService
from lanyard.client.errors import RpcFailed


def _seconds(age: timedelta) -> int | None:
    return None if age == timedelta.max else int(age.total_seconds())


def _tasks(adir: AgentDir) -> dict[str, Any]:
    """The serve process's task states, if it is running (its endpoint file is there)."""
    running = adir.endpoint_path.exists()
    out: dict[str, Any] = {"running": running, "tasks": {}}
    if running and adir.tasks_path.exists():
        try:
            data = json.loads(adir.tasks_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return out
        out["tasks"] = data.get("tasks", {})
        out["tasks_at"] = data.get("at")
    return out


async def agent_status(agent: AgentService, adir: AgentDir) -> dict[str, Any]:
    """One dict (JSON-ready) of the agent's state; asks the registry for the quota and
    treats an unreachable registry as a fact to report, not an error."""
    now = datetime.now(UTC)
    registry: dict[str, Any] = {"endpoint": agent.enrolment.endpoint, "reachable": True}
    quota: dict[str, Any] | None = None
    try:
        q = await agent.registry.quota()
        quota = {
            "quota": q.quota,
            "used": q.evaluations_used,
            "left": q.quota - q.evaluations_used,
            "evaluate_from": q.evaluate_from,
            "evaluate_until": q.evaluate_until,
        }
    except RpcFailed as exc:
        registry.update(reachable=False, error=f"{exc.code.name}: {exc.details}")
    pending = 0
    if agent.next_snapshot is not None:
        pending = await agent.store.pending_count(agent.next_snapshot.epoch)
    outbox = await Outbox.open(adir.db_path)
    try:
        queued = len(await outbox.pending())
    finally:
        await outbox.close()
    retention = await agent.store.retention_done()
    faults = await agent.store.registry_faults()
    newest_fault = (
        {
            "fault_id": faults[-1].fault_id,
            "kind": faults[-1].kind,
            "reason": faults[-1].detail,
            "raised_at": faults[-1].raised_at.isoformat() if faults[-1].raised_at else None,
        }
        if faults
        else None
    )
    serve = _tasks(adir)
    rotating = agent.next_snapshot.epoch if agent.next_snapshot else None
    for name, task in serve["tasks"].items():
        task["summary"] = task_summary(name, task, rotating)
    return {
        "event_id": agent.enrolment.event_id,
        "snapshot": {
            "epoch": agent.snapshot.epoch,
            "version": agent.newest.version,
            "age_seconds": _seconds(agent.snapshot_age(now)),
            "max_age_seconds": int(agent.max_snapshot_age.total_seconds()),
            "confirmed_at": agent.confirmed_at.isoformat() if agent.confirmed_at else None,
        },
        "rotation": {
            "next_epoch": agent.next_snapshot.epoch if agent.next_snapshot else None,
            "pending_identities": pending,
        },
        "quota": quota,
        "registry": registry,
        "registry_faults": {"open": len(faults), "newest": newest_fault},
        "outbox_pending": queued,
        "alerts_open": len(await agent.store.alerts()),
        "retention_applied_at": retention.isoformat() if retention else None,
        "serve": serve,
    }


def task_summary(name: str, task: dict[str, Any], rotating: int | None) -> str:
    """What a background task of `agent serve` is doing, in a few words; `rotating` is
    the epoch a key rotation is moving to, if one is under way."""
    state = str(task.get("state", ""))
    if state == "failing":
        return (
            f"failing ({task.get('failures', 0)} time(s) in a row, next try in "
            f"{task.get('retry_in_seconds', 0)} s): {task.get('last_error', '')}"
        )
    if name == "key-rotation" and state in ("starting", "ok"):
        if rotating is None:
            return "idle, waiting for a key rotation"
        return f"evaluating stored identities for the rotation to epoch {rotating}"
    return state


def problems(status: dict[str, Any]) -> list[str]:
    """What an operator must look at, one sentence each (empty when all is well)."""
    out: list[str] = []
    snap = status["snapshot"]
    if snap["age_seconds"] is None or snap["age_seconds"] > snap["max_age_seconds"]:
        out.append(
            "the WG's list held here is stale: checks of people not screened before "
            "answer UNAVAILABLE"
        )
    rotation = status["rotation"]
    if rotation["next_epoch"] is not None:
        out.append(
            f"a key rotation to epoch {rotation['next_epoch']} waits for "
            f"{rotation['pending_identities']} identities to be evaluated"
        )
    if not status["registry"]["reachable"]:
        out.append(f"the registry cannot be reached ({status['registry']['error']})")
    faults = status["registry_faults"]
    if faults["open"]:
        newest = faults["newest"]
        out.append(
            f"{faults['open']} registry fault(s) open, the newest (#{newest['fault_id']}, "
            f"{newest['kind']}): {newest['reason']}; see `lanyard alerts`, and acknowledge "
            "with `lanyard alerts ack-fault` once understood with the WG"
        )
    for name, task in status["serve"]["tasks"].items():
        if task.get("state") == "failing":
            out.append(f"task {name} is failing: {task.get('last_error', '')}")
    if status["alerts_open"]:
        out.append(f"{status['alerts_open']} alert(s) are not acknowledged")
    return out
