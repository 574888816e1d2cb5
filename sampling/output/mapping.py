"""The coverage map of a plan, built from its saved output folder.

``natplan plan`` renders it into the output folder before that folder is swapped in, and
``natplan map OUT`` re-renders it later from the same files (e.g. in English, or with an
office tile server), so both always agree with the tables beside the map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from maps import MapData, write_map
from maps.model import BUILDING_COLUMNS
from sampling.i18n import map_labels
from sampling.report import alerts

MAP_FILE = "map.html"


def map_data(out_dir: Path, lang: str = "zh") -> MapData:
    """MapData from ``assignments.parquet``, ``points.parquet``, ``summary.json`` (+ routes);
    the alerts in ``lang`` (:func:`map_alerts`)."""
    out_dir = Path(out_dir)
    summary: dict[str, Any] = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assignments = pl.read_parquet(out_dir / "assignments.parquet")
    points = pl.read_parquet(out_dir / "points.parquet")
    routes_path = out_dir / "route_stops.parquet"
    routes = pl.read_parquet(routes_path) if routes_path.exists() else None
    kpis: dict[str, float | int | str] = {
        "coverage": summary["coverage"],
        "residents": summary["residents_total"],
        "residents_served": summary["residents_assigned"],
        "unserved_residents": summary["residents_unserved"],
        "unserved_buildings": summary["buildings_unserved"],
        "points_open": summary["points_open"],
        "tables": summary["tables_used"],
        "mean_walk_m": round(float(summary["walk_m_mean"])),
        "max_walk_m": round(float(summary["walk_m_max"])),
        "gap": summary["gap"],
    }
    if "finish_time" in summary:
        kpis["finish_time"] = summary["finish_time"]
    if "sim_finish_p95" in summary:
        kpis["sim_finish_p95"] = summary["sim_finish_p95"]
    for key in ("window_extension_min", "extra_samplers_for_window"):
        if summary.get(key):  # what scarcity costs, only when there is some
            kpis[key] = summary[key]
    if "households_total" in summary:
        kpis["home_visits"] = summary["households_total"]
        kpis["teams"] = summary["home_visit_routes"]
    return MapData(
        buildings=assignments.filter(pl.col("walk_in") > 0).select(BUILDING_COLUMNS),
        points=points,
        routes=routes,
        walk_limit_m=float(summary["walk_reach_m"]),
        title=str(summary["scenario"]),
        kpis=kpis,
        finish_deadline=summary.get("window_end"),
        alerts=map_alerts(summary, lang),
    )


def map_alerts(summary: dict[str, Any], lang: str) -> tuple[str, ...]:
    """The plan's alerts as the map's short lines (the ``[map]`` labels ``alert_<code>``),
    by the same codes as the console and the index (:func:`sampling.report.alerts`)."""
    listed = summary.get("alerts")
    found = listed if isinstance(listed, list) else alerts(summary)
    lab = map_labels(lang)
    out = []
    for alert in found:
        code, count = str(alert.get("code")), alert.get("count")
        text = lab.get(f"alert_{code}", f"{code}: {{count}}")
        out.append(text.format(count=f"{count:,}" if isinstance(count, int) else count))
    return tuple(out)


def render_plan_map(
    out_dir: Path,
    *,
    lang: str = "zh",
    tile_url: str | None = None,
    tile_attribution: str | None = None,
) -> Path:
    """Write ``out_dir/map.html`` (atomically) from the plan saved in ``out_dir``."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    settings = summary.get("map", {})
    target = out_dir / MAP_FILE
    write_map(
        map_data(out_dir, lang),
        target,
        lang=lang,
        tile_url=tile_url or settings.get("tile_url"),
        tile_attribution=tile_attribution or settings.get("tile_attribution"),
    )
    return target
