"""The OPRF keys of the live epochs, held in memory, and their published public keys.

The secret scalars come from key files (never the database, spec SCREEN-v1 "what each
party learns"); the public key pk = k * G of each is what the signed snapshot and the
enrolment bundle publish (spec §3a), and what every Evaluate proof is checked against.
"""

from __future__ import annotations

from lanyard.core import proof


class EpochKeys:
    """Epoch -> secret scalar k (32 bytes), with pk = k * G computed once per key."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        self._keys: dict[int, bytes] = {}
        self._public: dict[int, bytes] = {}
        for epoch, k in keys.items():
            self.install(epoch, k)

    def __contains__(self, epoch: object) -> bool:
        return epoch in self._keys

    def install(self, epoch: int, k: bytes, only: bool = False) -> None:
        """Serve `epoch` with `k`; with `only`, every other epoch's key is dropped."""
        if only:
            self._keys.clear()
            self._public.clear()
        self._keys[epoch] = k
        self._public[epoch] = proof.public_key(k)

    def secret(self, epoch: int, caller: str) -> bytes:
        """The scalar that evaluates `caller`'s batch under `epoch`. The caller's key id is
        passed so that another key store (a test's, say) can answer per caller; this one
        gives every caller the same key, which is what the proof lets each caller check."""
        return self._keys[epoch]

    def public_key(self, epoch: int) -> bytes:
        """pk = k * G of `epoch`: a 32-byte compressed edwards25519 point."""
        return self._public[epoch]
