"""Improvement without grids (up to ~200k arcs or 5,000 clients): LNS and whole-problem MIPs.

Every plan cheaper than the incumbent uses only arcs whose Lagrangian arc bound
(:func:`solver.location.bound.arc_bounds`) lies below the incumbent's objective, so all other
arcs can be dropped from *every* improving search, not just from a global MIP. On the
capacitated p-median benchmarks this leaves a few percent of the n² arcs once the incumbent is
within ~1 % of the optimum, and the set shrinks with each improvement.

:func:`reduced_lns` solves neighbourhood MIPs on the surviving arcs. A ring neighbourhood has
free sites F (a seed open site and the open sites its clients reach most), a ring R of further
open sites that stay open, the clients of F ∪ R (all free to move: with tight capacities an
improvement often needs a chain of moves through R), and closed candidate sites near F's
clients. Levels (|F|, |R|) — multiplied by :func:`level_scale` when each open site serves
only a few clients, so a neighbourhood holds about :data:`LNS_CLIENTS` clients or more (on
lin318 with p = 100 this took the 60 s gap from 8.9 % to 1.4 %) — grow when a full pass over the
seeds finds nothing and restart after
an improvement. After each ring level comes a cluster level (:func:`_cluster`, the local
phase of Gnägi & Baumann 2021 and the subproblems of Stefanello et al. 2015): a few nearby
open sites with all their clients, every site free, so that a median may move to any of its
clients' nearby sites — where a ring neighbourhood keeps most medians in place and offers
only a few candidates per free site. A neighbourhood whose MIP ended without gain (solved to
optimality, or its allowance spent) is not tried again while it and its part of the
incumbent are unchanged. Each call may use :data:`LNS_CALL_WORK`; with
many medians (level scale above 1) at most an even share per open site of the work the search
has, so that a whole pass over the seeds fits (the rare neighbourhoods that search many nodes
improved least per unit of work).

:func:`solve_whole` then spends the rest on the whole problem over each client's K cheapest
surviving arcs (K as large as an arc budget and the work left for its root allow; a heuristic
when it cuts arcs — on SJC4 it
closes most of the LNS's remaining gap), and over all surviving arcs if that finished early.
The MIP bound over all surviving arcs, with the smallest dropped arc bound, is valid for the
instance.

Every MIP runs through :func:`run_mip`: a node limit that the call's allowance of work
affords makes it deterministic, and it is charged to the work clock
(:mod:`solver.location.work`) by its LP iterations and nodes, never by its measured time, so
the plan does not depend on how fast the machine was. The wall clock only stops a call as a
safety limit; when it does, the run is marked as cut by the wall clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from solver.location import work
from solver.location.mip import SubProblem, SubResult, signature, solve_sub_mip
from solver.location.model import Instance

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

SMALL_ARCS = 200_000  # instances up to this many arcs take the small-instance path …
EXACT_PATH_CLIENTS = 5_000  # … and so do larger ones without grids up to this many clients
CANDIDATES_PER_FREE = 5  # closed candidate sites per free open site
CHEAP_ARCS = 12  # candidates come from each client's this many cheapest surviving arcs
CLUSTER_ARCS = 24  # a cluster neighbourhood's clients keep this many cheapest surviving arcs
LNS_NODES = 3000  # node limit of one neighbourhood MIP
# Work limit of one neighbourhood MIP (estimated seconds; the node limit it affords binds).
# A neighbourhood is a cheap move: most take 0.02-0.5 units, but under tight capacities with
# hundreds of medians a few hard ones search thousands of nodes (u724_200 without it: 2 of
# the first 62 calls took 16.3 of their 20.5 units, one 2,143 nodes on 311 columns), work
# the other neighbourhoods, still improving when the budget ends, put to better use.
LNS_CALL_WORK = 1.0
WHOLE_NODES = 1_000_000  # node limit of a whole-problem MIP
MAX_WHOLE_ARCS = 40_000  # no whole-problem MIP on more surviving arcs than this
MIN_WALL_SECONDS = 0.05  # no SCIP call with less wall time than this before the hard stop
NEAR_MIN = 16  # nearest_arcs: at least this many arcs per client …
NEAR_PER_SHARE = 4.0  # … or this many times the clients per open site
LNS_CLIENTS = 30  # clients the first neighbourhood level should hold (see level_scale)
CLUSTER_MAX_CLIENTS = 2 * LNS_CLIENTS  # no cluster levels where the first holds more clients
# (free sites, ring sites) per level, tried in this order (× level_scale)
LEVELS = [(1, 2), (2, 2), (2, 3), (3, 3), (4, 3)]
# reduced_lns with many medians: the between step (site moves, the open sites' assignment)
# also after each part of a pass that improved. A pass over hundreds of open sites is long,
# and the site moves find most after a few neighbourhood gains (ali535 with p = 150, seed 0:
# a pass took 6.93 to 6.81 % above the best known, the site moves after it to 3.53 %)
BETWEEN_PARTS = True


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

    def wall_cut(self) -> None:
        """Record that the wall clock cut a step short (the run may differ elsewhere)."""
        ...


MakeSub = Callable[[I64, I64, I64], SubProblem]
Apply = Callable[[SubProblem, SubResult, str], bool]


def solver_time_limit(st: SearchState, *, margin: float = 0.2) -> float:
    """Wall-clock safety limit for one SCIP or CP-SAT call: ending ``margin`` before the clock's
    hard stop. Never the limit that normally ends a call (that is a deterministic one)."""
    return st.wall_left() - margin


def run_mip(
    st: SearchState,
    sub: SubProblem,
    *,
    work_limit: float,
    node_limit: int,
    seed: int,
    phase: str,
    hint: tuple[I32 | None, B | None] | None = None,
    root_iterations: float = work.MIP_ROOT_ITERATIONS,
    on_infeasible: Callable[[], None] | None = None,
    lp_dives: bool = True,
    root_share: float = 1.0,
) -> SubResult | None:
    """One SCIP call on the work clock: at most ``work_limit`` estimated seconds by its node
    limit (the root node alone if only the work left overall affords it, not started if not
    even that; ``root_iterations`` per column estimate the root by the kind of model),
    charged by its counts; hinted with ``hint`` (assignment and open sites; default the
    incumbent's); ``lp_dives`` as in :func:`~solver.location.mip.solve_sub_mip`; the root
    node alone runs only if its estimate fits ``root_share`` of the work left.

    Too little wall time left for a call, or a call stopped by the wall clock, marks the run
    as cut by the wall clock. ``on_infeasible`` is called when SCIP proves the model has no
    solution (a proof for the instance only if the model is the whole problem on all arcs).
    """
    limit = solver_time_limit(st)
    if limit < MIN_WALL_SECONDS:
        st.wall_cut()
        return None
    cpu = time.process_time()
    res, effort = solve_sub_mip(
        st.inst,
        sub,
        hint_assign=st.assign if hint is None else hint[0],
        hint_open=st.open_mask if hint is None else hint[1],
        time_limit=limit,
        node_limit=node_limit,
        seed=seed,
        work_limit=work_limit,
        root_iterations=root_iterations,
        start_limit=root_share * st.left(),
        lp_dives=lp_dives,
    )
    st.charge(effort.work, phase)
    # CPU seconds next to the charge, to check the work clock's calibration (reported only)
    st.stats[f"cpu_mip_{phase}"] = st.stats.get(f"cpu_mip_{phase}", 0.0) + (
        time.process_time() - cpu
    )
    st.stats[f"work_mip_{phase}"] = st.stats.get(f"work_mip_{phase}", 0.0) + effort.work
    if effort.wall_cut:
        st.wall_cut()
    st.stats[f"mip_calls_{phase}"] = st.stats.get(f"mip_calls_{phase}", 0.0) + float(effort.ran)
    if effort.infeasible and on_infeasible is not None:
        on_infeasible()
    return res


def is_small(inst: Instance) -> bool:
    """Takes the exact-neighbourhood path: no grids, and few arcs or few clients (benchmark
    sizes; dense capacitated p-medians of thousands of clients, whose neighbourhood MIPs stay
    small because a neighbourhood holds a few sites and their clients)."""
    return inst.group is None and (inst.k <= SMALL_ARCS or inst.n <= EXACT_PATH_CLIENTS)


def nearest_arcs(inst: Instance, k: int | None = None) -> B | None:
    """Beyond :data:`SMALL_ARCS` arcs: each client's K cheapest arcs, K = ``k`` or by default
    max(:data:`NEAR_MIN`, ⌈:data:`NEAR_PER_SHARE` × n ÷ p⌉) (a few times the clients an open
    site serves); None below.

    While the incumbent is far from the bound the Lagrangian excludes almost no arc, and a
    neighbourhood MIP would carry every client's arc to every site in it; good plans of
    capacitated p-medians use near sites (Gnägi & Baumann 2021), so the neighbourhoods keep
    only these (a heuristic restriction: the incumbent's own arcs always stay).
    """
    if inst.k <= SMALL_ARCS or inst.n == 0:
        return None
    if k is None:
        k = max(NEAR_MIN, math.ceil(NEAR_PER_SHARE * inst.n / max(1, inst.p_max)))
    rank = np.arange(inst.k) - inst.ptr[inst.cli]
    return np.asarray(rank < k, dtype=np.bool_)


def surviving_arcs(st: SearchState, lf: F64, within: B | None = None) -> B:
    """Arcs some improving plan may use (bound below the incumbent) plus the incumbent's;
    with ``within``, only those of them (and the incumbent's)."""
    inst = st.inst
    keep = lf < st.objective - 1e-9 * max(1.0, abs(st.objective))
    if within is not None:
        keep &= within
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
    ca, rank = ranked_arcs(st, keep, clients)
    # closed candidates per free site: among the cheapest surviving arcs of its clients
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


def ranked_arcs(st: SearchState, keep: B, clients: I64) -> tuple[I64, I64]:
    """The surviving arcs of ``clients`` (each client's in cost order) and each arc's rank
    among its client's (0: the cheapest)."""
    inst = st.inst
    ca = inst.arcs_of(clients)
    ca = ca[keep[ca]]
    return ca, np.arange(ca.shape[0]) - np.searchsorted(inst.cli[ca], inst.cli[ca])


def _cluster(
    st: SearchState, keep: B, seed_site: int, w: int, make_sub: MakeSub
) -> SubProblem | None:
    """Gnägi & Baumann's local subproblem: w nearby open sites with their clients, every site
    in it free.

    The cluster grows from the seed by the open site its clients reach most (a compact group
    of medians). Every open site of it may close, and the closed sites among its clients'
    :data:`CHEAP_ARCS` cheapest surviving arcs (those most of them see first, up to one per
    client: in a capacitated p-median every client's own location) may open, so a median can
    move anywhere inside its cluster — where a ring neighbourhood keeps most medians in place
    and offers only a few candidates per free site. Clients use their :data:`CLUSTER_ARCS`
    cheapest surviving arcs into the cluster (and their current one).
    """
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    group = np.zeros(inst.m, dtype=np.bool_)
    group[seed_site] = True
    for _ in range(w - 1):
        nxt = _reach(st, keep, _clients_of(st, keep, group), group)
        if nxt.shape[0] == 0:
            break
        group[nxt[0]] = True
    clients = _clients_of(st, keep, group)
    if clients.shape[0] == 0:
        return None
    ca, rank = ranked_arcs(st, keep, clients)
    cand = inst.site[ca[rank < CHEAP_ARCS]]
    cand = cand[inst.usable[cand] & ~st.open_mask[cand]]
    in_n = group.copy()
    if cand.shape[0]:
        ids, cnt = np.unique(cand, return_counts=True)
        in_n[ids[np.argsort(-cnt, kind="stable")][: clients.shape[0]]] = True
    own = np.zeros(ca.shape[0], dtype=np.bool_)
    served = st.assign[inst.cli[ca]]
    own[served == inst.site[ca]] = True
    arcs = ca[in_n[inst.site[ca]] & ((rank < CLUSTER_ARCS) | own)]
    return make_sub(clients, np.flatnonzero(in_n).astype(np.int64), arcs)


def level_scale(n: int, n_open: int) -> int:
    """Factor on the sites of every neighbourhood level: 1 while an open site serves about
    :data:`LNS_CLIENTS` ÷ 3 clients or more (the first level, three open sites, then holds
    about LNS_CLIENTS clients), more when each serves only a few (hundreds of medians), so that
    a neighbourhood MIP still moves enough clients to find chains of moves."""
    per_site = n / max(1, n_open)
    return max(1, round(LNS_CLIENTS / (3.0 * max(per_site, 1e-9))))


def cluster_scale(n: int, n_open: int) -> float:
    """Factor on the open sites of a cluster level: 1 while an open site serves about
    :data:`LNS_CLIENTS` ÷ 6 clients or more, so that the first cluster (three open sites)
    holds about half the clients of a first ring level or more. Every site of a cluster is
    free, so its MIP is harder than a ring one of the same clients: on ali535 with p = 100
    (about 5 clients per open site) clusters of six open sites took 0.47 units a call for
    7 improvements in 67 calls, clusters of three 0.03 units."""
    per_site = n / max(1, n_open)
    return max(1.0, LNS_CLIENTS / (6.0 * max(per_site, 1e-9)))


def lns_levels(n: int, n_open: int) -> list[tuple[int, int, bool]]:
    """Neighbourhood levels (free open sites, ring sites, cluster?) in the order tried.

    Each ring level (w, r) of :data:`LEVELS` (× :func:`level_scale`) is followed by a cluster
    level (:func:`_cluster`) of (w + r) × :func:`cluster_scale` open sites: when moving a few
    medians among fixed neighbours finds nothing, medians move anywhere inside a group of
    neighbours. With few open sites both shrink to what there is; repeated levels are
    dropped. No clusters where the first would hold more than :data:`CLUSTER_MAX_CLIENTS`
    clients (few medians: a cluster is then a whole region with every site free, and its
    root node alone outlasts a call's allowance — ali535 with p = 5, about 107 clients per
    open site: 6 cluster MIPs took 52 of 60 units).
    """
    scale, c_scale = level_scale(n, n_open), cluster_scale(n, n_open)
    first = round(sum(LEVELS[0]) * c_scale)
    clusters = first * n / max(1, n_open) <= CLUSTER_MAX_CLIENTS
    levels: list[tuple[int, int, bool]] = []
    for w0, r0 in LEVELS:
        w, r = min(w0 * scale, n_open), r0 * scale
        ring = (w, max(0, min(r, n_open - w)), False)
        cluster = (min(round((w0 + r0) * c_scale), n_open), 0, True)
        for lv in (ring, cluster) if clusters else (ring,):
            if lv not in levels:
                levels.append(lv)
    return levels


def reduced_lns(
    st: SearchState,
    lf: F64,
    make_sub: MakeSub,
    apply: Apply,
    *,
    reserve: float,
    solved: set[bytes] | None = None,
    between: Callable[[], bool] | None = None,
    kick: Callable[[], bool] | None = None,
) -> None:
    """Neighbourhood MIPs on the surviving arcs until the levels are exhausted or ``reserve`` s left.

    Levels (:func:`lns_levels`: ring neighbourhoods and clusters) grow when a full pass over
    all seeds finds nothing and restart at the smallest after a pass with an improvement.
    ``solved``: signatures of neighbourhoods already tried without gain
    (shared between calls). ``between``: another improvement step run after each pass over
    the seeds (True when it improved the incumbent: the levels restart as after an
    improving pass); with many medians (:func:`level_scale` > 1) and :data:`BETWEEN_PARTS`
    also after each part of a pass that improved the incumbent, a part holding as many
    seeds as a pass at scale 1 (the open sites ÷ the scale). ``kick``: a perturbation step
    tried when a pass and its ``between`` step found nothing, before the levels grow, and
    after each part of a pass that found nothing (True when it improved the incumbent: the
    levels restart).
    """
    assert st.assign is not None and st.open_mask is not None
    rng = np.random.default_rng(st.seed)
    solved = set() if solved is None else solved
    n_open = int(np.count_nonzero(st.open_mask))
    scale = level_scale(st.inst.n, n_open)
    levels = lns_levels(st.inst.n, n_open)
    level = 0
    iters = 0
    call_work = LNS_CALL_WORK
    if scale > 1:
        # Many medians: a pass over the open sites is long and the budget ends in the first
        # levels, still improving; a call gets at most an even share per open site of the work
        # this search has, so that one pass fits it (u724 with p = 125, one run: the 42 calls
        # above 0.2 units took 32 of 49 units for 8 of 60 improvements, the 282 below 0.05
        # took 8 for 37).
        call_work = min(LNS_CALL_WORK, max(0.0, st.left() - reserve) / max(1, n_open))
    near = nearest_arcs(st.inst)
    keep = surviving_arcs(st, lf, near)
    while st.left() > reserve + 0.2:
        assert st.assign is not None and st.open_mask is not None
        w, r, cluster = levels[level]
        phase = "lns_cluster" if cluster else "lns"
        seeds = np.flatnonzero(st.open_mask)
        seeds = seeds[rng.permutation(seeds.shape[0])]
        improved = False
        # many medians: the between step also after each part of a pass that improved
        part = math.ceil(seeds.shape[0] / scale) if BETWEEN_PARTS and scale > 1 else 0
        part_gain = False
        for done_seeds, s in enumerate(seeds.tolist()):
            if st.left() <= reserve + 0.2:
                break
            if part and done_seeds and done_seeds % part == 0:
                if part_gain and between is not None:
                    part_gain = False
                    if between():
                        keep = surviving_arcs(st, lf, near)
                elif not part_gain and kick is not None and kick():
                    improved = True
                    keep = surviving_arcs(st, lf, near)
            assert st.assign is not None and st.open_mask is not None
            if not st.open_mask[s]:
                continue
            sub = (
                _cluster(st, keep, s, w, make_sub)
                if cluster
                else _neighbourhood(st, keep, s, w, r, make_sub)
            )
            if sub is None:
                continue
            key = signature(sub, st.assign, st.open_mask)
            if key in solved:
                continue
            iters += 1
            res = run_mip(
                st,
                sub,
                work_limit=min(call_work, st.left() - reserve - 0.1),
                node_limit=LNS_NODES,
                seed=st.seed + iters,
                phase=phase,
            )
            if res is None:
                continue
            if apply(sub, res, phase):
                improved = part_gain = True
                keep = surviving_arcs(st, lf, near)
            else:
                # no gain: proven (optimal), or the call's allowance ended first. A repeat
                # with the same allowance rarely ends otherwise: on rl1304 with p = 300
                # (seed 0) 15 repeats of unproven neighbourhoods again ended unproven without
                # gain and took 4.4 of the LNS's 42 units; skipped, the 60-unit gap went
                # 5.77 -> 5.05 % (seed 1: 5.91 -> 5.35 %)
                solved.add(key)
        if between is not None and st.left() > reserve + 0.2 and between():
            improved = True
            keep = surviving_arcs(st, lf, near)
        if not improved and kick is not None and st.left() > reserve + 0.2 and kick():
            improved = True
            keep = surviving_arcs(st, lf, near)
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
    work_limit: float,
    phase: str,
    whole: bool = True,
) -> SubResult | None:
    """All clients over ``arcs``; with ``complete`` (all surviving arcs) the bound is kept.
    ``whole``: the sites are free (a hard root node); False when few sites are in question.

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
    res = run_mip(
        st,
        sub,
        work_limit=work_limit,
        node_limit=WHOLE_NODES,
        seed=st.seed,
        phase=phase,
        root_iterations=work.MIP_WHOLE_ROOT_ITERATIONS if whole else work.MIP_ROOT_ITERATIONS,
        lp_dives=not whole,  # sites free, from the incumbent: no LP dives (mip.LP_DIVES)
    )
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
    every surviving arc. A MIP over all surviving arcs that finishes proves optimality. Each
    gets all the work that is left; the arc budget shrinks to what that work affords for a
    root node (:func:`affordable_arcs`), so a MIP is never started only to be cut by the wall.
    """
    assert st.assign is not None
    budgets = [arc_budget, MAX_WHOLE_ARCS]
    for stage, budget in enumerate(budgets):
        if st.left() < 0.6:
            return
        work_limit = st.left() - 0.3
        keep = surviving_arcs(st, lf)
        affordable = affordable_arcs(st.inst, work_limit)
        arcs, complete = nearest_surviving(st, keep, min(budget, affordable))
        if stage == len(budgets) - 1 and not complete:
            return  # too many surviving arcs for a whole-problem MIP
        st.stats[f"whole_mip_arcs_{stage}"] = float(arcs.shape[0])
        res = solve_on_arcs(
            st, lf, keep, arcs, complete, make_sub, apply, work_limit=work_limit, phase="whole_mip"
        )
        if res is not None and res.optimal and complete:
            return


def affordable_arcs(inst: Instance, work_limit: float) -> int:
    """Most arcs a whole-problem MIP may take so that its root node fits ``work_limit``.

    Its model has a column per arc, site and client and about four coefficients per arc and
    two per site and client (assignment, capacity, linking); a whole-problem root is a hard
    one (:data:`solver.location.work.MIP_WHOLE_ROOT_ITERATIONS`), so that a MIP is not
    started only to be cut by the wall clock in its root. Found by bisection, deterministic.
    """
    extra = inst.n + inst.m
    sites = int(np.count_nonzero(inst.usable))

    def root(arcs: int) -> float:
        cols, nonzeros = arcs + extra, 4 * arcs + 2 * extra
        return work.mip_root_work(cols, nonzeros, sites, work.MIP_WHOLE_ROOT_ITERATIONS)

    lo, hi = 0, MAX_WHOLE_ARCS
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if root(mid) <= work_limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
