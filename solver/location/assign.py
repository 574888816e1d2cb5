"""Assignment for a fixed set of open sites: transportation relaxation + single-source repair.

With the open sites fixed, the relaxation that lets a client's demand split over sites is a
min-cost flow (clients → sites → sink, plus a client → sink arc at the unserved cost per
unit). OR-Tools ``SimpleMinCostFlow`` solves it from numpy arrays. A basic optimal flow
splits at most (open sites − 1) clients; those are re-assigned whole, cheapest site with
room first. The table limit is met by capping the sites whose last table is least used one
table lower and re-solving, then by :func:`trim_tables` (move clients into the unused room of
other sites' tables to free whole tables); clients are left unserved only if that fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from solver.location.model import BIG_UNITS, Instance, expand_ranges, units_of

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]


def assign_flow(inst: Instance, open_mask: B, site_cap: I64) -> I32 | None:
    """Single-source assignment to ``open_mask`` sites within ``site_cap``; None if none found."""
    res = _flow(inst, open_mask, site_cap, repair=True)
    return None if res is None else res[0]


def flow_cost(inst: Instance, open_mask: B, site_cap: I64) -> float:
    """Cost of the transportation relaxation (demand may split) for fixed open sites."""
    res = _flow(inst, open_mask, site_cap, repair=False)
    return math.inf if res is None else res[1]


@dataclass(frozen=True)
class _FlowSolution:
    """Optimal transportation flow on the open sites' arcs (demand > 0), sorted by client."""

    cli: I64
    site: I64
    unit_cost: F64  # arc cost per unit of demand
    unit_unserved: F64  # [n] unserved cost per unit of demand (0 where infinite)
    f_arc: I64
    f_unserved: I64
    cost: float


def _solve_flow(inst: Instance, open_mask: B, site_cap: I64) -> _FlowSolution | None:
    """Min-cost flow clients → open sites → sink (+ client → sink at the unserved cost)."""
    n, m = inst.n, inst.m
    d = inst.demand
    on = open_mask[inst.site]
    fin = np.isfinite(inst.unserved)
    has = np.bincount(inst.cli[on], minlength=n) > 0
    if np.any(~has & ~fin):
        return None
    a = np.flatnonzero(on & (d[inst.cli] > 0))  # zero-demand clients are placed in the repair
    cli, site = inst.cli[a].astype(np.int64), inst.site[a].astype(np.int64)
    unit_c = inst.cost[a] / d[cli]
    unit_u = np.where(fin, inst.unserved / np.maximum(d, 1), 0.0)
    maxc = max(float(unit_c.max(initial=0.0)), float(unit_u.max(initial=0.0)), 1e-9)
    total = float(max(int(d.sum()), 1))
    scale = min(1e9 / maxc, 9e16 / (total * maxc * 20.0))
    big = int(maxc * scale * 10.0) + 1
    smcf = min_cost_flow.SimpleMinCostFlow()
    sink = n + m
    tails = np.concatenate([cli, np.arange(n, n + m), np.arange(n)])
    heads = np.concatenate([n + site, np.full(m, sink), np.full(n, sink)])
    caps = np.concatenate([d[cli], np.where(open_mask, site_cap, 0), d])
    costs = np.concatenate(
        [
            np.rint(unit_c * scale).astype(np.int64),
            np.zeros(m, dtype=np.int64),
            np.where(fin, np.rint(unit_u * scale), big).astype(np.int64),
        ]
    )
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(n + m + 1, dtype=np.int64)
    supplies[:n] = d
    supplies[sink] = -int(d.sum())
    smcf.set_nodes_supplies(np.arange(n + m + 1), supplies)
    if smcf.solve() != smcf.OPTIMAL:
        return None
    flows = smcf.flows(np.arange(tails.shape[0]))
    f_arc = flows[: a.shape[0]]
    f_uns = flows[a.shape[0] + m :]
    if np.any((f_uns > 0) & ~fin):
        return None  # not even the splittable relaxation fits
    cost = float((f_arc * unit_c).sum() + (f_uns * unit_u).sum())
    return _FlowSolution(cli, site, unit_c, unit_u, f_arc, f_uns, cost)


def flow_prices(inst: Instance, open_mask: B, site_cap: I64) -> tuple[float, F64] | None:
    """Transportation cost of the open sites and optimal capacity prices π ≥ 0 (per unit).

    The dual of the transportation problem is max Σ_i d_i v_i − Σ_j Q_j π_j with
    v_i ≤ c_ij / d_i + π_j and v_i ≤ u_i / d_i. For an optimal flow, complementary slackness
    makes π_j − π_k ≤ c_ik/d_i − c_ij/d_i for every client i sending flow to j, and π = 0 on
    sites with room; the largest such π is the shortest-path distance from j to the sites
    with room (and the unserved option), which Floyd–Warshall gives on the few open sites.
    Any π ≥ 0 gives a valid lower bound (``location_search.SwapBounds``); optimal π a tight
    one. Floyd–Warshall is cubic in the open sites: meant for the small instances' site
    search. Returns None if the site set is infeasible for the relaxation.
    """
    sol = _solve_flow(inst, open_mask, site_cap)
    if sol is None:
        return None
    fin = np.isfinite(inst.unserved)
    opened = np.flatnonzero(open_mask)
    q = opened.shape[0]
    node = np.full(inst.m, -1, dtype=np.int64)
    node[opened] = np.arange(q)
    z = q  # the "room" node: potential 0 (sites with room, the unserved option)
    w = np.full((q + 1, q + 1), np.inf)
    np.fill_diagonal(w, 0.0)
    load = np.bincount(sol.site, weights=sol.f_arc, minlength=inst.m)
    room = opened[load[opened] < site_cap[opened]]
    w[node[room], z] = 0.0
    w[z, node[room]] = 0.0
    # every flowing arc (i, j) against every other open arc (i, k) of the same client
    flowing = np.flatnonzero(sol.f_arc > 0)
    lo = np.searchsorted(sol.cli, sol.cli[flowing], side="left")
    hi = np.searchsorted(sol.cli, sol.cli[flowing], side="right")
    rep = np.repeat(flowing, hi - lo)
    other = expand_ranges(lo, hi - lo)
    np.minimum.at(
        w,
        (node[sol.site[rep]], node[sol.site[other]]),
        sol.unit_cost[other] - sol.unit_cost[rep],
    )
    u = sol.unit_unserved
    fcli = sol.cli[flowing]
    ok = fin[fcli]
    np.minimum.at(w[:, z], node[sol.site[flowing[ok]]], u[fcli[ok]] - sol.unit_cost[flowing[ok]])
    # clients (partly) unserved: u_i ≤ c_ik/d_i + π_k, i.e. π_z − π_k ≤ c_ik/d_i − u_i
    ua = np.flatnonzero(sol.f_unserved[sol.cli] > 0)
    np.minimum.at(w[z], node[sol.site[ua]], sol.unit_cost[ua] - u[sol.cli[ua]])
    for k in range(q + 1):
        w = np.minimum(w, w[:, k : k + 1] + w[k : k + 1, :])
    pi = np.zeros(inst.m)
    dist = w[:q, z].copy()
    # Full sites with no path to a site with room (all full, nothing may stay unserved) only
    # send flow among themselves: their prices are fixed up to a common shift, which leaves
    # the dual objective unchanged (they are full). Take the shortest distance to any of
    # them (≤ 0), shift the least to 0, then raise them all as far as the other sites'
    # clients need (π_k ≥ π_j − D_jk: a client at j must not find k cheaper than j).
    stuck = ~np.isfinite(dist)
    dist = np.maximum(dist, 0.0)  # a tiny negative value can come from rounding
    if np.any(stuck):
        rel = w[:q, :q][stuck][:, stuck].min(axis=1)
        base = rel - rel.min()
        shift = 0.0
        if np.any(~stuck):
            need = dist[~stuck][:, None] - w[:q, :q][~stuck][:, stuck] - base[None, :]
            need = need[np.isfinite(need)]
            shift = max(0.0, float(need.max(initial=0.0)))
        dist[stuck] = base + shift
    # any π ≥ 0 keeps the bound valid
    pi[opened] = dist
    return sol.cost, pi


def _flow(inst: Instance, open_mask: B, site_cap: I64, *, repair: bool) -> tuple[I32, float] | None:
    """Min-cost flow; with ``repair`` also round to a single-source assignment."""
    sol = _solve_flow(inst, open_mask, site_cap)
    if sol is None:
        return None
    n, m = inst.n, inst.m
    d = inst.demand
    fin = np.isfinite(inst.unserved)
    cli, site, f_arc, f_uns, cost = sol.cli, sol.site, sol.f_arc, sol.f_unserved, sol.cost
    if not repair:
        return np.zeros(0, dtype=np.int32), cost
    assign = np.full(n, -1, dtype=np.int32)
    whole = f_arc == d[cli]
    assign[cli[whole]] = site[whole]
    whole_clients = np.zeros(n, dtype=np.bool_)
    whole_clients[cli[whole]] = True
    done = whole_clients | ((f_uns == d) & fin)
    load = np.bincount(assign[assign >= 0], weights=d[assign >= 0], minlength=m).astype(np.int64)
    resid = np.where(open_mask, site_cap, 0) - load
    todo = np.flatnonzero(~done)
    if todo.shape[0] == 0:
        return assign, cost
    # Repair split clients, largest first: cheapest open site with room, else unserved,
    # else move one client out of a cheap site to make room.
    todo = todo[np.argsort(-d[todo], kind="stable")]
    for i in todo:
        lo, hi = int(inst.ptr[i]), int(inst.ptr[i + 1])
        ss = inst.site[lo:hi]
        ok = open_mask[ss] & (resid[ss] >= d[i])
        if np.any(ok):
            j = int(ss[np.argmax(ok)])
        elif fin[i]:
            continue
        else:
            j = _make_room(inst, int(i), assign, open_mask, resid)
            if j < 0:
                return None
        assign[i] = j
        resid[j] -= d[i]
    return assign, cost


def _make_room(inst: Instance, i: int, assign: I32, open_mask: B, resid: I64) -> int:
    """Move one client away from one of i's open sites so that i fits; return that site."""
    d = inst.demand
    lo, hi = int(inst.ptr[i]), int(inst.ptr[i + 1])
    best: tuple[float, int, int, int] | None = None
    for j in inst.site[lo:hi]:
        if not open_mask[j]:
            continue
        need = d[i] - resid[j]
        for c in np.flatnonzero((assign == j) & (d >= need)):
            clo, chi = int(inst.ptr[c]), int(inst.ptr[c + 1])
            ss = inst.site[clo:chi]
            ok = open_mask[ss] & (ss != j) & (resid[ss] >= d[c])
            if np.any(ok):
                k = int(np.argmax(ok))
                delta = float(inst.cost[clo + k])
                if best is None or delta < best[0]:
                    best = (delta, int(c), int(ss[k]), int(j))
    if best is None:
        return -1
    _, moved, k2, j2 = best
    assign[moved] = k2
    resid[k2] -= d[moved]
    resid[j2] += d[moved]
    return j2


def fit_tables(inst: Instance, open_mask: B, assign: I32, rounds: int = 12) -> I32 | None:
    """Re-assign until Σ ceil(load/U) ≤ T, lowering the caps of sites with emptiest last tables."""
    if inst.unit <= 0 or inst.units_total >= BIG_UNITS:
        return assign
    d = inst.demand
    cap = inst.cap.copy()
    cur = assign
    for _ in range(rounds):
        served = cur >= 0
        load = np.bincount(cur[served], weights=d[served], minlength=inst.m).astype(np.int64)
        units = units_of(inst, load, open_mask)
        over = int(units.sum()) - inst.units_total
        if over <= 0:
            return cur
        last = np.where(units > 0, load - inst.unit * (units - 1), np.iinfo(np.int64).max)
        cut = np.argsort(last, kind="stable")[: over + max(1, over // 4)]
        cap = np.minimum(cap, inst.unit * units)
        cap[cut] = inst.unit * (units[cut] - 1)
        nxt = assign_flow(inst, open_mask, cap)
        if nxt is None:
            break
        cur = nxt
    cur = trim_tables(inst, open_mask, cur)
    # Last resort (unserved allowed): leave the cheapest-to-drop clients of the emptiest tables.
    served = cur >= 0
    load = np.bincount(cur[served], weights=d[served], minlength=inst.m).astype(np.int64)
    if int(units_of(inst, load, open_mask).sum()) <= inst.units_total:
        return cur
    if not np.all(np.isfinite(inst.unserved)):
        return None
    cur = cur.copy()
    while True:
        served = cur >= 0
        load = np.bincount(cur[served], weights=d[served], minlength=inst.m).astype(np.int64)
        units = units_of(inst, load, open_mask)
        if int(units.sum()) <= inst.units_total:
            return cur
        last = np.where(units > 0, load - inst.unit * (units - 1), np.iinfo(np.int64).max)
        j = int(np.argmin(last))
        members = np.flatnonzero(cur == j)
        while load[j] > inst.unit * (units[j] - 1) and members.shape[0]:
            c = members[np.argmin(inst.unserved[members])]
            cur[c] = -1
            load[j] -= d[c]
            members = members[members != c]


def trim_tables(inst: Instance, open_mask: B, assign: I32) -> I32:
    """Free whole tables by moving clients into the unused room of other sites' tables.

    Sites are tried by ascending load of their last table: its clients (cheapest extra cost per
    resident first) move to open sites where they fit without opening a table; the move is kept
    only if the site's last table empties. Also re-seats unserved clients into free table room.
    Stops when the table limit holds or no site can be trimmed.
    """
    if inst.unit <= 0 or inst.units_total >= BIG_UNITS:
        return assign
    d = inst.demand
    u = inst.unit
    cur = assign.copy()
    served = cur >= 0
    load = np.bincount(cur[served], weights=d[served], minlength=inst.m).astype(np.int64)
    units = units_of(inst, load, open_mask)
    room = np.where(open_mask, np.minimum(inst.cap, u * units) - load, 0)
    arc = np.full(inst.n, -1, dtype=np.int64)
    arc[served] = inst.arc_index(np.flatnonzero(served), cur[served])
    cc = inst.unserved.copy()
    cc[served] = inst.cost[arc[served]]
    order = np.argsort(cur, kind="stable")
    sptr = np.searchsorted(cur[order], np.arange(inst.m + 1))
    members: dict[int, list[int]] = {
        int(j): [int(c) for c in order[sptr[j] : sptr[j + 1]]] for j in np.flatnonzero(units > 0)
    }
    over = int(units.sum()) - inst.units_total
    tried = np.zeros(inst.m, dtype=np.bool_)
    while over > 0:
        last = np.where((units > 0) & ~tried, load - u * (units - 1), np.iinfo(np.int64).max)
        j = int(np.argmin(last))
        if last[j] == np.iinfo(np.int64).max:
            break
        tried[j] = True
        need = int(last[j])
        # best relocation of each member: open site with room, no new table
        opts: list[tuple[float, int, int, float]] = []
        for c in members.get(j, []):
            lo, hi = int(inst.ptr[c]), int(inst.ptr[c + 1])
            ss = inst.site[lo:hi]
            ok = open_mask[ss] & (ss != j) & (room[ss] >= d[c])
            if np.any(ok):
                t = int(np.argmax(ok))
                delta = float(inst.cost[lo + t]) - float(cc[c])
                opts.append((delta / max(int(d[c]), 1), int(c), lo, delta))
        opts.sort()
        moves: list[tuple[int, int, int]] = []  # client, from arc-index-base, to site
        moved = 0
        for _, c, lo, _ in opts:
            if moved >= need:
                break
            hi = int(inst.ptr[c + 1])
            ss = inst.site[lo:hi]
            ok = open_mask[ss] & (ss != j) & (room[ss] >= d[c])
            if not np.any(ok):
                continue
            t = int(np.argmax(ok))
            k = int(ss[t])
            room[k] -= d[c]
            moves.append((c, lo + t, k))
            moved += int(d[c])
        if moved < need:
            for c, _, k in moves:
                room[k] += d[c]
            continue
        for c, a, k in moves:
            cur[c] = k
            cc[c] = inst.cost[a]
            load[j] -= d[c]
            load[k] += d[c]
            members[j].remove(c)
            members.setdefault(k, []).append(c)
        units[j] -= 1
        room[j] = int(min(inst.cap[j], u * units[j]) - load[j]) if units[j] > 0 else 0
        over -= 1
        tried[:] = False
    return cur
