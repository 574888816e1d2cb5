"""Per-grid call lists (``grids/<grid_id>.csv`` and ``.html``) for grid leaders (网格长).

Each building of the grid with its point, call time(s) and residents called, its yellow-code
call if any, its home-visit households (team and expected time) when the plan has them, and
everything the leader must escalate: buildings no point can take, residents left without a
call, households no home-visit team can reach. Per-building columns are computed for the whole
district at once with polars; only the rendering of one grid's rows loops in Python.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import (
    Markup,
    bullets,
    esc,
    facts,
    fill,
    fmt_int,
    header_context,
    named,
    page,
    table,
)
from sampling.i18n import REASON_NO_WALK_IN, reason_label

_CSV_INJECTION = r"^[=+\-@\t\r]"


def _span_expr() -> pl.Expr:
    return pl.format("{}–{}", pl.col("call_start"), pl.col("call_end"))


def _calls_by_building(timetable: pl.DataFrame) -> pl.DataFrame:
    """Per building: regular and yellow-code call times (text), residents called, first call."""
    plain = _span_expr()
    counted = pl.format("{}–{} ({})", pl.col("call_start"), pl.col("call_end"), "residents")
    reg = ~pl.col("yellow_code")
    yel = pl.col("yellow_code")
    agg = (
        timetable.sort("call_start_min", "call_end_min")
        .group_by("building_id")
        .agg(
            plain.filter(reg).str.join("; ").alias("_reg_plain"),
            counted.filter(reg).str.join("; ").alias("_reg_counted"),
            reg.sum().alias("_reg_n"),
            pl.col("residents").filter(reg).sum().alias("regular_called"),
            plain.filter(yel).str.join("; ").alias("_yel_plain"),
            counted.filter(yel).str.join("; ").alias("_yel_counted"),
            yel.sum().alias("_yel_n"),
            pl.col("residents").filter(yel).sum().alias("yellow_called"),
            pl.col("call_start_min").min().alias("first_call_min"),
        )
    )
    return agg.select(
        "building_id",
        pl.when(pl.col("_reg_n") > 1)
        .then("_reg_counted")
        .otherwise(pl.when(pl.col("_reg_n") > 0).then("_reg_plain"))
        .alias("calls"),
        "regular_called",
        pl.when(pl.col("_yel_n") > 1)
        .then("_yel_counted")
        .otherwise(pl.when(pl.col("_yel_n") > 0).then("_yel_plain"))
        .alias("yellow_calls"),
        "yellow_called",
        "first_call_min",
    )


def _translate(frame: pl.DataFrame, column: str, lang: str) -> pl.Expr:
    """Reason codes of ``column`` in ``lang`` (mapping built from the few distinct values)."""
    values = [v for v in frame[column].unique().to_list() if v is not None]
    mapping = {v: reason_label(v, lang) for v in values}
    return pl.col(column).replace(mapping) if mapping else pl.col(column)


def grid_buildings(data: PlanData, lab: Mapping[str, str], lang: str) -> pl.DataFrame:
    """One row per building (all grids) with the grid list's columns, in call order."""
    a = data.assignments
    out = a.join(_calls_by_building(data.timetable), on="building_id", how="left").with_columns(
        pl.col("regular_called", "yellow_called").fill_null(0)
    )
    nc = data.not_called
    if nc is not None and nc.height:
        out = out.join(
            nc.select("building_id", "not_called", pl.col("reason").alias("not_called_reason")),
            on="building_id",
            how="left",
        )
    else:
        out = out.with_columns(
            pl.lit(None, pl.Int64).alias("not_called"),
            pl.lit(None, pl.String).alias("not_called_reason"),
        )
    hv = data.home_visits
    if hv is not None:
        per = hv.group_by("building_id").agg(
            pl.len().alias("hv_households"),
            pl.col("persons").sum().alias("hv_persons"),
            pl.col("team_id").is_null().sum().alias("hv_unserved"),
            _hv_line(lab).str.join("; ").alias("hv_detail"),
        )
        out = out.join(per, on="building_id", how="left").with_columns(
            pl.col("hv_households", "hv_persons", "hv_unserved").fill_null(0)
        )
    else:
        out = out.with_columns(pl.lit(0, pl.Int64).alias("hv_unserved"))
    out = out.with_columns(
        _translate(out, "unserved_reason", lang).alias("reason_text"),
        _translate(out, "not_called_reason", lang).alias("not_called_text"),
    )
    unserved = pl.col("point_id").is_null() & (
        pl.col("unserved_reason").fill_null("") != REASON_NO_WALK_IN
    )
    not_called = pl.col("not_called").fill_null(0) > 0
    status = (
        pl.when(unserved)
        .then(pl.format("{}: {}", pl.lit(lab["status_unserved"]), pl.col("reason_text")))
        .when(pl.col("point_id").is_null())
        .then(pl.lit(lab["status_home_only"]))
        .when(not_called)
        .then(
            pl.format(
                "{} {}: {}",
                pl.lit(lab["status_not_called"]),
                pl.col("not_called"),
                pl.col("not_called_text"),
            )
        )
        .when(pl.col("beyond_limit").fill_null(False))
        .then(pl.lit(lab["status_beyond"]))
        .otherwise(pl.lit(""))
    )
    hv_status = (
        pl.when(pl.col("hv_unserved") > 0)
        .then(pl.format("{} {}", pl.lit(lab["status_hv_unserved"]), pl.col("hv_unserved")))
        .otherwise(pl.lit(""))
    )
    return out.with_columns(
        pl.concat_str([status, hv_status], separator="; ").str.strip_chars("; ").alias("status"),
        (unserved | not_called | (pl.col("hv_unserved") > 0)).alias("escalate"),
    ).sort("grid_id", "first_call_min", "building_id", nulls_last=True)


def _hv_line(lab: Mapping[str, str]) -> pl.Expr:
    """``household: team start–end`` or ``household: <unserved>``, per household."""
    served = pl.format(
        "{} ({}{}): {} {}–{}",
        pl.col("household_id"),
        pl.col("persons"),
        pl.lit(lab["persons_unit"]),
        pl.col("team_name"),
        pl.col("start"),
        pl.col("end"),
    )
    unserved = pl.format(
        "{} ({}{}): {}",
        pl.col("household_id"),
        pl.col("persons"),
        pl.lit(lab["persons_unit"]),
        pl.lit(lab["status_hv_unserved"]),
    )
    return pl.when(pl.col("team_id").is_not_null()).then(served).otherwise(unserved)


_CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("building_id", "building_id"),
    ("building_name", "building_name"),
    ("compound", "compound"),
    ("point_id", "point_id"),
    ("point_name", "point_name"),
    ("calls", "call_times"),
    ("regular_called", "residents_called"),
    ("yellow_calls", "yellow_call_times"),
    ("yellow_called", "yellow_called"),
    ("walk_in", "walk_in"),
)
_CSV_HV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hv_households", "hv_households"),
    ("hv_persons", "hv_persons"),
    ("hv_detail", "hv_detail"),
)


def csv_frame(b: pl.DataFrame, lab: Mapping[str, str], with_hv: bool) -> pl.DataFrame:
    """The CSV columns with localised headers, plus ``grid_id`` first (dropped when written).

    Text cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` first)
    get a leading apostrophe.
    """
    cols = list(_CSV_COLUMNS)
    if with_hv:
        cols += _CSV_HV_COLUMNS
    cols += [("status", "status"), ("escalate", "escalate")]
    schema = b.schema
    exprs: list[pl.Expr] = [pl.col("grid_id")]
    for src, key in cols:
        expr = pl.col(src)
        if schema[src] == pl.String:
            expr = (
                pl.when(expr.str.contains(_CSV_INJECTION)).then(pl.lit("'") + expr).otherwise(expr)
            )
        elif schema[src] == pl.Boolean:
            expr = pl.when(expr).then(pl.lit(lab["yes"])).otherwise(pl.lit(""))
        exprs.append(expr.alias(lab[f"col_{key}"]))
    return b.select(exprs)


def _csv_text(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    """RFC 4180 CSV text (``\\r\\n`` line ends, as Excel writes them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _group(frame: pl.DataFrame, key: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of ``frame`` as dicts grouped by ``key`` (frame order kept within a group)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        out.setdefault(str(row[key]), []).append(row)
    return out


def grid_documents(
    data: PlanData, buildings: pl.DataFrame, lab: Mapping[str, str], lang: str
) -> dict[str, str]:
    """``grids/<grid_id>.csv`` and ``.html`` → text, one pair per grid with buildings.

    ``buildings`` is :func:`grid_buildings` of the same plan (computed once, shared with the
    index).
    """
    with_hv = data.home_visits is not None
    by_grid = _group(buildings, "grid_id")
    table_csv = csv_frame(buildings, lab, with_hv)
    csv_header = table_csv.columns[1:]
    csv_rows: dict[str, list[tuple[Any, ...]]] = {}
    for row in table_csv.iter_rows():
        csv_rows.setdefault(str(row[0]), []).append(row[1:])
    hv_by_grid: dict[str, list[dict[str, Any]]] = {}
    if data.home_visits is not None and data.home_visits.height:
        hv = data.home_visits.join(
            data.assignments.select("building_id", "grid_id"), on="building_id", how="left"
        ).sort("grid_id", "building_id", "household_id")
        hv_by_grid = _group(hv, "grid_id")
    points = {
        str(r[0]): (r[1], r[2])
        for r in data.points.select("point_id", "point_name", "coord").iter_rows()
    }
    context = header_context(data.scenario.header)
    docs: dict[str, str] = {}
    for grid in data.grids.iter_rows(named=True):
        gid = str(grid["grid_id"])
        b = by_grid.get(gid)
        if b is None:
            continue
        docs[data.paths.grid(gid, ".csv")] = _csv_text(csv_header, csv_rows[gid])
        docs[data.paths.grid(gid)] = page(
            title=named(grid["grid_name"], gid),
            heading=fill(lab["grid_heading"], {"name": named(grid["grid_name"], gid)}),
            subtitle=fill(lab["subtitle"], context),
            body=_grid_body(grid, b, hv_by_grid.get(gid), points, lab, lang, with_hv),
            lang=lang,
            footer=lab["footer"],
        )
    return docs


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r[key] or 0) for r in rows)


def _grid_body(
    grid: Mapping[str, Any],
    b: list[dict[str, Any]],
    hv: list[dict[str, Any]] | None,
    points: Mapping[str, tuple[Any, Any]],
    lab: Mapping[str, str],
    lang: str,
    with_hv: bool,
) -> str:
    escalate = [r for r in b if r["escalate"]]
    used = sorted({str(r["point_id"]) for r in b if r["point_id"] is not None})
    items: list[tuple[str, object]] = [
        (lab["leader"], grid.get("leader") or "—"),
        (lab["buildings"], fmt_int(len(b))),
        (lab["walk_in"], fmt_int(_sum(b, "walk_in"))),
        (lab["residents_called"], fmt_int(_sum(b, "regular_called"))),
        (lab["yellow_called"], fmt_int(_sum(b, "yellow_called"))),
        (lab["to_escalate"], fmt_int(len(escalate))),
    ]
    if with_hv:
        items.append((lab["hv_households"], fmt_int(_sum(b, "hv_households"))))
        items.append((lab["hv_persons"], fmt_int(_sum(b, "hv_persons"))))
    out = facts(items)
    if escalate:
        rows = [(_bname(r), r["walk_in"], r["status"]) for r in escalate]
        out += (
            f'<div class="alert box"><h2>{esc(lab["escalate_title"])}</h2>'
            + table((lab["building"], lab["walk_in"], lab["status"]), rows, numeric=(1,))
            + bullets([lab["escalate_note"]])
            + "</div>"
        )
    if used:
        point_rows = [
            (f"{points[p][0]} ({p})" if p in points else p, points.get(p, ("", ""))[1])
            for p in used
        ]
        out += f'<div class="box"><h2>{esc(lab["grid_points"])}</h2>'
        out += table((lab["point"], lab["location"]), point_rows) + "</div>"
    headers = [lab["col_call_times"], lab["building"], lab["point"], lab["residents"],
               lab["col_yellow_call_times"], lab["yellow_called"]]  # fmt: skip
    if with_hv:
        headers.append(lab["hv_short"])
    headers.append(lab["status"])
    rows2: list[tuple[object, ...]] = []
    classes: list[str] = []
    for r in b:
        row: list[object] = [
            _lines(r["calls"]) if r["calls"] else "—",
            _bname(r),
            r["point_name"] or "—",
            fmt_int(r["regular_called"]),
            _lines(r["yellow_calls"]),
            fmt_int(r["yellow_called"]) if r["yellow_called"] else "",
        ]
        if with_hv:
            row.append(
                fill(lab["hv_cell"], {"h": r["hv_households"], "p": r["hv_persons"]})
                if r["hv_households"]
                else ""
            )
        row.append(r["status"])
        rows2.append(tuple(row))
        classes.append("warn" if r["escalate"] else ("yellow" if r["yellow_calls"] else ""))
    total: list[object] = [lab["total"], fmt_int(len(b)), "",
                           fmt_int(_sum(b, "regular_called")), "",
                           fmt_int(_sum(b, "yellow_called"))]  # fmt: skip
    if with_hv:
        total.append(fill(lab["hv_cell"], {"h": _sum(b, "hv_households"),
                                           "p": _sum(b, "hv_persons")}))  # fmt: skip
    total.append("")
    out += f"<h2>{esc(lab['call_list'])}</h2>" + table(
        headers,
        rows2,
        numeric=(3, 5),
        times=(0, 4, 6) if with_hv else (0, 4),
        row_classes=classes,
        total=total,
    )
    out += bullets([lab["call_list_note"], lab["yellow_note_grid"]])
    if hv:
        out += _hv_section(hv, lab, lang)
    return out


def _lines(text: str | None) -> Markup:
    """A ``; ``-joined list as one line per item."""
    return Markup("<br>".join(esc(part) for part in (text or "").split("; ")))


def _bname(r: Mapping[str, Any]) -> str:
    name = r["building_name"]
    if r.get("compound") and not str(name).startswith(str(r["compound"])):
        name = f"{r['compound']} {name}"
    return str(name) if name == r["building_id"] else f"{name} ({r['building_id']})"


def _hv_section(hv: list[dict[str, Any]], lab: Mapping[str, str], lang: str) -> str:
    headers = (lab["household"], lab["building"], lab["persons"], lab["team"], lab["expected_time"],
               lab["visit_window"], lab["note"])  # fmt: skip
    rows: list[tuple[object, ...]] = []
    classes: list[str] = []
    for r in hv:
        served = r["team_id"] is not None
        window = (
            f"{r['window_start_text']}–{r['window_end_text']}" if r["window_start_text"] else ""
        )
        rows.append(
            (
                r["household_id"],
                _bname(r),
                r["persons"],
                r["team_name"] if served else reason_label(r["unserved_reason"], lang),
                f"{r['start']}–{r['end']}" if served else "—",
                window,
                r["note"] or "",
            )
        )
        classes.append("" if served else "warn")
    return (
        f"<h2>{esc(lab['hv_title'])}</h2>"
        + table(headers, rows, numeric=(2,), times=(4, 5), row_classes=classes)
        + bullets([lab["hv_note"]])
    )
