"""OR-Tools routing engine (constraint-programming routing library, single-threaded).

Model: nodes = stops then distinct team start/end locations; arc cost = distance; a "Time"
dimension with transit = travel time + service of the origin node, slack = waiting, cumul of a
stop restricted to its window (start of service), of a team's start/end to its availability;
optional "Load" (persons vs capacity) and "Count" (stops vs max stops) dimensions; every
optional stop is a singleton disjunction with its drop penalty. Search: PARALLEL_CHEAPEST_INSERTION
then GUIDED_LOCAL_SEARCH (the documented AUTOMATIC setup finds nothing on some tight-window
instances).

Effort: ``max_iterations`` is the search's solution limit, a count that does not depend on the
machine; the large-neighbourhood operators, whose completion search is limited by time
(``lns_time_limit``), stay off (OR-Tools' default), so a run that reaches its solution limit
is repeatable. The time limit is only the wall-clock safety stop.
"""

from __future__ import annotations

import time

import numpy as np

from solver.routing.problem import UNLIMITED, RoutingProblem
from solver.routing.result import EngineRun

#: Penalty used for mandatory stops: OR-Tools finds first solutions far more reliably when
#: every stop is droppable, the caller then rejects plans that drop a mandatory stop.
_MANDATORY_PENALTY = 1 << 40


def solve_ortools(
    problem: RoutingProblem,
    time_limit: float,
    seed: int = 0,
    max_iterations: int | None = None,
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION",
) -> EngineRun:
    """Best stop sequences per vehicle after ``max_iterations`` solutions (or None found).

    ``seed`` is unused (the search is deterministic); ``max_iterations`` caps the number of
    solutions found, which makes the run reproducible when ``time_limit`` (seconds, the
    wall-clock safety stop) is not reached first; the run then counts as ``complete``.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    del seed
    p = problem
    n, m = p.num_stops, p.num_vehicles
    if n == 0 or m == 0:
        empty: list[list[int]] | None = (
            [[] for _ in range(m)] if n == 0 or not p.mandatory.any() else None
        )
        return EngineRun(empty, complete=True)
    dist, dur, nodes = p.node_matrices()
    depot_locs = nodes[n:]
    starts = (n + np.searchsorted(depot_locs, p.vehicle_start)).tolist()
    ends = (n + np.searchsorted(depot_locs, p.vehicle_end)).tolist()
    nn = len(nodes)
    manager = pywrapcp.RoutingIndexManager(nn, m, starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    dist_cb = routing.RegisterTransitMatrix(dist.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(dist_cb)

    service = np.zeros(nn, dtype=np.int64)
    service[:n] = p.service
    time_cb = routing.RegisterTransitMatrix((dur + service[:, None]).tolist())
    horizon = int(max(p.avail_to.max(), p.tw_late.max())) + 1
    routing.AddDimension(time_cb, horizon, horizon, False, "Time")
    tdim = routing.GetDimensionOrDie("Time")
    for i in range(n):
        tdim.CumulVar(manager.NodeToIndex(i)).SetRange(int(p.tw_early[i]), int(p.tw_late[i]))
    for v in range(m):
        lo, hi = int(p.avail_from[v]), int(p.avail_to[v])
        tdim.CumulVar(routing.Start(v)).SetRange(lo, hi)
        tdim.CumulVar(routing.End(v)).SetRange(lo, hi)
        routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(v)))

    def add_load(name: str, per_node: list[int], caps: list[int]) -> None:
        cb = routing.RegisterUnaryTransitVector(per_node)
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, name)

    if (p.capacity < UNLIMITED).any():
        add_load(
            "Load",
            [*p.demand.tolist(), *([0] * (nn - n))],
            np.minimum(p.capacity, UNLIMITED).tolist(),
        )
    if (p.max_stops < UNLIMITED).any():
        add_load("Count", [1] * n + [0] * (nn - n), np.minimum(p.max_stops, n).tolist())
    for i in range(n):
        pen = int(p.penalty[i])
        routing.AddDisjunction([manager.NodeToIndex(i)], _MANDATORY_PENALTY if pen < 0 else pen)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, first_solution
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    limit_ms = max(10, int(time_limit * 1000))
    params.time_limit.FromMilliseconds(limit_ms)
    if max_iterations is not None:
        params.solution_limit = max_iterations
    started = time.perf_counter()
    sol = routing.SolveWithParameters(params)
    # OR-Tools reports the same status for both limits: a run that used (nearly) all of its
    # time was stopped by the clock
    elapsed_ms = 1000 * (time.perf_counter() - started)
    complete = max_iterations is not None and elapsed_ms < 0.98 * limit_ms
    if sol is None:
        return EngineRun(None, complete)
    out: list[list[int]] = []
    for v in range(m):
        idx = routing.Start(v)
        seq: list[int] = []
        idx = sol.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            seq.append(int(manager.IndexToNode(idx)))
            idx = sol.Value(routing.NextVar(idx))
        out.append(seq)
    return EngineRun(out, complete)
