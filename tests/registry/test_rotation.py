"""OPRF key rotation without names (spec SCREEN-v1 §6), end to end."""

from __future__ import annotations

import grpc
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.client.registry import LocalSnapshot
from lanyard.core import screen
from lanyard.core.identity import Kind, message
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.server import RunningRegistry
from tests.conftest import Enrolled


async def test_rotation_keeps_every_match_and_destroys_the_old_key(
    registry: RunningRegistry, registry_dir: RegistryDir, admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_record(
        "WG-1",
        "banned",
        [Identifier(Kind.EMAIL, "rot@example.org"), Identifier(Kind.NAME, "Ro Tation")],
    )
    await admin.add_record("WG-2", "flagged", [Identifier(Kind.NAME, "Ro Tation")])
    old_k = registry_dir.oprf_key(1)
    before = await event.client.refresh(LocalSnapshot())

    response = await admin.rotate_key(1)
    assert (response.epoch, response.points) == (2, 3)
    assert not registry_dir.oprf_key_path(1).exists()
    new_k = registry_dir.oprf_key(2)
    assert new_k != old_k

    # The old epoch is refused, naming the current one.
    b = screen.blind(message(Kind.EMAIL, "rot@example.org"))
    with pytest.raises(RpcFailed) as info:
        await event.client.evaluate(1, [b.blinded])
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "current epoch is 2" in info.value.details

    after = await event.client.refresh(before)
    assert after.epoch == 2
    assert len(after.entries) == 64
    assert not set(after.entries) & set(before.entries)
    email_y, name_y = await event.client.evaluate_messages(
        2, [message(Kind.EMAIL, "ROT@example.org"), message(Kind.NAME, "tation, ro")]
    )
    email_hit, name_hit = after.match(email_y), after.match(name_y)
    assert email_hit is not None
    assert (email_hit.status, email_hit.record_ref) == ("banned", "WG-1")
    assert name_hit is not None
    assert (name_hit.status, name_hit.record_ref) == ("banned", "WG-1")
    # Y' is exactly k' * P: the rotation by delta and a fresh evaluation agree.
    assert email_y == screen.multiply(
        new_k, screen.hash_to_group(message(Kind.EMAIL, "rot@example.org"))
    )


async def test_rotation_refuses_a_stale_epoch(admin: AdminClient) -> None:
    await admin.rotate_key(1)
    with pytest.raises(RpcFailed) as info:
        await admin.rotate_key(1)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "current epoch is 2" in info.value.details


async def test_rotation_survives_a_restart(registry_dir: RegistryDir, tmp_path: object) -> None:
    from lanyard.registry import server

    async with server.running(registry_dir) as reg:
        await reg.service.rotate_key(1)
        version = reg.service.version
    async with server.running(registry_dir) as reg:
        assert (reg.service.epoch, reg.service.version) == (2, version)


async def test_a_client_that_learnt_the_old_epoch_follows_a_rotation(
    admin: AdminClient, event: Enrolled
) -> None:
    await admin.add_record("WG-A", "flagged", [Identifier(Kind.NAME, "Before Rotation")])
    await admin.rotate_key(1)
    response = await admin.add_record("WG-B", "banned", [Identifier(Kind.NAME, "After Rotation")])
    assert response.record.identifier_count == 1
    snap = await event.client.refresh(LocalSnapshot())
    [y] = await event.client.evaluate_messages(2, [message(Kind.NAME, "After Rotation")])
    hit = snap.match(y)
    assert hit is not None
    assert hit.record_ref == "WG-B"
