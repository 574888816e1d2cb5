"""Reading one table file as text columns: encoding detection, CSV/Parquet, clean names.

Every column comes back as ``String`` so that parsing and validation (``parsing.py``) can
report each bad cell with its row instead of failing inside a CSV reader. CSV files saved by
Chinese Excel are often GB18030/GBK; UTF-8 (with or without BOM), UTF-16 with BOM and
GB18030 are detected.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import polars as pl

from sampling.errors import Problem

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, encoding name). Raises UnicodeDecodeError if none fits."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("gb18030"), "gb18030"


def _separator(text: str) -> str:
    first = text.split("\n", 1)[0]
    return "\t" if "\t" in first and "," not in first else ","


def read_text_columns(path: Path, label: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Read ``path`` with every column as trimmed ``String`` (empty cells → null).

    ``label`` is the file name used in problems. Returns ``(None, problems)`` when the file
    cannot be read at all.
    """
    if not path.exists():
        return None, [Problem(label, "file not found", expected=f"a file at {path}")]
    if path.is_dir():
        return None, [
            Problem(label, "is a folder, not a table file", expected="a .csv or .parquet file")
        ]
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return None, [
            Problem(
                label,
                "unsupported table format",
                value=suffix or "no suffix",
                expected="a .csv or .parquet file",
            )
        ]
    try:
        if suffix == ".csv":
            frame = _read_csv(path)
        else:
            frame = pl.read_parquet(path)
            frame = frame.with_columns(pl.all().cast(pl.String, strict=False))
    except UnicodeDecodeError:
        return None, [
            Problem(
                label,
                "cannot decode the file's text",
                expected="save it as CSV UTF-8 (Excel: 'CSV UTF-8') or GB18030/GBK",
            )
        ]
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [
            Problem(
                label,
                "cannot read the table",
                value=reason[:200],
                expected=f"a well-formed {suffix[1:]} file",
            )
        ]
    renamed = {name: _clean_name(name) for name in frame.columns}
    problems = []
    seen: dict[str, str] = {}
    for original, clean in renamed.items():
        if clean in seen:
            problems.append(
                Problem(label, "duplicate column name", value=original, expected="each column once")
            )
        seen[clean] = original
    if problems:
        return None, problems
    frame = frame.rename(renamed)
    frame = frame.with_columns(
        pl.col(name).str.strip_chars().replace("", None) for name in frame.columns
    )
    return frame, []


def _clean_name(name: str) -> str:
    return name.replace("\ufeff", "").strip()


def _read_csv(path: Path) -> pl.DataFrame:
    text, _ = decode_text(path.read_bytes())
    if not text.strip():
        return pl.DataFrame()
    return pl.read_csv(
        io.StringIO(text),
        separator=_separator(text),
        infer_schema=False,
        truncate_ragged_lines=False,
    )
