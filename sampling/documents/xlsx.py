"""The plan as one workbook (``plan.xlsx``) for planners who work in Excel/WPS.

In the plan's language (``xlsx_*`` labels of ``sampling/labels/<lang>.toml``):

* a summary sheet with every figure of ``summary.json`` — its name, value and key (nested
  figures such as ``seconds.assignment`` and each alert get a row of their own; the seconds
  of the map, the documents and the writing are measured after the workbook is made, so
  only ``summary.json`` has them);
* one sheet per output table, with translated headers, a bold frozen header row, an
  autofilter and column widths from the content — the transport tables (trips, tubes, lab
  load, results) only when the plan has them.

Cells keep their type with a number format: counts with thousands separators, shares as
percentages (with as many decimals as it takes for a part not to read as 0 or 100 %, the rule
of :func:`sampling.report.percent`), other decimals to one place, coordinates to six. Clock
times are Excel times (``[hh]:mm``, so 24:00 and overtime past midnight read right) and the
minute/second columns that duplicate them in the Parquet files are left out; the transport
tables' seconds-of-day columns without such a twin (``swab_s``, ``pickup_s``…) are times too. Point kinds,
statuses and reasons are shown in the language, as the documents show them. Text goes
through ``write_string`` only, so no cell is ever a formula or link, whatever the scenario's
names contain.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from sampling.documents.data import SHEET_ORDER
from sampling.i18n import kind_label, kpi_label, labels, reason_label, status_label
from sampling.report import fleet_remedy, lab_hours_remedy, percent

MAX_WIDTH = 48
EXCEL_CELL_CHARS = 32_767
"""Excel keeps at most this many characters in a cell (xlsxwriter would cut silently)."""
SUMMARY_SHEET = "summary"
"""The summary sheet's code name (its label is ``xlsx_sheet_summary``)."""

CLOCK_COLUMNS = frozenset(
    {
        "start",
        "end",
        "finish",
        "finish_lower_bound",
        "sim_finish",
        "sim_finish_p95",
        "call_start",
        "call_end",
        "arrive",
        "depart",
        "result",
        "last_swab",
        "last_tested",
        "results_time",
    }
)
"""Table columns holding ``HH:MM`` clock times; ``<name>_min``/``<name>_s`` beside one of
them hold the same time as a number and are left out of the workbook."""
CLOCK_KEYS = frozenset(
    {
        "window_start",
        "window_end",
        "finish_time",
        "finish_lower_bound",
        "sim_finish_time",
        "sim_finish_p95",
        "home_visit_latest_return",
        "latest_result_time",
        "latest_result_lower_bound",
        "replan_at",
        "transport_replanned_from",
    }
)
"""``summary.json`` keys holding ``HH:MM`` clock times."""
CLOCK_SECONDS = frozenset({"oldest_swab_s", "swab_s", "ready_s", "pickup_s", "lab_arrive_s"})
"""Seconds-of-day columns without an ``HH:MM`` twin (transport): shown as Excel times, and
empty where negative (not picked up, not delivered)."""
OTHER_TWINS = {"results_s": "results_time"}
"""Number columns holding the time of a clock column not named after them (left out too)."""
SHARES = frozenset(
    {
        "utilisation",
        "coverage",
        "gap",
        "gap_without_grid_penalty",
        "target_utilisation",
        "target_utilisation_effective",
    }
)
"""Columns and summary keys holding shares (1 = 100 %)."""
WHOLE = frozenset(
    {
        "walk_m",
        "walk_m_mean",
        "walk_m_p95",
        "walk_m_max",
        "walk_limit_m",
        "walk_reach_m",
        "walk_resident_m",
        "objective",
        "lower_bound",
        "grid_penalty",
        "street_snap_building_max_m",
        "street_snap_point_max_m",
        "street_buildings_far",
        "street_points_far",
    }
)
"""Decimal columns and summary keys shown as whole numbers (metres, objective values)."""
PLAIN = frozenset({"seed", "seq", "trip", "hour", "batch"})
"""Whole numbers shown without thousands separators (a seed, an order)."""
COORDINATES = frozenset({"lat", "lon"})
STATUS_COLUMNS = frozenset({"status", "staffing_status", "home_visit_status"})
REASON_COLUMNS = frozenset({"unserved_reason", "reason"})
KIND_COLUMNS = frozenset({"kind"})

_CLOCK = re.compile(r"^(\d{1,3}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

FORMATS = {
    "int": "#,##0",
    "plain": "0",
    "decimal": "#,##0.0",
    "decimal2": "#,##0.00",
    "coordinate": "0.000000",
    "time": "[hh]:mm",
    "date": "yyyy-mm-dd",
}
"""Excel number formats by kind (percentages: ``0.0%`` with more decimals where needed)."""


class _Formats:
    """The workbook's cell formats, made once each (xlsxwriter keeps every one made)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.header = book.add_format({"bold": True, "bg_color": "#E8E8E8", "bottom": 1})
        self._made: dict[str, Format] = {}

    def get(self, kind: str) -> Format:
        """The format of a kind of :data:`FORMATS`, or of a number format string."""
        code = FORMATS.get(kind, kind)
        if code not in self._made:
            self._made[code] = self.book.add_format({"num_format": code})
        return self._made[code]

    def share(self, value: float) -> Format:
        """A percentage format with the decimals :func:`~sampling.report.percent` shows."""
        text = percent(value)
        decimals = len(text.rstrip("%").partition(".")[2]) if "." in text else 1
        return self.get("0." + "0" * decimals + "%")


def clock_fraction(text: object) -> float | None:
    """``"07:30"`` → 0.3125 (a fraction of a day, Excel's time); None if not ``HH:MM``."""
    if not isinstance(text, str):
        return None
    match = _CLOCK.match(text)
    if match is None or int(match.group(2)) > 59:
        return None
    return (int(match.group(1)) * 60 + int(match.group(2))) / 1440.0


def _number_kind(name: str, value: float | int) -> str:
    """How a number named ``name`` (column or summary key) is shown."""
    if name in COORDINATES:
        return "coordinate"
    if name in PLAIN:
        return "plain"
    if isinstance(value, int) or name in WHOLE:
        return "int"
    if "detour" in name:
        return "decimal2"
    return "decimal"


def _text_width(text: str) -> float:
    """Excel character units of ``text``: a CJK character counts double."""
    return (len(text.encode("utf-8")) + len(text)) / 2


def _widths(frame: pl.DataFrame, headers: list[str]) -> list[float]:
    """Column widths in Excel character units: header or longest cell, CJK counted double."""
    if frame.height == 0:
        return [min(MAX_WIDTH, _text_width(h) + 2.0) for h in headers]
    text = frame.select(pl.all().cast(pl.String))
    # UTF-8 bytes ≈ 3 per CJK character; (bytes + chars) / 2 ≈ 2 per CJK, 1 per ASCII
    widest = text.select(((pl.all().str.len_bytes() + pl.all().str.len_chars()) / 2).max()).row(0)
    return [
        min(MAX_WIDTH, max(_text_width(h), float(w or 0)) + 2.0)
        for h, w in zip(headers, widest, strict=True)
    ]


def fit_cell(text: str, source: str) -> str:
    """``text`` as it fits in one Excel cell: longer text is cut with a visible note saying
    how much was left out and where the full text is (``source``)."""
    if len(text) <= EXCEL_CELL_CHARS:
        return text
    note = f" … [cut: {len(text):,} characters in all; full text in {source}]"
    return text[: EXCEL_CELL_CHARS - len(note)] + note


def sheet_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of ``frame`` the workbook shows: all but the numeric twins of clock
    columns (``start_min`` beside ``start``, ``arrive_s`` beside ``arrive``, and
    :data:`OTHER_TWINS`)."""
    shown = []
    for column in frame.columns:
        base = column.removesuffix("_min") if column.endswith("_min") else column
        base = base.removesuffix("_s") if base == column and column.endswith("_s") else base
        if base != column and base in CLOCK_COLUMNS and base in frame.columns:
            continue
        if OTHER_TWINS.get(column) in frame.columns:
            continue
        shown.append(column)
    return shown


def _translator(column: str, walk_limit_min: float | None) -> Callable[[object, str], str] | None:
    """The label function for a code column (kinds, statuses, reasons), or None."""
    if column in KIND_COLUMNS:
        return kind_label
    if column in STATUS_COLUMNS:
        return status_label
    if column in REASON_COLUMNS:
        return lambda code, lang: reason_label(code, lang, walk_limit_min=walk_limit_min)
    return None


def _translated(
    frame: pl.DataFrame, lab: Mapping[str, str], lang: str, walk_limit_min: float | None
) -> pl.DataFrame:
    """``frame`` with its kind, status and reason codes in ``lang`` (unknown codes kept).

    A code with an ``xlsx_code_<column>_<code>`` label (the transport tables' codes) shows
    that label; other kinds, statuses and reasons show the documents' labels.
    """
    changes = []
    for column in frame.columns:
        if frame[column].dtype != pl.String:
            continue
        translate = _translator(column, walk_limit_min)
        codes = frame[column].drop_nulls().unique().sort().to_list()
        own = {c: lab[f"xlsx_code_{column}_{c}"] for c in codes if f"xlsx_code_{column}_{c}" in lab}
        if translate is None and not own:
            continue
        mapping = {
            c: own[c] if c in own else translate(c, lang) if translate is not None else c
            for c in codes
        }
        changes.append(pl.col(column).replace(mapping))
    return frame.with_columns(changes) if changes else frame


def column_label(column: str, lab: Mapping[str, str], sheet: str = "") -> str:
    """A table column's header in the workbook's language (unknown columns as they are):
    ``xlsx_col_<sheet>_<column>`` where a column means something else in that table
    (``load``: tubes on board in ``transport_trips``), else ``xlsx_col_<column>``."""
    return lab.get(f"xlsx_col_{sheet}_{column}", lab.get(f"xlsx_col_{column}", column))


def _write_column(
    ws: Worksheet, j: int, name: str, series: pl.Series, formats: _Formats, source: str
) -> None:
    """Cells of one column from row 1 on, typed and formatted."""
    dtype = series.dtype
    values = series.to_list()
    if name in CLOCK_SECONDS and dtype.is_integer():
        time_format = formats.get("time")
        for i, v in enumerate(values, start=1):
            if v is not None and v >= 0:
                ws.write_number(i, j, v / 86400.0, time_format)
    elif dtype == pl.String and name in CLOCK_COLUMNS:
        time_format = formats.get("time")
        for i, v in enumerate(values, start=1):
            fraction = clock_fraction(v)
            if fraction is not None:
                ws.write_number(i, j, fraction, time_format)
            elif v is not None:
                ws.write_string(i, j, fit_cell(v, source))
    elif dtype == pl.String:
        for i, v in enumerate(values, start=1):
            if v is not None:
                ws.write_string(i, j, fit_cell(v, source))
    elif dtype == pl.Boolean:
        for i, v in enumerate(values, start=1):
            if v is not None:
                ws.write_boolean(i, j, v)
    elif dtype.is_numeric():
        kind = _number_kind(name, 0 if dtype.is_integer() else 0.0)
        fmt = formats.get(kind)
        for i, v in enumerate(values, start=1):
            if v is None:
                continue
            if name in SHARES:
                ws.write_number(i, j, v, formats.share(v))
            else:
                ws.write_number(i, j, v, fmt)
    else:
        for i, v in enumerate(values, start=1):
            if v is not None:
                ws.write_string(i, j, fit_cell(str(v), source))


def _sheet(
    book: xlsxwriter.Workbook,
    name: str,
    frame: pl.DataFrame,
    formats: _Formats,
    lab: Mapping[str, str],
    lang: str,
    walk_limit_min: float | None,
) -> None:
    """One table as a sheet: translated bold frozen header, autofilter, widths, typed cells."""
    ws = book.add_worksheet(lab.get(f"xlsx_sheet_{name}", name))
    shown = _translated(frame.select(sheet_columns(frame)), lab, lang, walk_limit_min)
    headers = [column_label(c, lab, name) for c in shown.columns]
    for j, header in enumerate(headers):
        ws.write_string(0, j, header, formats.header)
    for j, width in enumerate(_widths(shown, headers)):
        ws.set_column(j, j, width)
    for j, column in enumerate(shown.columns):
        _write_column(ws, j, column, shown[column], formats, f"{name}.parquet")
    ws.freeze_panes(1, 0)
    if shown.width:
        ws.autofilter(0, 0, max(shown.height, 1), shown.width - 1)


def _item(value: object) -> str:
    """One item of a summary list that is not an alert, as text."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def summary_rows(
    summary: Mapping[str, Any], lang: str, prefix: str = ""
) -> list[tuple[str, str, object]]:
    """Every figure of ``summary`` as (key, label, value), in the file's order.

    Nested figures get dotted keys (``seconds.map``); an empty table keeps a row of its own;
    ``alerts`` is a row with their number followed by one row per alert (``alerts.unserved``).
    """
    lab = labels(lang)
    rows: list[tuple[str, str, object]] = []
    for key, value in summary.items():
        dotted = f"{prefix}{key}"
        name = dotted.replace(".", "_")
        label = lab.get(f"xlsx_kpi_{name}")
        if label is None:
            parent = prefix.rstrip(".")
            if parent:
                parent_label = lab.get(f"xlsx_kpi_{parent.replace('.', '_')}", parent)
                label = f"{parent_label}: {key}"
            else:
                label = kpi_label(key, lang)
        if isinstance(value, Mapping) and value:
            rows.extend(summary_rows(value, lang, f"{dotted}."))
        elif isinstance(value, Mapping):
            rows.append((dotted, label, None))
        elif key == "alerts" and not prefix and isinstance(value, list):
            rows.append((dotted, label, len(value)))
            for alert in value:
                code = str(alert.get("code")) if isinstance(alert, Mapping) else str(alert)
                count = alert.get("count") if isinstance(alert, Mapping) else None
                alert_label = lab.get(f"xlsx_alert_{code}", f"{label}: {code}")
                rows.append((f"alerts.{code}", alert_label, count))
        elif isinstance(value, (list, tuple)):
            rows.append((dotted, label, "; ".join(_item(v) for v in value)))
        else:
            rows.append((dotted, label, _remedy_words(summary, dotted, value, lab)))
    return rows


def _remedy_words(
    summary: Mapping[str, Any], key: str, value: object, lab: Mapping[str, str]
) -> object:
    """A remedy figure that is ``None`` because no re-plan tried made it, as words: an empty
    cell would read as "none needed" while tubes are late (``extra_vehicles_needed``,
    ``extra_lab_hours``); every other value unchanged."""
    if value is not None:
        return value
    if key == "extra_vehicles_needed" and fleet_remedy(summary) == ("beyond_double", 0):
        return lab["xlsx_remedy_beyond_double"]
    if key == "extra_lab_hours" and lab_hours_remedy(summary) == ("lab_hours_beyond", 0):
        return lab["xlsx_remedy_lab_hours_beyond"]
    return value


def _summary_sheet(
    book: xlsxwriter.Workbook,
    summary: Mapping[str, Any],
    formats: _Formats,
    lab: Mapping[str, str],
    lang: str,
) -> None:
    """The summary sheet: label, value and ``summary.json`` key of every figure."""
    rows = summary_rows(summary, lang)
    ws = book.add_worksheet(lab.get(f"xlsx_sheet_{SUMMARY_SHEET}", SUMMARY_SHEET))
    headers = [lab["xlsx_head_label"], lab["xlsx_head_value"], lab["xlsx_head_key"]]
    for j, header in enumerate(headers):
        ws.write_string(0, j, header, formats.header)
    ws.set_column(0, 0, min(MAX_WIDTH, max([_text_width(r[1]) for r in rows] + [8.0]) + 2))
    ws.set_column(1, 1, 24)
    ws.set_column(2, 2, min(MAX_WIDTH, max([len(r[0]) for r in rows] + [8]) + 2))
    for i, (key, label, value) in enumerate(rows, start=1):
        ws.write_string(i, 0, fit_cell(label, "summary.json"))
        _summary_value(ws, i, key, value, formats, lang)
        ws.write_string(i, 2, fit_cell(key, "summary.json"))
    ws.freeze_panes(1, 0)


def _summary_value(
    ws: Worksheet, row: int, key: str, value: object, formats: _Formats, lang: str
) -> None:
    """One summary value in column B: typed and formatted, text as text."""
    name = key.rsplit(".", 1)[-1]
    if isinstance(value, bool):
        ws.write_boolean(row, 1, value)
    elif isinstance(value, (int, float)):
        if name in SHARES and not key.startswith("seconds."):
            ws.write_number(row, 1, value, formats.share(float(value)))
        else:
            kind = "decimal2" if key.startswith("seconds.") else _number_kind(name, value)
            ws.write_number(row, 1, value, formats.get(kind))
    elif isinstance(value, str) and key in CLOCK_KEYS and clock_fraction(value) is not None:
        ws.write_number(row, 1, clock_fraction(value) or 0.0, formats.get("time"))
    elif isinstance(value, str) and key == "date" and _DATE.match(value):
        ws.write_datetime(row, 1, dt.date.fromisoformat(value), formats.get("date"))
    elif isinstance(value, str) and key in STATUS_COLUMNS:
        ws.write_string(row, 1, status_label(value, lang))
    elif value is not None:
        ws.write_string(row, 1, fit_cell(str(value), "summary.json"))


def workbook_bytes(
    summary: Mapping[str, Any],
    tables: Mapping[str, pl.DataFrame],
    *,
    lang: str = "zh",
    walk_limit_min: float | None = None,
) -> bytes:
    """The workbook as bytes in ``lang``: the summary first, then :data:`SHEET_ORDER` sheets
    present in ``tables``. ``walk_limit_min`` (the scenario's walking limit) fills the reasons
    that name it."""
    lab = labels(lang)
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
    formats = _Formats(book)
    _summary_sheet(book, summary, formats, lab, lang)
    for name in SHEET_ORDER:
        if name in tables:
            _sheet(book, name, tables[name], formats, lab, lang, walk_limit_min)
    book.close()
    return buffer.getvalue()
