"""Regional fix-and-optimise for large, local location problems (districts).

A district's buildings only reach the sampling points within walking distance, so the arc
graph is local. The whole-problem engine (:mod:`solver.location.engine`) spends a fixed work
budget on construction, the bound and a few neighbourhoods around single sites; on a large
district its plan stops improving long before the budget ends (the generated 1M district:
the same plan within 0.1 % at 22.5, 30 and 150 work units). This module

1. **partitions** the sites into regions by recursive bisection of the site graph (two
   sites are adjacent when a client reaches both; the edge weight is that client's walk to
   both per resident). Each cut follows the level sets of the graph distance from a
   pseudo-peripheral site, so regions are compact bands and few arcs cross their borders. A
   client belongs to the region of its cheapest site. No coordinates are needed, so street
   distances work as well as straight lines; a dense instance (clients reach sites across
   the whole instance, like the capacitated p-median benchmarks on all arcs) shows itself
   by its share of arcs crossing the borders of regions of :data:`LOCAL_ARCS` arcs and is
   left whole;
2. lets the engine plan the **whole problem** with a share of the work that grows with the
   arcs (:func:`engine_work`): its plan, and its Lagrangian bound, which is valid for the
   whole problem and stays the bound (region bounds do not add up when regions share arcs);
3. improves the plan by **fix-and-optimise** over the regions, alternating the partition
   and an offset one whose borders run through the middle of its regions, and cycling
   through region sizes (:data:`SCALES` × :func:`region_arcs`: small regions where the
   engine had little work per arc, so its plan is rough and small neighbourhoods still pay,
   large ones where its own neighbourhoods have polished it): each region's sites and the
   clients they serve (plus unserved clients whose cheapest site is there) are re-solved by
   the engine from the current plan (``start``), with the rest fixed and the region's limits
   what the fixed part leaves (open sites, tables), with :data:`PASS_WORK_PER_ARC` per arc
   and pass, regions with most walking beyond their clients' cheapest sites first. Each
   region solve's plan is polished on the region alone (grid-aware reallocation and site
   moves, :func:`_polish`, :data:`POLISH_SHARE` of its work) before it is offered. A
   region's new plan is kept only when the whole plan's objective improves, which is
   checked on the region alone (its sites serve only its clients; the open-site and table
   counts and the grid penalty are kept up to date), so a pass over hundreds of regions
   does not evaluate the whole plan after each. A region solved without gain is not solved
   again while it, its part of the plan and its limits stay the same (its work goes to the
   others). Regions have disjoint clients and sites and their limits are the global slack,
   so every kept plan respects every capacity and limit of the whole problem;
4. ends with grid consolidation on the whole instance (grids split across borders), then
   rounds of a grid-aware reallocation for the open sites (:mod:`solver.location.reallocate`)
   and of site moves priced with their reassignment (:mod:`solver.location.reopen`), each
   round to the kind that gained more per unit of work in its last round; the passes leave
   them their work (:func:`~solver.location.reopen.reserve_work`), and they get no more
   than the budget has left;
5. ends with the bound's last steps (:func:`_finish_bound`): subgradient steps with exact
   site knapsacks from the engine's best multipliers, aimed at the final plan, on
   :data:`BOUND_SHARE` of the budget taken out of the passes (none when no pass fits) and
   whatever the final rounds leave. They never change the plan.

Work is counted on the same work clock (:mod:`solver.location.work`) as the engine's, the
wall clock only a hard stop; the same input gives the same plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from solver.location import work
from solver.location.bound import (
    PATIENCE,
    THETA_MIN,
    beyond_exact_dp,
    client_metric,
    exact_steps_until,
)
from solver.location.groups import consolidate_groups, group_members
from solver.location.model import (
    BIG_UNITS,
    Instance,
    build_instance,
    evaluate,
    expand_ranges,
    planned_result,
    units_of,
)
from solver.location.problem import LocationProblem, LocationResult
from solver.location.reopen import improve_on_clock, reserve_work
from solver.location.work import WorkClock

__all__ = [
    "Partition",
    "choose_partition",
    "engine_work",
    "partition",
    "region_arcs",
    "solve_decomposed",
    "sub_problem",
]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]
Progress = Callable[[str, float, float], None]
Solver = Callable[..., LocationResult]

DECOMPOSE_ARCS = 200_000  # decompose only beyond this many arcs (the engine's large path)
LOCAL_ARCS = 25_000  # regions of this many arcs tell whether an instance is local …
MAX_CUT_SHARE = 0.5  # … at most this share of their arcs crosses region borders
PARTITION_ARC_PASSES = 20  # estimated cost of a partition, in passes over the arcs …
# … of a further one of the same site graph, in passes over its edges per level of bisection
# (5M district: the site graph takes 0.65-0.88 s, cutting it into 231 regions 0.09 s)
BISECT_EDGE_PASSES = 2
# Work of the whole-problem engine's plan and bound: its construction (bound, p-median) makes
# passes over all arcs and is run to its end on whole districts, so it gets ENGINE_PER_ARC
# per arc; its neighbourhoods (a few sites each) after it get ENGINE_SEARCH_SHARE of the
# budget; at most ENGINE_MAX_SHARE in all (the regions get the rest). Measured constructions
# (work units): the 1M districts 4.5 (229k and 263k arcs, 2.0e-5 per arc), the 5M ones 15.6
# (1.15M arcs, 1.4e-5). Beyond the construction, regions gain more per unit than the engine's
# own neighbourhoods at 1M: gap without grids, seeds 0 / 1, by the engine's share of 30
# units: 0.6 (the former floor) 3.313 / 2.815 %, 0.5 3.272 / 2.724, 0.4 2.885 / 2.701,
# 0.3 3.024 / 2.565, 0.2 (the construction and 2.5 units of neighbourhoods) 3.079 / 2.694.
# The 5M districts' construction needs 16 units, so they stay at the cap (their regions
# gained 3.3 M per unit beside 0.2 M for the engine's neighbourhoods; seeds 0 / 1 at 0.7:
# 6.1 / 10.3 %, 0.65: 5.5 / 9.6 %, 0.62: 5.3 / 9.8 % before the p-median ran to its end).
ENGINE_PER_ARC = 2e-5
ENGINE_SEARCH_SHARE = 0.2
ENGINE_MAX_SHARE = 0.65
# Region size: the more work per arc the engine had, the more its own neighbourhoods (a few
# sites each) have polished the plan, and the larger the regions must be to find more. On
# the 1M districts (engine 6.6-7.6e-5 units per arc) regions of 25k arcs beat 5k (gap without
# grids, seed 0 / 1: 4.9 / 3.5 % against 5.3 / 4.6 %); on the 5M ones (1.2-1.4e-5 per arc, a
# plan straight from the construction) regions of 5k arcs gained 3.3 M per unit, of 10k
# 3.4 M, of 2.5k 2.3 M and of 25k 0.4 M (seed 1, the same work per arc).
REGION_ARCS_PER_WORK = 4e8  # region arcs per unit of the engine's work per arc …
MIN_REGION_ARCS = 5_000  # … within these
MAX_REGION_ARCS = 25_000
# Work of a fix-and-optimise pass per arc of the instance, shared among its regions by their
# arcs: the 1M districts' passes had 3 units (1.1-1.3e-5 per arc) and gain less with 1e-5;
# on the 5M districts what the engine leaves (about 11 units) is less than one pass, which
# gives regions of 5k arcs about 0.05 units (0.05, 0.1 and 0.2 gained about as much per unit).
PASS_WORK_PER_ARC = 1.3e-5
# Region sizes (× :func:`region_arcs`) the passes cycle through, each as the offset
# partition, then the plain one: once a pass at one size finds nothing more, regions of
# another size cut the plan along other borders and give the sub-solves other neighbourhoods.
SCALES = (1.0, 0.5, 2.0)
# Share of the budget for the bound's last steps (:func:`_finish_bound`), taken out of the
# region passes only: on the generated 1M districts 60 more units of passes and final rounds
# gained 0.2 M (seed 0: 121.45 → 121.23 M at 90 units), where 1 / 2 / 4 units of these steps
# (resumed at the engine's θ) raised the bound by 0.09 / 0.13 / 0.18 M (seed 1: 0.04 / 0.06 /
# 0.08 M). Gap without grids, seeds 0 / 1, by share: 0.05 2.425 / 2.276 %, 0.1 2.385 / 2.254,
# 0.15 2.355 / 2.259 (a plan 0.1 % dearer). Districts whose work cannot pay a region pass
# keep all of it for the final rounds (the 5M ones gain 7 M per unit of them when their
# budget ends; 3 units of these steps raised 5M seed 1's bound by 0.9 M).
BOUND_SHARE = 0.1
# Share of a region solve's work for polishing its plan (:func:`_polish`) on top of it: the
# engine's region plans mostly lose to the incumbent as they are (the 1M districts: 6 of 28
# kept, seed 0) and win once polished (24 of 26). Gap without grids, seeds 0 / 1, with
# BOUND_SHARE 0.1: no polishing 2.420 / 2.314 %, 0.1 2.448 / 2.300, 0.3 2.385 / 2.254,
# 1.0 2.385 / 2.283.
POLISH_SHARE = 0.3
PREPROCESS_ARC_PASSES = 10  # a region's instance built for its polishing (as the engine's)
# The last steps' subgradient (as the engine's district refinement): deflected (γ), θ halved
# after BOUND_PATIENCE steps without a better bound, at most MAX_BOUND_STEPS steps. Their
# Polyak target is the final plan, far below the engine's; when their work holds at least
# RESTART_MIN_STEPS steps (θ can halve twice on the way) θ restarts at least at
# RESTART_THETA, as the engine's refinement does when it resumes with its incumbent as the
# target; fewer steps resume at the engine's θ. 3 units of steps (about 130) on the 1M
# districts (seeds 0 / 1, θ left by the engine 0.031 / 0.008): resumed 115.190 / 110.047 M;
# restarted at 0.1 115.208 / 110.084, 0.2 115.224 / 110.081, 0.5 115.242 / 110.093, 1.0
# 115.220 / 110.104 M; patience 50 instead of 20 (θ 0.5) 115.098 / 110.045 M. The 5M seed 0
# district's 6 steps on what its final rounds leave: resumed 558.27 M, restarted at 0.25
# 557.75 M (no better step).
BOUND_DEFLECTION = 1.0
BOUND_PATIENCE = PATIENCE
RESTART_THETA = 0.25
RESTART_MIN_STEPS = 3 * PATIENCE
MAX_BOUND_STEPS = 600


@dataclass(frozen=True)
class Partition:
    """Regions of a location instance: every site and every client in exactly one region.

    ``client_region`` is −1 for clients without arcs (they can only stay unserved).
    """

    site_region: I64
    client_region: I64
    count: int
    cut_arcs: int  # arcs whose client and site lie in different regions
    graph: csr_matrix | None = None  # the site graph it was cut from (for further partitions)


def _site_graph(inst: Instance) -> csr_matrix:
    """Sites adjacent when a client reaches both; weight: that client's walk to both per
    resident (the cheapest such client). Every client links its cheapest site to its others."""
    has = inst.ptr[1:] > inst.ptr[:-1]
    home = np.full(inst.n, -1, dtype=np.int64)
    home[has] = inst.site[inst.ptr[:-1][has]]
    cli = inst.cli.astype(np.int64)
    other = inst.site.astype(np.int64)
    h = home[cli]
    keep = other != h
    per = np.maximum(inst.demand[cli], 1).astype(np.float64)
    w = (inst.cost + inst.cost[inst.ptr[cli]]) / per
    u, v, w = h[keep], other[keep], w[keep]
    u, v = np.r_[u, v], np.r_[v, u]
    w = np.r_[w, w] + 1e-9  # a zero weight would be read as "no edge"
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])] if u.shape[0] else np.zeros(0, bool)
    return coo_matrix((w[first], (u[first], v[first])), shape=(inst.m, inst.m)).tocsr()


def _bisect(graph: csr_matrix, verts: I64, weight: F64, sizes: list[float]) -> list[I64]:
    """Split ``verts`` into ``len(sizes)`` parts of weights proportional to ``sizes``.

    Each cut orders the vertices by graph distance from a pseudo-peripheral vertex (the
    farthest from the farthest from the first vertex: two sweeps) and splits the order where
    the weight reaches the left half's share, so parts are compact bands; the halves are
    split again. Unreachable vertices (other components) come last, in index order.
    """
    if len(sizes) == 1 or verts.shape[0] <= 1:
        return [verts] + [np.zeros(0, dtype=np.int64)] * (len(sizes) - 1)
    sub = graph[verts][:, verts]
    start = 0
    for _ in range(2):
        dist = dijkstra(sub, directed=False, indices=start)
        reach = np.isfinite(dist)
        start = int(np.flatnonzero(reach)[np.argmax(dist[reach])])
    dist = dijkstra(sub, directed=False, indices=start)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    order = np.lexsort((np.arange(verts.shape[0]), dist))
    half = len(sizes) // 2
    share = sum(sizes[:half]) / sum(sizes)
    cum = np.cumsum(weight[verts[order]])
    total = float(cum[-1]) if cum.shape[0] else 0.0
    if total <= 0:
        cut = round(share * verts.shape[0])
    else:
        cut = int(np.searchsorted(cum, share * total, side="left")) + 1
    cut = min(max(cut, 1), verts.shape[0] - 1)
    left, right = verts[np.sort(order[:cut])], verts[np.sort(order[cut:])]
    return _bisect(graph, left, weight, sizes[:half]) + _bisect(graph, right, weight, sizes[half:])


def partition(
    inst: Instance, regions: int, *, offset: bool = False, graph: csr_matrix | None = None
) -> Partition:
    """Partition ``inst`` into ``regions`` regions of about equal arc counts.

    With ``offset`` the regions at both ends of every cut sequence are half the size (one
    region more): its borders run through the middle of the plain partition's regions, so
    fix-and-optimise on it repairs the plain partition's borders.
    """
    has = inst.ptr[1:] > inst.ptr[:-1]
    home = np.full(inst.n, -1, dtype=np.int64)
    home[has] = inst.site[inst.ptr[:-1][has]]
    degree = (inst.ptr[1:] - inst.ptr[:-1]).astype(np.float64)
    weight = np.bincount(home[has], weights=degree[has], minlength=inst.m).astype(np.float64)
    sizes = [1.0] * regions
    if offset and regions >= 2:
        sizes = [0.5] + [1.0] * (regions - 1) + [0.5]
    graph = _site_graph(inst) if graph is None else graph
    parts = _bisect(graph, np.arange(inst.m, dtype=np.int64), weight, sizes)
    parts = [p for p in parts if p.shape[0]]
    site_region = np.zeros(inst.m, dtype=np.int64)
    for r, p in enumerate(parts):
        site_region[p] = r
    client_region = np.where(home >= 0, site_region[np.maximum(home, 0)], -1)
    cut = int(np.count_nonzero(site_region[inst.site] != client_region[inst.cli]))
    return Partition(site_region, client_region, len(parts), cut, graph)


@dataclass(frozen=True)
class _Sub:
    """A sub-problem and where its clients and sites sit in the whole problem."""

    problem: LocationProblem
    clients: I64
    sites: I64


def sub_problem(
    problem: LocationProblem,
    inst: Instance,
    clients: I64,
    sites: I64,
    max_open: int | None,
    min_open: int,
    units: int | None,
) -> _Sub:
    """The problem restricted to ``clients``, ``sites`` and the arcs between them, with
    ``max_open`` sites (exactly that many when ``min_open`` equals it) and ``units`` tables."""
    in_c = np.zeros(inst.n, dtype=np.bool_)
    in_c[clients] = True
    in_s = np.zeros(inst.m, dtype=np.bool_)
    in_s[sites] = True
    a = np.flatnonzero(in_c[inst.cli] & in_s[inst.site])
    c_new = np.full(inst.n, -1, dtype=np.int64)
    c_new[clients] = np.arange(clients.shape[0])
    s_new = np.full(inst.m, -1, dtype=np.int64)
    s_new[sites] = np.arange(sites.shape[0])
    status = np.asarray(problem.site_status)[sites]
    exact = max_open is not None and min_open >= max_open
    sub = LocationProblem(
        demand=np.asarray(problem.demand)[clients],
        capacity=np.asarray(problem.capacity)[sites],
        arc_client=c_new[inst.cli[a]].astype(np.int32),
        arc_site=s_new[inst.site[a]].astype(np.int32),
        arc_cost=inst.cost[a],
        site_status=status,
        max_open=max_open,
        exact_open=exact,
        unserved_cost=None if problem.unserved_cost is None else inst.unserved[clients],
        unit_capacity=problem.unit_capacity,
        max_units_total=units,
        group=None if problem.group is None else np.asarray(problem.group)[clients],
        group_split_penalty=problem.group_split_penalty,
    )
    return _Sub(sub, clients, sites)


@dataclass
class _Whole:
    """The whole problem's incumbent while regions are solved and repaired, with what a
    region's limits and a region plan's objective need: load and tables per site, the
    open-site count and each client's cost (walk, or unserved cost), kept up to date as
    region plans are taken over (:meth:`offer_region`)."""

    inst: Instance
    clock: WorkClock
    assign: I64
    open_mask: B
    objective: float = math.inf
    load: I64 = field(init=False)
    units: I64 = field(init=False)
    n_open: int = field(init=False)
    paid: F64 = field(init=False)
    members: tuple[I64, I64] | None = field(init=False)  # grid members: order, pointers
    solves: int = field(default=0, init=False)  # region sub-solves run

    def __post_init__(self) -> None:
        inst = self.inst
        self.members = None
        if inst.group is not None and inst.n_groups > 0 and inst.lam > 0:
            self.members = group_members(inst)
        self._track()

    def _track(self) -> None:
        """Load, tables, open count and client costs of the incumbent (one evaluation)."""
        self.clock.charge(work.EVALUATE_PER_ITEM * self.inst.n, "decompose")
        ev = evaluate(self.inst, self.assign.astype(np.int32), self.open_mask)
        self.load, self.units, self.n_open = ev.load.copy(), ev.units.copy(), ev.n_open
        self.paid = _client_costs(self.inst, np.arange(self.inst.n), self.assign)

    def offer(self, assign: I64, open_mask: B) -> bool:
        """Keep the whole plan if it is feasible and better (one evaluation)."""
        self.clock.charge(work.EVALUATE_PER_ITEM * self.inst.n, "decompose")
        ev = evaluate(self.inst, assign.astype(np.int32), open_mask)
        if ev.feasible and ev.objective < self.objective - 1e-9 * max(1.0, abs(self.objective)):
            self.assign, self.open_mask, self.objective = (
                assign.copy(),
                open_mask.copy(),
                ev.objective,
            )
            self._track()
            return True
        return False

    def offer_region(self, clients: I64, sites: I64, site_of: I32 | I64, opened: B) -> bool:
        """Keep a region's new plan (``site_of``: index into ``sites`` per client of
        ``clients``, −1 unserved; ``opened``: per site) if the whole plan stays feasible and
        improves. Checked on the region alone: its sites serve only its clients, so their
        loads are the region's, and the open-site and table counts are the whole plan's
        with the region's part replaced; the grid penalty is recounted over every member of
        the grids the region's clients belong to. Falls back to a whole evaluation when some
        site of the region serves a client outside it."""
        inst = self.inst
        old = self.assign[clients]
        new = np.where(site_of >= 0, sites[np.maximum(site_of, 0)], -1).astype(np.int64)
        assign = self.assign.copy()
        assign[clients] = new
        open_mask = self.open_mask.copy()
        open_mask[sites] = opened
        pos = np.full(inst.m, -1, dtype=np.int64)
        pos[sites] = np.arange(sites.shape[0])
        was = old >= 0
        before = np.bincount(
            pos[old[was]], weights=inst.demand[clients[was]], minlength=sites.shape[0]
        )
        if np.any(pos[old[was]] < 0) or not np.array_equal(
            before.astype(np.int64), self.load[sites]
        ):
            return self.offer(assign, open_mask)  # the region does not own its sites' loads
        self.clock.charge(work.EVALUATE_PER_ITEM * (clients.shape[0] + sites.shape[0]), "decompose")
        served = new >= 0
        load = np.bincount(
            site_of[served], weights=inst.demand[clients[served]], minlength=sites.shape[0]
        ).astype(np.int64)
        units = units_of(inst, load, opened)
        n_open = self.n_open - int(np.count_nonzero(self.open_mask[sites])) + int(opened.sum())
        ok = (
            bool(np.all(inst.arc_index(clients[served], new[served]) >= 0))
            and bool(np.all(opened[site_of[served]]))
            and not np.any(opened & ~inst.usable[sites])
            and not np.any(inst.required[sites] & ~opened)
            and not np.any(load > inst.cap[sites])
            and inst.p_min <= n_open <= inst.p_max
            and int(self.units.sum() - self.units[sites].sum() + units.sum()) <= inst.units_total
            and bool(np.all(np.isfinite(inst.unserved[clients[~served]])))
        )
        if not ok:
            return False
        paid = _client_costs(inst, clients, new)
        delta = float(paid.sum() - self.paid[clients].sum())
        if self.members is not None and inst.group is not None:
            order, ptr = self.members
            groups = np.unique(inst.group[clients]).astype(np.int64)
            mem = order[expand_ranges(ptr[groups], ptr[groups + 1] - ptr[groups])]
            delta += inst.lam * (_splits(inst, mem, assign) - _splits(inst, mem, self.assign))
        objective = self.objective + delta
        if objective >= self.objective - 1e-9 * max(1.0, abs(self.objective)):
            return False
        self.assign, self.open_mask, self.objective = assign, open_mask, objective
        self.load[sites], self.units[sites], self.n_open = load, units, n_open
        self.paid[clients] = paid
        return True


def _client_costs(inst: Instance, clients: I64, assign: I64) -> F64:
    """Each client's cost in a plan: its walk, or its unserved cost (``assign`` per client)."""
    served = assign >= 0
    out = np.asarray(inst.unserved[clients], dtype=np.float64).copy()
    out[served] = inst.cost[inst.arc_index(clients[served], assign[served])]
    return out


def _splits(inst: Instance, members: I64, assign: I64) -> int:
    """Σ over the grids of ``members`` (every member of each) of the sites used beyond one."""
    assert inst.group is not None
    a = assign[members]
    served = a >= 0
    pairs = np.unique(inst.group[members[served]].astype(np.int64) * inst.m + a[served])
    groups = np.unique(pairs // inst.m)
    return int(pairs.shape[0] - groups.shape[0])


def _run(
    whole: _Whole,
    sub: _Sub,
    solver: Solver,
    share: float,
    seed: int,
    start: tuple[I32, B] | None = None,
) -> LocationResult | None:
    """Solve a sub-problem with ``share`` of work (the wall stop as its time limit), from
    the plan ``start`` if given."""
    wall = whole.clock.wall_deadline - time.perf_counter()
    if wall <= 0.05:
        whole.clock.wall_cut()
        return None
    if share <= 0:
        return None
    res = solver(
        sub.problem, time_limit=wall, work_budget=share, seed=seed, decompose=False, start=start
    )
    whole.solves += 1
    whole.clock.charge(float(res.stats.get("work_seconds", share)), "regions")
    if res.stats.get("wall_clock_bound", 0.0):
        whole.clock.wall_cut()
    if res.status not in ("optimal", "feasible"):
        return None
    return res


@dataclass(frozen=True)
class _Region:
    """Region ``r`` of a partition as the incumbent sees it: its sites, the clients it
    re-solves (those its sites serve and unserved ones whose cheapest site is there), its
    limits (what the rest of the plan leaves) and its identity ``key`` with the incumbent's
    part of it (unchanged, a region solved without gain is not solved again)."""

    sites: I64
    clients: I64
    p_hi: int | None
    p_lo: int
    units: int | None
    key: bytes


@dataclass(frozen=True)
class _Members:
    """Sites and clients of every region of a partition against the incumbent (CSR)."""

    sites: I64
    s_ptr: I64
    clients: I64
    c_ptr: I64


def _members(whole: _Whole, part: Partition) -> _Members:
    """Which sites and clients each region holds: a client belongs to the region of its
    site, an unserved one to that of its cheapest site (a pass over the clients)."""
    whole.clock.charge(work.ARC_PASS * (whole.inst.n + whole.inst.m), "decompose")
    a = whole.assign
    owner = np.where(a >= 0, part.site_region[np.maximum(a, 0)], part.client_region)
    by_site = np.argsort(part.site_region, kind="stable").astype(np.int64)
    by_client = np.argsort(owner, kind="stable").astype(np.int64)
    s_ptr = np.searchsorted(part.site_region[by_site], np.arange(part.count + 1))
    c_ptr = np.searchsorted(owner[by_client], np.arange(part.count + 1))
    return _Members(by_site, s_ptr.astype(np.int64), by_client, c_ptr.astype(np.int64))


def _region(whole: _Whole, members: _Members, r: int) -> _Region:
    """Region ``r`` with its limits: what the rest of the incumbent leaves of the open-site
    and table limits."""
    inst = whole.inst
    sites = members.sites[members.s_ptr[r] : members.s_ptr[r + 1]]
    clients = np.sort(members.clients[members.c_ptr[r] : members.c_ptr[r + 1]])
    whole.clock.charge(work.ARC_PASS * (sites.shape[0] + clients.shape[0]), "decompose")
    limited = inst.p_max < int(inst.usable.sum())
    tables = inst.unit > 0 and inst.units_total < BIG_UNITS
    open_in = int(np.count_nonzero(whole.open_mask[sites]))
    p_hi = open_in + inst.p_max - whole.n_open if limited else None
    p_lo = open_in - (whole.n_open - inst.p_min) if limited else 0
    used = int(whole.units.sum())
    units = int(whole.units[sites].sum()) + inst.units_total - used if tables else None
    limits = np.array(
        [-1 if p_hi is None else p_hi, p_lo, -1 if units is None else units], dtype=np.int64
    )
    key = b"|".join(
        [
            limits.tobytes(),
            sites.tobytes(),
            clients.tobytes(),
            whole.assign[clients].tobytes(),
            whole.open_mask[sites].tobytes(),
        ]
    )
    return _Region(sites, clients, p_hi, p_lo, units, key)


def _regions(whole: _Whole, part: Partition) -> list[_Region]:
    """Every region of ``part`` against the current incumbent."""
    members = _members(whole, part)
    return [_region(whole, members, r) for r in range(part.count)]


def _room(whole: _Whole, part: Partition) -> F64:
    """Per region, how far its clients are from their cheapest arcs: the walk beyond each
    served client's cheapest arc, and the unserved cost beyond it for unserved clients with
    an arc (the most walking and unserved cost that re-solving the region could save)."""
    inst = whole.inst
    a = whole.assign
    has = inst.ptr[1:] > inst.ptr[:-1]
    cheapest = np.where(has, inst.cost[np.minimum(inst.ptr[:-1], max(inst.k - 1, 0))], 0.0)
    served = np.flatnonzero(a >= 0)
    now = np.where(has, inst.unserved, 0.0)
    now[served] = inst.cost[inst.arc_index(served, a[served])]
    owner = np.where(a >= 0, part.site_region[np.maximum(a, 0)], part.client_region)
    mine = owner >= 0
    excess = np.where(has, now - cheapest, 0.0)
    return np.bincount(owner[mine], weights=excess[mine], minlength=part.count).astype(np.float64)


def _repair(
    problem: LocationProblem,
    whole: _Whole,
    part: Partition,
    budget: float,
    solver: Solver,
    seed: int,
    solved: set[bytes],
    keep: float = 0.0,
) -> int:
    """Fix-and-optimise over the regions of ``part``: each region's sites and the clients
    they serve (plus unserved clients whose cheapest site is there) re-solved with the rest
    fixed; kept when the whole plan improves. Returns the number of regions improved.

    ``solved`` holds the regions (with their part of the plan and their limits) already
    solved without gain; they are skipped and ``budget`` is shared among the others by arcs.
    No region starts once the clock has only ``keep`` left (the work kept for later steps).
    """
    inst = whole.inst
    arcs_in = np.bincount(part.client_region[inst.cli], minlength=part.count).astype(np.float64)
    members = _members(whole, part)
    gain = _room(whole, part)
    # most room first: a pass whose regions overrun their shares ends on the least promising
    order = np.lexsort((np.arange(part.count), -gain)).tolist()
    todo = [r for r in order if _region(whole, members, r).key not in solved]
    total_arcs = max(float(arcs_in[todo].sum()), 1.0)
    improved = 0
    for r in todo:
        if whole.clock.left() <= keep:
            break
        reg = _region(whole, members, r)
        if reg.clients.shape[0] == 0 or reg.key in solved:
            continue
        sites, clients = reg.sites, reg.clients
        sub = sub_problem(problem, inst, clients, sites, reg.p_hi, max(reg.p_lo, 0), reg.units)
        share = budget * arcs_in[r] / total_arcs
        s_new = np.full(inst.m, -1, dtype=np.int64)
        s_new[sites] = np.arange(sites.shape[0])
        now = whole.assign[clients]
        start = (
            np.where(now >= 0, s_new[np.maximum(now, 0)], -1).astype(np.int32),
            whole.open_mask[sites].copy(),
        )
        res = _run(whole, sub, solver, share, seed + r, start)
        if res is None:
            continue
        got_a, got_m = _polish(whole, sub, res, POLISH_SHARE * share)
        if whole.offer_region(clients, sites, got_a, got_m):
            improved += 1
            members = _members(whole, part)  # unserved clients may change region
        else:
            solved.add(reg.key)
    return improved


def _polish(whole: _Whole, sub: _Sub, res: LocationResult, limit: float) -> tuple[I32, B]:
    """A region solve's plan after rounds of the grid-aware reallocation and site moves on
    the region alone (:func:`~solver.location.reopen.improve_on_clock`, ``limit`` of work,
    phase ``region_polish``): the engine's region plans leave the assignment rough (grids,
    table trades), and most of them lose to the incumbent as they are."""
    if limit <= 0:
        return res.site_of_client, res.open_sites
    inst = build_instance(sub.problem)
    own = WorkClock(budget=limit, wall_deadline=whole.clock.wall_deadline)
    own.charge(PREPROCESS_ARC_PASSES * work.ARC_PASS * inst.k, "preprocess")
    assign, opened = improve_on_clock(inst, res.site_of_client, res.open_sites, own, own.left())
    whole.clock.charge(own.spent, "region_polish")
    if own.wall_bound:
        whole.clock.wall_cut()
    return assign, opened


def _finish_bound(
    inst: Instance, first: LocationResult, walking: float, clock: WorkClock, limit: float
) -> tuple[float, int]:
    """The bound's last steps: subgradient steps with exact site knapsacks from the engine's
    best multipliers (``first.multipliers``) within ``limit`` of work (phase ``bound``), with
    the final plan's walking and unserved cost ``walking`` as the Polyak target (the engine's
    steps aimed at its own, dearer plan), θ restarted (:data:`RESTART_THETA`) when the work
    holds :data:`RESTART_MIN_STEPS` steps at the cost of the engine's own. None when
    the sites' knapsacks are exact anyway (:func:`~solver.location.bound.beyond_exact_dp`
    false: the engine's steps were already exact). The steps never change the plan.
    Returns the best Lagrangian bound (the engine's when they find none better) and the
    steps taken."""
    lr = first.multipliers
    lag = float(first.stats.get("lagrangian_bound", -math.inf))
    if lr is None or limit <= 0 or not beyond_exact_dp(inst):
        return lag, 0
    end = clock.spent + limit
    clock.charge(work.ARC_PASS * inst.n, "bound")
    # the engine's own exact-knapsack steps tell what one costs
    steps = first.stats.get("lagrangian_integer_iterations", 0.0)
    per_step = first.stats.get("lagrangian_integer_work", 0.0) / max(steps, 1.0)
    theta = lr.theta if lr.theta >= THETA_MIN else RESTART_THETA
    if steps > 0 and limit >= RESTART_MIN_STEPS * per_step:
        theta = max(theta, RESTART_THETA)
    out = exact_steps_until(
        inst,
        clock,
        end,
        lr,
        upper=lambda: walking,
        theta0=theta,
        max_iter=MAX_BOUND_STEPS,
        deflection=BOUND_DEFLECTION,
        patience=BOUND_PATIENCE,
        metric=client_metric(inst),
    )[0]
    return max(lag, out.bound), out.iterations


def choose_partition(inst: Instance, clock: WorkClock) -> Partition | None:
    """Regions of about :data:`LOCAL_ARCS` arcs; None for instances of at most
    :data:`DECOMPOSE_ARCS` arcs or that are not local (more than :data:`MAX_CUT_SHARE` of
    the arcs cross the region borders: clients reach sites across the whole instance)."""
    if inst.k <= DECOMPOSE_ARCS or inst.k > MAX_CUT_SHARE * inst.n * inst.m:
        return None  # small, or dense (arcs for most client–site pairs): no partition needed
    clock.charge(PARTITION_ARC_PASSES * work.ARC_PASS * inst.k, "decompose")
    part = partition(inst, math.ceil(inst.k / LOCAL_ARCS))
    if part.count < 2 or part.cut_arcs > MAX_CUT_SHARE * inst.k:
        return None
    return part


def engine_work(arcs: int, budget: float) -> float:
    """Work of the whole-problem engine's first plan and bound on ``arcs`` arcs: its
    construction makes passes over every arc, so :data:`ENGINE_PER_ARC` per arc, and its
    neighbourhoods :data:`ENGINE_SEARCH_SHARE` of ``budget``; at most
    :data:`ENGINE_MAX_SHARE` of ``budget`` (the regions get the rest)."""
    return min(ENGINE_PER_ARC * arcs + ENGINE_SEARCH_SHARE * budget, ENGINE_MAX_SHARE * budget)


def region_arcs(arcs: int, engine_spent: float) -> int:
    """Arcs per region after an engine plan that took ``engine_spent`` units on ``arcs`` arcs:
    :data:`REGION_ARCS_PER_WORK` × its work per arc, within :data:`MIN_REGION_ARCS` and
    :data:`MAX_REGION_ARCS`."""
    size = REGION_ARCS_PER_WORK * engine_spent / max(arcs, 1)
    return int(min(max(size, MIN_REGION_ARCS), MAX_REGION_ARCS))


def solve_decomposed(
    problem: LocationProblem,
    *,
    solver: Solver,
    time_limit: float,
    work_budget: float | None,
    seed: int,
    progress: Progress | None = None,
) -> LocationResult | None:
    """Plan by the engine, then improve by regions (module docstring); None when the instance
    does not decompose (at most :data:`DECOMPOSE_ARCS` arcs, dense, a client that must be
    served but has no arc): the caller then solves it whole, with nothing spent.

    ``solver`` is the engine's ``solve``; it is called with ``decompose=False``, for the whole
    problem's first plan and for the regions.
    """
    t0 = time.perf_counter()
    if problem.arc_client.shape[0] <= DECOMPOSE_ARCS:
        return None
    inst = build_instance(problem)
    has = inst.ptr[1:] > inst.ptr[:-1]
    if np.any(~has & ~np.isfinite(inst.unserved)):
        return None
    clock = WorkClock.start(time_limit if work_budget is None else work_budget, time_limit)
    part = choose_partition(inst, clock)
    if part is None:
        return None
    budget = clock.budget
    first = solver(
        problem,
        time_limit=max(clock.wall_deadline - time.perf_counter(), 0.0),
        work_budget=max(engine_work(inst.k, budget) - clock.spent, 0.0),
        seed=seed,
        progress=progress,
        decompose=False,
    )
    clock.charge(float(first.stats.get("work_seconds", 0.0)), "engine")
    if first.stats.get("wall_clock_bound", 0.0):
        clock.wall_cut()
    if first.status not in ("optimal", "feasible"):
        return first
    stats: dict[str, float] = {f"engine_{k}": v for k, v in first.stats.items()}
    stats["arcs"] = float(inst.k)
    stats["decompose_regions"] = float(part.count)
    stats["decompose_cut_share"] = part.cut_arcs / max(inst.k, 1)
    stats["decompose_first_objective"] = first.objective
    whole = _Whole(
        inst, clock, first.site_of_client.astype(np.int64), first.open_sites.copy(), first.objective
    )
    size = region_arcs(inst.k, float(first.stats.get("work_seconds", 0.0)))
    stats["decompose_region_arcs"] = float(size)
    parts: dict[tuple[int, bool], Partition] = {}
    if math.ceil(inst.k / (size * SCALES[0])) == math.ceil(inst.k / LOCAL_ARCS):
        parts[0, False] = part
    solved: set[bytes] = set()  # regions solved without gain (with their part of the plan)
    passes = improved = idle = 0
    # the final plan's grid consolidation (one pass over the arcs) and its site moves and
    # reallocation (solver.location.reopen): their work, out of what the engine left
    final = reserve_work(inst.k, budget) + (work.ARC_PASS * inst.k if inst.group is not None else 0)
    reserve = min(final, max(clock.left(), 0.0))
    # a pass that cannot reach every region leaves most of the plan as the engine made it;
    # the final rounds (whole-plan reallocation and site moves) reach all of it
    whole_pass = clock.left() - reserve >= PASS_WORK_PER_ARC * inst.k
    stats["decompose_whole_pass"] = float(whole_pass)
    # the bound's last steps: out of the passes' work, when there are passes
    bound_work = 0.0
    if whole_pass and first.multipliers is not None and beyond_exact_dp(inst):
        bound_work = min(BOUND_SHARE * budget, max(clock.left() - reserve, 0.0))
    reserve += bound_work
    while (
        whole_pass and clock.left() > PASS_WORK_PER_ARC * size + reserve and idle < 2 * len(SCALES)
    ):
        level, offset = (passes // 2) % len(SCALES), passes % 2 == 0
        if (level, offset) not in parts:
            count = max(2, math.ceil(inst.k / (size * SCALES[level])))
            if part.graph is None:
                clock.charge(PARTITION_ARC_PASSES * work.ARC_PASS * inst.k, "decompose")
            else:
                levels = math.ceil(math.log2(count + 1))
                cut = BISECT_EDGE_PASSES * work.ARC_PASS * part.graph.nnz * levels
                clock.charge(cut, "decompose")
            parts[level, offset] = partition(inst, count, offset=offset, graph=part.graph)
        share = min(PASS_WORK_PER_ARC * inst.k, clock.left() - reserve)
        before = len(solved)
        gained = _repair(
            problem,
            whole,
            parts[level, offset],
            share,
            solver,
            seed + 7919 * (passes + 1),
            solved,
            keep=reserve,
        )
        improved += gained
        # a pass that neither improved nor newly failed anywhere found every region solved
        idle = idle + 1 if gained == 0 and len(solved) == before else 0
        passes += 1
        if progress is not None:
            progress("regions", whole.objective, first.lower_bound)
    stats["decompose_passes"] = float(passes)
    stats["decompose_improved"] = float(improved)
    stats["decompose_solves"] = float(whole.solves)
    # grids split across region borders (each region's solve consolidates its own)
    if inst.group is not None:
        clock.charge(work.ARC_PASS * inst.k, "groups")
        merged = consolidate_groups(inst, whole.assign.astype(np.int32), whole.open_mask)
        whole.offer(merged.astype(np.int64), whole.open_mask)
    # what the budget has left (the reserve, unless a region solve overran it): rounds of
    # the reallocation and of site moves with their reassignment (solver.location.reopen)
    # (a region solve that overran the reserve takes it from the bound's steps first)
    left = max(clock.left(), 0.0)
    rounds = max(left - bound_work, min(left, final))
    moved, opened = improve_on_clock(inst, whole.assign, whole.open_mask, clock, rounds)
    whole.offer(moved.astype(np.int64), opened)
    ev = evaluate(inst, whole.assign.astype(np.int32), whole.open_mask)
    if not ev.feasible:  # region plans are checked on the region: never trust that blindly
        stats["decompose_rejected"] = 1.0
        whole.assign, whole.open_mask = first.site_of_client.astype(np.int64), first.open_sites
        ev = evaluate(inst, whole.assign.astype(np.int32), whole.open_mask)
    # the engine's Lagrangian bound is valid for the whole problem, whatever the plan; its
    # last steps (with what the final rounds left) may raise it
    walking = ev.objective - ev.group_penalty
    lag, steps = _finish_bound(inst, first, walking, clock, max(clock.left(), 0.0))
    stats["decompose_bound_steps"] = float(steps)
    if progress is not None:
        progress("bound", ev.objective, lag)
    stats["lagrangian_bound"] = lag
    stats["seconds_total"] = time.perf_counter() - t0
    stats.update(clock.stats())
    return planned_result(ev, whole.assign, whole.open_mask, max(first.lower_bound, lag), stats)
