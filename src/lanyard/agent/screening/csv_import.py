"""Streaming reader for the attendee exports organisers already have.

Organisers screen what their ticketing system or form tool gives them, in whatever
encoding and dialect it came in, without editing it first (csv_dialect.py reads the bytes,
csv_columns.py finds the columns). This module turns such a file into a stream of
normalised identities (spec SCREEN-v1 §1) keyed by physical line number: for each row the
attendee and, when the export names one, the buyer who paid for the ticket, so that

* memory stays flat however long the file is (one record at a time, never the whole file),
* screening can resume after a crash by line number (`Export.rows(start_after_line=...)`),
* a malformed row is reported with its line and skipped while the rest runs,
* a row is screened on every identity in it that is usable, and what could not be used
  is reported by line (a BadRow after the row's Row): an e-mail cell that is no address
  once unwrapped (address.py), a name without letters, a twin column holding someone
  else; a row whose cells cannot be told apart (wider than the header, or a name or
  e-mail cell spanning lines: a quote left open) is not screened at all, and
* a file that cannot be an export at all (missing, empty, binary, unknown columns) is
  refused up front with one sentence saying what to do (`ImportFailed`).

Messages and `BadRow.reason` never contain a name or an e-mail address: they are personal
data, and these strings end up on terminals and in logs (a placeholder such as "n/a" or
"---", which names no one, is quoted).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lanyard.agent.errors import ImportFailed
from lanyard.agent.screening import csv_dialect
from lanyard.agent.screening.csv_columns import (
    Layout,
    detect_layout,
    key,
    looks_like_email,
    names_nobody,
)
from lanyard.agent.screening.csv_dialect import BadRecord, Encoding, Records
from lanyard.core.address import screenable_email
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import MAX_INPUT_CHARS, normalize_name

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
        lines) but not normalised or returned. Blank records are skipped silently. A row
        screened in part (one cell not usable, a twin column holding someone else) comes
        out as its Row followed by a BadRow of the same line saying what was not screened."""
        keys = [key(c) for c in self.columns]

        def at(columns: Sequence[str]) -> tuple[tuple[int, ...], ...]:
            # Each column with its twins (the same header again): read as first non-empty.
            return tuple(tuple(i for i, k in enumerate(keys) if k == key(c)) for c in columns)

        lay = self.layout
        where = _Where.of(
            (
                ("name", at(lay.name_columns)),
                ("e-mail", at(lay.email_columns)),
                ("buyer's name", at(lay.buyer_name_columns)),
                ("buyer's e-mail", at(lay.buyer_email_columns)),
            ),
            at([lay.ref_column] if lay.ref_column else []),
            self.columns,
            self.delimiter,
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
                if line > start_after_line:
                    yield from _parse(line, record, where)


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


_Columns = tuple[tuple[int, ...], ...]  # per layout column: its index and its twins
_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


@dataclass(frozen=True, slots=True)
class _Where:
    people: tuple[tuple[str, _Columns], ...]  # (label, columns): name, e-mail, buyer's ...
    ref: _Columns
    columns: tuple[str, ...]
    delimiter: str
    # Derived once, not per row: every screened column (twins too), the e-mail ones.
    screened: tuple[int, ...] = ()
    emails: tuple[int, ...] = ()

    @classmethod
    def of(
        cls,
        people: tuple[tuple[str, _Columns], ...],
        ref: _Columns,
        columns: tuple[str, ...],
        delimiter: str,
    ) -> _Where:
        screened = tuple(sorted({i for _, at in people for twins in at for i in twins}))
        emails = tuple(i for label, at in people if _is_email(label) for t in at for i in t)
        return cls(people, ref, columns, delimiter, screened, emails)


def _is_email(label: str) -> bool:
    return label.endswith("e-mail")


def _usable_email(text: str) -> bool:
    try:
        screenable_email(text)
    except InvalidIdentifier:
        return False
    return True


def _same(label: str, a: str, b: str) -> bool:
    """Whether two cells name the same identity (as screening reads them)."""
    try:
        if _is_email(label):
            return screenable_email(a) == screenable_email(b)
        return normalize_name(a) == normalize_name(b)
    except InvalidIdentifier:
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class _Cells:
    def __init__(self, record: list[str]) -> None:
        self.record = record
        self.repaired = False
        self.problems: list[str] = []  # what of this row was not screened, and why

    def get(self, i: int) -> str:
        text = self.record[i].strip() if i < len(self.record) else ""
        if text and not text.isascii():
            import ftfy  # ~60 ms of start-up, and only text that is not ASCII needs it

            fixed = ftfy.fix_encoding(text)
            if fixed != text:
                self.repaired = True
                return fixed
        return text

    def twin(self, twins: tuple[int, ...], label: str | None, columns: tuple[str, ...]) -> str:
        """The first non-empty cell of a column and its twins (of e-mail twins, the first
        that is an address); a later twin holding someone else's `label` is reported,
        not silently dropped, while one that names nobody ("n/a") is passed over."""
        if len(twins) == 1:
            return self.get(twins[0])
        values = [(i, v) for i, v in ((i, self.get(i)) for i in twins) if v]
        if not values:
            return ""
        if label is not None and _is_email(label):
            values.sort(key=lambda iv: not _usable_email(iv[1]))  # stable: in order
        first = values[0][1]
        for i, other in values[1:] if label else ():
            if not names_nobody(other) and not _same(label or "", other, first):
                self.problems.append(
                    f"column {i + 1} ({columns[i]!r} again) holds another {label}, which "
                    "was not screened"
                )
                break
        return first

    def joined(self, at: _Columns, label: str | None, columns: tuple[str, ...]) -> str:
        parts = (self.twin(twins, label, columns) for twins in at)
        return " ".join(part for part in parts if part)

    def first(self, at: _Columns, label: str | None, columns: tuple[str, ...]) -> str:
        """The first non-empty of several columns (--email-col A --email-col B); of
        e-mail columns, the first that holds an address, so that a placeholder in A
        does not hide the address in B."""
        if len(at) == 1:
            return self.twin(at[0], label, columns)
        values = [v for v in (self.twin(t, label, columns) for t in at) if v]
        if len(values) > 1 and label is not None and _is_email(label):
            return next((v for v in values if _usable_email(v)), values[0])
        return values[0] if values else ""


def _parse(line: int, record: list[str], where: _Where) -> list[Row | BadRow]:
    """The record at `line` as a Row, a Row and a BadRow (screened in part), a BadRow
    (nothing screened), or nothing (a blank record)."""
    if not any(c.strip() for c in record):
        return []
    width = len(where.columns)
    if len(record) > width:
        # A delimiter inside a cell that is not quoted: every later cell is shifted, so
        # the e-mail column may hold a company and the name half of a name.
        sep = _SEPARATORS.get(where.delimiter, repr(where.delimiter))
        return [
            BadRow(
                line,
                f"line {line}",
                f"line {line} has {_cells(len(record))} but the header has {width} (a {sep} "
                "in a cell that is not quoted?), so its cells cannot be told apart and it "
                "was not screened",
            )
        ]
    if (broken := _line_break(line, record, where)) is not None:
        return [BadRow(line, f"line {line}", broken)]
    cells = _Cells(record)
    ref = cells.first(where.ref, None, where.columns) or f"line {line}"
    texts = {
        label: (cells.first if _is_email(label) else cells.joined)(at, label, where.columns)
        for label, at in where.people
    }
    if any("\x00" in t for t in (*texts.values(), ref)):
        return [BadRow(line, f"line {line}", "the row contains NUL characters (damaged file?)")]
    if not any(texts.values()):
        return [BadRow(line, ref, "no name and no e-mail")]
    # A short record: a name's part or an e-mail that is not there may have been cut off.
    missing = [
        label
        for label, at in (where.people if len(record) < width else ())
        if any(all(i >= len(record) for i in twins) for twins in at)
        and not (_is_email(label) and texts[label])
    ]
    if missing:
        cells.problems.append(
            f"the row has {_cells(len(record))} but the header has {width}, so its "
            f"{' and '.join(missing)} column{'s are' if len(missing) > 1 else ' is'} missing "
            "and not screened (a line break in a cell that is not quoted?)"
        )
    cells.problems.extend(_rows_inside(line, record, where))
    normalised = {label: _normalised(label, text, cells) for label, text in texts.items()}
    name, email = normalised["name"], normalised["e-mail"]
    buyer_name, buyer_email = normalised["buyer's name"], normalised["buyer's e-mail"]
    if buyer_email is not None and buyer_email == email:
        buyer_email = None  # the attendee bought their own ticket
    if buyer_name is not None and buyer_name == name:
        buyer_name = None
    if name is None and email is None and buyer_name is None and buyer_email is None:
        why = "; ".join(cells.problems)
        return [
            BadRow(line, ref, f"{why}; the row has nothing else to screen: fix it in the export")
        ]
    row = Row(line, ref, name, email, buyer_name, buyer_email, cells.repaired)
    if not cells.problems:
        return [row]
    return [row, BadRow(line, ref, "; ".join(cells.problems) + "; the rest of the row was")]


def _normalised(label: str, text: str, cells: _Cells) -> str | None:
    """The cell's identity (spec §1, e-mail unwrapped first: address.py), or None with
    the reason it is not screened added to the row's problems."""
    if not text:
        return None
    if len(text) > MAX_INPUT_CHARS:
        cells.problems.append(
            f"the {label} is {len(text)} characters long (at most {MAX_INPUT_CHARS}) and "
            "was not screened"
        )
        return None
    try:
        return screenable_email(text) if _is_email(label) else normalize_name(text)
    except InvalidIdentifier as exc:
        said = "is invalid" if _is_email(label) else "is not usable"
        shown = f" ({text!r})" if names_nobody(text) else ""  # never a person's
        cells.problems.append(f"the {label}{shown} {said} ({exc}) and was not screened")
        return None


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


def _breaks(text: str) -> int:
    return len(_BREAK.findall(text))


def _line_break(line: int, record: list[str], where: _Where) -> str | None:
    """Why the record is not screened when a name or e-mail cell spans lines: no one
    writes a name over two lines, but a quote left open swallows the rows after it."""
    for i in where.screened:
        cell = record[i] if i < len(record) else ""
        if ("\n" in cell or "\r" in cell) and _breaks(cell.strip()):
            start = line + sum(_breaks(c) for c in record[:i])
            end = start + _breaks(cell)
            return (
                f"the cell of column {where.columns[i]!r} runs from line {start} to line "
                f"{end} (a quote opened on line {start} and not closed?), so lines {line}-"
                f"{end} were read as one row and not screened"
            )
    return None


def _rows_inside(line: int, record: list[str], where: _Where) -> list[str]:
    """Another cell spanning lines, some of which read as rows with an e-mail address
    where the e-mail column is: likely rows swallowed by a quote left open."""
    emails = where.emails
    found: list[str] = []
    for i, cell in enumerate(record if emails else ()):
        if "@" not in cell or not _BREAK.search(cell):
            continue
        rows = 0
        for part in _BREAK.split(cell)[1:]:
            if "@" in part:
                cells = next(csv.reader([part], delimiter=where.delimiter), [])
                rows += any(j < len(cells) and looks_like_email(cells[j]) for j in emails)
        if rows:
            start = line + sum(_breaks(c) for c in record[:i])
            found.append(
                f"the cell of column {where.columns[i]!r} runs from line {start} to line "
                f"{start + _breaks(cell)} and {rows} of its lines look like rows of their "
                f"own (a quote opened on line {start} and not closed?), which were not screened"
            )
    return found


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
