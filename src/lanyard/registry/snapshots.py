"""The live snapshot in memory: its entries, padding, signature, deltas and change watch.

RegistryService owns one and changes it only under its lock, after the store has committed
the same change.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import nacl.signing

from lanyard.core import keys, screen, snapshot
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
    """Tag -> (sealed status, record ref or None for padding), with its epoch and version.

    `live` is read by the service and changed only here. Beside it the tags are kept in
    order, each entry already encoded as the signature covers it, and the padding tags in
    a set: a change costs its own entries plus one pass joining the encoded bytes and one
    signature, never a re-sort or re-encoding of the whole list.
    """

    def __init__(self, store: Store, signing_key: nacl.signing.SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._changed = asyncio.Condition()
        self.live: dict[bytes, tuple[bytes, str | None]] = {}
        self._order: list[bytes] = []  # every live tag, sorted
        self._encoded: dict[bytes, bytes] = {}  # tag -> snapshot.encode_entry(tag, sealed)
        self._padding: set[bytes] = set()
        self.epoch = 0
        self.version = 0
        self.signature = b""
        self.public_key = b""  # pk = k * G of `epoch` (spec §3a), set by its owner

    def _reset(self, entries: list[Entry]) -> None:
        self.live = {e.tag: (e.sealed, e.record_ref) for e in entries}
        self._order = sorted(self.live)
        self._encoded = {
            t: snapshot.encode_entry(t, sealed) for t, (sealed, _) in self.live.items()
        }
        self._padding = {t for t, (_, ref) in self.live.items() if ref is None}

    def _put(self, entry: Entry) -> None:
        if entry.tag not in self.live:
            bisect.insort(self._order, entry.tag)
        self.live[entry.tag] = (entry.sealed, entry.record_ref)
        self._encoded[entry.tag] = snapshot.encode_entry(entry.tag, entry.sealed)
        if entry.record_ref is None:
            self._padding.add(entry.tag)
        else:
            self._padding.discard(entry.tag)

    def _drop(self, tag: bytes) -> None:
        if self.live.pop(tag, None) is None:
            return
        del self._order[bisect.bisect_left(self._order, tag)]
        del self._encoded[tag]
        self._padding.discard(tag)

    async def load(self) -> None:
        """Read the version and live entries from the store; pad a brand-new snapshot."""
        self.version = await self._store.snapshot_version()
        self._reset(await self._store.live_entries())
        if self.version == 0:
            await self.commit(Change(add_entries=self.padding_for(0, 0)))
        else:
            self.resign()

    def full(self) -> FullSnapshot:
        entries = [(tag, self.live[tag][0]) for tag in self._order]
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

    def _message(self) -> bytes:
        encoded = [self._encoded[tag] for tag in self._order]
        return snapshot.signing_message_encoded(
            screen.SUITE, self.epoch, self.version, encoded, self.public_key
        )

    def rekey(self, signing_key: nacl.signing.SigningKey) -> None:
        """Sign with `signing_key` from now on, starting with the live snapshot."""
        self._signing_key = signing_key
        self.resign()

    def resign(self) -> None:
        self.signature = keys.sign(self._signing_key, self._message())

    async def resign_in_thread(self) -> None:
        """resign(), with the signature (a pass over every entry's bytes) made in a thread:
        libsodium releases the GIL, so Evaluate and Check calls go on meanwhile."""
        self.signature = await asyncio.to_thread(keys.sign, self._signing_key, self._message())

    def padding_for(self, real_after: int, padding_now: int) -> list[Entry]:
        wanted = snapshot.padded_size(real_after) - real_after
        return [Entry(*snapshot.padding_entry(), None) for _ in range(wanted - padding_now)]

    async def commit(self, change: Change) -> int:
        """Apply a change (its padding already adjusted) to the store, then to memory."""
        version = await self._store.apply(change)
        for tag in change.remove_tags:
            self._drop(tag)
        for entry in change.add_entries:
            self._put(entry)
        self.version = version
        await self.resign_in_thread()
        await self.notify()
        return version

    def replace(self, epoch: int, version: int, entries: list[Entry]) -> None:
        """Swap in a whole new snapshot (after a key rotation the store has committed)."""
        self.epoch, self.version = epoch, version
        self._reset(entries)
        self.resign()

    def repad(self, add: list[Entry], remove: list[bytes]) -> Change:
        """Add padding or drop some so the snapshot stays a multiple of 64 entries."""
        gone = set(remove)
        padding = [t for t in self._padding if t not in gone]
        real = len(self.live) - len(self._padding)
        real += sum(1 for e in add if e.record_ref) - sum(
            1 for t in gone if t in self.live and self.live[t][1] is not None
        )
        wanted = snapshot.padded_size(real) - real
        if wanted < len(padding):
            remove = remove + padding[: len(padding) - wanted]
        else:
            add = add + self.padding_for(real, len(padding))
        return Change(add_entries=add, remove_tags=remove)
