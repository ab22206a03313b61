"""Reading a file of records for `lanyard registry record import`.

Two forms, both UTF-8:

* CSV with a header row. Columns (any order, case-insensitive): `ref`, `status`, `email`,
  `name`, `alias`, `expires`, `ban_until`. A cell may hold several e-mail addresses, names
  or aliases separated by `;`.
* JSON: an array of objects, or one object per line (JSON Lines), with the keys `ref`,
  `status`, `email`/`emails`, `name`/`names`, `alias`/`aliases` (a string or a list of
  strings), `expires`, `ban_until`.

Each record is checked as `record add` checks its flags (reference, status, at least one
e-mail or name, every identifier normalisable, at most 64 forms, dates, an expiry after
today whether written or derived from `ban_until`); a record that
fails is reported by its line (its position in a JSON array) and left out, and the rest are
imported. Identifiers are read here and blinded on this machine; none is ever sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lanyard.cli.output import CliError
from lanyard.cli.registry.common import lapsed_expiry
from lanyard.client.admin import Identifier, NewRecord, record_messages
from lanyard.core import snapshot
from lanyard.core.address import checked_identifier
from lanyard.core.errors import Error as CoreError
from lanyard.core.identity import Kind
from lanyard.registry.record_changes import RECORD_REF

COLUMNS = ("ref", "status", "email", "name", "alias", "expires", "ban_until")
_PLURAL = {"emails": "email", "names": "name", "aliases": "alias"}


# (status, ban_until, today) -> the expiry a retention schedule gives (Policy.expiry).
ExpiryRule = Callable[[str, date | None, date], date | None]


@dataclass(frozen=True, slots=True)
class Refused:
    """A record left out: where it stood in the file (`line 7`, `record 3`) and why."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Unreadable:
    reason: str


@dataclass(frozen=True, slots=True)
class Parsed:
    record: NewRecord
    forms: int  # how many §5a forms (points) the record is registered under
    where: str


def _values(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ValueError(f"{key} must be a string or a list of strings")


def _date(value: Any, key: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a date like 2027-05-14")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{key} must be a date like 2027-05-14, got {value.strip()[:20]!r}"
        ) from None


def parse_row(
    row: Mapping[str, Any], today: date, max_forms: int, default_expiry: ExpiryRule
) -> tuple[NewRecord, int]:
    """One record from one row's fields. Raises ValueError naming what is wrong.
    `default_expiry(status, ban_until, today)` gives the expiry when none is written."""
    fields = {_PLURAL.get(k.strip().lower(), k.strip().lower()): v for k, v in row.items() if k}
    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    ref = fields.get("ref")
    if not isinstance(ref, str) or not RECORD_REF.match(ref.strip()):
        raise ValueError("ref must be 1 to 64 printable ASCII characters, no spaces")
    status = fields.get("status")
    status = status.strip().lower() if isinstance(status, str) else status
    if status not in snapshot.STATUS_VALUES:
        raise ValueError("status must be flagged or banned")
    identifiers = [Identifier(Kind.EMAIL, e) for e in _values(fields.get("email"), "email")]
    identifiers += [Identifier(Kind.NAME, n) for n in _values(fields.get("name"), "name")]
    if not identifiers:
        raise ValueError("a record needs at least one e-mail address or name")
    identifiers += [Identifier(Kind.NAME, a) for a in _values(fields.get("alias"), "alias")]
    counts = {Kind.EMAIL: 0, Kind.NAME: 0}
    for i, ident in enumerate(identifiers):
        counts[ident.kind] += 1
        try:
            identifiers[i] = Identifier(ident.kind, checked_identifier(ident.kind, ident.value))
        except CoreError as exc:
            raise ValueError(f"{ident.kind.value} number {counts[ident.kind]}: {exc}") from exc
    forms = len(record_messages(identifiers))
    if forms > max_forms:
        raise ValueError(f"the record would be registered under {forms} forms; at most {max_forms}")
    ban_until = _date(fields.get("ban_until"), "ban_until")
    if ban_until is not None and status != "banned":
        raise ValueError("ban_until is for banned records only")
    given = _date(fields.get("expires"), "expires")
    expires = given or default_expiry(status, ban_until, today)
    problem = lapsed_expiry(expires, today, "expires", None if given else ban_until, "ban_until")
    if problem is not None:
        raise ValueError(problem)
    return NewRecord(ref.strip(), status, identifiers, expires, ban_until), forms


def _csv_rows(text: str) -> Iterator[tuple[str, Mapping[str, Any] | _Unreadable]]:
    """(where, row), or (where, why the line cannot be read)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CliError("the CSV file has no header row")
    for row in reader:
        if None in row:  # DictReader's key for cells beyond the header
            yield f"line {reader.line_num}", _Unreadable("more cells than the header has columns")
            continue
        if any((v or "").strip() for v in row.values()):
            yield f"line {reader.line_num}", row


def _json_rows(text: str) -> Iterator[tuple[str, Any]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CliError(f"the file is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        for index, item in enumerate(items, start=1):
            yield f"record {index}", item
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", _Unreadable(f"not valid JSON ({exc.msg})")


def read_records(
    path: Path, today: date, max_forms: int, default_expiry: ExpiryRule
) -> tuple[list[Parsed], list[Refused]]:
    """Every record of the file that can be imported, and every one refused (by line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"{path} is not UTF-8 text") from exc
    is_json = path.suffix.lower() in (".json", ".jsonl") or text.lstrip().startswith(("[", "{"))
    rows = _json_rows(text) if is_json else _csv_rows(text)
    parsed: list[Parsed] = []
    refused: list[Refused] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        if isinstance(row, _Unreadable):
            refused.append(Refused(where, row.reason))
            continue
        if not isinstance(row, dict):
            refused.append(Refused(where, "not a JSON object"))
            continue
        try:
            record, forms = parse_row(row, today, max_forms, default_expiry)
        except ValueError as exc:
            refused.append(Refused(where, str(exc)))
            continue
        if record.record_ref in seen:
            refused.append(Refused(where, f"ref repeats the one at {seen[record.record_ref]}"))
            continue
        seen[record.record_ref] = where
        parsed.append(Parsed(record, forms, where))
    return parsed, refused


def batches(records: list[Parsed], max_records: int, max_forms: int) -> Iterator[list[Parsed]]:
    """Consecutive batches of at most `max_records` records and `max_forms` forms."""
    batch: list[Parsed] = []
    forms = 0
    for item in records:
        if batch and (len(batch) >= max_records or forms + item.forms > max_forms):
            yield batch
            batch, forms = [], 0
        batch.append(item)
        forms += item.forms
    if batch:
        yield batch
