"""The coverage map of a plan, built from its saved output folder.

``natplan plan`` renders it into the output folder before that folder is swapped in, and
``natplan map OUT`` re-renders it later from the same files (e.g. in English, or with an
office tile server), so both always agree with the tables beside the map.

With transport (issue 16) the map draws each vehicle trip and each lab
(:func:`sampling.stages.transport.transport_layer`); the map of a re-plan (issue 15) rings the
buildings whose point or call time changed (``changes.parquet``, or the ``changes`` passed by
the re-plan while it writes) and says when it was re-planned and how many changes there are.

The scenario adds what the tables do not hold: building names, the data attribution and the
OpenStreetMap extract the base layer is drawn from. ``natplan plan`` passes it; ``natplan map``
loads it from the summary's ``scenario_dir`` when that folder is still there (else the map has
ids instead of names and no base layer, which the log says).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, cast

import polars as pl

from maps import MapData, write_map
from maps.basemap import BaseMap, BaseMapError, read_basemap
from maps.model import BUILDING_COLUMNS, CHANGE_COLUMNS, SUGGESTED_COLUMNS
from sampling.documents.vehicles import vehicle_paths
from sampling.files.names import DocumentPaths, href
from sampling.i18n import map_labels, reason_labels
from sampling.output.schemas import OUTPUT_TABLES, read_output
from sampling.report import alert_remedy_text, alerts, percent
from sampling.scenario.model import Scenario
from sampling.stages.assignment import SUGGESTION_SCHEMA
from sampling.stages.transport import transport_layer

log = logging.getLogger(__name__)

MAP_FILE = "map.html"
OSM_ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL 1.0"
"""Credit shown for a base layer drawn from an OSM extract whose scenario names none."""
CHANGES_FILE = "changes.parquet"
MAP_CHANGE_KINDS = ("building_moved", "building_unserved", "building_sealed", "call_moved")
"""Kinds of change (:mod:`sampling.replan.changes`) the map rings at their building."""
QUALITY_GAP_MAX = 0.2
"""The KPI panel says how close the plan is to the best only when the bound proves it is
within this share (a larger gap says more about the bound than about the plan)."""


def _read(out_dir: Path, name: str) -> pl.DataFrame | None:
    """A plan table checked against its schema, or None if the plan has none; tables that are
    not plan outputs (a re-plan's ``changes``) are read as they are."""
    if name in OUTPUT_TABLES:
        return read_output(out_dir, name, required=False)
    path = out_dir / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else None


def _ids(frame: pl.DataFrame | None, column: str) -> list[str]:
    if frame is None:
        return []
    return [str(v) for v in frame.get_column(column).drop_nulls().unique().to_list()]


def _call_times(timetable: pl.DataFrame | None, yellow: str) -> pl.DataFrame:
    """``building_id`` → ``call``: the building's call slots, back-to-back slots merged
    ("08:00–08:30, 12:50–12:55"), yellow-code channel slots marked with ``yellow``."""
    if timetable is None or timetable.height == 0:
        return pl.DataFrame(schema={"building_id": pl.String, "call": pl.String})
    by = ["building_id", "channel"]
    slots = timetable.sort([*by, "call_start_min"]).with_columns(
        (pl.col("call_start_min") > pl.col("call_end_min").shift(1).over(by))
        .fill_null(True)
        .cum_sum()
        .over(by)
        .alias("_span")
    )
    spans = (
        slots.group_by([*by, "_span"])
        .agg(pl.col("call_start_min").min(), pl.col("call_end_min").max())
        .sort("building_id", "call_start_min", "channel")
    )

    def clock(col: str) -> pl.Expr:
        m = pl.col(col)
        return pl.format(
            "{}:{}", (m // 60).cast(pl.String).str.zfill(2), (m % 60).cast(pl.String).str.zfill(2)
        )

    text = pl.format("{}–{}", clock("call_start_min"), clock("call_end_min"))
    marked = pl.when(pl.col("channel") == "yellow").then(text + f" ({yellow})").otherwise(text)
    return spans.group_by("building_id", maintain_order=True).agg(
        marked.str.join(", ").alias("call")
    )


def map_kpis(summary: dict[str, Any], lang: str) -> dict[str, float | int | str]:
    """The KPI panel's figures in plain words, in order; the resident rows add up:
    total = come to a point (with a point + without) + swabbed at home. A re-plan's time and
    changes come first, the transport's figures last (each only when the summary has it)."""
    lab = map_labels(lang)
    metres = lab["metres"]
    walk_in = int(summary.get("residents_walk_in", summary["residents_total"]))
    kpis: dict[str, float | int | str] = {
        "residents": int(summary["residents_total"]),
        "residents_walk_in": walk_in,
        "residents_assigned": int(summary["residents_assigned"]),
        "residents_unserved": int(summary["residents_unserved"]),
        "residents_home_visit": int(summary.get("residents_home_visit", 0)),
        "coverage": summary["coverage"],
        "unserved_buildings": int(summary["buildings_unserved"]),
    }
    for key in ("residents_not_called", "capacity_deficit_residents", "residents_overtime"):
        if summary.get(key):  # problems only when there are some (the alerts repeat them)
            kpis[key] = int(summary[key])
    kpis["points_open"] = int(summary["points_open"])
    kpis["tables"] = int(summary["tables_used"])
    mean, longest = summary.get("walk_m_mean"), summary.get("walk_m_max")
    if isinstance(mean, (int, float)) and isinstance(longest, (int, float)):
        kpis["walk"] = f"{round(mean):,} {metres} / {round(longest):,} {metres}"
    for key in ("finish_time", "sim_finish_p95"):
        if key in summary:  # null when no one is swabbed at a point
            kpis[key] = summary[key] or "—"
    for key in ("window_extension_min", "extra_samplers_for_window"):
        if summary.get(key):  # what scarcity costs, only when there is some
            kpis[key] = summary[key]
    if summary.get("households_total"):
        served, total = summary.get("households_served", 0), summary["households_total"]
        kpis["home_visits_served"] = f"{served:,} / {total:,}"
        kpis["teams"] = summary.get("home_visit_routes", 0)
    kpis |= _transport_kpis(summary)
    return _replan_kpis(summary) | kpis  # a re-plan says so first


def _transport_kpis(summary: dict[str, Any]) -> dict[str, float | int | str]:
    """Tubes to the labs (late ones as their part), the last result, vehicle hours: each only
    when the summary has it (plans with transport)."""
    out: dict[str, float | int | str] = {}
    if isinstance(summary.get("tubes_total"), int):
        out["tubes_total"] = summary["tubes_total"]
        if isinstance(summary.get("tubes_late"), int):
            out["tubes_late"] = summary["tubes_late"]
    if isinstance(summary.get("latest_result_time"), str):
        out["latest_result_time"] = summary["latest_result_time"]
    if isinstance(summary.get("vehicle_hours"), (int, float)):
        out["vehicle_hours"] = summary["vehicle_hours"]
    return out


def _replan_kpis(summary: dict[str, Any]) -> dict[str, float | int | str]:
    """When a re-plan wrote the plan: its time and the changes by kind (parts of the total)."""
    if not isinstance(summary.get("replan_at"), str):
        return {}
    out: dict[str, float | int | str] = {"replan_at": summary["replan_at"]}
    if isinstance(summary.get("changes_total"), int):
        out["changes_total"] = summary["changes_total"]
    by_kind = summary.get("changes")
    if isinstance(by_kind, dict):
        for kind, count in sorted(by_kind.items()):
            if isinstance(count, int) and count > 0:
                out[f"changes_{kind}"] = count
    return out


def map_notes(summary: dict[str, Any], lang: str) -> tuple[str, ...]:
    """Plain sentences under the figures: how close the plan is to the best, when proven."""
    gap = summary.get("gap")
    if isinstance(gap, (int, float)) and math.isfinite(gap) and 0 <= gap <= QUALITY_GAP_MAX:
        return (map_labels(lang)["quality"].format(pct=percent(gap)),)
    return ()


def _scenario(summary: dict[str, Any]) -> Scenario | None:
    """The plan's scenario, loaded from ``scenario_dir`` when it is still there."""
    from sampling.errors import ScenarioError
    from sampling.scenario.loader import load_scenario

    folder = summary.get("scenario_dir")
    if not isinstance(folder, str) or not Path(folder).is_dir():
        log.warning("map: scenario folder %r not found: no names or base layer", folder)
        return None
    try:
        return load_scenario(Path(folder))
    except ScenarioError as error:
        log.warning("map: cannot load the scenario %s (%s): no names or base layer", folder, error)
        return None


def _basemap(
    scenario: Scenario | None, bounds: tuple[float, float, float, float]
) -> BaseMap | None:
    """Streets and outlines from the scenario's OSM extract (WGS-84 scenarios only)."""
    if scenario is None or not scenario.header.osm_extract:
        return None
    if scenario.header.coordinates != "wgs84":
        return None
    try:
        return read_basemap(scenario.root / scenario.header.osm_extract, bounds)
    except BaseMapError as error:
        log.warning("map: no base layer (%s)", error)
        return None


def data_attribution(scenario: Scenario | None, base: BaseMap | None) -> str:
    """The scenario's ``attribution``; the ODbL notice when it names none but the map draws
    OpenStreetMap data."""
    given = scenario.header.attribution if scenario is not None else None
    if given:
        return given
    return OSM_ATTRIBUTION if base is not None and not base.empty else ""


def _transport(
    out_dir: Path, scenario: Scenario | None
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The transport layer's trips (with links to the vehicle sheets, when the scenario is
    there to name them) and labs; ``(None, None)`` without transport."""
    layer = transport_layer(out_dir)
    if layer is None or not layer["trips"]:
        return None, None
    sheets = {v: href(p) for v, p in vehicle_paths(scenario).items()} if scenario else {}
    path_type = pl.List(pl.List(pl.Float64))
    trips = pl.DataFrame(
        [
            {k: t[k] for k in ("vehicle_id", "trip", "tubes", "start", "end", "path")}
            for t in layer["trips"]
        ],
        schema={
            "vehicle_id": pl.String,
            "trip": pl.Int64,
            "tubes": pl.Int64,
            "start": pl.String,
            "end": pl.String,
            "path": path_type,
        },
    ).with_columns(
        pl.col("vehicle_id")
        .replace_strict(sheets, default=None, return_dtype=pl.String)
        .alias("sheet")
    )
    labs = pl.DataFrame(
        layer["labs"],
        schema={
            "lab_id": pl.String,
            "lat": pl.Float64,
            "lon": pl.Float64,
            "tubes_per_hour": pl.Int64,
            "tubes_received": pl.Int64,
            "peak_backlog": pl.Int64,
            "peak_hour": pl.Int64,
            "last_result": pl.String,
        },
    )
    return trips, labs


def map_changes(changes: pl.DataFrame | None, assignments: pl.DataFrame) -> pl.DataFrame | None:
    """The re-plan's changes the map rings (:data:`MAP_CHANGE_KINDS`), placed at their
    buildings (``lat``, ``lon`` from ``assignments``, every building of the plan: a sealed
    one has no walk-in residents left but is ringed all the same); None without any."""
    if changes is None:
        return None
    placed = (
        changes.filter(pl.col("kind").is_in(MAP_CHANGE_KINDS) & pl.col("building_id").is_not_null())
        .with_columns(pl.col("building_id").cast(pl.String))
        .join(
            assignments.select(pl.col("building_id").cast(pl.String), "lat", "lon"),
            on="building_id",
            how="inner",
        )
        .select(CHANGE_COLUMNS)
    )
    return placed if placed.height else None


def map_data(
    out_dir: Path,
    lang: str = "zh",
    scenario: Scenario | None = None,
    changes: pl.DataFrame | None = None,
) -> MapData:
    """MapData from ``assignments.parquet``, ``points.parquet``, ``summary.json`` (+ call
    times, routes, transport, a re-plan's changes), with links to the plan's documents;
    names, attribution and the base layer from ``scenario`` (None: loaded from the summary's
    ``scenario_dir``, see module doc). ``changes``: a re-plan's changes (None: read from
    ``changes.parquet`` when the folder has one)."""
    out_dir = Path(out_dir)
    lab = map_labels(lang)
    summary: dict[str, Any] = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    if scenario is None:
        scenario = _scenario(summary)
    assignments = cast(pl.DataFrame, read_output(out_dir, "assignments"))
    points = cast(pl.DataFrame, read_output(out_dir, "points"))
    routes = _read(out_dir, "route_stops")
    teams = _read(out_dir, "routes")
    # the same ids as the documents (sampling.documents.data), so the same file names
    paths = DocumentPaths.of(
        _ids(points, "point_id"), _ids(assignments, "grid_id"), _ids(teams, "team_id")
    )
    buildings = (
        assignments.filter(pl.col("walk_in") > 0)
        .select(BUILDING_COLUMNS)
        .join(_call_times(_read(out_dir, "timetable"), lab["yellow"]), on="building_id", how="left")
        .with_columns(
            pl.col("grid_id")
            .cast(pl.String)
            .replace_strict({g: href(paths.grid(g)) for g in paths.grids}, default=None)
            .alias("grid_sheet")
        )
    )
    if scenario is not None and "name" in scenario.buildings.columns:
        names = scenario.buildings.select(
            pl.col("building_id").cast(pl.String), pl.col("name").cast(pl.String)
        )
        buildings = buildings.join(names, on="building_id", how="left")
    # reason codes → their text, with the walking limit the label names (issue 13)
    reasons = reason_labels(
        buildings["unserved_reason"].to_list(), lang, walk_limit_min=summary.get("walk_limit_min")
    )
    buildings = buildings.with_columns(pl.col("unserved_reason").replace(reasons))
    points = points.with_columns(
        pl.col("point_id")
        .replace_strict({p: href(paths.point(p)) for p in paths.points}, default=None)
        .alias("sheet")
    )
    if routes is not None:
        routes = routes.with_columns(
            pl.col("team_id")
            .cast(pl.String)
            .replace_strict({t: href(paths.team(t)) for t in paths.teams}, default=None)
            .alias("sheet")
        )
    both = pl.concat([buildings.select("lat", "lon"), points.select("lat", "lon")])
    lo, hi = both.min().row(0), both.max().row(0)
    bounds = (lo[0], lo[1], hi[0], hi[1]) if both.height else (0.0, 0.0, 0.0, 0.0)
    base = _basemap(scenario, bounds)
    trips, labs = _transport(out_dir, scenario)
    if changes is None:
        changes = _read(out_dir, CHANGES_FILE.removesuffix(".parquet"))
    return MapData(
        buildings=buildings,
        points=points,
        routes=routes,
        walk_limit_m=float(summary["walk_reach_m"]),
        title=str(summary["scenario"]),
        kpis=map_kpis(summary, lang),
        alerts=map_alerts(summary, lang),
        notes=map_notes(summary, lang),
        attribution=data_attribution(scenario, base),
        base=base,
        trips=trips,
        labs=labs,
        changes=map_changes(changes, assignments),
        suggested=map_suggested(summary),
    )


def map_suggested(summary: dict[str, Any]) -> pl.DataFrame | None:
    """The summary's ``suggested_points`` (temporary points for the residents out of reach) as
    the map's ``suggested`` table; None without any."""
    rows = summary.get("suggested_points")
    if not isinstance(rows, list) or not rows:
        return None
    return pl.DataFrame(
        [{k: row.get(k) for k in SUGGESTED_COLUMNS} for row in rows],
        schema={k: SUGGESTION_SCHEMA[k] for k in SUGGESTED_COLUMNS},
    )


def map_alerts(summary: dict[str, Any], lang: str) -> tuple[str, ...]:
    """The plan's alerts as the map's short lines (the ``[map]`` labels ``alert_<code>``),
    by the same codes as the console and the index (:func:`sampling.report.alerts`);
    ``late_tubes`` says what more vehicles would do, as the console and the index do."""
    listed = summary.get("alerts")
    found = listed if isinstance(listed, list) else alerts(summary)
    lab = map_labels(lang)
    out = []
    for alert in found:
        code, count = str(alert.get("code")), alert.get("count")
        text = lab.get(f"alert_{code}", f"{code}: {{count}}")
        line = text.format(count=f"{count:,}" if isinstance(count, int) else count)
        out.append(line + alert_remedy_text(code, summary, lab))
    return tuple(out)


def render_plan_map(
    out_dir: Path,
    *,
    lang: str = "zh",
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    scenario: Scenario | None = None,
    changes: pl.DataFrame | None = None,
) -> Path:
    """Write ``out_dir/map.html`` (atomically) from the plan saved in ``out_dir``;
    ``changes``: a re-plan's changes, when they are not (yet) in ``changes.parquet``."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    settings = summary.get("map", {})
    target = out_dir / MAP_FILE
    write_map(
        map_data(out_dir, lang, scenario, changes),
        target,
        lang=lang,
        tile_url=tile_url or settings.get("tile_url"),
        tile_attribution=tile_attribution or settings.get("tile_attribution"),
    )
    return target
