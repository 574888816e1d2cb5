"""Day stage: medical teams to points and shifts, a call timetable, and its check by simulation.

Builds on the assignment: open points with their tables, buildings with their point. Staffing
(:mod:`solver.day.staffing`) covers every table for the whole window within team hours and the
shift limit, or reports the shortfall and a capacity plan; the timetable
(:mod:`solver.day.timetable`) calls buildings by grid in slots so the expected queue stays short;
the seeded simulation (:mod:`solver.day.queue_sim`) checks it over several replications, and
points whose simulated p95 wait exceeds the limit are re-spread, points that finish late are
called earlier (a bounded number of rounds), and what cannot be repaired is reported.

Overtime (``[assignment] overflow = "overtime"``). Residents beyond what the staffed tables can
swab in the window are called after the window end. Assumption: **the samplers on duty in the
window's last staffed block stay at their tables until their point's last resident is swabbed**
(the same tables the timetable's capacity and the simulation keep open after the window). That
time is overtime: it is added to the shift rows as separate ``overtime`` rows (team, point,
window end → the point's planned finish, samplers), counted in ``sampler_overtime_min``, and
where it runs past a team's ``available_to`` the samplers are counted in
``samplers_overtime_past_availability`` — HQ must confirm they can stay, or send the extra
samplers of the capacity plan instead.

Scarcity figures (the same in both overflow modes; with ``"unserved"`` they are computed for
the plan that would place everyone, the buildings left unserved for capacity at the points the
assignment found for them, with the plan's tables and other buildings as they are — no
rebalancing as in overtime mode, so the extension there is an upper estimate):

* ``capacity_deficit_residents`` — walk-in residents beyond what the staffed tables can swab
  inside the window, summed over points (load − staffed capacity in the window, at least 0);
* ``residents_overtime`` — residents the plan calls after the window end;
* ``window_extension_min`` — how long after the window end the plan with everyone called
  finishes with today's staff (its fluid finish; at least the time the tables kept on after the
  window need for the deficit, so extension × those tables × rate ≥ deficit);
* ``extra_samplers_for_window`` — the capacity plan's total: the samplers that would cover the
  staffing shortfall, plus, for the deficit, ``ceil(load ÷ U) − tables`` more whole-window
  tables per point (``U`` = one table's capacity in the window), each staffed over the day in
  shifts of at most ``max_shift_min`` (rows with ``reason`` = ``deficit``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import polars as pl

from sampling.clock import format_clock
from sampling.scenario.model import Scenario
from sampling.scenario.parsing import clock_text
from sampling.stages.assignment import AssignmentPlan
from solver.day.queue_sim import RepairResult, SimParams, SimResult, repair_timetable, simulate
from solver.day.staffing import StaffingProblem, StaffingResult, capacity_plan, solve_staffing
from solver.day.timetable import CALLED, NOT_CALLED, Timetable, TimetableProblem, build_timetable

TEAM_TRAVEL_M_PER_MIN = 500.0  # medical teams come by vehicle, ≈ 30 km/h
REPAIR_ROUNDS = 3


class NotCalledReason(StrEnum):
    """Why residents of a served building got no call (``not_called.parquet``, ``reason``)."""

    CAPACITY = "capacity"
    """The point cannot take the building in the window as staffed."""
    YELLOW_SLOT = "yellow_slot"
    """Only its yellow-code residents found no yellow slot or channel in the window."""


class CapacityReason(StrEnum):
    """What a capacity-plan row's extra samplers cover (``capacity_plan.parquet``, ``reason``)."""

    SHORTFALL = "shortfall"
    """Tables the staffing plan leaves without a sampler."""
    DEFICIT = "deficit"
    """Whole-window tables beyond the planned ones for everyone placed to finish in the window."""


class Channel(StrEnum):
    """The queue a call joins (``timetable.parquet``, ``channel``)."""

    MAIN = "main"
    YELLOW = "yellow"
    """The separate yellow-code channel of a point (``[timetable] yellow_mode``)."""


@dataclass(frozen=True)
class DayStats:
    """How the day stage ran: wall-clock seconds per part and the buildings called."""

    staffing_seconds: float
    """Staffing (min-cost flow per block), wall clock."""
    timetable_seconds: float
    """Call timetable, simulation and its repair rounds, wall clock."""
    buildings_called: int
    """Buildings with every walk-in resident called."""


@dataclass(frozen=True)
class DayPlan:
    """Result of the day stage; clock columns are ``HH:MM`` text plus ``*_min`` minutes.

    ``shifts``: ``team_id``, ``team_name``, ``point_id``, ``start``, ``end``, ``tables``
    (samplers of that team in that shift, one per table), ``overtime`` (true for the samplers
    staying after the window end). ``timetable``: one row per call
    (a big building may be called over several slots): ``building_id``, ``grid_id``,
    ``point_id``, ``call_start``, ``call_end``, ``residents``, ``yellow_code`` (true for a
    yellow-code call), ``channel`` (``main`` or ``yellow``). ``points``: per open point,
    expected start and finish, the capacity lower bound on the finish, expected peak queue
    and wait, the yellow channel, simulated waits, finish and p95 finish over the
    replications, lateness, overtime and deficit residents, and staff. ``shortfall`` and
    ``capacity_plan``: missing samplers by point and time, and the extra ones that would
    cover them and the deficit (``reason``). ``not_called``: buildings with residents left
    without a call (counted from the calls: walk-in − called), with the reason.
    """

    shifts: pl.DataFrame
    timetable: pl.DataFrame
    points: pl.DataFrame
    shortfall: pl.DataFrame
    capacity_plan: pl.DataFrame
    not_called: pl.DataFrame
    kpis: dict[str, float | int | str | None]
    stats: DayStats


def _hhmm(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """Add ``HH:MM`` text for minute columns ``<name>_min`` as ``<name>``."""
    return frame.with_columns(clock_text(f"{name}_min").alias(name) for name in names)


def _timetable_problem(
    scenario: Scenario,
    frame: pl.DataFrame,
    point_index: dict[str, int],
    staffing: StaffingResult,
    tables: np.ndarray,
    *,
    overtime: bool,
) -> TimetableProblem:
    """The call timetable's input for the buildings of ``frame`` at their ``point_id``."""
    header = scenario.header
    window = header.window
    grid_codes = frame["grid_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    walk_in = frame["walk_in"].to_numpy().astype(np.int64)
    return TimetableProblem(
        building_point=np.array(
            [point_index[p] for p in frame["point_id"].to_list()], dtype=np.int64
        ),
        residents=walk_in,
        yellow=np.minimum(frame["yellow_code"].to_numpy().astype(np.int64), walk_in),
        elderly=np.minimum(frame["elderly"].to_numpy().astype(np.int64), walk_in),
        grid=grid_codes,
        n_points=len(point_index),
        table_edges=staffing.edges,
        tables=staffing.staffed_tables(tables),
        window_start=window.start,
        window_end=window.end,
        rate_per_hour=header.sampling.swabs_per_table_per_hour,
        slot_min=header.timetable.slot_min,
        wait_limit_min=header.sampling.queue_wait_limit_min,
        yellow_mode=header.timetable.yellow_mode,
        elderly_first=header.timetable.elderly_first,
        overtime=overtime,
    )


def plan_day(
    scenario: Scenario,
    assignment: AssignmentPlan,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    team_point: Mapping[str, str] | None = None,
    move_penalty_m: float = 0.0,
) -> DayPlan:
    """Staff the open points, time the calls and check the queues by simulation.

    ``team_point`` (team → the point it is on duty at, for a re-plan during the day) and
    ``move_penalty_m``: moving such a team elsewhere costs that much more in the staffing
    (see :mod:`solver.day.staffing`)."""
    header = scenario.header
    window = header.window
    rate = header.sampling.swabs_per_table_per_hour
    overtime = header.assignment.overflow == "overtime"
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
            team_point=np.array(
                [point_index.get((team_point or {}).get(t, ""), -1) for t in teams["team_id"]],
                dtype=np.int64,
            ),
            move_penalty_m=move_penalty_m,
        ),
        seed=seed,
        time_limit=time_limit,
    )
    staffed_at = time.perf_counter()

    served = assignment.assignments.filter(
        pl.col("point_id").is_not_null() & pl.col("point_id").is_in(point_ids.implode())
    )
    problem = _timetable_problem(scenario, served, point_index, staffing, tables, overtime=overtime)
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
        problem,
        timetable,
        simulation_params,
        seed=seed,
        max_rounds=REPAIR_ROUNDS,
        simulation=first,
        replications=header.simulation.replications,
        late_after=window.end + header.simulation.late_tolerance_min,
    )
    timetable, sim = repaired.timetable, repaired.simulation
    whole = _everyone_placed(
        scenario, assignment, served, point_index, staffing, tables, timetable, overtime=overtime
    )
    timed_at = time.perf_counter()

    calls = _calls(served, point_ids, timetable)
    finish = np.where(timetable.point_finish >= 0, timetable.point_finish, window.start)
    # samplers stay after the window only where someone is called after it (overtime mode);
    # without overtime the residents left without a call are not swabbed that day
    on_duty = finish if overtime else np.minimum(finish, window.end)
    shifts = _shifts(teams, point_ids, staffing, timetable, on_duty, window.end)
    staff = (
        shifts.filter(~pl.col("overtime"))
        .group_by("point_id")
        .agg(
            pl.col("tables").sum().alias("staff_shifts"),
            pl.col("team_id").n_unique().alias("teams"),
        )
    )
    point_table = _point_table(point_ids, timetable, sim, repaired, whole, staff, window.start)
    late = np.zeros(len(point_index), dtype=bool)
    late[repaired.late] = True  # p95 finish past the window end + tolerance (as late_points)
    point_table = point_table.with_columns(
        ((pl.col("sim_finish_p95_min") - window.end).clip(lower_bound=0)).alias("late_min"),
        pl.Series("late", late, dtype=pl.Boolean),
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
    deficit_tables = _deficit_tables(scenario, whole, tables)
    capacity = _capacity_plan(point_ids, staffing, deficit_tables, header.max_shift_min)
    not_called = _not_called(served, calls, timetable.status)
    kpis = _kpis(
        scenario,
        teams,
        staffing,
        timetable,
        whole,
        repaired,
        shifts,
        capacity,
        not_called,
        finish,
        points,
        deficit_tables,
    )
    called = int((timetable.status == CALLED).sum())
    stats = DayStats(
        staffing_seconds=staffed_at - started,
        timetable_seconds=timed_at - staffed_at,
        buildings_called=called,
    )
    return DayPlan(shifts, calls, point_table, shortfall, capacity, not_called, kpis, stats)


def _everyone_placed(
    scenario: Scenario,
    assignment: AssignmentPlan,
    served: pl.DataFrame,
    point_index: dict[str, int],
    staffing: StaffingResult,
    tables: np.ndarray,
    timetable: Timetable,
    *,
    overtime: bool,
) -> Timetable:
    """The timetable of the plan that calls everyone (the plan itself in overtime mode).

    With ``overflow = "unserved"``, the buildings left unserved for capacity are added at the
    points the assignment found for them and called in overtime: the deficit, the extension
    and the capacity plan then speak of every resident in reach, as in overtime mode.
    """
    extra = assignment.overflow.filter(pl.col("point_id").is_in(list(point_index)))
    if overtime or extra.height == 0:
        if overtime:
            return timetable
        return build_timetable(
            _timetable_problem(scenario, served, point_index, staffing, tables, overtime=True)
        )
    columns = ("building_id", "grid_id", "point_id", "walk_in", "yellow_code", "elderly")
    rows = (
        assignment.assignments.select("building_id", "grid_id", "yellow_code", "elderly")
        .join(extra.select("building_id", "point_id", "walk_in"), on="building_id")
        .select(columns)
    )
    frame = pl.concat([served.select(columns), rows], how="vertical_relaxed")
    return build_timetable(
        _timetable_problem(scenario, frame, point_index, staffing, tables, overtime=True)
    )


def _calls(served: pl.DataFrame, point_ids: pl.Series, timetable: Timetable) -> pl.DataFrame:
    """One row per call part (see :class:`DayPlan`)."""
    return (
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
                    "channel": np.where(
                        timetable.part_channel == 1, Channel.YELLOW.value, Channel.MAIN.value
                    ),
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


def overtime_rows(
    staffing: StaffingResult,
    staffed: np.ndarray,
    after: np.ndarray,
    finish: np.ndarray,
    window_end: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shift rows of the samplers who stay after the window (see the module docstring).

    Point ``j`` keeps ``after[j]`` tables from the window end to ``finish[j]``; they are the
    samplers of its last staffed block (the block whose tables the timetable keeps on: the
    last one, or the most staffed if the last has none). Returns (team, point, start, end,
    samplers) arrays; ``staffed`` (P, B) are the tables staffed per block.
    """
    rows: list[tuple[int, int, int, int, int]] = []
    edges = staffing.edges
    nb = edges.shape[0] - 1
    for j in np.flatnonzero((finish > window_end) & (after > 0)).tolist():
        cover = staffed[j]
        block = nb - 1 if nb and cover[nb - 1] > 0 else int(np.argmax(cover)) if nb else 0
        t0 = int(edges[block]) if nb else window_end
        mine = np.flatnonzero((staffing.point == j) & (staffing.start <= t0) & (staffing.end > t0))
        need = int(after[j])
        for r in mine[np.argsort(-staffing.end[mine], kind="stable")].tolist():
            if need <= 0:
                break
            take = min(int(staffing.samplers[r]), need)
            rows.append((int(staffing.team[r]), j, window_end, int(finish[j]), take))
            need -= take
    if not rows:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy(), z.copy(), z.copy()
    arr = np.asarray(rows, dtype=np.int64)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]


def _shifts(
    teams: pl.DataFrame,
    point_ids: pl.Series,
    staffing: StaffingResult,
    timetable: Timetable,
    finish: np.ndarray,
    window_end: int,
) -> pl.DataFrame:
    """Shift rows of the staffing plan, then the overtime rows (``overtime`` true)."""
    staffed = timetable.main_tables + timetable.yellow_tables
    ot = overtime_rows(staffing, staffed, timetable.point_after_tables, finish, window_end)
    team = np.concatenate([staffing.team, ot[0]])
    frame = _hhmm(
        pl.DataFrame(
            {
                "team_id": teams["team_id"].gather(team),
                "team_name": teams["name"].gather(team),
                "point_id": point_ids.gather(np.concatenate([staffing.point, ot[1]])),
                "start_min": np.concatenate([staffing.start, ot[2]]).astype(np.int32),
                "end_min": np.concatenate([staffing.end, ot[3]]).astype(np.int32),
                "tables": np.concatenate([staffing.samplers, ot[4]]).astype(np.int64),
                "overtime": np.concatenate(
                    [np.zeros(staffing.team.size, dtype=bool), np.ones(ot[0].size, dtype=bool)]
                ),
            }
        ),
        "start",
        "end",
    ).select(
        "team_id",
        "team_name",
        "point_id",
        "start",
        "end",
        "tables",
        "overtime",
        "start_min",
        "end_min",
    )
    return frame.sort("point_id", "start_min", "team_id", "overtime")


def _point_table(
    point_ids: pl.Series,
    timetable: Timetable,
    sim: SimResult,
    repaired: RepairResult,
    whole: Timetable,
    staff: pl.DataFrame,
    window_start: int,
) -> pl.DataFrame:
    """Per open point: the timetable's and the simulation's figures, and staff."""
    # an idle point (no residents) finishes, and is bounded, at the window start
    finish = np.where(timetable.point_finish >= 0, timetable.point_finish, window_start)
    bound = np.where(timetable.point_lower_bound >= 0, timetable.point_lower_bound, window_start)
    sim_finish = np.nan_to_num(sim.finish, nan=float(window_start))
    p95 = np.nan_to_num(repaired.finish_p95, nan=float(window_start))
    return (
        _hhmm(
            pl.DataFrame(
                {
                    "point_id": point_ids,
                    "start_min": timetable.point_start.astype(np.int32),
                    "finish_min": finish.astype(np.int32),
                    "finish_lower_bound_min": bound.astype(np.int32),
                    "sim_finish_min": np.ceil(sim_finish).astype(np.int32),
                    "sim_finish_p95_min": np.ceil(p95).astype(np.int32),
                    "expected_peak_queue": timetable.point_peak_queue,
                    "expected_max_wait_min": timetable.point_max_wait,
                    "yellow_channel": timetable.point_channel,
                    "over_capacity": timetable.point_over_capacity,
                    "not_called": timetable.point_not_called,
                    "stranded": whole.point_stranded,
                    "overtime_residents": timetable.point_overtime,
                    "deficit": whole.point_deficit,
                    "sim_p50_wait_min": sim.p50_wait,
                    "sim_p95_wait_min": sim.p95_wait,
                    "sim_peak_queue": sim.peak_queue,
                    "sim_served": sim.served,
                    "sim_after_close": repaired.after_close,
                }
            ),
            "start",
            "finish",
            "finish_lower_bound",
            "sim_finish",
            "sim_finish_p95",
        )
        .join(staff, on="point_id", how="left")
        .with_columns(pl.col("staff_shifts").fill_null(0), pl.col("teams").fill_null(0))
    )


def _deficit_tables(scenario: Scenario, whole: Timetable, tables: np.ndarray) -> np.ndarray:
    """Whole-window tables each point with a deficit needs beyond its planned ones for
    everyone placed at it to finish inside the window: ``ceil(load ÷ U) − tables`` (≥ 0)."""
    unit = scenario.header.table_capacity
    load = whole.point_capacity + whole.point_deficit  # the load, where there is a deficit
    need = np.ceil(load / unit - 1e-9).astype(np.int64)
    out: np.ndarray = np.where(whole.point_deficit > 0, np.maximum(need - tables, 0), 0)
    return out.astype(np.int64)


def shortfall_span(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> dict[str, int | str]:
    """Where and when tables stand without a sampler (the shortfall rows' ``point``,
    ``start``/``end`` minutes): ``shortfall_points`` (how many points), ``shortfall_from`` and
    ``shortfall_to`` (HH:MM, the first missing block's start and the last one's end; empty
    without a shortfall), so a planner reads when the extra samplers are needed."""
    if np.asarray(point).size == 0:
        return {"shortfall_points": 0, "shortfall_from": "", "shortfall_to": ""}
    return {
        "shortfall_points": int(np.unique(np.asarray(point)).size),
        "shortfall_from": format_clock(int(np.min(start))),
        "shortfall_to": format_clock(int(np.max(end))),
    }


def _capacity_plan(
    point_ids: pl.Series, staffing: StaffingResult, deficit_tables: np.ndarray, shift: float
) -> pl.DataFrame:
    """The staffing plan's extra samplers (shortfall), then those of the deficit tables."""
    edges = staffing.edges
    lanes = np.repeat(deficit_tables[:, None], edges.shape[0] - 1, axis=1)
    d_point, d_start, d_end, d_samplers = capacity_plan(lanes, edges, int(shift))
    return _hhmm(
        pl.DataFrame(
            {
                "point_id": point_ids.gather(np.concatenate([staffing.extra_point, d_point])),
                "start_min": np.concatenate([staffing.extra_start, d_start]).astype(np.int32),
                "end_min": np.concatenate([staffing.extra_end, d_end]).astype(np.int32),
                "extra_samplers": np.concatenate([staffing.extra_samplers, d_samplers]).astype(
                    np.int64
                ),
                "reason": [CapacityReason.SHORTFALL.value] * staffing.extra_point.size
                + [CapacityReason.DEFICIT.value] * d_point.size,
            },
            schema_overrides={"reason": pl.String},
        ),
        "start",
        "end",
    )


def _kpis(
    scenario: Scenario,
    teams: pl.DataFrame,
    staffing: StaffingResult,
    timetable: Timetable,
    whole: Timetable,
    repaired: RepairResult,
    shifts: pl.DataFrame,
    capacity: pl.DataFrame,
    not_called: pl.DataFrame,
    finish: np.ndarray,
    points: pl.DataFrame,
    deficit_tables: np.ndarray,
) -> dict[str, float | int | str | None]:
    """The day's headline figures (``summary.json``)."""
    header = scenario.header
    window = header.window
    sim = repaired.simulation
    bound = np.where(timetable.point_lower_bound >= 0, timetable.point_lower_bound, window.start)
    sim_finish = np.nan_to_num(sim.finish, nan=float(window.start))
    limit = header.sampling.queue_wait_limit_min
    has_people = sim.served > 0
    p95 = sim.p95_wait[has_people]
    capacity_ok = ~timetable.point_over_capacity
    over_limit = has_people & (np.nan_to_num(sim.p95_wait, nan=0.0) > limit)
    busy = whole.point_finish >= 0
    whole_finish = int(whole.point_finish[busy].max()) if busy.any() else window.start
    district_p95 = repaired.district_finish_p95
    overtime = shifts.filter(pl.col("overtime")).join(
        teams.select("team_id", "available_to"), on="team_id", how="left"
    )
    shortfall_extra = int(
        capacity.filter(pl.col("reason") == CapacityReason.SHORTFALL.value)["extra_samplers"].sum()
    )
    extra_total = int(capacity["extra_samplers"].sum())
    stranded = int(whole.point_stranded.sum())
    beyond_site = np.maximum(
        points["tables"].to_numpy() + deficit_tables - points["max_tables"].to_numpy(), 0
    )
    called = int(timetable.part_residents.sum())
    times: dict[str, str | None] = {
        "finish_time": format_clock(int(finish.max()) if finish.size else window.start),
        "finish_lower_bound": format_clock(int(bound.max()) if bound.size else window.start),
        "sim_finish_time": format_clock(
            int(np.ceil(sim_finish.max())) if sim_finish.size else window.start
        ),
        "sim_finish_p95": format_clock(
            math.ceil(district_p95) if math.isfinite(district_p95) else window.start
        ),
    }
    if not called:
        times = dict.fromkeys(times)  # no swab, no time (null), not the window start
    return {
        **times,
        "finish_gap_pct": round(float(timetable.stats.gap_pct), 3),
        "sim_replications": repaired.replications,
        "late_tolerance_min": header.simulation.late_tolerance_min,
        "late_points": int(repaired.late.size),
        "sim_after_close_residents": round(float(repaired.after_close.sum()), 1),
        "sim_p95_wait_max_min": round(float(p95.max()), 2) if p95.size else 0.0,
        "sim_p95_wait_median_min": round(float(np.median(p95)), 2) if p95.size else 0.0,
        "points_p95_over_limit": int(over_limit.sum()),
        "points_p95_over_limit_with_capacity": int((over_limit & capacity_ok).sum()),
        "points_over_capacity": int(timetable.point_over_capacity.sum()),
        "residents_called": called,
        "residents_not_called": int(not_called["not_called"].sum()),
        "buildings_not_called": not_called.height,
        "overflow": header.assignment.overflow,
        "capacity_deficit_residents": int(whole.point_deficit.sum()),
        "residents_overtime": int(timetable.point_overtime.sum()),
        "points_overtime": int((timetable.point_overtime > 0).sum()),
        # residents no table will ever swab (a point with no table kept after the window):
        # with today's staff the round never ends, so no extension serves everyone (null)
        "residents_stranded": stranded,
        "window_extension_min": None if stranded else max(whole_finish - window.end, 0),
        "tables_after_window": int(whole.point_after_tables[busy].sum()),
        "extra_samplers_for_window": extra_total,
        "extra_tables_for_window": int(deficit_tables.sum()),
        "extra_tables_beyond_sites": int(beyond_site.sum()),
        "samplers_overtime": int(overtime["tables"].sum()),
        "sampler_overtime_min": int(
            (overtime["tables"] * (overtime["end_min"] - overtime["start_min"])).sum()
        ),
        "samplers_overtime_past_availability": int(
            overtime.filter(pl.col("end_min") > pl.col("available_to"))["tables"].sum()
        ),
        "samplers_available": int(teams["samplers"].sum()),
        "samplers_used": int(staffing.stats.samplers_used),
        "staffing_status": staffing.status.value,
        # steps whose re-solve with every team arc the staffing work cap skipped (a larger
        # work budget may staff better); deterministic, unlike a wall-clock cut
        "staffing_resolves_skipped": int(staffing.stats.resolves_skipped),
        "shortfall_sampler_blocks": int(staffing.short_missing.sum()),
        **shortfall_span(staffing.short_point, staffing.short_start, staffing.short_end),
        "extra_samplers_shortfall": shortfall_extra,
        "capacity_plan_extra_samplers": extra_total,
        "yellow_channels": int(timetable.point_channel.sum()),
        "timetable_repair_rounds": repaired.rounds,
    }


def _not_called(served: pl.DataFrame, calls: pl.DataFrame, status: np.ndarray) -> pl.DataFrame:
    """Buildings with residents left without a call, counted from the calls themselves.

    Reason (:class:`NotCalledReason`) ``capacity``: the point cannot take the building in the
    window (as staffed); ``yellow_slot``: only its yellow-code residents found no slot or
    channel in the window.
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
            .then(pl.lit(NotCalledReason.CAPACITY.value))
            .otherwise(pl.lit(NotCalledReason.YELLOW_SLOT.value))
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
