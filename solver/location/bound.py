"""Lagrangian lower bound for the capacitated single-source location problem.

Relaxing the assignment constraints ``Σ_j x_ij + z_i = 1`` with multipliers μ_i and the table
limit ``Σ_j t_j ≤ T`` with ν ≥ 0 (tables made continuous, t_j = load_j / U) leaves, per site,
a knapsack over the arcs with reduced cost ``r_ij = c_ij − μ_i + ν d_i / U`` and capacity Q_j:

    L(μ, ν) = Σ_i μ_i + Σ_i min(0, u_i − μ_i) − ν T + min_{S} Σ_{j∈S} v_j(μ, ν)

where v_j ≤ 0 is the knapsack value of site j and S ranges over site sets with the required
sites, no closed site, and p_min ≤ |S| ≤ p_max. The grid penalty (≥ 0) is dropped. Any μ, ν
gives a valid bound. Fractional knapsacks (vectorised over all sites at once) make
max L equal to the LP relaxation with the strong x_ij ≤ y_j cuts, and whole tables per site
(:func:`table_choice`) lift it above (generated 1M district: LP 109.32 M, max L ≥ 109.73 M,
see ``bench/bound.py``); for small capacities the
knapsacks of the sites that can enter S are solved exactly by dynamic programming, which
is stronger than the LP. An evaluation touches only the arcs with negative reduced cost (a
binary search per client, :class:`Lagrangian`), so it costs far less than a pass over all arcs
on large districts. Multipliers come from subgradient optimisation with Polyak steps
(deflected on request, :data:`DEFLECTION`; variable-metric on request, :func:`client_metric`),
started from the aggregate relaxation (:func:`scarcity_start`): when the staffed tables cannot
take every resident in reach, the first evaluation already charges the residents every plan
must leave unserved, so the gap of a short-staffed district measures the plan, not the bound.

:func:`arc_bounds` turns the final multipliers into a lower bound on every plan that uses a
given arc (LP reduced-cost argument on the knapsack plus the site-selection exchange), used
to drop arcs from the exact MIP and to keep the MIP's bound valid for the full arc set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from solver.location import work
from solver.location.model import BIG_UNITS, Instance, expand_ranges
from solver.location.table_knapsack import table_knapsacks
from solver.location.work import WorkClock

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

DP_MAX_CAPACITY = 5000  # exact knapsacks only when Q_j is at most this
DP_ITEM_CELLS = 2600  # an exact knapsack's fixed cost per item, in DP cells (work charge)
TARGET_CAP = 1.0  # Polyak target at most (1 + this) × the best bound
# γ of the Camerini–Fratta–Maffioli direction (see :func:`subgradient`); 0 = plain steps.
# γ = 1.5 raised the district bounds (1M: 109.30 → 109.59 M; 5M: 560 → 572 M) but its final
# multipliers fix far fewer arcs on the capacitated p-median benchmarks (ali535_005: 286,225
# of 286,225 arcs kept against 23,495), which cost 2.3 % on ali535_005 and 1.7 % on ali535_025
# and, at district scale, moved the plans as much as the bound (1M gaps 4.42 / 5.78 % against
# 4.22 / 5.89 %), so plain steps stay the default until the reduction uses better multipliers.
# Whole districts deflect both bound passes, in the demand metric (:func:`client_metric`;
# :data:`solver.location.engine.DISTRICT_METRIC`); no benchmark takes that path.
DEFLECTION = 0.0
PATIENCE = 20  # non-improving iterations before θ halves
THETA_MIN = 1e-4  # the steps stop once θ is below this
# Exact knapsacks beyond DP_MAX_CAPACITY (``integer``): the first batch solves the best set's
# size and this share of it more; further batches of that share until no site can enter.
INTEGER_MARGIN = 0.1


@dataclass
class FracKnapsack:
    """Fractional knapsack solution for all sites at once."""

    value: F64  # [m] knapsack value (≤ 0)
    arcs: I64  # arcs with negative reduced cost, sorted by (site, ratio)
    frac: F64  # fraction of each of those arcs taken
    ratio_break: F64  # [m] reduced cost per unit demand of the break item (≤ 0; 0 if none)


Items = tuple[I64, I64, I64, F64, F64]  # arc, site, demand, reduced cost, ratio


def site_ratio_order(s: I64, ratio: F64, m: int) -> I64:
    """The order of ``np.lexsort((ratio, s))`` (by site, then ratio, then position), faster.

    An unstable sort by ratio puts tied ratios in any order; sorting (rank, position) keys
    puts each tie run back in position order, so the result is the unique stable order on
    every machine. A stable radix sort by site (16-bit sites) follows.
    """
    o = np.argsort(ratio)
    rs = ratio[o]
    if rs.shape[0] > 1 and bool(np.any(rs[1:] == rs[:-1])):
        rank = np.cumsum(np.r_[True, rs[1:] != rs[:-1]]).astype(np.int64) - 1
        key = rank * rs.shape[0] + o
        key.sort()
        o = key - rank * rs.shape[0]
    small = np.int16 if m <= np.iinfo(np.int16).max else np.int32
    return np.asarray(o[np.argsort(s[o].astype(small), kind="stable")], dtype=np.int64)


def sorted_items(inst: Instance, neg: I64, rr: F64, w: I64) -> tuple[Items, I64]:
    """Arcs ``neg`` (reduced costs ``rr``, demands ``w``) sorted by (site, cost per resident),
    and the order taken from ``neg``.

    Zero-demand clients weigh nothing: always taken whole, ordered first (ratio −inf).
    """
    s = inst.site[neg].astype(np.int64)
    ratio = np.full(rr.shape[0], -np.inf)
    np.divide(rr, w, out=ratio, where=w > 0)
    order = site_ratio_order(s, ratio, inst.m)
    return (neg[order], s[order], w[order], rr[order], ratio[order]), order


def knapsack_items(inst: Instance, r: F64) -> Items:
    """Arcs with negative reduced cost, sorted by (site, cost per resident)."""
    neg = np.flatnonzero(r < 0)
    return sorted_items(inst, neg, r[neg], inst.demand[inst.cli[neg]])[0]


def frac_knapsack(
    inst: Instance, r: F64 | None, cap: I64 | None = None, items: Items | None = None
) -> FracKnapsack:
    """Solve every site's fractional knapsack over arcs with negative reduced cost.

    ``cap`` overrides the site capacities (the table-aware bound fills each site only up to
    the capacity of the tables it chose); ``items`` are :func:`knapsack_items` of ``r`` when
    the caller has them already.
    """
    m = inst.m
    if items is None:
        assert r is not None
        items = knapsack_items(inst, r)
    neg, s, w, rr, ratio = items
    value = np.zeros(m)
    ratio_break = np.zeros(m)
    if neg.shape[0] == 0:
        return FracKnapsack(value, neg.astype(np.int64), np.zeros(0), ratio_break)
    cw = np.cumsum(w)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    lengths = np.diff(np.r_[starts, s.shape[0]])
    base = np.repeat(cw[starts] - w[starts], lengths)
    prev = cw - base - w
    q = (inst.cap if cap is None else cap)[s]
    frac = np.ones(w.shape[0])
    np.divide(q - prev, w, out=frac, where=w > 0)
    frac = np.where(w > 0, np.clip(frac, 0.0, 1.0), 1.0)
    value = np.asarray(np.bincount(s, weights=frac * rr, minlength=m), dtype=np.float64)
    brk = np.flatnonzero(frac < 1.0)
    if brk.shape[0]:
        # first partially taken item per site = the break item
        bs = s[brk]
        firsts = np.r_[True, bs[1:] != bs[:-1]]
        ratio_break[bs[firsts]] = ratio[brk[firsts]]
    return FracKnapsack(value, neg.astype(np.int64), frac, ratio_break)


def table_choice(
    inst: Instance, r: F64 | None, nu: float, items: Items | None = None
) -> tuple[F64, I64]:
    """Per site, the table count t minimising ``F_j(min(U t, Q_j)) + ν t`` and that value.

    F_j(q) is the fractional knapsack value of site j at capacity q over arcs with negative
    reduced cost r. Choosing whole tables per site (instead of charging ν·d/U per resident)
    makes the relaxation see that a site cannot open a fraction of a table, which is most of
    the difference between the continuous bound and real plans when the table limit is tight.
    Returns (value per site, tables per site); sites with nothing to gain get t = 0.
    """
    m, unit = inst.m, inst.unit
    if items is None:
        assert r is not None
        items = knapsack_items(inst, r)
    _, s, w_int, rr, _ = items
    w = w_int.astype(np.float64)
    tmax = int(inst.units_max.max(initial=0))
    # t = 0 still takes the zero-demand arcs (they weigh nothing)
    best = np.bincount(s, weights=np.where(w > 0, 0.0, rr), minlength=m).astype(np.float64)
    tables = np.zeros(m, dtype=np.int64)
    if s.shape[0] == 0 or tmax == 0:
        return best, tables
    cw = np.r_[0.0, np.cumsum(w)]
    cv = np.r_[0.0, np.cumsum(rr)]
    seg_lo = np.searchsorted(s, np.arange(m), side="left")
    seg_hi = np.searchsorted(s, np.arange(m), side="right")
    for t in range(1, tmax + 1):
        ok = t <= inst.units_max
        q = np.minimum(float(unit * t), inst.cap.astype(np.float64))
        target = cw[seg_lo] + q
        # number of whole items that fit: last position with cw ≤ target, inside the segment
        pos = np.searchsorted(cw, target, side="right") - 1
        pos = np.clip(pos, seg_lo, seg_hi)
        value = cv[pos] - cv[seg_lo]
        part = pos < seg_hi
        idx = np.minimum(pos, max(s.shape[0] - 1, 0))
        rest = target - cw[pos]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(part & (w[idx] > 0), np.clip(rest / w[idx], 0.0, 1.0), 0.0)
        value = value + np.where(part, f * rr[idx], 0.0) + nu * t
        better = ok & (value < best)
        best = np.where(better, value, best)
        tables = np.where(better, t, tables)
    return best, tables


def int_knapsack(
    r: F64, w: I64, cap: int, unit: int = 0, nu: float = 0.0
) -> tuple[float, NDArray[np.bool_], int]:
    """Exact 0/1 knapsack (minimise Σ r x, Σ w x ≤ cap) by DP over capacity.

    With ``unit`` > 0 the capacity is bought in whole tables of ``unit`` at ``nu`` each:
    minimise Σ r x + ν t with Σ w x ≤ min(U t, cap). Returns (value, taken, tables).
    """
    k = r.shape[0]
    dp = np.zeros(cap + 1)
    keep = np.zeros((k, cap + 1), dtype=np.bool_)
    for t in range(k):
        wi = int(w[t])
        if wi > cap:
            continue
        cand = dp[: cap + 1 - wi] + r[t]
        better = cand < dp[wi:]
        keep[t, wi:] = better
        dp[wi:] = np.where(better, cand, dp[wi:])
    c, tables, value = cap, 0, float(dp[cap])
    if unit > 0:
        value, c = 0.0, 0
        if dp[0] < 0:
            value = float(dp[0])
        for t in range(1, -(-cap // unit) + 1):
            q = min(unit * t, cap)
            if float(dp[q]) + nu * t < value:
                value, c, tables = float(dp[q]) + nu * t, q, t
    take = np.zeros(k, dtype=np.bool_)
    for t in range(k - 1, -1, -1):
        if keep[t, c]:
            take[t] = True
            c -= int(w[t])
    return value, take, tables


def beyond_exact_dp(inst: Instance) -> bool:
    """Some site capacity is beyond :data:`DP_MAX_CAPACITY`: the per-site dynamic programme
    is off and site knapsacks are fractional unless exact ones are asked for (``integer``,
    solved by their cores: :mod:`solver.location.table_knapsack`)."""
    return int(inst.cap.max(initial=0)) > DP_MAX_CAPACITY


@dataclass
class LagrangeResult:
    """Best multipliers and what they imply."""

    bound: float
    mu: F64
    nu: float
    site_value: F64  # [m] valid lower bound on each site's knapsack value at best μ
    selected: NDArray[np.bool_]
    reduced: F64  # continuous-table reduced cost per arc at best (μ, ν)
    iterations: int
    theta: float = 1.0  # step factor reached (to resume where this run stopped)


def _select(inst: Instance, val: F64) -> NDArray[np.bool_]:
    """Best site set for site values ``val``: required + cheapest candidates."""
    sel = inst.required.copy()
    n_req = int(sel.sum())
    cand = np.flatnonzero(inst.status == 0)
    order = cand[np.argsort(val[cand], kind="stable")]
    lo = max(inst.p_min - n_req, 0)
    hi = max(inst.p_max - n_req, 0)
    n_neg = int(np.count_nonzero(val[order] < 0))
    take = min(max(n_neg, lo), hi, order.shape[0])
    sel[order[:take]] = True
    return sel


class Lagrangian:
    """Evaluate L(μ, ν) and its subgradient.

    With a table limit, each site buys whole tables at ν each (:func:`table_choice`), so the
    ν-subgradient is Σ_{j∈S} t_j − T.

    Only arcs with negative reduced cost ``c_ij − μ_i`` enter a knapsack. A client's arcs are
    sorted by cost, so they are a prefix of its arc range, found by a binary search per client
    instead of a pass over all arcs: an evaluation costs O(n log(k/n) + items log items).
    """

    def __init__(self, inst: Instance, exact: bool, integer: bool = False) -> None:
        self.inst = inst
        self.exact = exact and not beyond_exact_dp(inst)
        # capacities beyond DP_MAX_CAPACITY: exact knapsacks on request, by their cores
        self.integer = integer and not self.exact
        self.int_calls = 0  # core-knapsack work since the caller last reset it: calls …
        self.int_items = 0  # … items examined over (site, table count) pairs …
        self.int_rounds = 0  # … rounds of the dynamic programme …
        self.int_cells = 0  # … and its cells
        self.demand_arc = inst.demand[inst.cli].astype(np.int64)
        self.tables = inst.unit > 0 and inst.units_total < BIG_UNITS
        self.finite_u = np.isfinite(inst.unserved)
        self.dp_cells = 0  # exact-knapsack work since the caller last reset it
        self.dp_items = 0  # items of those knapsacks
        self.items = 0  # arcs with negative reduced cost at the last evaluation
        self.searched = 0  # clients probed by the binary search at the last evaluation
        self.lo = inst.ptr[:-1].astype(np.int64)
        self.hi = inst.ptr[1:].astype(np.int64)
        same = inst.cli[1:] == inst.cli[:-1]
        self.by_cost = bool(np.all(inst.cost[1:][same] >= inst.cost[:-1][same]))

    def negative_arcs(self, mu: F64) -> tuple[I64, I64]:
        """Arcs with ``c_ij − μ_i < 0`` in arc order, and their clients.

        ``c − μ < 0`` ⇔ ``c < μ`` for IEEE doubles (a difference of distinct finite numbers is
        never rounded to 0), so the binary search finds exactly ``flatnonzero(c − μ < 0)``.
        """
        inst = self.inst
        if not self.by_cost:  # arcs not sorted by cost within clients: one pass over all
            neg = np.flatnonzero(inst.cost - mu[inst.cli] < 0)
            return neg, inst.cli[neg].astype(np.int64)
        lo, hi = self.lo.copy(), self.hi.copy()
        act = np.flatnonzero(lo < hi)
        self.searched = 0
        while act.shape[0]:
            self.searched += int(act.shape[0])
            a_lo, a_hi = lo[act], hi[act]
            mid = (a_lo + a_hi) >> 1
            less = inst.cost[mid] < mu[act]
            lo[act] = np.where(less, mid + 1, a_lo)
            hi[act] = np.where(less, a_hi, mid)
            act = act[lo[act] < hi[act]]
        count = lo - self.lo
        return expand_ranges(self.lo, count), np.repeat(np.arange(inst.n, dtype=np.int64), count)

    def work(self) -> float:
        """Estimated seconds of the last evaluation (:mod:`solver.location.work`), from its
        counts: clients probed by the binary search, arcs with negative reduced cost, and the
        exact knapsacks' items and cells since the last call (then reset)."""
        dp = self.dp_cells + DP_ITEM_CELLS * self.dp_items
        core = (
            work.CORE_KNAPSACK_CALL * self.int_calls
            + work.CORE_KNAPSACK_PER_ITEM * self.int_items
            + work.CORE_KNAPSACK_ROUND * self.int_rounds
            + work.CORE_KNAPSACK_PER_CELL * self.int_cells
        )
        self.dp_cells = self.dp_items = 0
        self.int_calls = self.int_items = self.int_rounds = self.int_cells = 0
        return (
            work.SUBGRADIENT_STEP
            + work.SUBGRADIENT_PER_ARC * (self.searched + self.items)
            + work.DP_PER_CELL * dp
            + core
        )

    def reduced(self, mu: F64, nu: float) -> F64:
        """Continuous-table reduced cost of every arc, ``c − μ + ν d / U``: their knapsacks
        bound the table-aware ones from below, which keeps :func:`arc_bounds` valid."""
        inst = self.inst
        r = inst.cost - mu[inst.cli]
        if self.tables:
            r = r + nu * self.demand_arc.astype(np.float64) / inst.unit
        return np.asarray(r, dtype=np.float64)

    def evaluate(self, mu: F64, nu: float) -> tuple[float, F64, float, F64, NDArray[np.bool_]]:
        """Return L, subgradient (μ part, ν part), site values and selection."""
        inst = self.inst
        neg, cli_neg = self.negative_arcs(mu)
        self.items = int(neg.shape[0])
        items, order = sorted_items(inst, neg, inst.cost[neg] - mu[cli_neg], self.demand_arc[neg])
        tables = np.zeros(inst.m, dtype=np.int64)
        if self.tables:
            val, tables = table_choice(inst, None, nu, items)
            fk = frac_knapsack(inst, None, np.minimum(tables * inst.unit, inst.cap), items)
        else:
            fk = frac_knapsack(inst, None, None, items)
            val = fk.value.copy()
        x_item = fk.frac.copy()
        if self.exact:
            sel, val = self._exact_select(items, val, x_item, nu, tables)
        elif self.integer:
            sel, val = self._integer_select(items, val, x_item, nu, tables)
        else:
            sel = _select(inst, val)
        lag = float(mu.sum())
        u_term = np.where(self.finite_u, np.minimum(0.0, inst.unserved - mu), 0.0)
        lag += float(u_term.sum()) + float(val[sel].sum())
        # cover summed in arc order, as a pass over all arcs would
        x_neg = np.zeros(neg.shape[0])
        x_neg[order] = x_item * sel[items[1]]
        cover = np.bincount(cli_neg, weights=x_neg, minlength=inst.n)
        z = (self.finite_u & (inst.unserved < mu)).astype(np.float64)
        g = 1.0 - cover - z
        g_nu = 0.0
        if self.tables:
            g_nu = float(tables[sel].sum()) - inst.units_total
            lag -= nu * inst.units_total
        return lag, g, g_nu, val, sel

    def _exact_select(
        self, items: Items, val: F64, x_item: F64, nu: float, tables: I64
    ) -> tuple[NDArray[np.bool_], F64]:
        """Exact knapsacks for the sites that can enter the best set (v_int ≥ v_frac).

        ``items`` are the fractional solution's arcs (sorted by site); ``val``, ``x_item``
        (fraction of each item taken) and ``tables`` are updated in place for every site
        solved exactly.
        """
        inst = self.inst
        _, s, w, rr, _ = items
        starts = np.searchsorted(s, np.arange(inst.m + 1))
        unit = inst.unit if self.tables else 0

        def solve_site(j: int) -> None:
            lo, hi = int(starts[j]), int(starts[j + 1])
            if hi == lo:
                return
            v, take, t = int_knapsack(rr[lo:hi], w[lo:hi], int(inst.cap[j]), unit, nu)
            self.dp_cells += (hi - lo) * (int(inst.cap[j]) + 1)
            self.dp_items += hi - lo
            val[j] = v
            x_item[lo:hi] = take.astype(np.float64)
            tables[j] = t

        for j in np.flatnonzero(inst.required):
            solve_site(int(j))
        n_req = int(inst.required.sum())
        hi = max(inst.p_max - n_req, 0)
        cand = np.flatnonzero(inst.status == 0)
        order = cand[np.argsort(val[cand], kind="stable")]
        best: list[float] = []
        for j in order:
            vf = float(val[j])
            if hi == 0 or vf >= 0.0 or (len(best) >= hi and vf >= best[hi - 1]):
                break  # v_int ≥ v_frac: no later site can enter the best set
            solve_site(int(j))
            best.append(float(val[j]))
            best.sort()
        return _select(inst, val), val

    def _integer_select(
        self, items: Items, val: F64, x_item: F64, nu: float, tables: I64
    ) -> tuple[NDArray[np.bool_], F64]:
        """Exact knapsacks (:func:`~solver.location.table_knapsack.table_knapsacks`) for the
        required sites and the candidates that can enter the best set, in batches.

        The candidates are taken in order of their fractional value, a lower bound on the
        exact one, so once the next one's fractional value is no better than the best set's
        worst exact value, no later site can enter. The first batch holds the set's size and
        :data:`INTEGER_MARGIN` of it more. ``val``, ``x_item`` and ``tables`` are updated in
        place for every site solved.
        """
        inst = self.inst
        _, s, w, rr, _ = items
        starts = np.searchsorted(s, np.arange(inst.m + 1)).astype(np.int64)
        unit = inst.unit if self.tables else 0
        n_req = int(inst.required.sum())
        hi = max(inst.p_max - n_req, 0)
        cand = np.flatnonzero(inst.status == 0)
        order = cand[np.argsort(val[cand], kind="stable")]
        n_neg = int(np.count_nonzero(val[order] < 0)) if hi else 0
        batch = max(1, math.ceil(hi * INTEGER_MARGIN))
        todo = np.r_[np.flatnonzero(inst.required), order[: min(n_neg, hi + batch)]]
        done = min(n_neg, hi + batch)
        while todo.shape[0]:
            ks = table_knapsacks(
                w, rr, starts, todo.astype(np.int64), inst.cap, inst.units_max, unit, nu
            )
            self.int_calls += 1
            self.int_cells += ks.cells
            self.int_items += ks.pair_items
            self.int_rounds += ks.rounds
            val[todo] = ks.value
            tables[todo] = ks.tables
            seg = expand_ranges(starts[todo], starts[todo + 1] - starts[todo])
            x_item[seg] = ks.taken[seg]
            if done >= n_neg:
                break
            worst = float(np.partition(val[order[:done]], hi - 1)[hi - 1])
            if float(val[order[done]]) >= worst:
                break  # v_int ≥ v_frac: no later site can enter the best set
            todo = order[done : min(n_neg, done + batch)]
            done = min(n_neg, done + batch)
        return _select(inst, val), val


def scarcity_price(inst: Instance) -> float:
    """Price π per resident of the table limit in the aggregate relaxation (0 if it is slack).

    Dropping every site's capacity and keeping only ``Σ served d_i ≤ U T`` leaves a
    fractional knapsack: serve clients by the saving per resident ``(u_i − c_i) / d_i`` of
    their cheapest arc c_i over staying unserved, until the staffed tables are full. π is the
    saving per resident of the first client that no longer fits (clients that must be served
    come first). Its dual, ``Σ_i min(u_i, c_i + π d_i) − π U T``, is a lower bound that
    includes the unserved charge the staff shortage forces on every plan.
    """
    if inst.unit <= 0 or inst.units_total >= BIG_UNITS or inst.k == 0:
        return 0.0
    has = inst.ptr[1:] > inst.ptr[:-1]
    cheapest = np.where(has, inst.cost[np.minimum(inst.ptr[:-1], inst.k - 1)], np.inf)
    d = inst.demand.astype(np.float64)
    take = has & (d > 0) & (cheapest < inst.unserved)
    if not np.any(take):
        return 0.0
    saving = np.full(inst.n, np.inf)
    fin = take & np.isfinite(inst.unserved)
    saving[fin] = (inst.unserved[fin] - cheapest[fin]) / d[fin]
    idx = np.flatnonzero(take)
    order = idx[np.argsort(-saving[idx], kind="stable")]
    filled = np.cumsum(d[order])
    room = float(inst.unit) * float(inst.units_total)
    pos = int(np.searchsorted(filled, room, side="right"))
    if pos >= order.shape[0]:
        return 0.0  # every client fits in the staffed tables
    price = float(saving[order[pos]])
    return price if math.isfinite(price) else 0.0


def scarcity_bound(inst: Instance) -> float:
    """The aggregate relaxation's bound ``Σ_i min(u_i, c_i + π d_i) − π U T`` (see
    :func:`scarcity_price`): every plan walks each served client at least its cheapest arc and
    leaves at least the residents beyond the staffed tables unserved (c_i: the cheapest arc,
    free or not). Valid for any π ≥ 0."""
    mu, nu = _aggregate_start(inst, cheapest_arc_cost(inst))
    if not np.all(np.isfinite(mu)):
        return -math.inf
    tables = inst.unit > 0 and inst.units_total < BIG_UNITS
    return float(mu.sum()) - (nu * inst.units_total if tables else 0.0)


def scarcity_start(inst: Instance, *, paid: bool = False) -> tuple[F64, float]:
    """Starting multipliers: μ_i = min(u_i, c_i + π d_i) and ν = π U (π: :func:`scarcity_price`).

    With π = 0 (tables not short) this is the classic start μ_i = min(u_i, c_i). With a
    short staff the first evaluation already equals the aggregate relaxation's bound, which
    counts the residents the staffed tables cannot take: a subgradient started at π = 0
    needs hundreds of steps to raise ν that far, because ν is one coordinate among a μ per
    client and the Polyak step is shared.

    ``paid``: c_i is the client's cheapest *paid* arc (:func:`cheapest_arc_cost`). A client
    whose cheapest arc is free is a candidate site itself (every client of a p-median
    benchmark), and only the open sites serve their own client for free: there the first
    evaluation is the classic p-median bound (the n − p smallest nearest-neighbour costs)
    where the classic start gives 0 (see :func:`paid_start_bound`).
    """
    return _aggregate_start(inst, cheapest_arc_cost(inst, paid=paid))


def paid_start_bound(inst: Instance) -> tuple[float, float]:
    """The bound at the paid start (:func:`scarcity_start` with ``paid``) and the work it
    cost, or (−inf, 0) where it is the classic start (no client has both a free and a paid
    arc: a district's zero-demand building pays nothing on any arc).

    A p-median benchmark's clients all have a free arc (their own site): the classic start's
    bound is 0 and the Polyak steps, whose target scales with the best bound until a plan is
    known, climb from 0 in steps of their own size. On a 3,038-client instance with 1,000
    medians (9.2M arcs) the first pass ended at 49 against a plan of 266,000; this one
    evaluation gives 254,750. Started from it, the steps themselves ended worse on the
    Stefanello instances (20 instance-seeds: gaps +0.84 / +0.80 points in all), so the
    engine keeps the classic start and takes this as one more bound at the end.
    """
    paid = cheapest_arc_cost(inst, paid=True)
    if np.array_equal(paid, cheapest_arc_cost(inst)):
        return -math.inf, 0.0
    mu, nu = _aggregate_start(inst, paid)
    lag = Lagrangian(inst, True, False)
    return float(lag.evaluate(mu, nu)[0]), lag.work()


def _aggregate_start(inst: Instance, cheapest: F64) -> tuple[F64, float]:
    """μ_i = min(u_i, c_i + π d_i) and ν = π U for the given cheapest arc costs c_i."""
    price = scarcity_price(inst)
    has = inst.ptr[1:] > inst.ptr[:-1]
    mu = np.zeros(inst.n)
    mu[has] = cheapest[has] + price * inst.demand[has]
    fin = np.isfinite(inst.unserved)
    mu = np.where(fin & (~has | (inst.unserved < mu)), inst.unserved, mu)
    return mu, price * inst.unit


def cheapest_arc_cost(inst: Instance, *, paid: bool = False) -> F64:
    """Each client's cheapest arc cost (0 for a client without arcs); with ``paid``, its
    cheapest positive one where it has any (arcs are sorted by client, then cost)."""
    has = inst.ptr[1:] > inst.ptr[:-1]
    out = np.zeros(inst.n)
    out[has] = inst.cost[inst.ptr[:-1][has]]
    if paid:
        first = inst.ptr[:-1] + np.bincount(inst.cli[inst.cost <= 0], minlength=inst.n)
        more = first < inst.ptr[1:]
        out[more] = inst.cost[first[more]]
    return out


def client_metric(inst: Instance) -> F64:
    """Per-client weights ``D_i`` (mean 1) for variable-metric subgradient steps: the
    client's demand (at least the smallest positive demand, so no multiplier is frozen).

    A client enters each site's knapsack at the ratio ``(c_ij − μ_i) / d_i``: a step of δ in
    μ_i moves that ratio by δ / d_i. Plain steps move every multiplier by the same amount
    (the subgradient's entries are coverage shortfalls, between −1 and 1, whatever the
    demand), so they barely move a large building's ratio and throw a small one's far; steps
    ``Δμ_i ∝ d_i g_i`` move every client's ratio alike. The bound is valid whatever the
    metric.
    """
    d = inst.demand.astype(np.float64)
    positive = d[d > 0]
    floor = float(positive.min()) if positive.shape[0] else 1.0
    weight = np.maximum(d, floor)
    return np.asarray(weight / weight.mean(), dtype=np.float64)


def subgradient(
    inst: Instance,
    *,
    upper: Callable[[], float],
    on_iter: Callable[[int, NDArray[np.bool_], float], None] | None = None,
    max_iter: int = 400,
    exact: bool = True,
    deadline_ok: Callable[[], bool] = lambda: True,
    mu0: F64 | None = None,
    nu0: float = 0.0,
    theta0: float = 1.0,
    charge: Callable[[float], None] | None = None,
    deflection: float = DEFLECTION,
    patience: int = PATIENCE,
    metric: F64 | None = None,
    integer: bool = False,
) -> LagrangeResult:
    """Maximise L(μ, ν) by deflected subgradient steps ``θ (UB − L) d / |d|²`` with θ halving.

    The direction is the Camerini–Fratta–Maffioli deflection ``d = g + β d_prev`` with
    ``β = max(0, −γ g·d_prev / |d_prev|²)`` (γ = ``deflection``, default :data:`DEFLECTION`):
    when the new subgradient turns back against the last direction, part of that direction is
    kept, which damps the zig-zag of plain steps (at least as good a direction towards the optimum for γ ≤ 2). On the
    1M district 600 steps reach 109.65 M instead of 109.46 M; plain steps stall at 109.50 M.
    With γ = 0 (the default, see :data:`DEFLECTION`) these are plain subgradient steps.
    ``upper`` returns an upper bound on the relaxed problem, the Polyak target: the best
    walking + unserved cost of any plan found (inf if none). The grid penalty is not in the
    relaxation, so a plan's full objective would overshoot every step. ``on_iter`` sees each
    iteration's site set (for Lagrangian heuristics); ``charge`` is told the estimated cost
    of each iteration (:mod:`solver.location.work`). ``mu0``, ``nu0`` and ``theta0`` resume a run;
    θ halves after ``patience`` iterations in a row without a better bound. ``metric`` (one
    positive weight per client, :func:`client_metric`) makes the steps variable-metric:
    ``μ += θ (UB − L) D h / |h|²`` with ``h`` the direction built from ``D^½ g``, i.e. plain
    or deflected steps in the coordinates ``μ_i / √D_i``; None keeps the plain metric.
    """
    lag = Lagrangian(inst, exact, integer)
    if mu0 is not None:
        mu = mu0.copy()
        nu = nu0
    else:
        mu, nu = scarcity_start(inst)
    theta = theta0
    root = None if metric is None else np.sqrt(metric)
    best = -np.inf
    best_state: tuple[F64, float, F64, NDArray[np.bool_]] | None = None
    stall = 0
    it = 0
    d: F64 | None = None  # deflected direction (μ part, ν part)
    d_nu = 0.0
    for it in range(1, max_iter + 1):
        val_l, g, g_nu, val, sel = lag.evaluate(mu, nu)
        if root is not None:
            g = root * g  # the subgradient in the coordinates μ_i / √D_i
        if charge is not None:
            charge(lag.work())
        if best_state is None or val_l > best + 1e-9 * max(1.0, abs(best)):
            best = val_l
            best_state = (mu.copy(), nu, val.copy(), sel.copy())
            stall = 0
        else:
            stall += 1
            if stall >= patience:
                theta *= 0.5
                stall = 0
        if on_iter is not None:
            on_iter(it, sel, val_l)
        ub = upper()
        # Polyak target: the upper bound, but at most twice the best bound so far. An early
        # plan can be far off (a 100k district's first Lagrangian plan leaves many residents
        # unserved: 7× the bound), and its steps throw μ away; the bound then ends 1.3 % lower.
        target = best + 0.05 * max(abs(best), 1.0)
        if np.isfinite(ub) and ub > best:
            target = min(ub, best + TARGET_CAP * max(abs(best), 1.0))
        # np.sum, not g @ g: a BLAS dot spins up threads (4–12 ms a call on a loaded 2-core
        # machine, more than the evaluation) and its summation order depends on the CPU
        g_nu = g_nu if g_nu > 0 or nu > 0 else 0.0  # ν ≥ 0 stays at 0: projected subgradient
        norm = float(np.sum(g * g)) + g_nu * g_nu
        if norm < 1e-12 or theta < THETA_MIN or not deadline_ok():
            break
        if np.isfinite(ub) and best >= ub - 1e-9 * max(1.0, abs(ub)):
            break
        if d is None:
            d, d_nu = g, g_nu
        else:
            dot = float(np.sum(g * d)) + g_nu * d_nu
            beta = max(0.0, -deflection * dot / (float(np.sum(d * d)) + d_nu * d_nu))
            d, d_nu = g + beta * d, g_nu + beta * d_nu
            if float(np.sum(d * d)) + d_nu * d_nu <= 1e-12 * norm:
                d, d_nu = g, g_nu  # γ = 1 and g = −d_prev cancel: no direction left
        step = theta * (target - val_l) / (float(np.sum(d * d)) + d_nu * d_nu)
        mu = mu + step * (d if root is None else root * d)
        if lag.tables:
            nu = max(0.0, nu + step * d_nu)
    assert best_state is not None
    mu_b, nu_b, val_b, sel_b = best_state
    return LagrangeResult(
        bound=float(best),
        mu=mu_b,
        nu=nu_b,
        site_value=val_b,
        selected=sel_b,
        reduced=lag.reduced(mu_b, nu_b),
        iterations=it,
        theta=theta,
    )


def arc_bounds(inst: Instance, lr: LagrangeResult) -> F64:
    """Lower bound on the objective of any plan that assigns arc a's client to arc a's site.

    Forcing x_ij = 1 raises site j's fractional knapsack value by at least the LP reduced
    cost ``max(0, r_ij − ρ_j d_i)`` (ρ_j: break-item ratio), and forces j into the site set:
    if j is not selected and the set is full, the worst selected candidate makes room.
    """
    d = inst.demand[inst.cli].astype(np.float64)
    fk = frac_knapsack(inst, lr.reduced)
    rc = np.maximum(0.0, lr.reduced - fk.ratio_break[inst.site] * d)
    # fractional value + rc is valid; the site's (possibly exact) value alone is valid too.
    forced = np.maximum(fk.value[inst.site] + rc, lr.site_value[inst.site])
    sel = lr.selected
    val = lr.site_value
    cand_sel = np.flatnonzero(sel & (inst.status == 0))
    full = int(sel.sum()) >= inst.p_max
    worst = float(val[cand_sel].max()) if cand_sel.shape[0] else np.inf
    j_in = sel[inst.site]
    if full and not np.isfinite(worst):
        swap_in = np.full(inst.k, np.inf)
    else:
        swap_in = lr.bound + forced - (worst if full else 0.0)
    out = np.where(j_in, lr.bound + forced - val[inst.site], swap_in)
    return np.asarray(out, dtype=np.float64)


def exact_steps_until(
    inst: Instance,
    clock: WorkClock,
    end: float,
    start: LagrangeResult | None,
    *,
    upper: Callable[[], float],
    theta0: float,
    max_iter: int,
    deflection: float,
    patience: int,
    metric: F64 | None,
    integer: bool = True,
) -> tuple[LagrangeResult, float]:
    """Subgradient steps with exact site knapsacks (:func:`subgradient` with ``integer``; with
    ``integer`` False, fractional ones) from ``start``'s multipliers (None: the scarcity
    start), charged to ``clock`` (phase ``bound``), while the next step — as dear as the
    dearest so far — still fits before the clock reads ``end``. Returns their best and the
    dearest step (what one more would cost)."""
    dearest = [0.0]

    def charge(w: float) -> None:
        dearest[0] = max(dearest[0], w)
        clock.charge(w, "bound")

    def go_on() -> bool:
        return clock.left() > 0.0 and clock.spent + dearest[0] <= end

    out = subgradient(
        inst,
        upper=upper,
        max_iter=max_iter,
        exact=True,
        integer=integer,
        deadline_ok=go_on,
        charge=charge,
        mu0=None if start is None else start.mu,
        nu0=0.0 if start is None else start.nu,
        theta0=theta0,
        deflection=deflection,
        patience=patience,
        metric=metric,
    )
    return out, dearest[0]
