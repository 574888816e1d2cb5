"""``summary.json`` of a re-plan: the saved plan's figures brought up to date at ``--at``.

Figures the re-plan recomputes from its own tables (every count of residents, buildings,
points, tables, households, the planned and simulated finishes as the latest over the points,
the queue waits, overtime, deficit, shortfall, grid splits, the walk, samplers available,
used and in overtime, yellow channels, alerts, the run's seed and work budget) replace the
saved ones; the scenario's own facts (name, date, walking limit, header settings) are kept.
Figures of the evening's optimisation that the re-plan did not redo, or that its tables
cannot give, become ``null`` (:data:`NOT_REDONE`: objective, bound and gap of the whole
assignment, the timetable's lower bound, the levelling's figures, the staff cap of the whole
day, tables needed for the window); the engine's figures for the re-assigned buildings are
``reassignment_*`` (the cost model of :mod:`sampling.replan.reassign`), with
``buildings_moved_by_cost`` (moved though their point was usable) and ``moves_reverted``.
Home-visit route figures (teams, routes, walk, latest return, status) stay the saved ones
when the routes continue unchanged, since they describe those very routes. New: ``replan_at``, ``replanned_from``,
``residents_sampled`` + ``residents_remaining`` = ``residents_day_total`` (walk-in and home),
``residents_catchup``, ``residents_to_home`` (sealed buildings), ``changes`` by kind and
``changes_total``, ``points_touched``, ``catchup_session``. With transport, the transport
figures are those of the tubes re-planned from ``--at`` (``transport_replanned_from``, see
:mod:`sampling.replan.transport`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from sampling.clock import format_clock
from sampling.replan.replan import Replanned
from sampling.replan.saved import SavedPlan
from sampling.replan.state import Situation
from sampling.report import alerts
from sampling.stages.assignment import reach_suggestions, suggestion_rows
from sampling.stages.day import shortfall_span

__all__ = ["replan_summary"]

NOT_REDONE = (
    "objective",
    "lower_bound",
    "gap",
    "gap_without_grid_penalty",
    "grid_penalty",
    "finish_lower_bound",
    "finish_gap_pct",
    "extra_tables_for_window",
    "extra_tables_beyond_sites",
    "tables_after_window",
    "tables_staffable",
    "samplers_overtime_past_availability",
    "points_p95_over_limit_with_capacity",
    "target_utilisation_effective",
    "residents_overflow",
    "timetable_repair_rounds",
)
"""Saved figures the re-plan neither redoes nor can recompute from its tables: ``null``."""


def _latest(points: pl.DataFrame, column: str) -> str | None:
    values = points.filter(pl.col("open"))[column].drop_nulls()
    return str(values.max()) if values.len() else None


def replan_summary(
    saved: SavedPlan,
    s: Situation,
    new: Replanned,
    changes: pl.DataFrame,
    *,
    replanned_from: str,
) -> dict[str, Any]:
    """The re-plan's figures (see the module docstring)."""
    header = new.scenario.header
    t = new.tables
    a, points, visits = t["assignments"], t["points"], t["home_visits"]
    out: dict[str, Any] = dict(saved.summary)
    for key in NOT_REDONE:
        out[key] = None
    out |= new.figures.get("home_visits", {})  # the re-routing's figures, when it ran
    walk_in = int(a["walk_in"].sum())
    served = a.filter(pl.col("point_id").is_not_null())
    assigned = int(served["walk_in"].sum())
    within = int(served.filter(~pl.col("beyond_limit").fill_null(False))["walk_in"].sum())
    weights = served["walk_in"].to_numpy().astype(np.float64)
    walk = served["walk_m"].fill_null(0.0).to_numpy()
    home_left = int(visits["persons"].sum()) if visits.height else 0
    home_done = int(s.households_done["persons"].sum()) if s.households_done.height else 0
    sampled_walk = int(s.buildings["sampled"].sum())
    unserved_households = visits.filter(pl.col("team_id").is_null()).height
    limit = header.sampling.queue_wait_limit_min
    shortfall = t["shortfall"]
    capacity = t["capacity_plan"]
    finish = _latest(points, "finish")
    stranded = int(new.figures.get("day", {}).get("residents_stranded") or 0)
    shifts = t["shifts"]
    extra = shifts.filter(pl.col("overtime"))
    opened = points.filter(pl.col("open"))
    waits = opened["sim_p95_wait_min"].drop_nulls()
    grids = (
        served.filter(pl.col("walk_in") > 0)
        .group_by("grid_id")
        .agg(pl.col("point_id").n_unique().alias("n"))
    )
    teams = new.scenario.teams.filter(~pl.col("home_visit"))
    suggested = reach_suggestions(new.scenario, a)
    out |= {
        "seed": new.figures.get("seed", out.get("seed")),
        "time_limit_s": new.figures.get("time_limit_s", out.get("time_limit_s")),
        "residents_unserved_capacity": int(
            a.filter(pl.col("point_id").is_null() & (pl.col("unserved_reason") == "capacity"))[
                "walk_in"
            ].sum()
        ),
        # the temporary points for the residents out of reach, for the re-plan's buildings
        "residents_out_of_reach": int(suggested["residents"].sum()),
        "points_to_add_for_reach": int(suggested["points"].sum()),
        "suggested_points": suggestion_rows(suggested),
        "walk_resident_m": float((weights * walk).sum()),
        "grids_split": grids.filter(pl.col("n") > 1).height,
        "sim_finish_time": _latest(points, "sim_finish"),
        "sim_p95_wait_max_min": float(waits.max()) if waits.len() else 0.0,  # type: ignore[arg-type]
        "sim_p95_wait_median_min": float(waits.median()) if waits.len() else 0.0,  # type: ignore[arg-type]
        # the re-planned points' residents no table will ever swab (no table after the
        # window): then no extension serves everyone with today's staff (null)
        "residents_stranded": stranded,
        "window_extension_min": None
        if stranded
        else max((_minutes(finish) if finish else header.window.end) - header.window.end, 0),
        "samplers_available": int(teams["samplers"].sum()),
        "samplers_used": int(shifts.filter(~pl.col("overtime"))["tables"].sum()),
        "samplers_overtime": int(extra["tables"].sum()),
        "sampler_overtime_min": int(
            (extra["tables"] * (extra["end_min"] - extra["start_min"])).sum()
        ),
        "yellow_channels": int(opened["yellow_channel"].cast(pl.Int64).fill_null(0).sum()),
        "home_visit_persons_served": int(
            visits.filter(pl.col("team_id").is_not_null())["persons"].sum()
        )
        if visits.height
        else 0,
        "replan_at": format_clock(s.at),
        "replanned_from": replanned_from,
        "catchup_session": new.catchup_session,
        "window_start": format_clock(header.window.start),
        "window_end": format_clock(header.window.end),
        "residents_sampled": sampled_walk + home_done,
        "residents_walk_in_sampled": sampled_walk,
        "residents_home_visit_sampled": home_done,
        "residents_remaining": walk_in + home_left,
        "residents_day_total": sampled_walk + home_done + walk_in + home_left,
        "residents_catchup": int(s.buildings["catchup"].sum()),
        "residents_to_home": int(s.buildings["to_home"].sum()),
        "residents_total": walk_in + home_left,
        "residents_walk_in": walk_in,
        "residents_home_visit": home_left,
        "residents_assigned": assigned,
        "residents_unserved": walk_in - assigned,
        "residents_within_limit": within,
        "residents_beyond_limit": assigned - within,
        "buildings_unserved": a.filter(
            (pl.col("walk_in") > 0) & pl.col("point_id").is_null()
        ).height,
        "coverage": within / walk_in if walk_in else 1.0,
        "walk_m_mean": float(np.average(walk, weights=weights)) if weights.sum() else None,
        "walk_m_max": float(walk[weights > 0].max()) if (weights > 0).any() else None,
        "walk_m_p95": _weighted_p95(walk, weights),
        "points_open": int(points["open"].sum()),
        "tables_used": int(points.filter(pl.col("open"))["tables"].sum()),
        "finish_time": finish or format_clock(header.window.start),
        "sim_finish_p95": _latest(points, "sim_finish_p95"),
        "late_points": int(points.filter(pl.col("open"))["late"].fill_null(False).sum()),
        "sim_after_close_residents": float(points["sim_after_close"].fill_null(0.0).sum()),
        "points_p95_over_limit": points.filter(
            pl.col("open") & (pl.col("sim_p95_wait_min").fill_null(0.0) > limit)
        ).height,
        "points_over_capacity": int(points["over_capacity"].fill_null(False).sum()),
        "residents_not_called": int(t["not_called"]["not_called"].sum()),
        "buildings_not_called": t["not_called"].height,
        "capacity_deficit_residents": int(points["deficit"].fill_null(0).sum()),
        "residents_overtime": int(points["overtime_residents"].fill_null(0).sum()),
        "points_overtime": points.filter(pl.col("overtime_residents").fill_null(0) > 0).height,
        "shortfall_sampler_blocks": int(shortfall["missing_samplers"].sum()),
        **shortfall_span(
            shortfall["point_id"].to_numpy(),
            shortfall["start_min"].to_numpy(),
            shortfall["end_min"].to_numpy(),
        ),
        "staffing_status": "shortfall" if shortfall.height else "covered",
        "capacity_plan_extra_samplers": int(capacity["extra_samplers"].sum()),
        "extra_samplers_for_window": int(capacity["extra_samplers"].sum()),
        "extra_samplers_shortfall": int(
            capacity.filter(pl.col("reason") == "shortfall")["extra_samplers"].sum()
        ),
        "households_total": visits.height,
        "households_served": visits.height - unserved_households,
        "households_unserved": unserved_households,
        "households_done": s.households_done.height,
        "home_visit_persons": home_left,
        "points_touched": len(new.touched),
        "buildings_reassigned": int(new.figures.get("buildings_reassigned", 0)),
        "changes": {k: n for k, n in changes.group_by("kind").len().sort("kind").iter_rows()},
        "changes_total": changes.height,
        "status": "replanned",
        "status_reason": "",
        "solver_wall_clock_bound": int(new.figures.get("wall_clock_bound", 0)),
    }
    out |= new.figures.get("transport", {})  # tubes to the labs from --at (or cleared)
    for key in ("status", "objective", "lower_bound", "gap"):
        if key in new.figures:
            out[f"reassignment_{key}"] = new.figures[key]
    for key in ("buildings_moved_by_cost", "moves_reverted", "building_move_min"):
        if key in new.figures:
            out[key] = new.figures[key]
    out["alerts"] = alerts(out)
    out["seconds"] = {}
    return out


def _minutes(text: str) -> int:
    """Minutes since midnight of an ``HH:MM`` finish, which may pass 24:00 (overtime)."""
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


def _weighted_p95(values: np.ndarray, weights: np.ndarray) -> float | None:
    """The resident-weighted 95th percentile of ``values``."""
    if weights.sum() <= 0:
        return None
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    index = int(np.searchsorted(cum, 0.95 * cum[-1]))
    return float(values[order][min(index, len(order) - 1)])
