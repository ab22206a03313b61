"""Rotating the registry's Ed25519 signing key, with a chain events can follow.

A rotation stages a new key file, stores the transition statement both keys signed
(core/keychain.py), then makes the new key current and hands it to everything that signs:
the live snapshot, recipient sets, receipts and tree heads. What the old key signed before
stays verifiable: events keep every key the chain vouches for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import nacl.signing
import structlog

from lanyard.core import keychain
from lanyard.registry.errors import StaleKey
from lanyard.registry.store import Store
from lanyard.wire.registry.v1 import snapshot_pb2

log = structlog.get_logger("lanyard.registry")

Rekey = Callable[[nacl.signing.SigningKey], Awaitable[None]]


class SigningKeyFiles(Protocol):
    """Where the signing key lives (RegistryDir): a staged file, then the current one."""

    def stage_signing_key(self) -> nacl.signing.SigningKey: ...

    def commit_signing_key(self) -> None: ...


class SigningKeys:
    """The current signing key and the chain of hand-overs that led to it."""

    def __init__(
        self,
        store: Store,
        key: nacl.signing.SigningKey,
        files: SigningKeyFiles | None,
        signers: Sequence[Rekey],
    ) -> None:
        self._store = store
        self._key = key
        self._files = files
        self._signers = list(signers)
        self._lock = asyncio.Lock()

    @property
    def public_key(self) -> bytes:
        return bytes(self._key.verify_key)

    async def chain(self) -> tuple[list[snapshot_pb2.KeyTransition], bytes]:
        """(every hand-over, oldest first; the current 32-byte public key)."""
        transitions = []
        for blob in await self._store.key_transitions():
            t = snapshot_pb2.KeyTransition()
            t.ParseFromString(blob)
            transitions.append(t)
        return transitions, self.public_key

    async def rotate(self, from_public_key: bytes) -> snapshot_pb2.KeyTransition:
        """Hand over from the current key (which the caller must name) to a new one.
        Raises StaleKey if `from_public_key` is not the current key."""
        if self._files is None:
            raise StaleKey("this registry was started without its key directory")
        async with self._lock:
            if from_public_key != self.public_key:
                raise StaleKey(
                    "asked to rotate from a signing key that is not the current one; "
                    f"the current key starts {self.public_key.hex()[:16]}"
                )
            sequence = len(await self._store.key_transitions()) + 1
            new = self._files.stage_signing_key()
            at = datetime.now(UTC).isoformat(timespec="seconds")
            transition = keychain.make_transition(self._key, new, sequence, at)
            await self._store.add_key_transition(
                sequence, transition.new_public_key, transition.SerializeToString()
            )
            self._files.commit_signing_key()
            self._key = new
            for rekey in self._signers:
                await rekey(new)
        log.info("registry.signing_key_rotated", sequence=sequence)
        return transition
