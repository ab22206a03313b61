"""The registry's signing key rotation survives a restart and a crash mid-way."""

from __future__ import annotations

from lanyard.client.admin import AdminClient
from lanyard.core import keychain, keys
from lanyard.core.channels import open_channel
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir


async def test_the_chain_and_the_new_key_survive_a_restart(registry_dir: RegistryDir) -> None:
    first = bytes(registry_dir.signing_key().verify_key)
    async with server.running(registry_dir) as reg:
        channel = open_channel(reg.address)
        try:
            t = await AdminClient(channel, registry_dir.admin_key()).rotate_signing_key(first)
        finally:
            await channel.close()
    assert not registry_dir.signing_next_path.exists()
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == bytes(t.new_public_key)
        [stored] = await reg.store.key_transitions()
        assert stored == t.SerializeToString()


async def test_a_rotation_cut_short_is_finished_or_undone_at_start(
    registry_dir: RegistryDir,
) -> None:
    first = bytes(registry_dir.signing_key().verify_key)
    # Crashed after staging the key, before the database stored the hand-over: undone.
    registry_dir.stage_signing_key()
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == first
    assert not registry_dir.signing_next_path.exists()
    # Crashed after the database stored it, before the key file moved: finished.
    async with server.running(registry_dir) as reg:
        staged = registry_dir.stage_signing_key()
        t = keychain.make_transition(registry_dir.signing_key(), staged, 1, "2027-01-01T00:00Z")
        await reg.store.add_key_transition(1, bytes(staged.verify_key), t.SerializeToString())
    async with server.running(registry_dir) as reg:
        assert reg.service.public_key == bytes(staged.verify_key)
    assert keys.public_key_bytes(registry_dir.signing_key()) == bytes(staged.verify_key)
