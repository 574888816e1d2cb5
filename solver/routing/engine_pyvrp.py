"""PyVRP engine (iterated local search, PyVRP 0.14 ``ProblemData`` API).

Mapping: every stop is a PyVRP client (``service_duration``, ``tw_early``/``tw_late`` on the
start of service, ``prize`` = drop penalty and ``required=False``, or ``required=True`` for
mandatory stops); every distinct team start/end location is a depot; teams with identical
start, end, availability and limits share one vehicle type (``tw_early``/``tw_late`` = the
availability: leave no earlier than ``tw_early``, back by ``tw_late``). Load dimensions: persons
(if any team has a capacity) and a count of stops (if any team has ``max_stops``). The cost is
distance; PyVRP minimises distance plus uncollected prizes (penalties scaled, see ``_prizes``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from solver.routing.problem import UNLIMITED, IntArray, PlanarTravel, RoutingProblem
from solver.routing.result import EngineRun


class _Deadline:
    """Stopping criterion on an absolute ``perf_counter`` time.

    ``MaxRuntime`` starts counting at the first iteration, after PyVRP's neighbourhood set-up
    and initial local search, which on a few hundred clients overruns the budget noticeably.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, best_cost: int) -> bool:
        return time.perf_counter() >= self.deadline


def _prizes(penalty: IntArray, max_dist: int) -> IntArray:
    """Prizes for optional stops (0 for mandatory): penalties scaled to ≤ 10 × max distance.

    PyVRP adapts its infeasibility penalties up to a bound; a prize far above every detour makes
    "visit despite overload / lateness" pay off and no feasible plan is ever found. Ten times the
    longest edge still exceeds any single stop's detour (≤ 2 edges), so serving stays first,
    and scaling keeps the ratios between stops' penalties.
    """
    pen = np.where(penalty < 0, 0, penalty).astype(np.int64)
    cap = 10 * max(1, max_dist) + 1
    top = int(pen.max()) if pen.size else 0
    if top > cap:
        pen = np.where(pen > 0, np.maximum(1, pen * cap // top), 0)
    return pen


def solve_pyvrp(
    problem: RoutingProblem,
    time_limit: float,
    seed: int = 0,
    max_iterations: int | None = None,
) -> EngineRun:
    """Best feasible stop sequences per vehicle after ``max_iterations`` iterations.

    ``time_limit`` (seconds from the call) is the wall-clock safety stop; the run is
    ``complete`` only when the iteration budget, not the clock, ended it (PyVRP is
    deterministic for a seed and an iteration count). Without ``max_iterations`` the clock
    alone stops the search and the run is never complete.
    """
    import pyvrp
    from pyvrp import PenaltyParams
    from pyvrp.stop import MaxIterations, MultipleCriteria

    t0 = time.perf_counter()
    p = problem
    n, m = p.num_stops, p.num_vehicles
    if m == 0 or n == 0:
        empty: list[list[int]] | None = (
            [[] for _ in range(m)] if n == 0 or not p.mandatory.any() else None
        )
        return EngineRun(empty, complete=True)
    dist, dur, nodes = p.node_matrices()
    depot_locs = nodes[n:]
    xy = p.travel.xy[nodes] if isinstance(p.travel, PlanarTravel) else np.zeros((len(nodes), 2))
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in xy]

    use_cap = bool((p.capacity < UNLIMITED).any())
    use_cnt = bool((p.max_stops < UNLIMITED).any())

    def load(values: list[int]) -> list[int]:
        return [v for v, used in zip(values, (use_cap, use_cnt), strict=True) if used]

    prizes = _prizes(p.penalty, int(dist.max()))
    clients = []
    for i in range(n):
        mandatory = int(p.penalty[i]) < 0
        clients.append(
            pyvrp.Client(
                location=i,
                delivery=load([int(p.demand[i]), 1]),
                service_duration=int(p.service[i]),
                tw_early=int(p.tw_early[i]),
                tw_late=int(p.tw_late[i]),
                prize=int(prizes[i]),
                required=mandatory,
            )
        )
    depots = [pyvrp.Depot(location=n + k) for k in range(len(depot_locs))]
    start_dep = np.searchsorted(depot_locs, p.vehicle_start)
    end_dep = np.searchsorted(depot_locs, p.vehicle_end)
    keys: dict[tuple[int, int, int, int, int, int], list[int]] = {}
    for v in range(m):
        key = (
            int(start_dep[v]),
            int(end_dep[v]),
            int(p.avail_from[v]),
            int(p.avail_to[v]),
            int(p.capacity[v]),
            int(p.max_stops[v]),
        )
        keys.setdefault(key, []).append(v)
    vtypes = []
    groups = list(keys.items())
    for key, members in groups:
        sd, ed, af, at, cap, mx = key
        vtypes.append(
            pyvrp.VehicleType(
                num_available=len(members),
                capacity=load([min(cap, UNLIMITED), min(mx, UNLIMITED)]),
                start_depot=sd,
                end_depot=ed,
                tw_early=af,
                tw_late=at,
            )
        )
    data = pyvrp.ProblemData(locations, clients, depots, vtypes, [dist], [dur])  # type: ignore[list-item]
    stop: Any = _Deadline(t0 + time_limit)
    if max_iterations is not None:
        stop = MultipleCriteria([MaxIterations(max_iterations), stop])
    cap = int(prizes.max())
    params = pyvrp.SolveParams(penalty=PenaltyParams(max_penalty=max(1e5, 10.0 * cap)))
    res = pyvrp.solve(data, stop, seed=seed, collect_stats=False, display=False, params=params)
    complete = max_iterations is not None and res.num_iterations >= max_iterations
    best = res.best
    if not best.is_feasible():
        return EngineRun(None, complete)
    out: list[list[int]] = [[] for _ in range(m)]
    used = [0] * len(groups)
    for route in best.routes():
        vt = route.vehicle_type()
        v = groups[vt][1][used[vt]]
        used[vt] += 1
        out[v] = [int(a.idx) for a in route.schedule() if a.is_client()]
    return EngineRun(out, complete)
