"""The agent's storage interface; sqlite_store.py implements it.

What is stored is the event's own data: each screened person's reference, role and
normalised identifiers, the Y points the registry's key gave them, their current result,
the newest verified snapshot, alerts, and the ticketing integrations' public keys.

Each distinct identity (spec §1 message) is stored once, however many screening runs and
checks name it: re-evaluating after a key rotation costs one evaluation per identity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from lanyard.agent.screening.decision import Result
from lanyard.core.identity import Kind
from lanyard.core.snapshot_tree import SnapshotEntries


@dataclass(frozen=True, slots=True)
class Identity:
    kind: Kind
    message: bytes  # spec §1 message: "lanyard:v1:<kind>:<normalised>"
    y: bytes


PERSONS = ("attendee", "buyer")


@dataclass(frozen=True, slots=True)
class Screened:
    """One person screened: of a CSV row (line set; the row's attendee, or the buyer who
    paid for the ticket) or of a registration check (line None)."""

    ref: str
    role: str
    identities: list[Identity]
    result: Result
    line: int | None = None
    person: str = "attendee"  # one of PERSONS


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class Run:
    run_id: int
    last_line: int
    finished: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """A screened person's stored result, for reports and re-checks."""

    attendee_id: int
    ref: str
    role: str
    line: int | None
    result: Result
    person: str = "attendee"  # who in the row matched: one of PERSONS


@dataclass(frozen=True, slots=True)
class RunReport:
    screened: int  # rows
    counts: dict[str, int]  # rows by decision (a row's decision is its people's strongest)
    matches: list[Outcome]
    skipped: list[Skipped]


def row_label(ref: str, source: str, line: int | None) -> str:
    """How a person stored from a file row or a check is named to the organiser: the
    row's reference, or, for a row of a file without a reference column (whose ref is
    only "line N"), the file's name and the line."""
    if line is not None and source and ref == f"line {line}":
        return f"{source} line {line}"
    return ref


@dataclass(frozen=True, slots=True)
class AlertRow:
    """Another stored row an alert is about: the same identity, named again by another
    file or check (its result changed the same way)."""

    attendee_id: int
    ref: str
    source: str = ""  # the file's name; "" for a registration check
    line: int | None = None
    person: str = "attendee"  # one of PERSONS

    @property
    def label(self) -> str:
        return row_label(self.ref, self.source, self.line)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert per identity and change: about the stored row `attendee_id` (`ref`,
    from the file `source` at `line`, or a check), and any `also` rows of the same
    identity that changed alike. `previous` is the result before the change (None for
    alerts stored before it was kept): for "cleared", the record that no longer matches."""

    alert_id: int
    attendee_id: int
    ref: str
    kind: str  # "new-match" | "cleared" | "changed"
    result: Result
    snapshot_version: int
    raised_at: datetime | None = None
    person: str = "attendee"  # one of PERSONS
    source: str = ""
    line: int | None = None
    previous: Result | None = None
    also: tuple[AlertRow, ...] = ()

    @property
    def label(self) -> str:
        return row_label(self.ref, self.source, self.line)

    @property
    def record_ref(self) -> str:
        """The WG record the change is about: the one matched now, or, when cleared,
        the one that matched before."""
        if self.result.record_ref or self.previous is None:
            return self.result.record_ref
        return self.previous.record_ref


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert a re-check raises: `attendee_id`'s result became `result` (it was
    `previous`), and so did the result of each of `also`, of the same identity."""

    attendee_id: int
    kind: str  # "new-match" | "cleared" | "changed"
    result: Result
    previous: Result | None = None
    also: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class FaultAlert:
    """An operator alert about the registry: `kind` "evaluation-proof" (its §3a proof
    failed) or "evaluation-log" (its §3b log entry did not verify); `detail` one sentence."""

    fault_id: int
    kind: str
    detail: str
    raised_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A re-check's outcome: new results and the alerts they raise, in one transaction."""

    results: list[tuple[int, Result]] = field(default_factory=list)
    alerts: list[NewAlert] = field(default_factory=list)
    snapshot_version: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """A snapshot as stored: its entries, and the registry's signature over their root
    (docs/snapshot.md) with the epoch's public key, both empty when unknown."""

    epoch: int
    version: int
    entries: SnapshotEntries
    confirmed_at: datetime | None = None  # last time the registry said it was the newest
    signature: bytes = b""
    public_key: bytes = b""
    # On load: False when no root was stored with the entries (kept from before roots
    # were), so nothing vouches for them and they should be fetched again in full.
    verified: bool = True


class Store(ABC):
    @abstractmethod
    async def close(self) -> None: ...

    # -- snapshot ------------------------------------------------------------------------
    @abstractmethod
    async def load_snapshot(self) -> SnapshotState | None:
        """The snapshot held, its entries rebuilt in memory (about ENTRY_BYTES each).
        Raises SnapshotCorrupt when they do not lead to the root stored with them."""

    @abstractmethod
    async def save_snapshot(self, state: SnapshotState) -> None:
        """Replace the snapshot held with `state`, every entry written (a full fetch)."""

    @abstractmethod
    async def save_snapshot_change(
        self, state: SnapshotState, added: dict[bytes, bytes], removed: list[bytes]
    ) -> None:
        """Move the held snapshot (of the same epoch) to `state` by writing only what a
        delta changed: `removed` tags deleted, `added` entries written. Cost follows the
        delta, not the list."""

    @abstractmethod
    async def confirm_snapshot(self, at: datetime) -> None:
        """The registry confirmed at `at` that the snapshot held is still its newest."""

    @abstractmethod
    async def load_next_snapshot(self) -> SnapshotState | None:
        """A newer epoch's snapshot waiting for its re-evaluation to finish. Raises
        SnapshotCorrupt like load_snapshot."""

    @abstractmethod
    async def save_next_snapshot(self, state: SnapshotState) -> None: ...

    @abstractmethod
    async def save_next_snapshot_change(
        self, state: SnapshotState, added: dict[bytes, bytes], removed: list[bytes]
    ) -> None:
        """save_snapshot_change, for the next epoch's snapshot waiting beside the held one
        (`state.confirmed_at` is when the rotation was seen)."""

    @abstractmethod
    async def switch_epoch(self, state: SnapshotState) -> None:
        """Make `state` (a new epoch's snapshot) the one held, and every identity's next
        point its point, in one transaction. Raises Conflict, changing nothing, while an
        identity has no point under `state.epoch`."""

    # -- batch screening -----------------------------------------------------------------
    @abstractmethod
    async def open_run(self, digest: str, role: str, layout: str, source: str) -> Run:
        """The run for this file, role and layout: a new one, or the one to resume."""

    @abstractmethod
    async def commit_rows(
        self,
        run_id: int | None,
        last_line: int,
        epoch: int,
        screened: list[Screened],
        skipped: list[Skipped],
    ) -> list[int]:
        """Store a batch (Y points of `epoch`) atomically, advancing the run to `last_line`;
        returns the new attendee ids. A Check stores with run_id None."""

    @abstractmethod
    async def run_line(self, run_id: int) -> int:
        """The last file line of run `run_id` whose row is stored (0 before any): where
        the run resumes."""

    @abstractmethod
    async def finish_run(self, run_id: int) -> None: ...

    @abstractmethod
    async def run_report(self, run_id: int) -> RunReport: ...

    # -- identities and results ----------------------------------------------------------
    @abstractmethod
    async def known_points(self, messages: list[bytes], epoch: int) -> dict[bytes, bytes]:
        """Y for each message already evaluated in `epoch` (current or next point)."""

    @abstractmethod
    async def identities(self, epoch: int) -> list[tuple[int, Kind, bytes]]:
        """(attendee id, kind, Y) of every stored identity evaluated in `epoch`."""

    @abstractmethod
    async def identities_after(
        self, epoch: int, after_id: int
    ) -> tuple[int, list[tuple[int, Kind, bytes]]]:
        """The highest attendee id stored (0 for none), and (attendee id, kind, Y) of every
        identity evaluated in `epoch` of the attendees whose id is above `after_id`: who
        was stored since. Ids only grow while attendees are kept."""

    @abstractmethod
    async def stale_identities(self, epoch: int, limit: int) -> list[tuple[Kind, bytes]]:
        """(kind, message) of up to `limit` distinct identities with no point in `epoch`."""

    @abstractmethod
    async def pending_count(self, epoch: int) -> int:
        """How many distinct identities have no point in `epoch` yet."""

    @abstractmethod
    async def stage_points(self, epoch: int, points: list[tuple[bytes, bytes]]) -> None:
        """Keep (message, Y) as each message's point in the next epoch `epoch`."""

    @abstractmethod
    async def results(self) -> dict[int, Result]: ...

    @abstractmethod
    async def results_of(self, attendee_ids: list[int]) -> dict[int, Result]:
        """The stored result of each of these attendees (ids not stored are left out)."""

    @abstractmethod
    async def apply(self, change: Change) -> list[Alert]: ...

    @abstractmethod
    async def alerts(self, include_acknowledged: bool = False) -> list[Alert]: ...

    @abstractmethod
    async def acknowledge(self, alert_ids: list[int] | None, at: datetime) -> list[int]:
        """Acknowledge the given open alerts (None: every open one); returns those
        acknowledged now."""

    @abstractmethod
    async def add_registry_fault(self, kind: str, detail: str) -> FaultAlert:
        """Raise an operator alert about the registry (not about an attendee)."""

    @abstractmethod
    async def registry_faults(self, include_acknowledged: bool = False) -> list[FaultAlert]:
        """Operator alerts about the registry, oldest first."""

    @abstractmethod
    async def acknowledge_faults(self, fault_ids: list[int] | None, at: datetime) -> list[int]:
        """Acknowledge the given open registry faults (None: every open one); returns
        those acknowledged now."""

    @abstractmethod
    async def attendee_count(self) -> int: ...

    @abstractmethod
    async def delete_attendees(self) -> int:
        """Retention: delete every attendee, identity, result and run; return how many.
        Remembers that it did (retention_done)."""

    @abstractmethod
    async def retention_done(self) -> datetime | None:
        """When the retention sweep deleted the attendee data, if it has."""

    # -- integrations --------------------------------------------------------------------
    @abstractmethod
    async def add_integration(self, name: str, public_key: bytes) -> None: ...

    @abstractmethod
    async def integration_key(self, name: str) -> bytes | None: ...

    @abstractmethod
    async def revoke_integration(self, name: str) -> None: ...

    @abstractmethod
    async def integration_keys(self, name: str) -> list[bytes]:
        """The active integration's current key, then its previous one during an overlap."""

    @abstractmethod
    async def rotate_integration(self, name: str, public_key: bytes) -> bool:
        """Make `public_key` current and keep the old one as previous; False if `name` is
        not active."""

    @abstractmethod
    async def retire_previous_integration_key(self, name: str) -> bool:
        """End the overlap: only the current key is accepted; False if there was none."""
