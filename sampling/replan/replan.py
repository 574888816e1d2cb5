"""Re-planning the rest of the day from ``--at``, touching only what the events make necessary.

**What stays.** Buildings done stay with their point. A point announced to close later than
``--at`` is closed from ``--at`` on (nobody is sent to a point about to close); a table change
applies from ``--at`` too. A building keeps its point unless the point is closed, lost the
tables to hold it (``point_tables``: the buildings called last are freed until the rest fits)
or it had none; only these *free* buildings are assigned again, by the location engine on a reduced scenario (:func:`sampling.stages.assignment.assign`) whose
points hold what the kept buildings leave of their tables. Keeping the others is the change
cost made absolute: an engine run over every building could move any of them for a few metres,
and every move is a person to tell.

**What is re-timed.** A point is *touched* when an event concerns it (closed, tables changed, a
team that staffed it after ``--at`` is late or absent), when it receives a freed building, or
when its residents still to come exceed what its tables swab in the rest of the window. Touched
points get new tables, staff (the samplers not on duty at untouched points, and the added
teams) and calls from ``--at`` by the day stage (:func:`sampling.stages.day.plan_day`: staffing, call
timetable, queue simulation) on a reduced scenario whose window starts at ``--at``. Untouched
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from sampling.replan.saved import SavedPlan
from sampling.replan.state import Situation
from sampling.scenario.header import Header
from sampling.scenario.model import Scenario
from sampling.stages.assignment import assign
from sampling.stages.day import plan_day
from sampling.stages.home_visits import plan_home_visits

if TYPE_CHECKING:
    from sampling.stages.assignment import AssignmentPlan

__all__ = ["CATCHUP_PER_POINT", "CATCHUP_SESSION_MIN", "Replanned", "replan"]

CATCHUP_SESSION_MIN = 120
CATCHUP_PER_POINT = 3000


@dataclass(frozen=True)
class Replanned:
    """The new plan: its output tables (``OUTPUT_TABLES`` names), the reduced scenario it was
    planned on (window from ``--at``), the points touched and whether it is a catch-up session."""

    scenario: Scenario
    tables: dict[str, pl.DataFrame]
    touched: frozenset[str]
    catchup_session: bool
    figures: dict[str, Any]
    """Figures of the stages that ran: the engine's for the re-assigned buildings, ``day`` (the
    touched points only) and ``home_visits`` (the re-routing, when it ran)."""


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
    return header.model_copy(
        update={
            "window": window,
            "sampling": sampling,
            "home_visits": visits,
            "max_shift_min": min(header.max_shift_min, end - start),
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
    seed: int = 0,
) -> Replanned:
    """The plan for the rest of the day (see the module docstring)."""
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

    b = s.buildings.join(
        reduced.points.select(pl.col("point_id").alias("old_point"), "status", "max_tables"),
        on="old_point",
        how="left",
        maintain_order="left",
    ).join(
        saved.tables["timetable"]
        .group_by("building_id")
        .agg(pl.col("call_start_min").max().alias("last_call")),
        on="building_id",
        how="left",
        maintain_order="left",
    )
    gone = pl.col("old_point").is_null() | (pl.col("status") == "closed")
    free = (pl.col("remaining") > 0) & (gone | pl.lit(catchup))
    b = b.with_columns(free.alias("free"))
    # points that lost tables: free the buildings called last until the rest fits
    for pid, n_tables in s.tables.items():
        if n_tables == 0 or catchup:
            continue
        here = b.filter((pl.col("old_point") == pid) & (pl.col("remaining") > 0)).sort(
            "last_call", "building_id", descending=[False, False], nulls_last=True
        )
        keep = here.with_columns(pl.col("remaining").cum_sum().alias("upto")).filter(
            pl.col("upto") > n_tables * unit
        )
        b = b.with_columns(
            (pl.col("free") | pl.col("building_id").is_in(keep["building_id"].implode())).alias(
                "free"
            )
        )
    team_points = shifts.filter(
        (pl.col("end_min") > s.at) & pl.col("team_id").is_in(list(s.absent | set(s.late)))
    )["point_id"]
    touched = set(s.closed) | set(s.tables) | set(team_points.to_list())
    fixed_load = (
        b.filter(~pl.col("free") & (pl.col("remaining") > 0))
        .group_by("old_point")
        .agg(pl.col("remaining").sum().alias("fixed"))
    )
    rate_left = header.sampling.swabs_per_table_per_hour * (end - start) / 60.0
    over = old_points.join(
        fixed_load.rename({"old_point": "point_id"}), on="point_id", how="inner"
    ).filter(pl.col("fixed") > pl.col("tables") * rate_left)
    touched |= set(over["point_id"].to_list())

    new_point = b.select("building_id", pl.when(~pl.col("free")).then("old_point").alias("point"))
    free_ids = b.filter(pl.col("free"))["building_id"]
    figures: dict[str, Any] = {"buildings_reassigned": free_ids.len()}
    engine: AssignmentPlan | None = None
    if free_ids.len():
        engine = _assign_free(reduced, fixed_load, unit, free_ids, time_limit, seed)
        moved = engine.assignments.select("building_id", pl.col("point_id").alias("moved_to"))
        new_point = (
            new_point.join(moved, on="building_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("moved_to", "point").alias("point"))
            .drop("moved_to")
        )
        touched |= set(moved["moved_to"].drop_nulls().to_list())
        figures |= {
            "status": engine.status,
            "objective": engine.objective,
            "lower_bound": engine.lower_bound,
            "gap": engine.gap,
            "wall_clock_bound": _wall_clock_bound(engine),
        }
    if catchup:
        touched |= set(new_point["point"].drop_nulls().to_list())
    touched -= set(s.closed)
    tables = _tables(scenario, saved, s, b, new_point, reduced, touched, unit, engine, start)
    day_figures, tables = _day(reduced, saved, s, tables, touched, start, time_limit, seed)
    figures["day"] = day_figures
    visit_figures, tables = _visits(reduced, saved, s, tables, time_limit, seed)
    figures["home_visits"] = visit_figures
    return Replanned(reduced, tables, frozenset(touched), catchup, figures)


def _wall_clock_bound(engine: AssignmentPlan) -> int:
    """1 if the wall clock cut the engine short (so a rerun may differ), else 0."""
    stats: Any = engine.stats
    if isinstance(stats, dict):
        return int(bool(stats.get("solver_wall_clock_bound", 0)))
    return int(bool(getattr(stats, "wall_clock_bound", False)))


def _assign_free(
    reduced: Scenario,
    fixed_load: pl.DataFrame,
    unit: int,
    free_ids: pl.Series,
    time_limit: float,
    seed: int,
) -> AssignmentPlan:
    """The location engine on the free buildings alone, each point offering the tables its
    kept buildings leave (a point they fill is closed to them)."""
    used = fixed_load.select(
        pl.col("old_point").alias("point_id"),
        ((pl.col("fixed") + unit - 1) // unit).alias("used"),
    )
    points = (
        reduced.points.join(used, on="point_id", how="left", maintain_order="left")
        .with_columns(pl.col("used").fill_null(0))
        .with_columns(
            pl.when(pl.col("status") == "closed")
            .then(pl.lit("closed"))
            .when(pl.col("used") >= pl.col("max_tables"))
            .then(pl.lit("closed"))
            .otherwise(pl.col("status"))
            .alias("status"),
            (pl.col("max_tables") - pl.col("used"))
            .clip(lower_bound=1)
            .cast(reduced.points.schema["max_tables"])
            .alias("max_tables"),
        )
        .drop("used")
    )
    limit = reduced.header.sampling.max_open_points
    sub = reduced.replace(
        buildings=reduced.buildings.filter(pl.col("building_id").is_in(free_ids.implode())),
        home_visits=reduced.home_visits.filter(pl.col("building_id").is_in(free_ids.implode())),
        points=points,
    )
    if limit is not None:
        # points open already may take free buildings without counting against the limit;
        # the engine counts every open point, so they are added to what is left of it
        open_now = int((used["used"] > 0).sum())
        usable = points.filter(pl.col("status") != "closed")
        open_usable = usable.filter(pl.col("point_id").is_in(used["point_id"].implode())).height
        required = usable.filter(pl.col("status") == "required").height
        sub_limit = max(max(limit - open_now, 0) + open_usable, required, 1)
        header = sub.header.model_copy(
            update={
                "sampling": sub.header.sampling.model_copy(update={"max_open_points": sub_limit})
            }
        )
        sub = sub.replace(header=header)
    return assign(sub, time_limit=time_limit, seed=seed)


def _tables(
    scenario: Scenario,
    saved: SavedPlan,
    s: Situation,
    b: pl.DataFrame,
    new_point: pl.DataFrame,
    reduced: Scenario,
    touched: set[str],
    unit: int,
    engine: AssignmentPlan | None,
    start: int,
) -> dict[str, pl.DataFrame]:
    """The new ``assignments`` and ``points`` (rest-of-day loads; touched points get
    ``ceil(load ÷ table capacity)`` tables within their sites, kept points their tables)."""
    old = saved.tables["assignments"]
    home = s.households.group_by("building_id").agg(
        pl.col("persons").sum().cast(pl.Int64).alias("home")
    )
    a = (
        old.join(new_point, on="building_id", how="left", maintain_order="left")
        .join(
            s.buildings.select("building_id", "remaining", "sealed"),
            on="building_id",
            how="left",
            maintain_order="left",
        )
        .join(home, on="building_id", how="left", maintain_order="left")
    )
    if engine is not None:
        walk = engine.assignments.select(
            "building_id",
            pl.col("walk_m").alias("new_walk_m"),
            pl.col("unserved_reason").alias("new_reason"),
            pl.col("beyond_limit").alias("new_beyond"),
        )
        a = a.join(walk, on="building_id", how="left", maintain_order="left")
    else:
        a = a.with_columns(
            pl.lit(None, pl.Float64).alias("new_walk_m"),
            pl.lit(None, pl.String).alias("new_reason"),
            pl.lit(None, pl.Boolean).alias("new_beyond"),
        )
    reassigned = pl.col("new_walk_m").is_not_null() | pl.col("new_reason").is_not_null()
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
) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """Kept points keep their shifts and calls after ``--at`` (and call their catch-up
    residents in the first slot); touched points are staffed and timed by the day stage."""
    at = s.at
    slot = reduced.header.timetable.slot_min
    a, points = tables["assignments"], tables["points"]
    old_shifts, old_calls = saved.tables["shifts"], saved.tables["timetable"]
    kept = set(
        points.filter(pl.col("open") & ~pl.col("point_id").is_in(list(touched)))[
            "point_id"
        ].to_list()
    )
    kept_list = list(kept)
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
    figures: dict[str, Any] = {}
    busy = points.filter(pl.col("point_id").is_in(list(touched)) & pl.col("open"))
    if busy.height:
        # samplers on duty at kept points stay there: a team lends the day stage the rest
        committed = (
            shifts.group_by("team_id", "start_min")
            .agg(pl.col("tables").sum())
            .group_by("team_id")
            .agg(pl.col("tables").max().alias("committed"))
        )
        lent = (
            reduced.teams.join(committed, on="team_id", how="left", maintain_order="left")
            .with_columns(
                (pl.col("samplers") - pl.col("committed").fill_null(0))
                .cast(reduced.teams.schema["samplers"])
                .alias("samplers")
            )
            .filter(pl.col("samplers") > 0)
            .select(reduced.teams.columns)
        )
        b_points = busy["point_id"]
        sub_assign = a.filter(
            pl.col("point_id").is_in(b_points.implode()) & (pl.col("walk_in") > 0)
        )
        sub = reduced.replace(
            teams=lent,
            buildings=reduced.buildings.filter(
                pl.col("building_id").is_in(sub_assign["building_id"].implode())
            ),
        )
        view = _AssignmentView(
            sub_assign,
            points.filter(pl.col("point_id").is_in(b_points.implode())),
            pl.DataFrame(
                schema={"building_id": pl.String, "point_id": pl.String, "walk_in": pl.Int64}
            ),
        )
        day = plan_day(
            sub, cast("AssignmentPlan", view), time_limit=min(time_limit, 10.0), seed=seed
        )
        shifts = pl.concat([shifts, day.shifts.select(shifts.columns)])
        calls = pl.concat([calls, day.timetable.select(calls.columns)])
        for name in ("shortfall", "capacity_plan"):
            frame = getattr(day, name)
            keep_rows[name] = pl.concat([keep_rows[name], frame.select(keep_rows[name].columns)])
        not_called = pl.concat([not_called, day.not_called.select(not_called.columns)])
        figures = {k: v for k, v in day.kpis.items()}
        day_cols = day.points.rename({"staff_shifts": "staff"})
        replaced = [c for c in day_cols.columns if c in points.columns and c != "point_id"]
        fresh = points.join(
            day_cols.select("point_id", *replaced), on="point_id", how="left", suffix="__new"
        )
        is_new = pl.col("point_id").is_in(b_points.implode())
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
