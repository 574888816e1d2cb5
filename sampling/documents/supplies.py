"""Supplies per sampling point: swabs, tubes by pool size, protective suits and registrars.

The rules are deliberately simple and printed on every point page, so a point leader can check
them by hand:

* swabs = residents called to the point, plus a spare share;
* tubes = ⌈regular ÷ pool_size⌉ + ⌈yellow-code ÷ yellow_pool_size⌉, plus a spare share — a tube
  never mixes regular and yellow-code swabs (different pool sizes, separate channel or slot);
  the last tube of each kind may be part-filled;
* protective suits = one per sampler per shift (a sampler changes suit at each shift
  change), plus a spare share; hourly rotation in heat needs more, the page says so;
* registrars = one per staffed table per shift (volunteers or community workers).

Spares are rounded up, so any positive need gets at least one spare.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SPARE_SHARE = 0.05
"""Spare added to swabs, tubes and suits (5 %), rounded up."""


@dataclass(frozen=True)
class SupplyRules:
    """Pool sizes from the scenario header and the spare share."""

    pool_size: int
    yellow_pool_size: int
    spare_share: float = SPARE_SHARE


def spare(expr: pl.Expr, share: float) -> pl.Expr:
    """⌈value × share⌉ as an integer column."""
    return (expr * share).ceil().cast(pl.Int64)


def ceil_div(expr: pl.Expr, size: int) -> pl.Expr:
    """⌈value ÷ size⌉ in integers."""
    return ((expr + (size - 1)) // size).cast(pl.Int64)


def point_supplies(
    timetable: pl.DataFrame, shifts: pl.DataFrame, rules: SupplyRules
) -> pl.DataFrame:
    """One row per point with calls or shifts: needs, spares and totals for every supply.

    Columns: ``point_id``, ``regular``, ``yellow``, ``residents``, ``swabs``, ``swabs_spare``,
    ``swabs_total``, ``tubes_regular``, ``tubes_yellow``, ``tubes``, ``tubes_spare``,
    ``tubes_total``, ``sampler_shifts``, ``suits``, ``suits_spare``, ``suits_total``,
    ``registrar_shifts``.
    """
    calls = timetable.group_by("point_id").agg(
        pl.col("residents").filter(~pl.col("yellow_code")).sum().alias("regular"),
        pl.col("residents").filter(pl.col("yellow_code")).sum().alias("yellow"),
    )
    staff = shifts.group_by("point_id").agg(pl.col("tables").sum().alias("sampler_shifts"))
    s = rules.spare_share
    return (
        calls.join(staff, on="point_id", how="full", coalesce=True)
        .with_columns(
            pl.col("regular", "yellow", "sampler_shifts").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            (pl.col("regular") + pl.col("yellow")).alias("residents"),
            ceil_div(pl.col("regular"), rules.pool_size).alias("tubes_regular"),
            ceil_div(pl.col("yellow"), rules.yellow_pool_size).alias("tubes_yellow"),
        )
        .with_columns(
            pl.col("residents").alias("swabs"),
            spare(pl.col("residents"), s).alias("swabs_spare"),
            (pl.col("tubes_regular") + pl.col("tubes_yellow")).alias("tubes"),
            pl.col("sampler_shifts").alias("suits"),
            spare(pl.col("sampler_shifts"), s).alias("suits_spare"),
            pl.col("sampler_shifts").alias("registrar_shifts"),
        )
        .with_columns(
            spare(pl.col("tubes"), s).alias("tubes_spare"),
            (pl.col("swabs") + pl.col("swabs_spare")).alias("swabs_total"),
            (pl.col("suits") + pl.col("suits_spare")).alias("suits_total"),
        )
        .with_columns((pl.col("tubes") + pl.col("tubes_spare")).alias("tubes_total"))
        .select(
            "point_id",
            "regular",
            "yellow",
            "residents",
            "swabs",
            "swabs_spare",
            "swabs_total",
            "tubes_regular",
            "tubes_yellow",
            "tubes",
            "tubes_spare",
            "tubes_total",
            "sampler_shifts",
            "suits",
            "suits_spare",
            "suits_total",
            "registrar_shifts",
        )
        .sort("point_id")
    )
