"""How an export's bytes become records: encoding, delimiter, and a parser that survives.

Exports come from Excel in a German locale (`;`, a `sep=;` first line), from Windows code
pages, with free-text answers of hundreds of kilobytes spanning many lines. The encoding is
decided for the whole file before anything is screened (a file that turns out not to be
UTF-8 half-way would otherwise be half screened); the delimiter from a sample of records;
and a record that still cannot be parsed is reported with its line while the parser starts
again at the next line, so the rows after it are not lost.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lanyard.agent.errors import ImportFailed

__all__ = ["FIELD_LIMIT", "Encoding", "Records", "decide_encoding", "sniff_delimiter"]

FIELD_LIMIT = 16 * 1024 * 1024  # characters per cell: a very long free-text answer fits
# Bounds memory on a hostile file; above the field limit, so that one over-long cell is
# one bad record rather than a refused file.
MAX_LINE_CHARS = FIELD_LIMIT + (1 << 20)
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20
_SAMPLE_BYTES = 64 * 1024
_UTF16_PROBE_BYTES = 4096
_SEP_LINE = re.compile(r'^"?sep=(.)"?[,;\t|]*\r?\n?$', re.IGNORECASE)

csv.field_size_limit(FIELD_LIMIT)

# (BOM, reported encoding, codec that reads what follows the BOM)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class Encoding:
    name: str  # as reported: utf-8, utf-8-sig, utf-16-le, cp1252, ...
    codec: str  # what reads the bytes after the BOM
    bom_length: int


def open_binary(path: Path) -> io.BufferedReader:
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


def decide_encoding(path: Path, forced: str | None = None) -> Encoding:
    """The encoding of the whole file, checked to its end before any row is screened.

    Raises ImportFailed naming the first line that does not decode and how to re-save."""
    with open_binary(path) as f:
        try:
            sample = f.read(_SAMPLE_BYTES)
        except OSError as exc:
            raise ImportFailed(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if forced is not None:
        try:
            codec = codecs.lookup(forced).name
        except LookupError:
            raise ImportFailed(f"--encoding {forced!r} is not an encoding Python knows") from None
        bom = codecs.BOM_UTF8 if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8) else b""
        found = Encoding(codec, codec, len(bom))
    else:
        match = next(((e, c, len(b)) for b, e, c in _BOMS if sample.startswith(b)), None)
        if match is None:
            guess = _utf16_order(sample) if b"\x00" in sample else "utf-8"
            if guess is None:
                raise _not_text(path)
            match = (guess, guess, 0)
        found = Encoding(*match)
    _check_whole_file(path, found, forced is not None)
    return found


def _check_whole_file(path: Path, enc: Encoding, forced: bool) -> None:
    decoder = codecs.getincrementaldecoder(enc.codec)("strict")
    newline = "\n".encode(enc.codec)
    lines_before = 1
    with open_binary(path) as f:
        f.seek(enc.bom_length)
        while True:
            chunk = f.read(_CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + chunk[: max(0, exc.start)].count(newline)
                how = (
                    f"is not {enc.name} text"
                    if forced
                    else 'is not UTF-8 text (Excel\'s plain "CSV" writes the Windows code '
                    'page): re-save it as "CSV UTF-8", or pass --encoding cp1252 if that '
                    "is what it is"
                )
                raise ImportFailed(f"{path} line {line} {how}") from None
            if "\x00" in text[:_SAMPLE_BYTES] and lines_before == 1 and not forced:
                raise _not_text(path)  # late NULs are one damaged row, reported as such
            if not chunk:
                return
            lines_before += chunk.count(newline)


def open_text(path: Path, enc: Encoding) -> io.TextIOWrapper:
    raw = open_binary(path)
    raw.seek(enc.bom_length)
    return io.TextIOWrapper(raw, encoding=enc.codec, errors="strict", newline="")


def physical_lines(stream: io.TextIOWrapper, path: Path) -> Iterator[str]:
    """Lines ending in \\n, \\r\\n or \\r, as csv counts them; each bounded in length."""
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError:
            raise ImportFailed(f"{path} changed while it was read (line {number + 1})") from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ImportFailed(
                f"{path} line {number} is longer than {MAX_LINE_CHARS} characters, "
                "so it is not a ticketing export"
            )
        yield line


def sep_hint(line: str) -> str | None:
    """The delimiter named by Excel's `sep=;` first line, if this is one."""
    match = _SEP_LINE.match(line.replace("\ufeff", ""))
    return match.group(1) if match else None


def sniff_delimiter(sample: str) -> str:
    """The candidate that splits the sample's records most consistently into the most
    columns (the header's width, repeated by the rows); `,` when none splits anything."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "".join(lines[:-1])  # the last record may be cut off
    best: tuple[tuple[float, int], str] = ((0.0, 1), ",")
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        rows = records[1:] or records
        share = sum(len(r) == width for r in rows) / len(rows)
        score = (share, width)
        if score > best[0]:
            best = (score, delimiter)
    return best[1]


@dataclass
class BadRecord:
    first: int
    last: int
    error: str


class Records:
    """csv records with their first physical line. A record that cannot be parsed comes
    out as BadRecord, and parsing starts again at the next line that can begin a record:
    with `width` known (the header's), the first later line with balanced quotes that
    splits into that many cells (so the rest of a broken multi-line cell is passed over
    rather than read as rows); without it, the line after the bad record's first."""

    def __init__(
        self, lines: Iterator[str], delimiter: str, first_line: int, width: int | None = None
    ) -> None:
        self._source = lines
        self._replay: list[str] = []
        self._taken: list[str] = []
        self._delimiter = delimiter
        self._width = width
        self._number = first_line - 1  # physical lines handed to the parser so far

    @property
    def lines_read(self) -> int:
        """Physical lines handed to the parser so far (the last line of the last record)."""
        return self._number

    def _next_line(self) -> str | None:
        if self._replay:
            return self._replay.pop()
        return next(self._source, None)

    def _feed(self) -> Iterator[str]:
        while (line := self._next_line()) is not None:
            self._taken.append(line)
            self._number += 1
            yield line

    def _can_start_record(self, line: str) -> bool:
        if line.count('"') % 2:
            return False
        try:
            cells = next(csv.reader([line], delimiter=self._delimiter, strict=True))
        except (csv.Error, StopIteration):
            return False
        return len(cells) == self._width

    def _resynchronise(self, first: int, taken: list[str]) -> int:
        """Skip to the next line that can start a record; returns the last line skipped."""
        self._replay.extend(reversed(taken[1:]))
        self._number = first
        if self._width is None:
            return first + max(0, len(taken) - 1)
        while (line := self._next_line()) is not None:
            if self._can_start_record(line):
                self._replay.append(line)
                break
            self._number += 1
        return self._number

    def __iter__(self) -> Iterator[tuple[int, list[str]] | BadRecord]:
        while True:
            reader = csv.reader(self._feed(), delimiter=self._delimiter, strict=True)
            while True:
                self._taken = []
                first = self._number + 1
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    last = self._resynchronise(first, self._taken)
                    yield BadRecord(first, last, str(exc))
                    break
                yield first, record
