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
from sampling.output.write import write_plan
from sampling.report import plan_warnings
from sampling.stages.assignment import UnservedReason
from sampling.stages.planning import plan_campaign
from solver.location.cover import suggest_sites

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
    assert summary["points_to_add_for_reach"] == len(suggested) > 0
    assert sum(s["residents"] for s in suggested) == summary["residents_out_of_reach"]
    assert sum(s["buildings"] for s in suggested) == far.height
    # each with the tables its residents need at the target utilisation (at least one)
    header = scenario.header
    per_table = header.table_capacity * header.sampling.target_utilisation
    for s in suggested:
        assert s["tables"] == max(1, math.ceil(s["residents"] / per_table))
    # every out-of-reach building is within the straight-line reach of a suggested point
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
    # and the grid leader's list, in the building's escalated status
    for b in far.iter_rows(named=True):
        lines = (out / "grids" / f"{b['grid_id']}.csv").read_text("utf-8").splitlines()
        row = next(line for line in lines if line.startswith(f"{b['building_id']},"))
        assert "HQ can set up a temporary point near" in row
