"""Assignment stage properties on generated scenarios (hypothesis) and a hand-checked one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from sampling import load_scenario
from sampling.cli import main
from sampling.scenario.model import Scenario
from sampling.stages.assignment import assign, staffable_tables
from tests.scenario_strategies import scenario_tables, write_tables

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check_plan_invariants(scenario: Scenario, seed: int = 0) -> None:
    """Every property an assignment must have, whatever the scenario."""
    plan = assign(scenario, time_limit=5.0, seed=seed)
    a, p = plan.assignments, plan.points
    header = scenario.header
    # each building exactly once, assigned or unserved with a reason
    assert a["building_id"].to_list() == scenario.buildings["building_id"].to_list()
    served = a["point_id"].is_not_null()
    assert (served ^ a["unserved_reason"].is_not_null()).all()
    # residents conserved: walk-in + home visit = residents; assigned + unserved = walk-in
    assert (a["walk_in"] + a["home_visit_persons"] == a["residents"]).all()
    assert int(a.filter(served)["walk_in"].sum()) + int(a.filter(~served)["walk_in"].sum()) == int(
        a["walk_in"].sum()
    )
    # walking limit holds for every assignment not flagged beyond it
    within = a.filter(served & ~pl.col("beyond_limit"))
    assert (within["walk_m"] <= header.walking.limit_m + 1e-6).all()
    # capacity: load per point = assigned walk-in; load ≤ tables × table capacity unless
    # residents were placed beyond it (overtime); tables ≤ max
    unit = math.floor(header.table_capacity)
    load = a.filter(served).group_by("point_id").agg(pl.col("walk_in").sum().alias("assigned"))
    merged = p.join(load, on="point_id", how="left").with_columns(pl.col("assigned").fill_null(0))
    assert (merged["assigned"] == merged["load"]).all()
    if plan.overflow.height == 0 or header.assignment.overflow == "unserved":
        assert (merged["load"] <= merged["tables"] * unit).all()
    else:  # the overtime residents are exactly those placed beyond the tables' capacity
        excess = (merged["load"] - merged["tables"] * unit).clip(lower_bound=0).sum()
        assert excess <= int(plan.overflow["walk_in"].sum())
    assert (merged["tables"] <= merged["max_tables"]).all()
    # tables within the staff, or, when no table can be staffed at all (the plan then asks
    # for every table's samplers), within what the residents in reach need at the target
    staffable = staffable_tables(scenario)
    if staffable > 0:
        assert int(p["tables"].sum()) <= staffable
    else:
        in_reach = a.filter(pl.col("unserved_reason").fill_null("") != "out_of_reach")
        need = int(in_reach["walk_in"].sum()) / (unit * header.sampling.target_utilisation)
        assert int(p["tables"].sum()) <= max(1, math.ceil(need - 1e-9))
    # overtime: every walk-in building in reach of an open point with tables has a point
    if header.assignment.overflow == "overtime" and plan.status in ("optimal", "feasible"):
        assert a.filter(pl.col("unserved_reason") == "capacity").height == 0
    # closed points unused, required points open, the open-point limit holds
    assert not p.filter(pl.col("status") == "closed")["open"].any()
    if plan.status != "infeasible":
        assert p.filter(pl.col("status") == "required")["open"].all()
    if header.sampling.max_open_points is not None and plan.status != "infeasible":
        assert int(p["open"].sum()) <= header.sampling.max_open_points
    used = set(a.filter(served)["point_id"].to_list())
    assert used <= set(p.filter(pl.col("open"))["point_id"].to_list())
    # the reported bound is a bound
    assert plan.lower_bound <= plan.objective + 1e-6 * max(1.0, abs(plan.objective))
    # same seed, same plan
    again = assign(scenario, time_limit=5.0, seed=seed)
    assert again.assignments.equals(a) and again.points.equals(p)


@SETTINGS
@given(tables=scenario_tables())
def test_generated_scenarios_keep_every_invariant(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pl.DataFrame]
) -> None:
    root = write_tables(tmp_path_factory.mktemp("asg"), tables)
    check_plan_invariants(load_scenario(root))


TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


@pytest.mark.skipif(not TINY.exists(), reason="scenarios/tiny not present")
def test_tiny_scenario_plan_through_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["plan", str(TINY), "--out", str(out), "--time-limit", "5"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assignments = pl.read_parquet(out / "assignments.parquet")
    assert summary["residents_total"] == int(assignments["residents"].sum())
    assert (
        summary["residents_assigned"] + summary["residents_unserved"]
        == summary["residents_walk_in"]
    )
    assert summary["status"] == "optimal" and summary["gap"] <= 1e-6
    for key in (
        "coverage",
        "walk_m_mean",
        "walk_m_p95",
        "walk_m_max",
        "points_open",
        "tables_used",
        "objective",
        "lower_bound",
        "seconds",
    ):
        assert key in summary


def _hand_derivation() -> dict[str, str]:
    """The machine-readable block at the end of scenarios/tiny/README.md."""
    text = (TINY / "README.md").read_text(encoding="utf-8")
    block = text.split("```text", 1)[1].split("```", 1)[0]
    return dict(line.split(": ", 1) for line in block.strip().splitlines())


@pytest.mark.skipif(not TINY.exists(), reason="scenarios/tiny not present")
def test_tiny_reaches_the_hand_derived_optimum() -> None:
    expected = _hand_derivation()
    plan = assign(load_scenario(TINY), time_limit=5.0)
    a = plan.assignments
    got = {b: p for b, p in zip(a["building_id"], a["point_id"], strict=True) if p is not None}
    want = dict(pair.split("=") for pair in expected["assignment"].split())
    assert got == want
    assert (
        a.filter(pl.col("point_id").is_null())["building_id"].to_list()
        == expected["unserved"].split()
    )
    walking = float((a["walk_in"] * a["walk_m"]).sum())
    assert walking == pytest.approx(float(expected["walking_resident_metres"]))
    loads = dict(pair.split("=") for pair in expected["load"].split())
    point_load = dict(zip(plan.points["point_id"], plan.points["load"], strict=True))
    assert {k: str(point_load[k]) for k in loads} == loads
    assert plan.status == "optimal" and plan.gap <= 1e-9


def test_failed_plan_leaves_earlier_output_intact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"earlier": true}')
    assert main(["plan", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert json.loads((out / "summary.json").read_text()) == {"earlier": True}


NANJING = Path(__file__).resolve().parents[1] / "scenarios" / "nanjing-xinjiekou"


def test_street_distance_scenario_plans_within_the_limit() -> None:
    scenario = load_scenario(NANJING)
    assert scenario.header.distance == "street"
    plan = assign(scenario, time_limit=3.0)
    a = plan.assignments.filter(pl.col("point_id").is_not_null())
    assert a.height > 0
    assert (a["walk_m"] <= scenario.header.walking.limit_m + 1e-6).all()
    # street walks are never shorter than the straight line to the assigned point
    points = scenario.points.select(
        "point_id", pl.col("lat").alias("plat"), pl.col("lon").alias("plon")
    )
    joined = a.join(points, on="point_id")
    from sampling.scenario.model import project

    lat0, lon0 = scenario.origin
    bx, by = project(joined["lat"].to_numpy(), joined["lon"].to_numpy(), lat0, lon0)
    px, py = project(joined["plat"].to_numpy(), joined["plon"].to_numpy(), lat0, lon0)
    straight = ((bx - px) ** 2 + (by - py) ** 2) ** 0.5
    assert (joined["walk_m"].to_numpy() >= straight - 1e-6).all()
    assert plan.stats.street is not None and plan.stats.street.detour_median >= 1.0
