"""Per-grid call lists (``grids/<grid_id>.csv`` and ``.html``) for grid leaders (网格长).

Each building of the grid with its point, call time(s) and residents called, its yellow-code
call if any, its home-visit households (team and expected time) when the plan has them, and
everything the leader must escalate: buildings no point can take, residents left without a
call, households no home-visit team can reach. Per-building columns are computed for the whole
district at once with polars and grouped by grid into plain row tuples in one pass;
``sampling/templates/grid.html`` lays them out (every value escaped). In the CSV, text a
spreadsheet would read as a formula starts with an apostrophe (:func:`spreadsheet_text`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import (
    fill,
    fmt_int,
    label_namespace,
    named,
    page_context,
    template,
)
from sampling.i18n import reason_label, reason_labels
from sampling.stages.assignment import UnservedReason

FORMULA_START = r"^[=+\-@\t\r]"
"""Text a spreadsheet may read as a formula or command: ``=``, ``+``, ``-``, ``@``, tab or
carriage return first (the OWASP CSV-injection list)."""


def spreadsheet_text(expr: pl.Expr) -> pl.Expr:
    """A text column as a spreadsheet shows it verbatim: cells starting like a formula get a
    leading apostrophe (Excel and WPS then show the text, never evaluate it)."""
    return pl.when(expr.str.contains(FORMULA_START)).then(pl.lit("'") + expr).otherwise(expr)


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


def _translate(frame: pl.DataFrame, column: str, lang: str, limit_min: float) -> pl.Expr:
    """Reason codes of ``column`` in ``lang`` (mapping built from the few distinct values;
    ``limit_min`` is the walking limit some labels name)."""
    mapping = reason_labels(frame[column].unique().to_list(), lang, walk_limit_min=limit_min)
    return pl.col(column).replace(mapping) if mapping else pl.col(column)


def grid_buildings(data: PlanData, lab: Mapping[str, str], lang: str) -> pl.DataFrame:
    """One row per building (all grids) with the grid list's columns, in call order."""
    limit = data.scenario.header.walking.limit_min
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
        _translate(out, "unserved_reason", lang, limit).alias("reason_text"),
        _translate(out, "not_called_reason", lang, limit).alias("not_called_text"),
    )
    near = suggested_near(data)
    if near is not None:  # out of reach: where HQ could set up a temporary point for it
        before, _, after = lab["status_suggested"].partition("{building}")
        out = out.join(near, on="building_id", how="left").with_columns(
            pl.when(pl.col("suggest_near").is_not_null())
            .then(
                pl.format(
                    "{}; {}",
                    pl.col("reason_text"),
                    pl.concat_str(
                        [pl.lit(before), pl.col("suggest_near"), pl.lit(after)], separator=""
                    ),
                )
            )
            .otherwise(pl.col("reason_text"))
            .alias("reason_text")
        )
    unserved = pl.col("point_id").is_null() & (
        pl.col("unserved_reason").fill_null("") != UnservedReason.NO_WALK_IN.value
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


def suggested_near(data: PlanData) -> pl.DataFrame | None:
    """For each building out of reach, the suggested temporary point (the summary's
    ``suggested_points``) that reaches it, as the cover assigned it (the row whose
    ``building_ids`` list it) — ``building_id``, ``suggest_near`` (the building the point would
    stand at, by name and id); None without suggestions."""
    rows = data.summary.get("suggested_points")
    if not isinstance(rows, list) or not rows:
        return None
    pairs = [
        (str(b), str(r.get("near_building_id")))
        for r in rows
        if isinstance(r, dict) and isinstance(r.get("building_ids"), list)
        for b in r["building_ids"]
    ]
    if not pairs:
        return None
    a = data.assignments.with_columns(pl.col("building_id").cast(pl.String))
    names: dict[str, str] = {}
    if "building_name" in a.columns:
        names = dict(zip(a["building_id"], a["building_name"].cast(pl.String), strict=True))

    def shown(b: str) -> str:
        name = names.get(b) or b
        return b if name == b else f"{name} ({b})"

    return pl.DataFrame(
        {
            "building_id": [b for b, _ in pairs],
            "suggest_near": [shown(site) for _, site in pairs],
        },
        schema={"building_id": pl.String, "suggest_near": pl.String},
    ).unique("building_id", keep="first", maintain_order=True)


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
            expr = spreadsheet_text(expr)
        elif schema[src] == pl.Boolean:
            expr = pl.when(expr).then(pl.lit(lab["yes"])).otherwise(pl.lit(""))
        exprs.append(expr.alias(lab[f"col_{key}"]))
    return b.select(exprs)


def csv_text(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    """RFC 4180 CSV text (``\\r\\n`` line ends, as Excel writes them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


Row = tuple[Any, ...]


def _building_name() -> pl.Expr:
    """``compound name (id)``: the compound first unless the name starts with it, the id
    unless the name is the id."""
    name, compound, bid = pl.col("building_name"), pl.col("compound"), pl.col("building_id")
    prefixed = (
        pl.when(compound.is_not_null() & (compound != "") & ~name.str.starts_with(compound))
        .then(pl.format("{} {}", compound, name))
        .otherwise(name)
    )
    return pl.when(prefixed == bid).then(prefixed).otherwise(pl.format("{} ({})", prefixed, bid))


def _by_grid(frame: pl.DataFrame, *columns: str | pl.Expr) -> dict[str, list[Row]]:
    """Rows of ``frame`` (the given columns, as tuples) by ``grid_id``, in frame order."""
    out: dict[str, list[Row]] = {}
    for gid, *row in frame.select("grid_id", *columns).iter_rows():
        out.setdefault(str(gid), []).append(tuple(row))
    return out


def grid_documents(
    data: PlanData, buildings: pl.DataFrame, lab: Mapping[str, str], lang: str
) -> dict[str, str]:
    """``grids/<grid_id>.csv`` and ``.html`` → text, one pair per grid with buildings.

    ``buildings`` is :func:`grid_buildings` of the same plan (computed once, shared with the
    index).
    """
    with_hv = data.home_visits is not None
    hv_counts = (
        (pl.col("hv_households"), pl.col("hv_persons"))
        if with_hv
        else (pl.lit(0).alias("hv_households"), pl.lit(0).alias("hv_persons"))
    )
    by_grid = _by_grid(
        buildings,
        _building_name(),
        "walk_in",
        "status",
        "escalate",
        "point_id",
        "point_name",
        "calls",
        "regular_called",
        "yellow_calls",
        "yellow_called",
        *hv_counts,
    )
    table_csv = csv_frame(buildings, lab, with_hv)
    csv_header = table_csv.columns[1:]
    csv_rows: dict[str, list[Row]] = {}
    for row in table_csv.iter_rows():
        csv_rows.setdefault(str(row[0]), []).append(row[1:])
    hv_by_grid: dict[str, list[Row]] = {}
    if data.home_visits is not None and data.home_visits.height:
        hv = data.home_visits.join(
            data.assignments.select("building_id", "grid_id"), on="building_id", how="left"
        ).sort("grid_id", "building_id", "household_id")
        hv_by_grid = _by_grid(
            hv,
            "household_id",
            _building_name(),
            "persons",
            "team_id",
            "team_name",
            "start",
            "end",
            "window_start_text",
            "window_end_text",
            "note",
            "unserved_reason",
        )
    points = {
        str(r[0]): (r[1], r[2])
        for r in data.points.select("point_id", "point_name", "coord").iter_rows()
    }
    totals = _totals(buildings, with_hv)
    page = template("grid.html")
    names = label_namespace(lab)
    header = data.scenario.header
    docs: dict[str, str] = {}
    for grid in data.grids.iter_rows(named=True):
        gid = str(grid["grid_id"])
        b = by_grid.get(gid)
        if b is None:
            continue
        name = named(grid["grid_name"], gid)
        docs[data.paths.grid(gid, ".csv")] = csv_text(csv_header, csv_rows[gid])
        docs[data.paths.grid(gid)] = page.render(
            page_context(
                header, lab, lang, title=name, heading=fill(lab["grid_heading"], name=name)
            ),
            lab=names,
            with_hv=with_hv,
            g={**totals[gid], "leader": grid.get("leader")},
            escalate=[(bname, walk_in, status) for bname, walk_in, status, esc, *_ in b if esc],
            points=_points_used(b, points),
            buildings=_call_rows(b, lab),
            households=_households(hv_by_grid.get(gid, []), lang),
        )
    return docs


def _totals(buildings: pl.DataFrame, with_hv: bool) -> dict[str, dict[str, Any]]:
    """Per grid: buildings, walk-in residents, residents called (regular, yellow-code) and
    home-visit households and persons."""
    hv = (
        (pl.col("hv_households").sum(), pl.col("hv_persons").sum())
        if with_hv
        else (pl.lit(0).alias("hv_households"), pl.lit(0).alias("hv_persons"))
    )
    totals = buildings.group_by("grid_id").agg(
        pl.len().alias("buildings"),
        pl.col("walk_in").sum(),
        pl.col("regular_called").sum().alias("called"),
        pl.col("yellow_called").sum(),
        *hv,
    )
    return {str(r["grid_id"]): r for r in totals.iter_rows(named=True)}


def _points_used(b: list[Row], points: Mapping[str, tuple[Any, Any]]) -> list[Row]:
    """(point, location) of every point the grid's buildings go to, by point id."""
    used = sorted(
        {str(pid) for _name, _walk_in, _status, _escalate, pid, *_ in b if pid is not None}
    )
    return [
        (f"{points[p][0]} ({p})" if p in points else p, points.get(p, ("", ""))[1]) for p in used
    ]


def _call_rows(b: list[Row], lab: Mapping[str, str]) -> list[Row]:
    """Call-list rows: call times (lines), building, point, residents called, yellow-code
    call times (lines) and residents, home visits, status, row class."""
    rows: list[Row] = []
    for (building, _walk_in, status, escalate, _pid, point, calls, called, yellow_calls,
         yellow_called, households, persons) in b:  # fmt: skip
        hv = fill(lab["hv_cell"], h=households, p=persons) if households else ""
        rows.append(
            (
                calls.split("; ") if calls else ("—",),
                building,
                point or "—",
                fmt_int(called),
                yellow_calls.split("; ") if yellow_calls else (),
                fmt_int(yellow_called) if yellow_called else "",
                hv,
                status,
                "warn" if escalate else ("yellow" if yellow_calls else ""),
            )
        )
    return rows


def _households(hv: list[Row], lang: str) -> list[Row]:
    """Home-visit rows: household, building, persons, team (or the reason it has none),
    expected time, visit window, note, served."""
    rows: list[Row] = []
    for (household, building, persons, team_id, team_name, start, end, window_start,
         window_end, note, reason) in hv:  # fmt: skip
        served = team_id is not None
        rows.append(
            (
                household,
                building,
                persons,
                team_name if served else reason_label(reason, lang),
                f"{start}–{end}" if served else "—",
                f"{window_start}–{window_end}" if window_start else "",
                note or "",
                served,
            )
        )
    return rows
