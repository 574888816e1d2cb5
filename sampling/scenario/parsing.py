"""Turning text columns into typed columns, with a problem for every bad cell.

All checks are vectorised: a column is parsed once, a boolean mask marks the bad rows, and
only those rows become :class:`Problem` values (at most ``MAX_ROWS_PER_PROBLEM`` listed per
column and kind of problem, then one line counting the rest).
"""

from __future__ import annotations

import difflib

import polars as pl

from sampling.clock import clock_expr
from sampling.errors import Problem
from sampling.scenario.tables import POINT_STATUSES, Column, TableSchema

MAX_ROWS_PER_PROBLEM = 10
FIRST_DATA_ROW = 2  # the header is row 1, as a spreadsheet shows it

MAX_COUNT = 10**9
"""Largest whole number accepted in a count column (residents, persons, samplers, tables).

Far above anything real (the largest residential buildings hold about 20,000 people; see
``norms.RESIDENTS_PER_BUILDING_MAX`` for the warning), yet low enough that later arithmetic
stays safe: a building's cost in resident-metres within the walking limit (< 10^4 m) stays
below 10^13, far inside int64 (9.2 × 10^18) for the solvers' integer models, and counts of
millions of rows still sum exactly in float64 (< 2^53). Bigger values are typos or
corrupted cells and are rejected."""

_TRUE = ("true", "t", "yes", "y", "1", "是", "真")
_FALSE = ("false", "f", "no", "n", "0", "否", "假")


def row_problems(
    file: str,
    column: str,
    frame: pl.DataFrame,
    bad: pl.Series,
    message: str,
    expected: str,
    *,
    value_column: str | None = None,
) -> list[Problem]:
    """One problem per row where ``bad`` is true (capped), showing the cell's value."""
    bad = bad.fill_null(False)
    index = frame.with_row_index("__row").filter(bad)
    if index.height == 0:
        return []
    shown_column = value_column or column
    if shown_column in index.columns and index.schema[shown_column] == pl.Int32:
        index = index.with_columns(clock_text(shown_column))  # clock minutes → HH:MM
    values = (
        index.get_column(shown_column).cast(pl.String) if shown_column in index.columns else None
    )
    problems = []
    rows = index.get_column("__row").to_list()
    for k, row in enumerate(rows[:MAX_ROWS_PER_PROBLEM]):
        value = None if values is None else values[k]
        problems.append(
            Problem(
                file,
                message,
                row + FIRST_DATA_ROW,
                column,
                "empty" if value is None else value,
                expected,
            )
        )
    if len(rows) > MAX_ROWS_PER_PROBLEM:
        problems.append(
            Problem(
                file,
                f"{len(rows) - MAX_ROWS_PER_PROBLEM} more rows with the same problem",
                None,
                column,
                expected=expected,
            )
        )
    return problems


def clock_text(name: str) -> pl.Expr:
    """Minutes since midnight → ``HH:MM`` text (clock columns are the only Int32 columns)."""
    return clock_expr(pl.col(name)).alias(name)


def _clock_expr(name: str) -> pl.Expr:
    parts = pl.col(name).str.extract_groups(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$")
    hours = parts.struct.field("1").cast(pl.Int32)
    minutes = parts.struct.field("2").cast(pl.Int32)
    seconds = parts.struct.field("3").cast(pl.Int32).fill_null(0)
    total = hours * 60 + minutes
    ok = (minutes <= 59) & (seconds <= 59) & ((total < 1440) | ((total == 1440) & (seconds == 0)))
    return pl.when(ok).then(total).otherwise(None)


def parse_column(file: str, text: pl.DataFrame, column: Column) -> tuple[pl.Series, list[Problem]]:
    """Parse one text column of ``text`` by its kind; returns the typed column and problems."""
    name = column.name
    raw = text.get_column(name)
    present = raw.is_not_null()
    problems: list[Problem] = []

    def flag(bad: pl.Series, message: str, expected: str) -> None:
        problems.extend(row_problems(file, name, text, bad, message, expected))

    if column.kind in ("id", "text"):
        parsed = raw
    elif column.kind in ("count", "positive"):
        number = text.select(pl.col(name).cast(pl.Float64, strict=False)).to_series()
        unparsable = present & number.is_null()
        flag(unparsable, "not a number", "a whole number")
        fractional = number.is_not_null() & (number != number.floor())
        flag(fractional, "not a whole number", "a whole number (no fractions)")
        low = 1 if column.kind == "positive" else 0
        too_low = number.is_not_null() & (number == number.floor()) & (number < low)
        flag(too_low, "too small", f"a whole number ≥ {low}")
        too_big = number.is_not_null() & (number.abs() > MAX_COUNT)
        flag(too_big, "too large", f"a whole number ≤ {MAX_COUNT:,}")
        good = number.is_not_null() & ~fractional & ~too_low & ~too_big
        parsed = pl.select(pl.when(good).then(number).otherwise(None).cast(pl.Int64)).to_series()
    elif column.kind in ("real", "lat", "lon", "planar"):
        number = text.select(pl.col(name).cast(pl.Float64, strict=False)).to_series()
        flag(present & number.is_null(), "not a number", "a decimal number")
        finite = number.is_finite().fill_null(False)
        flag(number.is_not_null() & ~finite, "not a finite number", "a decimal number")
        limits = {"lat": 90.0, "lon": 180.0, "planar": 1e8, "real": 1e15}[column.kind]
        what = {
            "lat": "a latitude between -90 and 90 (WGS-84 degrees)",
            "lon": "a longitude between -180 and 180 (WGS-84 degrees)",
            "planar": "metres within ±100,000 km",
            "real": "a plausible number",
        }[column.kind]
        out_of_range = finite & (number.abs() > limits)
        flag(out_of_range, "out of range", what)
        parsed = pl.select(pl.when(finite & ~out_of_range).then(number).otherwise(None)).to_series()
    elif column.kind == "clock":
        minutes = text.select(_clock_expr(name)).to_series()
        flag(
            present & minutes.is_null(),
            "not a time of day",
            "HH:MM between 00:00 and 24:00, e.g. 07:30",
        )
        parsed = minutes
    elif column.kind == "bool":
        lowered = raw.str.to_lowercase()
        parsed = (
            pl.select(
                pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
            )
            .to_series()
            .cast(pl.Boolean)
        )
        flag(present & parsed.is_null(), "not a yes/no value", "true or false")
    else:  # status
        lowered = raw.str.to_lowercase()
        bad = present & ~lowered.is_in(POINT_STATUSES)
        flag(bad, "unknown status", " | ".join(POINT_STATUSES))
        parsed = pl.select(pl.when(~bad).then(lowered).otherwise(None)).to_series()
    return parsed.rename(name).cast(column.dtype), problems


def parse_table(
    file: str, text: pl.DataFrame, schema: TableSchema
) -> tuple[pl.DataFrame, list[Problem]]:
    """Parse every schema column of ``text``; other columns are kept as text after them.

    Returns the typed frame (bad cells as null) and every problem: missing required columns
    (with a likely intended name), empty required cells, unparsable or out-of-range values and
    duplicate ids.
    """
    problems: list[Problem] = []
    if text.height == 0:
        problems.append(Problem(file, "table is empty", expected="at least one data row"))
    known = {c.name for c in schema.columns}
    extra = [name for name in text.columns if name not in known]
    typed: list[pl.Series] = []
    for column in schema.columns:
        if column.name not in text.columns:
            if column.required:
                close = difflib.get_close_matches(column.name, extra, n=1)
                hint = f"; did you mean to name '{close[0]}' '{column.name}'?" if close else ""
                problems.append(
                    Problem(
                        file,
                        "missing required column",
                        None,
                        column.name,
                        expected=f"a column named '{column.name}' ({column.doc}){hint}",
                    )
                )
                typed.append(pl.Series(column.name, [None] * text.height, dtype=column.dtype))
            else:
                typed.append(
                    pl.Series(column.name, [column.default] * text.height, dtype=column.dtype)
                )
            continue
        series, found = parse_column(file, text, column)
        problems.extend(found)
        if column.required:
            problems.extend(
                row_problems(
                    file,
                    column.name,
                    text,
                    text.get_column(column.name).is_null(),
                    "missing value",
                    f"{column.doc}",
                )
            )
        elif column.default is not None:
            series = series.fill_null(pl.lit(column.default, dtype=column.dtype))
        typed.append(series)
    frame = pl.DataFrame(typed).hstack([text.get_column(name) for name in extra])
    if schema.key in text.columns:
        key = frame.get_column(schema.key)
        duplicated = key.is_not_null() & key.is_duplicated()
        problems.extend(
            row_problems(
                file, schema.key, frame, duplicated, "duplicate id", "each id once in the table"
            )
        )
    return frame, problems
