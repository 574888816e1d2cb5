"""Tubes to the labs for the rest of the day, re-planned from ``--at`` (issue 16 with issue 15).

A saved plan with transport gets its transport re-planned over the new plan, so the re-plan's
trips, tubes, lab load and results match its calls and home visits:

* **What stays.** A trip that started before ``--at`` (its first stop) is driven as saved: its
  tubes are on board or at a lab and are not in the re-plan (they stay in the saved plan's
  ``transport_tubes``). Its vehicle is free again when that trip ends, at that trip's lab.
* **Tubes re-planned.** Those sealed before ``--at`` and not on a started trip (still at their
  points, with their saved swab and seal times), and every tube of the new plan's calls and
  home visits from ``--at`` on (:func:`sampling.stages.transport.plan_transport`).
* **Vehicles** are available from ``--at`` (or the end of their running trip) to their hours'
  end, starting where they are: at the lab of the trip they finish, else at their depot.

Known approximations: the labs' queues start empty at ``--at`` (the tubes delivered before are
not counted in the backlog), a tube being filled at ``--at`` is replaced by the new calls' tubes
(so the swabs taken into it before ``--at`` are not in the re-plan's tubes), and tubes sealed
before ``--at`` count for their point's results, not their grid's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import polars as pl

from sampling.clock import format_clock
from sampling.replan.saved import SavedPlan
from sampling.scenario.model import Scenario
from sampling.stages.transport import TransportPlan, has_transport, plan_transport

if TYPE_CHECKING:
    from sampling.stages.assignment import AssignmentPlan
    from sampling.stages.day import DayPlan
    from sampling.stages.home_visits import HomeVisitPlan

__all__ = ["TRANSPORT_TABLES", "replan_transport", "transport_figures", "transport_tables"]

TRANSPORT_TABLES = ("transport_trips", "transport_tubes", "lab_load", "results")
"""The output tables of the transport stage (optional in ``OUTPUT_TABLES``)."""


class _View:
    """The attributes the transport stage reads of a plan's stages, from re-plan tables."""

    def __init__(self, **frames: pl.DataFrame) -> None:
        for name, frame in frames.items():
            setattr(self, name, frame)


def saved_has_transport(saved: SavedPlan) -> bool:
    """Whether the saved plan folder holds transport tables (it was planned with labs)."""
    return all((saved.folder / f"{name}.parquet").is_file() for name in TRANSPORT_TABLES)


def _started_trips(trips: pl.DataFrame, at_s: int) -> pl.DataFrame:
    """``vehicle_id``, ``trip``, ``end_s`` and ``lab_id`` of every trip begun before ``at_s``."""
    return (
        trips.group_by("vehicle_id", "trip")
        .agg(
            pl.col("arrive_s").min().alias("begin_s"),
            pl.col("depart_s").max().alias("end_s"),
            pl.col("lab_id").drop_nulls().last().alias("lab_id"),
        )
        .filter(pl.col("begin_s") < at_s)
        .sort("vehicle_id", "trip")
    )


def _vehicles(scenario: Scenario, started: pl.DataFrame, at: int) -> pl.DataFrame:
    """The fleet from ``at``: each vehicle free from ``at`` or its running trip's end, placed
    at that trip's lab; vehicles whose hours are over are left out."""
    assert scenario.vehicles is not None and scenario.labs is not None
    fleet = scenario.vehicles
    last = started.group_by("vehicle_id").agg(
        pl.col("end_s").max().alias("end_s"), pl.col("lab_id").sort_by("end_s").last()
    )
    coords = [
        c for c in ("lat", "lon", "x", "y") if c in fleet.columns and c in scenario.labs.columns
    ]
    labs = scenario.labs.select("lab_id", *(pl.col(c).alias(f"{c}__lab") for c in coords))
    free_from = pl.max_horizontal(
        pl.col("available_from"),
        pl.lit(at),
        (pl.col("end_s").fill_null(0) / 60.0).ceil().cast(pl.Int64),
    )
    moved = (
        fleet.join(last, on="vehicle_id", how="left", maintain_order="left")
        .join(labs, on="lab_id", how="left", maintain_order="left")
        .with_columns(free_from.cast(fleet.schema["available_from"]).alias("available_from"))
        .with_columns(pl.coalesce(f"{c}__lab", c).cast(fleet.schema[c]).alias(c) for c in coords)
    )
    return moved.filter(pl.col("available_from") < pl.col("available_to")).select(fleet.columns)


def _waiting(saved: SavedPlan, started: pl.DataFrame, at_s: int) -> pl.DataFrame:
    """Tubes sealed before ``at_s`` that no started trip carries: still at their points."""
    tubes = pl.read_parquet(saved.folder / "transport_tubes.parquet")
    on_started = tubes.join(
        started.select("vehicle_id", "trip"), on=["vehicle_id", "trip"], how="semi"
    )
    waiting = tubes.filter(pl.col("ready_s") <= at_s).join(
        on_started.select("batch"), on="batch", how="anti"
    )
    return waiting.select("point_id", "source", "swab_s", "ready_s", "tubes").sort(
        "ready_s", "point_id", "source", "swab_s"
    )


def _finish_min(points: pl.DataFrame, at: int) -> pl.DataFrame:
    """``point_id``, ``finish_min`` from the points table's ``HH:MM`` finish (``at`` when none)."""
    finish = pl.col("finish")
    minutes = finish.str.slice(0, 2).cast(pl.Int64, strict=False) * 60 + finish.str.slice(
        3, 2
    ).cast(pl.Int64, strict=False)
    return points.select("point_id", minutes.fill_null(at).alias("finish_min"))


def replan_transport(
    scenario: Scenario,
    saved: SavedPlan,
    tables: dict[str, pl.DataFrame],
    at: int,
    *,
    time_limit: float = 30.0,
) -> TransportPlan | None:
    """The transport for the rest of the day (see the module docstring), or ``None`` when the
    saved plan has no transport or the scenario no labs and vehicles."""
    if not (saved_has_transport(saved) and has_transport(scenario)):
        return None
    at_s = at * 60
    started = _started_trips(pl.read_parquet(saved.folder / "transport_trips.parquet"), at_s)
    fleet = _vehicles(scenario, started, at)
    if fleet.height == 0:
        return None
    rest = scenario.replace(vehicles=fleet)
    assignment = _View(
        assignments=tables["assignments"],
        points=tables["points"],
    )
    day = _View(timetable=tables["timetable"], points=_finish_min(tables["points"], at))
    visits = _View(visits=tables["home_visits"])
    return plan_transport(
        rest,
        cast("AssignmentPlan", assignment),
        cast("DayPlan", day),
        cast("HomeVisitPlan", visits),
        time_limit=time_limit,
        waiting=_waiting(saved, started, at_s),
    )


def transport_tables(plan: TransportPlan) -> dict[str, pl.DataFrame]:
    """The transport plan's output tables by name."""
    return {
        "transport_trips": plan.trips,
        "transport_tubes": plan.tubes,
        "lab_load": plan.lab_load,
        "results": plan.results,
    }


TRANSPORT_KPIS = (
    "tubes_total",
    "tubes_late",
    "tubes_late_reasons",
    "max_tube_age_min",
    "latest_result_time",
    "latest_result_lower_bound",
    "latest_result_gap_min",
    "vehicle_hours",
    "vehicles_used",
    "vehicle_trips",
    "extra_vehicles_needed",
    "extra_lab_hours",
    "max_pickup_gap_min",
    "vehicle_lab_wait_hours",
    "transport_rounds",
    "transport_iterations",
    "transport_wall_clock_bound",
)
"""The transport stage's summary figures (``sampling.stages.transport``)."""


def transport_figures(plan: TransportPlan | None, saved: SavedPlan, at: int) -> dict[str, Any]:
    """Summary figures of the re-planned transport (``transport_replanned_from``: ``--at``).

    Without a re-planned transport, the saved plan's transport figures are cleared: they
    would describe trips the re-plan does not hold.
    """
    if plan is not None:
        return {**plan.kpis, "transport_replanned_from": format_clock(at)}
    if not saved_has_transport(saved):
        return {}
    return {key: None for key in TRANSPORT_KPIS} | {"transport_replanned_from": None}
