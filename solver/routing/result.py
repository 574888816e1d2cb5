"""Result of a routing solve: schedules recomputed from stop sequences, unserved reasons.

Engines only return stop sequences per vehicle; everything the caller sees (arrival, start and
end times, distances, unserved reasons) is derived here from the problem data, so every engine
reports in exactly the same way.

Schedule convention: a team leaves its start as late as possible without delaying its first
stop (never before ``avail_from``); at each stop ``arrival = previous end + travel``,
``start = max(arrival, tw_early)`` (waiting happens at the door), ``end = start + service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from solver.routing.problem import IntArray, RoutingProblem

BoolArray = NDArray[np.bool_]


class VisitReason(StrEnum):
    """Why a stop (a household) is unserved, decided by checks after the solve
    (:func:`unserved_reasons`); the human text is in ``sampling/labels`` (``[reasons]``)."""

    NO_TEAM_IN_WINDOW = "no_team_in_window"
    """For every team, service would start after the stop's window or end after the team's
    availability (travel ignored)."""
    TEAM_OUT_OF_REACH = "team_out_of_reach"
    """No team can leave its start, serve the stop alone inside its window and be back in time."""
    TEAMS_FULL = "teams_full"
    """Some team could serve it alone, but the teams are full (or too small for its persons)."""


class RoutingStatus(StrEnum):
    """How complete a routing result is; no engine here proves optimality or infeasibility."""

    FEASIBLE = "feasible"
    """A checked plan serving every mandatory stop."""
    INCOMPLETE = "incomplete"
    """A mandatory stop is unserved (a heuristic result, not a proof that none serves it)."""


@dataclass(frozen=True)
class VehicleRoute:
    """One vehicle's route: stop order, distance, departure (``start``) and return (``end``).

    An unused vehicle has no stops, distance 0 and ``start == end == avail_from``.
    """

    vehicle: int
    stops: tuple[int, ...]
    distance: int
    start: int
    end: int


@dataclass(frozen=True)
class EngineRun:
    """One engine run: its stop sequences (None: nothing feasible) and whether it ran its
    whole iteration budget (``complete``) or was stopped by the wall clock first.

    Only a complete run is repeatable: the same problem, seed and budget give the same routes
    on any machine. An incomplete one depends on how fast the machine was at that moment.
    """

    routes: list[list[int]] | None
    complete: bool


@dataclass(frozen=True)
class SolveStats:
    """How the result was obtained: wall seconds, kept engine, objectives seen per engine.

    ``iterations`` is the search budget over all models (regions); ``wall_clock_bound`` is
    True when the wall clock (the time limit) stopped some part of the search before its
    budget, so a rerun of the same problem and seed may give other routes.
    """

    seconds: float
    engine: str
    candidates: tuple[tuple[str, int | None], ...] = ()
    regions: int = 1
    iterations: int = 0
    wall_clock_bound: bool = False


@dataclass(frozen=True, eq=False)
class RoutingResult:
    """Per-stop and per-vehicle outcome. Per-stop arrays hold -1 for unserved stops.

    ``status`` is :class:`RoutingStatus` (``feasible`` or ``incomplete``; ``optimal`` and
    ``infeasible`` are never claimed: no engine here proves either). ``reason`` holds a
    :class:`VisitReason` per unserved stop and ``None`` per served one.
    """

    vehicle: IntArray
    sequence: IntArray
    arrival: IntArray
    start: IntArray
    end: IntArray
    reason: tuple[VisitReason | None, ...]
    routes: tuple[VehicleRoute, ...]
    total_distance: int
    num_routes: int
    objective: int
    status: RoutingStatus
    stats: SolveStats

    @property
    def served(self) -> IntArray:
        """Indices of served stops."""
        return np.flatnonzero(self.vehicle >= 0).astype(np.int64)

    @property
    def unserved(self) -> IntArray:
        """Indices of unserved stops."""
        return np.flatnonzero(self.vehicle < 0).astype(np.int64)


@dataclass(frozen=True)
class _Schedule:
    arrival: list[int]
    start: list[int]
    end: list[int]
    depart: int
    back: int
    distance: int


def schedule_route(problem: RoutingProblem, vehicle: int, stops: Sequence[int]) -> _Schedule:
    """Earliest-start schedule of one route with the late-departure convention above."""
    p = problem
    if not stops:
        t0 = int(p.avail_from[vehicle])
        return _Schedule([], [], [], t0, t0, 0)
    locs = np.concatenate(
        [[p.vehicle_start[vehicle]], p.stop_location[list(stops)], [p.vehicle_end[vehicle]]]
    )
    dist_m, dur_m = p.travel.cross(locs[:-1], locs[1:])
    legs_dist = np.diagonal(dist_m)
    legs_dur = np.diagonal(dur_m)
    first = stops[0]
    first_start = max(int(p.avail_from[vehicle]) + int(legs_dur[0]), int(p.tw_early[first]))
    depart = max(int(p.avail_from[vehicle]), first_start - int(legs_dur[0]))
    t = depart
    arr: list[int] = []
    beg: list[int] = []
    fin: list[int] = []
    for k, s in enumerate(stops):
        a = t + int(legs_dur[k])
        b = max(a, int(p.tw_early[s]))
        e = b + int(p.service[s])
        arr.append(a)
        beg.append(b)
        fin.append(e)
        t = e
    back = t + int(legs_dur[-1])
    return _Schedule(arr, beg, fin, depart, back, int(legs_dist.sum()))


def route_feasible(problem: RoutingProblem, vehicle: int, stops: Sequence[int]) -> bool:
    """Whether the route meets windows, availability, capacity and max stops."""
    p = problem
    if len(stops) > int(p.max_stops[vehicle]):
        return False
    if int(p.demand[list(stops)].sum()) > int(p.capacity[vehicle]):
        return False
    sch = schedule_route(problem, vehicle, stops)
    if sch.back > int(p.avail_to[vehicle]):
        return False
    return all(b <= int(p.tw_late[s]) for s, b in zip(stops, sch.start, strict=True))


def _checks(problem: RoutingProblem, stops: IntArray) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Per stop: some team's time fits its window; some team reaches it alone; and with room."""
    p = problem
    s = np.asarray(stops, dtype=np.int64)
    e = p.tw_early[s][:, None]
    late = p.tw_late[s][:, None]
    svc = p.service[s][:, None]
    f = p.avail_from[None, :]
    to = p.avail_to[None, :]
    t0 = np.maximum(f, e)
    window_ok = np.asarray(((t0 <= late) & (t0 + svc <= to)).any(axis=1))
    _, d_out = p.travel.cross(p.stop_location[s], p.vehicle_start)
    _, d_back = p.travel.cross(p.stop_location[s], p.vehicle_end)
    b = np.maximum(f + d_out, e)
    reach = (b <= late) & (b + svc + d_back <= to) & (p.max_stops[None, :] >= 1)
    fits = reach & (p.demand[s][:, None] <= p.capacity[None, :])
    return window_ok, np.asarray(reach.any(axis=1)), np.asarray(fits.any(axis=1))


def servable(problem: RoutingProblem) -> BoolArray:
    """Stops that at least one team could serve on a route of their own (others: never)."""
    if problem.num_vehicles == 0:
        return np.zeros(problem.num_stops, dtype=bool)
    return _checks(problem, np.arange(problem.num_stops, dtype=np.int64))[2]


def unserved_reasons(problem: RoutingProblem, stops: IntArray) -> list[VisitReason]:
    """Why each given stop could not be served, decided by checks after the solve.

    ``no_team_in_window``: for every team, the start of service would fall after the window or
    service would end after the team's availability (travel ignored); ``team_out_of_reach``:
    otherwise, no team can leave its start, serve the stop alone inside the window and be back
    at its end within its availability; ``teams_full``: otherwise (teams are full, or the
    household's persons exceed every reachable team's capacity).
    """
    p = problem
    s = np.asarray(stops, dtype=np.int64)
    if s.size == 0:
        return []
    if p.num_vehicles == 0:
        return [VisitReason.NO_TEAM_IN_WINDOW] * int(s.size)
    window_ok, reach_ok, _ = _checks(p, s)
    out: list[VisitReason] = []
    for w, r in zip(np.asarray(window_ok).tolist(), np.asarray(reach_ok).tolist(), strict=True):
        if not w:
            out.append(VisitReason.NO_TEAM_IN_WINDOW)
        elif not r:
            out.append(VisitReason.TEAM_OUT_OF_REACH)
        else:
            out.append(VisitReason.TEAMS_FULL)
    return out


def build_result(
    problem: RoutingProblem,
    routes: Sequence[Sequence[int]] | None,
    stats: SolveStats,
) -> RoutingResult:
    """Turn per-vehicle stop sequences (or ``None`` = nothing found) into a result."""
    p = problem
    n, m = p.num_stops, p.num_vehicles
    seqs: list[list[int]] = [[] for _ in range(m)] if routes is None else [list(r) for r in routes]
    veh = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    arr = np.full(n, -1, dtype=np.int64)
    beg = np.full(n, -1, dtype=np.int64)
    fin = np.full(n, -1, dtype=np.int64)
    out_routes: list[VehicleRoute] = []
    feasible = routes is not None
    for v, stops in enumerate(seqs):
        sch = schedule_route(p, v, stops)
        if stops and not route_feasible(p, v, stops):
            feasible = False
        for k, s in enumerate(stops):
            if veh[s] >= 0:
                feasible = False
            veh[s], pos[s] = v, k
            arr[s], beg[s], fin[s] = sch.arrival[k], sch.start[k], sch.end[k]
        out_routes.append(VehicleRoute(v, tuple(stops), sch.distance, sch.depart, sch.back))
    unserved = np.flatnonzero(veh < 0)
    reasons: list[VisitReason | None] = [None] * n
    for s, why in zip(unserved.tolist(), unserved_reasons(p, unserved), strict=True):
        reasons[s] = why
    if p.mandatory[unserved].any():
        feasible = False
    total = sum(r.distance for r in out_routes)
    pen = p.penalty[unserved]
    objective = total + int(pen[pen > 0].sum())
    for a in (veh, pos, arr, beg, fin):
        a.flags.writeable = False
    return RoutingResult(
        vehicle=veh,
        sequence=pos,
        arrival=arr,
        start=beg,
        end=fin,
        reason=tuple(reasons),
        routes=tuple(out_routes),
        total_distance=int(total),
        num_routes=sum(1 for r in out_routes if r.stops),
        objective=objective,
        status=RoutingStatus.FEASIBLE if feasible else RoutingStatus.INCOMPLETE,
        stats=stats,
    )
