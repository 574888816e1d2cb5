"""Independent checker for routing plans.

Re-derives everything from the problem data and the stop sequences, sharing no code with the
engines or the result builder (only the problem's travel matrices are common): every stop at
most once, start of service inside its window, teams leave no earlier than their availability
and are back by its end, capacity and max stops, and the total distance. For a full
:class:`~solver.routing.result.RoutingResult` it also checks the reported times (arrival =
previous end + travel, start >= arrival, end = start + service), the per-stop arrays against the
routes, and that every unserved stop has a reason that actually holds. Used by the benchmark to
recompute the objective and by the tests; it must be able to fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from solver.routing.problem import RoutingProblem
from solver.routing.result import RoutingResult, RoutingStatus, VisitReason


@dataclass
class CheckReport:
    """Outcome of a check: ``ok`` iff no violation; recomputed distance and served count."""

    total_distance: int = 0
    served: int = 0
    num_routes: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no violation was found."""
        return not self.violations


def _leg(problem: RoutingProblem, a: int, b: int) -> tuple[int, int]:
    """Distance and duration between two locations."""
    d, t = problem.travel.cross(np.array([a]), np.array([b]))
    return int(d[0, 0]), int(t[0, 0])


def check_routes(
    problem: RoutingProblem,
    routes: Sequence[Sequence[int]],
    *,
    require_all: bool = False,
) -> CheckReport:
    """Check per-vehicle stop sequences (earliest-start schedule); see module docstring."""
    p = problem
    rep = CheckReport()
    bad = rep.violations
    if len(routes) != p.num_vehicles:
        bad.append(f"{len(routes)} routes for {p.num_vehicles} vehicles")
        return rep
    seen = np.zeros(p.num_stops, dtype=np.int64)
    for v, stops in enumerate(routes):
        if not stops:
            continue
        rep.num_routes += 1
        if len(stops) > int(p.max_stops[v]):
            bad.append(f"vehicle {v}: {len(stops)} stops > max {int(p.max_stops[v])}")
        load = 0
        t = int(p.avail_from[v])
        here = int(p.vehicle_start[v])
        for s in stops:
            if not 0 <= s < p.num_stops:
                bad.append(f"vehicle {v}: unknown stop {s}")
                break
            seen[s] += 1
            loc = int(p.stop_location[s])
            d, tt = _leg(p, here, loc)
            rep.total_distance += d
            t = max(t + tt, int(p.tw_early[s]))
            if t > int(p.tw_late[s]):
                bad.append(f"vehicle {v}: stop {s} starts {t} after window end {p.tw_late[s]}")
            t += int(p.service[s])
            load += int(p.demand[s])
            here = loc
        d, tt = _leg(p, here, int(p.vehicle_end[v]))
        rep.total_distance += d
        if t + tt > int(p.avail_to[v]):
            bad.append(f"vehicle {v}: back at {t + tt} after availability end {p.avail_to[v]}")
        if load > int(p.capacity[v]):
            bad.append(f"vehicle {v}: load {load} > capacity {int(p.capacity[v])}")
    bad.extend(f"stop {s} visited {seen[s]} times" for s in np.flatnonzero(seen > 1).tolist())
    rep.served = int((seen > 0).sum())
    missing = np.flatnonzero(seen == 0)
    must = missing if require_all else missing[p.penalty[missing] < 0]
    bad.extend(f"stop {s} not served" for s in must[:20].tolist())
    return rep


def _reason_holds(p: RoutingProblem, s: int, reason: VisitReason | None) -> bool:
    """Re-check a claimed unserved reason for stop ``s`` against every team."""
    e, late, svc = int(p.tw_early[s]), int(p.tw_late[s]), int(p.service[s])
    window_any = reach_any = False
    for v in range(p.num_vehicles):
        f, to = int(p.avail_from[v]), int(p.avail_to[v])
        b = max(f, e)
        if b <= late and b + svc <= to:
            window_any = True
        _, t_out = _leg(p, int(p.vehicle_start[v]), int(p.stop_location[s]))
        _, t_back = _leg(p, int(p.stop_location[s]), int(p.vehicle_end[v]))
        b = max(f + t_out, e)
        if b <= late and b + svc + t_back <= to and int(p.max_stops[v]) >= 1:
            reach_any = True
    if reason == VisitReason.NO_TEAM_IN_WINDOW:
        return not window_any
    if reason == VisitReason.TEAM_OUT_OF_REACH:
        return window_any and not reach_any
    return reason == VisitReason.TEAMS_FULL and window_any and reach_any


def check_result(
    problem: RoutingProblem, result: RoutingResult, *, check_reasons: int = 200
) -> CheckReport:
    """Check a full result: routes, reported times, per-stop arrays and unserved reasons.

    Reasons are re-verified for the first ``check_reasons`` unserved stops (cost O(teams) each).
    """
    p = problem
    routes = [list(r.stops) for r in result.routes]
    rep = check_routes(p, routes)
    bad = rep.violations
    if rep.total_distance != result.total_distance:
        bad.append(f"total distance {result.total_distance} != recomputed {rep.total_distance}")
    if rep.num_routes != result.num_routes:
        bad.append(f"num_routes {result.num_routes} != recomputed {rep.num_routes}")
    for v, r in enumerate(result.routes):
        if r.vehicle != v:
            bad.append(f"route {v} labelled vehicle {r.vehicle}")
        if not r.stops:
            continue
        if r.start < int(p.avail_from[v]):
            bad.append(f"vehicle {v}: leaves {r.start} before availability {p.avail_from[v]}")
        if r.end > int(p.avail_to[v]):
            bad.append(f"vehicle {v}: back {r.end} after availability {p.avail_to[v]}")
        t, here, dist = r.start, int(p.vehicle_start[v]), 0
        for k, s in enumerate(r.stops):
            d, tt = _leg(p, here, int(p.stop_location[s]))
            dist += d
            if result.vehicle[s] != v or result.sequence[s] != k:
                bad.append(
                    f"stop {s}: arrays say vehicle/seq {result.vehicle[s]}/{result.sequence[s]}"
                )
            if result.arrival[s] != t + tt:
                bad.append(f"stop {s}: arrival {result.arrival[s]} != {t} + travel {tt}")
            if result.start[s] < result.arrival[s] or result.start[s] < p.tw_early[s]:
                bad.append(f"stop {s}: start {result.start[s]} before arrival or window")
            if result.start[s] > p.tw_late[s]:
                bad.append(f"stop {s}: start {result.start[s]} after window end {p.tw_late[s]}")
            if result.end[s] != result.start[s] + p.service[s]:
                bad.append(f"stop {s}: end != start + service")
            t, here = int(result.end[s]), int(p.stop_location[s])
        d, tt = _leg(p, here, int(p.vehicle_end[v]))
        dist += d
        if r.end != t + tt:
            bad.append(f"vehicle {v}: reported return {r.end} != {t + tt}")
        if r.distance != dist:
            bad.append(f"vehicle {v}: distance {r.distance} != recomputed {dist}")
    on_route = {s for r in result.routes for s in r.stops}
    unserved = [s for s in range(p.num_stops) if s not in on_route]
    for s in unserved:
        if result.vehicle[s] != -1 or result.start[s] != -1:
            bad.append(f"stop {s}: unserved but arrays say vehicle {result.vehicle[s]}")
        if not isinstance(result.reason[s], VisitReason):
            bad.append(f"stop {s}: unserved without a valid reason ({result.reason[s]!r})")
    for s in unserved[:check_reasons]:
        if not _reason_holds(p, s, result.reason[s]):
            bad.append(f"stop {s}: reason {result.reason[s]!r} does not hold")
    for s in on_route:
        if result.reason[s] is not None:
            bad.append(f"stop {s}: served but has reason {result.reason[s]!r}")
    if not isinstance(result.status, RoutingStatus):  # e.g. "optimal": claimed without proof
        bad.append(f"status {result.status!r} claimed without proof")
    return rep
