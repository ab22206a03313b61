"""The snapshot an agent holds across restarts and deltas: loaded from agent.db with its
root re-checked, never moved to a list whose root the registry did not sign, and fetched
again in full when nothing vouches for what is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from structlog.testing import capture_logs

from lanyard.agent import operator as agent_operator
from lanyard.agent.screening.decision import Decision
from lanyard.agent.service import AgentService
from lanyard.agent.sqlite_store import SqliteStore
from lanyard.agent.store import SnapshotState
from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.registry import LocalSnapshot
from lanyard.core.identity import Kind
from lanyard.core.snapshot_tree import SEALED_BYTES
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import AgentSetup, enrolled_agent_dir, used

BANNED = "jordan.blake@example.net"


def _raw(setup: AgentSetup, sql: str, params: tuple[object, ...] = ()) -> None:
    """Change agent.db behind the agent's back (as damage or an older version would)."""
    with sqlite3.connect(setup.adir.db_path) as db:
        db.execute(sql, params)


async def test_a_restarted_agent_loads_the_snapshot_and_still_matches(setup: AgentSetup) -> None:
    async with agent_operator.opened(setup.adir) as agent:
        first = await agent.check("", BANNED, "attendee", "A")
        held = agent.snapshot
    evaluations = await used(setup.admin)
    async with agent_operator.opened(setup.adir) as again:
        loaded = again.snapshot
        assert (loaded.epoch, loaded.version, len(loaded.entries), loaded.root) == (
            held.epoch,
            held.version,
            len(held.entries),
            held.root,
        )
        assert loaded.verified
        second = await again.check("", BANNED, "attendee", "B")
    assert first.decision == second.decision == Decision.DENY
    assert await used(setup.admin) == evaluations  # matched locally, from what was loaded


async def test_a_delta_not_leading_to_the_signed_root_is_refused_and_the_list_fetched_whole(
    agent: AgentService, setup: AgentSetup
) -> None:
    await agent.sync()
    # The list held here has drifted from the registry's by one entry: the genuine next
    # delta, applied to it, cannot give the root the registry signed.
    first_tag = next(iter(agent.snapshot.entries))[0]
    drifted = agent.snapshot.entries.apply([(first_tag, bytes(SEALED_BYTES))], [])
    s = agent.snapshot
    agent.snapshot = LocalSnapshot(s.epoch, s.version, drifted, s.public_key, None, s.signature)
    added = await setup.admin.add_record(
        "WG-NEXT", "flagged", [Identifier(Kind.NAME, "Next Person")]
    )
    with capture_logs() as logs:
        await agent.sync()
    # The delta was refused; the whole list replaced the drifted one, verified.
    [refused] = [e for e in logs if e["event"] == "agent.delta_refused"]
    assert "does not verify" in refused["reason"]
    assert agent.snapshot.version == int(added.snapshot_version)
    assert agent.snapshot.verified
    assert agent.snapshot.entries.get(first_tag) != bytes(SEALED_BYTES)
    stored = await agent.store.load_snapshot()
    assert stored is not None
    assert (stored.version, stored.entries.root) == (agent.snapshot.version, agent.snapshot.root)


async def test_a_drifted_list_at_the_newest_version_is_repaired_too(
    agent: AgentService,
) -> None:
    await agent.sync()
    first_tag = next(iter(agent.snapshot.entries))[0]
    s = agent.snapshot
    drifted = s.entries.apply([(first_tag, bytes(SEALED_BYTES))], [])
    agent.snapshot = LocalSnapshot(s.epoch, s.version, drifted, s.public_key, None, s.signature)
    await agent.sync()
    assert (agent.snapshot.version, agent.snapshot.root) == (s.version, s.root)


async def test_a_damaged_agent_db_says_so_and_the_snapshot_is_fetched_again(
    setup: AgentSetup,
) -> None:
    async with agent_operator.opened(setup.adir) as agent:
        await agent.check("", BANNED, "attendee", "A")
        held = agent.snapshot
    _raw(
        setup,
        "UPDATE snapshot_entries SET sealed = ? "
        "WHERE tag = (SELECT tag FROM snapshot_entries ORDER BY tag LIMIT 1)",
        (bytes(SEALED_BYTES),),
    )
    with capture_logs() as logs:
        async with agent_operator.opened(setup.adir) as agent:
            assert agent.snapshot.version == 0  # nothing answers from the damaged rows
            # The next check fetches the whole snapshot first, and answers from it.
            answer = await agent.check("", BANNED, "attendee", "B")
            assert (agent.snapshot.version, agent.snapshot.root) == (held.version, held.root)
    assert answer.decision == Decision.DENY
    [damaged] = [e for e in logs if e["event"] == "agent.snapshot_corrupt"]
    assert "does not lead to the root" in damaged["reason"]
    stored = await _stored(setup)
    assert (stored.entries.root, stored.verified) == (held.root, True)


async def test_an_agent_db_from_before_roots_is_used_and_fetched_again_in_full(
    setup: AgentSetup,
) -> None:
    async with agent_operator.opened(setup.adir) as agent:
        await agent.check("", BANNED, "attendee", "A")
        held = agent.snapshot
    # What an agent.db written before roots were kept holds after its migration.
    _raw(setup, "UPDATE snapshot_state SET root = NULL, signature = NULL, public_key = NULL")
    async with agent_operator.opened(setup.adir) as agent:
        assert (agent.snapshot.version, agent.snapshot.verified) == (held.version, False)
        assert (await agent.check("", BANNED, "attendee", "B")).decision == Decision.DENY
        await agent.sync()  # nothing new, but nothing vouched for the rows: all again
        assert (agent.snapshot.version, agent.snapshot.verified) == (held.version, True)
    stored = await _stored(setup)
    assert (stored.entries.root, stored.verified, len(stored.signature)) == (held.root, True, 64)


async def _stored(setup: AgentSetup) -> SnapshotState:
    store = await SqliteStore.open(setup.adir.db_path)
    try:
        state = await store.load_snapshot()
    finally:
        await store.close()
    assert state is not None
    return state


async def test_a_damaged_held_list_during_a_rotation_never_answers_from_a_stale_next_list(
    tmp_path: Path, admin: AdminClient, registry: RunningRegistry
) -> None:
    """The held list is damaged while the next epoch's waits: the next epoch's list still
    follows the registry, so a person banned since is denied, not cleared."""
    people = [(f"Person {n}", f"person.{n}@example.org") for n in range(2)]
    adir = await enrolled_agent_dir(
        tmp_path, admin, registry.address, event_id="rot-damaged", quota=2 * len(people) + 2
    )
    async with agent_operator.opened(adir) as agent:
        for name, email in people:
            assert (await agent.check(name, email, "attendee", "R")).decision == Decision.ALLOW
        await admin.rotate_key(1)
        await agent.sync()  # 2 evaluations left for 4 identities: the rotation waits
        assert (agent.snapshot.epoch, agent.newest.epoch) == (1, 2)
    with sqlite3.connect(adir.db_path) as db:
        db.execute(
            "UPDATE snapshot_entries SET sealed = ? "
            "WHERE tag = (SELECT tag FROM snapshot_entries ORDER BY tag LIMIT 1)",
            (bytes(SEALED_BYTES),),
        )
    added = await admin.add_record(
        "WG-LATE", "banned", [Identifier(Kind.EMAIL, "banned.since@example.org")]
    )
    async with agent_operator.opened(adir) as agent:
        assert agent.snapshot.epoch == 0  # the damaged list is not used
        await agent.sync()
        assert agent.newest.version == int(added.snapshot_version)
        late = await agent.check("", "banned.since@example.org", "attendee", "LATE")
        assert late.decision == Decision.DENY
