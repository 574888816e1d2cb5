"""Synthetic :class:`~maps.model.MapData` for tests, demos and the scale benchmark."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from maps.model import MapData

__all__ = ["synthetic_map_data"]


def synthetic_map_data(
    n_buildings: int = 200,
    n_points: int = 12,
    n_open: int = 8,
    n_teams: int = 2,
    stops_per_team: int = 10,
    *,
    n_grids: int | None = None,
    unserved_share: float = 0.03,
    with_finish: bool = True,
    seed: int = 7,
) -> MapData:
    """A plausible district around Wuhan: clustered buildings, nearest-open-point assignment."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = 30.58, 114.29
    span = 0.012 * max(1.0, np.sqrt(n_buildings / 200))  # degrees; ~1.3 km for 200 buildings
    centres = rng.uniform(-span, span, size=(max(3, n_buildings // 60), 2))
    pick = rng.integers(0, len(centres), n_buildings)
    xy = centres[pick] + rng.normal(0, span / 12, size=(n_buildings, 2))
    blat, blon = lat0 + xy[:, 0], lon0 + xy[:, 1]
    residents = rng.integers(20, 200, n_buildings)

    pxy = xy[rng.integers(0, n_buildings, n_points)] + rng.normal(0, span / 40, (n_points, 2))
    plat, plon = lat0 + pxy[:, 0], lon0 + pxy[:, 1]
    is_open = np.zeros(n_points, dtype=bool)
    is_open[rng.choice(n_points, size=min(n_open, n_points), replace=False)] = True
    open_idx = np.flatnonzero(is_open)

    tree = cKDTree(np.column_stack((plat[open_idx], plon[open_idx] * 0.86)))
    dist, nn = tree.query(np.column_stack((blat, blon * 0.86)))
    walk = dist * 111_320.0
    point_ids = [f"P{i:04d}" for i in range(n_points)]
    assigned: list[str | None] = [point_ids[open_idx[j]] for j in nn]
    reasons: list[str | None] = [None] * n_buildings
    n_uns = round(unserved_share * n_buildings)
    for i in rng.choice(n_buildings, size=n_uns, replace=False):
        assigned[i] = None
        reasons[i] = ["超出步行距离 (beyond walking limit)", "容量不足 (no capacity)"][i % 2]
    walk_m = [None if a is None else float(w) for a, w in zip(assigned, walk, strict=True)]
    n_grids = n_grids or max(2, n_buildings // 40)
    gx = np.digitize(xy[:, 0], np.linspace(-span, span, int(np.sqrt(n_grids)) + 1))
    gy = np.digitize(xy[:, 1], np.linspace(-span, span, int(np.sqrt(n_grids)) + 1))
    grid_id = [f"G{a:02d}{b:02d}" for a, b in zip(gx, gy, strict=True)]
    buildings = pl.DataFrame(
        {
            "building_id": [f"B{i:05d}" for i in range(n_buildings)],
            "grid_id": grid_id,
            "lat": blat,
            "lon": blon,
            "residents": residents,
            "point_id": pl.Series(assigned, dtype=pl.String),
            "walk_m": pl.Series(walk_m, dtype=pl.Float64),
            "unserved_reason": pl.Series(reasons, dtype=pl.String),
        }
    )
    load = (
        buildings.filter(pl.col("point_id").is_not_null())
        .group_by("point_id")
        .agg(pl.col("residents").sum().alias("load"))
    )
    loads = (
        pl.DataFrame({"point_id": point_ids})
        .join(load, on="point_id", how="left")["load"]
        .fill_null(0)
        .to_numpy()
    )
    per_table = 400 * rng.uniform(0.6, 1.15, n_points)  # some points end up overloaded
    tables = np.where(is_open, np.clip(np.ceil(loads / per_table), 1, 8), 0).astype(np.int64)
    points = pl.DataFrame(
        {
            "point_id": point_ids,
            "name": [f"采样点 {i}" if i % 5 else None for i in range(n_points)],
            "lat": plat,
            "lon": plon,
            "open": is_open,
            "tables": tables,
            "max_tables": np.full(n_points, 8),
            "capacity": tables * 400,
            "load": loads,
        }
    ).with_columns(
        pl.when(pl.col("capacity") > 0)
        .then(pl.col("load") / pl.col("capacity"))
        .otherwise(None)
        .alias("utilisation")
    )
    if with_finish:
        mins = 7 * 60 + (points["utilisation"].fill_null(0) * 660).cast(pl.Int64)
        points = points.with_columns(
            pl.Series(
                "finish",
                [
                    f"{m // 60:02d}:{m % 60:02d}" if o else None
                    for m, o in zip(mins, is_open, strict=True)
                ],
            ),
            pl.Series("staff", (tables * 2).tolist()),
            pl.Series("yellow_channel", (np.arange(n_points) % 3 == 0).tolist()),
            # the most loaded open points run late, the overloaded ones cannot finish
            (pl.col("open") & (pl.col("utilisation") > 1.0)).alias("late"),
            pl.when(pl.col("open"))
            .then((pl.col("load") - pl.col("capacity")).clip(lower_bound=0))
            .otherwise(0)
            .alias("deficit"),
        )
    rows: list[tuple[str, int, str | None, float, float]] = []
    for t in range(n_teams):
        base = rng.integers(0, n_buildings)
        rows.append((f"T{t:03d}", 0, None, float(blat[base]), float(blon[base])))
        cur = np.array([blat[base], blon[base]])
        for s in range(1, stops_per_team + 1):
            cur = cur + rng.normal(0, span / 60, 2)
            rows.append((f"T{t:03d}", s, f"H{t:03d}-{s:03d}", float(cur[0]), float(cur[1])))
    routes = pl.DataFrame(
        rows,
        schema={
            "team_id": pl.String,
            "seq": pl.Int64,
            "household_id": pl.String,
            "lat": pl.Float64,
            "lon": pl.Float64,
        },
        orient="row",
    )
    served = int(buildings.filter(pl.col("point_id").is_not_null())["residents"].sum())
    total = int(residents.sum())
    kpis: dict[str, float | int | str] = {
        "coverage": served / total,
        "residents": total,
        "points_open": int(is_open.sum()),
        "tables": int(tables.sum()),
        "finish": "18:00",
        "unserved_buildings": n_uns,
        "unserved_residents": total - served,
        "home_visits": n_teams * stops_per_team,
    }
    return MapData(
        buildings=buildings,
        points=points,
        routes=routes,
        walk_limit_m=500.0,
        title="示例区 核酸采样方案",
        kpis=kpis,
    )
