"""``plan.xlsx`` in the plan's language: translated headers, typed cells, one full summary.

The tiny scenario (and yuci-street, for the transport sheets) is planned once in Chinese through
the command line; the workbook is read
back from its XML (:mod:`tests.xlsx_reader`), as a spreadsheet program would show it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sampling.cli import main
from sampling.documents.data import SHEET_ORDER
from sampling.documents.xlsx import (
    CLOCK_COLUMNS,
    CLOCK_KEYS,
    CLOCK_SECONDS,
    SHARES,
    column_label,
    sheet_columns,
    summary_rows,
    workbook_bytes,
)
from sampling.i18n import labels
from sampling.output.schemas import OUTPUT_TABLES
from tests.xlsx_reader import Cell, read_workbook

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
YUCI = TINY.parent / "yuci-street"
CJK = re.compile(r"[\u4e00-\u9fff]")
TIME_FORMAT = "[hh]:mm"
WRITTEN_AFTER = {"map", "documents", "write"}
"""``seconds`` of summary.json added once the documents (and so the workbook) are written."""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny planned in Chinese (the default language)."""
    out = tmp_path_factory.mktemp("xlsx") / "out"
    assert main(["plan", str(TINY), "--out", str(out), "--time-limit", "5", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def book(plan: Path) -> dict[str, list[list[Cell | None]]]:
    return read_workbook(plan / "plan.xlsx")


def _tables(plan: Path) -> dict[str, pl.DataFrame]:
    """Every table of the plan the workbook shows (transport only when the plan has it)."""
    return {
        name: pl.read_parquet(plan / f"{name}.parquet")
        for name in SHEET_ORDER
        if (plan / f"{name}.parquet").exists()
    }


def _summary(plan: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((plan / "summary.json").read_text(encoding="utf-8"))
    return data


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _header(rows: list[list[Cell | None]]) -> list[str]:
    return [str(c.value) if c is not None else "" for c in rows[0]]


def test_sheets_and_headers_are_chinese(plan: Path, book: dict[str, Any]) -> None:
    lab = labels("zh")
    names = [lab[f"xlsx_sheet_{n}"] for n in ("summary", *_tables(plan))]
    assert list(book) == names
    assert all(CJK.search(name) for name in names)
    for name, frame in _tables(plan).items():
        header = _header(book[lab[f"xlsx_sheet_{name}"]])
        assert header == [lab[f"xlsx_col_{c}"] for c in sheet_columns(frame)], name
        assert all(CJK.search(h) for h in header), (name, header)
    assert _header(book[lab["xlsx_sheet_summary"]]) == [
        lab["xlsx_head_label"],
        lab["xlsx_head_value"],
        lab["xlsx_head_key"],
    ]


def test_every_output_column_has_a_header_in_both_languages() -> None:
    for name in SHEET_ORDER:
        empty = pl.DataFrame(schema=OUTPUT_TABLES[name].schema)
        for column in sheet_columns(empty):
            zh, en = labels("zh").get(f"xlsx_col_{column}"), labels("en").get(f"xlsx_col_{column}")
            if zh is not None:
                assert column_label(column, labels("zh"), name) in (
                    zh,
                    labels("zh").get(f"xlsx_col_{name}_{column}"),
                )
            assert zh and en and zh != column and CJK.search(zh), (name, column)


def test_times_are_excel_times_without_duplicate_columns(plan: Path, book: dict[str, Any]) -> None:
    lab = labels("zh")
    checked = 0
    for name, frame in _tables(plan).items():
        rows = book[lab[f"xlsx_sheet_{name}"]]
        shown = sheet_columns(frame)
        for twin in ("_min", "_s"):  # start_min beside start, arrive_s beside arrive
            twins = [c for c in shown if c.endswith(twin) and c.removesuffix(twin) in shown]
            assert not [c for c in twins if c.removesuffix(twin) in CLOCK_COLUMNS], name
        assert set(frame.columns) - set(shown) <= {
            f"{c}{twin}" for c in CLOCK_COLUMNS for twin in ("_min", "_s")
        }
        for j, column in enumerate(shown):
            if column not in CLOCK_COLUMNS:
                continue
            for row, text in zip(rows[1:], frame[column].to_list(), strict=True):
                cell = row[j] if j < len(row) else None
                if text is None:
                    assert cell is None
                    continue
                assert cell is not None and cell.kind == "n", (name, column, cell)
                assert cell.number_format == TIME_FORMAT
                assert isinstance(cell.value, float)
                assert round(cell.value * 1440) == _minutes(text)
                checked += 1
    assert checked > 100  # timetable, shifts, points, home visits, routes


def test_numbers_have_formats(plan: Path, book: dict[str, Any]) -> None:
    lab = labels("zh")
    frame = _tables(plan)["points"]
    rows = book[lab["xlsx_sheet_points"]]
    shown = sheet_columns(frame)
    formats = {c: rows[1][j].number_format for j, c in enumerate(shown) if rows[1][j]}  # type: ignore[union-attr]
    assert formats["utilisation"].endswith("%")
    assert formats["load"] == "#,##0" and formats["capacity"] == "#,##0"
    assert formats["sim_p95_wait_min"] == "#,##0.0"
    assert formats["lat"] == "0.000000"
    for sheet in book.values():
        for row in sheet[1:]:
            for cell in row:
                if cell is not None and cell.kind == "n" and cell.value is not None:
                    assert cell.number_format != "General", cell


def test_codes_are_shown_in_the_language(plan: Path, book: dict[str, Any]) -> None:
    lab = labels("zh")
    frame = _tables(plan)["points"]
    rows = book[lab["xlsx_sheet_points"]]
    j = sheet_columns(frame).index("kind")
    kinds = {r[j].value for r in rows[1:] if r[j] is not None}
    assert kinds == {"学校操场", "活动场", "广场"}
    a = _tables(plan)["assignments"]
    rows = book[lab["xlsx_sheet_assignments"]]
    j = sheet_columns(a).index("unserved_reason")
    reasons = {r[j].value for r in rows[1:] if len(r) > j and r[j] is not None}
    assert len(reasons) == 1 and all(CJK.search(str(r)) for r in reasons)


def test_summary_sheet_has_every_figure(plan: Path, book: dict[str, Any]) -> None:
    summary = _summary(plan)
    lab = labels("zh")
    rows = book[lab["xlsx_sheet_summary"]][1:]
    keys = [str(r[2].value) for r in rows if r[2] is not None]
    expected: list[str] = []
    for key, value in summary.items():
        if key == "seconds":  # the writing steps' own times are measured after the workbook
            expected.extend(f"seconds.{k}" for k in value if k not in WRITTEN_AFTER)
        elif isinstance(value, dict) and value:
            expected.extend(f"{key}.{k}" for k in value)
        elif key == "alerts":
            expected.append(key)
            expected.extend(f"alerts.{a['code']}" for a in value)
        else:
            expected.append(key)
    assert keys == expected
    assert "residents_walk_in" in keys and "home_visits_wall_clock_bound" in keys
    by_key = {str(r[2].value): r for r in rows if r[2] is not None}
    for key, row in by_key.items():
        label = row[0]
        assert label is not None and CJK.search(str(label.value)), key  # translated
    for key, value in summary.items():
        cell = by_key[key][1] if key in by_key else None
        if isinstance(value, bool):
            assert cell is not None and cell.value is value
        elif isinstance(value, (int, float)):
            assert cell is not None and cell.value == pytest.approx(value), key
            if key in SHARES:
                assert cell.number_format.endswith("%"), key
        elif key in CLOCK_KEYS:
            assert cell is not None and cell.number_format == TIME_FORMAT, key
            assert isinstance(cell.value, float)
            assert round(cell.value * 1440) == _minutes(value)
    assert by_key["date"][1].number_format == "yyyy-mm-dd"  # a real date
    assert by_key["alerts.unserved"][1].value == 27


def test_english_workbook(plan: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(workbook_bytes(_summary(plan), _tables(plan), lang="en", walk_limit_min=15))
    book = read_workbook(path)
    assert list(book) == ["summary", *_tables(plan)]
    assert "transport_trips" not in _tables(plan)  # tiny has no labs: no transport sheets
    header = _header(book["points"])
    assert header[:3] == ["Point ID", "Name", "Kind"]
    assert not any(CJK.search(h) for h in header)
    rows = book["summary"]
    assert _header(rows) == ["Figure", "Value", "Key (summary.json)"]


def test_a_share_never_reads_as_the_whole(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    summary = {"coverage": 0.99996, "gap": 0.0, "walk_m_mean": 624.4, "residents_total": 12345}
    path.write_bytes(workbook_bytes(summary, {}, lang="en"))
    rows = {str(r[2].value): r[1] for r in read_workbook(path)["summary"][1:]}  # type: ignore[union-attr]
    coverage = rows["coverage"]
    assert coverage is not None
    decimals = len(coverage.number_format.rstrip("%").partition(".")[2])
    assert round(float(coverage.value) * 100, decimals) < 100  # type: ignore[arg-type]
    assert rows["gap"].number_format == "0.0%"  # type: ignore[union-attr]
    assert rows["walk_m_mean"].number_format == "#,##0"  # type: ignore[union-attr]
    assert rows["residents_total"].number_format == "#,##0"  # type: ignore[union-attr]


def test_user_text_is_never_a_formula(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://x","y")'
    points = pl.DataFrame(
        {"point_id": [evil, "+1"], "name": ["@SUM(A1)", "-2"], "finish": ["=1+1", "13:30"]}
    )
    path = tmp_path / "plan.xlsx"
    path.write_bytes(workbook_bytes({"scenario": evil}, {"points": points}, lang="zh"))
    book = read_workbook(path)
    cells = [c for sheet in book.values() for row in sheet for c in row if c is not None]
    assert all(c.formula is None for c in cells)
    texts = {c.value for c in cells if c.kind == "s"}
    assert {evil, "+1", "@SUM(A1)", "-2", "=1+1"} <= texts
    finish = [c for c in cells if c.kind == "n" and c.number_format == TIME_FORMAT]
    assert [round(float(c.value) * 1440) for c in finish] == [13 * 60 + 30]  # type: ignore[arg-type]


def test_summary_rows_flatten_nested_figures() -> None:
    rows = summary_rows(
        {"map": {}, "seconds": {"map": 1.5, "new_stage": 2.0}, "alerts": [], "new_kpi": 3},
        "zh",
    )
    keys = [key for key, _, _ in rows]
    assert keys == ["map", "seconds.map", "seconds.new_stage", "alerts", "new_kpi"]
    labels_by_key = {key: label for key, label, _ in rows}
    assert labels_by_key["seconds.new_stage"] == "用时（秒）: new_stage"  # parent named
    assert labels_by_key["new_kpi"] == "new_kpi"  # unknown figures keep their key
    assert dict((k, v) for k, _, v in rows)["alerts"] == 0


@pytest.fixture(scope="module")
def yuci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yuci-street (labs and vehicles) planned in Chinese."""
    out = tmp_path_factory.mktemp("xlsx-yuci") / "out"
    argv = ["plan", str(YUCI), "--out", str(out), "--time-limit", "3", "-q"]
    assert main(argv) == 0
    return out


def test_transport_sheets(yuci: Path) -> None:
    """Trips, tubes, lab load and results sheets, after the others, with Chinese headers,
    Excel times for clock and seconds-of-day columns, codes in Chinese; the summary sheet
    holds the transport figures."""
    lab = labels("zh")
    book = read_workbook(yuci / "plan.xlsx")
    tables = _tables(yuci)
    transport = ("transport_trips", "transport_tubes", "lab_load", "results")
    assert list(book)[-4:] == [lab[f"xlsx_sheet_{n}"] for n in transport]
    checked = 0
    for name in transport:
        frame, rows = tables[name], book[lab[f"xlsx_sheet_{name}"]]
        assert frame.height and len(rows) == frame.height + 1, name
        shown = sheet_columns(frame)
        header = _header(rows)
        assert header == [column_label(c, lab, name) for c in shown]
        assert all(CJK.search(h) for h in header), (name, header)
        for j, column in enumerate(shown):
            values = frame[column].to_list()
            cells = [r[j] if j < len(r) else None for r in rows[1:]]
            for value, cell in zip(values, cells, strict=True):
                if column in CLOCK_SECONDS:
                    if value is None or value < 0:
                        assert cell is None, (name, column)
                        continue
                    assert cell is not None and cell.number_format == TIME_FORMAT
                    assert round(float(cell.value) * 86400) == value  # type: ignore[arg-type]
                    checked += 1
                elif column in CLOCK_COLUMNS and value is not None:
                    assert cell is not None and cell.number_format == TIME_FORMAT, (name, column)
                    assert round(float(cell.value) * 1440) == _minutes(value)  # type: ignore[arg-type]
                    checked += 1
                elif isinstance(value, int) and not isinstance(value, bool):
                    assert cell is not None and cell.value == value, (name, column)
                    assert cell.number_format in ("#,##0", "0"), (name, column)
    assert checked > 500
    trips = book[lab["xlsx_sheet_transport_trips"]]
    j = sheet_columns(tables["transport_trips"]).index("kind")
    assert {r[j].value for r in trips[1:] if r[j] is not None} == {"收样", "卸样"}
    assert "results_s" not in sheet_columns(tables["results"])  # results_time says it
    summary = _summary(yuci)
    figures = {str(r[2].value): r[1] for r in book[lab["xlsx_sheet_summary"]][1:] if r[2]}
    for key in ("tubes_total", "tubes_late", "vehicle_trips", "tubes_late_reasons.fleet"):
        top, _, sub = key.partition(".")
        value = summary[top][sub] if sub else summary[top]
        cell = figures[key]
        assert cell is not None and cell.value == value, key
    cell = figures["latest_result_time"]
    assert cell is not None and cell.number_format == TIME_FORMAT


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_summary_rows_say_when_no_remedy_tried_made_it(lang: str) -> None:
    """A remedy figure of ``None`` with tubes late for its reason reads as words, not as an
    empty cell ("none needed"); without late tubes it stays empty."""
    lab = labels(lang)
    late = {"tubes_late_reasons": {"fleet": 3, "lab_hours": 2}}
    rows = summary_rows({**late, "extra_vehicles_needed": None, "extra_lab_hours": None}, lang)
    values = {key: value for key, _, value in rows}
    assert values["extra_vehicles_needed"] == lab["xlsx_remedy_beyond_double"]
    assert values["extra_lab_hours"] == lab["xlsx_remedy_lab_hours_beyond"]
    counted = summary_rows({**late, "extra_vehicles_needed": 2, "extra_lab_hours": 1}, lang)
    assert {k: v for k, _, v in counted}["extra_vehicles_needed"] == 2
    on_time = summary_rows({"tubes_late_reasons": {}, "extra_vehicles_needed": None}, lang)
    assert {k: v for k, _, v in on_time}["extra_vehicles_needed"] is None
