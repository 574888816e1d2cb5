"""``natplan simulate-progress``: a realistic progress file from a saved plan, for rehearsals
and tests.

Each point's day is simulated as the plan's queue simulation does
(:func:`solver.day.queue_sim.serve_fifo`): residents arrive spread over their call slot, a
share of them late (the header's ``late_share``, exponential lateness of ``late_mean_min``),
swab times are gamma-distributed around the table rate (``service_cv``), and the tables are
open as the saved shifts staff them. ``--slowdown POINT=FACTOR`` makes that point's swabs
FACTOR times longer (a slow team, a cold morning). The file reports each point's cumulative
swabs every call slot from the window start up to ``--at`` (``point_id, time, sampled``).
Seeded per point, so the same plan, seed and slowdowns give the same file.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from sampling.clock import format_clock
from sampling.replan.saved import SavedPlan
from sampling.scenario.header import Header
from solver.day.queue_sim import serve_fifo

__all__ = ["simulate_progress"]


def simulate_progress(
    saved: SavedPlan,
    header: Header,
    at: int,
    *,
    seed: int = 0,
    slowdown: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Point-level progress reports up to ``at`` (see the module docstring)."""
    slowdown = slowdown or {}
    sim = header.simulation
    mean = 60.0 / header.sampling.swabs_per_table_per_hour
    slot = header.timetable.slot_min
    calls = saved.tables["timetable"]
    shifts = saved.tables["shifts"]
    times = np.arange(header.window.start + slot, at + 1, slot)
    if times.size == 0 or times[-1] != at:
        times = np.append(times, at)
    rows: list[tuple[str, str, int]] = []
    point_ids = sorted(set(calls["point_id"].drop_nulls().to_list()))
    for index, pid in enumerate(point_ids):
        mine = calls.filter(pl.col("point_id") == pid)
        counts = mine["residents"].to_numpy().astype(np.int64)
        n = int(counts.sum())
        rng = np.random.default_rng([seed, index])
        start = np.repeat(mine["call_start_min"].to_numpy().astype(np.float64), counts)
        length = np.repeat(
            (mine["call_end_min"] - mine["call_start_min"]).to_numpy().astype(np.float64), counts
        )
        arrival = start + rng.random(n) * length
        if sim.late_share > 0:
            late = rng.random(n) < sim.late_share
            arrival = arrival + np.where(late, rng.exponential(sim.late_mean_min, n), 0.0)
        arrival.sort()
        factor = float(slowdown.get(pid, 1.0))
        if sim.service_cv > 0:
            shape = 1.0 / (sim.service_cv * sim.service_cv)
            service = rng.gamma(shape, mean * factor / shape, n)
        else:
            service = np.full(n, mean * factor)
        tables: list[tuple[list[float], list[float]]] = []
        for s, e, k in (
            shifts.filter(pl.col("point_id") == pid)
            .select("start_min", "end_min", "tables")
            .iter_rows()
        ):
            tables += [([float(s)], [float(e)])] * int(k)
        begun = serve_fifo(arrival, service, tables)
        done = np.sort(np.nan_to_num(begun + service, nan=np.inf))
        swabbed = np.searchsorted(done, times.astype(np.float64), side="right")
        rows += [(pid, format_clock(int(t)), int(c)) for t, c in zip(times, swabbed, strict=True)]
    return pl.DataFrame(
        rows, schema={"point_id": pl.String, "time": pl.String, "sampled": pl.Int64}, orient="row"
    )
