"""The event agent's error hierarchy. Its gRPC boundary maps each class to one status."""

from __future__ import annotations

from lanyard import errors


class Error(errors.Error):
    """Base of every error the event agent raises on purpose."""


class ImportFailed(Error):
    """A ticketing export that cannot be read at all: empty, binary, unknown layout."""


class InvalidRequest(Error):
    """A malformed request or argument."""


class Unauthenticated(Error):
    """A caller that could not be identified."""


class PermissionDenied(Error):
    """A known caller that may not do this."""


class Unavailable(Error):
    """The registry cannot be reached and there is no other way to decide."""


class NotEnrolled(Error):
    """The agent has no enrolment bundle yet: run `lanyard agent enroll BUNDLE`."""


class DataDirError(Error):
    """The agent's data directory is missing, incomplete or damaged."""


class SnapshotCorrupt(DataDirError):
    """The stored snapshot's entries no longer lead to the Merkle root stored with them:
    agent.db was damaged; the snapshot is not used and is fetched again in full."""


class SnapshotRejected(Error):
    """A snapshot whose signature does not verify under the pinned registry key."""


class NotFound(Error):
    """The thing named does not exist."""


class LockedError(Error):
    """The incident records' master key is missing, or the passphrase or key file is wrong."""


class Conflict(Error):
    """A change based on an old version, or not allowed in the record's current state."""


class NotAllowed(Error):
    """A step the record's state does not allow: a second approval by the same person, a
    status change out of order."""


class RegistryRefused(Error):
    """The registry answered, and said no: a revoked enrolment, an exhausted quota."""


class RetentionApplied(Error):
    """The attendee data was deleted by the retention sweep: screening is over."""


class RotationPending(Error):
    """A key rotation that cannot finish yet (quota, outage): the old epoch still answers."""


class RegistryFaulted(Error):
    """The registry answered with something that does not verify (its evaluation proof,
    spec SCREEN-v1 §3a, or its evaluation log entry, §3b): nothing of that answer is used,
    the rows it covered stay unscreened, and an operator alert is raised."""
