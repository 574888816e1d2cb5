"""``natplan import-osm``: a plannable scenario folder from an OpenStreetMap extract.

Real geography, estimated people, synthetic staff:

* **buildings** — residential footprints (rules in :mod:`sampling.osm.features`) with
  residents = footprint m² × levels ÷ 36.5 m² per person (``shared/geo/README.md``), scaled to
  ``residents_total`` when given; whole residents by largest remainder, so the total is exact.
  Buildings are numbered along a Hilbert curve, so neighbours get neighbouring ids;
* **grids** — consecutive runs of that Hilbert order of ≈ 350 households (2.8 persons each);
* **points** — open spaces (schools, playgrounds, squares, parks, pitches, surface parking…)
  at their area centroid with their OSM names; ``max_tables`` = area ÷ 150 m², 2–10 (2 for
  sites mapped as nodes); sites within 40 m of a larger one (300 m if
  of the same name) are merged into it;
* **teams** and **home_visits** — synthetic, deterministic for the seed: medical teams of 8–40
  samplers adding up to residents ÷ 360 plus 10 % slack, arriving from 15–40 km away;
  ≈ 2 % of households visited at home; two-person home-visit teams, one per ≈ 35 households;
* **streets.osm.bz2** — the walkable ways of the extract, so ``distance = "street"`` works
  from the scenario folder alone, and every building's outline simplified within 1 m
  (:mod:`sampling.osm.outlines`) for the map's base layer: a derived ODbL file, about 104 kB
  for central Nanjing's 1,277 building outlines and 312 walkable ways.

Same extract, arguments and seed → byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium.osm
import polars as pl
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from sampling.clock import clock_expr
from sampling.errors import ScenarioError
from sampling.files.atomic import atomic_dir
from sampling.files.ownership import check_output_folder
from sampling.generate import (
    DATE,
    _grid_index,
    _grids_table,
    _home_visits,
    _households,
    _ids,
    _largest_remainder,
)
from sampling.osm.extract import (
    ATTRIBUTION,
    OsmError,
    OsmStreets,
    StreetCollector,
    scan,
    write_street_file,
)
from sampling.osm.features import FEATURE_KEYS, Features, inside_any
from sampling.osm.outlines import building_outlines
from sampling.scenario.header import Header, Sampling, TablePaths
from sampling.scenario.loader import MAX_EXTRACT_BYTES
from sampling.scenario.model import project, unproject
from sampling.scenario.reading import regular_file_problem
from sampling.scenario.writing import header_toml
from solver.streets import SnapReport, hilbert_index, street_pairs

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PERSONS_PER_M2 = 1.0 / 36.5
"""Residents per m² of floor area (urban housing floor area per person, China 2020 census)."""
GRID_HOUSEHOLDS = 350.0
TABLE_AREA_M2 = 150.0
"""Open space per sampling table (table, queue with 1 m spacing, waiting area)."""
MIN_SITE_M2 = 200.0
MERGE_M = 40.0
"""Open spaces closer than this to a larger one are the same site."""
MERGE_SAME_NAME_M = 300.0
"""Open spaces with the same name closer than this are one site."""
STREET_FILE = "streets.osm.bz2"
_WALK_LIMIT_M = 15.0 * 75.0  # the header's default walking limit


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote and how the extract was read (deterministic for a seed)."""

    out_dir: Path
    name: str
    residents: int
    residents_estimated: float
    buildings_seen: int
    buildings: int
    skipped_tag: int
    skipped_site: int
    skipped_small: int
    skipped_empty: int
    levels_from_tags: int
    grids: int
    points: int
    tables_max: int
    max_open_points: int
    teams: int
    samplers: int
    home_visit_teams: int
    home_visit_households: int
    street_nodes: int
    street_edges: int
    street_fragment_nodes: int
    buildings_without_point: int
    snap: SnapReport
    outlines: int = 0
    """Building outlines written to the street file for the map (one per outer ring)."""

    def __str__(self) -> str:
        return "\n".join(
            [
                f"wrote {self.out_dir} ({self.name})",
                f"  buildings: {self.buildings_seen:,} footprints; imported {self.buildings:,}"
                f" as homes; skipped {self.skipped_tag:,} non-residential by tag,"
                f" {self.skipped_site:,} building=yes inside non-residential sites,"
                f" {self.skipped_small:,} under 30 m², {self.skipped_empty:,} left with no"
                " residents after scaling",
                f"  residents {self.residents:,} (estimate from floor area"
                f" {self.residents_estimated:,.0f}; levels tagged for {self.levels_from_tags:,}"
                " buildings, else 6)",
                f"  grids {self.grids:,}; points {self.points:,} with up to {self.tables_max:,}"
                f" tables, max_open_points {self.max_open_points:,}",
                f"  teams {self.teams:,} with {self.samplers:,} samplers; home-visit teams"
                f" {self.home_visit_teams:,} for {self.home_visit_households:,} households"
                " (synthetic)",
                f"  streets {self.street_nodes:,} nodes, {self.street_edges:,} edges"
                f" ({self.street_fragment_nodes:,} nodes in cut-off fragments dropped);"
                f" {self.outlines:,} building outlines for the map",
                f"  buildings with no point within the 15-minute street walk:"
                f" {self.buildings_without_point:,}",
                *(f"  {line}" for line in self.snap.lines()),
            ]
        )


def import_osm(
    extract: Path,
    out_dir: Path,
    *,
    residents_total: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    name: str | None = None,
    date: dt.date | None = None,
    command: str | None = None,
) -> ImportSummary:
    """Import ``extract`` into the scenario folder ``out_dir`` (written atomically).

    Raises :class:`sampling.osm.extract.OsmError` (a ValueError) for a missing, unreadable or empty
    extract, one without walkable streets or without residential buildings, and
    OutputFolderError for a non-empty ``out_dir`` unless ``overwrite`` and natplan wrote it. ``name`` defaults to
    the folder's name; ``command`` is quoted in the README (default: a canonical one).
    """
    extract, out_dir = Path(extract), Path(out_dir)
    if residents_total is not None and residents_total < 1:
        raise ValueError("residents_total must be at least 1")
    check_output_folder(out_dir, kind="scenario", overwrite=overwrite, protected=(extract,))
    unreadable = regular_file_problem(extract, str(extract), MAX_EXTRACT_BYTES)
    if unreadable is not None and extract.exists():  # a named pipe would block the reader
        raise ScenarioError([unreadable])
    name = name or out_dir.name
    streets, features = read_extract(extract)
    rng = np.random.default_rng(seed)

    homes, in_sites = _homes(features, extract)
    estimate = homes["floor_m2"].to_numpy() * PERSONS_PER_M2
    total = residents_total if residents_total is not None else round(float(estimate.sum()))
    residents = _largest_remainder(total, estimate)
    empty = int((residents == 0).sum())  # only when scaled far down
    homes = homes.with_columns(pl.Series("residents", residents)).filter(pl.col("residents") > 0)
    lat0, lon0 = float(homes["lat"].mean()), float(homes["lon"].mean())  # type: ignore[arg-type]
    bx, by = project(homes["lat"].to_numpy(), homes["lon"].to_numpy(), lat0, lon0)
    order = np.lexsort((homes["ref"].to_numpy(), hilbert_index(bx, by)))
    homes = homes[order]
    bx, by = bx[order], by[order]
    b_res = homes["residents"].to_numpy().astype(np.int64)
    hh = _households(b_res)
    grid_of_b = _grid_index(np.zeros(len(b_res), np.int64), hh, np.asarray([GRID_HOUSEHOLDS]))
    grid_ids = _ids("G", int(grid_of_b.max()) + 1, 3)
    building_id = _ids("B", homes.height)
    buildings = pl.DataFrame(
        {
            "building_id": building_id,
            "grid_id": grid_ids.gather(grid_of_b),
            "lat": np.round(homes["lat"].to_numpy(), 6),
            "lon": np.round(homes["lon"].to_numpy(), 6),
            "residents": b_res,
            "name": homes["label"],
        }
    )

    points = _points(features)
    if points.height == 0:
        raise OsmError(f"{extract}: no open spaces for sampling points (schools, squares, …)")
    max_open = min(points.height, max(1, round(total / 2500)))

    home = _home_visits(
        rng,
        building_id,
        b_res,
        np.zeros(len(b_res), dtype=np.int64),
        round(0.02 * float(hh.sum())),
    )
    teams = pl.concat(
        [
            _medical_teams(rng, math.ceil(total / 360.0 * 1.1), lat0, lon0),
            _home_visit_teams(rng, math.ceil(home.height / 35.0), homes),
        ]
    )
    grids = _grids_table(rng, grid_ids)

    px, py = project(points["lat"].to_numpy(), points["lon"].to_numpy(), lat0, lon0)
    pairs, snap = street_pairs(
        streets.graph(lat0, lon0),
        np.column_stack([bx, by]),
        np.column_stack([px, py]),
        walk_limit_m=_WALK_LIMIT_M,
        building_weight=b_res.astype(np.float64),
    )
    reached = np.zeros(len(b_res), dtype=bool)
    reached[pairs.building] = True
    outlines = building_outlines(features.buildings)

    header = Header(
        name=name,
        date=date or dt.date.fromisoformat(DATE),
        coordinates="wgs84",
        distance="street",
        osm_extract=STREET_FILE,
        description=(
            f"Imported from the OpenStreetMap extract {extract.name}: real buildings, open"
            " spaces and streets; residents estimated from floor area"
            + (f" and scaled to {total:,}" if residents_total is not None else "")
            + "; teams and home visits synthetic."
        ),
        attribution=ATTRIBUTION,
        sampling=Sampling(max_open_points=max_open),
        tables=TablePaths(
            buildings="buildings.csv",
            points="points.csv",
            teams="teams.csv",
            home_visits="home_visits.csv" if home.height else None,
            grids="grids.csv",
        ),
    )
    medical = teams.filter(~pl.col("home_visit"))
    summary = ImportSummary(
        out_dir=out_dir,
        name=name,
        residents=int(b_res.sum()),
        residents_estimated=float(estimate.sum()),
        buildings_seen=len(features.buildings),
        buildings=len(b_res),
        skipped_tag=sum(b.status == "tag" for b in features.buildings),
        skipped_site=in_sites,
        skipped_small=sum(b.status == "small" for b in features.buildings),
        skipped_empty=empty,
        levels_from_tags=int((homes["levels_from"] != "default").sum()),
        grids=grids.height,
        points=points.height,
        tables_max=int(points["max_tables"].sum()),
        max_open_points=max_open,
        teams=medical.height,
        samplers=int(medical["samplers"].sum()),
        home_visit_teams=teams.height - medical.height,
        home_visit_households=home.height,
        street_nodes=len(streets.node_id),
        street_edges=len(streets.u),
        street_fragment_nodes=streets.fragment_nodes,
        buildings_without_point=int((~reached).sum()),
        snap=snap,
        outlines=len(outlines),
    )
    command = command or (
        f"natplan import-osm {extract.name} --out {out_dir.name}"
        + (f" --residents-total {residents_total}" if residents_total is not None else "")
        + f" --seed {seed}"
    )
    readme = _readme(summary, extract, command)
    with atomic_dir(out_dir, kind="scenario", overwrite=overwrite, protected=(extract,)) as staging:
        (staging / "scenario.toml").write_text(header_toml(header), encoding="utf-8")
        buildings.write_csv(staging / "buildings.csv")
        points.write_csv(staging / "points.csv")
        teams.write_csv(staging / "teams.csv")
        grids.write_csv(staging / "grids.csv")
        if home.height:
            home.write_csv(staging / "home_visits.csv")
        write_street_file(streets, staging / STREET_FILE, outlines)
        (staging / "README.md").write_text(readme, encoding="utf-8")
    return summary


def read_extract(extract: Path) -> tuple[OsmStreets, Features]:
    """Streets and features of an extract in one streaming pass (areas assembled)."""
    collector = StreetCollector()
    features = Features()
    for obj in scan(extract, keys=FEATURE_KEYS, areas=True):
        if isinstance(obj, osmium.osm.Area):
            features.area(obj)
        elif isinstance(obj, osmium.osm.Way):
            if "highway" in obj.tags:
                collector.way(obj)
        else:
            features.node(obj)
    return collector.result(str(extract)), features


def _homes(features: Features, extract: Path) -> tuple[pl.DataFrame, int]:
    """Residential footprints with floor area, and how many the site check dropped."""
    rows = [b for b in features.buildings if b.status in ("residential", "yes")]
    if not rows:
        raise OsmError(f"{extract}: no residential buildings (building=residential/yes/…)")
    frame = pl.DataFrame(
        {
            "ref": [b.ref for b in rows],
            "lat": [b.lat for b in rows],
            "lon": [b.lon for b in rows],
            "floor_m2": [b.area_m2 * b.levels for b in rows],
            "levels_from": [b.levels_from for b in rows],
            "generic": [b.status == "yes" for b in rows],
            "label": [f"{b.name} (OSM {b.ref})" if b.name else f"OSM {b.ref}" for b in rows],
        }
    )
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
    in_site = inside_any(lat, lon, features.sites, float(lat.mean()), float(lon.mean()))
    dropped = pl.Series(in_site) & frame["generic"]
    frame = frame.filter(~dropped)
    if frame.height == 0:
        raise OsmError(f"{extract}: no residential buildings outside non-residential sites")
    return frame, int(dropped.sum())


_KIND_LABEL = {
    "school": "学校",
    "campus": "校园",
    "playground": "活动场",
    "square": "广场",
    "park": "公园",
    "pitch": "运动场",
    "parking": "停车场",
    "community_centre": "社区服务中心",
    "green": "绿地",
}


def _points(features: Features) -> pl.DataFrame:
    """Candidate points from open spaces: merged within 40 m, tables from the area."""
    spaces = [s for s in features.open_spaces if s.area_m2 == 0.0 or s.area_m2 >= MIN_SITE_M2]
    if not spaces:
        return pl.DataFrame()
    spaces.sort(key=lambda s: (-s.area_m2, s.ref))  # larger sites absorb nearby smaller ones
    lat = np.asarray([s.lat for s in spaces])
    lon = np.asarray([s.lon for s in spaces])
    x, y = project(lat, lon, float(lat.mean()), float(lon.mean()))
    tree = cKDTree(np.column_stack([x, y]))
    names = np.asarray([s.name or "" for s in spaces])
    taken = np.zeros(len(spaces), dtype=bool)
    keep: list[int] = []
    for i in range(len(spaces)):
        if taken[i]:
            continue
        keep.append(i)
        taken[tree.query_ball_point([x[i], y[i]], MERGE_M)] = True
        if names[i]:  # the same named site mapped twice (a stadium and its pitch)
            near = np.asarray(tree.query_ball_point([x[i], y[i]], MERGE_SAME_NAME_M), np.int64)
            taken[near[names[near] == names[i]]] = True
    chosen = sorted((spaces[i] for i in keep), key=lambda s: (s.lat, s.lon, s.ref), reverse=True)
    area = np.asarray([s.area_m2 for s in chosen])
    tables = np.where(area > 0, np.clip(np.floor(area / TABLE_AREA_M2), 2, 10), 2)
    return pl.DataFrame(
        {
            "point_id": _ids("P", len(chosen), 3),
            "lat": np.round([s.lat for s in chosen], 6),
            "lon": np.round([s.lon for s in chosen], 6),
            "max_tables": tables.astype(np.int64),
            "status": ["candidate"] * len(chosen),
            "name": [s.name or f"{_KIND_LABEL[s.kind]} (OSM {s.ref})" for s in chosen],
            "kind": [s.kind for s in chosen],
        }
    )


def _medical_teams(
    rng: np.random.Generator, samplers: int, lat0: float, lon0: float
) -> pl.DataFrame:
    """Synthetic teams of 8–40 samplers (≥ ``samplers`` in all) from 15–40 km away."""
    draws = samplers // 8 + 2
    sizes = np.clip(8 + rng.binomial(32, 0.4, draws), 8, 40).astype(np.int64)
    count = int(np.searchsorted(np.cumsum(sizes), samplers)) + 1
    sizes = sizes[:count]
    distance = rng.uniform(15_000.0, 40_000.0, count)
    angle = rng.uniform(0.0, 2.0 * math.pi, count)
    lat, lon = unproject(distance * np.cos(angle), distance * np.sin(angle), lat0, lon0)
    arrive = 6 * 60 + distance / 1000.0 / 45.0 * 60.0 + rng.uniform(0, 60, count)
    arrive = np.clip(np.ceil(arrive / 15.0) * 15.0, 6 * 60 + 30, 9 * 60).astype(np.int64)
    leave = (14 * 60 + 30 * rng.integers(0, 13, count)).astype(np.int64)
    return pl.DataFrame(
        {
            "team_id": _ids("T", count, 3),
            "samplers": sizes,
            "available_from": pl.Series(arrive),
            "available_to": pl.Series(leave),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "home_visit": np.zeros(count, dtype=bool),
            "name": [f"医疗队第{k}组 (synthetic)" for k in range(1, count + 1)],
        }
    ).with_columns(clock_expr(pl.col("available_from")), clock_expr(pl.col("available_to")))


def _home_visit_teams(rng: np.random.Generator, count: int, homes: pl.DataFrame) -> pl.DataFrame:
    """``count`` synthetic two-person home-visit teams based at random residential buildings."""
    base = rng.choice(homes.height, count) if count else np.zeros(0, dtype=np.int64)
    return pl.DataFrame(
        {
            "team_id": _ids("HT", count, 3),
            "samplers": np.full(count, 2, dtype=np.int64),
            "available_from": np.where(rng.random(count) < 0.5, "07:30", "08:00"),
            "available_to": np.where(rng.random(count) < 0.5, "17:30", "18:00"),
            "lat": np.round(homes["lat"].to_numpy()[base], 6),
            "lon": np.round(homes["lon"].to_numpy()[base], 6),
            "home_visit": np.ones(count, dtype=bool),
            "name": [f"上门采样第{k}队 (synthetic)" for k in range(1, count + 1)],
        },
        schema_overrides={"available_from": pl.String, "available_to": pl.String},
    )


def _readme(summary: ImportSummary, extract: Path, command: str) -> str:
    digest = hashlib.sha256(extract.read_bytes()).hexdigest()
    snap = summary.snap
    return f"""# {summary.name}: imported from OpenStreetMap

{ATTRIBUTION}. The buildings, sampling points and `{STREET_FILE}` in this folder are \
derived from OpenStreetMap data and are available under the Open Database Licence
(https://opendatacommons.org/licenses/odbl/1-0/); keep this attribution with them.

## How it was made

    {command}

from `{extract.name}` (SHA-256 `{digest}`), \
with natplan's importer (`sampling/osm/importer.py`; deterministic: the same extract, arguments and seed give
byte-identical files).

## What is real and what is estimated or synthetic

* **Real (OSM)**: building footprints and positions (centroids), open spaces used as candidate
  sampling points and their names, and `{STREET_FILE}`: the walkable streets (the header's
  `distance = "street"` reads them) and every building's outline, simplified within 1 m
  (the map draws them under the streets).
* **Estimated**: residents per building = footprint m² × levels ÷ 36.5 m² per person
  (levels from `building:levels`, else height ÷ 3 m, else 6), scaled to the total below.
  `building=yes` counts as a home unless it carries a non-residential tag or stands inside
  a school, hospital, campus, park or commercial/industrial site; office, commercial,
  retail, industrial, school, university, hospital, church, hotel … buildings and
  footprints under 30 m² are not imported.
* **Synthetic**: grids (runs of ≈ 350 households along a Hilbert curve), medical and
  home-visit teams (names marked "synthetic"), home-visit households (≈ 2 % of households),
  `max_tables` (open-space area ÷ 150 m², 2–10) and `max_open_points` (residents ÷ 2,500).

## Figures

* {summary.buildings_seen:,} building footprints: {summary.buildings:,} imported as homes, \
{summary.skipped_tag:,} non-residential by tag, {summary.skipped_site:,} `building=yes` inside \
non-residential sites, {summary.skipped_small:,} under 30 m².
* Residents {summary.residents:,} (floor-area estimate before scaling: \
{summary.residents_estimated:,.0f}) in {summary.grids:,} grids.
* {summary.points:,} candidate points with up to {summary.tables_max:,} tables; \
max_open_points {summary.max_open_points:,}.
* {summary.teams:,} medical teams with {summary.samplers:,} samplers; \
{summary.home_visit_teams:,} home-visit teams for {summary.home_visit_households:,} households.
* Streets: {summary.street_nodes:,} nodes, {summary.street_edges:,} edges \
({summary.street_fragment_nodes:,} nodes in fragments cut off by the extract's border dropped); \
{summary.outlines:,} building outlines.
* Snap to the nearest street: buildings max {snap.building_snap_max_m:.0f} m, \
mean {snap.building_snap_mean_m:.1f} m; points max {snap.point_snap_max_m:.0f} m, \
mean {snap.point_snap_mean_m:.1f} m.
* Observed detour factor (street ÷ straight line, resident-weighted, pairs ≥ 100 m apart): \
median {snap.detour_median:.2f}, mean {snap.detour_mean:.2f}.
* Buildings with no candidate point within the 15-minute street walk: \
{summary.buildings_without_point:,}.
"""
