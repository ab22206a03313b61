"""The live snapshot in memory: its entries, padding, signature, deltas and change watch.

RegistryService owns one and changes it only under its lock, after the store has committed
the same change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import nacl.signing

from lanyard.core import snapshot
from lanyard.registry.store import Change, Entry, Store


@dataclass(frozen=True, slots=True)
class FullSnapshot:
    epoch: int
    version: int
    entries: list[tuple[bytes, bytes]]  # sorted by tag
    signature: bytes
    public_key: bytes = b""  # the epoch's OPRF public key, covered by the signature


@dataclass(frozen=True, slots=True)
class DeltaSnapshot:
    epoch: int
    from_version: int
    to_version: int
    added: list[tuple[bytes, bytes]]
    removed_tags: list[bytes]
    signature: bytes
    public_key: bytes = b""


class LiveSnapshot:
    """Tag -> (sealed status, record ref or None for padding), with its epoch and version."""

    def __init__(self, store: Store, signing_key: nacl.signing.SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._changed = asyncio.Condition()
        self.live: dict[bytes, tuple[bytes, str | None]] = {}
        self.epoch = 0
        self.version = 0
        self.signature = b""
        self.public_key = b""  # pk = k * G of `epoch` (spec §3a), set by its owner

    async def load(self) -> None:
        """Read the version and live entries from the store; pad a brand-new snapshot."""
        self.version = await self._store.snapshot_version()
        self.live = {e.tag: (e.sealed, e.record_ref) for e in await self._store.live_entries()}
        if self.version == 0:
            await self.commit(Change(add_entries=self.padding_for(0, 0)))
        else:
            self.resign()

    def full(self) -> FullSnapshot:
        entries = sorted((tag, sealed) for tag, (sealed, _) in self.live.items())
        return FullSnapshot(self.epoch, self.version, entries, self.signature, self.public_key)

    async def since(self, since_version: int) -> FullSnapshot | DeltaSnapshot:
        """A delta from `since_version`, or the full snapshot when that is no larger."""
        if since_version == 0 or since_version > self.version:
            return self.full()
        delta = await self._store.delta_since(since_version)
        if delta is None or len(delta.added) >= len(self.live):
            return self.full()
        return DeltaSnapshot(
            epoch=self.epoch,
            from_version=since_version,
            to_version=self.version,
            added=sorted((e.tag, e.sealed) for e in delta.added),
            removed_tags=sorted(delta.removed_tags),
            signature=self.signature,
            public_key=self.public_key,
        )

    async def watch(
        self, stop: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[tuple[int, int]]:
        """(epoch, version) now, then each time it changes; ends once `stop()` holds when
        woken (by a change or `notify`)."""
        last: tuple[int, int] | None = None
        while True:
            async with self._changed:
                await self._changed.wait_for(
                    lambda seen=last: stop() or (self.epoch, self.version) != seen  # type: ignore[misc]
                )
                if stop():
                    return
                last = (self.epoch, self.version)
            yield last

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def resign(self) -> None:
        entries = {tag: sealed for tag, (sealed, _) in self.live.items()}
        self.signature = snapshot.sign(
            self._signing_key, self.epoch, self.version, entries, self.public_key
        )

    def padding_for(self, real_after: int, padding_now: int) -> list[Entry]:
        wanted = snapshot.padded_size(real_after) - real_after
        return [Entry(*snapshot.padding_entry(), None) for _ in range(wanted - padding_now)]

    async def commit(self, change: Change) -> int:
        """Apply a change (its padding already adjusted) to the store, then to memory."""
        version = await self._store.apply(change)
        for tag in change.remove_tags:
            self.live.pop(tag, None)
        for entry in change.add_entries:
            self.live[entry.tag] = (entry.sealed, entry.record_ref)
        self.version = version
        self.resign()
        await self.notify()
        return version

    def replace(self, epoch: int, version: int, entries: list[Entry]) -> None:
        """Swap in a whole new snapshot (after a key rotation the store has committed)."""
        self.epoch, self.version = epoch, version
        self.live = {e.tag: (e.sealed, e.record_ref) for e in entries}
        self.resign()

    def repad(self, add: list[Entry], remove: list[bytes]) -> Change:
        """Add padding or drop some so the snapshot stays a multiple of 64 entries."""
        padding = [t for t, (_, ref) in self.live.items() if ref is None and t not in remove]
        real = sum(1 for _, ref in self.live.values() if ref is not None)
        real += sum(1 for e in add if e.record_ref) - sum(
            1 for t in remove if t in self.live and self.live[t][1] is not None
        )
        wanted = snapshot.padded_size(real) - real
        if wanted < len(padding):
            remove = remove + padding[: len(padding) - wanted]
        else:
            add = add + self.padding_for(real, len(padding))
        return Change(add_entries=add, remove_tags=remove)
