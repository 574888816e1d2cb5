"""Transport stage: the day's tubes to the labs, and when each point's and grid's results come.

Runs only when the scenario has ``labs`` and ``vehicles`` (otherwise :func:`plan_transport`
returns ``None`` and the plan is exactly as without this stage). From the plan:

* **Tubes** (:func:`tube_batches`). Every open point's calls are pooled per channel in call
  order: regular swabs ``pool_size`` to a tube, yellow-code swabs ``yellow_pool_size`` to a
  tube (never mixed, as on the point sheet). A call slot's tubes are sealed at its end and a
  tube's age counts from the start of the slot of its first swab (the oldest swab it can
  hold); the point's last tube of each kind, part-filled, is sealed at the point's expected
  finish. A home-visit household gives ⌈persons ÷ pool_size⌉ tubes (one household one tube
  up to the pool size, 1 household = 1 tube in sealed buildings); its team hands them in at
  the household's sampling point (or the nearest open point), arriving there after the visit
  at the home-visit travel speed — the detour is not in the team's route.
* **Trips and labs** (:mod:`solver.transport`): vehicles collect and unload in repeated trips
  within the age and pickup-interval limits, labs chosen so backlogs stay small; lab queues
  give each tube batch its expected result time.
* **Results** per point and grid: the last swab, the last tube tested and the expected time
  all results are known (empty when some of its tubes are late and not tested).

Tubes that cannot make it are listed (``transport_tubes``, ``late_reason``): ``too_far``,
``fleet`` (and the summary's ``extra_vehicles_needed``: vehicles that would make it, found by
re-planning with more vehicles) or ``lab_hours`` — untested when its lab closed, or no lab open
while it could reach one in time (``extra_lab_hours``: hours every lab would open earlier and
close later, found by re-planning with wider hours, :func:`more_lab_hours`). Labs not open yet
are waited for when that is best (``vehicle_lab_wait_hours``); ``max_pickup_gap_min`` (summary,
and per point and grid in ``results``) is the longest a sealed tube waited for a vehicle.
:func:`transport_layer` prepares the map's transport layer from a saved plan folder, and
:func:`check_saved_transport` checks a saved plan's transport from its tables alone.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sampling.clock import clock_expr
from sampling.scenario.model import Scenario, unproject
from sampling.stages.assignment import AssignmentPlan
from sampling.stages.day import DayPlan
from sampling.stages.home_visits import HomeVisitPlan
from solver.location.candidates import nearest
from solver.transport.check import CheckReport, check_transport
from solver.transport.labs import hourly_load, result_time_bound
from solver.transport.problem import TransportProblem
from solver.transport.solve import (
    PICKUP,
    REASONS,
    TransportParams,
    TransportResult,
    solve_transport,
    tube_table,
)

MORE_VEHICLES_TRIES = (0.25, 0.5, 1.0)
"""Shares of the fleet added, in turn, to find how many more vehicles make every tube on time."""


@dataclass(frozen=True)
class TransportPlan:
    """Result of the transport stage (tables as written, see ``sampling.output.schemas``).

    ``trips``: one row per trip stop (``transport_trips``); ``tubes``: one row per parcel of
    tubes moved together, with its lab, result time or late reason (``transport_tubes``);
    ``lab_load``: per lab and hour; ``results``: per point and grid.
    """

    trips: pl.DataFrame
    tubes: pl.DataFrame
    lab_load: pl.DataFrame
    results: pl.DataFrame
    kpis: dict[str, Any]
    stats: dict[str, float] = field(default_factory=dict)


def has_transport(scenario: Scenario) -> bool:
    """Whether the scenario plans transport: labs and vehicles, both non-empty."""
    return bool(
        scenario.labs is not None
        and scenario.vehicles is not None
        and scenario.labs.height
        and scenario.vehicles.height
    )


def _clock_s(column: str) -> pl.Expr:
    """``HH:MM`` of a seconds-of-day column (null where negative)."""
    seconds = pl.col(column)
    return pl.when(seconds >= 0).then(clock_expr(seconds // 60))


def tube_batches(
    scenario: Scenario, assignment: AssignmentPlan, day: DayPlan, visits: HomeVisitPlan
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The day's tube batches and which batch seals each grid's swabs.

    Returns ``batches`` (``point_id``, ``source`` walk_in|yellow|home_visit, ``swab_s`` —
    oldest swab, ``ready_s``, ``tubes``; ordered, row = batch index) and ``grid_batches``
    (``grid_id``, ``batch``): every batch holding swabs of the grid.
    """
    header = scenario.header
    pool, ypool = header.sampling.pool_size, header.sampling.yellow_pool_size
    finish = day.points.select("point_id", (pl.col("finish_min") * 60).alias("finish_s"))
    calls = (
        day.timetable.filter(pl.col("residents") > 0)
        .group_by("point_id", "yellow_code", "call_start_min", "call_end_min")
        .agg(pl.col("residents").sum(), pl.col("grid_id").unique().alias("grids"))
        .sort("point_id", "yellow_code", "call_start_min", "call_end_min")
    )
    rows: list[tuple[str, str, int, int, int]] = []
    grid_rows: list[tuple[str, int]] = []
    finish_of = dict(zip(finish["point_id"].to_list(), finish["finish_s"].to_list(), strict=True))
    for (point, yellow), group in calls.group_by("point_id", "yellow_code", maintain_order=True):
        size = ypool if yellow else pool
        swabs = group["residents"].to_numpy().astype(np.int64)
        starts = group["call_start_min"].to_numpy().astype(np.int64) * 60
        ends = group["call_end_min"].to_numpy().astype(np.int64) * 60
        cum = np.cumsum(swabs)
        sealed = cum // size
        sealed[-1] = -(-int(cum[-1]) // size)
        ready = ends.copy()
        ready[-1] = max(int(ends[-1]), int(finish_of.get(str(point), ends[-1])))
        before = np.concatenate([[0], sealed[:-1]])
        count = sealed - before
        first_slot = np.searchsorted(cum, before * size, side="right")
        index_of_slot: dict[int, int] = {}
        for k in np.flatnonzero(count > 0).tolist():
            index_of_slot[k] = len(rows)
            rows.append(
                (
                    str(point),
                    "yellow" if yellow else "walk_in",
                    int(starts[first_slot[k]]),
                    int(ready[k]),
                    int(count[k]),
                )
            )
        # slot j's swabs fill tubes ⌊cum_{j-1} ÷ size⌋ … ⌈cum_j ÷ size⌉ − 1; tube t is in
        # the first batch whose sealed count passes t
        lo = np.searchsorted(sealed, np.concatenate([[0], cum[:-1]]) // size, side="right")
        hi = np.searchsorted(sealed, -(-cum // size) - 1, side="right")
        for j, grids in enumerate(group["grids"].to_list()):
            for kk in range(int(lo[j]), int(hi[j]) + 1):
                if kk in index_of_slot:
                    grid_rows.extend((str(g), index_of_slot[kk]) for g in grids)
    rows.extend(_home_visit_batches(scenario, assignment, visits, pool, grid_rows, len(rows)))
    batches = pl.DataFrame(
        rows,
        schema={
            "point_id": pl.String,
            "source": pl.String,
            "swab_s": pl.Int64,
            "ready_s": pl.Int64,
            "tubes": pl.Int64,
        },
        orient="row",
    )
    grid_batches = pl.DataFrame(
        grid_rows, schema={"grid_id": pl.String, "batch": pl.Int64}, orient="row"
    ).unique(maintain_order=True)
    return batches, grid_batches


def _home_visit_batches(
    scenario: Scenario,
    assignment: AssignmentPlan,
    visits: HomeVisitPlan,
    pool: int,
    grid_rows: list[tuple[str, int]],
    offset: int,
) -> list[tuple[str, str, int, int, int]]:
    """One batch per visited household, handed in at its building's (or the nearest) point."""
    served = visits.visits.filter(pl.col("team_id").is_not_null())
    if served.height == 0:
        return []
    open_points = assignment.points.filter(pl.col("open") & (pl.col("tables") > 0))
    if open_points.height == 0:
        return []
    settings = scenario.header.home_visits
    speed = (
        settings.drive_speed_km_h * 1000.0 / 60.0
        if settings.travel == "drive"
        else scenario.header.walking.speed_m_per_min
    )
    located = served.join(
        scenario.buildings.select("building_id", "grid_id"), on="building_id", how="left"
    ).join(assignment.assignments.select("building_id", "point_id"), on="building_id", how="left")
    bx, by = scenario.xy(
        located.select("building_id").join(
            scenario.buildings, on="building_id", how="left", maintain_order="left"
        )
    )
    open_ids = open_points["point_id"].to_list()
    px, py = scenario.xy(
        pl.DataFrame({"point_id": open_ids}).join(
            scenario.points, on="point_id", how="left", maintain_order="left"
        )
    )
    index_of = {pid: k for k, pid in enumerate(open_ids)}
    near, _ = nearest(np.column_stack([bx, by]), np.column_stack([px, py]))
    own = [index_of.get(pid, -1) if pid is not None else -1 for pid in located["point_id"]]
    chosen = np.where(np.asarray(own) >= 0, np.asarray(own), near).astype(np.int64)
    metres = np.hypot(bx - px[chosen], by - py[chosen]) * scenario.header.walking.detour_factor
    travel = np.ceil(metres / speed * 60.0).astype(np.int64)
    rows = []
    for k, (start, end, persons, grid) in enumerate(
        located.select("start_s", "end_s", "persons", "grid_id").iter_rows()
    ):
        rows.append(
            (
                open_ids[int(chosen[k])],
                "home_visit",
                int(start),
                int(end) + int(travel[k]),
                max(1, -(-int(persons) // pool)),
            )
        )
        if grid is not None:
            grid_rows.append((str(grid), offset + k))
    return rows


def _problem(
    scenario: Scenario, batches: pl.DataFrame, point_ids: list[str], vehicles: pl.DataFrame
) -> TransportProblem:
    """The solver's arrays: points, batches, labs and ``vehicles`` in planar metres."""
    assert scenario.labs is not None
    header = scenario.header
    t = header.transport
    pframe = pl.DataFrame({"point_id": point_ids}).join(
        scenario.points, on="point_id", how="left", maintain_order="left"
    )
    px, py = scenario.xy(pframe)
    lx, ly = scenario.xy(scenario.labs)
    vx, vy = scenario.xy(vehicles)
    index_of = {pid: k for k, pid in enumerate(point_ids)}
    labs = scenario.labs
    return TransportProblem.build(
        point_xy=np.column_stack([px, py]),
        batch_point=[index_of[p] for p in batches["point_id"].to_list()],
        batch_ready=batches["ready_s"].to_numpy(),
        batch_swab=batches["swab_s"].to_numpy(),
        batch_tubes=batches["tubes"].to_numpy(),
        lab_xy=np.column_stack([lx, ly]),
        lab_rate=labs["tubes_per_hour"].to_numpy().astype(np.float64),
        lab_open=labs["open_from"].to_numpy().astype(np.int64) * 60,
        lab_close=labs["open_to"].to_numpy().astype(np.int64) * 60,
        vehicle_xy=np.column_stack([vx, vy]),
        vehicle_capacity=vehicles["capacity_tubes"].to_numpy(),
        vehicle_from=vehicles["available_from"].to_numpy().astype(np.int64) * 60,
        vehicle_to=vehicles["available_to"].to_numpy().astype(np.int64) * 60,
        speed_m_per_min=t.drive_speed_km_h * 1000.0 / 60.0,
        detour=header.walking.detour_factor,
        stop_s=round(t.stop_min * 60),
        unload_s=round(t.unload_min * 60),
        max_age_s=round(t.max_tube_age_min * 60),
        interval_s=round(t.pickup_interval_max_min * 60),
    )


def transport_problem(
    scenario: Scenario, assignment: AssignmentPlan, day: DayPlan, visits: HomeVisitPlan
) -> TransportProblem:
    """The solver's problem for a planned day (for benchmarks and comparisons)."""
    assert scenario.vehicles is not None
    batches, _ = tube_batches(scenario, assignment, day, visits)
    point_ids = sorted(set(batches["point_id"].to_list()))
    return _problem(scenario, batches, point_ids, scenario.vehicles)


def plan_transport(
    scenario: Scenario,
    assignment: AssignmentPlan,
    day: DayPlan,
    visits: HomeVisitPlan,
    *,
    time_limit: float = 30.0,
    waiting: pl.DataFrame | None = None,
) -> TransportPlan | None:
    """Plan tubes to the labs, or ``None`` when the scenario has no labs and vehicles.

    ``waiting``: batches sealed earlier and still at their points (a re-plan's, columns of
    :func:`tube_batches`' ``batches``), collected with the day's own.
    """
    if not has_transport(scenario):
        return None
    assert scenario.labs is not None and scenario.vehicles is not None
    started = time.perf_counter()
    batches, grid_batches = tube_batches(scenario, assignment, day, visits)
    if waiting is not None and waiting.height:  # re-plan: tubes sealed before --at
        batches = pl.concat([batches, waiting.select(batches.columns).cast(batches.schema)])
    point_ids = sorted(set(batches["point_id"].to_list()))
    problem = _problem(scenario, batches, point_ids, scenario.vehicles)
    params = TransportParams(
        iterations=scenario.header.transport.search_iterations, time_limit=time_limit
    )
    result = solve_transport(problem, params)
    tubes = tube_table(problem, result)
    extra, extra_cut = _more_vehicles(scenario, batches, point_ids, tubes, params)
    hours, hours_cut = more_lab_hours(problem, tubes, params)
    plan = _tables(scenario, problem, result, tubes, batches, grid_batches, point_ids)
    kpis = _kpis(scenario, problem, result, tubes, plan, extra, hours)
    if extra_cut or hours_cut:  # a trial's plan was cut by the wall clock: a rerun may differ
        kpis["transport_wall_clock_bound"] = 1
    seconds = time.perf_counter() - started
    return TransportPlan(
        trips=plan["transport_trips"],
        tubes=plan["transport_tubes"],
        lab_load=plan["lab_load"],
        results=plan["results"],
        kpis=kpis,
        stats={"transport_seconds": seconds, "transport_solve_seconds": result.seconds},
    )


def _more_vehicles(
    scenario: Scenario,
    batches: pl.DataFrame,
    point_ids: list[str],
    tubes: dict[str, np.ndarray],
    params: TransportParams,
) -> tuple[int | None, bool]:
    """Vehicles to add (copies of the fleet's, in order) so no tube is late for the fleet:
    0 when none is, the first of :data:`MORE_VEHICLES_TRIES` that makes it, or ``None``; and
    whether the wall clock cut a trial.

    Each trial has the same iteration budget and safety stop as the plan itself, so the
    answer is counted in work, never in the time left (which would change with the load).
    """
    fleet_late = int(tubes["tubes"][tubes["late_reason"] == REASONS.index("fleet")].sum())
    if fleet_late == 0:
        return 0, False
    assert scenario.vehicles is not None
    fleet = scenario.vehicles
    cut = False
    tried: set[int] = set()
    for share in MORE_VEHICLES_TRIES:
        added = max(1, math.ceil(share * fleet.height))
        if added in tried:  # a small fleet rounds several shares to the same count
            continue
        tried.add(added)
        more = pl.concat([fleet, fleet.gather([k % fleet.height for k in range(added)])])
        problem = _problem(scenario, batches, point_ids, more)
        trial = solve_transport(problem, params)
        cut = cut or trial.wall_clock_bound
        late = tube_table(problem, trial)
        if not (late["late_reason"] == REASONS.index("fleet")).any():
            return added, cut
    return None, cut


def more_lab_hours(
    problem: TransportProblem, tubes: dict[str, np.ndarray], params: TransportParams
) -> tuple[int | None, bool]:
    """Whole hours every lab would open earlier and close later so that no tube is late for
    the labs' hours: 0 when none is, else the first of a few widenings that makes it in a
    re-plan (``None`` when none does), and whether the wall clock cut a trial.

    The first widening tried is the estimate: for every tube late for lab hours, the least
    extension of one lab that takes it (untested at its lab: the untested tubes ÷ the lab's
    rate; never tested in time: the hours between the lab's hours and the tube's earliest
    arrival or its age limit), the largest over the tubes; then one hour more, then double.
    Each trial has the plan's own iteration budget, so the answer is counted in work.
    """
    p = problem
    code = REASONS.index("lab_hours")
    late = tubes["late_reason"] == code
    if not late.any():
        return 0, False
    need_s = 0.0
    untested = late & (tubes["lab"] >= 0) & (tubes["result"] < 0)  # delivered, not tested
    for lb in np.unique(tubes["lab"][untested]).tolist():
        mine = int(tubes["tubes"][untested & (tubes["lab"] == lb)].sum())
        need_s = max(need_s, mine / float(p.lab_rate[lb]) * 3600.0)
    blocked = late & ~untested  # no lab open while they could reach one in time
    if blocked.any():
        to_lab = p.point_to_lab_s()[tubes["point"][blocked]]  # late parcels × labs
        reach = tubes["ready"][blocked][:, None] + p.stop_s + to_lab
        limit = (tubes["swab"][blocked] + p.max_age_s)[:, None]
        earlier = np.maximum(0, p.lab_open[None, :] - limit)  # open before the age limit
        later = np.maximum(0, reach - p.lab_close[None, :] + 1)  # still open on arrival
        widen = np.where(reach <= limit, earlier + later, np.iinfo(np.int64).max)
        need_s = max(need_s, float(widen.min(axis=1).max()))
    first = min(24, max(1, math.ceil(need_s / 3600.0)))  # a whole day more is the most
    cut = False
    for hours in (first, first + 1, 2 * first + 1):
        wider = with_lab_hours(p, hours)
        trial = solve_transport(wider, params)
        cut = cut or trial.wall_clock_bound
        if not (tube_table(wider, trial)["late_reason"] == code).any():
            return hours, cut
    return None, cut


def with_lab_hours(problem: TransportProblem, hours: int) -> TransportProblem:
    """``problem`` with every lab opening ``hours`` earlier (not before midnight) and closing
    ``hours`` later."""
    fields = {name: getattr(problem, name) for name in TransportProblem.__dataclass_fields__}
    fields["lab_open"] = np.maximum(0, problem.lab_open - hours * 3600)
    fields["lab_close"] = problem.lab_close + hours * 3600
    return TransportProblem.build(**fields)


def _names(frame: pl.DataFrame, key: str) -> list[str]:
    return [str(v) for v in frame[key].to_list()]


def _tables(
    scenario: Scenario,
    problem: TransportProblem,
    result: TransportResult,
    tubes: dict[str, np.ndarray],
    batches: pl.DataFrame,
    grid_batches: pl.DataFrame,
    point_ids: list[str],
) -> dict[str, pl.DataFrame]:
    """The stage's output tables from the solver's arrays."""
    assert scenario.labs is not None and scenario.vehicles is not None
    lab_ids = _names(scenario.labs, "lab_id")
    vehicle_ids = _names(scenario.vehicles, "vehicle_id")
    st = result.stops
    pickup = st["kind"] == PICKUP
    plat, plon = _latlon(scenario, problem.point_xy)
    llat, llon = _latlon(scenario, problem.lab_xy)
    place = st["place"]
    caps = problem.vehicle_capacity[st["vehicle"]] if len(place) else np.zeros(0, np.int64)
    trips = pl.DataFrame(
        {
            "vehicle_id": [vehicle_ids[v] for v in st["vehicle"].tolist()],
            "trip": st["trip"] + 1,
            "seq": st["seq"] + 1,
            "kind": np.where(pickup, "pickup", "unload"),
            "point_id": [point_ids[q] if k else None for q, k in zip(place, pickup, strict=True)],
            "lab_id": [None if k else lab_ids[q] for q, k in zip(place, pickup, strict=True)],
            "arrive_s": st["arrive"],
            "depart_s": st["depart"],
            "tubes": st["tubes"],
            "capacity": caps,
            "oldest_swab_s": st["oldest_swab"],
            "lat": np.where(
                pickup, plat[np.where(pickup, place, 0)], llat[np.where(pickup, 0, place)]
            ),
            "lon": np.where(
                pickup, plon[np.where(pickup, place, 0)], llon[np.where(pickup, 0, place)]
            ),
        },
        schema_overrides={"point_id": pl.String, "lab_id": pl.String},
    ).with_columns(_clock_s("arrive_s").alias("arrive"), _clock_s("depart_s").alias("depart"))
    load = trips.with_columns(
        pl.when(pl.col("kind") == "pickup")
        .then(pl.col("tubes"))
        .otherwise(-pl.col("tubes"))
        .cum_sum()
        .over("vehicle_id", order_by=["trip", "seq"])
        .alias("load")
    )["load"]
    trips = trips.with_columns(load.alias("load"))

    late = tubes["late_reason"] >= 0
    parcels = pl.DataFrame(
        {
            "point_id": [point_ids[q] for q in tubes["point"].tolist()],
            "source": batches["source"].gather(tubes["batch"]),
            "swab_s": tubes["swab"],
            "ready_s": tubes["ready"],
            "tubes": tubes["tubes"],
            "vehicle_id": [vehicle_ids[v] if v >= 0 else None for v in tubes["vehicle"].tolist()],
            "trip": np.where(tubes["trip"] >= 0, tubes["trip"] + 1, -1),
            "pickup_s": tubes["pickup"],
            "lab_id": [lab_ids[lb] if lb >= 0 else None for lb in tubes["lab"].tolist()],
            "lab_arrive_s": tubes["lab_arrive"],
            "result_s": tubes["result"],
            "late": late,
            "late_reason": [REASONS[r] if r >= 0 else None for r in tubes["late_reason"].tolist()],
            "batch": tubes["batch"],
        },
        schema_overrides={"vehicle_id": pl.String, "lab_id": pl.String, "late_reason": pl.String},
    ).with_columns(
        pl.when(pl.col("trip") >= 0).then(pl.col("trip")).alias("trip"),
        pl.when(pl.col("lab_arrive_s") >= 0)
        .then((pl.col("lab_arrive_s") - pl.col("swab_s")) / 60.0)
        .alias("age_min"),
        _clock_s("result_s").alias("result"),
    )

    unload = np.flatnonzero(~pickup)
    load_rows = hourly_load(
        problem.num_labs,
        problem.lab_rate,
        place[unload],
        st["arrive"][unload],
        st["tubes"][unload],
        result.queues,
    )
    lab_load = pl.DataFrame(
        {
            "lab_id": [lab_ids[lb] for lb in load_rows.lab.tolist()],
            "hour": load_rows.hour,
            "tubes_arrived": load_rows.arrived,
            "tubes_tested": load_rows.tested,
            "backlog": load_rows.backlog,
            "tubes_per_hour": problem.lab_rate[load_rows.lab].astype(np.int64),
        },
        schema_overrides={"lab_id": pl.String},
    )
    results = _results(parcels, grid_batches)
    return {
        "transport_trips": trips,
        "transport_tubes": parcels,
        "lab_load": lab_load,
        "results": results,
    }


def _latlon(scenario: Scenario, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 of planar metres around the scenario's origin (planar scenarios: around 0°)."""
    lat0, lon0 = scenario.origin
    return unproject(xy[:, 0], xy[:, 1], lat0, lon0)


def _results(parcels: pl.DataFrame, grid_batches: pl.DataFrame) -> pl.DataFrame:
    """Per point and per grid: tubes, late tubes, last swab, last tube tested, results time,
    and ``max_pickup_gap_min``: the longest a sealed tube waited there for a vehicle (the
    visiting rule keeps it within ``pickup_interval_max_min``; empty when some tubes were
    never collected)."""
    aggs = [
        pl.col("tubes").sum().alias("tubes"),
        pl.col("tubes").filter(pl.col("late")).sum().alias("tubes_late"),
        pl.col("ready_s").max().alias("last_swab_s"),
        pl.col("result_s").filter(pl.col("result_s") >= 0).max().alias("last_tested_s"),
        (pl.col("result_s") < 0).any().alias("__missing"),
        (pl.col("pickup_s") - pl.col("ready_s"))
        .filter(pl.col("pickup_s") >= 0)
        .max()
        .alias("__gap_s"),
        (pl.col("pickup_s") < 0).any().alias("__uncollected"),
    ]
    per_point = (
        parcels.group_by("point_id")
        .agg(aggs)
        .select(
            pl.lit("point").alias("level"),
            pl.col("point_id").alias("id"),
            pl.all().exclude("point_id"),
        )
    )
    per_grid = (
        grid_batches.join(parcels, on="batch", how="inner")
        .group_by("grid_id")
        .agg(aggs)
        .select(
            pl.lit("grid").alias("level"),
            pl.col("grid_id").alias("id"),
            pl.all().exclude("grid_id"),
        )
    )
    return (
        pl.concat([per_point, per_grid])
        .with_columns(
            pl.when(~pl.col("__missing")).then(pl.col("last_tested_s")).alias("results_s"),
            pl.when(~pl.col("__uncollected"))
            .then(pl.col("__gap_s") / 60.0)
            .alias("max_pickup_gap_min"),
        )
        .drop("__missing", "__gap_s", "__uncollected")
        .with_columns(
            _clock_s("last_swab_s").alias("last_swab"),
            _clock_s("last_tested_s").alias("last_tested"),
            _clock_s("results_s").alias("results_time"),
        )
        .sort("level", "id", descending=[True, False])
    )


def _kpis(
    scenario: Scenario,
    problem: TransportProblem,
    result: TransportResult,
    tubes: dict[str, np.ndarray],
    plan: dict[str, pl.DataFrame],
    extra_vehicles: int | None,
    extra_lab_hours: int | None,
) -> dict[str, Any]:
    """Summary figures of the transport stage."""
    late = tubes["late_reason"] >= 0
    reasons = {
        name: int(tubes["tubes"][tubes["late_reason"] == code].sum())
        for code, name in enumerate(REASONS)
    }
    delivered = tubes["lab_arrive"] >= 0
    ages = (tubes["lab_arrive"] - tubes["swab"])[delivered]
    st = result.stops
    busy = _busy_seconds(problem, st)
    tested = tubes["result"][tubes["result"] >= 0]
    p = problem
    to_lab = p.point_to_lab_s().min(axis=1)
    earliest = p.batch_ready + p.stop_s + to_lab[p.batch_point] + p.unload_s
    bound = result_time_bound(earliest, p.batch_tubes, p.lab_rate)
    latest = int(tested.max()) if tested.size else None
    collected = tubes["pickup"] >= 0
    gaps = (tubes["pickup"] - tubes["ready"])[collected]
    return {
        "tubes_total": p.tubes_total,
        "tubes_late": int(tubes["tubes"][late].sum()),
        "tubes_late_reasons": reasons,
        "max_tube_age_min": round(float(ages.max()) / 60.0, 1) if ages.size else None,
        "latest_result_time": _hhmm(latest),
        "latest_result_lower_bound": _hhmm(bound),
        "latest_result_gap_min": round((latest - bound) / 60.0, 1) if latest is not None else None,
        "vehicle_hours": round(busy / 3600.0, 2),
        "vehicles_used": len(np.unique(st["vehicle"])) if len(st["vehicle"]) else 0,
        "vehicle_trips": int((st["kind"] != PICKUP).sum()),
        "extra_vehicles_needed": extra_vehicles,
        "extra_lab_hours": extra_lab_hours,
        "max_pickup_gap_min": round(float(gaps.max()) / 60.0, 1) if gaps.size else None,
        "vehicle_lab_wait_hours": round(result.stats.get("lab_wait_s", 0.0) / 3600.0, 2),
        "transport_rounds": result.rounds,
        "transport_iterations": result.iterations,
        "transport_wall_clock_bound": int(result.wall_clock_bound),
    }


def _busy_seconds(problem: TransportProblem, stops: dict[str, np.ndarray]) -> int:
    """Driving plus handling seconds of every vehicle (from its depot to its last unloading)."""
    total = 0
    prev: dict[int, np.ndarray] = {}
    for v, kind, place, arrive, depart in zip(
        stops["vehicle"].tolist(),
        stops["kind"].tolist(),
        stops["place"].tolist(),
        stops["arrive"].tolist(),
        stops["depart"].tolist(),
        strict=True,
    ):
        here = prev.get(v, problem.vehicle_xy[v])
        loc = problem.point_xy[place] if kind == PICKUP else problem.lab_xy[place]
        total += int(problem.drive_s(here, loc)[0, 0]) + (depart - arrive)
        prev[v] = loc
    return total


def _hhmm(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    minutes = -(-int(seconds) // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def transport_layer(out_dir: Path) -> dict[str, Any] | None:
    """The map's transport layer from a saved plan folder, or ``None`` without transport.

    ``{"trips": [...], "labs": [...]}``: each trip a polyline of ``[lat, lon]`` pairs from
    where the vehicle came (its previous lab; the first trip starts at its first pickup) through
    its pickups to its lab, with ``vehicle_id``, ``trip``, ``tubes``, ``start``, ``end``; each
    lab a marker with ``lab_id``, ``lat``, ``lon``, ``tubes_per_hour``, ``tubes_received``,
    ``peak_backlog`` and the hour of the peak, and ``last_result``.
    """
    out_dir = Path(out_dir)
    trips_path = out_dir / "transport_trips.parquet"
    if not trips_path.exists():
        return None
    trips = pl.read_parquet(trips_path).sort("vehicle_id", "trip", "seq")
    tubes = pl.read_parquet(out_dir / "transport_tubes.parquet")
    lab_load = pl.read_parquet(out_dir / "lab_load.parquet")
    lines: list[dict[str, Any]] = []
    for (vehicle, trip), rows in trips.group_by("vehicle_id", "trip", maintain_order=True):
        path = [[float(a), float(b)] for a, b in rows.select("lat", "lon").iter_rows()]
        previous = trips.filter(
            (pl.col("vehicle_id") == vehicle) & (pl.col("trip") == pl.lit(trip) - 1)
        ).filter(pl.col("kind") == "unload")
        if previous.height:
            path.insert(0, [float(previous["lat"][0]), float(previous["lon"][0])])
        lines.append(
            {
                "vehicle_id": vehicle,
                "trip": int(trip),  # type: ignore[call-overload]
                "tubes": int(rows.filter(pl.col("kind") == "unload")["tubes"].sum()),
                "start": rows["arrive"][0],
                "end": rows["depart"][-1],
                "path": path,
            }
        )
    unloads = trips.filter(pl.col("kind") == "unload")
    labs = []
    for lab_id, rows in lab_load.group_by("lab_id", maintain_order=True):
        at = unloads.filter(pl.col("lab_id") == lab_id[0])
        peak = rows.sort("backlog", "hour", descending=[True, False]).row(0, named=True)
        results = tubes.filter(pl.col("lab_id") == lab_id[0])["result_s"]
        labs.append(
            {
                "lab_id": lab_id[0],
                "lat": float(at["lat"][0]) if at.height else None,
                "lon": float(at["lon"][0]) if at.height else None,
                "tubes_per_hour": int(rows["tubes_per_hour"][0]),
                "tubes_received": int(rows["tubes_arrived"].sum()),
                "peak_backlog": int(peak["backlog"]),
                "peak_hour": int(peak["hour"]),
                "last_result": _hhmm(int(results.max())) if results.len() else None,  # type: ignore[arg-type]
            }
        )
    return {"trips": lines, "labs": labs}


def transport_layer_json(out_dir: Path) -> str:
    """:func:`transport_layer` as JSON text (``null`` without transport)."""
    return json.dumps(transport_layer(out_dir), ensure_ascii=False)


def check_saved_transport(out_dir: Path, scenario: Scenario) -> CheckReport:
    """Check a saved plan's transport from its tables and the scenario alone.

    Rebuilds the problem from the scenario (points, labs, vehicles, rules) and the batches
    listed in ``transport_tubes``, and hands ``transport_trips`` and ``transport_tubes`` to the
    independent :func:`solver.transport.check.check_transport`.
    """
    assert scenario.labs is not None and scenario.vehicles is not None
    out_dir = Path(out_dir)
    trips = pl.read_parquet(out_dir / "transport_trips.parquet")
    tubes = pl.read_parquet(out_dir / "transport_tubes.parquet")
    batches = (
        tubes.group_by("batch")
        .agg(
            pl.col("point_id").first(),
            pl.col("swab_s").first(),
            pl.col("ready_s").first(),
            pl.col("tubes").sum(),
        )
        .sort("batch")
    )
    point_ids = sorted(set(batches["point_id"].to_list()))
    problem = _problem(scenario, batches, point_ids, scenario.vehicles)
    point_index = {p: k for k, p in enumerate(point_ids)}
    lab_index = {lb: k for k, lb in enumerate(_names(scenario.labs, "lab_id"))}
    vehicle_index = {v: k for k, v in enumerate(_names(scenario.vehicles, "vehicle_id"))}
    pickup = (trips["kind"] == "pickup").to_numpy()
    place = [
        point_index[p] if k else lab_index[lb]
        for p, lb, k in zip(trips["point_id"], trips["lab_id"], pickup, strict=True)
    ]
    trip_arrays = {
        "vehicle": np.asarray([vehicle_index[v] for v in trips["vehicle_id"]], dtype=np.int64),
        "trip": trips["trip"].to_numpy() - 1,
        "seq": trips["seq"].to_numpy() - 1,
        "kind": np.where(pickup, PICKUP, 1).astype(np.int64),
        "place": np.asarray(place, dtype=np.int64),
        "arrive": trips["arrive_s"].to_numpy(),
        "depart": trips["depart_s"].to_numpy(),
        "tubes": trips["tubes"].to_numpy(),
    }
    batch_row = {b: k for k, b in enumerate(batches["batch"].to_list())}
    tube_arrays = {
        "point": np.asarray([point_index[p] for p in tubes["point_id"]], dtype=np.int64),
        "swab": tubes["swab_s"].to_numpy(),
        "ready": tubes["ready_s"].to_numpy(),
        "tubes": tubes["tubes"].to_numpy(),
        "vehicle": np.asarray(
            [vehicle_index[v] if v is not None else -1 for v in tubes["vehicle_id"]],
            dtype=np.int64,
        ),
        "trip": tubes["trip"].fill_null(0).to_numpy() - 1,
        "pickup": tubes["pickup_s"].to_numpy(),
        "lab": np.asarray(
            [lab_index[lb] if lb is not None else -1 for lb in tubes["lab_id"]], dtype=np.int64
        ),
        "lab_arrive": tubes["lab_arrive_s"].to_numpy(),
        "result": tubes["result_s"].to_numpy(),
        "late_reason": np.asarray(
            [REASONS.index(r) if r is not None else -1 for r in tubes["late_reason"]],
            dtype=np.int64,
        ),
    }
    batch_of = np.asarray([batch_row[b] for b in tubes["batch"]], dtype=np.int64)
    report = check_transport(problem, trip_arrays, tube_arrays, batch_of_parcel=batch_of)
    # the results table's pickup gap per point against the checker's
    results = pl.read_parquet(out_dir / "results.parquet").filter(pl.col("level") == "point")
    uncollected = set(tubes.filter(pl.col("pickup_s") < 0)["point_id"].to_list())
    for pid, gap in results.select("id", "max_pickup_gap_min").iter_rows():
        q = point_index[pid]
        want = None if pid in uncollected else report.max_pickup_gap_s.get(q, 0) / 60.0
        if (gap is None) != (want is None) or (
            gap is not None and want is not None and abs(gap - want) > 1e-6
        ):
            report.violations.append(f"results: point {pid} pickup gap {gap} ≠ {want} min")
    return report
