"""Hypothesis strategies for valid scenario folders, and helpers to write them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import strategies as st

HEADER = """name = "generated"
date = 2022-04-28
coordinates = "{coordinates}"

[window]
start = "07:00"
end = "14:00"

[tables]
buildings = "buildings.{fmt}"
points = "points.{fmt}"
teams = "teams.{fmt}"
home_visits = "home_visits.{fmt}"
grids = "grids.{fmt}"
"""


@st.composite
def scenario_tables(draw: st.DrawFn, coordinates: str = "wgs84") -> dict[str, pl.DataFrame]:
    """Valid tables for a small scenario (as text/number columns a planner would write)."""
    n_grids = draw(st.integers(1, 4))
    n_buildings = draw(st.integers(1, 25))
    n_points = draw(st.integers(1, 6))
    n_teams = draw(st.integers(1, 4))
    coord = st.floats(-2000, 2000, allow_nan=False, allow_infinity=False)

    def place(n: int) -> dict[str, list[float]]:
        xs = draw(st.lists(coord, min_size=n, max_size=n))
        ys = draw(st.lists(coord, min_size=n, max_size=n))
        if coordinates == "planar":
            return {"x": xs, "y": ys}
        return {"lat": [37.7 + y / 111_000 for y in ys], "lon": [112.7 + x / 88_000 for x in xs]}

    residents = draw(st.lists(st.integers(0, 800), min_size=n_buildings, max_size=n_buildings))
    yellow = [draw(st.integers(0, r)) for r in residents]
    grids = [f"g{k}" for k in range(n_grids)]
    buildings = pl.DataFrame(
        {
            "building_id": [f"b{k}" for k in range(n_buildings)],
            "grid_id": [grids[draw(st.integers(0, n_grids - 1))] for _ in range(n_buildings)],
            **place(n_buildings),
            "residents": residents,
            "yellow_code": yellow,
            "name": [
                draw(st.sampled_from(["一号楼", "Block A", "", "楼, 2"]))
                for _ in range(n_buildings)
            ],
        }
    )
    points = pl.DataFrame(
        {
            "point_id": [f"p{k}" for k in range(n_points)],
            **place(n_points),
            "max_tables": draw(st.lists(st.integers(1, 10), min_size=n_points, max_size=n_points)),
            "status": draw(
                st.lists(
                    st.sampled_from(["candidate", "required", "closed"]),
                    min_size=n_points,
                    max_size=n_points,
                )
            ),
        }
    )
    starts = draw(st.lists(st.integers(6 * 60, 10 * 60), min_size=n_teams, max_size=n_teams))
    teams = pl.DataFrame(
        {
            "team_id": [f"t{k}" for k in range(n_teams)],
            "samplers": draw(st.lists(st.integers(1, 30), min_size=n_teams, max_size=n_teams)),
            "available_from": [f"{s // 60:02d}:{s % 60:02d}" for s in starts],
            "available_to": [f"{(s + 240) // 60:02d}:{(s + 240) % 60:02d}" for s in starts],
            **place(n_teams),
            "home_visit": draw(st.lists(st.booleans(), min_size=n_teams, max_size=n_teams)),
        }
    )
    households: list[dict[str, object]] = []
    for k, r in enumerate(residents):
        if r and draw(st.booleans()):
            households.append(
                {"household_id": f"h{k}", "building_id": f"b{k}", "persons": min(r, 2)}
            )
    home_visits = pl.DataFrame(
        households,
        schema={"household_id": pl.String, "building_id": pl.String, "persons": pl.Int64},
    )
    grid_table = pl.DataFrame(
        {"grid_id": grids, "name": [f"第{k + 1}网格" for k in range(n_grids)]}
    )
    return {
        "buildings": buildings,
        "points": points,
        "teams": teams,
        "home_visits": home_visits,
        "grids": grid_table,
    }


def write_tables(
    folder: Path, tables: dict[str, pl.DataFrame], *, coordinates: str = "wgs84", fmt: str = "csv"
) -> Path:
    """Write ``tables`` and a header into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(
        HEADER.format(coordinates=coordinates, fmt=fmt), encoding="utf-8"
    )
    for name, frame in tables.items():
        if fmt == "csv":
            frame.write_csv(folder / f"{name}.csv")
        else:
            frame.write_parquet(folder / f"{name}.parquet")
    return folder
