"""Re-planning the rest of the day from ``--at``, touching only what the events make necessary.

**What stays.** Buildings done stay with their point. A point announced to close later than
``--at`` is closed from ``--at`` on (nobody is sent to a point about to close); a table change
applies from ``--at`` too. When anything happened (an event concerning points or walk-in
teams, or a point whose residents still to come exceed what its tables swab in the rest of
the window), every building still to come is placed again by the cost model of
:mod:`sampling.replan.reassign`: arcs to the reachable open points, a change penalty on every
arc but the building's own point, so the engine moves a building only where that pays (its
point closed, or cannot hold what is left, or a much shorter walk). Otherwise nothing moves.

**What is re-timed.** A point is *touched* when an event concerns it (closed, tables changed, a
team that staffed it after ``--at`` is late or absent), when it gains or loses a building, or
when its residents still to come exceed what its tables swab in the rest of the window. Touched
points get new tables, staff (the samplers not on duty at untouched points, and the added
teams) and calls from ``--at`` by the day stage (:func:`sampling.stages.day.plan_day`: staffing, call
timetable, queue simulation) on a reduced scenario whose window starts at ``--at``; a team on
duty at a touched point starts there and moves only at the team move cost. When they still
lack samplers, kept points with spare tables lend theirs (the staff re-balance of
:func:`_day`). Untouched
points keep their saved shifts and calls after ``--at``; residents they called before ``--at``
who have not come get a call in the first slot after ``--at`` (and are on the catch-up list).

**Home visits** are re-routed only when an event concerns them (households added or removed, a
building sealed, a home-visit team late or absent); teams then continue from the household
they visited last before ``--at`` (or their origin), available from ``--at``. Otherwise the
saved routes continue unchanged.

**After the window** (``--at`` later than the window end less one call slot) the re-plan is a
catch-up session of ``CATCHUP_SESSION_MIN`` from ``--at``: every resident still untested is
assigned afresh to a few points (``CATCHUP_PER_POINT`` residents a point, the norm's upper
end), with the teams called back for the session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import polars as pl

from sampling.replan.changes import first_calls
from sampling.replan.costs import ChangeCosts
from sampling.replan.reassign import reassign
from sampling.replan.saved import SavedPlan
from sampling.replan.state import Situation
from sampling.scenario.header import Header
from sampling.scenario.model import Scenario
from sampling.stages.day import TEAM_TRAVEL_M_PER_MIN, DayPlan, plan_day
from sampling.stages.home_visits import plan_home_visits
from sampling.stages.limits import wall_safety

if TYPE_CHECKING:
    from sampling.stages.assignment import AssignmentPlan

__all__ = ["CATCHUP_PER_POINT", "CATCHUP_SESSION_MIN", "Replanned", "replan"]

CATCHUP_SESSION_MIN = 120
CATCHUP_PER_POINT = 3000
REASSIGN_WORK_S = 3.0
"""Work budget (seconds of work) of the cost model's engine run, at most the re-plan's: staying
is nearly optimal under the change penalty, so the engine needs little to find the moves that
pay, and the revert pass undoes those that do not."""


@dataclass(frozen=True)
class Replanned:
    """The new plan: its output tables (``OUTPUT_TABLES`` names), the reduced scenario it was
    planned on (window from ``--at``), the points touched and whether it is a catch-up session."""

    scenario: Scenario
    tables: dict[str, pl.DataFrame]
    touched: frozenset[str]
    catchup_session: bool
    figures: dict[str, Any]
    """Figures of the stages that ran: the cost model's (:mod:`sampling.replan.reassign`:
    engine status, objective, bound, gap, ``buildings_moved_by_cost``, ``moves_reverted``)
    when it ran, ``buildings_reassigned`` (buildings whose point changed), ``day`` (the touched
    points only, with ``rebalance_tried``: the donor points of the staff re-balance) and
    ``home_visits`` (the re-routing, when it ran)."""


@dataclass(frozen=True)
class _AssignmentView:
    """What the day and home-visit stages read of an assignment: its three frames.

    The re-plan merges kept and new rows itself, so it hands the stages this view rather than
    an engine result (the stages read only these attributes)."""

    assignments: pl.DataFrame
    points: pl.DataFrame
    overflow: pl.DataFrame


def _window(header: Header, at: int) -> tuple[int, int, bool]:
    """The re-plan's window and whether it is a catch-up session after the window."""
    slot = header.timetable.slot_min
    if at + slot <= header.window.end:
        return at, header.window.end, False
    start = min(at, 24 * 60 - CATCHUP_SESSION_MIN)
    return start, start + CATCHUP_SESSION_MIN, True


def _header(header: Header, start: int, end: int, open_limit: int | None) -> Header:
    window = header.window.model_copy(update={"start": start, "end": end})
    sampling = header.sampling.model_copy(update={"max_open_points": open_limit})
    visits = header.home_visits.model_copy(update={"start_at": "origin"})
    # the day's shift limit, not half of what is left of the window (``max_shift_min`` is
    # derived from the window unless the header sets it)
    staffing = header.staffing.model_copy(
        update={"max_shift_min": float(min(header.max_shift_min, end - start))}
    )
    return header.model_copy(
        update={
            "window": window,
            "sampling": sampling,
            "home_visits": visits,
            "staffing": staffing,
        }
    )


def _centre(scenario: Scenario) -> dict[str, float]:
    """Coordinates of the buildings' centre (where an added team is assumed to come from)."""
    cols = ["x", "y"] if scenario.header.coordinates == "planar" else ["lat", "lon"]
    return {c: float(cast(float, scenario.buildings[c].mean())) for c in cols}


def _teams(
    scenario: Scenario, saved: SavedPlan, s: Situation, start: int, end: int, catchup: bool
) -> pl.DataFrame:
    """Teams for the rest of the day: walk-in teams continue their saved duty after ``--at``
    until its planned end (a team whose shifts all ended is done), late ones from their arrival, absent ones gone,
    added ones from their time; home-visit teams from where their last visit ended."""
    teams = scenario.teams.filter(~pl.col("team_id").is_in(list(s.absent)))
    shifts = saved.tables["shifts"]
    duty = (
        shifts.filter(pl.col("end_min") > s.at)
        .group_by("team_id")
        .agg(pl.col("start_min").min().alias("d_from"), pl.col("end_min").max().alias("d_to"))
    )
    worked = set(shifts["team_id"].to_list())
    late = pl.DataFrame(
        {"team_id": list(s.late), "late_to": list(s.late.values())},
        schema={"team_id": pl.String, "late_to": pl.Int32},
    )
    done = s.households_done.sort("end_s").group_by("team_id", maintain_order=True).last()
    coords = ["x", "y"] if scenario.header.coordinates == "planar" else ["lat", "lon"]
    here = done.join(
        scenario.buildings.select("building_id", *coords), on="building_id", how="left"
    ).select(
        "team_id",
        (pl.col("end_s") // 60).cast(pl.Int32).alias("free_at"),
        *(pl.col(c).alias(f"here_{c}") for c in coords),
    )
    walk = ~pl.col("home_visit")
    teams = (
        teams.join(duty, on="team_id", how="left", maintain_order="left")
        .join(late, on="team_id", how="left", maintain_order="left")
        .join(here, on="team_id", how="left", maintain_order="left")
    )
    if catchup:  # called back for the session
        frm, to = pl.lit(start), pl.lit(end)
    else:
        frm = pl.max_horizontal(
            pl.col("available_from"),
            pl.lit(start),
            pl.when(walk).then(pl.col("d_from")),
            pl.col("late_to"),
            pl.col("free_at"),
        )
        to = (
            pl.when(walk & pl.col("d_to").is_not_null())
            .then(pl.col("d_to"))
            .otherwise(pl.col("available_to"))
        )
        idle = walk & pl.col("d_to").is_null() & pl.col("team_id").is_in(list(worked))
        teams = teams.filter(~idle)  # its shifts are over: done for the day
    teams = teams.with_columns(
        frm.cast(pl.Int32).alias("available_from"),
        to.cast(pl.Int32).alias("available_to"),
        *(pl.coalesce(f"here_{c}", c).alias(c) for c in coords),
    ).filter(pl.col("available_to") > pl.col("available_from"))
    teams = teams.select(scenario.teams.columns)
    centre = _centre(scenario)
    added = [
        {
            "team_id": e.id,
            "samplers": int(e.value) if isinstance(e.value, int) else 1,
            "available_from": start if catchup else max(e.time, start),
            "available_to": end,
            "home_visit": False,
            "name": e.id,
            **centre,
        }
        for e in s.added
    ]
    if added:
        new = pl.DataFrame(added).with_columns(
            pl.col(c).cast(teams.schema[c])
            for c in pl.DataFrame(added).columns
            if c in teams.schema
        )
        teams = pl.concat([teams, new], how="diagonal_relaxed").select(teams.columns)
    return teams.filter(pl.col("available_to") > pl.col("available_from"))


def _reduced(scenario: Scenario, s: Situation, header: Header, teams: pl.DataFrame) -> Scenario:
    """The scenario of the rest of the day: residents still to come (walk-in and at home),
    the points as the events left them, the teams as they are now."""
    home = s.households.group_by("building_id").agg(pl.col("persons").sum().alias("home"))
    buildings = (
        scenario.buildings.join(
            s.buildings.select("building_id", "remaining"), on="building_id", how="left"
        )
        .join(home, on="building_id", how="left", maintain_order="left")
        .with_columns(
            (pl.col("remaining").fill_null(0) + pl.col("home").fill_null(0))
            .cast(scenario.buildings.schema["residents"])
            .alias("residents")
        )
        .with_columns(
            pl.min_horizontal("yellow_code", "residents").alias("yellow_code"),
            pl.min_horizontal("elderly", "residents").alias("elderly"),
        )
        .select(scenario.buildings.columns)
    )
    points = scenario.points.with_columns(
        pl.when(pl.col("point_id").is_in(list(s.closed)))
        .then(pl.lit("closed"))
        .otherwise(pl.col("status"))
        .alias("status"),
        pl.col("point_id")
        .replace_strict(
            {p: n for p, n in s.tables.items() if n > 0},
            default=pl.col("max_tables"),
            return_dtype=scenario.points.schema["max_tables"],
        )
        .alias("max_tables"),
    )
    households = s.households.select(scenario.home_visits.columns)
    return scenario.replace(
        header=header, buildings=buildings, points=points, teams=teams, home_visits=households
    )


def replan(
    scenario: Scenario,
    saved: SavedPlan,
    s: Situation,
    *,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
    costs: ChangeCosts | None = None,
) -> Replanned:
    """The plan for the rest of the day (see the module docstring); ``costs``: what a change
    costs (default :class:`ChangeCosts`). ``time_limit``: the solvers' work budget;
    ``wall_limit``: each solver's wall-clock safety stop (:mod:`sampling.stages.limits`)."""
    wall = wall_safety(time_limit, wall_limit)
    costs = costs if costs is not None else ChangeCosts()
    header = scenario.header
    start, end, catchup = _window(header, s.at)
    leftover = int(s.buildings["remaining"].sum())
    open_limit = (
        max(1, math.ceil(leftover / CATCHUP_PER_POINT))
        if catchup
        else header.sampling.max_open_points
    )
    new_header = _header(header, start, end, open_limit)
    teams = _teams(scenario, saved, s, start, end, catchup)
    reduced = _reduced(scenario, s, new_header, teams)
    unit = max(math.floor(new_header.table_capacity), 1)
    old_points = saved.tables["points"]
    shifts = saved.tables["shifts"]

    team_points = shifts.filter(
        (pl.col("end_min") > s.at) & pl.col("team_id").is_in(list(s.absent | set(s.late)))
    )["point_id"]
    touched = set(s.closed) | set(s.tables) | set(team_points.to_list())
    load = (
        s.buildings.filter(pl.col("remaining") > 0)
        .group_by("old_point")
        .agg(pl.col("remaining").sum().alias("to_come"))
    )
    rate_left = header.sampling.swabs_per_table_per_hour * (end - start) / 60.0
    over = old_points.join(
        load.rename({"old_point": "point_id"}), on="point_id", how="inner"
    ).filter(pl.col("to_come") > pl.col("tables") * rate_left)
    touched |= set(over["point_id"].to_list())
    figures: dict[str, Any] = {
        "buildings_reassigned": 0,
        "seed": seed,
        "time_limit_s": time_limit,
        "wall_limit_s": wall,
    }
    new: pl.DataFrame | None = None
    if touched or catchup:
        # something happened: every building still to come is placed again, by the cost model
        open_before = frozenset(old_points.filter(pl.col("open"))["point_id"].to_list())
        placed = reassign(
            reduced,
            saved.tables["assignments"],
            s.buildings.select("building_id", "remaining"),
            open_before,
            unit,
            costs,
            catchup=catchup,
            time_limit=min(time_limit, REASSIGN_WORK_S),
            wall_limit=wall,
            seed=seed,
        )
        new = placed.buildings
        changed = new.join(
            s.buildings.select("building_id", "old_point"), on="building_id", how="left"
        ).filter(pl.col("reassigned") & pl.col("point_id").ne_missing(pl.col("old_point")))
        touched |= set(changed["old_point"].drop_nulls().to_list())
        touched |= set(changed["point_id"].drop_nulls().to_list())
        figures |= placed.figures | {"buildings_reassigned": changed.height}
        if catchup:
            touched |= set(new["point_id"].drop_nulls().to_list())
    touched -= set(s.closed)
    tables = _tables(scenario, saved, s, new, reduced, touched, unit)
    day_figures, tables = _day(
        reduced, saved, s, tables, touched, start, time_limit, seed, costs, unit
    )
    touched |= set(day_figures.pop("donors", []))
    figures["day"] = day_figures
    visit_figures, tables = _visits(reduced, saved, s, tables, wall, seed)
    figures["home_visits"] = visit_figures
    return Replanned(reduced, tables, frozenset(touched), catchup, figures)


def _tables(
    scenario: Scenario,
    saved: SavedPlan,
    s: Situation,
    new: pl.DataFrame | None,
    reduced: Scenario,
    touched: set[str],
    unit: int,
) -> dict[str, pl.DataFrame]:
    """The new ``assignments`` and ``points`` (rest-of-day loads; touched points get
    ``ceil(load ÷ table capacity)`` tables within their sites, kept points their tables)."""
    old = saved.tables["assignments"]
    home = s.households.group_by("building_id").agg(
        pl.col("persons").sum().cast(pl.Int64).alias("home")
    )
    a = old.join(
        s.buildings.select("building_id", "remaining", "sealed"),
        on="building_id",
        how="left",
        maintain_order="left",
    ).join(home, on="building_id", how="left", maintain_order="left")
    if new is not None:
        a = a.join(
            new.select(
                "building_id",
                pl.col("point_id").alias("point"),
                pl.col("walk_m").alias("new_walk_m"),
                pl.col("unserved_reason").alias("new_reason"),
                pl.col("beyond_limit").alias("new_beyond"),
                "reassigned",
            ),
            on="building_id",
            how="left",
            maintain_order="left",
        ).with_columns(pl.col("reassigned").fill_null(False))
    else:
        a = a.with_columns(
            pl.lit(None, pl.String).alias("point"),
            pl.lit(None, pl.Float64).alias("new_walk_m"),
            pl.lit(None, pl.String).alias("new_reason"),
            pl.lit(None, pl.Boolean).alias("new_beyond"),
            pl.lit(False).alias("reassigned"),
        )
    reassigned = pl.col("reassigned")
    speed = scenario.header.walking.speed_m_per_min
    a = a.with_columns(
        pl.col("remaining").fill_null(0).alias("walk_in"),
        pl.col("home").fill_null(0).alias("home_visit_persons"),
        pl.when(reassigned).then(pl.col("point")).otherwise(pl.col("point_id")).alias("point_id"),
        pl.when(reassigned).then("new_walk_m").otherwise("walk_m").alias("walk_m"),
        pl.when(pl.col("sealed"))
        .then(pl.lit("no_walk_in"))
        .when(reassigned)
        .then("new_reason")
        .otherwise("unserved_reason")
        .alias("unserved_reason"),
        pl.when(reassigned).then("new_beyond").otherwise("beyond_limit").alias("beyond_limit"),
    ).with_columns(
        pl.when(pl.col("sealed")).then(None).otherwise(pl.col("point_id")).alias("point_id"),
        (pl.col("walk_m") / speed).alias("walk_min"),
    )
    a = a.select(old.columns)
    load = (
        a.filter(pl.col("point_id").is_not_null())
        .group_by("point_id")
        .agg(pl.col("walk_in").sum().alias("new_load"))
    )
    rp = reduced.points.select("point_id", pl.col("max_tables").alias("new_max"))
    points = (
        saved.tables["points"]
        .join(load, on="point_id", how="left", maintain_order="left")
        .join(rp, on="point_id", how="left", maintain_order="left")
        .with_columns(pl.col("new_load").fill_null(0))
    )
    is_touched = pl.col("point_id").is_in(list(touched))
    need = ((pl.col("new_load") + unit - 1) // unit).clip(lower_bound=1)
    tables = (
        pl.when(pl.col("point_id").is_in(list(s.closed)))
        .then(0)
        .when(is_touched & (pl.col("new_load") > 0))
        .then(pl.min_horizontal(need, pl.col("new_max")))
        .when(is_touched)
        .then(0)
        .otherwise(pl.col("tables"))
    )
    points = (
        points.with_columns(
            tables.cast(pl.Int64).alias("tables"),
            pl.col("new_max").cast(pl.Int64).alias("max_tables"),
            pl.col("new_load").cast(pl.Int64).alias("load"),
        )
        .with_columns(
            ((pl.col("tables") > 0) & (pl.col("open") | is_touched)).alias("open"),
            (pl.col("tables") * unit).alias("capacity"),
            (pl.col("max_tables") * unit).alias("capacity_max"),
        )
        .with_columns(
            pl.when(pl.col("capacity") > 0)
            .then(pl.col("load") / pl.col("capacity"))
            .otherwise(0.0)
            .alias("utilisation"),
            pl.when(pl.col("point_id").is_in(list(s.closed)))
            .then(pl.lit("closed"))
            .otherwise(pl.col("status"))
            .alias("status"),
        )
    )
    return {"assignments": a, "points": points.select(saved.tables["points"].columns)}


def _day(
    reduced: Scenario,
    saved: SavedPlan,
    s: Situation,
    tables: dict[str, pl.DataFrame],
    touched: set[str],
    start: int,
    time_limit: float,
    seed: int,
    costs: ChangeCosts,
    unit: int,
) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """Kept points keep their shifts and calls after ``--at`` (and call their catch-up
    residents in the first slot); touched points are staffed and timed by the day stage.

    Staff re-balance: when the touched points still lack samplers (extra samplers in their
    capacity plan), the kept points with spare tables (more than their residents still to come
    need in the rest of the window), nearest first, are re-planned with them, until their spare
    covers the lack: the staffing may then move the samplers they no longer need, at the team
    move cost. The re-balanced day is kept only if fewer residents are left in overtime or
    beyond capacity; the donors are then touched too (``figures["donors"]``)."""
    at = s.at
    slot = reduced.header.timetable.slot_min
    a, points = tables["assignments"], tables["points"]
    old_shifts, old_calls = saved.tables["shifts"], saved.tables["timetable"]
    open_ids = set(points.filter(pl.col("open"))["point_id"].to_list())
    kept = open_ids - touched
    busy = open_ids & touched
    figures: dict[str, Any] = {}
    day: DayPlan | None = None
    if busy:
        day = _day_stage(reduced, saved, s, a, points, kept, busy, time_limit, seed, costs)
        lack = int(day.capacity_plan["extra_samplers"].sum())
        # a donor keeps the tables its residents need at the planned utilisation
        need_unit = max(math.floor(unit * reduced.header.sampling.target_utilisation), 1)
        donors = _donors(reduced, points, kept, day, lack, need_unit) if lack > 0 else set()
        if donors:
            resized = _resize(points, donors, need_unit, unit)
            second = _day_stage(
                reduced,
                saved,
                s,
                a,
                resized,
                kept - donors,
                busy | donors,
                time_limit,
                seed,
                costs,
            )
            window_end = reduced.header.window.end
            rest = max(window_end - at, slot)
            kept_calls = _kept_calls(old_calls, s, sorted(donors), at, slot)
            kept_not_called = saved.tables["not_called"].filter(
                pl.col("point_id").is_in(sorted(donors))
            )
            relief = (
                _delay(day.timetable, day.not_called, window_end, rest)
                + _delay(kept_calls, kept_not_called, window_end, rest)
                - _delay(second.timetable, second.not_called, window_end, rest)
            )
            moved = _calls_moved(kept_calls, second.timetable, sorted(donors), at, slot)
            figures |= {
                "rebalance_relief_resident_min": round(relief, 1),
                "rebalance_call_moves_residents": moved,
            }
            if _left_over(second) < _left_over(day) and relief > moved * costs.call_move_min:
                day, points = second, resized
                kept, busy = kept - donors, busy | donors
                figures["donors"] = sorted(donors)
            figures["rebalance_tried"] = sorted(donors)
    kept_list = sorted(kept)
    shifts = old_shifts.filter(
        pl.col("point_id").is_in(kept_list) & (pl.col("end_min") > at)
    ).with_columns(pl.max_horizontal("start_min", pl.lit(at)).cast(pl.Int32).alias("start_min"))
    calls = _kept_calls(old_calls, s, kept_list, at, slot)
    keep_rows = {
        name: saved.tables[name].filter(
            pl.col("point_id").is_in(kept_list) & (pl.col("end_min") > at)
        )
        for name in ("shortfall", "capacity_plan")
    }
    not_called = saved.tables["not_called"].filter(pl.col("point_id").is_in(kept_list))
    new_points = points
    if day is not None:
        shifts = pl.concat([shifts, day.shifts.select(shifts.columns)])
        calls = pl.concat([calls, day.timetable.select(calls.columns)])
        for name in ("shortfall", "capacity_plan"):
            frame = getattr(day, name)
            keep_rows[name] = pl.concat([keep_rows[name], frame.select(keep_rows[name].columns)])
        not_called = pl.concat([not_called, day.not_called.select(not_called.columns)])
        figures |= {k: v for k, v in day.kpis.items()}
        day_cols = day.points.rename({"staff_shifts": "staff"})
        replaced = [c for c in day_cols.columns if c in points.columns and c != "point_id"]
        fresh = points.join(
            day_cols.select("point_id", *replaced), on="point_id", how="left", suffix="__new"
        )
        is_new = pl.col("point_id").is_in(sorted(busy))
        new_points = fresh.with_columns(
            pl.when(is_new).then(pl.col(f"{c}__new")).otherwise(pl.col(c)).alias(c)
            for c in replaced
        ).select(points.columns)
    idle = ~pl.col("open")
    new_points = new_points.with_columns(
        pl.when(idle).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("finish", "finish_lower_bound", "sim_finish", "start", "sim_finish_p95")
        if c in new_points.columns
    )
    out = dict(tables)
    shifts = shifts.with_columns(_clock("start_min").alias("start"), _clock("end_min").alias("end"))
    out |= {
        "points": new_points,
        "shifts": shifts.sort("point_id", "start_min", "team_id"),
        "timetable": calls.sort("point_id", "call_start_min", "building_id"),
        "not_called": not_called,
        **keep_rows,
    }
    return figures, out


_ROW = "#"
"""Separates a team's id from the number of one of its sampler groups in the day stage."""


def _pool(
    reduced: Scenario, saved: SavedPlan, s: Situation, kept: set[str]
) -> tuple[pl.DataFrame, dict[str, str], dict[str, str]]:
    """The samplers the day stage may use, in groups (one team row each, ids
    ``team#k``): those on duty at ``--at`` where nothing is kept keep their shift's end and
    start at their point; those whose shift there starts later start at that point from the
    team's availability; those the saved plan never used come from the team's origin. Samplers
    whose one shift is over, or who stay at the kept points, are not in it; nor are absent
    teams. Returns the groups (``reduced.teams`` columns), each group's point (where it leaves
    only at the team move cost) and its team."""
    at = s.at
    teams = reduced.teams.filter(~pl.col("home_visit"))
    coords = ["x", "y"] if reduced.header.coordinates == "planar" else ["lat", "lon"]
    shifts = saved.tables["shifts"].filter(~pl.col("overtime"))
    used = shifts.group_by("team_id").agg(pl.col("tables").sum().alias("used"))
    late = sorted(s.late)
    after = shifts.filter((pl.col("end_min") > at) & ~pl.col("point_id").is_in(sorted(kept))).join(
        teams.select("team_id"), on="team_id", how="semi"
    )
    on_duty = (pl.col("start_min") <= at) & ~pl.col("team_id").is_in(late)
    groups = after.select(
        "team_id",
        pl.col("point_id").alias("at_point"),
        pl.col("tables").alias("n"),
        pl.when(on_duty).then(pl.lit(at)).otherwise(pl.col("start_min")).alias("g_from"),
        pl.when(on_duty).then(pl.col("end_min")).alias("g_to"),
    )
    unused = (
        teams.join(used, on="team_id", how="left", maintain_order="left")
        .select(
            "team_id",
            pl.lit(None, pl.String).alias("at_point"),
            (pl.col("samplers") - pl.col("used").fill_null(0)).alias("n"),
            pl.lit(None, pl.Int64).alias("g_from"),
            pl.lit(None, pl.Int64).alias("g_to"),
        )
        .filter(pl.col("n") > 0)
    )
    pool = (
        pl.concat([groups, unused], how="vertical_relaxed")
        .sort("team_id", "at_point", "g_from", nulls_last=True)
        .join(teams, on="team_id", how="inner", maintain_order="left")
        .join(
            reduced.points.select("point_id", *(pl.col(c).alias(f"p_{c}") for c in coords)),
            left_on="at_point",
            right_on="point_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.format(
                "{}{}{}", "team_id", pl.lit(_ROW), pl.int_range(pl.len()).over("team_id")
            ).alias("row_id"),
            pl.col("n").cast(teams.schema["samplers"]).alias("samplers"),
            pl.max_horizontal("g_from", "available_from")
            .cast(teams.schema["available_from"])
            .alias("available_from"),
            pl.coalesce("g_to", "available_to")
            .cast(teams.schema["available_to"])
            .alias("available_to"),
            *(pl.coalesce(f"p_{c}", c).alias(c) for c in coords),
        )
        .filter((pl.col("samplers") > 0) & (pl.col("available_to") > pl.col("available_from")))
    )
    point_of = {r: p for r, p in pool.select("row_id", "at_point").iter_rows() if p is not None}
    team_of = dict(pool.select("row_id", "team_id").iter_rows())
    frame = pool.with_columns(pl.col("row_id").alias("team_id")).select(teams.columns)
    return frame, point_of, team_of


def _day_stage(
    reduced: Scenario,
    saved: SavedPlan,
    s: Situation,
    a: pl.DataFrame,
    points: pl.DataFrame,
    kept: set[str],
    busy: set[str],
    time_limit: float,
    seed: int,
    costs: ChangeCosts,
) -> DayPlan:
    """The day stage on the ``busy`` points, staffed by the sampler groups of :func:`_pool`;
    a group on duty at (or due at) a busy point leaves it only at the team move cost."""
    pool, point_of, team_of = _pool(reduced, saved, s, kept)
    ids = sorted(busy)
    sub_assign = a.filter(pl.col("point_id").is_in(ids) & (pl.col("walk_in") > 0))
    sub = reduced.replace(
        teams=pool,
        buildings=reduced.buildings.filter(
            pl.col("building_id").is_in(sub_assign["building_id"].implode())
        ),
    )
    view = _AssignmentView(
        sub_assign,
        points.filter(pl.col("point_id").is_in(ids)),
        pl.DataFrame(schema={"building_id": pl.String, "point_id": pl.String, "walk_in": pl.Int64}),
    )
    day = plan_day(
        sub,
        cast("AssignmentPlan", view),
        time_limit=min(time_limit, 10.0),
        seed=seed,
        team_point=point_of,
        move_penalty_m=costs.team_move_min * TEAM_TRAVEL_M_PER_MIN,
    )
    keys = [c for c in day.shifts.columns if c != "tables"]
    shifts = (
        day.shifts.with_columns(pl.col("team_id").replace_strict(team_of))
        .group_by(keys, maintain_order=True)
        .agg(pl.col("tables").sum())
        .select(day.shifts.columns)
    )
    return replace(day, shifts=shifts)


def _delay(calls: pl.DataFrame, not_called: pl.DataFrame, window_end: int, rest: int) -> float:
    """Resident-minutes of waiting past the window a set of calls leaves: each resident called
    after ``window_end`` counts the minutes past it, each resident left without a call the
    rest of the window (``rest`` minutes), as if asked to come back for it."""
    late = (pl.col("call_start_min") - window_end).clip(lower_bound=0) * pl.col("residents")
    past = float(calls.select(late.sum()).item() or 0)
    return past + float(not_called["not_called"].sum()) * rest


def _calls_moved(
    old_calls: pl.DataFrame, new_calls: pl.DataFrame, points: list[str], at: int, slot: int
) -> int:
    """Residents still to come at ``points`` whose first call after ``at`` moves by more than
    one slot between ``old_calls`` and ``new_calls`` (the ``call_moved`` rule of
    :mod:`sampling.replan.changes`)."""
    old = first_calls(old_calls.filter(pl.col("point_id").is_in(points)), at)
    new = first_calls(new_calls.filter(pl.col("point_id").is_in(points)), at)
    residents = (
        new_calls.filter(pl.col("point_id").is_in(points) & (pl.col("call_end_min") > at))
        .group_by("building_id")
        .agg(pl.col("residents").sum())
    )
    moved = (
        old.rename({"call": "oc"})
        .join(new.rename({"call": "nc"}), on="building_id", how="inner")
        .filter((pl.col("nc") - pl.col("oc")).abs() > slot)
        .join(residents, on="building_id", how="inner")
    )
    return int(moved["residents"].sum())


def _left_over(day: DayPlan) -> int:
    """Residents a day plan leaves in overtime or beyond capacity."""
    return int(day.kpis.get("residents_overtime") or 0) + int(
        day.kpis.get("capacity_deficit_residents") or 0
    )


def _spare(points: pl.DataFrame, unit: int) -> pl.Expr:
    """Tables a point holds beyond what its residents still to come need in the rest of the
    window, ``unit`` residents a table."""
    need = ((pl.col("load") + unit - 1) // unit).clip(lower_bound=1)
    return (pl.col("tables") - need).clip(lower_bound=0)


def _donors(
    reduced: Scenario,
    points: pl.DataFrame,
    kept: set[str],
    day: DayPlan,
    lack: int,
    unit: int,
) -> set[str]:
    """Kept points with spare tables, nearest to the points that lack samplers first, until
    their spare covers ``lack``."""
    short = day.capacity_plan.group_by("point_id").agg(pl.col("extra_samplers").sum())
    if not short.height:
        return set()
    spare = points.filter(pl.col("point_id").is_in(sorted(kept))).with_columns(
        _spare(points, unit).alias("spare")
    )
    spare = spare.filter(pl.col("spare") > 0)
    if not spare.height:
        return set()
    px, py = reduced.xy(reduced.points)
    xy = reduced.points.select("point_id").with_columns(pl.Series("px", px), pl.Series("py", py))
    d = spare.select("point_id", "spare").join(xy, on="point_id", how="left")
    s = short.join(xy, on="point_id", how="left")
    sx, sy = s["px"].to_numpy(), s["py"].to_numpy()
    dx, dy = d["px"].to_numpy(), d["py"].to_numpy()
    gap = np.sqrt((dx[:, None] - sx[None, :]) ** 2 + (dy[:, None] - sy[None, :]) ** 2).min(axis=1)
    d = d.with_columns(pl.Series("gap", gap)).sort("gap", "point_id")
    covered = d["spare"].cum_sum()
    upto = int((covered < lack).sum()) + 1
    return set(d["point_id"].head(upto).to_list())


def _resize(points: pl.DataFrame, donors: set[str], need_unit: int, unit: int) -> pl.DataFrame:
    """Donor points planned with the tables their residents still to come need
    (``need_unit`` residents a table; ``unit``: a table's full capacity)."""
    is_donor = pl.col("point_id").is_in(sorted(donors))
    return points.with_columns(
        pl.when(is_donor)
        .then(pl.col("tables") - _spare(points, need_unit))
        .otherwise("tables")
        .cast(points.schema["tables"])
        .alias("tables")
    ).with_columns(
        pl.when(is_donor)
        .then(pl.col("tables") * unit)
        .otherwise("capacity")
        .cast(points.schema["capacity"])
        .alias("capacity")
    )


def _kept_calls(
    old_calls: pl.DataFrame, s: Situation, kept: list[str], at: int, slot: int
) -> pl.DataFrame:
    """Calls of kept points after ``at``: each building's calls still to come, trimmed to its
    residents not yet called (``later``, from its earliest call on), and one call in the first
    slot after ``at`` for its catch-up residents."""
    calls = old_calls.filter(pl.col("point_id").is_in(kept) & (pl.col("call_end_min") > at))
    share = (
        (pl.lit(at) - pl.col("call_start_min"))
        / (pl.col("call_end_min") - pl.col("call_start_min")).clip(lower_bound=1)
    ).clip(0.0, 1.0)
    calls = calls.with_columns(
        (pl.col("residents") - (pl.col("residents") * share).floor().cast(pl.Int64)).alias(
            "residents"
        ),
        pl.max_horizontal("call_start_min", pl.lit(at)).cast(pl.Int32).alias("call_start_min"),
    ).join(s.buildings.select("building_id", "later", "catchup"), on="building_id", how="left")
    calls = calls.sort("building_id", "call_start_min", maintain_order=True).with_columns(
        (pl.col("residents").cum_sum().over("building_id", order_by="call_start_min")).alias("upto")
    )
    total = pl.col("residents").sum().over("building_id")
    excess = (total - pl.col("later")).clip(lower_bound=0)
    before = pl.col("upto") - pl.col("residents")
    trimmed = (pl.col("residents") - (excess - before).clip(0, None)).clip(lower_bound=0)
    later = calls.with_columns(trimmed.cast(pl.Int64).alias("residents")).filter(
        pl.col("residents") > 0
    )
    first = (
        s.buildings.filter(pl.col("old_point").is_in(kept) & (pl.col("catchup") > 0))
        .join(
            old_calls.group_by("building_id").agg(pl.col("grid_id").first()),
            on="building_id",
            how="left",
            suffix="__t",
        )
        .select(
            "building_id",
            "grid_id",
            pl.col("old_point").alias("point_id"),
            pl.lit(at, pl.Int32).alias("call_start_min"),
            pl.lit(at + slot, pl.Int32).alias("call_end_min"),
            pl.col("catchup").cast(pl.Int64).alias("residents"),
            pl.lit(False).alias("yellow_code"),
            pl.lit("main").alias("channel"),
        )
    )
    later = later.select(first.columns)
    out = pl.concat([first, later], how="vertical_relaxed")
    return out.with_columns(
        _clock("call_start_min").alias("call_start"), _clock("call_end_min").alias("call_end")
    ).select(old_calls.columns)


def _clock(column: str) -> pl.Expr:
    from sampling.clock import clock_expr

    return clock_expr(pl.col(column))


def _visits(
    reduced: Scenario,
    saved: SavedPlan,
    s: Situation,
    tables: dict[str, pl.DataFrame],
    time_limit: float,
    seed: int,
) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """Home visits still to make: the saved routes continue, or (when an event concerns home
    visits) every household still to visit is routed again from where each team is."""
    at = s.at
    old = saved.tables["home_visits"]
    teams = saved.tables["routes"]["team_id"].to_list()
    affected = s.home_events or any(t in s.absent or t in s.late for t in teams)
    out = dict(tables)
    if not affected:
        remaining = old.filter(
            ~pl.col("household_id").is_in(s.households_done["household_id"].implode())
        )
        out |= {
            "home_visits": remaining,
            "routes": saved.tables["routes"],
            "route_stops": saved.tables["route_stops"],
        }
        served = remaining.filter(pl.col("team_id").is_not_null())
        return {
            "households_served": served.height,
            "households_unserved": remaining.height - served.height,
        }, out
    view = _AssignmentView(
        tables["assignments"],
        tables["points"],
        pl.DataFrame(schema={"building_id": pl.String, "point_id": pl.String, "walk_in": pl.Int64}),
    )
    finish = tables["points"].select(
        "point_id",
        pl.col("finish")
        .str.slice(0, 2)
        .cast(pl.Int32, strict=False)
        .mul(60)
        .add(pl.col("finish").str.slice(3, 2).cast(pl.Int32, strict=False))
        .fill_null(at)
        .alias("finish_min"),
    )
    visits = plan_home_visits(
        reduced,
        cast("AssignmentPlan", view),
        point_finish=finish,
        time_limit=time_limit,
        seed=seed,
    )
    out |= {
        "home_visits": visits.visits,
        "routes": visits.routes,
        "route_stops": visits.route_stops,
    }
    return dict(visits.kpis), out
