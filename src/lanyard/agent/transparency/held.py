"""Read-only look-ups of who the agent's database knows, for the privacy check.

The screening store (sqlite_store.py) never hands identifiers back out, and rightly: no
screening flow needs them. The privacy check is the one reader that must see them all, to
make sure none is published, so it asks agent.db directly, read-only, here.
"""

from __future__ import annotations

from pathlib import Path

from lanyard.agent.errors import DataDirError
from lanyard.agent.migrations import MIGRATIONS
from lanyard.agent.transparency.privacy import HeldIdentifiers
from lanyard.core import sqlite
from lanyard.core.identity import normalised_of


async def held_identifiers(db_path: Path) -> HeldIdentifiers:
    # Its own connection, and one read transaction: the four lists are one state.
    try:
        db = await sqlite.connect(db_path, MIGRATIONS, synchronous="NORMAL")
    except sqlite.DatabaseError as exc:
        raise DataDirError(str(exc)) from exc
    try:
        await db.execute("BEGIN")
        identities = await sqlite.fetch_all(db, "SELECT DISTINCT kind, message FROM identities")
        refs = await sqlite.fetch_all(db, "SELECT DISTINCT ref FROM attendees")
        records = await sqlite.fetch_all(
            db,
            "SELECT record_ref FROM attendees WHERE record_ref != '' "
            "UNION SELECT record_ref FROM alerts WHERE record_ref != ''",
        )
        members = await sqlite.fetch_all(
            db, "SELECT name, role, removed_at IS NULL FROM members ORDER BY name"
        )
        await db.execute("COMMIT")
    finally:
        await db.close()
    return HeldIdentifiers(
        identities=[(str(r[0]), normalised_of(bytes(r[1]))[1]) for r in identities],
        refs=[str(r[0]) for r in refs],
        record_refs=[str(r[0]) for r in records],
        members=[(str(r[0]), str(r[1])) for r in members],
        current_roles=[str(r[1]) for r in members if r[2]],
    )
