"""Day stage invariants through the whole pipeline: staffing, timetable, simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from sampling import load_scenario
from sampling.clock import format_clock
from sampling.scenario.model import Scenario
from sampling.stages.planning import CampaignPlan, plan_campaign
from tests.scenario_strategies import scenario_tables, write_tables

ROOT = Path(__file__).resolve().parents[1]


def check_day(scenario: Scenario, plan: CampaignPlan) -> None:
    """Shifts, calls and simulated queues obey the scenario's rules."""
    header = scenario.header
    window = header.window
    day = plan.day
    shifts, calls = day.shifts, day.timetable
    teams = scenario.teams.filter(~pl.col("home_visit"))
    # nobody works outside their team's hours, shifts are within the limit and the window;
    # overtime rows run from the window end, only for samplers on duty at its last block
    joined = shifts.join(
        teams.select("team_id", "available_from", "available_to", "samplers"), on="team_id"
    )
    assert joined.height == shifts.height
    regular = joined.filter(~pl.col("overtime"))
    extra = joined.filter(pl.col("overtime"))
    assert (regular["start_min"] >= regular["available_from"]).all()
    assert (regular["end_min"] <= regular["available_to"]).all()
    assert (regular["end_min"] - regular["start_min"] <= header.max_shift_min + 30).all()
    assert (regular["start_min"] >= window.start).all()
    assert (regular["end_min"] <= window.end).all()
    assert (extra["start_min"] == window.end).all() and (extra["end_min"] > window.end).all()
    for row in extra.iter_rows(named=True):
        on_duty = regular.filter(
            (pl.col("team_id") == row["team_id"]) & (pl.col("point_id") == row["point_id"])
        )
        assert int(on_duty["tables"].sum()) >= row["tables"], row
    # overtime is counted
    minutes = int((extra["tables"] * (extra["end_min"] - extra["start_min"])).sum())
    assert day.kpis["sampler_overtime_min"] == minutes
    assert day.kpis["samplers_overtime"] == int(extra["tables"].sum())
    # a team never has more samplers on duty at once than it has
    for team_id, rows in regular.group_by("team_id"):
        size = int(rows["samplers"][0])
        for minute in range(window.start, window.end, 10):
            on = rows.filter((pl.col("start_min") <= minute) & (pl.col("end_min") > minute))
            assert int(on["tables"].sum()) <= size, team_id
    # every table of every open point is staffed all day, or the shortfall says how many miss
    points = plan.assignment.points.filter(pl.col("open") & (pl.col("tables") > 0))
    for row in points.iter_rows(named=True):
        mine = regular.filter(pl.col("point_id") == row["point_id"])
        short = day.shortfall.filter(pl.col("point_id") == row["point_id"])
        for minute in range(window.start, window.end, 10):
            staffed = int(
                mine.filter((pl.col("start_min") <= minute) & (pl.col("end_min") > minute))[
                    "tables"
                ].sum()
            )
            missing = int(
                short.filter((pl.col("start_min") <= minute) & (pl.col("end_min") > minute))[
                    "missing_samplers"
                ].sum()
            )
            assert staffed + missing >= row["tables"], (row["point_id"], minute)
    # the summary says where and when tables stand without a sampler, as the rows do
    short_rows = day.shortfall
    assert day.kpis["shortfall_points"] == short_rows["point_id"].n_unique()
    if short_rows.height:
        assert day.kpis["shortfall_from"] == format_clock(int(short_rows["start_min"].min()))
        assert day.kpis["shortfall_to"] == format_clock(int(short_rows["end_min"].max()))
    else:
        assert day.kpis["shortfall_from"] == day.kpis["shortfall_to"] == ""
    # every call is inside the window, or after it only in overtime, while the point's
    # samplers are on duty (a shift or an overtime row covers the call, or its queue)
    assert (calls["call_start_min"] >= window.start).all()
    if header.assignment.overflow == "unserved":
        assert (calls["call_end_min"] <= window.end).all()
    assert (calls["call_end_min"] > calls["call_start_min"]).all()
    late = calls.filter(pl.col("call_start_min") >= window.end)
    assert day.kpis["residents_overtime"] == int(late["residents"].sum())
    duty = shifts.group_by("point_id").agg(
        pl.col("start_min").min().alias("on"), pl.col("end_min").max().alias("off")
    )
    on_duty = calls.join(duty, on="point_id", how="left")
    assert on_duty["on"].null_count() == 0
    assert (on_duty["call_start_min"] < on_duty["off"]).all()
    # calls run ahead of service by the planned wait, which stays within the wait limit
    ahead = header.sampling.queue_wait_limit_min
    assert (on_duty["call_end_min"] + ahead >= on_duty["on"]).all()
    served = plan.assignment.assignments.filter(pl.col("point_id").is_not_null())
    called = calls.group_by("building_id").agg(pl.col("residents").sum().alias("called"))
    check = served.join(called, on="building_id", how="left").with_columns(
        pl.col("called").fill_null(0)
    )
    missing = check.join(
        day.not_called.select("building_id", "not_called"), on="building_id", how="left"
    )
    missing = missing.with_columns(pl.col("not_called").fill_null(0))
    # called + reported not called = walk-in, for every served building: nothing dropped
    assert (missing["called"] + missing["not_called"] == missing["walk_in"]).all()
    assert day.kpis["residents_not_called"] == int(day.not_called["not_called"].sum())
    # each call goes to the building's own point; yellow calls carry only yellow residents' count
    pairs = calls.join(
        served.select("building_id", pl.col("point_id").alias("assigned")), on="building_id"
    )
    assert (pairs["point_id"] == pairs["assigned"]).all()
    yellow_called = (
        calls.filter(pl.col("yellow_code")).group_by("building_id").agg(pl.col("residents").sum())
    )
    limit = served.select("building_id", "yellow_code")
    over = yellow_called.join(limit, on="building_id").filter(
        pl.col("residents") > pl.col("yellow_code")
    )
    assert over.height == 0
    # simulated waits are non-negative and the summary's counts match the points table
    p95 = day.points["sim_p95_wait_min"].drop_nans().drop_nulls()
    assert (p95 >= 0).all()
    limit_min = header.sampling.queue_wait_limit_min
    assert day.kpis["points_p95_over_limit"] == int((p95 > limit_min).sum())


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tables=scenario_tables())
def test_generated_scenarios_day_invariants(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pl.DataFrame]
) -> None:
    scenario = load_scenario(write_tables(tmp_path_factory.mktemp("day"), tables))
    check_day(scenario, plan_campaign(scenario, time_limit=3.0))


def test_yuci_street_day_meets_targets() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "yuci-street")
    plan = plan_campaign(scenario, time_limit=5.0)
    check_day(scenario, plan)
    kpis = plan.day.kpis
    # every served building has a call inside the window, no point is over capacity
    assert kpis["residents_not_called"] == 0
    assert kpis["points_p95_over_limit_with_capacity"] == 0
    assert kpis["staffing_status"] == "covered"
    finish = plan.day.points["finish_min"].to_numpy()
    bound = plan.day.points["finish_lower_bound_min"].to_numpy()
    start = scenario.header.window.start
    # overall finish within 5 % of the capacity lower bound (measured from the window start)
    assert (finish.max() - start) <= 1.05 * (bound.max() - start)
    assert np.all(finish >= bound - 1)
