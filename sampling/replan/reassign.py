"""Re-assigning the buildings still to come, with a cost for every building that changes point.

Model. The clients are the buildings with walk-in residents still to come at ``--at``
(sealed buildings have none: they are visited at home). Each gets an arc to every open point
of the saved plan in its walking reach that is still usable, and always one to its own point
while that point is usable (staying is always possible, even beyond the walking limit where the
saved plan allowed it). A building whose point closed or that had none gets arcs to every
usable point in reach (it may open one). The arc cost is the location engine's walking cost,
residents still to come × walking metres, plus on every arc other than the building's current
point the **change penalty** of :class:`ChangeCosts`: as much as every one of those residents
walking ``building_move_min`` minutes more. A point offers ``max_tables`` (after the events) ×
one table's capacity in the rest of the window; the grid split penalty and the open-point limit
are the plan's. :func:`solver.location.solve` then moves a building only where that pays:
where its point closed or cannot hold what is left of its residents (the alternative is
leaving them without a place in the window, which costs far more), or where a shorter walk
outweighs the change.

Afterwards every move that does not pay on its own is undone (the engine is a heuristic): a
moved building goes back to its point when the point has room and staying is cheaper, the
largest saving first. A building the engine leaves without a place keeps its point (called in
overtime, ``overflow = "overtime"``) or, without one, the nearest open point in reach; with
``overflow = "unserved"`` it stays unserved (``capacity``).

In a catch-up session after the window (every resident is called afresh) nobody has a current
point and there is no penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from sampling.replan.costs import ChangeCosts
from sampling.scenario.model import Scenario
from sampling.stages.assignment import (
    STATUS_CODE,
    UNSERVED_COST_FACTOR,
    UnservedReason,
    candidate_pairs,
)
from sampling.stages.limits import wall_safety
from solver.location import LocationProblem, solve
from solver.location.candidates import nearest

__all__ = ["Reassigned", "reassign"]


@dataclass(frozen=True)
class Reassigned:
    """Per building of the scenario: ``point_id`` (null: none), ``walk_m``, ``beyond_limit``,
    ``unserved_reason`` and ``reassigned`` (the model placed it: it had residents to come),
    plus the figures of the engine and of the revert pass."""

    buildings: pl.DataFrame
    figures: dict[str, Any]


def reassign(
    reduced: Scenario,
    saved: pl.DataFrame,
    remaining: pl.DataFrame,
    open_before: frozenset[str],
    unit: int,
    costs: ChangeCosts,
    *,
    catchup: bool,
    time_limit: float,
    seed: int,
    wall_limit: float | None = None,
) -> Reassigned:
    """Place the buildings with residents to come (see the module docstring).

    ``saved``: the saved assignments (``building_id``, ``point_id``, ``walk_m``,
    ``beyond_limit``); ``remaining``: ``building_id``, ``remaining`` (walk-in residents still to
    come); ``open_before``: the points open in the saved plan; ``unit``: one table's capacity
    in the rest of the window. ``time_limit``: the engine's work budget; ``wall_limit``: its
    wall-clock safety stop (default :func:`~sampling.stages.limits.wall_safety`).
    """
    header = reduced.header
    b = (
        reduced.buildings.select("building_id", "grid_id")
        .join(
            saved.select("building_id", "point_id", "walk_m", "beyond_limit"),
            on="building_id",
            how="left",
            maintain_order="left",
        )
        .join(remaining, on="building_id", how="left", maintain_order="left")
        .with_columns(pl.col("remaining").fill_null(0).cast(pl.Int64))
    )
    client = np.flatnonzero(b["remaining"].to_numpy() > 0)
    cb = b[client]
    points = reduced.points
    pid = points["point_id"].to_list()
    index = {p: k for k, p in enumerate(pid)}
    status = points["status"].replace_strict(STATUS_CODE, return_dtype=pl.Int8).to_numpy()
    usable = status >= 0
    was_open = np.array([p in open_before for p in pid], dtype=bool)
    demand = cb["remaining"].to_numpy().astype(np.int64)
    n = len(client)
    old = np.array(
        [index.get(p, -1) if p is not None else -1 for p in cb["point_id"].to_list()],
        dtype=np.int64,
    )
    old = np.where((old >= 0) & usable[np.maximum(old, 0)], old, -1)
    if catchup:
        old = np.full(n, -1, dtype=np.int64)

    bx, by = reduced.xy(reduced.buildings[client])
    px, py = reduced.xy(points)
    bxy, pxy = np.column_stack([bx, by]), np.column_stack([px, py])
    usable_index = np.flatnonzero(usable).astype(np.int64)
    found, _ = candidate_pairs(reduced, bxy, pxy[usable], demand)
    ai = found.building.astype(np.int64)
    aj = usable_index[found.point.astype(np.int64)] if len(usable_index) else ai[:0]
    aw = found.walk_m.astype(np.float64)
    beyond = np.zeros(len(ai), dtype=bool)
    # a building with a usable point reaches the points open before (changes cost); one
    # without may go anywhere in reach
    keep = (old[ai] < 0) | was_open[aj]
    ai, aj, aw, beyond = ai[keep], aj[keep], aw[keep], beyond[keep]
    # staying is always possible: the arc to the own point, at the saved walk
    has_own = np.zeros(n, dtype=bool)
    has_own[ai[aj == old[ai]]] = True
    stay = np.flatnonzero((old >= 0) & ~has_own)
    saved_walk = cb["walk_m"].fill_null(0.0).to_numpy().astype(np.float64)
    saved_beyond = cb["beyond_limit"].fill_null(False).to_numpy().astype(bool)
    ai = np.concatenate([ai, stay])
    aj = np.concatenate([aj, old[stay]])
    aw = np.concatenate([aw, saved_walk[stay]])
    beyond = np.concatenate([beyond, saved_beyond[stay]])
    if header.assignment.allow_beyond_limit and usable.any():
        reached = np.zeros(n, dtype=bool)
        reached[ai] = True
        lonely = np.flatnonzero(~reached)
        if len(lonely):
            near, straight = nearest(bxy[lonely], pxy[usable])
            ai = np.concatenate([ai, lonely])
            aj = np.concatenate([aj, usable_index[near]])
            aw = np.concatenate([aw, straight * header.walking.detour_factor])
            beyond = np.concatenate([beyond, np.ones(len(lonely), dtype=bool)])
    order = np.lexsort((aj, ai))
    ai, aj, aw, beyond = ai[order], aj[order], aw[order], beyond[order]

    speed = header.walking.speed_m_per_min
    penalty = demand.astype(np.float64) * costs.building_move_min * speed
    moves = (aj != old[ai]) & (old[ai] >= 0)
    cost = demand[ai] * aw + np.where(moves, penalty[ai], 0.0)
    capacity = points["max_tables"].to_numpy().astype(np.int64) * unit
    grid = cb["grid_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int32)
    problem = LocationProblem(
        demand=demand,
        capacity=capacity,
        arc_client=ai.astype(np.int32),
        arc_site=aj.astype(np.int32),
        arc_cost=cost,
        site_status=status.astype(np.int8),
        max_open=header.sampling.max_open_points,
        unserved_cost=np.maximum(demand, 1).astype(np.float64)
        * UNSERVED_COST_FACTOR
        * header.walking.limit_m,
        unit_capacity=unit,
        group=grid,
        group_split_penalty=header.assignment.grid_split_penalty,
    )
    wall = wall_safety(time_limit, wall_limit)
    result = solve(problem, time_limit=wall, work_budget=time_limit, seed=seed)
    planned = result.status in ("optimal", "feasible")
    site = result.site_of_client.astype(np.int64) if planned else old.copy()
    opened = result.open_sites.astype(bool) if planned else was_open & usable

    def arc_of(i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.int64]:
        """Index of arc (i, j) in the sorted arc arrays (j must be an arc of i)."""
        key = ai * (len(pid) + 1) + aj
        return np.searchsorted(key, i * (len(pid) + 1) + j).astype(np.int64)

    reverted = 0 if catchup else _revert(site, old, demand, cost, arc_of, capacity, opened, grid)
    overtime = header.assignment.overflow == "overtime"
    lost = np.flatnonzero(site < 0)
    if overtime and len(lost):
        site[lost] = old[lost]
        for i in lost[old[lost] < 0].tolist():  # its point closed: the nearest open point
            mine = np.flatnonzero((ai == i) & opened[aj])
            if len(mine):
                site[i] = int(aj[mine[np.argmin(aw[mine])]])
    has_arc = np.zeros(n, dtype=bool)
    has_arc[ai] = True
    placed = site >= 0
    arc = arc_of(np.arange(n, dtype=np.int64)[placed], site[placed])
    walk = np.full(n, np.nan)
    walk[placed] = aw[arc]
    flag = np.zeros(n, dtype=bool)
    flag[placed] = beyond[arc]
    near_open = np.zeros(n, dtype=bool)
    near_open[ai[opened[aj]]] = True
    reason = np.where(
        placed,
        "",
        np.where(
            near_open,
            UnservedReason.CAPACITY.value,
            np.where(
                has_arc, UnservedReason.NO_OPEN_POINT.value, UnservedReason.OUT_OF_REACH.value
            ),
        ),
    )
    new = pl.DataFrame(
        {
            "building_id": cb["building_id"],
            "point_id": pl.Series(
                [pid[j] if j >= 0 else None for j in site.tolist()], dtype=pl.String
            ),
            "walk_m": pl.Series(walk, dtype=pl.Float64).fill_nan(None),
            "beyond_limit": pl.Series(flag, dtype=pl.Boolean),
            "unserved_reason": pl.Series(reason, dtype=pl.String).replace("", None),
            "reassigned": pl.Series(np.ones(n, dtype=bool), dtype=pl.Boolean),
        }
    )
    rest = b.filter(pl.col("remaining") <= 0).select(
        "building_id",
        "point_id",
        "walk_m",
        "beyond_limit",
        pl.lit(None, pl.String).alias("unserved_reason"),
        pl.lit(False).alias("reassigned"),
    )
    out = pl.concat([new, rest], how="vertical_relaxed")
    out = b.select("building_id").join(out, on="building_id", how="left", maintain_order="left")
    kept_usable = old >= 0
    figures: dict[str, Any] = {
        "status": result.status,
        "objective": result.objective,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "wall_clock_bound": int(bool(result.stats.get("wall_clock_bound", 0.0))),
        "clients": n,
        "arcs": len(ai),
        "buildings_moved_by_cost": int((kept_usable & (site != old)).sum()),
        "buildings_freed": int((~kept_usable).sum()),
        "moves_reverted": reverted,
        "building_move_min": costs.building_move_min,
    }
    return Reassigned(out, figures)


def _revert(
    site: NDArray[np.int64],
    old: NDArray[np.int64],
    demand: NDArray[np.int64],
    cost: NDArray[np.float64],
    arc_of: Any,
    capacity: NDArray[np.int64],
    opened: NDArray[np.bool_],
    grid: NDArray[np.int32],
) -> int:
    """Send moved buildings back to their point where it has room and staying costs less,
    the largest saving first (in place); returns how many went back.

    A building goes back only if its grid then uses no more points than it did in the
    morning plan or does in the engine's plan, whichever is more: the engine may have moved
    a whole grid to keep it at one point, and sending one of its buildings back would split
    it again, while a grid split in the morning may be restored as it was."""
    moved = np.flatnonzero((old >= 0) & (site >= 0) & (site != old) & opened[np.maximum(old, 0)])
    if not len(moved):
        return 0
    load = np.zeros(capacity.shape[0], dtype=np.int64)
    np.add.at(load, site[site >= 0], demand[site >= 0])
    morning = _points_per_grid(grid, old)
    uses: dict[tuple[int, int], int] = {}
    for g, j in zip(grid[site >= 0].tolist(), site[site >= 0].tolist(), strict=True):
        uses[(g, j)] = uses.get((g, j), 0) + 1
    points = _points_per_grid(grid, site)
    saving = cost[arc_of(moved, site[moved])] - cost[arc_of(moved, old[moved])]
    back = 0
    for k in np.lexsort((moved, -saving)).tolist():
        i, s = int(moved[k]), float(saving[k])
        j, now, g = int(old[i]), int(site[i]), int(grid[i])
        if s <= 0 or load[j] + demand[i] > capacity[j]:
            continue
        after = points[g] - (uses[(g, now)] == 1) + (uses.get((g, j), 0) == 0)
        if after > max(points[g], morning.get(g, 0)):
            continue
        load[now] -= demand[i]
        load[j] += demand[i]
        uses[(g, now)] -= 1
        uses[(g, j)] = uses.get((g, j), 0) + 1
        points[g] = after
        site[i] = j
        back += 1
    return back


def _points_per_grid(grid: NDArray[np.int32], site: NDArray[np.int64]) -> dict[int, int]:
    """How many distinct points each grid's placed buildings use."""
    placed = site >= 0
    pairs = np.unique(np.stack([grid[placed].astype(np.int64), site[placed]]), axis=1)
    gids, counts = np.unique(pairs[0], return_counts=True)
    return dict(zip(gids.tolist(), counts.tolist(), strict=True))
