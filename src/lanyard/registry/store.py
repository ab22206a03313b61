"""The registry's storage interface. The service layer talks only to this; the SQLite
implementation lives in sqlite_store.py and passes the shared contract tests.

What is stored: events (public keys, quotas, counts), records (reference, status, expiry),
each record's Y points per epoch, and the snapshot entries derived from them. Never an
identifier, never a blinded point, never an OPRF key (those live in key files).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from lanyard.core.evaluation_log import Leaf


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    name: str
    starts_on: date
    ends_on: date
    public_key: bytes
    quota: int
    used: int = 0
    revoked_at: datetime | None = None
    created_at: datetime | None = None
    retired_keys: tuple[bytes, ...] = ()  # earlier public keys, oldest first


@dataclass(frozen=True, slots=True)
class Record:
    record_ref: str
    status: str  # "flagged" | "banned"
    expires_on: date | None
    identifier_count: int = 0
    created_at: datetime | None = None
    ban_until: date | None = None
    submission_id: str = ""  # the end-of-event report it was made from, if any
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """One entry of a record's history: who changed what, at which snapshot version."""

    member: str
    action: str  # "added" | "updated"
    detail: str
    version: int = 0  # filled in by the store
    at: datetime | None = None  # filled in by the store


@dataclass(frozen=True, slots=True)
class Entry:
    """One snapshot entry. `record_ref` is None for padding."""

    tag: bytes
    sealed: bytes
    record_ref: str | None


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """What the snapshot holds under one tag now: the sealed status, the record that owns
    it (None for padding) and that record's status ("flagged" | "banned"; None for
    padding)."""

    sealed: bytes
    record_ref: str | None
    status: str | None


class LiveReader(ABC):
    """One read transaction over the live snapshot entries, pinned at `version` when it was
    opened: changes committed later are not seen (SQLite WAL gives the isolation). Close
    it when done; it holds a database connection of its own."""

    version: int

    @abstractmethod
    def chunks(self, size: int) -> AsyncIterator[list[tuple[bytes, bytes]]]:
        """Every live (tag, sealed) in tag order, at most `size` a list."""

    @abstractmethod
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """Evaluation log leaves (spec §3b) of `caller` ("admin:<name>") that a record change
    follows: `record_ref` names them (a batch's first record) and `records` counts the
    records they cover. `points` is what the change carries, counted as it could have
    been evaluated (each record's distinct points). With `log_indexes`: exactly those
    leaves, each of `caller` and of `epoch`, unclaimed and named once (InvalidRequest
    otherwise, and nothing of the change is applied); leaves holding more than `points`
    points in all are left unclaimed, the change applied. Without (clients before log
    indexes): the caller's newest unclaimed leaf of `epoch` holding exactly `points`
    points, if any. The registry cannot tell which
    points a leaf held (they were blinded): a claim is the admin's word, bounded so that
    it can never cover more evaluations than the change shows."""

    caller: str
    record_ref: str
    points: int
    epoch: int
    log_indexes: tuple[int, ...] = ()
    records: int = 1


@dataclass(frozen=True, slots=True)
class Change:
    """One atomic change to the records and the snapshot; it bumps the version by one."""

    add_record: Record | None = None
    # Replaces status, expiry and ban end of an existing record (add_points go to it).
    update_record: Record | None = None
    add_points: list[bytes] = field(default_factory=list)
    # More records with their Y points, added in the same transaction (batch import).
    add_records: list[tuple[Record, list[bytes]]] = field(default_factory=list)
    # Written with the change, stamped with its version; for add_record or update_record.
    history: RecordEvent | None = None
    # One history entry per record of add_records, in the same order (may be empty).
    add_records_history: list[RecordEvent] = field(default_factory=list)
    remove_refs: list[str] = field(default_factory=list)
    add_entries: list[Entry] = field(default_factory=list)
    remove_tags: list[bytes] = field(default_factory=list)
    # (record ref, new expiry or None for never): older records a repeat extends.
    extend: list[tuple[str, date | None]] = field(default_factory=list)
    # The evaluation log leaves this change follows (spec §3b), claimed in the same
    # transaction.
    claim: Claim | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    added: list[Entry]
    removed_tags: list[bytes]


@dataclass(frozen=True, slots=True)
class LoggedEvaluation:
    """One leaf of the evaluation log (spec §3b) at `log_index`; for an admin key's
    evaluation, `record_ref` names the record added after it (a batch's first; None: none
    was)."""

    log_index: int
    leaf: Leaf
    record_ref: str | None = None
    records: int = 0  # how many records the claim covers (0: not claimed)
    record_removed: bool = False  # the record naming the claim no longer exists


class Store(ABC):
    """Async storage for the registry. Every method is atomic."""

    @abstractmethod
    async def close(self) -> None: ...

    # -- state ---------------------------------------------------------------------------
    @abstractmethod
    async def current_epoch(self) -> int: ...

    @abstractmethod
    async def snapshot_version(self) -> int: ...

    # -- admins --------------------------------------------------------------------------
    @abstractmethod
    async def add_admin(self, name: str, public_key: bytes) -> None:
        """The operator's admin key (report readers are added with their recipient)."""

    @abstractmethod
    async def admin(self, name: str) -> tuple[bytes, str] | None:
        """(public key, role) of an admin key: role "operator" or "reader"."""

    # -- events --------------------------------------------------------------------------
    @abstractmethod
    async def add_event(self, event: Event) -> Event:
        """Raises AlreadyExists."""

    @abstractmethod
    async def get_event(self, event_id: str) -> Event | None: ...

    @abstractmethod
    async def list_events(self) -> list[Event]: ...

    @abstractmethod
    async def revoke_event(self, event_id: str, at: datetime) -> Event:
        """Raises NotFound. Revoking twice keeps the first time."""

    @abstractmethod
    async def rekey_event(self, event_id: str, old_key: bytes, new_key: bytes) -> Event:
        """Replace the event's key if it is still `old_key`, keeping that as retired;
        raises NotFound, or AlreadyExists if the key changed meanwhile."""

    @abstractmethod
    async def set_quota(self, event_id: str, quota: int) -> Event:
        """Raises NotFound, or InvalidRequest below what is used (nothing changed)."""

    @abstractmethod
    async def reserve_evaluations(
        self, event_id: str, count: int, logged: LoggedEvaluation | None = None
    ) -> int:
        """Count `count` evaluations against the quota; return what remains. `logged` is
        appended to the evaluation log in the same transaction (append_evaluation's rule).
        Raises QuotaExhausted or LogOutOfStep (nothing counted, nothing logged), NotFound."""

    # -- evaluation log (spec §3b) -------------------------------------------------------
    @abstractmethod
    async def append_evaluation(self, logged: LoggedEvaluation) -> None:
        """Append a leaf on its own (an admin key's evaluation: no quota). Its index MUST
        be the log's next one; raises LogOutOfStep otherwise."""

    @abstractmethod
    async def evaluation_hashes(self) -> list[bytes]:
        """Every leaf's RFC 6962 hash, in log order."""

    @abstractmethod
    async def list_evaluations(
        self, event_id: str | None = None, since: str | None = None
    ) -> list[LoggedEvaluation]:
        """Leaves in log order, of one event (or "admin") and from an ISO time on."""

    @abstractmethod
    async def claim(self, claim: Claim) -> list[int]:
        """Apply `claim` alone (Claim's rule; a batch whose records all existed already):
        the log indexes claimed, [] when none was. Raises InvalidRequest."""

    # -- records and snapshot ------------------------------------------------------------
    @abstractmethod
    async def get_record(self, record_ref: str) -> Record | None: ...

    @abstractmethod
    async def list_records(self) -> list[Record]: ...

    @abstractmethod
    async def record_points(self, record_ref: str, epoch: int) -> list[bytes]:
        """The record's Y points in `epoch` (empty for an unknown record)."""

    @abstractmethod
    async def record_history(self, record_ref: str) -> list[RecordEvent]:
        """The record's changes, oldest first; removing a record removes its history."""

    @abstractmethod
    async def expired_refs(self, today: date) -> list[str]: ...

    @abstractmethod
    async def sharing_points(self, record_refs: list[str]) -> list[tuple[Record, bytes]]:
        """Records outside `record_refs` that hold one of their Y points in the current
        epoch, with that point: the same person listed twice. One query for all refs."""

    @abstractmethod
    async def existing_refs(self, record_refs: list[str]) -> set[str]:
        """Which of `record_refs` are stored records (one query per call)."""

    @abstractmethod
    async def holding(self, points: list[bytes]) -> list[tuple[Record, bytes]]:
        """Records that hold one of `points` in the current epoch, with that point."""

    @abstractmethod
    async def points_of(self, record_refs: list[str]) -> list[tuple[str, bytes]]:
        """(record ref, Y) of every current-epoch point of the records named."""

    @abstractmethod
    async def retention(self) -> dict[str, int]:
        """The retention schedule: name -> months (see registry/retention.py)."""

    @abstractmethod
    async def set_retention(self, values: dict[str, int]) -> None: ...

    @abstractmethod
    async def key_transitions(self) -> list[bytes]:
        """Every stored signing key hand-over (a serialised KeyTransition), oldest first."""

    @abstractmethod
    async def add_key_transition(self, sequence: int, new_key: bytes, statement: bytes) -> None:
        """Append hand-over `sequence`; raises AlreadyExists if it is taken (a race)."""

    @abstractmethod
    async def live_entries(self) -> list[Entry]:
        """Every live entry, in no order: O(list), for tools and tests only (the service
        reads what a change touches: bucket_entries, live_owners, live_tags_of)."""

    @abstractmethod
    async def bucket_entries(self, buckets: Collection[int]) -> dict[int, bytes]:
        """For each bucket named (0..65,535, snapshot_tree.bucket_of), its live entries in
        tag order, each tag || sealed, joined (b"" for an empty bucket). One read
        transaction, whatever the number of buckets."""

    @abstractmethod
    async def live_owners(self, tags: Sequence[bytes]) -> dict[bytes, LiveEntry]:
        """The live entry under each of `tags` that is live (absent tags are left out)."""

    @abstractmethod
    async def live_tags_of(self, record_refs: Sequence[str]) -> list[bytes]:
        """The live tags owned by the records named (padding is owned by none)."""

    @abstractmethod
    async def padding_tags(self) -> list[bytes]:
        """The live tags of padding entries (at most 63 with the padding rule kept)."""

    @abstractmethod
    async def live_reader(self) -> LiveReader:
        """A reader pinned at the current snapshot version (see LiveReader)."""

    @abstractmethod
    async def apply(self, change: Change) -> int:
        """Apply `change` atomically and return the new snapshot version.
        Raises AlreadyExists if a record to add exists, NotFound if a ref to remove or
        the record to update does not; then nothing is changed."""

    @abstractmethod
    async def points(self, epoch: int) -> list[tuple[str, bytes]]:
        """(record ref, Y) of every stored point of `epoch`."""

    @abstractmethod
    async def rotate(
        self, new_epoch: int, points: list[tuple[str, bytes]], entries: list[Entry]
    ) -> int:
        """Move to `new_epoch` atomically: its points replace the old epoch's, `entries`
        replace every live entry; returns the new snapshot version."""

    @abstractmethod
    async def delta_since(
        self, version: int, max_added: int | None = None, max_removed: int | None = None
    ) -> Delta | None:
        """Entries added and tags removed after `version`; None if that is not known, or
        if more than `max_added` entries were added or `max_removed` tags removed (then
        a whole snapshot is sent instead: such a delta is never read in full)."""
