"""Spec §3a on the WG's side: a record's tags must come from the key events are proved to
get. A registry that evaluates the admin tool's points with another key (a restore gone
wrong) would make the record match nobody, a false "clear" at every event; the admin tool
checks every EvaluateForRecord answer's proof, so that such a record, a batch of them or
an alias is refused and nothing is added."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.client.errors import EvaluationProofFailed
from lanyard.core import screen
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.epoch_keys import EpochKeys


class OtherKeyForAdmins(EpochKeys):
    """Hands every admin key's batches another scalar, still publishing the right pk."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        super().__init__(keys)
        self.other = screen.random_scalar()
        self.faulty = True

    def secret(self, epoch: int, caller: str) -> bytes:
        if self.faulty and caller.startswith("admin:"):
            return self.other
        return super().secret(epoch, caller)


@pytest.fixture
async def faulty(
    registry_dir: RegistryDir,
) -> AsyncIterator[tuple[AdminClient, OtherKeyForAdmins]]:
    keys = OtherKeyForAdmins({1: registry_dir.oprf_key(1)})
    async with server.running(registry_dir, epoch_keys=keys) as running:
        channel = grpc.aio.insecure_channel(running.address)
        yield AdminClient(channel, registry_dir.admin_key()), keys
        await channel.close()


def _person(i: int) -> list[Identifier]:
    return [
        Identifier(Kind.EMAIL, f"person{i}@example.org"),
        Identifier(Kind.NAME, f"Robin Example{i}"),
    ]


async def test_no_record_is_added_from_an_answer_whose_proof_fails(
    faulty: tuple[AdminClient, OtherKeyForAdmins],
) -> None:
    admin, keys = faulty
    with pytest.raises(EvaluationProofFailed, match="evaluation proof failed"):
        await admin.add_record("WG-ONE", "banned", _person(0))
    with pytest.raises(EvaluationProofFailed, match="no record was added"):
        await admin.add_records([NewRecord(f"WG-{i}", "flagged", _person(i)) for i in range(30)])
    assert list((await admin.list_records()).records) == []

    # The same calls against an honest key add the records, and an alias from a faulty
    # answer is refused without touching the record.
    keys.faulty = False
    await admin.add_record("WG-ONE", "banned", _person(0))
    added = await admin.add_records([NewRecord(f"WG-{i}", "flagged", _person(i)) for i in (1, 2)])
    assert [r.record_ref for r in added.records] == ["WG-1", "WG-2"]
    keys.faulty = True
    with pytest.raises(EvaluationProofFailed):
        await admin.update_record("WG-ONE", aliases=[Identifier(Kind.NAME, "Robin Alias")])
    shown = await admin.get_record("WG-ONE")
    assert shown.record.identifier_count == 2
    assert [h.action for h in shown.history] == ["added"]
