"""An incident's sealed record is bound to its incident id.

Every incident is sealed under its own key, and the incident id is sealed inside with the
contents, so a record moved to another incident's row (with or without its key) is refused
by name instead of being shown, exported or reported as the other incident.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lanyard.agent import operator as agent_operator
from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import DataDirError
from lanyard.agent.incidents import crypto
from lanyard.agent.incidents.model import Report
from lanyard.agent.incidents.service import Caller
from lanyard.client.admin import AdminClient
from lanyard.registry.server import RunningRegistry
from tests.agent.conftest import enrolled_agent_dir

PASSPHRASE = "a long enough passphrase"
ANA = Caller("ana", "responder")


def test_a_sealed_record_opens_only_as_its_own_incident() -> None:
    key = crypto.new_incident_key()
    sealed = crypto.seal(key, 2, {"what": "x"})
    assert crypto.open_sealed(key, 2, sealed) == {"incident_id": 2, "what": "x"}
    with pytest.raises(DataDirError, match="incident 1's record belongs to another incident"):
        crypto.open_sealed(key, 1, sealed)
    with pytest.raises(DataDirError, match="incident 3's record belongs to another incident"):
        crypto.open_sealed(key, 3, sealed)
    with pytest.raises(DataDirError, match="incident 2's record does not open"):
        crypto.open_sealed(crypto.new_incident_key(), 2, sealed)
    with pytest.raises(DataDirError, match="incident 2's record does not open"):
        crypto.open_sealed(key, 2, sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_contents_cannot_override_the_sealed_id() -> None:
    key = crypto.new_incident_key()
    sealed = crypto.seal(key, 2, {"incident_id": 1, "what": "x"})
    with pytest.raises(DataDirError, match="incident 1's record belongs to another incident"):
        crypto.open_sealed(key, 1, sealed)


def test_an_incident_key_is_bound_to_the_master_key() -> None:
    master, key = crypto.new_incident_key(), crypto.new_incident_key()
    assert crypto.unwrap(master, crypto.wrap(master, key)) == key
    with pytest.raises(DataDirError, match="does not open under the master key"):
        crypto.unwrap(crypto.new_incident_key(), crypto.wrap(master, key))


async def _two_incidents(tmp_path: Path, admin: AdminClient, endpoint: str) -> AgentDir:
    adir = await enrolled_agent_dir(tmp_path, admin, endpoint)
    agent_operator.init_incidents(adir, crypto.Unlock(passphrase=PASSPHRASE), "interactive")
    async with agent_operator.incident_records(adir, crypto.Unlock(passphrase=PASSPHRASE)) as rec:
        for what in ("first incident", "second incident"):
            await rec.file(ANA, Report(description=what))
    return adir


def _move_record(adir: AgentDir, source: int, target: int, with_key: bool) -> None:
    """Copy incident `source`'s sealed record (and its wrapped key) over `target`'s row."""
    with sqlite3.connect(adir.db_path) as db:
        db.execute(
            "UPDATE incidents SET sealed = (SELECT sealed FROM incidents WHERE incident_id = ?) "
            "WHERE incident_id = ?",
            (source, target),
        )
    if with_key:
        with sqlite3.connect(adir.keyring_path) as ring:
            ring.execute(
                "UPDATE incident_keys SET wrapped = "
                "(SELECT wrapped FROM incident_keys WHERE incident_id = ?) WHERE incident_id = ?",
                (source, target),
            )


@pytest.mark.parametrize(
    ("source", "target", "with_key", "expected"),
    [
        (2, 1, True, "incident 1's record belongs to another incident"),
        (1, 2, True, "incident 2's record belongs to another incident"),
        (2, 1, False, "incident 1's record does not open"),
    ],
    ids=["later-over-earlier", "earlier-over-later", "record-only"],
)
async def test_a_record_moved_to_another_incidents_row_is_refused(
    tmp_path: Path,
    admin: AdminClient,
    registry: RunningRegistry,
    source: int,
    target: int,
    with_key: bool,
    expected: str,
) -> None:
    adir = await _two_incidents(tmp_path, admin, registry.address)
    _move_record(adir, source=source, target=target, with_key=with_key)
    async with agent_operator.incident_records(adir, crypto.Unlock(passphrase=PASSPHRASE)) as rec:
        with pytest.raises(DataDirError, match=expected):
            await rec.get(ANA, target)
        with pytest.raises(DataDirError, match=expected):
            await rec.export_all("report")
        # The untouched incident still reads as itself.
        description = ("first incident", "second incident")[source - 1]
        assert (await rec.get(ANA, source)).report.description == description
