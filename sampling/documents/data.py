"""The saved plan as the documents need it: the output tables joined with the scenario's names.

Read once from a plan folder (see ``sampling.output.write.write_plan``), with names, compounds and
coordinates joined in by polars (no per-row Python), so every document renders from the same
frames. Home visits and routes are optional: a plan folder written before the home-visit stage
has neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import polars as pl

from sampling.clock import clock_expr
from sampling.files.names import DocumentPaths
from sampling.output.schemas import read_output
from sampling.scenario.model import Scenario

REQUIRED_FILES = ("assignments", "points", "shifts", "timetable")
OPTIONAL_FILES = ("shortfall", "capacity_plan", "not_called", "home_visits", "routes")
TRANSPORT_FILES = ("transport_trips", "transport_tubes", "lab_load", "results")
"""Tables of the transport stage (with labs and vehicles only): read and shown when present."""
SHEET_ORDER = (
    "points",
    "assignments",
    "shifts",
    "timetable",
    "shortfall",
    "capacity_plan",
    "not_called",
    "home_visits",
    "routes",
    *TRANSPORT_FILES,
)
"""Workbook sheets after ``summary``, in this order, each present only when its file is."""


@dataclass(frozen=True)
class PlanData:
    """Output tables plus display columns (``*_name``, ``coord``) for the documents.

    ``points`` holds open points only (``points_all`` every candidate); ``grids`` one row per
    grid that has buildings (``grid_id``, ``grid_name``, ``leader``). ``home_visits`` and
    ``routes`` are ``None`` when the plan folder has no home-visit stage.
    """

    scenario: Scenario
    summary: dict[str, Any]
    raw: dict[str, pl.DataFrame]
    points: pl.DataFrame
    assignments: pl.DataFrame
    timetable: pl.DataFrame
    shifts: pl.DataFrame
    shortfall: pl.DataFrame | None
    capacity_plan: pl.DataFrame | None
    not_called: pl.DataFrame | None
    grids: pl.DataFrame
    home_visits: pl.DataFrame | None
    routes: pl.DataFrame | None
    paths: DocumentPaths

    @property
    def has_home_visits(self) -> bool:
        """Whether the plan folder holds the home-visit stage's results."""
        return self.home_visits is not None


def _text(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A column of ``frame`` as text, or nulls when the (optional) column is absent."""
    if name in frame.columns:
        return pl.col(name).cast(pl.String)
    return pl.lit(None, pl.String)


def _coord_expr(planar: bool, x: str, y: str) -> pl.Expr:
    """Readable coordinates: ``lat, lon`` (6 decimals) or planar ``x, y`` in metres."""
    if planar:
        return pl.format(
            "x {} m, y {} m", pl.col(x).round(0).cast(pl.Int64), pl.col(y).round(0).cast(pl.Int64)
        )
    return pl.format("{}, {}", pl.col(x).round(6), pl.col(y).round(6))


def _coords(scenario: Scenario, frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``key`` and ``coord`` text for a scenario table (its own coordinate system)."""
    planar = scenario.header.coordinates == "planar"
    x, y = ("x", "y") if planar else ("lat", "lon")
    return frame.select(key, _coord_expr(planar, x, y).alias("coord"))


def load_plan_data(out_dir: Path, scenario: Scenario) -> PlanData:
    """Read the plan in ``out_dir`` and join the scenario's names and coordinates."""
    out_dir = Path(out_dir)
    raw: dict[str, pl.DataFrame] = {}
    for name in REQUIRED_FILES:
        raw[name] = cast(pl.DataFrame, read_output(out_dir, name))
    for name in (*OPTIONAL_FILES, *TRANSPORT_FILES):
        table = read_output(out_dir, name, required=False)
        if table is not None:
            raw[name] = table
    summary_path = out_dir / "summary.json"
    summary: dict[str, Any] = (
        json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    )

    b = scenario.buildings
    buildings = b.select(
        "building_id",
        pl.coalesce(_text(b, "name"), pl.col("building_id")).alias("building_name"),
        _text(b, "compound").alias("compound"),
    ).join(_coords(scenario, b, "building_id"), on="building_id")
    p = scenario.points
    point_names = p.select(
        "point_id",
        pl.coalesce(_text(p, "name"), pl.col("point_id")).alias("point_name"),
        _text(p, "kind").alias("point_kind"),
    ).join(_coords(scenario, p, "point_id"), on="point_id")

    assignments = (
        raw["assignments"]
        .join(buildings, on="building_id", how="left")
        .join(point_names.select("point_id", "point_name"), on="point_id", how="left")
        .with_columns(pl.coalesce("building_name", "building_id").alias("building_name"))
    )
    grids = _grids(scenario, assignments)
    assignments = assignments.join(grids.select("grid_id", "grid_name"), on="grid_id", how="left")

    points_all = (
        raw["points"]
        .drop(["point_name", "point_kind", "coord"], strict=False)
        .join(point_names, on="point_id", how="left")
        .with_columns(
            pl.coalesce("point_name", "point_id").alias("point_name"),
            pl.coalesce(pl.col("point_kind"), _text(raw["points"], "kind")).alias("point_kind"),
        )
    )
    points = points_all.filter(pl.col("open")).sort("point_id")

    timetable = (
        raw["timetable"]
        .join(buildings.select("building_id", "building_name"), on="building_id", how="left")
        .join(grids.select("grid_id", "grid_name"), on="grid_id", how="left")
        .with_columns(pl.coalesce("building_name", "building_id").alias("building_name"))
        .sort("point_id", "call_start_min", "channel", "grid_id", "building_id")
    )

    home_visits = routes = None
    if "home_visits" in raw:
        home_visits = _home_visits(scenario, raw["home_visits"], buildings, raw.get("routes"))
        routes = raw.get("routes")
        if routes is None:
            routes = _empty_routes()

    return PlanData(
        scenario=scenario,
        summary=summary,
        raw=raw,
        points=points,
        assignments=assignments,
        timetable=timetable,
        shifts=raw["shifts"].sort("point_id", "start_min", "team_id"),
        shortfall=raw.get("shortfall"),
        capacity_plan=raw.get("capacity_plan"),
        not_called=raw.get("not_called"),
        grids=grids,
        home_visits=home_visits,
        routes=routes,
        paths=DocumentPaths.of(
            _ids(points_all, "point_id"),
            _ids(grids, "grid_id"),
            [] if routes is None else _ids(routes, "team_id"),
        ),
    )


def _ids(frame: pl.DataFrame, column: str) -> list[str]:
    """The distinct non-null ids of ``column`` as text."""
    return [str(v) for v in frame.get_column(column).drop_nulls().unique().to_list()]


def _grids(scenario: Scenario, assignments: pl.DataFrame) -> pl.DataFrame:
    """One row per grid with buildings: id, name (the id when unnamed) and leader."""
    present = assignments.select(pl.col("grid_id").unique()).sort("grid_id")
    g = scenario.grids
    if g is None:
        named = present.with_columns(
            pl.lit(None, pl.String).alias("grid_name"), pl.lit(None, pl.String).alias("leader")
        )
    else:
        names = g.select(
            "grid_id",
            _text(g, "name").alias("grid_name"),
            _text(g, "leader").alias("leader"),
        )
        named = present.join(names, on="grid_id", how="left")
    return named.with_columns(pl.coalesce("grid_name", "grid_id").alias("grid_name"))


def _home_visits(
    scenario: Scenario,
    visits: pl.DataFrame,
    buildings: pl.DataFrame,
    routes: pl.DataFrame | None,
) -> pl.DataFrame:
    """Home visits with building name, compound, coordinates, note, window and team name."""
    hv = scenario.home_visits
    extra = hv.select(
        "household_id",
        _text(hv, "note").alias("scenario_note"),
        _clock(hv, "window_start").alias("window_start_text"),
        _clock(hv, "window_end").alias("window_end_text"),
    )
    out = visits.join(extra, on="household_id", how="left").join(
        buildings, on="building_id", how="left"
    )
    note = pl.col("note").cast(pl.String) if "note" in visits.columns else pl.lit(None, pl.String)
    out = out.with_columns(pl.coalesce(note, pl.col("scenario_note")).alias("note"))
    if routes is not None and "team_name" in routes.columns:
        out = out.join(routes.select("team_id", "team_name"), on="team_id", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.String).alias("team_name"))
    return out.with_columns(
        pl.coalesce("building_name", "building_id").alias("building_name"),
        pl.coalesce("team_name", "team_id").alias("team_name"),
    ).sort("team_id", "seq", "household_id", nulls_last=True)


def _clock(frame: pl.DataFrame, name: str) -> pl.Expr:
    """``HH:MM`` text of a minutes column (nulls when the column is absent)."""
    if name not in frame.columns:
        return pl.lit(None, pl.String)
    return clock_expr(pl.col(name).cast(pl.Int64))


def _empty_routes() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "team_id": pl.String,
            "team_name": pl.String,
            "stops": pl.Int64,
            "persons": pl.Int64,
            "walk_m": pl.Int64,
            "start": pl.String,
            "end": pl.String,
        }
    )
