"""Streaming reader for the attendee exports organisers already have.

Organisers screen what their ticketing system gives them (pretix, Tito, Eventbrite or a
plain name/e-mail sheet), in whatever encoding it came in, without editing it first. This
module turns such a file into a stream of normalised identities (spec SCREEN-v1 §1) keyed
by physical line number, so that

* memory stays flat however long the file is (one record at a time, never the whole file),
* screening can resume after a crash by line number (`Export.rows(start_after_line=...)`),
* a malformed row is reported with its line and skipped while the rest runs, and
* a file that cannot be an export at all (missing, empty, binary, unknown columns) is
  refused up front with one sentence saying what to do (`ImportFailed`).

Messages and `BadRow.reason` never contain a name or an e-mail address: they are personal
data, and these strings end up on terminals and in logs.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lanyard.agent.errors import ImportFailed
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import MAX_INPUT_CHARS, normalize_email, normalize_name

__all__ = ["BadRow", "Export", "Layout", "Row", "file_digest", "open_export"]

_SAMPLE_BYTES = 64 * 1024  # checked up front, so a binary file is refused before any work
_UTF16_PROBE_BYTES = 4096
_MAX_LINE_CHARS = 1024 * 1024  # no export has such lines; bounds memory on a hostile file
_DELIMITERS = (",", ";", "\t")
_MAX_LISTED_COLUMNS = 30

# (BOM, reported encoding, codec that reads what follows the BOM)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)

# pretix name parts that are not part of the name a registry record carries: "Dr" or
# "Ms" would add a token and defeat the match; a calling name or transcription repeats it.
_PRETIX_SKIPPED_PARTS = ("title", "salutation", "calling name", "latin transcription", "degree")
_PLAIN_NAMES = ("name", "full name")
_PLAIN_EMAILS = ("email", "e-mail", "email address", "e-mail address")
_PLAIN_REFS = ("ref", "reference", "id")


@dataclass(frozen=True, slots=True)
class Row:
    """One attendee: normalised identities and where the record starts in the file."""

    line: int
    ref: str
    name: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record that was skipped; `reason` never quotes the name or e-mail itself."""

    line: int
    ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns hold the name (parts joined with a space), the e-mail and the ref."""

    format: str
    name_columns: tuple[str, ...]
    email_column: str | None
    ref_column: str | None


@dataclass(frozen=True, slots=True)
class Export:
    """An opened export: encoding, dialect and layout are settled; rows are read lazily."""

    path: Path
    encoding: str
    layout: Layout
    delimiter: str
    columns: tuple[str, ...]
    header_lines: int  # physical lines up to and including the header (blank lines before it)
    _codec: str
    _bom_length: int

    def header(self) -> list[str]:
        return list(self.columns)

    def rows(self, start_after_line: int = 0) -> Iterator[Row | BadRow]:
        """Every record after the header, in file order, one at a time.

        Records starting on a line <= `start_after_line` are parsed (a quoted cell may span
        lines) but not normalised or returned. Blank records are skipped silently.
        """
        keys = [_key(c) for c in self.columns]  # a layout names the first of duplicates

        def at(column: str | None) -> int | None:
            return None if column is None else keys.index(_key(column))

        name_at = tuple(keys.index(_key(c)) for c in self.layout.name_columns)
        email_at, ref_at = at(self.layout.email_column), at(self.layout.ref_column)
        with _open_text(self.path, self._codec, self._bom_length) as stream:
            lines = _lines(stream, self.path)
            for _ in itertools.islice(lines, self.header_lines):
                pass
            reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
            while True:
                line = self.header_lines + reader.line_num + 1
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if line > start_after_line:
                        last = self.header_lines + reader.line_num
                        yield BadRow(line, f"line {line}", _malformed(line, last, exc))
                    continue
                if line <= start_after_line:
                    continue
                item = _parse(line, record, name_at, email_at, ref_at)
                if item is not None:
                    yield item


def open_export(
    path: Path,
    name_col: str | None = None,
    email_col: str | None = None,
    ref_col: str | None = None,
) -> Export:
    """Sniff encoding, delimiter and layout; raise ImportFailed (one sentence) if unusable."""
    encoding, codec, bom_length = _sniff_encoding(path)
    delimiter, columns, header_lines = _read_header(path, codec, bom_length)
    layout = _layout(path, columns, name_col, email_col, ref_col)
    return Export(path, encoding, layout, delimiter, columns, header_lines, codec, bom_length)


def file_digest(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks (ties resume state to one file)."""
    with _open_binary(path) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _parse(
    line: int,
    record: list[str],
    name_at: tuple[int, ...],
    email_at: int | None,
    ref_at: int | None,
) -> Row | BadRow | None:
    width = len(record)  # short records are padded with empty cells

    def cell(i: int | None) -> str:
        return record[i].strip() if i is not None and i < width else ""

    ref = cell(ref_at) or f"line {line}"
    name_text = " ".join(part for part in map(cell, name_at) if part)
    email_text = cell(email_at)
    if "\x00" in name_text or "\x00" in email_text or "\x00" in ref:
        return BadRow(line, f"line {line}", "the row contains NUL characters (damaged file?)")
    if not name_text and not email_text:
        if not any(c.strip() for c in record):
            return None
        return BadRow(line, ref, "no name and no e-mail")
    email = None
    if email_text:
        try:
            email = normalize_email(email_text)
        except InvalidIdentifier as exc:
            return BadRow(
                line, ref, f"invalid e-mail: {exc}; fix it in the export, this row was not screened"
            )
    name = None
    if name_text:
        if len(name_text) > MAX_INPUT_CHARS:
            return BadRow(
                line, ref, f"name is {len(name_text)} characters long; at most {MAX_INPUT_CHARS}"
            )
        try:
            name = normalize_name(name_text)
        except InvalidIdentifier:
            name = None  # punctuation only: screen by e-mail alone
    if name is None and email is None:
        return BadRow(line, ref, "no usable name (no letters or digits) and no e-mail")
    return Row(line, ref, name, email)


def _malformed(first: int, last: int, exc: csv.Error) -> str:
    where = f"line {first} was" if last <= first else f"lines {first}-{last} were"
    return f"malformed CSV ({exc}): {where} skipped; check for an unclosed quote"


# --- encoding -----------------------------------------------------------------------------


def _open_binary(path: Path) -> io.BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise ImportFailed(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ImportFailed(f"{path} is a directory, not a CSV file") from None
    except PermissionError:
        raise ImportFailed(f"{path} cannot be read: permission denied") from None
    except OSError as exc:
        raise ImportFailed(f"{path} cannot be read: {exc.strerror or exc}") from exc


def _not_text(path: Path) -> ImportFailed:
    return ImportFailed(
        f"{path} is not UTF-8 or UTF-16 text (binary file? if it came from Excel, "
        'save it as "CSV UTF-8")'
    )


def _sniff_encoding(path: Path) -> tuple[str, str, int]:
    """(reported encoding, codec, BOM length) from the first 64 KiB; refuses binary."""
    with _open_binary(path) as f:
        try:
            sample = f.read(_SAMPLE_BYTES)
            complete = not f.read(1)
        except OSError as exc:
            raise ImportFailed(f"{path} cannot be read: {exc.strerror or exc}") from exc
    found = next(((e, c, len(b)) for b, e, c in _BOMS if sample.startswith(b)), None)
    if found is None:
        guess = _utf16_order(sample) if b"\x00" in sample else "utf-8"
        if guess is None:
            raise _not_text(path)
        found = (guess, guess, 0)
    encoding, codec, bom_length = found
    try:
        text = codecs.getincrementaldecoder(codec)("strict").decode(
            sample[bom_length:], final=complete
        )
    except UnicodeDecodeError:
        raise _not_text(path) from None
    if "\x00" in text:
        raise _not_text(path)
    return encoding, codec, bom_length


def _utf16_order(sample: bytes) -> str | None:
    """utf-16-le/-be if zero bytes fall on one parity, as ASCII in UTF-16 puts them."""
    units = min(len(sample), _UTF16_PROBE_BYTES) // 2
    probe = sample[: units * 2]
    even, odd = probe[0::2].count(0), probe[1::2].count(0)
    if units and odd * 2 >= units and even * 10 <= odd:
        return "utf-16-le"
    if units and even * 2 >= units and odd * 10 <= even:
        return "utf-16-be"
    return None


def _open_text(path: Path, codec: str, bom_length: int) -> io.TextIOWrapper:
    raw = _open_binary(path)
    raw.seek(bom_length)
    return io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")


def _lines(stream: io.TextIOWrapper, path: Path) -> Iterator[str]:
    """Physical lines (\\n, \\r\\n or \\r), as csv.reader counts them; bounded in length."""
    number = 0
    while True:
        try:
            line = stream.readline(_MAX_LINE_CHARS + 1)
        except UnicodeDecodeError:
            raise ImportFailed(
                f"{path} is not UTF-8 or UTF-16 text after line {number} (damaged or binary file?)"
            ) from None
        if not line:
            return
        number += 1
        if len(line) > _MAX_LINE_CHARS:
            raise ImportFailed(
                f"{path} line {number} is longer than {_MAX_LINE_CHARS} characters, "
                "so it is not a ticketing export"
            )
        yield line


# --- header and layout --------------------------------------------------------------------


def _key(column: str) -> str:
    return " ".join(column.replace("\ufeff", " ").split()).casefold()


def _sniff_delimiter(line: str) -> str:
    """The candidate that occurs most often outside quotes in the header line."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_header(path: Path, codec: str, bom_length: int) -> tuple[str, tuple[str, ...], int]:
    with _open_text(path, codec, bom_length) as stream:
        lines = _lines(stream, path)
        skipped = 0
        for first in lines:
            if first.replace("\ufeff", "").strip():
                break
            skipped += 1
        else:
            raise ImportFailed(f"{path} is empty")
        delimiter = _sniff_delimiter(first)
        reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise ImportFailed(
                f"{path} line {skipped + 1}: the header is not valid CSV ({exc})"
            ) from exc
        columns = tuple(c.replace("\ufeff", "").strip() for c in header)
        if not any(columns):
            raise ImportFailed(f"{path} has no column names in its first row")
        return delimiter, columns, skipped + reader.line_num


def _listing(columns: tuple[str, ...]) -> str:
    named = [c for c in columns if c]
    shown = ", ".join(named[:_MAX_LISTED_COLUMNS])
    more = len(named) - _MAX_LISTED_COLUMNS
    return f"{shown} and {more} more" if more > 0 else shown


def _detect(by_key: dict[str, str]) -> Layout | None:
    """First known format whose columns are present, by the order the formats are checked."""

    def find(*keys: str) -> str | None:
        return next((by_key[k] for k in keys if k in by_key), None)

    def some(*columns: str | None) -> tuple[str, ...]:
        return tuple(c for c in columns if c is not None)

    parts = tuple(
        column
        for key, column in by_key.items()
        if key.startswith("attendee name:")
        and not key.removeprefix("attendee name:").strip().startswith(_PRETIX_SKIPPED_PARTS)
    )
    full = find("attendee name")
    attendee_email = find("attendee email")
    if parts or full or attendee_email:
        names = parts or some(full)
        return Layout("pretix", names, attendee_email or find("email"), find("order code"))
    full = find("ticket full name")
    names = some(full) if full else some(find("ticket first name"), find("ticket last name"))
    ticket_email = find("ticket email")
    if names or ticket_email:
        return Layout("tito", names, ticket_email, find("ticket reference"))
    names = some(find("first name"), find("last name"))
    if names:
        return Layout("eventbrite", names, find("email"), find("order #"))
    names, email = some(find(*_PLAIN_NAMES)), find(*_PLAIN_EMAILS)
    if names or email:
        return Layout("plain", names, email, find(*_PLAIN_REFS))
    return None


def _layout(
    path: Path,
    columns: tuple[str, ...],
    name_col: str | None,
    email_col: str | None,
    ref_col: str | None,
) -> Layout:
    by_key: dict[str, str] = {}
    for column in columns:
        if column:
            by_key.setdefault(_key(column), column)

    def given(value: str, flag: str) -> str:
        column = by_key.get(_key(value))
        if column is None:
            raise ImportFailed(
                f"{path} has no column {value.strip()!r} (named by {flag}); "
                f"found columns: {_listing(columns)}"
            )
        return column

    layout = _detect(by_key)
    if name_col is not None or email_col is not None or ref_col is not None:
        layout = Layout(
            "custom",
            (given(name_col, "--name-col"),)
            if name_col is not None
            else (layout.name_columns if layout else ()),
            given(email_col, "--email-col")
            if email_col is not None
            else (layout.email_column if layout else None),
            given(ref_col, "--ref-col")
            if ref_col is not None
            else (layout.ref_column if layout else None),
        )
    if layout is None or (not layout.name_columns and layout.email_column is None):
        raise ImportFailed(
            f"{path} has no column recognised as a name or e-mail (found columns: "
            f"{_listing(columns)}); use --name-col and/or --email-col (and --ref-col) "
            "to say which to use"
        )
    return layout
