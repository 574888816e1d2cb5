"""What changed between the saved plan and the re-plan: who must be told what.

One row per change a person must be told about (``changes.parquet``):

* ``building_moved`` — a building's residents go to another point (``old_point_id`` →
  ``new_point_id``, with the new first call); ``building_unserved`` — it lost its point;
  ``building_sealed`` — its residents are visited at home;
* ``call_moved`` — same point, the first call still to come moved by more than one call slot
  (or the building had none and now has one);
* ``team_moved`` — a medical team's points after ``--at`` changed, with ``travel_min``: its
  longest drive to a point it did not work at, from the nearest of its points after ``--at``
  in the saved plan (straight line at the teams' travel speed, as the staffing counts it);
  ``team_shift`` — same points, hours moved by more than a slot; ``team_removed`` /
  ``team_added``;
* ``household_moved`` — a household's team changed or its visit moved by more than a slot;
  ``household_added`` / ``household_removed``.

Buildings in the rows of kinds ``building_*`` and ``call_moved`` are the ones the map highlights.
"""

from __future__ import annotations

import polars as pl

from sampling.clock import clock_expr
from sampling.stages.day import TEAM_TRAVEL_M_PER_MIN

__all__ = ["CHANGE_COLUMNS", "diff_plans"]

CHANGE_COLUMNS: dict[str, type[pl.DataType]] = {
    "kind": pl.String,
    "grid_id": pl.String,
    "building_id": pl.String,
    "team_id": pl.String,
    "household_id": pl.String,
    "old_point_id": pl.String,
    "new_point_id": pl.String,
    "old_time": pl.String,
    "new_time": pl.String,
    "residents": pl.Int64,
    "travel_min": pl.Int64,
}

_EARTH_M = 6_371_000.0


def first_calls(timetable: pl.DataFrame, at: int) -> pl.DataFrame:
    """Each building's first call still running after ``at`` (``call``, clipped to ``at``)."""
    return (
        timetable.filter(pl.col("call_end_min") > at)
        .group_by("building_id")
        .agg(pl.col("call_start_min").min().clip(lower_bound=at).alias("call"))
    )


def diff_plans(
    old: dict[str, pl.DataFrame],
    new: dict[str, pl.DataFrame],
    at: int,
    slot: int,
    sealed: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Every change between the ``old`` and ``new`` plan tables at ``at`` (see module doc);
    ``sealed``: the buildings sealed by events (now visited at home)."""
    frames = [
        _buildings(old, new, at, slot, sealed),
        _travel(_teams(old, new, at, slot), new["points"]),
        _households(old, new, slot),
        _removed_households(old, new, at),
    ]
    frames = [
        f
        if "travel_min" in f.columns
        else f.with_columns(pl.lit(None, pl.Int64).alias("travel_min"))
        for f in frames
    ]
    out = pl.concat([f.select(list(CHANGE_COLUMNS)) for f in frames], how="vertical_relaxed")
    return out.with_columns(pl.col(c).cast(t) for c, t in CHANGE_COLUMNS.items()).sort(
        "kind", "grid_id", "building_id", "team_id", "new_time", "household_id", nulls_last=True
    )


def _buildings(
    old: dict[str, pl.DataFrame],
    new: dict[str, pl.DataFrame],
    at: int,
    slot: int,
    sealed_ids: frozenset[str],
) -> pl.DataFrame:
    o = old["assignments"].select("building_id", "grid_id", pl.col("point_id").alias("op"))
    n = new["assignments"].select(
        "building_id", pl.col("point_id").alias("np"), "walk_in", "home_visit_persons"
    )
    oc = first_calls(old["timetable"], at).rename({"call": "oc"})
    nc = first_calls(new["timetable"], at).rename({"call": "nc"})
    j = (
        o.join(n, on="building_id", how="inner")
        .join(oc, on="building_id", how="left")
        .join(nc, on="building_id", how="left")
    )
    sealed = pl.col("building_id").is_in(list(sealed_ids))
    j = j.filter((pl.col("walk_in") > 0) | sealed)
    moved = pl.col("op").is_not_null() & pl.col("np").is_not_null() & (pl.col("op") != pl.col("np"))
    lost = pl.col("op").is_not_null() & pl.col("np").is_null()
    timed = (
        (pl.col("op") == pl.col("np"))
        & pl.col("nc").is_not_null()
        & (pl.col("oc").is_null() | ((pl.col("nc") - pl.col("oc")).abs() > slot))
    )
    kind = (
        pl.when(sealed)
        .then(pl.lit("building_sealed"))
        .when(moved | (pl.col("op").is_null() & pl.col("np").is_not_null()))
        .then(pl.lit("building_moved"))
        .when(lost)
        .then(pl.lit("building_unserved"))
        .when(timed)
        .then(pl.lit("call_moved"))
    )
    return (
        j.with_columns(kind.alias("kind"))
        .filter(pl.col("kind").is_not_null())
        .select(
            "kind",
            "grid_id",
            "building_id",
            pl.lit(None, pl.String).alias("team_id"),
            pl.lit(None, pl.String).alias("household_id"),
            pl.col("op").alias("old_point_id"),
            pl.col("np").alias("new_point_id"),
            clock_expr(pl.col("oc")).alias("old_time"),
            clock_expr(pl.col("nc")).alias("new_time"),
            pl.when(sealed)
            .then(pl.col("home_visit_persons"))
            .otherwise(pl.col("walk_in"))
            .alias("residents"),
        )
    )


def _duty(shifts: pl.DataFrame, at: int) -> pl.DataFrame:
    return (
        shifts.filter(pl.col("end_min") > at)
        .group_by("team_id")
        .agg(
            pl.col("point_id").unique().sort().str.join(",").alias("pts"),
            pl.col("start_min").min().clip(lower_bound=at).alias("s"),
            pl.col("end_min").max().alias("e"),
        )
    )


def _teams(
    old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame], at: int, slot: int
) -> pl.DataFrame:
    o = _duty(old["shifts"], at).rename({"pts": "op", "s": "os", "e": "oe"})
    n = _duty(new["shifts"], at).rename({"pts": "np", "s": "ns", "e": "ne"})
    j = o.join(n, on="team_id", how="full", coalesce=True)
    kind = (
        pl.when(pl.col("np").is_null())
        .then(pl.lit("team_removed"))
        .when(pl.col("op").is_null())
        .then(pl.lit("team_added"))
        .when(pl.col("op") != pl.col("np"))
        .then(pl.lit("team_moved"))
        .when(
            ((pl.col("ns") - pl.col("os")).abs() > slot)
            | ((pl.col("ne") - pl.col("oe")).abs() > slot)
        )
        .then(pl.lit("team_shift"))
    )
    return (
        j.with_columns(kind.alias("kind"))
        .filter(pl.col("kind").is_not_null())
        .select(
            "kind",
            pl.lit(None, pl.String).alias("grid_id"),
            pl.lit(None, pl.String).alias("building_id"),
            "team_id",
            pl.lit(None, pl.String).alias("household_id"),
            pl.col("op").alias("old_point_id"),
            pl.col("np").alias("new_point_id"),
            pl.format("{}–{}", clock_expr(pl.col("os")), clock_expr(pl.col("oe"))).alias(
                "old_time"
            ),
            pl.format("{}–{}", clock_expr(pl.col("ns")), clock_expr(pl.col("ne"))).alias(
                "new_time"
            ),
            pl.lit(None, pl.Int64).alias("residents"),
        )
    )


def _travel(frame: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame:
    """``travel_min`` of the ``team_moved`` rows: the longest drive the team makes to a point it
    did not work at before, from the nearest of its points after ``--at`` in the saved plan."""
    where = points.select("point_id", "lat", "lon")
    moved = frame.filter(pl.col("kind") == "team_moved").select(
        "team_id",
        pl.col("old_point_id").str.split(",").alias("o"),
        pl.col("new_point_id").str.split(",").alias("n"),
    )
    pairs = (
        moved.explode("n")
        .filter(~pl.col("n").is_in(pl.col("o")))
        .explode("o")
        .join(where.rename({"point_id": "o", "lat": "lat1", "lon": "lon1"}), on="o", how="left")
        .join(where.rename({"point_id": "n", "lat": "lat2", "lon": "lon2"}), on="n", how="left")
    )
    mid = ((pl.col("lat1") + pl.col("lat2")) / 2).radians()
    dx = (pl.col("lon2") - pl.col("lon1")).radians() * mid.cos() * _EARTH_M
    dy = (pl.col("lat2") - pl.col("lat1")).radians() * _EARTH_M
    minutes = (
        pairs.with_columns((dx.pow(2) + dy.pow(2)).sqrt().alias("m"))
        .group_by("team_id", "n")
        .agg(pl.col("m").min())
        .group_by("team_id")
        .agg((pl.col("m").max() / TEAM_TRAVEL_M_PER_MIN).ceil().cast(pl.Int64).alias("travel"))
    )
    return (
        frame.join(minutes, on="team_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("kind") == "team_moved")
            .then(pl.col("travel").fill_null(0))
            .alias("travel_min")
        )
        .drop("travel")
    )


def _minute(column: str) -> pl.Expr:
    """Minutes of a ``*_s`` seconds column; null where unserved (negative or null)."""
    return pl.when(pl.col(column) >= 0).then(pl.col(column) // 60)


def _households(
    old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame], slot: int
) -> pl.DataFrame:
    grid = new["assignments"].select("building_id", "grid_id")
    o = old["home_visits"].select(
        "household_id", pl.col("team_id").alias("ot"), _minute("start_s").alias("os")
    )
    n = new["home_visits"].select(
        "household_id",
        "building_id",
        "persons",
        pl.col("team_id").alias("nt"),
        _minute("start_s").alias("ns"),
    )
    j = n.join(o, on="household_id", how="left").join(grid, on="building_id", how="left")
    known = o["household_id"].implode()
    kind = (
        pl.when(~pl.col("household_id").is_in(known))
        .then(pl.lit("household_added"))
        .when(
            (pl.col("ot").fill_null("") != pl.col("nt").fill_null(""))
            | ((pl.col("ns") - pl.col("os")).abs() > slot)
        )
        .then(pl.lit("household_moved"))
    )
    changed = j.with_columns(kind.alias("kind")).filter(pl.col("kind").is_not_null())
    return changed.select(
        "kind",
        "grid_id",
        "building_id",
        pl.col("nt").alias("team_id"),
        "household_id",
        pl.lit(None, pl.String).alias("old_point_id"),
        pl.lit(None, pl.String).alias("new_point_id"),
        clock_expr(pl.col("os")).alias("old_time"),
        clock_expr(pl.col("ns")).alias("new_time"),
        pl.col("persons").cast(pl.Int64).alias("residents"),
    )


def _removed_households(
    old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame], at: int
) -> pl.DataFrame:
    """Households the saved plan still had to visit after ``at`` that the new plan has not."""
    grid = old["assignments"].select("building_id", "grid_id")
    gone = old["home_visits"].filter(
        ~(pl.col("end_s").is_not_null() & (pl.col("end_s") >= 0) & (pl.col("end_s") <= at * 60))
        & ~pl.col("household_id").is_in(new["home_visits"]["household_id"].implode())
    )
    return gone.join(grid, on="building_id", how="left").select(
        pl.lit("household_removed").alias("kind"),
        "grid_id",
        "building_id",
        "team_id",
        "household_id",
        pl.lit(None, pl.String).alias("old_point_id"),
        pl.lit(None, pl.String).alias("new_point_id"),
        clock_expr(_minute("start_s")).alias("old_time"),
        pl.lit(None, pl.String).alias("new_time"),
        pl.col("persons").cast(pl.Int64).alias("residents"),
    )
