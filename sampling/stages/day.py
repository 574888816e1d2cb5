"""Day stage: medical teams to points and shifts, a call timetable, and its check by simulation.

Builds on the assignment: open points with their tables, buildings with their point. Staffing
(:mod:`solver.day.staffing`) covers every table for the whole window within team hours and the
shift limit, or reports the shortfall and a capacity plan; the timetable
(:mod:`solver.day.timetable`) calls buildings by grid in slots so the expected queue stays short;
the seeded simulation (:mod:`solver.day.queue_sim`) checks it, and points whose simulated p95 wait
exceeds the limit are re-spread (a bounded number of rounds) or reported as impossible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from sampling.clock import format_clock
from sampling.scenario.model import Scenario
from sampling.scenario.parsing import clock_text
from sampling.stages.assignment import AssignmentPlan
from solver.day.queue_sim import SimParams, repair_timetable, simulate
from solver.day.staffing import StaffingProblem, solve_staffing
from solver.day.timetable import CALLED, NOT_CALLED, TimetableProblem, build_timetable

TEAM_TRAVEL_M_PER_MIN = 500.0  # medical teams come by vehicle, ≈ 30 km/h


@dataclass(frozen=True)
class DayPlan:
    """Result of the day stage; clock columns are ``HH:MM`` text plus ``*_min`` minutes.

    ``shifts``: ``team_id``, ``team_name``, ``point_id``, ``start``, ``end``, ``tables``
    (samplers of that team in that shift, one per table). ``timetable``: one row per call
    (a big building may be called over several slots): ``building_id``, ``grid_id``,
    ``point_id``, ``call_start``, ``call_end``, ``residents``, ``yellow_code`` (true for a
    yellow-code call), ``channel`` (``main`` or ``yellow``). ``points``: per open point,
    expected start and finish, the capacity lower bound on the finish, expected peak queue
    and wait, the yellow channel, simulated waits and finish, and staff. ``shortfall`` and
    ``capacity_plan``: missing samplers by point and time, and the extra ones that would
    cover them. ``not_called``: buildings with residents left without a call (counted from
    the calls: walk-in − called), with the reason.
    """

    shifts: pl.DataFrame
    timetable: pl.DataFrame
    points: pl.DataFrame
    shortfall: pl.DataFrame
    capacity_plan: pl.DataFrame
    not_called: pl.DataFrame
    kpis: dict[str, float | int | str]
    stats: dict[str, float] = field(default_factory=dict)


def _hhmm(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """Add ``HH:MM`` text for minute columns ``<name>_min`` as ``<name>``."""
    return frame.with_columns(clock_text(f"{name}_min").alias(name) for name in names)


def plan_day(
    scenario: Scenario, assignment: AssignmentPlan, *, time_limit: float = 10.0, seed: int = 0
) -> DayPlan:
    """Staff the open points, time the calls and check the queues by simulation."""
    header = scenario.header
    window = header.window
    rate = header.sampling.swabs_per_table_per_hour
    started = time.perf_counter()

    points = assignment.points.filter(pl.col("open") & (pl.col("tables") > 0))
    point_ids = points["point_id"]
    point_index = {pid: k for k, pid in enumerate(point_ids.to_list())}
    all_points = scenario.points.filter(pl.col("point_id").is_in(point_ids.implode()))
    order = all_points["point_id"].to_list()
    px, py = scenario.xy(all_points)
    xy_by_id = {pid: (x, y) for pid, x, y in zip(order, px, py, strict=True)}
    point_xy = np.array([xy_by_id[pid] for pid in point_ids.to_list()], dtype=np.float64).reshape(
        -1, 2
    )
    tables = points["tables"].to_numpy().astype(np.int64)

    teams = scenario.teams.filter(~pl.col("home_visit"))
    tx, ty = scenario.xy(teams)
    staffing = solve_staffing(
        StaffingProblem(
            point_xy=point_xy,
            tables=tables,
            team_samplers=teams["samplers"].to_numpy().astype(np.int64),
            team_from=teams["available_from"].to_numpy().astype(np.int64),
            team_to=teams["available_to"].to_numpy().astype(np.int64),
            team_xy=np.column_stack([tx, ty]) if teams.height else np.zeros((0, 2)),
            window_start=window.start,
            window_end=window.end,
            max_shift_min=int(header.max_shift_min),
            speed_m_per_min=TEAM_TRAVEL_M_PER_MIN,
        ),
        seed=seed,
        time_limit=time_limit,
    )
    staffed_at = time.perf_counter()

    served = assignment.assignments.filter(
        pl.col("point_id").is_not_null() & pl.col("point_id").is_in(point_ids.implode())
    )
    grid_codes = served["grid_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    walk_in = served["walk_in"].to_numpy().astype(np.int64)
    yellow = np.minimum(served["yellow_code"].to_numpy().astype(np.int64), walk_in)
    problem = TimetableProblem(
        building_point=np.array(
            [point_index[p] for p in served["point_id"].to_list()], dtype=np.int64
        ),
        residents=walk_in,
        yellow=yellow,
        elderly=np.minimum(served["elderly"].to_numpy().astype(np.int64), walk_in),
        grid=grid_codes,
        n_points=len(point_index),
        table_edges=staffing.edges,
        tables=staffing.staffed_tables(tables),
        window_start=window.start,
        window_end=window.end,
        rate_per_hour=rate,
        slot_min=header.timetable.slot_min,
        wait_limit_min=header.sampling.queue_wait_limit_min,
        yellow_mode=header.timetable.yellow_mode,
        elderly_first=header.timetable.elderly_first,
    )
    timetable = build_timetable(problem)
    simulation_params = SimParams(
        rate_per_hour=rate,
        service_cv=header.simulation.service_cv,
        late_share=header.simulation.late_share,
        late_mean_min=header.simulation.late_mean_min,
        wait_limit_min=header.sampling.queue_wait_limit_min,
    )
    first = simulate(timetable, simulation_params, seed=seed)
    repaired = repair_timetable(
        problem, timetable, simulation_params, seed=seed, max_rounds=3, simulation=first
    )
    timetable, sim = repaired.timetable, repaired.simulation
    timed_at = time.perf_counter()

    team_ids = teams["team_id"]
    team_names = teams["name"]
    shifts = _hhmm(
        pl.DataFrame(
            {
                "team_id": team_ids.gather(staffing.team),
                "team_name": team_names.gather(staffing.team),
                "point_id": point_ids.gather(staffing.point),
                "start_min": staffing.start.astype(np.int32),
                "end_min": staffing.end.astype(np.int32),
                "tables": staffing.samplers,
            }
        ),
        "start",
        "end",
    ).select("team_id", "team_name", "point_id", "start", "end", "tables", "start_min", "end_min")
    shifts = shifts.sort("point_id", "start_min", "team_id")

    calls = (
        _hhmm(
            pl.DataFrame(
                {
                    "building_id": served["building_id"].gather(timetable.part_building),
                    "grid_id": served["grid_id"].gather(timetable.part_building),
                    "point_id": point_ids.gather(timetable.part_point),
                    "call_start_min": timetable.part_start.astype(np.int32),
                    "call_end_min": timetable.part_end.astype(np.int32),
                    "residents": timetable.part_residents,
                    "yellow_code": timetable.part_yellow,
                    "channel": np.where(timetable.part_channel == 1, "yellow", "main"),
                }
            ),
            "call_start",
            "call_end",
        )
        .select(
            "building_id",
            "grid_id",
            "point_id",
            "call_start",
            "call_end",
            "residents",
            "yellow_code",
            "channel",
            "call_start_min",
            "call_end_min",
        )
        .sort("point_id", "call_start_min", "building_id")
    )

    staff = shifts.group_by("point_id").agg(
        pl.col("tables").sum().alias("staff_shifts"), pl.col("team_id").n_unique().alias("teams")
    )
    # an idle point (no residents) finishes, and is bounded, at the window start
    finish = np.where(timetable.point_finish >= 0, timetable.point_finish, window.start)
    bound = np.where(timetable.point_lower_bound >= 0, timetable.point_lower_bound, window.start)
    sim_finish = np.nan_to_num(sim.finish, nan=float(window.start))
    point_table = (
        _hhmm(
            pl.DataFrame(
                {
                    "point_id": point_ids,
                    "start_min": timetable.point_start.astype(np.int32),
                    "finish_min": finish.astype(np.int32),
                    "finish_lower_bound_min": bound.astype(np.int32),
                    "sim_finish_min": np.ceil(sim_finish).astype(np.int32),
                    "expected_peak_queue": timetable.point_peak_queue,
                    "expected_max_wait_min": timetable.point_max_wait,
                    "yellow_channel": timetable.point_channel,
                    "over_capacity": timetable.point_over_capacity,
                    "not_called": timetable.point_not_called,
                    "sim_p50_wait_min": sim.p50_wait,
                    "sim_p95_wait_min": sim.p95_wait,
                    "sim_peak_queue": sim.peak_queue,
                    "sim_served": sim.served,
                }
            ),
            "start",
            "finish",
            "finish_lower_bound",
            "sim_finish",
        )
        .join(staff, on="point_id", how="left")
        .with_columns(pl.col("staff_shifts").fill_null(0), pl.col("teams").fill_null(0))
    )

    shortfall = _hhmm(
        pl.DataFrame(
            {
                "point_id": point_ids.gather(staffing.short_point),
                "start_min": staffing.short_start.astype(np.int32),
                "end_min": staffing.short_end.astype(np.int32),
                "missing_samplers": staffing.short_missing,
            }
        ),
        "start",
        "end",
    )
    capacity = _hhmm(
        pl.DataFrame(
            {
                "point_id": point_ids.gather(staffing.extra_point),
                "start_min": staffing.extra_start.astype(np.int32),
                "end_min": staffing.extra_end.astype(np.int32),
                "extra_samplers": staffing.extra_samplers,
            }
        ),
        "start",
        "end",
    )
    not_called = _not_called(served, calls, timetable.status)
    limit = header.sampling.queue_wait_limit_min
    has_people = sim.served > 0
    p95 = sim.p95_wait[has_people]
    capacity_ok = ~timetable.point_over_capacity
    over_limit = has_people & (np.nan_to_num(sim.p95_wait, nan=0.0) > limit)
    kpis: dict[str, float | int | str] = {
        "finish_time": format_clock(int(finish.max()) if finish.size else window.start),
        "finish_lower_bound": format_clock(int(bound.max()) if bound.size else window.start),
        "finish_gap_pct": round(float(timetable.stats.gap_pct), 3),
        "sim_finish_time": format_clock(
            int(np.ceil(sim_finish.max())) if sim_finish.size else window.start
        ),
        "sim_p95_wait_max_min": round(float(p95.max()), 2) if p95.size else 0.0,
        "sim_p95_wait_median_min": round(float(np.median(p95)), 2) if p95.size else 0.0,
        "points_p95_over_limit": int(over_limit.sum()),
        "points_p95_over_limit_with_capacity": int((over_limit & capacity_ok).sum()),
        "points_over_capacity": int(timetable.point_over_capacity.sum()),
        "residents_not_called": int(not_called["not_called"].sum()),
        "buildings_not_called": not_called.height,
        "samplers_available": int(teams["samplers"].sum()),
        "samplers_used": int(staffing.stats.samplers_used),
        "staffing_status": staffing.status,
        "shortfall_sampler_blocks": int(staffing.short_missing.sum()),
        "capacity_plan_extra_samplers": int(staffing.extra_samplers.sum()),
        "yellow_channels": int(timetable.point_channel.sum()),
        "timetable_repair_rounds": repaired.rounds,
    }
    called = int((timetable.status == CALLED).sum())
    stats = {
        "staffing_seconds": staffed_at - started,
        "timetable_seconds": timed_at - staffed_at,
        "buildings_called": float(called),
    }
    return DayPlan(shifts, calls, point_table, shortfall, capacity, not_called, kpis, stats)


def _not_called(served: pl.DataFrame, calls: pl.DataFrame, status: np.ndarray) -> pl.DataFrame:
    """Buildings with residents left without a call, counted from the calls themselves.

    Reason ``capacity``: the point cannot take the building in the window (as staffed);
    ``yellow slot``: only its yellow-code residents found no slot or channel in the window.
    """
    called = calls.group_by("building_id").agg(
        pl.col("residents").filter(~pl.col("yellow_code")).sum().alias("regular_called"),
        pl.col("residents").filter(pl.col("yellow_code")).sum().alias("yellow_called"),
    )
    # yellow-code residents coming to the point: some may be visited at home instead
    frame = served.select(
        "building_id",
        "grid_id",
        "point_id",
        "walk_in",
        pl.min_horizontal("yellow_code", "walk_in").alias("yellow_code"),
    ).with_columns(pl.Series("status", status))
    frame = frame.join(called, on="building_id", how="left", maintain_order="left").with_columns(
        pl.col("regular_called").fill_null(0), pl.col("yellow_called").fill_null(0)
    )
    regular = (pl.col("walk_in") - pl.col("yellow_code")).clip(lower_bound=0)
    return (
        frame.with_columns(
            (regular - pl.col("regular_called")).alias("regular_not_called"),
            (pl.col("yellow_code") - pl.col("yellow_called")).alias("yellow_not_called"),
        )
        .with_columns(
            (pl.col("regular_not_called") + pl.col("yellow_not_called")).alias("not_called")
        )
        .filter(pl.col("not_called") > 0)
        .with_columns(
            pl.when((pl.col("status") == NOT_CALLED) | (pl.col("regular_not_called") > 0))
            .then(pl.lit("capacity"))
            .otherwise(pl.lit("yellow slot"))
            .alias("reason")
        )
        .select(
            "building_id",
            "grid_id",
            "point_id",
            "walk_in",
            "regular_not_called",
            "yellow_not_called",
            "not_called",
            "reason",
        )
    )
