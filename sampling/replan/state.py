"""The situation at ``--at``: who has been swabbed, who is still to come, what the events changed.

Per building (walk-in residents of the saved plan): ``sampled`` (the estimate of
:mod:`sampling.replan.progress`), ``expected`` (due by ``--at``), ``catchup`` = expected −
sampled (called, not yet swabbed) and ``later`` = walk-in − max(expected, sampled) (not yet
called), so sampled + catchup + later = walk-in. A sealed building's residents still to come
are visited at home instead: one household (one tube) per ``SEALED_HOUSEHOLD`` persons.

Home visits: a household whose visit ended by ``--at`` is done; the others are still to visit,
with the households added and removed by events and the sealed buildings' households.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sampling.replan.events import Event, EventKind
from sampling.replan.progress import Progress, estimate_sampled
from sampling.replan.saved import SavedPlan
from sampling.scenario.model import Scenario

__all__ = ["SEALED_HOUSEHOLD", "Situation", "situation_at"]

SEALED_HOUSEHOLD = 3
"""Persons per household assumed in a sealed building (China's mean household, 2.6–3)."""


@dataclass(frozen=True)
class Situation:
    """Everything known at ``at`` (minutes since midnight)."""

    at: int
    buildings: pl.DataFrame
    """``building_id``, ``grid_id``, ``old_point``, ``walk_in``, ``expected``, ``sampled``,
    ``catchup``, ``later``, ``remaining`` (= catchup + later), ``sealed`` and ``to_home``
    (a sealed building's residents still to come, now home visits)."""
    households: pl.DataFrame
    """Households still to visit: the scenario's columns, plus the added and sealed ones."""
    households_done: pl.DataFrame
    """Households visited by ``at`` (the saved plan's rows)."""
    closed: frozenset[str]
    tables: dict[str, int]
    absent: frozenset[str]
    late: dict[str, int]
    added: tuple[Event, ...]
    events: tuple[Event, ...]

    @property
    def home_events(self) -> bool:
        """Whether any event concerns home visits (households, sealed buildings, their teams)."""
        return any(
            e.kind
            in (EventKind.HOUSEHOLD_ADDED, EventKind.HOUSEHOLD_REMOVED, EventKind.BUILDING_SEALED)
            for e in self.events
        )


def situation_at(
    scenario: Scenario,
    saved: SavedPlan,
    at: int,
    progress: Progress,
    events: tuple[Event, ...],
) -> Situation:
    """The situation at ``at`` from the saved plan, the progress reports and the events."""
    assignments = saved.tables["assignments"]
    estimate = estimate_sampled(saved.tables["timetable"], assignments, progress, at)
    sealed = {e.id for e in events if e.kind is EventKind.BUILDING_SEALED}
    buildings = (
        assignments.select(
            "building_id", "grid_id", pl.col("point_id").alias("old_point"), "walk_in"
        )
        .join(estimate, on="building_id", how="left", maintain_order="left")
        .with_columns(pl.col("expected").fill_null(0), pl.col("sampled").fill_null(0))
        .with_columns(
            (pl.col("expected") - pl.col("sampled")).clip(lower_bound=0).alias("catchup"),
            (pl.col("walk_in") - pl.max_horizontal("expected", "sampled")).alias("later"),
            pl.col("building_id").is_in(list(sealed)).alias("sealed"),
        )
        .with_columns((pl.col("catchup") + pl.col("later")).alias("remaining"))
    )
    visits = saved.tables["home_visits"]
    done_ids = visits.filter(pl.col("end_s").is_not_null() & (pl.col("end_s") <= at * 60))
    removed = {e.id for e in events if e.kind is EventKind.HOUSEHOLD_REMOVED}
    households = scenario.home_visits.filter(
        ~pl.col("household_id").is_in(done_ids["household_id"].implode())
        & ~pl.col("household_id").is_in(list(removed))
    )
    added = [e for e in events if e.kind is EventKind.HOUSEHOLD_ADDED and e.id not in removed]
    extra = [
        {"household_id": e.id, "building_id": str(e.value), "persons": 1, "note": None}
        for e in added
    ]
    # an added household's person was a walk-in resident still to come (if any is left); a
    # removed household's persons walk in later
    moved = (
        pl.concat(
            [
                pl.DataFrame(
                    {"building_id": [str(e.value) for e in added], "delta": [-1] * len(added)},
                    schema={"building_id": pl.String, "delta": pl.Int64},
                ),
                scenario.home_visits.filter(
                    pl.col("household_id").is_in(list(removed))
                    & ~pl.col("household_id").is_in(done_ids["household_id"].implode())
                ).select("building_id", pl.col("persons").cast(pl.Int64).alias("delta")),
            ]
        )
        .group_by("building_id")
        .agg(pl.col("delta").sum())
    )
    buildings = (
        buildings.join(moved, on="building_id", how="left", maintain_order="left")
        .with_columns(pl.col("delta").fill_null(0))
        .with_columns(
            pl.max_horizontal(pl.col("later") + pl.col("delta"), pl.lit(0)).alias("later"),
            (pl.col("walk_in") + pl.col("delta")).alias("walk_in"),
        )
        .with_columns(
            pl.max_horizontal(
                "walk_in", pl.col("sampled") + pl.col("catchup") + pl.col("later")
            ).alias("walk_in")
        )
        .drop("delta")
        .with_columns((pl.col("catchup") + pl.col("later")).alias("remaining"))
    )
    sealed_rows = buildings.filter(pl.col("sealed") & (pl.col("remaining") > 0))
    for bid, remaining in sealed_rows.select("building_id", "remaining").iter_rows():
        count = -(-int(remaining) // SEALED_HOUSEHOLD)
        for k in range(count):
            persons = min(SEALED_HOUSEHOLD, int(remaining) - k * SEALED_HOUSEHOLD)
            extra.append(
                {
                    "household_id": f"{bid}~sealed-{k + 1}",
                    "building_id": bid,
                    "persons": persons,
                    "note": "sealed",
                }
            )
    if extra:
        schema = households.schema
        new = pl.DataFrame(extra).with_columns(
            pl.col(c).cast(schema[c]) for c in ("household_id", "building_id", "persons")
        )
        households = pl.concat([households, new], how="diagonal_relaxed").select(
            [c for c in households.columns]
        )
    buildings = buildings.with_columns(
        pl.when(pl.col("sealed")).then(pl.col("remaining")).otherwise(0).alias("to_home"),
        pl.when(pl.col("sealed")).then(0).otherwise(pl.col("catchup")).alias("catchup"),
        pl.when(pl.col("sealed")).then(0).otherwise(pl.col("later")).alias("later"),
    ).with_columns((pl.col("catchup") + pl.col("later")).alias("remaining"))
    closed = {e.id for e in events if e.kind is EventKind.POINT_CLOSED}
    tables: dict[str, int] = {}
    for e in events:
        if e.kind is EventKind.POINT_TABLES and isinstance(e.value, int):
            tables[e.id] = e.value
    closed |= {p for p, n in tables.items() if n == 0}
    late = {
        e.id: int(e.value)
        for e in events
        if e.kind is EventKind.TEAM_LATE and isinstance(e.value, int)
    }
    return Situation(
        at=at,
        buildings=buildings,
        households=households,
        households_done=done_ids,
        closed=frozenset(closed),
        tables=tables,
        absent=frozenset(e.id for e in events if e.kind is EventKind.TEAM_ABSENT),
        late=late,
        added=tuple(e for e in events if e.kind is EventKind.TEAM_ADDED),
        events=events,
    )
