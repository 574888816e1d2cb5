"""The campaign pipeline: run each planning stage on a scenario and collect one result."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import polars as pl

from sampling.clock import format_clock
from sampling.progress import Progress, stage
from sampling.report import alerts, percent
from sampling.scenario.model import Scenario
from sampling.stages.assignment import AssignmentPlan, assign, suggestion_rows
from sampling.stages.day import DayPlan, plan_day
from sampling.stages.home_visits import HomeVisitPlan, plan_home_visits
from sampling.stages.kpis import assignment_kpis
from sampling.stages.limits import wall_safety
from sampling.stages.transport import TransportPlan, plan_transport


@dataclass(frozen=True)
class CampaignPlan:
    """Everything planned for one scenario; later stages add their results here."""

    scenario: Scenario
    assignment: AssignmentPlan
    day: DayPlan
    home_visits: HomeVisitPlan
    seed: int
    time_limit: float
    """Work budget per solver stage (seconds of work; :mod:`sampling.stages.limits`)."""
    wall_limit: float
    """Wall-clock safety stop per solver stage, seconds."""
    seconds: dict[str, float] = field(default_factory=dict)
    transport: TransportPlan | None = None  # None: the scenario has no labs and vehicles

    def points_table(self) -> pl.DataFrame:
        """Every candidate point with its assignment and day figures (``points.parquet``)."""
        day = self.day.points.select(
            "point_id",
            pl.col("finish").alias("finish"),
            "finish_lower_bound",
            "sim_finish",
            "start",
            pl.col("staff_shifts").alias("staff"),
            "teams",
            "yellow_channel",
            "expected_peak_queue",
            "expected_max_wait_min",
            "sim_p50_wait_min",
            "sim_p95_wait_min",
            "sim_peak_queue",
            "sim_finish_p95",
            "late_min",
            "late",
            "sim_after_close",
            "over_capacity",
            "not_called",
            "stranded",
            "overtime_residents",
            "deficit",
        )
        return self.assignment.points.join(day, on="point_id", how="left", maintain_order="left")

    def summary(self) -> dict[str, object]:
        """The plan's headline figures, its alerts (:func:`sampling.report.alerts`, computed
        from the figures themselves) and per-stage wall-clock seconds."""
        header = self.scenario.header
        figures: dict[str, object] = {
            "scenario": header.name,
            "scenario_dir": str(self.scenario.root.resolve()),  # readable from any folder
            "date": header.date.isoformat(),
            "coordinates": header.coordinates,
            "window_start": format_clock(header.window.start),
            "window_end": format_clock(header.window.end),
            "walk_limit_m": header.walking.limit_m,
            "walk_limit_min": header.walking.limit_min,
            "walk_reach_m": header.walking.straight_reach_m,
            "map": header.map.model_dump(exclude_none=True),
            "seed": self.seed,
            "time_limit_s": self.time_limit,
            "wall_limit_s": self.wall_limit,
            **assignment_kpis(self.assignment, header),
            "suggested_points": suggestion_rows(self.assignment.suggested_points),
            **self.day.kpis,
            **self.home_visits.kpis,
            **(self.transport.kpis if self.transport is not None else {}),
        }
        figures["alerts"] = alerts(figures)
        figures["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        return figures


log = logging.getLogger(__name__)


def _percent(value: float) -> str:
    return percent(value, 2) if math.isfinite(value) else "none"


def plan_campaign(
    scenario: Scenario,
    *,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> CampaignPlan:
    """Plan ``scenario``: assignment; staffing, call timetable and simulation; home visits.

    ``time_limit`` is the work budget of the assignment engine (seconds of work, the same plan
    on any machine) and, up to 10 s, of staffing (its arc count); routing and transport have
    iteration budgets of their own.
    ``wall_limit`` is every solver stage's wall-clock safety stop (default
    :func:`sampling.stages.limits.wall_safety`); a stage it cuts is reported.
    ``progress`` is told when each stage starts and ends (:func:`sampling.progress.stage`:
    ``assignment``, ``day``, ``home_visits``, ``transport``).
    """
    wall = wall_safety(time_limit, wall_limit)
    started = time.perf_counter()
    name = scenario.header.name
    log.info(
        "%s: assignment of %d buildings to %d candidate points",
        name,
        scenario.buildings.height,
        scenario.points.height,
    )
    with stage(progress, "assignment", limit_s=wall, budget_s=time_limit) as figures:
        assignment = assign(scenario, time_limit=time_limit, wall_limit=wall, seed=seed)
        figures.update(assignment_kpis(assignment, scenario.header))
    log.info(
        "assignment %s (gap %s) in %.1f s",
        assignment.status,
        _percent(assignment.gap),
        time.perf_counter() - started,
    )
    with stage(progress, "day") as figures:
        day = plan_day(scenario, assignment, time_limit=min(time_limit, 10.0), seed=seed)
        figures.update(day.kpis)
    log.info(
        "staffing, call timetable and queue simulation done in %.1f s",
        day.stats.staffing_seconds + day.stats.timetable_seconds,
    )
    log.info("home-visit routing of %d households", scenario.home_visits.height)
    with stage(progress, "home_visits", limit_s=wall) as figures:
        visits = plan_home_visits(
            scenario,
            assignment,
            point_finish=day.points.select("point_id", "finish_min"),
            time_limit=wall,
            seed=seed,
        )
        figures.update(visits.kpis)
    log.info("home-visit routing done in %.1f s", visits.stats.seconds)
    transport = None  # tubes to the labs (issue 16): only with labs and vehicles
    if scenario.labs is not None and scenario.vehicles is not None:
        with stage(progress, "transport", limit_s=wall) as figures:
            transport = plan_transport(scenario, assignment, day, visits, time_limit=wall)
            figures.update(transport.kpis if transport is not None else {})
    seconds = {
        "candidates": assignment.stats.candidates_seconds,
        "assignment": assignment.stats.assignment_seconds,
        "levelling": assignment.stats.levelling_seconds,
        "staffing": day.stats.staffing_seconds,
        "timetable_and_simulation": day.stats.timetable_seconds,
        "home_visits": visits.stats.seconds,
    }
    if transport is not None:
        seconds["transport"] = transport.stats.get("transport_seconds", 0.0)
    seconds["plan_total"] = time.perf_counter() - started
    return CampaignPlan(
        scenario, assignment, day, visits, seed, time_limit, wall, seconds, transport=transport
    )
