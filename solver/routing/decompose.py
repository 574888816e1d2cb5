"""Geographic decomposition for district-scale home-visit routing (thousands of households).

One model with ~7 000 households and ~200 teams is too big for a one-minute budget, so:

1. **Regions** – balanced k-means on household coordinates: k-means++ seeding, then Lloyd
   iterations whose assignment step is a min-cost flow (each household to one of its nearest
   centres, every region holding at most ``ceil(n / R)`` households, so sizes stay even).
2. **Teams to regions** – each region gets a number of teams proportional to its workload
   (service + an estimate of the walk per household, largest-remainder rounding, at least one
   per non-empty region); a transportation problem (min-cost flow, integral) sends teams to
   regions minimising the walk from the team's start to the region centre and back to its end.
3. **Regional solves** – each region is an independent :class:`RoutingProblem` solved by
   PyVRP with an iteration budget (the problem's budget split by households,
   :func:`solver.routing.effort.region_budgets`, or the caller's count per region),
   ``workers`` regions at a time in child processes. Each region is deterministic for its
   seed and budget, and the results are combined in the fixed order of the regions, never
   in the order they finish. A wall-clock slice proportional to its size only guards the
   deadline; a region it cuts makes the run ``wall_clock_bound``.
4. **Repair** – households left over in crowded regions are offered to every nearby team by
   cheapest feasible insertion (:mod:`solver.routing.repair`).

Needs planar coordinates (:class:`PlanarTravel`); explicit matrices are solved as one model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy.sparse.csgraph import minimum_spanning_tree

from solver.routing.check import check_routes
from solver.routing.effort import iteration_budget, region_budgets
from solver.routing.portfolio import make_pool, run_engine, solve_portfolio
from solver.routing.problem import FloatArray, IntArray, PlanarTravel, RoutingProblem
from solver.routing.repair import repair_insert
from solver.routing.result import EngineRun

#: Target households per region (PyVRP gets good routes for ~300 clients in a few seconds).
REGION_STOPS = 300
#: Seconds kept for the repair: fixed + per household (insertion is ~0.3 ms per household).
_REPAIR_FIXED, _REPAIR_PER_STOP = 0.3, 2e-4


def _kmeans_pp(xy: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """k-means++ seeding (deterministic for the generator)."""
    centres = [xy[int(rng.integers(len(xy)))]]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = float(d2.sum())
        j = int(rng.integers(len(xy))) if total <= 0 else int(rng.choice(len(xy), p=d2 / total))
        centres.append(xy[j])
        d2 = np.minimum(d2, ((xy - xy[j]) ** 2).sum(axis=1))
    return np.array(centres)


def _balanced_assign(xy: FloatArray, centres: FloatArray, caps: IntArray, near: int) -> IntArray:
    """Assign points to centres (at most ``caps[r]`` each), min total distance, ``near`` options."""
    n, k = len(xy), len(centres)
    near = min(near, k)
    d = np.hypot(xy[:, None, 0] - centres[None, :, 0], xy[:, None, 1] - centres[None, :, 1])
    opts = np.argsort(d, axis=1, kind="stable")[:, :near]
    # nodes: points 0..n-1, centres n..n+k-1, sink n+k
    f = min_cost_flow.SimpleMinCostFlow()
    tails = np.repeat(np.arange(n), near)
    heads = n + opts.ravel()
    costs = np.rint(np.take_along_axis(d, opts, axis=1).ravel()).astype(np.int64)
    f.add_arcs_with_capacity_and_unit_cost(tails, heads, np.ones(n * near, np.int64), costs)
    f.add_arcs_with_capacity_and_unit_cost(
        n + np.arange(k), np.full(k, n + k), np.asarray(caps, np.int64), np.zeros(k, np.int64)
    )
    supplies = np.zeros(n + k + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[n + k] = -n
    f.set_nodes_supplies(np.arange(n + k + 1), supplies)
    if f.solve() != f.OPTIMAL:
        return np.asarray(np.argmin(d, axis=1), dtype=np.int64)
    flows = f.flows(np.arange(n * near))
    chosen = flows.reshape(n, near).argmax(axis=1)
    return np.asarray(opts[np.arange(n), chosen], dtype=np.int64)


def partition_stops(
    xy: FloatArray,
    regions: int,
    seed: int,
    iterations: int = 8,
    caps: IntArray | None = None,
    centres: FloatArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """Balanced k-means labels and centres (region sizes at most ``caps``, default equal)."""
    if centres is None:
        centres = _kmeans_pp(xy, regions, np.random.default_rng(seed))
    if caps is None:
        caps = np.full(regions, math.ceil(len(xy) / regions), dtype=np.int64)
    labels = np.zeros(len(xy), dtype=np.int64)
    for _ in range(iterations):
        labels = _balanced_assign(xy, centres, caps, near=8)
        new = np.array(
            [
                xy[labels == r].mean(axis=0) if (labels == r).any() else centres[r]
                for r in range(regions)
            ]
        )
        if np.allclose(new, centres, atol=1.0):
            break
        centres = new
    return labels, centres


def team_counts(
    problem: RoutingProblem, labels: IntArray, xy: FloatArray, regions: int
) -> IntArray:
    """Teams per region ∝ estimated workload (largest remainder, ≥ 1 per non-empty region)."""
    p = problem
    m = p.num_vehicles
    assert isinstance(p.travel, PlanarTravel)
    speed = p.travel.speed / 60.0  # metres per second
    # walking estimate: detour × 1.25 × minimum spanning tree of the region's households
    # (a tour through points is 1-1.5 × their MST; clustered buildings make per-point
    # density estimates far too high or low).
    work = np.zeros(regions)
    for r in range(regions):
        idx = np.flatnonzero(labels == r)
        if idx.size == 0:
            continue
        pts = xy[idx]
        dm = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
        mst = float(minimum_spanning_tree(np.maximum(dm, 1e-3)).sum())
        walk = p.travel.detour * 1.25 * mst / speed
        work[r] = float(p.service[idx].sum()) + walk
    share = work / max(work.sum(), 1e-9) * m
    count = np.floor(share).astype(np.int64)
    nonempty = work > 0
    need = nonempty & (count == 0)
    count[need] = 1
    rest = m - int(count.sum())
    if rest > 0:
        frac = np.where(nonempty, share - np.floor(share), -1.0)
        for r in np.argsort(-frac, kind="stable")[:rest]:
            count[r] += 1
    while count.sum() > m:  # more non-empty regions than teams: trim the smallest
        r = int(np.argmax(np.where(count > 1, count, 0)))
        if count[r] <= 1:
            r = int(np.argmin(np.where(count > 0, work, np.inf)))
        count[r] -= 1
    return np.asarray(count, dtype=np.int64)


def place_teams(problem: RoutingProblem, centres: FloatArray, count: IntArray) -> IntArray:
    """Region per team: transportation problem (walk start → centre → end), ``count`` per region."""
    p = problem
    assert isinstance(p.travel, PlanarTravel)
    regions, m = len(centres), p.num_vehicles
    start_xy = p.travel.xy[p.vehicle_start]
    end_xy = p.travel.xy[p.vehicle_end]
    cost = np.hypot(*(start_xy[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)) + np.hypot(
        *(end_xy[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)
    )
    f = min_cost_flow.SimpleMinCostFlow()
    tails = np.repeat(np.arange(m), regions)
    heads = m + np.tile(np.arange(regions), m)
    f.add_arcs_with_capacity_and_unit_cost(
        tails, heads, np.ones(m * regions, np.int64), np.rint(cost.ravel()).astype(np.int64)
    )
    supplies = np.concatenate([np.ones(m, np.int64), -count])
    f.set_nodes_supplies(np.arange(m + regions), supplies)
    if f.solve() != f.OPTIMAL:
        return np.asarray(np.argmin(cost, axis=1), dtype=np.int64)
    flows = f.flows(np.arange(m * regions)).reshape(m, regions)
    return np.asarray(flows.argmax(axis=1), dtype=np.int64)


@dataclass(frozen=True)
class RegionalRun:
    """Routes of a decomposed solve, per-region scores, region count, the iterations spent
    over all regions and whether every region and the repair ran to the end (``complete``)."""

    routes: list[list[int]] | None
    label: str
    seen: tuple[tuple[str, int | None], ...]
    regions: int
    iterations: int
    complete: bool


def solve_decomposed(
    problem: RoutingProblem,
    deadline: float,
    seed: int,
    workers: int,
    max_iterations: int | None,
    progress: Callable[[str], None] | None = None,
    engine: str = "pyvrp",
) -> RegionalRun:
    """Solve by regions, ``max_iterations`` each (default: the problem's budget split by size)."""
    p = problem
    if not isinstance(p.travel, PlanarTravel) or p.num_vehicles == 0:
        iters = max_iterations if max_iterations is not None else iteration_budget(p.num_stops)
        one = solve_portfolio(p, deadline, seed, (("pyvrp", 0),), iters)
        return RegionalRun(one.routes, one.label, one.seen, 1, iters, one.complete)
    xy = p.travel.xy[p.stop_location]
    regions = max(1, min(p.num_vehicles, round(p.num_stops / REGION_STOPS)))
    labels, centres = partition_stops(xy, regions, seed)
    count = team_counts(p, labels, xy, regions)
    # Integer team counts (9 or 10 per region) leave regions ±5 % off; re-balance the
    # households so every region holds a share proportional to its teams.
    caps = np.ceil(p.num_stops * count / max(1, int(count.sum())) * 1.005).astype(np.int64) + 1
    labels, centres = partition_stops(xy, regions, seed, iterations=4, caps=caps, centres=centres)
    team_region = place_teams(p, centres, count)
    jobs: list[tuple[IntArray, IntArray]] = []
    for r in range(regions):
        stops = np.flatnonzero(labels == r).astype(np.int64)
        teams = np.flatnonzero(team_region == r).astype(np.int64)
        if stops.size and teams.size:
            jobs.append((stops, teams))
    now = time.time()
    reserve = _REPAIR_FIXED + _REPAIR_PER_STOP * p.num_stops
    solve_time = max(0.1, deadline - now - reserve)
    lanes = max(1, workers)
    # Largest regions first (LPT; a stable sort, so the order depends on the sizes alone); each
    # region's wall-clock slice is in proportion to its size, scaled by the most loaded lane of
    # the LPT schedule so that every lane ends before the deadline.
    jobs.sort(key=lambda j: -len(j[0]))
    sizes = np.array([len(stops) for stops, _ in jobs], dtype=np.int64)
    if max_iterations is not None:
        budgets = np.full(len(jobs), max_iterations, dtype=np.int64)
    else:
        budgets = region_budgets(sizes, p.num_stops)
    lane_load = [0] * lanes
    for size in sizes.tolist():
        lane_load[lane_load.index(min(lane_load))] += size
    total = max(lane_load) or 1
    routes: list[list[int]] = [[] for _ in range(p.num_vehicles)]
    seen: list[tuple[str, int | None]] = []
    complete = True
    with make_pool(lanes) as pool:
        futs: list[Future[EngineRun]] = []
        for (stops, teams), iters in zip(jobs, budgets.tolist(), strict=True):
            share = solve_time * len(stops) / total * 0.98
            sub = p.subproblem(stops, teams)
            futs.append(pool.submit(run_engine, engine, sub, share, seed, iters, deadline))
        # in the fixed order of the jobs, whatever order the regions finish in
        for (stops, teams), fut in zip(jobs, futs, strict=True):
            run = fut.result()
            complete = complete and run.complete
            label = f"region:{len(stops)}x{len(teams)}"
            if run.routes is None:
                seen.append((label, None))
                continue
            rep = check_routes(p.subproblem(stops, teams), run.routes)
            # recomputed regional distance; None = rejected, its households go to the repair
            seen.append((label, rep.total_distance if rep.ok else None))
            if not rep.ok:
                continue
            for t, seq in zip(teams, run.routes, strict=True):
                routes[int(t)] = [int(stops[s]) for s in seq]
            if progress is not None:
                progress(f"region {len(seen)}/{len(jobs)} done")
    repaired, repair_complete = repair_insert(p, routes, deadline)
    if check_routes(p, repaired).ok:  # the repair keeps feasibility by construction; verify
        routes = repaired
    return RegionalRun(
        routes,
        "pyvrp-regions",
        tuple(seen),
        len(jobs),
        int(budgets.sum()),
        complete and repair_complete,
    )
