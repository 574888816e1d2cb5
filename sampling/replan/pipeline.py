"""``natplan replan``: read the saved plan and the day's reports, re-plan, write NEW."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from sampling.errors import ScenarioError
from sampling.replan.catchup import catchup_table
from sampling.replan.changes import diff_plans
from sampling.replan.costs import ChangeCosts
from sampling.replan.events import Event, read_events
from sampling.replan.progress import Progress, read_progress
from sampling.replan.replan import Replanned, replan
from sampling.replan.saved import SavedPlan, read_saved_plan
from sampling.replan.state import Situation, situation_at
from sampling.replan.summary import replan_summary
from sampling.replan.transport import replan_transport, transport_figures, transport_tables
from sampling.scenario.loader import load_scenario
from sampling.scenario.model import Scenario
from sampling.stages.limits import wall_safety

__all__ = ["ReplanResult", "load_inputs", "run_replan"]


@dataclass(frozen=True)
class ReplanResult:
    """Everything a re-plan produced, before or after writing."""

    saved: SavedPlan
    situation: Situation
    plan: Replanned
    changes: pl.DataFrame
    catchup: pl.DataFrame
    summary: dict[str, Any]


def load_inputs(
    out: Path,
    *,
    scenario_dir: Path | None = None,
    progress: tuple[Path, ...] = (),
    events: Path | None = None,
) -> tuple[SavedPlan, Scenario, Progress, tuple[Event, ...]]:
    """The saved plan, its scenario (``scenario_dir`` or the one the summary names), the
    progress reports and the events; every input problem raised as a ScenarioError."""
    saved = read_saved_plan(out)
    folder = Path(scenario_dir) if scenario_dir is not None else saved.scenario_dir
    if not folder.is_dir():
        raise ScenarioError.single(
            str(folder),
            "the plan's scenario folder is not here",
            "give it with --scenario DIR",
        )
    scenario = load_scenario(folder)
    points = set(scenario.points["point_id"].to_list())
    buildings = set(scenario.buildings["building_id"].to_list())
    reports = Progress.empty()
    for path in progress:
        reports = reports.merged(read_progress(Path(path), points=points, buildings=buildings))
    found = read_events(Path(events), scenario) if events is not None else ()
    return saved, scenario, reports, found


def run_replan(
    saved: SavedPlan,
    scenario: Scenario,
    at: int,
    progress: Progress,
    events: tuple[Event, ...],
    *,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
    costs: ChangeCosts | None = None,
) -> ReplanResult:
    """Re-plan the rest of the day at ``at`` (minutes); nothing is written. ``costs``: what a
    change costs (default :class:`~sampling.replan.reassign.ChangeCosts`)."""
    window = scenario.header.window
    if at < window.start:
        raise ScenarioError.single("--at", "is before the sampling window starts", str(at))
    s = situation_at(scenario, saved, at, progress, events)
    wall = wall_safety(time_limit, wall_limit)
    plan = replan(
        scenario, saved, s, time_limit=time_limit, wall_limit=wall, seed=seed, costs=costs
    )
    moved = replan_transport(scenario, saved, plan.tables, at, time_limit=wall)
    plan = replace(
        plan,
        tables=plan.tables | (transport_tables(moved) if moved is not None else {}),
        figures=plan.figures | {"transport": transport_figures(moved, saved, at)},
    )
    sealed = frozenset(s.buildings.filter(pl.col("sealed"))["building_id"].to_list())
    changes = diff_plans(saved.tables, plan.tables, at, scenario.header.timetable.slot_min, sealed)
    catchup = catchup_table(s, plan.tables)
    summary = replan_summary(saved, s, plan, changes, replanned_from=str(saved.folder))
    return ReplanResult(saved, s, plan, changes, catchup, summary)
