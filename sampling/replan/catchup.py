"""Catch-up lists: buildings with residents still untested at ``--at`` (expected − sampled).

``catchup.parquet`` holds one row per such building with where and when its residents are now
called; grid leaders get the same rows of their grid as ``catchup/<grid>.csv`` (UTF-8 with BOM,
for Excel; text that a spreadsheet would read as a formula is quoted as text) and ``.html``.
"""

from __future__ import annotations

import polars as pl

from sampling.clock import clock_expr
from sampling.replan.state import Situation

__all__ = ["CATCHUP_COLUMNS", "catchup_table"]

CATCHUP_COLUMNS = (
    "grid_id",
    "building_id",
    "point_id",
    "expected",
    "sampled",
    "missing",
    "new_point_id",
    "new_call",
)


def catchup_table(s: Situation, new: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Buildings whose residents due by ``--at`` have not all been swabbed, with their new
    point and first call after ``--at`` (null if none: sealed, unserved)."""
    first = (
        new["timetable"].group_by("building_id").agg(pl.col("call_start_min").min().alias("call"))
    )
    point = new["assignments"].select("building_id", pl.col("point_id").alias("new_point_id"))
    return (
        s.buildings.filter(pl.col("expected") > pl.col("sampled"))
        .join(point, on="building_id", how="left")
        .join(first, on="building_id", how="left")
        .select(
            "grid_id",
            "building_id",
            pl.col("old_point").alias("point_id"),
            pl.col("expected").cast(pl.Int64),
            pl.col("sampled").cast(pl.Int64),
            (pl.col("expected") - pl.col("sampled")).cast(pl.Int64).alias("missing"),
            "new_point_id",
            clock_expr(pl.col("call")).alias("new_call"),
        )
        .sort("grid_id", "building_id")
    )
