"""Local search: client moves for fixed sites, site swaps scored by the transportation relaxation.

``improve_assignment`` applies improving *shift* (client to another open site with room) and
*swap* (two clients exchange sites) moves, vectorised candidate generation then sequential
application with re-checks; it respects capacities and the table limit and ignores the grid
penalty (callers compare full objectives). ``site_swap_search`` closes one open site and opens
a nearby closed one when the min-cost-flow cost of the new site set is lower (a cheap proxy
for the single-source cost, which the caller computes for the final set only). ``SwapBounds``
bounds every swap's flow cost from below with the current set's capacity prices, so swaps
that cannot improve are skipped and the promising ones are tried first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from solver.location.assign import flow_cost, flow_prices
from solver.location.model import BIG_UNITS, Instance, expand_ranges, units_of

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

MAX_SWAP_PAIRS = 3_000_000


def _ceil_div(a: I64, u: int) -> I64:
    return np.asarray(-(-a // u), dtype=np.int64)


class _State:
    """Assignment with loads, per-client costs and table usage kept in sync."""

    def __init__(self, inst: Instance, assign: I32, open_mask: B) -> None:
        self.inst = inst
        self.a = assign.copy()
        self.open = open_mask
        served = self.a >= 0
        self.load = np.bincount(
            self.a[served], weights=inst.demand[served], minlength=inst.m
        ).astype(np.int64)
        arc = np.full(inst.n, -1, dtype=np.int64)
        arc[served] = inst.arc_index(np.flatnonzero(served), self.a[served])
        self.cc = inst.unserved.copy()
        self.cc[served] = inst.cost[arc[served]]
        self.tables = inst.unit > 0 and inst.units_total < BIG_UNITS
        self.units_used = int(units_of(inst, self.load, open_mask).sum())

    def units_delta(self, j: int, k: int, dj: int, dk: int) -> int:
        """Change of Σ units when site j's load changes by dj and site k's by dk."""
        if not self.tables:
            return 0
        u = self.inst.unit
        tot = 0
        for s, dd in ((j, dj), (k, dk)):
            if s >= 0 and dd != 0:
                lo = int(self.load[s])
                tot += -(-(lo + dd) // u) - (-(-lo // u))
        return tot

    def move(self, i: int, k: int, new_cost: float) -> None:
        d = int(self.inst.demand[i])
        j = int(self.a[i])
        self.units_used += self.units_delta(j, k, -d, d)
        if j >= 0:
            self.load[j] -= d
        if k >= 0:
            self.load[k] += d
        self.a[i] = k
        self.cc[i] = new_cost


def _shift_pass(st: _State) -> int:
    inst = st.inst
    d = inst.demand
    cand = np.flatnonzero(st.open[inst.site] & (inst.site != st.a[inst.cli]))
    delta = inst.cost[cand] - st.cc[inst.cli[cand]]
    fits = st.load[inst.site[cand]] + d[inst.cli[cand]] <= inst.cap[inst.site[cand]]
    good = (delta < -1e-9) & fits
    cand, delta = cand[good], delta[good]
    moved = np.zeros(inst.n, dtype=np.bool_)
    count = 0
    for a in cand[np.argsort(delta, kind="stable")]:
        i, k = int(inst.cli[a]), int(inst.site[a])
        if moved[i]:
            continue
        c = float(inst.cost[a])
        if c >= st.cc[i] - 1e-9 or st.load[k] + d[i] > inst.cap[k]:
            continue
        if st.tables:
            du = st.units_delta(int(st.a[i]), k, -int(d[i]), int(d[i]))
            if st.units_used + du > inst.units_total:
                continue
        st.move(i, k, c)
        moved[i] = True
        count += 1
    return count


def _swap_pass(st: _State) -> int:
    inst = st.inst
    d = inst.demand
    # arcs (i, k) that i would like to take: k open, cheaper than i's current site
    cand = np.flatnonzero(
        st.open[inst.site]
        & (st.a[inst.cli] >= 0)
        & (inst.site != st.a[inst.cli])
        & (inst.cost < st.cc[inst.cli] - 1e-9)
    )
    if cand.shape[0] == 0:
        return 0
    served = np.flatnonzero(st.a >= 0)
    order = served[np.argsort(st.a[served], kind="stable")]
    sptr = np.searchsorted(st.a[order], np.arange(inst.m + 1))
    k_of = inst.site[cand].astype(np.int64)
    cnt = sptr[k_of + 1] - sptr[k_of]
    if int(cnt.sum()) > MAX_SWAP_PAIRS:
        gain = st.cc[inst.cli[cand]] - inst.cost[cand]
        keep = np.argsort(-gain, kind="stable")
        cum = np.cumsum(cnt[keep])
        keep = keep[cum <= MAX_SWAP_PAIRS]
        cand, k_of, cnt = cand[keep], k_of[keep], cnt[keep]
    tot = int(cnt.sum())
    if tot == 0:
        return 0
    rep = np.repeat(np.arange(cand.shape[0]), cnt)
    offs = np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    other = order[sptr[k_of[rep]] + offs]  # i' currently at k
    arc1 = cand[rep]
    i = inst.cli[arc1].astype(np.int64)
    j = st.a[i].astype(np.int64)
    arc2 = inst.arc_index(other, j)
    ok = arc2 >= 0
    arc1, i, j, other, arc2, k = arc1[ok], i[ok], j[ok], other[ok], arc2[ok], k_of[rep][ok]
    delta = inst.cost[arc1] + inst.cost[arc2] - st.cc[i] - st.cc[other]
    di, do = d[i], d[other]
    fits = (st.load[j] - di + do <= inst.cap[j]) & (st.load[k] - do + di <= inst.cap[k])
    good = (delta < -1e-9) & fits
    if not np.any(good):
        return 0
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(delta[idx], kind="stable")]
    touched = np.zeros(inst.n, dtype=np.bool_)
    count = 0
    for t in idx:
        ii, oo = int(i[t]), int(other[t])
        if touched[ii] or touched[oo]:
            continue
        jj, kk = int(j[t]), int(k[t])
        dii, doo = int(d[ii]), int(d[oo])
        if st.load[jj] - dii + doo > inst.cap[jj] or st.load[kk] - doo + dii > inst.cap[kk]:
            continue
        if st.tables:
            du = st.units_delta(jj, kk, doo - dii, dii - doo)
            if st.units_used + du > inst.units_total:
                continue
        st.move(ii, kk, float(inst.cost[arc1[t]]))
        st.move(oo, jj, float(inst.cost[arc2[t]]))
        touched[ii] = touched[oo] = True
        count += 1
    return count


def improve_assignment(inst: Instance, assign: I32, open_mask: B, max_passes: int = 30) -> I32:
    """Shift and swap moves until none improves (or ``max_passes``)."""
    st = _State(inst, assign, open_mask)
    for _ in range(max_passes):
        moved = _shift_pass(st)
        moved += _swap_pass(st)
        if moved == 0:
            break
    return st.a


def site_neighbours(inst: Instance, k: int = 10, r: int = 8) -> list[I64]:
    """For each site, the k sites most often among the same clients' r cheapest arcs."""
    rank = np.arange(inst.k) - inst.ptr[inst.cli]
    sel = np.flatnonzero(rank < r)
    c, s = inst.cli[sel].astype(np.int64), inst.site[sel].astype(np.int64)
    inc = sparse.csr_matrix((np.ones(sel.shape[0]), (c, s)), shape=(inst.n, inst.m))
    co = (inc.T @ inc).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    out: list[I64] = []
    for j in range(inst.m):
        lo, hi = co.indptr[j], co.indptr[j + 1]
        idx = co.indices[lo:hi]
        w = co.data[lo:hi]
        out.append(idx[np.argsort(-w, kind="stable")][:k].astype(np.int64))
    return out


def site_swap_search(
    inst: Instance,
    open_mask: B,
    near: list[I64],
    rng: np.random.Generator,
    keep_going: Callable[[], bool],
    active: B | None = None,
    max_evals: int = 100_000,
    on_eval: Callable[[], None] | None = None,
    cost: Callable[[B], float] | None = None,
    first_improvement: bool = False,
    prune: SiteArcs | None = None,
    on_bound: Callable[[], None] | None = None,
) -> tuple[B, float]:
    """Best-improvement swap (close j, open a neighbour) per open site, by flow cost.

    Don't-look bits: only ``active`` open sites are examined (all if None); an applied swap
    re-activates the open neighbours of both sites. Ends when no active site remains.
    ``on_eval`` is called after every evaluation (the caller's work clock); ``cost`` replaces
    the flow cost of a site set (e.g. by the cost of a single-source plan);
    ``first_improvement`` applies the first improving swap of a site instead of the best.
    With ``prune`` (:func:`site_arcs`) and the flow cost, swaps are tried in order of their
    :class:`SwapBounds` bound and those that cannot improve are skipped (``on_bound`` is
    called per site whose swaps were bounded); the result is a local optimum either way.
    """

    def flow(sites: B) -> float:
        return flow_cost(inst, sites, inst.cap)

    def bounds_for(sites: B) -> SwapBounds | None:
        if prune is None or cost is not None:
            return None
        res = flow_prices(inst, sites, inst.cap)
        if on_eval is not None:
            on_eval()
        return None if res is None else SwapBounds(inst, sites, res[1], prune)

    cost_of = flow if cost is None else cost
    cur = open_mask.copy()
    best = cost_of(cur)
    sb = bounds_for(cur) if np.isfinite(best) else None
    act = (cur.copy() if active is None else active & cur) & (inst.status == 0)
    evals = 0
    while evals < max_evals:
        todo = np.flatnonzero(act & cur)
        if todo.shape[0] == 0:
            break
        for j in todo[rng.permutation(todo.shape[0])]:
            if not keep_going():
                return cur, best
            act[j] = False
            if not cur[j]:
                continue
            best_k, best_c = -1, best
            cands = np.array(
                [kk for kk in near[int(j)] if not cur[kk] and inst.usable[kk]], dtype=np.int64
            )
            if sb is not None and cands.shape[0]:
                lb = sb.bounds(int(j), cands)
                if on_bound is not None:
                    on_bound()
                hopeful = lb < best - 1e-9 * max(1.0, abs(best))
                cands = cands[hopeful][np.argsort(lb[hopeful], kind="stable")]
            for kk in cands:
                cur[j], cur[kk] = False, True
                c = cost_of(cur)
                evals += 1
                if on_eval is not None:
                    on_eval()
                cur[j], cur[kk] = True, False
                if c < best_c - 1e-9 * max(1.0, abs(best_c)):
                    best_k, best_c = int(kk), c
                    if first_improvement:
                        break
            if best_k >= 0:
                cur[j], cur[best_k] = False, True
                best = best_c
                sb = bounds_for(cur)
                act[near[int(j)]] = True
                act[near[best_k]] = True
                act[best_k] = True
                act &= cur & (inst.status == 0)
    return cur, best


def drop_construction(
    inst: Instance,
    near: list[I64],
    keep_going: Callable[[], bool],
    fraction: float = 0.4,
) -> B | None:
    """Open every usable site, then close the lowest-regret sites in batches until p_max remain.

    Regret of a site = Σ over its clients (min-cost-flow assignment) of the cost increase to
    each client's next cheapest open site. Sites next to one closed in the same round are kept
    for the next round, so the estimates stay roughly additive.
    """
    from solver.location.assign import assign_flow

    open_mask = inst.usable.copy()
    d_sites = inst.status == 0
    while int(open_mask.sum()) > inst.p_max and keep_going():
        assign = assign_flow(inst, open_mask, inst.cap)
        if assign is None:
            return None
        excess = int(open_mask.sum()) - inst.p_max
        served = assign >= 0
        cur = np.full(inst.n, np.inf)
        arc = inst.arc_index(np.flatnonzero(served), assign[served])
        cur[served] = inst.cost[arc]
        alt = np.full(inst.n, np.inf)
        ok = open_mask[inst.site] & (inst.site != assign[inst.cli])
        np.minimum.at(alt, inst.cli[ok], inst.cost[ok])
        alt = np.minimum(alt, inst.unserved)
        regret = np.where(served, alt - cur, 0.0)
        regret = np.where(np.isfinite(regret), regret, 1e30)
        site_regret = np.bincount(assign[served], weights=regret[served], minlength=inst.m)
        cand = np.flatnonzero(open_mask & d_sites)
        if cand.shape[0] == 0:
            return None
        cand = cand[np.argsort(site_regret[cand], kind="stable")]
        batch = max(1, int(np.ceil(excess * fraction)))
        blocked = np.zeros(inst.m, dtype=np.bool_)
        closed = 0
        for j in cand:
            if closed >= batch:
                break
            if blocked[j]:
                continue
            open_mask[j] = False
            blocked[near[int(j)]] = True
            closed += 1
    return open_mask if int(open_mask.sum()) <= inst.p_max else None


@dataclass(frozen=True)
class SiteArcs:
    """Arcs grouped by site (``by_site[ptr[j]:ptr[j + 1]]``) and arc costs per unit of demand."""

    by_site: I64
    ptr: I64
    unit: F64


def site_arcs(inst: Instance) -> SiteArcs:
    """The arcs grouped by site, once per instance, for :class:`SwapBounds`."""
    by_site = np.argsort(inst.site, kind="stable").astype(np.int64)
    ptr = np.searchsorted(inst.site[by_site], np.arange(inst.m + 1)).astype(np.int64)
    unit = inst.cost / np.maximum(inst.demand[inst.cli], 1)
    return SiteArcs(by_site, ptr, unit)


class SwapBounds:
    """Lower bounds on the transportation cost of the sets one swap away from ``open_mask``.

    Weak duality with the current set's capacity prices π (:func:`flow_prices`): for any
    π ≥ 0, Σ_i d_i min(u_i, min_{s∈S'} c_is/d_i + π_s) − Σ_{s∈S'} Q_s π_s bounds the
    transportation cost of S' from below. For S' = S − j + k only the clients of j and of k
    change; π_k is chosen optimally (the break point of k's clients sorted by gain). A swap
    whose bound is no better than the current cost can be skipped without evaluating it.
    """

    def __init__(self, inst: Instance, open_mask: B, pi: F64, arcs: SiteArcs) -> None:
        self.inst = inst
        self.pi = pi
        d = inst.demand.astype(np.float64)
        self.d = d
        self.unit = arcs.unit
        self.arcs_by_site = arcs.by_site
        self.site_ptr = arcs.ptr
        fin = np.isfinite(inst.unserved)
        u = np.where(fin, inst.unserved / np.maximum(inst.demand, 1), np.inf)
        on = np.flatnonzero(open_mask[inst.site])
        val = self.unit[on] + pi[inst.site[on]]
        cli = inst.cli[on].astype(np.int64)
        # best and second-best option per client over the open sites and the unserved option
        order = np.lexsort((val, cli))
        cli_s, val_s, site_s = cli[order], val[order], inst.site[on][order].astype(np.int64)
        first = np.flatnonzero(np.r_[cli_s.shape[0] > 0, cli_s[1:] != cli_s[:-1]])
        best1 = np.full(inst.n, np.inf)
        site1 = np.full(inst.n, -1, dtype=np.int64)
        best2 = np.full(inst.n, np.inf)
        best1[cli_s[first]] = val_s[first]
        site1[cli_s[first]] = site_s[first]
        nxt = first + 1
        has2 = nxt < cli_s.shape[0]
        has2[has2] &= cli_s[nxt[has2]] == cli_s[first[has2]]
        best2[cli_s[first[has2]]] = val_s[nxt[has2]]
        # the unserved option is a site that is never removed
        uns_first = u < best1
        best2 = np.where(uns_first, best1, np.minimum(best2, u))
        site1 = np.where(uns_first, -1, site1)
        best1 = np.minimum(best1, u)
        self.best1, self.site1, self.best2 = best1, site1, best2
        fin1 = np.isfinite(best1)
        self.base = float((d * np.where(fin1, best1, 0.0)).sum())
        self.inf_base = int(np.count_nonzero(~fin1 & (d > 0)))
        self.prices = float((inst.cap * pi * open_mask).sum())

    def bounds(self, j: int, ks: I64) -> F64:
        """Lower bound on the transportation cost of S − j + k for each k in ``ks``."""
        inst, d = self.inst, self.d
        out = np.full(ks.shape[0], np.inf)
        if ks.shape[0] == 0:
            return out
        # clients of j fall back to their second option
        mine = np.flatnonzero(self.site1 == j)
        base = self.base
        inf_count = self.inf_base
        a = self.best1.copy()
        a[mine] = self.best2[mine]
        fin_old = np.isfinite(self.best1[mine])
        fin_new = np.isfinite(a[mine])
        base += float((d[mine] * (np.where(fin_new, a[mine], 0.0))).sum())
        base -= float((d[mine] * np.where(fin_old, self.best1[mine], 0.0)).sum())
        inf_count += int(np.count_nonzero(~fin_new & (d[mine] > 0)))
        inf_count -= int(np.count_nonzero(~fin_old & (d[mine] > 0)))
        # arcs of the candidate sites, grouped by candidate
        lo, hi = self.site_ptr[ks], self.site_ptr[ks + 1]
        cnt = hi - lo
        grp = np.repeat(np.arange(ks.shape[0]), cnt)
        arc = self.arcs_by_site[expand_ranges(lo, cnt)]
        c = inst.cli[arc].astype(np.int64)
        uc = self.unit[arc]
        ac = a[c]
        dc = d[c]
        gain = ac - uc  # inf where the client has no other option
        # π_k: largest gain at which the clients gaining more fill k's capacity
        order = np.lexsort((-gain, grp))
        g_s, d_s, grp_s = gain[order], dc[order], grp[order]
        cum = np.cumsum(d_s)
        start = np.searchsorted(grp_s, np.arange(ks.shape[0]))
        cum_in = cum - np.repeat(np.r_[0.0, cum][start], cnt)
        q = inst.cap[ks].astype(np.float64)
        # Clients without another option (infinite gain) that fill k exactly still fit: only
        # exceeding the capacity proves the swap infeasible; π_k then comes from the next
        # (finite-gain) client, or stays 0 — any π_k ≥ 0 gives a valid bound.
        fits = np.isfinite(g_s) | (cum_in > q[grp_s])
        full = (cum_in >= q[grp_s]) & (g_s > 0) & fits
        pi_k = np.zeros(ks.shape[0])
        infeasible = np.zeros(ks.shape[0], dtype=np.bool_)
        hit = np.flatnonzero(full)
        if hit.shape[0]:
            firsts = hit[np.r_[True, grp_s[hit][1:] != grp_s[hit][:-1]]]
            gk = grp_s[firsts]
            pi_k[gk] = np.where(np.isfinite(g_s[firsts]), g_s[firsts], 0.0)
            infeasible[gk] = ~np.isfinite(g_s[firsts])
        newv = uc + pi_k[grp]
        finite = np.isfinite(ac)
        delta = np.where(finite, np.minimum(0.0, newv - np.where(finite, ac, 0.0)), newv)
        change = np.bincount(grp, weights=dc * delta, minlength=ks.shape[0])
        covered_inf = np.bincount(grp, weights=(~finite & (dc > 0)), minlength=ks.shape[0])
        lb = base + change - pi_k * q - self.prices + self.pi[j] * float(inst.cap[j])
        ok = (covered_inf >= inf_count) & ~infeasible
        out[ok] = lb[ok]
        return out
