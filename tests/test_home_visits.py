"""Home-visit stage invariants on generated scenarios and yuci-street."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from sampling import load_scenario
from sampling.scenario.model import Scenario
from sampling.stages.assignment import assign
from sampling.stages.home_visits import HomeVisitPlan, plan_home_visits
from solver.routing import VisitReason
from tests.scenario_strategies import scenario_tables, write_tables

ROOT = Path(__file__).resolve().parents[1]
REASONS = {r.value for r in VisitReason}


def check_visits(scenario: Scenario, plan: HomeVisitPlan) -> None:
    """Every household served once or listed with a reason; times obey windows and hours."""
    header = scenario.header.home_visits
    visits = plan.visits
    assert visits["household_id"].to_list() == scenario.home_visits["household_id"].to_list()
    served = visits.filter(pl.col("team_id").is_not_null())
    unserved = visits.filter(pl.col("team_id").is_null())
    assert served["unserved_reason"].is_null().all()
    assert set(unserved["unserved_reason"].to_list()) <= REASONS
    assert served.height + unserved.height == scenario.home_visits.height
    # service time adds up: end − start = setup + persons × swab time (whole seconds)
    service = ((header.setup_min + served["persons"] * header.swab_min_per_person) * 60).round()
    assert ((served["end_s"] - served["start_s"]) == service.cast(pl.Int64)).all()
    assert (served["start_s"] >= served["arrive_s"]).all()
    # windows and team hours hold
    teams = scenario.teams.select("team_id", "available_from", "available_to")
    joined = served.join(teams, on="team_id").join(
        scenario.home_visits.select("household_id", "window_start", "window_end"), on="household_id"
    )
    assert (joined["start_s"] >= joined["available_from"] * 60).all()
    assert (joined["end_s"] <= joined["available_to"] * 60).all()
    windowed = joined.filter(pl.col("window_start").is_not_null())
    assert (windowed["start_s"] >= windowed["window_start"] * 60).all()
    assert (windowed["start_s"] <= windowed["window_end"] * 60).all()
    # each team's stops are numbered 1..k, in time order, and the routes table agrees
    for team_id, rows in served.group_by("team_id"):
        rows = rows.sort("seq")
        assert rows["seq"].to_list() == list(range(1, rows.height + 1)), team_id
        assert (rows["start_s"].diff().drop_nulls() > 0).all()
        if header.max_stops is not None:
            assert rows.height <= header.max_stops
    counted = served.group_by("team_id").agg(pl.len().alias("n"))
    routes = plan.routes.join(counted, on="team_id", how="full", coalesce=True)
    assert (routes["stops"] == routes["n"]).all()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tables=scenario_tables())
def test_generated_home_visits(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pl.DataFrame]
) -> None:
    scenario = load_scenario(write_tables(tmp_path_factory.mktemp("hv"), tables))
    assignment = assign(scenario, time_limit=2.0)
    plan = plan_home_visits(scenario, assignment, time_limit=5.0)
    check_visits(scenario, plan)
    again = plan_home_visits(scenario, assignment, time_limit=5.0)
    assert again.visits.equals(plan.visits)


def test_yuci_street_every_household_visited() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "yuci-street")
    assignment = assign(scenario, time_limit=2.0)
    plan = plan_home_visits(scenario, assignment, time_limit=20.0)
    check_visits(scenario, plan)
    assert plan.kpis["households_served"] == scenario.home_visits.height == 307
    assert plan.kpis["home_visit_persons_served"] == int(scenario.home_visits["persons"].sum())


def test_after_queues_visits_wait_for_the_point_to_finish(tmp_path: Path) -> None:
    import shutil

    from sampling.stages.planning import plan_campaign

    folder = tmp_path / "yuci"
    shutil.copytree(ROOT / "scenarios" / "yuci-street", folder)
    header = folder / "scenario.toml"
    header.write_text(
        header.read_text(encoding="utf-8") + "\n[home_visits]\nafter_queues = true\n",
        encoding="utf-8",
    )
    scenario = load_scenario(folder)
    plan = plan_campaign(scenario, time_limit=3.0)
    check_visits(scenario, plan.home_visits)
    visits = plan.home_visits.visits.join(
        scenario.home_visits.select("household_id", "window_start"), on="household_id"
    ).filter(pl.col("team_id").is_not_null() & pl.col("window_start").is_null())
    finish = plan.assignment.assignments.select("building_id", "point_id").join(
        plan.day.points.select("point_id", "finish_min"), on="point_id"
    )
    joined = visits.join(finish, on="building_id")
    assert joined.height > 0
    assert (joined["start_s"] >= joined["finish_min"] * 60).all()
