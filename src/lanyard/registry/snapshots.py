"""The live snapshot: its hash tree, count, padding and signature; deltas and change watch.

The entries themselves stay in the store (docs/snapshot.md): in memory are only the Merkle
tree over the 65,536 bucket leaves (core/snapshot_tree.py, about 10 MB), each bucket's
entry count, the padding tags (at most 63) and the signed header. A change costs what it
touches: the store applies it, the buckets it touched are read back in tag order, their
leaves and paths are rehashed (16 hashes a bucket at most) and the new root is signed once.

RegistryService owns one and changes it only under its lock, after the store has committed
the same change, so the header here always matches the store's newest version.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import nacl.signing
import structlog

from lanyard.core import limits, screen, snapshot, snapshot_tree
from lanyard.registry.errors import NotReady
from lanyard.registry.store import Change, Entry, LiveReader, Store

log = structlog.get_logger("lanyard.registry")

# One SnapshotEntry on the wire: the tag and the sealed box, each with its field tag and
# length, and the entry's own framing; one removed tag likewise.
WIRE_ENTRY_BYTES = snapshot_tree.ENTRY_BYTES + 8
WIRE_TAG_BYTES = screen.TAG_BYTES + 4
# What the entries of one answer (a delta, or a whole snapshot by GetSnapshot) may take
# of the largest answer a client accepts; the rest is the header's.
ANSWER_BUDGET = limits.MAX_RESPONSE_BYTES - 64 * limits.KIB
LOAD_CHUNK = 16_384  # entries read at a time when the tree is built from the store
BUCKETS_PER_READ = 1024  # buckets read back at a time after a change (~2.5 MB at 1M entries)


@dataclass(frozen=True, slots=True)
class FullSnapshot:
    """A whole snapshot's header, and a reader pinned at the same version that streams its
    entries in tag order (close it when done: it holds a database connection)."""

    epoch: int
    version: int
    count: int  # entries, padding included
    signature: bytes
    public_key: bytes  # the epoch's OPRF public key, covered by the signature
    reader: LiveReader

    def chunks(self, size: int) -> AsyncIterator[list[tuple[bytes, bytes]]]:
        return self.reader.chunks(size)

    async def close(self) -> None:
        await self.reader.close()


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
    """The signed header of the newest snapshot and what it takes to sign the next one."""

    def __init__(self, store: Store, signing_key: nacl.signing.SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._changed = asyncio.Condition()
        self._tree = snapshot_tree.HashTree()
        self._sizes = array("I", bytes(4 * snapshot_tree.BUCKETS))  # entries per bucket
        self._padding: set[bytes] = set()
        self.count = 0  # live entries, padding included
        self.epoch = 0
        self.version = 0
        self.signature = b""
        self.public_key = b""  # pk = k * G of `epoch` (spec §3a), set by its owner
        self._behind = False  # a change committed but not read back: rebuild first

    @property
    def root(self) -> bytes:
        """The Merkle root the signature covers (32 bytes)."""
        return self._tree.root

    @property
    def real(self) -> int:
        """Live entries that belong to a record (the count less the padding)."""
        return self.count - len(self._padding)

    async def load(self) -> None:
        """Build the tree from the store's live entries, read in tag order a chunk at a
        time (never the whole list at once); pad a brand-new snapshot; sign."""
        started = time.perf_counter()
        reader = await self._store.live_reader()
        try:
            self.version = reader.version
            leaves: dict[int, bytes] = {}
            sizes = array("I", bytes(4 * snapshot_tree.BUCKETS))
            bucket, digest, held = -1, snapshot_tree.leaf_hasher(), 0
            async for chunk in reader.chunks(LOAD_CHUNK):
                for tag, sealed in chunk:
                    b = snapshot_tree.bucket_of(tag)
                    if b != bucket:
                        if bucket >= 0:
                            leaves[bucket] = digest.digest()
                        bucket, digest = b, snapshot_tree.leaf_hasher()
                    digest.update(tag)
                    digest.update(sealed)
                    sizes[b] += 1
                    held += 1
            if bucket >= 0:
                leaves[bucket] = digest.digest()
        finally:
            await reader.close()
        tree = snapshot_tree.HashTree()
        tree.update(leaves)
        self._tree, self._sizes, self.count = tree, sizes, held
        self._padding = set(await self._store.padding_tags())
        log.info(
            "registry.snapshot_tree_built",
            entries=held,
            version=self.version,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if self.version == 0:
            await self.commit(Change(add_entries=self.padding_for(0, 0)))
        else:
            self.resign()

    async def since(self, since_version: int) -> FullSnapshot | DeltaSnapshot:
        """A delta from `since_version`, or the whole snapshot when that is no larger
        (then the caller must close it). Call under the owner's lock, so that the store
        is at `version` too."""
        await self._rebuild_if_behind()
        if 0 < since_version <= self.version:
            delta = await self._store.delta_since(
                since_version,
                max_added=min(self.count - 1, ANSWER_BUDGET // WIRE_ENTRY_BYTES),
                max_removed=ANSWER_BUDGET // WIRE_TAG_BYTES,
            )
            size = (
                len(delta.added) * WIRE_ENTRY_BYTES + len(delta.removed_tags) * WIRE_TAG_BYTES
                if delta is not None
                else 0
            )
            # A delta no smaller than the list, or too large for one answer, is not sent:
            # the whole snapshot is, which streams in chunks.
            if delta is not None and size <= ANSWER_BUDGET:
                return DeltaSnapshot(
                    epoch=self.epoch,
                    from_version=since_version,
                    to_version=self.version,
                    added=sorted((e.tag, e.sealed) for e in delta.added),
                    removed_tags=sorted(delta.removed_tags),
                    signature=self.signature,
                    public_key=self.public_key,
                )
        reader = await self._store.live_reader()
        if reader.version != self.version:  # the store moved without this snapshot
            await reader.close()
            raise NotReady(
                f"the snapshot is at version {self.version} but the store at "
                f"{reader.version}; retry"
            )
        return FullSnapshot(
            self.epoch, self.version, self.count, self.signature, self.public_key, reader
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

    def rekey(self, signing_key: nacl.signing.SigningKey) -> None:
        """Sign with `signing_key` from now on, starting with the live snapshot."""
        self._signing_key = signing_key
        self.resign()

    def resign(self) -> None:
        """Sign the header: a short message over the root, so no thread is needed."""
        self.signature = snapshot.sign_root(
            self._signing_key, self.epoch, self.version, self.count, self.root, self.public_key
        )

    def padding_for(self, real_after: int, padding_now: int) -> list[Entry]:
        wanted = snapshot.padded_size(real_after) - real_after
        return [Entry(*snapshot.padding_entry(), None) for _ in range(wanted - padding_now)]

    async def commit(self, change: Change) -> int:
        """Apply a change (its padding already adjusted) to the store, then rehash the
        buckets it touched from what the store now holds, and sign the new root."""
        await self._rebuild_if_behind()
        try:
            version = await self._store.apply(change)
        except Exception:
            raise  # rolled back: the store and the tree still agree
        except BaseException:
            # Cancelled while committing: the change may be on disk without this tree.
            self._behind = True
            raise
        touched = {snapshot_tree.bucket_of(t) for t in change.remove_tags}
        touched.update(snapshot_tree.bucket_of(e.tag) for e in change.add_entries)
        order = sorted(touched)
        leaves: dict[int, bytes] = {}
        try:
            # A slice of buckets at a time: a big batch never holds all it touched.
            for start in range(0, len(order), BUCKETS_PER_READ):
                packed = await self._store.bucket_entries(order[start : start + BUCKETS_PER_READ])
                for bucket, entries in packed.items():
                    size = len(entries) // snapshot_tree.ENTRY_BYTES
                    self.count += size - self._sizes[bucket]
                    self._sizes[bucket] = size
                    leaves[bucket] = snapshot_tree.leaf_hash(entries)
        except BaseException:
            # The store moved on without this tree: rebuild it before anything else.
            self._behind = True
            raise
        self._tree.update(leaves)
        self._padding.difference_update(change.remove_tags)
        self._padding.update(e.tag for e in change.add_entries if e.record_ref is None)
        self.version = version
        self.resign()
        await self.notify()
        return version

    async def _rebuild_if_behind(self) -> None:
        if self._behind:
            log.warning("registry.snapshot_rebuilt", reason="a change was not read back")
            await self.load()
            self._behind = False
            await self.notify()

    async def reload(self, epoch: int, version: int) -> None:
        """Rebuild from the store after it replaced the whole snapshot (a key rotation
        committed at `version`): O(list), once."""
        self.epoch = epoch
        await self.load()
        if self.version != version:
            log.warning("registry.snapshot_version_moved", expected=version, found=self.version)

    def repad(self, add: Sequence[Entry], remove: Sequence[bytes]) -> Change:
        """Add padding or drop some so the snapshot stays a multiple of 64 entries.
        Every tag in `remove` must be live (callers read them from the store)."""
        gone = set(remove)
        padding = [t for t in self._padding if t not in gone]
        real = self.real - len(gone - self._padding) + sum(1 for e in add if e.record_ref)
        wanted = snapshot.padded_size(real) - real
        if wanted < len(padding):
            return Change(
                add_entries=list(add), remove_tags=[*remove, *padding[: len(padding) - wanted]]
            )
        return Change(
            add_entries=[*add, *self.padding_for(real, len(padding))], remove_tags=list(remove)
        )
