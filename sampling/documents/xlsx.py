"""The plan as one workbook (``plan.xlsx``) for planners who work in Excel/WPS.

A ``summary`` sheet of KPIs (two columns: key, value), then one sheet per output table with
the tables' own column names (documented in the README), a bold frozen header row, an
autofilter and column widths from the content. Clock columns (``HH:MM``) stay text, and no
cell is ever turned into a formula or link, whatever the scenario's names contain.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import polars as pl
import xlsxwriter

from sampling.documents.data import SHEET_ORDER

MAX_WIDTH = 48
EXCEL_CELL_CHARS = 32_767
"""Excel keeps at most this many characters in a cell (xlsxwriter would cut silently)."""
SUMMARY_SHEET = "summary"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """Nested summary dicts as dotted keys (``seconds.assignment``)."""
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):  # e.g. alerts: "deficit 26,794; overtime 27,023"
            out.append((name, "; ".join(_item(v) for v in value)))
        else:
            out.append((name, value))
    return out


def _item(value: object) -> str:
    """One list item of the summary as text (an alert as its code and count)."""
    if isinstance(value, Mapping) and set(value) == {"code", "count"}:
        count = value["count"]
        return (
            f"{value['code']} {count:,}" if isinstance(count, int) else f"{value['code']} {count}"
        )
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _widths(frame: pl.DataFrame) -> list[float]:
    """Column widths in Excel character units: header or longest cell, CJK counted double."""
    if frame.height == 0:
        return [min(MAX_WIDTH, len(c) + 2.0) for c in frame.columns]
    text = frame.select(pl.all().cast(pl.String))
    # UTF-8 bytes ≈ 3 per CJK character; (bytes + chars) / 2 ≈ 2 per CJK, 1 per ASCII
    widest = text.select(((pl.all().str.len_bytes() + pl.all().str.len_chars()) / 2).max()).row(0)
    return [
        min(MAX_WIDTH, max(len(c), float(w or 0)) + 2.0)
        for c, w in zip(frame.columns, widest, strict=True)
    ]


def fit_cell(text: str, source: str) -> str:
    """``text`` as it fits in one Excel cell: longer text is cut with a visible note saying
    how much was left out and where the full text is (``source``)."""
    if len(text) <= EXCEL_CELL_CHARS:
        return text
    note = f" … [cut: {len(text):,} characters in all; full text in {source}]"
    return text[: EXCEL_CELL_CHARS - len(note)] + note


def _sheet(book: xlsxwriter.Workbook, name: str, frame: pl.DataFrame, bold: Any) -> None:
    """One table as a sheet: bold frozen header, autofilter, widths, typed cells.

    Text goes through ``write_string`` only (never the guessing ``write``), so a name such as
    ``=HYPERLINK(…)`` stays text; numbers and booleans keep their type.
    """
    ws = book.add_worksheet(name)
    for j, column in enumerate(frame.columns):
        ws.write_string(0, j, column, bold)
    for j, width in enumerate(_widths(frame)):
        ws.set_column(j, j, width)
    for j, column in enumerate(frame.columns):
        series = frame[column]
        dtype = series.dtype
        values = series.to_list()
        if dtype == pl.String:
            for i, v in enumerate(values, start=1):
                if v is not None:
                    ws.write_string(i, j, fit_cell(v, f"{name}.parquet"))
        elif dtype == pl.Boolean:
            for i, v in enumerate(values, start=1):
                if v is not None:
                    ws.write_boolean(i, j, v)
        elif dtype.is_numeric():
            for i, v in enumerate(values, start=1):
                if v is not None:
                    ws.write_number(i, j, v)
        else:
            for i, v in enumerate(values, start=1):
                if v is not None:
                    ws.write_string(i, j, fit_cell(str(v), f"{name}.parquet"))
    ws.freeze_panes(1, 0)
    if frame.width:
        ws.autofilter(0, 0, max(frame.height, 1), frame.width - 1)


def workbook_bytes(summary: Mapping[str, Any], tables: Mapping[str, pl.DataFrame]) -> bytes:
    """The workbook as bytes: ``summary`` first, then :data:`SHEET_ORDER` sheets present."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        },
    )
    bold = book.add_format({"bold": True, "bg_color": "#E8E8E8", "bottom": 1})
    pairs = _flatten(summary)
    ws = book.add_worksheet(SUMMARY_SHEET)
    ws.write_string(0, 0, "key", bold)
    ws.write_string(0, 1, "value", bold)
    ws.set_column(0, 0, max([len(k) for k, _ in pairs] + [8]) + 2)
    ws.set_column(1, 1, 24)
    for i, (key, value) in enumerate(pairs, start=1):
        ws.write_string(i, 0, key)
        if isinstance(value, bool):
            ws.write_boolean(i, 1, value)
        elif isinstance(value, (int, float)):
            ws.write_number(i, 1, value)
        elif value is not None:
            ws.write_string(i, 1, fit_cell(str(value), "summary.json"))
    ws.freeze_panes(1, 0)
    for name in SHEET_ORDER:
        if name in tables:
            _sheet(book, name, tables[name], bold)
    book.close()
    return buffer.getvalue()
