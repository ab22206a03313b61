"""Streaming reader for the attendee exports organisers already have.

Organisers screen what their ticketing system or form tool gives them, in whatever
encoding and dialect it came in, without editing it first (csv_dialect.py reads the bytes,
csv_columns.py finds the columns). This module turns such a file into a stream of
normalised identities (spec SCREEN-v1 §1) keyed by physical line number: for each row the
attendee and, when the export names one, the buyer who paid for the ticket, so that

* memory stays flat however long the file is (one record at a time, never the whole file),
* screening can resume after a crash by line number (`Export.rows(start_after_line=...)`),
* a malformed row is reported with its line and skipped while the rest runs, and
* a file that cannot be an export at all (missing, empty, binary, unknown columns) is
  refused up front with one sentence saying what to do (`ImportFailed`).

Messages and `BadRow.reason` never contain a name or an e-mail address: they are personal
data, and these strings end up on terminals and in logs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lanyard.agent.errors import ImportFailed
from lanyard.agent.screening import csv_dialect
from lanyard.agent.screening.csv_columns import Layout, detect_layout
from lanyard.agent.screening.csv_dialect import BadRecord, Encoding, Records
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import MAX_INPUT_CHARS, normalize_email, normalize_name

__all__ = ["BadRow", "Export", "Layout", "Row", "file_digest", "open_export"]

_SAMPLE_RECORDS = 50
_SAMPLE_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    """One row: the attendee's and the buyer's normalised identities (the buyer's only
    when the export names one and they differ from the attendee's), and where the record
    starts in the file. `repaired`: double-encoded text in it was repaired."""

    line: int
    ref: str
    name: str | None
    email: str | None
    buyer_name: str | None = None
    buyer_email: str | None = None
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record that was skipped; `reason` never quotes the name or e-mail itself."""

    line: int
    ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class Export:
    """An opened export: encoding, dialect and layout are settled; rows are read lazily."""

    path: Path
    encoding: str
    layout: Layout
    delimiter: str
    columns: tuple[str, ...]
    header_lines: int  # physical lines up to and including the header (sep= line, blanks)
    _enc: Encoding

    def header(self) -> list[str]:
        return list(self.columns)

    def rows(self, start_after_line: int = 0) -> Iterator[Row | BadRow]:
        """Every record after the header, in file order, one at a time.

        Records starting on a line <= `start_after_line` are parsed (a quoted cell may span
        lines) but not normalised or returned. Blank records are skipped silently."""
        keys = [_key(c) for c in self.columns]  # a layout names the first of twins

        def at(columns: Sequence[str]) -> tuple[int, ...]:
            return tuple(keys.index(_key(c)) for c in columns)

        lay = self.layout
        where = _Where(
            at(lay.name_columns),
            at(lay.email_columns),
            at(lay.buyer_name_columns),
            at(lay.buyer_email_columns),
            at([lay.ref_column] if lay.ref_column else []),
        )
        with csv_dialect.open_text(self.path, self._enc) as stream:
            lines = csv_dialect.physical_lines(stream, self.path)
            for _ in itertools.islice(lines, self.header_lines):
                pass
            width = len(self.columns)
            for item in Records(lines, self.delimiter, self.header_lines + 1, width):
                if isinstance(item, BadRecord):
                    if item.first > start_after_line:
                        yield BadRow(item.first, f"line {item.first}", _malformed(item))
                    continue
                line, record = item
                if line <= start_after_line:
                    continue
                parsed = _parse(line, record, where)
                if parsed is not None:
                    yield parsed


def _key(column: str) -> str:
    return " ".join(column.replace("\ufeff", " ").split()).casefold()


def open_export(
    path: Path,
    name_col: str | Sequence[str] | None = None,
    email_col: str | Sequence[str] | None = None,
    ref_col: str | None = None,
    buyer_email_col: str | Sequence[str] | None = None,
    buyer_name_col: str | Sequence[str] | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Export:
    """Decide encoding (whole file), delimiter (`delimiter`, Excel's `sep=` line, or a
    sample of records) and layout (csv_columns.detect_layout); raise ImportFailed (one
    sentence) if the file is unusable."""
    if delimiter is not None and len(delimiter) != 1:
        raise ImportFailed(f"--delimiter must be one character, got {delimiter!r}")
    enc = csv_dialect.decide_encoding(path, encoding)
    delim, columns, header_lines, sample = _read_header(path, enc, delimiter)
    layout = detect_layout(
        path,
        columns,
        sample,
        name_cols=_listed(name_col),
        email_cols=_listed(email_col),
        ref_col=ref_col,
        buyer_email_cols=_listed(buyer_email_col),
        buyer_name_cols=_listed(buyer_name_col),
    )
    return Export(path, enc.name, layout, delim, columns, header_lines, enc)


def _listed(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def file_digest(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks (ties resume state to one file)."""
    with csv_dialect.open_binary(path) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True, slots=True)
class _Where:
    name: tuple[int, ...]
    email: tuple[int, ...]
    buyer_name: tuple[int, ...]
    buyer_email: tuple[int, ...]
    ref: tuple[int, ...]


class _Cells:
    def __init__(self, record: list[str]) -> None:
        self.record = record
        self.repaired = False

    def get(self, i: int) -> str:
        text = self.record[i].strip() if i < len(self.record) else ""
        if text and not text.isascii():
            import ftfy  # ~60 ms of start-up, and only text that is not ASCII needs it

            fixed = ftfy.fix_encoding(text)
            if fixed != text:
                self.repaired = True
                return fixed
        return text

    def joined(self, at: tuple[int, ...]) -> str:
        return " ".join(part for part in map(self.get, at) if part)

    def first(self, at: tuple[int, ...]) -> str:
        return next((v for v in map(self.get, at) if v), "")


def _parse(line: int, record: list[str], where: _Where) -> Row | BadRow | None:
    cells = _Cells(record)
    ref = cells.first(where.ref) or f"line {line}"
    texts = {
        "name": cells.joined(where.name),
        "e-mail": cells.first(where.email),
        "buyer's name": cells.joined(where.buyer_name),
        "buyer's e-mail": cells.first(where.buyer_email),
    }
    if any("\x00" in t for t in (*texts.values(), ref)):
        return BadRow(line, f"line {line}", "the row contains NUL characters (damaged file?)")
    if not any(texts.values()):
        if not any(c.strip() for c in record):
            return None
        return BadRow(line, ref, "no name and no e-mail")
    normalised: dict[str, str | None] = {}
    for label, text in texts.items():
        normalised[label] = None
        if not text:
            continue
        if len(text) > MAX_INPUT_CHARS:
            return BadRow(
                line, ref, f"{label} is {len(text)} characters long; at most {MAX_INPUT_CHARS}"
            )
        try:
            if label.endswith("e-mail"):
                normalised[label] = normalize_email(text)
            else:
                normalised[label] = normalize_name(text)
        except InvalidIdentifier as exc:
            if label.endswith("e-mail"):
                return BadRow(
                    line,
                    ref,
                    f"invalid {label}: {exc}; fix it in the export, this row was not screened",
                )
            # a name of punctuation only: screen by the e-mail alone
    name, email = normalised["name"], normalised["e-mail"]
    buyer_name, buyer_email = normalised["buyer's name"], normalised["buyer's e-mail"]
    if buyer_email is not None and buyer_email == email:
        buyer_email = None  # the attendee bought their own ticket
    if buyer_name is not None and buyer_name == name:
        buyer_name = None
    if name is None and email is None and buyer_name is None and buyer_email is None:
        return BadRow(line, ref, "no usable name (no letters or digits) and no e-mail")
    return Row(line, ref, name, email, buyer_name, buyer_email, cells.repaired)


def _malformed(bad: BadRecord) -> str:
    where = (
        f"line {bad.first} was" if bad.last <= bad.first else f"lines {bad.first}-{bad.last} were"
    )
    return (
        f"malformed CSV ({bad.error}): {where} skipped and reading went on at line "
        f"{bad.last + 1}; check for an unclosed quote"
    )


def _read_header(
    path: Path, enc: Encoding, forced: str | None
) -> tuple[str, tuple[str, ...], int, list[list[str]]]:
    """(delimiter, columns, physical lines up to the header, first records as a sample)."""
    with csv_dialect.open_text(path, enc) as stream:
        lines = csv_dialect.physical_lines(stream, path)
        skipped = 0
        hinted: str | None = None
        for first in lines:
            if not first.replace("\ufeff", "").strip():
                skipped += 1
                continue
            if hinted is None and skipped == 0 and (hint := csv_dialect.sep_hint(first)):
                hinted = hint
                skipped += 1
                continue
            break
        else:
            raise ImportFailed(f"{path} is empty")
        head = [first]
        size = len(first)
        for line in lines:
            head.append(line)
            size += len(line)
            if len(head) > _SAMPLE_RECORDS or size > _SAMPLE_CHARS:
                break
        delimiter = forced or hinted or csv_dialect.sniff_delimiter("".join(head))
        parser = Records(iter(head), delimiter, skipped + 1)
        records = iter(parser)
        header = next(records)
        header_lines = parser.lines_read
        if isinstance(header, BadRecord):
            raise ImportFailed(
                f"{path} line {header.first}: the header is not valid CSV ({header.error})"
            )
        sample = [r for _, r in (x for x in records if not isinstance(x, BadRecord))]
    columns = tuple(c.replace("\ufeff", "").strip() for c in header[1])
    if not any(columns):
        raise ImportFailed(f"{path} has no column names in its first row")
    return delimiter, columns, header_lines, sample
