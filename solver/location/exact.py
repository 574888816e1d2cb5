"""Improvement for small instances (n² arcs up to ~200k): LNS and whole-problem MIPs.

Every plan cheaper than the incumbent uses only arcs whose Lagrangian arc bound
(:func:`solver.location.bound.arc_bounds`) lies below the incumbent's objective, so all other
arcs can be dropped from *every* improving search, not just from a global MIP. On the
capacitated p-median benchmarks this leaves a few percent of the n² arcs once the incumbent is
within ~1 % of the optimum, and the set shrinks with each improvement.

:func:`reduced_lns` solves neighbourhood MIPs on the surviving arcs. A neighbourhood has free
sites F (a seed open site and the open sites its clients reach most), a ring R of further open
sites that stay open, the clients of F ∪ R (all free to move: with tight capacities an
improvement often needs a chain of moves through R), and closed candidate sites near F's
clients. Levels (|F|, |R|) grow when a full pass over the seeds finds nothing and restart after
an improvement; a neighbourhood solved to optimality without gain is not tried again while it
and its part of the incumbent are unchanged.

:func:`solve_whole` then spends the rest on the whole problem over each client's K cheapest
surviving arcs (K as large as an arc budget allows; a heuristic when it cuts arcs — on SJC4 it
closes most of the LNS's remaining gap), and over all surviving arcs if that finished early.
The MIP bound over all surviving arcs, with the smallest dropped arc bound, is valid for the
instance.

Node limits make each MIP deterministic, but SCIP has no deterministic effort count, so its
calls are charged to the work clock (:mod:`solver.location.work`) at their measured wall time: on this
path a run cut by the time limit can differ from another; one that finishes on its own (e.g.
by proving optimality) repeats exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from solver.location.mip import SubProblem, SubResult, signature, solve_sub_mip
from solver.location.model import Instance

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

SMALL_ARCS = 200_000  # instances up to this many arcs take the small-instance path
CANDIDATES_PER_FREE = 5  # closed candidate sites per free open site
CHEAP_ARCS = 12  # candidates come from each client's this many cheapest surviving arcs
LNS_NODES = 3000  # node limit of one neighbourhood MIP
WHOLE_NODES = 1_000_000  # node limit of a whole-problem MIP
MAX_WHOLE_ARCS = 40_000  # no whole-problem MIP on more surviving arcs than this
# (free sites, ring sites) per level, tried in this order
LEVELS = [(1, 2), (2, 2), (2, 3), (3, 3), (4, 3)]


class SearchState(Protocol):
    """What the improvement needs from :class:`solver.location.engine._Search`."""

    inst: Instance
    seed: int
    assign: I32 | None
    open_mask: B | None
    objective: float
    bound: float
    stats: dict[str, float]

    def left(self) -> float:
        """Seconds of work left."""
        ...

    def charge(self, seconds: float, phase: str) -> None:
        """Count the cost of a step on the work clock."""
        ...

    def wall_left(self) -> float:
        """Wall-clock seconds to the hard stop."""
        ...


MakeSub = Callable[[I64, I64, I64], SubProblem]
Apply = Callable[[SubProblem, SubResult, str], bool]


def solver_time_limit(
    st: SearchState, want: float, *, floor: float = 0.05, margin: float = 0.2
) -> float:
    """Seconds for one SCIP or CP-SAT call: ``want``, but ending ``margin`` before the clock's
    hard stop (both stop on wall time, whatever the work clock says), and at least ``floor``."""
    return max(floor, min(want, st.wall_left() - margin))


def is_small(inst: Instance) -> bool:
    """Small enough for per-neighbourhood arc filtering over all arcs (benchmark sizes)."""
    return inst.k <= SMALL_ARCS and inst.group is None


def surviving_arcs(st: SearchState, lf: F64) -> B:
    """Arcs some improving plan may use (bound below the incumbent) plus the incumbent's."""
    inst = st.inst
    keep = lf < st.objective - 1e-9 * max(1.0, abs(st.objective))
    if st.assign is not None:
        served = np.flatnonzero(st.assign >= 0)
        keep[inst.arc_index(served, st.assign[served])] = True
    return np.asarray(keep, dtype=np.bool_)


def _reach(st: SearchState, keep: B, clients: I64, exclude: B) -> I64:
    """Open sites (not in ``exclude``) the clients reach by surviving arcs, most reached first."""
    inst = st.inst
    assert st.open_mask is not None
    a = inst.arcs_of(clients)
    a = a[keep[a]]
    other = inst.site[a]
    mask = st.open_mask[other] & ~exclude[other]
    if not np.any(mask):
        return np.zeros(0, dtype=np.int64)
    ids, cnt = np.unique(other[mask], return_counts=True)
    cost = np.bincount(other[mask], weights=inst.cost[a[mask]], minlength=inst.m)[ids]
    return np.asarray(ids[np.lexsort((cost / cnt, -cnt))], dtype=np.int64)


def _clients_of(st: SearchState, keep: B, sites: B) -> I64:
    """Clients served by the sites, plus unserved clients with a surviving arc to one of them."""
    inst = st.inst
    assert st.assign is not None
    served = st.assign >= 0
    clients = np.flatnonzero(served & sites[np.maximum(st.assign, 0)]).astype(np.int64)
    uns = np.flatnonzero(~served).astype(np.int64)
    if uns.shape[0]:
        ua = inst.arcs_of(uns)
        ua = ua[keep[ua]]
        clients = np.union1d(clients, inst.cli[ua[sites[inst.site[ua]]]].astype(np.int64))
    return clients


def _neighbourhood(
    st: SearchState, keep: B, seed_site: int, w: int, r: int, make_sub: MakeSub
) -> SubProblem | None:
    """Free sites F (seed + w−1 open sites its clients reach most), ring R of r more open sites.

    F's open/closed decisions are free, R stays open; the clients of F ∪ R move freely over
    the surviving arcs to F, R and the closed sites they reach most (capacity chains through
    R are what single-neighbourhood moves miss when capacities are tight).
    """
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    free = np.zeros(inst.m, dtype=np.bool_)
    free[seed_site] = True
    if w > 1:
        free[_reach(st, keep, _clients_of(st, keep, free), free)[: w - 1]] = True
    ring = np.zeros(inst.m, dtype=np.bool_)
    if r > 0:
        ring[_reach(st, keep, _clients_of(st, keep, free), free)[:r]] = True
    in_n = free | ring
    clients = _clients_of(st, keep, in_n)
    if clients.shape[0] == 0:
        return None
    ca = inst.arcs_of(clients)
    ca = ca[keep[ca]]
    # closed candidates per free site: among the cheapest surviving arcs of its clients
    rank = np.arange(ca.shape[0]) - np.searchsorted(inst.cli[ca], inst.cli[ca])
    cheap = ca[rank < CHEAP_ARCS]
    owner = st.assign[inst.cli[cheap]]
    cand = inst.site[cheap]
    ok = (owner >= 0) & free[np.maximum(owner, 0)] & inst.usable[cand] & ~st.open_mask[cand]
    owner, cand = owner[ok].astype(np.int64), cand[ok].astype(np.int64)
    if cand.shape[0]:
        pairs, cnt = np.unique(owner * inst.m + cand, return_counts=True)
        po = pairs // inst.m
        order = np.lexsort((-cnt, po))
        pos = np.arange(order.shape[0]) - np.searchsorted(po[order], po[order])
        in_n[(pairs % inst.m)[order[pos < CANDIDATES_PER_FREE]]] = True
    sites = np.flatnonzero(in_n).astype(np.int64)
    arcs = ca[in_n[inst.site[ca]]]
    sub = make_sub(clients, sites, arcs)
    return replace(sub, fixed_open=ring[sites])


def reduced_lns(
    st: SearchState, lf: F64, make_sub: MakeSub, apply: Apply, *, reserve: float
) -> None:
    """Neighbourhood MIPs on the surviving arcs until the levels are exhausted or ``reserve`` s left.

    Levels (free sites, ring sites) grow when a full pass over all seeds finds nothing and
    restart at the smallest after a pass with an improvement.
    """
    assert st.assign is not None and st.open_mask is not None
    rng = np.random.default_rng(st.seed)
    solved: set[bytes] = set()
    n_open = int(np.count_nonzero(st.open_mask))
    levels: list[tuple[int, int]] = []
    for w, r in LEVELS:  # few open sites: the ring shrinks to what is left
        lv = (min(w, n_open), max(0, min(r, n_open - w)))
        if lv not in levels:
            levels.append(lv)
    level = 0
    iters = 0
    keep = surviving_arcs(st, lf)
    while st.left() > reserve + 0.2:
        assert st.assign is not None and st.open_mask is not None
        w, r = levels[level]
        seeds = np.flatnonzero(st.open_mask)
        seeds = seeds[rng.permutation(seeds.shape[0])]
        improved = False
        for s in seeds.tolist():
            if st.left() <= reserve + 0.2:
                break
            assert st.assign is not None and st.open_mask is not None
            if not st.open_mask[s]:
                continue
            sub = _neighbourhood(st, keep, s, w, r, make_sub)
            if sub is None:
                continue
            key = signature(sub, st.assign, st.open_mask)
            if key in solved:
                continue
            iters += 1
            t = time.perf_counter()
            res = solve_sub_mip(
                st.inst,
                sub,
                hint_assign=st.assign,
                hint_open=st.open_mask,
                time_limit=solver_time_limit(st, st.left() - reserve - 0.1),
                node_limit=LNS_NODES,
                seed=st.seed + iters,
            )
            st.charge(time.perf_counter() - t, "lns")
            if res is None:
                continue
            if apply(sub, res, "lns"):
                improved = True
                keep = surviving_arcs(st, lf)
            elif res.optimal:
                solved.add(key)
        if improved:
            level = 0
        elif level + 1 < len(levels):
            level += 1
        else:
            break
    st.stats["lns_subproblems"] = st.stats.get("lns_subproblems", 0.0) + iters
    st.stats["lns_final_level"] = float(level)


def nearest_surviving(st: SearchState, keep: B, arc_budget: int) -> tuple[I64, bool]:
    """Surviving arcs restricted to each client's K cheapest, K as large as ``arc_budget`` allows.

    Always keeps the incumbent's arcs, so the incumbent stays feasible (a hint for the MIP).
    Also says whether that is every surviving arc.
    """
    inst = st.inst
    assert st.assign is not None
    arcs = np.flatnonzero(keep).astype(np.int64)  # arcs are sorted by (client, cost)
    cl = inst.cli[arcs]
    rank = np.arange(arcs.shape[0]) - np.searchsorted(cl, cl)
    per_rank = np.cumsum(np.bincount(rank))
    k = max(1, int(np.searchsorted(per_rank, arc_budget, side="right")))
    if k >= per_rank.shape[0]:
        return arcs, True
    sel = np.zeros(inst.k, dtype=np.bool_)
    sel[arcs[rank < k]] = True
    served = np.flatnonzero(st.assign >= 0)
    sel[inst.arc_index(served, st.assign[served])] = True
    return np.flatnonzero(sel).astype(np.int64), False


def solve_on_arcs(
    st: SearchState,
    lf: F64,
    keep: B,
    arcs: I64,
    complete: bool,
    make_sub: MakeSub,
    apply: Apply,
    *,
    time_limit: float,
    phase: str,
) -> SubResult | None:
    """All clients over ``arcs``; with ``complete`` (all surviving arcs) the bound is kept.

    The MIP bound covers plans on the surviving arcs; any other plan uses a dropped arc and
    costs at least that arc's Lagrangian bound, so the minimum of the two is valid.
    """
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    has = np.zeros(inst.m, dtype=np.bool_)
    has[inst.site[arcs]] = True
    in_sub = inst.usable & (has | inst.required)
    sites = np.flatnonzero(in_sub).astype(np.int64)
    # an open site left outside would stay open and take a slot: no bound claim then
    complete = complete and not np.any(st.open_mask & ~in_sub)
    sub = make_sub(np.arange(inst.n, dtype=np.int64), sites, arcs)
    t = time.perf_counter()
    res = solve_sub_mip(
        inst,
        sub,
        hint_assign=st.assign,
        hint_open=st.open_mask,
        time_limit=time_limit,
        node_limit=WHOLE_NODES,
        seed=st.seed,
    )
    st.charge(time.perf_counter() - t, phase)
    if res is None:
        return None
    apply(sub, res, phase)
    if complete:
        dropped = lf[~keep]
        out_min = float(dropped.min()) if dropped.shape[0] else math.inf
        st.bound = max(st.bound, min(res.bound, out_min))
        st.stats["global_mip_bound"] = res.bound
    return res


def solve_whole(
    st: SearchState, lf: F64, make_sub: MakeSub, apply: Apply, *, arc_budget: int
) -> None:
    """Whole problem on each client's cheapest surviving arcs (at most ``arc_budget`` arcs).

    A heuristic while the budget cuts arcs; if that MIP finishes early, a second one takes
    every surviving arc. A MIP over all surviving arcs that finishes proves optimality.
    """
    assert st.assign is not None
    budgets = [arc_budget, MAX_WHOLE_ARCS]
    for stage, budget in enumerate(budgets):
        if st.left() < 0.6:
            return
        keep = surviving_arcs(st, lf)
        arcs, complete = nearest_surviving(st, keep, budget)
        if stage == len(budgets) - 1 and not complete:
            return  # too many surviving arcs for a whole-problem MIP
        st.stats[f"whole_mip_arcs_{stage}"] = float(arcs.shape[0])
        # SCIP stops on time anyway: give it every wall-clock second that is left
        tl = solver_time_limit(st, math.inf, floor=0.1, margin=0.3)
        res = solve_on_arcs(
            st, lf, keep, arcs, complete, make_sub, apply, time_limit=tl, phase="whole_mip"
        )
        if res is not None and res.optimal and complete:
            return
