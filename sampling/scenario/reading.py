"""Reading one table file as text columns: encoding detection, CSV/Parquet, clean names.

Every column comes back as ``String`` so that parsing and validation (``parsing.py``) can
report each bad cell with its row instead of failing inside a CSV reader. CSV files saved by
Chinese Excel are often GB18030/GBK; UTF-8 (with or without BOM), UTF-16 with BOM and
GB18030 are detected. Line ends may be LF, CRLF or CR alone (old Mac Excel).

Only regular files are read, and no more than a size limit (:func:`read_bounded`): a named
pipe would block forever and a device such as ``/dev/zero`` never ends. When the fast polars
reader rejects a CSV file, :func:`_scan` walks it cell by cell to say which row and column
is malformed (an unquoted comma, an unterminated quote, undecodable bytes).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sampling.errors import Problem
from sampling.scenario.parsing import MAX_ROWS_PER_PROBLEM

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")

MAX_TABLE_BYTES = 2 * 1024**3
"""Largest table file read (2 GiB). A district's buildings table is a few MB and even a
million rows take about 100 MB, so only a wrong path (a disk image, a log, a device) reaches
this; the limit stops such a file from filling memory before anything can be reported."""

_READ_CHUNK = 64 * 1024**2
"""Bytes asked for per read call beyond the size ``stat`` reported (a file still growing)."""

_HEADER_CHARS = 1_000_000
"""Characters searched for the CSV header row (its names are far shorter)."""

_EXCERPT_CHARS = 40
"""Characters of a malformed cell shown in a problem."""

_DECODE_HINT = "save it as CSV UTF-8 (Excel: 'CSV UTF-8') or GB18030/GBK"

_MOSTLY_UTF8 = 4
"""A file with at least this many non-ASCII characters that decode as UTF-8 for each spot
that does not is UTF-8 with broken bytes (reported), not GB18030 (it would read as mojibake)."""


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, encoding name). Raises UnicodeDecodeError if none fits."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if _mostly_utf8(raw):
            raise
        return raw.decode("gb18030"), "gb18030"


def _mostly_utf8(raw: bytes) -> bool:
    """Whether ``raw`` is UTF-8 text with a few broken bytes rather than GBK/GB18030 text.

    GBK Chinese read as UTF-8 fails on most characters; UTF-8 with a stray byte fails once.
    """
    text = raw.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    decoded = len(text) - len(text.encode("ascii", errors="ignore")) - broken
    return decoded >= _MOSTLY_UTF8 * broken


def _encodings(raw: bytes) -> list[tuple[str, int]]:
    """The encodings :func:`decode_text` tries on ``raw``, with the byte order mark's length."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return [("utf-16", 0)]
    if raw.startswith(codecs.BOM_UTF8):
        return [("utf-8", len(codecs.BOM_UTF8))]
    if _mostly_utf8(raw):
        return [("utf-8", 0)]
    return [("utf-8", 0), ("gb18030", 0)]


def regular_file_problem(path: Path, label: str, limit: int) -> Problem | None:
    """Why ``path`` may not be read (missing, a folder, not a regular file, over ``limit``).

    Uses ``os.stat`` only, so nothing is opened: opening a named pipe blocks until a writer
    comes. Symbolic links are followed (a link to a regular file is fine).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return Problem(label, "file not found", expected=f"a file at {path}")
    except OSError as exc:
        return Problem(label, "cannot open the file", value=exc.strerror or type(exc).__name__)
    if stat.S_ISDIR(info.st_mode):
        return Problem(label, "is a folder, not a file", expected=f"a regular file at {path}")
    if not stat.S_ISREG(info.st_mode):
        return Problem(
            label,
            "not a regular file",
            value=_file_kind(info.st_mode),
            expected=f"a regular file at {path}",
        )
    if info.st_size > limit:
        return _too_large(label, info.st_size, limit)
    return None


def read_bounded(path: Path, label: str, limit: int) -> bytes | Problem:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else a problem.

    Checked with :func:`regular_file_problem` before opening; the file is then opened
    non-blocking and checked again (it may have been swapped in between), and at most
    ``limit`` + 1 bytes are read, so neither a pipe nor an endless device can hang or exhaust
    memory.
    """
    problem = regular_file_problem(path, label, limit)
    if problem is not None:
        return problem
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return Problem(label, "cannot open the file", value=exc.strerror or type(exc).__name__)
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return Problem(label, "not a regular file", value=_file_kind(info.st_mode))
        try:
            data = _read_at_most(handle, info.st_size, limit)
        except OSError as exc:
            return Problem(label, "cannot read the file", value=exc.strerror or type(exc).__name__)
    if len(data) > limit:
        return _too_large(label, len(data), limit)
    return data


def _read_at_most(handle: io.FileIO, size: int, limit: int) -> bytes:
    """Read until end of file or until more than ``limit`` bytes came (``limit`` + 1 at most)."""
    chunks: list[bytes] = []
    total = 0
    want = min(size, limit) + 1  # the whole file in one call when its size holds still
    while total <= limit:
        chunk = handle.read(min(want, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = _READ_CHUNK
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _too_large(label: str, size: int, limit: int) -> Problem:
    return Problem(
        label,
        "file too large",
        value=f"{size:,} bytes",
        expected=f"at most {limit:,} bytes; is the path right?",
    )


def read_text_columns(path: Path, label: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Read ``path`` with every column as trimmed ``String`` (empty cells → null).

    ``label`` is the file name used in problems. Trailing rows with no value at all (Excel
    saves them after the data) are dropped. Returns ``(None, problems)`` when the file cannot
    be read at all.
    """
    suffix = path.suffix.lower()
    problem = regular_file_problem(path, label, MAX_TABLE_BYTES)
    if problem is None and suffix not in SUPPORTED_SUFFIXES:
        problem = Problem(
            label,
            "unsupported table format",
            value=suffix or "no suffix",
            expected="a .csv or .parquet file",
        )
    if problem is not None:
        return None, [problem]
    raw = read_bounded(path, label, MAX_TABLE_BYTES)
    if isinstance(raw, Problem):
        return None, [raw]
    reader = _read_csv if suffix == ".csv" else _read_parquet
    frame, names, problems = reader(raw, label)
    if frame is None:
        return None, problems
    return _trimmed(frame, names, label)


def _trimmed(
    frame: pl.DataFrame, names: list[str], label: str
) -> tuple[pl.DataFrame | None, list[Problem]]:
    """``frame`` with trimmed unique names and cells (empty → null), trailing blank rows gone."""
    problems = _name_problems(label, names)
    if problems:
        return None, problems
    if len(names) != frame.width:  # the header row was read differently: trust the reader
        names = list(frame.columns)
    final = _final_names(names, frame.columns)
    if len(set(final)) < len(final):
        return None, [Problem(label, "duplicate column name", 1, expected="each column once")]
    frame = frame.rename(dict(zip(frame.columns, final, strict=True)))
    frame = frame.with_columns(
        pl.col(name).str.strip_chars().replace("", None) for name in frame.columns
    )
    return _drop_trailing_blank_rows(frame), []


def _read_parquet(raw: bytes, label: str) -> tuple[pl.DataFrame | None, list[str], list[Problem]]:
    """A Parquet file as text columns, with its column names as stored (duplicates included)."""
    try:
        names = list(pq.read_schema(io.BytesIO(raw)).names)
        if len(set(names)) < len(names):  # polars refuses to read it; say which columns
            return None, names, _name_problems(label, names)
        frame = pl.read_parquet(io.BytesIO(raw))
        frame = frame.with_columns(pl.all().cast(pl.String, strict=False))
    except (pl.exceptions.PolarsError, pa.lib.ArrowException, OSError, ValueError) as exc:
        return None, [], [_unreadable(label, exc, "parquet")]
    return frame, names, []


def _read_csv(raw: bytes, label: str) -> tuple[pl.DataFrame | None, list[str], list[Problem]]:
    """A CSV file as text columns, with the header row's names as written.

    Problems locate what polars could not read (row and column, see :func:`_scan`).
    """
    try:
        text, _ = decode_text(raw)
    except UnicodeDecodeError:
        return None, [], [_decode_problem(raw, label)]
    text = _unify_line_ends(text)
    if not text.strip():
        return pl.DataFrame(), [], []
    separator = _separator(text)
    names = _header_names(text, separator)
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError as exc:
        located = _structure_problems(label, text, separator, names)
        return None, [], located or [_unreadable(label, exc, "csv")]
    return frame, names, []


def _unreadable(label: str, exc: Exception, kind: str) -> Problem:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Problem(
        label, "cannot read the table", value=reason[:200], expected=f"a well-formed {kind} file"
    )


def _unify_line_ends(text: str) -> str:
    """CRLF and CR alone (old Mac Excel) become LF, which every reader here understands."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _separator(text: str) -> str:
    first = text.split("\n", 1)[0]
    return "\t" if "\t" in first and "," not in first else ","


def _header_names(text: str, separator: str) -> list[str]:
    """The first non-blank record's cells as written (polars skips blank lines before it)."""
    try:
        for record in csv.reader(io.StringIO(text[:_HEADER_CHARS]), delimiter=separator):
            if record:
                return record
    except csv.Error:
        pass
    return []


def _clean_name(name: str) -> str:
    return name.replace("\ufeff", "").strip()


def _name_problems(label: str, names: list[str]) -> list[Problem]:
    """A duplicate column name, compared as the loader uses them (trimmed), is an error.

    Polars would rename the second copy and its values would silently be ignored. Unnamed
    columns (empty header cells, often left by Excel) are not compared.
    """
    first: dict[str, int] = {}
    problems = []
    for number, name in enumerate(names, 1):
        clean = _clean_name(name)
        if not clean:
            continue
        if clean in first:
            problems.append(
                Problem(
                    label,
                    "duplicate column name",
                    1,
                    str(number),
                    clean if name == clean else repr(name),
                    f"each column name once; column {first[clean]} is also '{clean}'",
                )
            )
        else:
            first[clean] = number
    return problems


def _final_names(names: list[str], read: list[str]) -> list[str]:
    """Trimmed header names; unnamed columns keep the unique name the reader gave them."""
    return [_clean_name(name) or given for name, given in zip(names, read, strict=True)]


def _drop_trailing_blank_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Without the rows after the last one holding any value (Excel leaves ``,,,`` rows)."""
    if frame.width == 0 or frame.height == 0:
        return frame
    filled = frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
    rows = filled.arg_true()
    return frame.head(int(rows[-1]) + 1 if len(rows) else 0)


@dataclass(frozen=True)
class _Fault:
    """A malformed spot in CSV text: spreadsheet row and column (both from 1), what, excerpt."""

    row: int
    column: int
    message: str
    value: str
    expected: str


@dataclass(frozen=True)
class _Scan:
    """Faults found, and the row and column where the scanned text ends."""

    faults: list[_Fault]
    row: int
    column: int


_QUOTED = re.compile(r'"(?:[^"]++|"")*+"')  # possessive: no backtracking on a long cell
_QUOTE_EXPECTED = 'a cell that starts with a quote ends with one: "…" (a quote inside it as "")'
_FAULT_EXPECTED = {
    "unterminated quote": _QUOTE_EXPECTED,
    "text after the closing quote": _QUOTE_EXPECTED,
    "unpaired quote inside a cell": 'quote the whole cell and double the quote: "5"" pipe"',
}


def _scan(text: str, separator: str, width: int | None, limit: int | None) -> _Scan:
    """Walk CSV ``text`` cell by cell (RFC 4180 quoting) and list up to ``limit`` faults.

    Faults are what polars refuses: more cells than the header's ``width`` (an unquoted
    comma), an unterminated quote, text after a closing quote, an unpaired quote inside an
    unquoted cell. Pure Python, so only run when polars has failed, or on a prefix.
    """
    rest = re.compile(f"[^{re.escape(separator)}\n]*")
    faults: list[_Fault] = []
    pos, row, column, end_of_text = 0, 1, 1, len(text)
    # column > 1 at the end: the text ends with a separator, so an empty last cell follows
    while (pos < end_of_text or column > 1) and (limit is None or len(faults) < limit):
        if column == 1:  # a record without quotes ends at its line end: count its cells at once
            line_end = text.find("\n", pos)
            line_end = end_of_text if line_end < 0 else line_end
            if text.find('"', pos, line_end) < 0:
                cells = text.count(separator, pos, line_end) + 1
                if width is not None and cells > width:
                    shown = _first_extra_cell(text, pos, line_end, separator, width)
                    faults.append(_extra_cell(row, width + 1, shown, width, separator))
                if line_end >= end_of_text:
                    return _Scan(faults, row, cells)
                row, pos = row + 1, line_end + 1
                continue
        end, fault = _cell(text, pos, rest)
        shown = _excerpt(text, pos, end)
        if fault is not None:
            faults.append(_Fault(row, column, fault, shown, _FAULT_EXPECTED[fault]))
        if width is not None and column == width + 1:
            faults.append(_extra_cell(row, column, shown, width, separator))
        if end >= end_of_text:
            break
        row, column = (row, column + 1) if text[end] == separator else (row + 1, 1)
        pos = end + 1
    return _Scan(faults, row, column)


def _first_extra_cell(text: str, pos: int, line_end: int, separator: str, width: int) -> str:
    """The text of cell ``width`` + 1 of the unquoted line from ``pos`` to ``line_end``."""
    for _ in range(width):
        pos = text.index(separator, pos, line_end) + 1
    end = text.find(separator, pos, line_end)
    return _excerpt(text, pos, line_end if end < 0 else end)


def _cell(text: str, pos: int, rest: re.Pattern[str]) -> tuple[int, str | None]:
    """Where the cell starting at ``pos`` ends (its separator or line end), and its fault."""
    if not text.startswith('"', pos):
        end = _match_end(rest, text, pos)
        return end, "unpaired quote inside a cell" if text.count('"', pos, end) % 2 else None
    match = _QUOTED.match(text, pos)
    if match is None:
        return len(text), "unterminated quote"
    end = _match_end(rest, text, match.end())
    return end, "text after the closing quote" if end > match.end() else None


def _extra_cell(row: int, column: int, shown: str, width: int, separator: str) -> _Fault:
    holding = "a tab" if separator == "\t" else "a comma"
    return _Fault(
        row,
        column,
        "more cells than the header row has columns",
        shown or "empty",
        f"{width} cell{'s' if width != 1 else ''} as in the header row;"
        f' quote a cell holding {holding}: "a, b"',
    )


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return pos if match is None else match.end()


def _excerpt(text: str, pos: int, end: int) -> str:
    """The cell's text, up to its first line end and ``_EXCERPT_CHARS`` characters."""
    line = text[pos : min(end, pos + _EXCERPT_CHARS + 1)].split("\n", 1)[0]
    return line[:_EXCERPT_CHARS] + "…" if len(line) > _EXCERPT_CHARS else line


def _column_label(names: list[str], number: int) -> str:
    """The header's name for column ``number`` (from 1) when it has a unique one, else the number."""
    if 1 <= number <= len(names):
        clean = _clean_name(names[number - 1])
        if clean and sum(_clean_name(name) == clean for name in names) == 1:
            return clean
    return str(number)


def _structure_problems(label: str, text: str, separator: str, names: list[str]) -> list[Problem]:
    """Located problems for a CSV text polars could not read (empty if none is found)."""
    width = len(names) if names else None
    scan = _scan(text, separator, width, MAX_ROWS_PER_PROBLEM)
    return [
        Problem(
            label,
            fault.message,
            fault.row,
            _column_label(names, fault.column) if fault.row > 1 else str(fault.column),
            fault.value,
            fault.expected,
        )
        for fault in scan.faults
    ]


def _decode_problem(raw: bytes, label: str) -> Problem:
    """Where the text stops decoding, for the encoding that decodes the most of it."""
    best: tuple[int, int, str, int] | None = None
    for encoding, offset in _encodings(raw):
        try:
            raw[offset:].decode(encoding)
        except UnicodeDecodeError as exc:
            if best is None or exc.start + offset > best[0]:
                best = (exc.start + offset, exc.end + offset, encoding, offset)
    if best is None:  # cannot happen: decode_text failed with one of these
        return Problem(label, "cannot decode the file's text", expected=_DECODE_HINT)
    start, end, encoding, offset = best
    whole = _unify_line_ends(raw[offset:].decode(encoding, errors="replace"))
    separator = _separator(whole)
    prefix = _unify_line_ends(raw[offset:start].decode(encoding))
    where = _scan(prefix, separator, None, None)
    names = _header_names(whole, separator) if where.row > 1 else []
    shown = " ".join(f"0x{byte:02x}" for byte in raw[start : min(end, start + 4)])
    return Problem(
        label,
        "cannot decode the file's text",
        where.row,
        _column_label(names, where.column),
        shown,
        _DECODE_HINT,
    )
