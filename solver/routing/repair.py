"""Cheapest feasible insertion of unserved stops into existing routes (global repair).

Used after the regional solves of a decomposed instance: a household left over in a crowded
region may fit into a route of a neighbouring region's team. For each unserved stop (largest
penalty first, then index) the candidate routes are those of the teams serving its nearest
served neighbours plus the teams starting nearest to it; every position of every candidate is
tested in O(1) with the classic forward start times / backward latest starts, and the cheapest
feasible insertion (added distance) is applied. Windows, availability, capacity and max stops
stay satisfied by construction.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from solver.routing.problem import IntArray, PlanarTravel, RoutingProblem


class _Route:
    """Mutable view of one route with start times and latest allowed starts."""

    def __init__(self, p: RoutingProblem, v: int, stops: list[int]) -> None:
        self.p, self.v, self.stops = p, v, stops
        self.refresh()

    def refresh(self) -> None:
        """Recompute locations, leg matrices, earliest ends and latest starts."""
        p, v = self.p, self.v
        s = np.asarray(self.stops, dtype=np.int64)
        self.locs = np.concatenate(
            [[p.vehicle_start[v]], p.stop_location[s], [p.vehicle_end[v]]]
        ).astype(np.int64)
        d, t = p.travel.cross(self.locs[:-1], self.locs[1:])
        self.leg_d = np.diagonal(d).copy()
        self.leg_t = np.diagonal(t).copy()
        k = len(self.stops)
        # end[j] = time leaving node j (node 0 = start depot)
        end = np.zeros(k + 1, dtype=np.int64)
        end[0] = p.avail_from[v]
        for j, st in enumerate(self.stops):
            b = max(int(end[j]) + int(self.leg_t[j]), int(p.tw_early[st]))
            end[j + 1] = b + int(p.service[st])
        self.end = end
        # latest[j] = latest start of service at node j (node k + 1 = end depot arrival)
        latest = np.zeros(k + 2, dtype=np.int64)
        latest[k + 1] = p.avail_to[v]
        for j in range(k, 0, -1):
            st = self.stops[j - 1]
            latest[j] = min(
                int(p.tw_late[st]), int(latest[j + 1]) - int(self.leg_t[j]) - int(p.service[st])
            )
        self.latest = latest
        self.load = int(p.demand[s].sum()) if k else 0


def repair_insert(
    problem: RoutingProblem,
    routes: list[list[int]],
    deadline: float,
    neighbours: int = 40,
) -> tuple[list[list[int]], bool]:
    """Insert unserved stops where feasible and cheapest; returns new routes (input untouched)
    and whether every unserved stop was tried (False: the wall-clock ``deadline`` came first)."""
    p = problem
    out = [list(r) for r in routes]
    served = np.zeros(p.num_stops, dtype=bool)
    owner = np.full(p.num_stops, -1, dtype=np.int64)
    for v, r in enumerate(out):
        served[r] = True
        owner[r] = v
    todo = np.flatnonzero(~served)
    if todo.size == 0 or p.num_vehicles == 0 or not isinstance(p.travel, PlanarTravel):
        return out, True
    order = sorted(todo.tolist(), key=lambda s: (-int(p.penalty[s]), s))
    xy = p.travel.xy
    stop_xy = xy[p.stop_location]
    served_idx: IntArray = np.flatnonzero(served).astype(np.int64)
    tree = cKDTree(stop_xy[served_idx]) if served_idx.size else None
    depot_tree = cKDTree(xy[p.vehicle_start])
    cache: dict[int, _Route] = {}

    def route(v: int) -> _Route:
        if v not in cache:
            cache[v] = _Route(p, v, out[v])
        return cache[v]

    for u in order:
        if time.time() > deadline:
            return out, False
        cands: set[int] = set()
        if tree is not None:
            k = min(neighbours, served_idx.size)
            _, nb = tree.query(stop_xy[u], k=k)
            cands.update(int(owner[served_idx[j]]) for j in np.atleast_1d(nb))
        _, dn = depot_tree.query(stop_xy[u], k=min(8, p.num_vehicles))
        cands.update(int(j) for j in np.atleast_1d(dn))
        best: tuple[int, int, int] | None = None
        loc_u = np.array([p.stop_location[u]], dtype=np.int64)
        for v in sorted(cands):
            if v < 0:
                continue
            rt = route(v)
            if len(rt.stops) + 1 > int(p.max_stops[v]):
                continue
            if rt.load + int(p.demand[u]) > int(p.capacity[v]):
                continue
            d_in, t_in = p.travel.cross(rt.locs, loc_u)
            d_out, t_out = p.travel.cross(loc_u, rt.locs)
            d_in, t_in, d_out, t_out = d_in[:, 0], t_in[:, 0], d_out[0], t_out[0]
            svc, e, late = int(p.service[u]), int(p.tw_early[u]), int(p.tw_late[u])
            for j in range(len(rt.stops) + 1):  # insert between node j and j + 1
                b = max(int(rt.end[j]) + int(t_in[j]), e)
                if b > late or b + svc + int(t_out[j + 1]) > int(rt.latest[j + 1]):
                    continue
                cost = int(d_in[j]) + int(d_out[j + 1]) - int(rt.leg_d[j])
                if best is None or cost < best[0]:
                    best = (cost, v, j)
        if best is None:
            continue
        _, v, j = best
        out[v].insert(j, u)
        owner[u] = v
        cache[v].stops = out[v]
        cache[v].refresh()
    return out, True
