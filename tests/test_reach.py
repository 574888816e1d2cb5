"""Temporary points for the residents out of reach (buildings beyond the walking limit of every
candidate point): the greedy cover and what a plan says of it.

The cover: every building ends within reach of a suggested site standing at one of them, each
building counted once, sites in the order of what they add. The plan: the suggestions reach
every out-of-reach building with walk-in residents, the summary's counts add up, and the
console, the index, the map and the grid lists carry the remedy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.spatial import cKDTree

from sampling import load_scenario
from sampling.osm.extract import scenario_streets
from sampling.output.write import write_plan
from sampling.report import plan_warnings
from sampling.stages.assignment import UnservedReason, building_xy, reach_suggestions
from sampling.stages.planning import plan_campaign
from solver.location.cover import cover_sites, suggest_sites
from solver.streets import street_pairs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", range(6))
def test_greedy_cover_reaches_every_building(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = np.concatenate([rng.normal(0.0, 300.0, (40, 2)), rng.uniform(-6000.0, 6000.0, (30, 2))])
    weight = rng.integers(0, 80, xy.shape[0])
    reach = 900.0
    cover = suggest_sites(xy, weight, reach)
    n = xy.shape[0]
    assert len(set(cover.site.tolist())) == cover.site.shape[0]
    assert (cover.covered_by >= 0).all() and (cover.covered_by < cover.site.shape[0]).all()
    # every building within reach of the site that covers it
    gap = np.hypot(*(xy - xy[cover.site[cover.covered_by]]).T)
    assert (gap <= reach + 1e-9).all()
    # each building counted once, by the site that reached it first
    assert int(cover.count.sum()) == n
    assert np.array_equal(np.bincount(cover.covered_by, minlength=cover.site.shape[0]), cover.count)
    assert np.array_equal(
        np.bincount(cover.covered_by, weights=weight, minlength=cover.site.shape[0]).astype(int),
        cover.weight,
    )
    # greedy: the first site reaches the most residents any site reaches, and gains fall
    tree = cKDTree(xy)
    best = max(int(weight[tree.query_ball_point(xy[i], reach)].sum()) for i in range(n))
    assert int(cover.weight[0]) == best
    assert (np.diff(cover.weight) <= 0).all()


def test_greedy_cover_edge_cases() -> None:
    empty = suggest_sites(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), 500.0)
    assert empty.site.shape == (0,) and empty.covered_by.shape == (0,)
    far = np.array([[0.0, 0.0], [5000.0, 0.0]])
    two = suggest_sites(far, np.array([3, 7]), 500.0)
    assert two.site.tolist() == [1, 0] and two.weight.tolist() == [7, 3]
    zero = suggest_sites(far, np.array([0, 0]), 500.0)  # weightless buildings still need a point
    assert sorted(zero.site.tolist()) == [0, 1]
    with pytest.raises(ValueError):
        suggest_sites(far, np.array([1, 1]), float("nan"))


@pytest.mark.parametrize("seed", range(6))
def test_cover_from_pairs_that_are_not_symmetric(seed: int) -> None:
    """Street walks measured from either end may differ: the cover takes the pairs as given
    (site → building), reaches every building by a pair or its own door, counts it once."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    k = int(rng.integers(0, 4 * n))
    site, building = rng.integers(0, n, k), rng.integers(0, n, k)
    weight = rng.integers(0, 50, n)
    cover = cover_sites(n, site, building, weight)
    reach = {(int(i), int(j)) for i, j in zip(site, building, strict=True)}
    reach |= {(i, i) for i in range(n)}
    assert len(set(cover.site.tolist())) == cover.site.shape[0]
    for j in range(n):
        assert (int(cover.site[cover.covered_by[j]]), j) in reach
    assert np.array_equal(np.bincount(cover.covered_by, minlength=cover.site.shape[0]), cover.count)
    assert int(cover.weight.sum()) == int(weight.sum())
    # the first pick reaches the most weight any site reaches (duplicates counted once)
    best = max(sum(int(weight[j]) for j in range(n) if (i, j) in reach) for i in range(n))
    assert int(cover.weight[0]) == best


def test_street_scenario_suggestions_are_within_a_street_walk() -> None:
    """With ``distance = "street"`` every building a suggestion lists is within the walking
    limit of it along the streets (central Nanjing, every building taken as out of reach);
    the straight-line reach would have claimed buildings no street walk reaches."""
    scenario = load_scenario(ROOT / "scenarios" / "nanjing-xinjiekou")
    assert scenario.header.distance == "street"
    b = scenario.buildings
    assignments = b.select("building_id", "grid_id", "lat", "lon").with_columns(
        pl.col("building_id").cast(pl.String),
        walk_in=b["residents"],
        unserved_reason=pl.lit(UnservedReason.OUT_OF_REACH.value),
    )
    suggested = reach_suggestions(scenario, assignments.filter(pl.col("walk_in") > 0))
    listed = [x for ids in suggested["building_ids"].to_list() for x in ids]
    far = assignments.filter(pl.col("walk_in") > 0)
    assert sorted(listed) == sorted(far["building_id"].to_list())
    assert int(suggested["residents"].sum()) == int(far["walk_in"].sum())
    assert suggested["buildings"].to_list() == [len(x) for x in suggested["building_ids"]]
    # tables split over points no larger than the district's largest (60,000 residents here)
    largest = int(scenario.points["max_tables"].max())
    assert (suggested["points"] * largest >= suggested["tables"]).all()
    assert ((suggested["points"] - 1) * largest < suggested["tables"]).all()
    assert int(suggested["points"].sum()) > suggested.height
    graph = scenario_streets(scenario)
    limit = scenario.header.walking.limit_m
    for row in suggested.iter_rows(named=True):
        ids = pl.Series(row["building_ids"], dtype=pl.String)
        site = building_xy(scenario, pl.Series([row["near_building_id"]]))
        pairs, _ = street_pairs(graph, building_xy(scenario, ids), site, walk_limit_m=limit)
        reached = set(pairs.building.tolist())
        reached |= {i for i, x in enumerate(row["building_ids"]) if x == row["near_building_id"]}
        assert reached == set(range(len(ids)))
    # the straight-line estimate over-claims on these streets
    xy = building_xy(scenario, far["building_id"])
    straight = suggest_sites(
        xy, far["walk_in"].to_numpy(), scenario.header.walking.straight_reach_m
    )
    pairs, _ = street_pairs(graph, xy, xy[straight.site], walk_limit_m=limit)
    by_street = pairs.point == straight.covered_by[pairs.building]
    assert np.unique(pairs.building[by_street]).shape[0] < xy.shape[0]


def test_plan_suggests_points_for_the_residents_out_of_reach(tmp_path: Path) -> None:
    """tiny has a building beyond the walking limit of every candidate point."""
    scenario = load_scenario(ROOT / "scenarios" / "tiny")
    plan = plan_campaign(scenario, time_limit=3)
    out = write_plan(plan, tmp_path / "tiny", lang="en")
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    a = plan.assignment.assignments
    far = a.filter(
        (pl.col("unserved_reason") == UnservedReason.OUT_OF_REACH.value) & (pl.col("walk_in") > 0)
    )
    assert far.height > 0
    assert summary["residents_out_of_reach"] == int(far["walk_in"].sum())
    suggested = summary["suggested_points"]
    assert summary["points_to_add_for_reach"] == sum(s["points"] for s in suggested) > 0
    assert sum(s["residents"] for s in suggested) == summary["residents_out_of_reach"]
    assert sum(s["buildings"] for s in suggested) == far.height
    # each with the tables its residents need at the target utilisation (at least one)
    header = scenario.header
    per_table = header.table_capacity * header.sampling.target_utilisation
    for s in suggested:
        assert s["tables"] == max(1, math.ceil(s["residents"] / per_table))
        assert s["points"] == math.ceil(s["tables"] / int(scenario.points["max_tables"].max()))
    # every out-of-reach building is listed once, within the straight-line reach of its point
    assert sorted(x for s in suggested for x in s["building_ids"]) == sorted(far["building_id"])
    bx, by = scenario.xy(scenario.buildings)
    ids = scenario.buildings["building_id"].to_list()
    row = {b: i for i, b in enumerate(ids)}
    xy = np.column_stack([bx, by])
    at = xy[[row[s["near_building_id"]] for s in suggested]]
    for b in far["building_id"].to_list():
        gap = np.hypot(*(at - xy[row[b]]).T).min()
        assert gap <= scenario.header.walking.straight_reach_m + 1e-6
    # the console, the index and the map say so
    unserved = next(w for w in plan_warnings(summary) if "have no sampling point" in w)
    assert f"{summary['residents_out_of_reach']:,} of them live beyond" in unserved
    assert "temporary point" in unserved
    index = (out / "index.html").read_text("utf-8")
    assert "temporary point" in index and "suggested_points" in index
    page = (out / "map.html").read_text("utf-8")
    assert '"sug"' in page and "suggested temporary point" in page
    assert "np-reached" in page  # each suggestion's popup lists the buildings it reaches
    assert all(f"({b})" in page or b in page for b in far["building_id"].to_list())
    # and the grid leader's list, in the building's escalated status
    for b in far.iter_rows(named=True):
        lines = (out / "grids" / f"{b['grid_id']}.csv").read_text("utf-8").splitlines()
        row = next(line for line in lines if line.startswith(f"{b['building_id']},"))
        assert "HQ can set up a temporary point near" in row
