"""The core package's error hierarchy. Library exceptions are wrapped, never leaked."""

from __future__ import annotations

from lanyard import errors


class Error(errors.Error):
    """Base of every error raised by lanyard.core."""


class InvalidIdentifier(Error):
    """An e-mail address or name that cannot be normalised (spec SCREEN-v1 §1).

    The message names what was wrong, never the identifier itself: identifiers are
    personal data and messages end up in logs.
    """


class InvalidScalar(Error):
    """A scalar that cannot be used: zero (it has no inverse) or not 32 bytes (spec §3)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"scalar {index} {reason}")
        self.index = index
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidScalar], tuple[int, str]]:
        # Raised in worker processes too (core/workers.py): pickled by its arguments.
        return type(self), (self.index, self.reason)


class InvalidPoint(Error):
    """A byte string that is not a valid prime-order edwards25519 point (spec §3)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"point {index} {reason}")
        self.index = index
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidPoint], tuple[int, str]]:
        # Raised in worker processes too (core/workers.py): pickled by its arguments.
        return type(self), (self.index, self.reason)


class WorkerStopped(Error):
    """A crypto worker process died under the work (killed, out of memory); its pool is
    replaced, so the same work may simply be tried again (core/workers.py)."""


class SealError(Error):
    """A sealed status box that does not open under the status key (spec §4)."""


class SignatureError(Error):
    """A signature that does not verify, or a key or signature of the wrong length."""


class AuthError(Error):
    """A call token that is missing, malformed, expired, replayed or wrongly signed."""


class KeyFileError(Error):
    """A key file that is missing, unreadable, of the wrong size or too widely readable."""


class ConfigError(Error):
    """A configuration file or value that cannot be used."""


class ProofFailed(Error):
    """An evaluation proof that does not verify, or cannot be made (spec SCREEN-v1 §3a):
    the registry's answer must not be finalised, matched or reported clear."""
