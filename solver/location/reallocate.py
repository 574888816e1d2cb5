"""Grid-aware reallocation: better assignments for a fixed set of open sites.

The engine and the regional passes end with plans whose open sites are good but whose
assignment is not: on the generated districts the table limit binds (every open site rounds
its load up to whole tables, and the plan uses all :math:`T` of them), so an improving client
move that needs one more table at its new site is blocked, and moves that ignore the grids
add more grid penalty λ than they save walking. This module searches, for fixed open sites,
over compound moves priced exactly by the real objective (walking + unserved + λ × grid
splits), each checked against every capacity and the table limit:

* **moves** of one client, or of a whole *piece* (every building of a grid at one site), to
  another open site;
* **swaps** of two such moves in opposite directions between the same two sites (the loads
  barely change, so the tables do not);
* **ejection chains** of two: an improving move blocked at its target (capacity or tables)
  with a move out of that target to a third site that makes room;
* **table trades**: an improving move that needs one more table at its target, paired with
  a move elsewhere that frees one (its source's last table held fewer residents than it
  moves, and its target has room within its tables), when the pair together improves;
* **table transfers**: one table moved from site s to site t — the cheapest moves that
  empty s's last table (into room other sites' tables already have) together with the
  improving moves into t that the extra table admits.

Candidates are generated vectorised over all arcs from the state at the start of a round and
applied best first; every application recomputes its change exactly against the current
state (loads, tables, the sites each grid uses), so no move ever makes the plan worse or
infeasible. Rounds repeat until one finds nothing or the work allowance ends. Work is
estimated from counts (arcs scanned, moves checked), never the wall clock: the same plan and
allowance give the same result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from solver.location import work
from solver.location.model import BIG_UNITS, Instance, units_of
from solver.location.work import WorkClock

__all__ = [
    "PlanState",
    "Reallocation",
    "candidate_moves",
    "reallocate",
    "reallocate_on_clock",
    "reserve_work",
    "table_outflows",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

# Work estimates (seconds on the 2-core reference machine, as in solver.location.work): one
# round's vectorised candidate generation and selection with its checks, in passes over the
# arcs (time.process_time per round: 4.2-4.8 passes on the generated 1M districts, 263k and
# 229k arcs, on a quiet machine; 4.7-7.9 on them and the 5M districts, 1.15M and 1.33M arcs,
# at load average 7-8), and one exact check of a compound move (3e-6 s measured, × 1.3 plus
# the loop around it), charged on top.
ROUND_ARC_PASSES = 8
CHECK_SECONDS = 5e-6
MAX_SWAP_PAIRS = 2_000_000  # candidate swaps per round, best first moves kept
TRADE_SCAN = 40  # sellers tried per buyer (cheapest first) in a table trade
# What a caller keeps for the reallocation of its final plan: this many rounds (the generated
# 1M and 5M districts' plans converge in 5-8), each with up to ROUND_CHECKS checks (measured
# up to 9,000 per round at 5M), within RESERVE_MAX_SHARE of its budget.
RESERVE_ROUNDS = 8
ROUND_CHECKS = 10_000
RESERVE_MAX_SHARE = 0.15
EPS = 1e-6  # a change must lower the objective by more than this (resident-metres)


@dataclass(frozen=True)
class Reallocation:
    """The improved assignment, the work it took and what was applied."""

    assign: NDArray[np.int32]
    work: float
    rounds: int
    gain: float  # objective decrease (≥ 0)
    applied: dict[str, int] = field(default_factory=dict)


@dataclass
class PlanState:
    """An assignment with loads, tables and the sites each grid uses kept in sync."""

    inst: Instance
    a: I64
    open_mask: B
    load: I64
    units: I64
    spare: int
    cc: F64  # current cost of each client: its arc's cost, or its unserved cost
    gcnt: dict[int, int]  # group * m + site → members of the group at the site
    gsites: I64  # sites each group uses
    tables: bool
    grid: bool

    @classmethod
    def of(cls, inst: Instance, assign: NDArray[np.integer], open_mask: B) -> PlanState:
        """State of the plan ``assign`` with sites ``open_mask``."""
        a = np.asarray(assign, dtype=np.int64).copy()
        served = np.flatnonzero(a >= 0)
        load = np.bincount(a[served], weights=inst.demand[served], minlength=inst.m).astype(
            np.int64
        )
        units = units_of(inst, load, open_mask)
        tables = inst.unit > 0 and inst.units_total < BIG_UNITS
        spare = inst.units_total - int(units.sum()) if tables else BIG_UNITS
        cc = inst.unserved.copy()
        cc[served] = inst.cost[inst.arc_index(served, a[served])]
        grid = inst.group is not None and inst.n_groups > 0 and inst.lam > 0
        gcnt: dict[int, int] = {}
        gsites = np.zeros(max(inst.n_groups, 1), dtype=np.int64)
        if grid:
            assert inst.group is not None
            keys, counts = np.unique(
                inst.group[served].astype(np.int64) * inst.m + a[served], return_counts=True
            )
            gcnt = dict(zip(keys.tolist(), counts.tolist(), strict=True))
            gsites = np.bincount(keys // inst.m, minlength=inst.n_groups).astype(np.int64)
        return cls(inst, a, open_mask, load, units, spare, cc, gcnt, gsites, tables, grid)

    def _units(self, load: int) -> int:
        """Tables of an open site with ``load`` (:func:`~solver.location.model.units_of`)."""
        return -(-load // self.inst.unit) if self.inst.unit > 0 else 1

    def delta(self, clients: list[int], targets: list[int], arcs: list[int]) -> float:
        """Exact objective change of moving ``clients`` to ``targets`` (open sites, through
        ``arcs``) together; +inf when that breaks a capacity or the table limit."""
        inst = self.inst
        if len(set(clients)) != len(clients):
            return math.inf
        dload: dict[int, int] = {}
        dkey: dict[int, int] = {}
        change = 0.0
        for i, t, arc in zip(clients, targets, arcs, strict=True):
            s = int(self.a[i])
            if s == t:
                return math.inf
            d = int(inst.demand[i])
            change += float(inst.cost[arc]) - float(self.cc[i])
            dload[t] = dload.get(t, 0) + d
            if s >= 0:
                dload[s] = dload.get(s, 0) - d
            if self.grid:
                g = int(inst.group[i])  # type: ignore[index]
                dkey[g * inst.m + t] = dkey.get(g * inst.m + t, 0) + 1
                if s >= 0:
                    dkey[g * inst.m + s] = dkey.get(g * inst.m + s, 0) - 1
        du = 0
        for s, dd in dload.items():
            if dd == 0:
                continue
            new = int(self.load[s]) + dd
            if new > int(inst.cap[s]):
                return math.inf
            du += self._units(new) - int(self.units[s])
        if self.tables and du > self.spare:
            return math.inf
        if self.grid and dkey:
            dsites: dict[int, int] = {}
            for key, dd in dkey.items():
                if dd == 0:
                    continue
                before = self.gcnt.get(key, 0)
                after = before + dd
                step = (after > 0) - (before > 0)
                if step:
                    g = key // inst.m
                    dsites[g] = dsites.get(g, 0) + step
            for g, ds in dsites.items():
                n = int(self.gsites[g])
                change += inst.lam * (max(0, n + ds - 1) - max(0, n - 1))
        return change

    def apply(self, clients: list[int], targets: list[int], arcs: list[int]) -> None:
        """Move ``clients`` to ``targets`` (checked by :meth:`delta` first)."""
        for i, t, arc in zip(clients, targets, arcs, strict=True):
            self.put(i, t, float(self.inst.cost[arc]))

    def put(self, i: int, t: int, cost: float) -> None:
        """Serve client ``i`` at open site ``t`` at ``cost`` (or leave it unserved: ``t`` −1
        and its unserved cost), keeping loads, tables and grid counts in sync; unchecked
        (callers check by :meth:`delta`, or undo such a step)."""
        inst = self.inst
        s = int(self.a[i])
        d = int(inst.demand[i])
        for site, dd in ((s, -d), (t, d)):
            if site < 0:
                continue
            self.load[site] += dd
            new_units = self._units(int(self.load[site]))
            self.spare -= new_units - int(self.units[site])
            self.units[site] = new_units
        if self.grid:
            g = int(inst.group[i])  # type: ignore[index]
            if s >= 0:
                key = g * inst.m + s
                self.gcnt[key] -= 1
                if self.gcnt[key] == 0:
                    del self.gcnt[key]
                    self.gsites[g] -= 1
            if t >= 0:
                key = g * inst.m + t
                before = self.gcnt.get(key, 0)
                self.gcnt[key] = before + 1
                if before == 0:
                    self.gsites[g] += 1
        self.a[i] = t
        self.cc[i] = cost

    def try_move(self, clients: list[int], targets: list[int], arcs: list[int]) -> float:
        """Apply the compound move if it lowers the objective; its change (0 if not applied)."""
        change = self.delta(clients, targets, arcs)
        if change < -EPS:
            self.apply(clients, targets, arcs)
            return change
        return 0.0


@dataclass(frozen=True)
class _Moves:
    """Candidate unit moves (one client, or a grid's whole piece at one site) from the
    state at the start of a round; members in CSR form (``ptr`` into ``cli``/``arc``)."""

    src: I64
    tgt: I64
    dem: I64
    change: F64  # estimated objective change of the move alone
    units: I64  # change of Σ tables of the move alone
    fits: B  # the target's capacity holds
    ptr: I64
    cli: I64
    arc: I64

    def members(self, k: int) -> tuple[list[int], list[int]]:
        """Clients and arcs of move ``k``."""
        lo, hi = int(self.ptr[k]), int(self.ptr[k + 1])
        return self.cli[lo:hi].tolist(), self.arc[lo:hi].tolist()


def _group_lookup(plan: PlanState) -> tuple[I64, I64]:
    """The grid counts as sorted keys and counts (vectorised look-ups for one round)."""
    if not plan.gcnt:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = np.fromiter(plan.gcnt.keys(), dtype=np.int64, count=len(plan.gcnt))
    vals = np.fromiter(plan.gcnt.values(), dtype=np.int64, count=len(plan.gcnt))
    order = np.argsort(keys, kind="stable")
    return keys[order], vals[order]


def _count(keys: I64, vals: I64, q: I64) -> I64:
    """Members at each queried group * m + site (0 where none)."""
    if keys.shape[0] == 0:
        return np.zeros(q.shape, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, q), keys.shape[0] - 1)
    return np.where(keys[pos] == q, vals[pos], 0).astype(np.int64)


def _tables_delta(plan: PlanState, site: I64, dem: I64) -> I64:
    """Change of the tables at ``site`` when its load changes by ``dem`` residents."""
    return np.asarray(-(-(plan.load[site] + dem) // plan.inst.unit) - plan.units[site])


def _table_change(plan: PlanState, src: I64, tgt: I64, dem: I64) -> I64:
    """Change of Σ tables when ``dem`` residents move from ``src`` (−1: unserved) to ``tgt``."""
    if not plan.tables:
        return np.zeros(src.shape, dtype=np.int64)
    ss = np.maximum(src, 0)
    freed = np.where(src >= 0, _tables_delta(plan, ss, -dem), 0)
    return np.asarray(_tables_delta(plan, tgt, dem) + freed, dtype=np.int64)


def candidate_moves(plan: PlanState) -> _Moves:
    """Every single-client move and every whole-piece move to another open site."""
    inst = plan.inst
    a = plan.a
    cli = inst.cli.astype(np.int64)
    site = inst.site.astype(np.int64)
    src_a = a[cli]
    ok = plan.open_mask[site] & (site != src_a) & ((src_a >= 0) | np.isfinite(plan.cc[cli]))
    sel = np.flatnonzero(ok)
    c1, t1, s1 = cli[sel], site[sel], src_a[sel]
    d1 = inst.demand[c1]
    ch1 = inst.cost[sel] - plan.cc[c1]
    keys, vals = _group_lookup(plan)
    if plan.grid:
        assert inst.group is not None
        g1 = inst.group[c1].astype(np.int64)
        new = (_count(keys, vals, g1 * inst.m + t1) == 0) & (plan.gsites[g1] >= 1)
        last = (s1 >= 0) & (_count(keys, vals, g1 * inst.m + np.maximum(s1, 0)) == 1)
        ch1 = ch1 + inst.lam * (new.astype(np.float64) - last.astype(np.float64))
    srcs, tgts, dems, changes = [s1], [t1], [d1], [ch1]
    ptrs = [np.arange(sel.shape[0], dtype=np.int64)]
    clis, arcs = [c1], [sel.astype(np.int64)]
    if plan.grid:
        assert inst.group is not None
        served = a >= 0
        pkey = np.where(served, inst.group.astype(np.int64) * inst.m + np.maximum(a, 0), -1)
        uniq, inv, size = np.unique(pkey[served], return_inverse=True, return_counts=True)
        piece = np.full(inst.n, -1, dtype=np.int64)
        piece[served] = inv
        multi = np.zeros(uniq.shape[0] + 1, dtype=np.bool_)
        multi[:-1] = size >= 2
        pm = piece[c1]
        in_multi = multi[pm] & (pm >= 0)
        sel2 = np.flatnonzero(in_multi)
        if sel2.shape[0]:
            k2 = pm[sel2] * inst.m + t1[sel2]
            order = np.argsort(k2, kind="stable")
            k2s = k2[order]
            starts = np.flatnonzero(np.r_[True, k2s[1:] != k2s[:-1]])
            cnt = np.diff(np.r_[starts, k2s.shape[0]])
            pid = k2s[starts] // inst.m
            full = cnt == size[pid]
            if np.any(full):
                st, cn, pid = starts[full], cnt[full], pid[full]
                rows = sel2[order][np.repeat(st, cn) + _ranges(cn)]
                tgt = k2s[st] % inst.m
                dem = np.bincount(
                    np.repeat(np.arange(st.shape[0]), cn), weights=d1[rows], minlength=st.shape[0]
                ).astype(np.int64)
                walk = np.bincount(
                    np.repeat(np.arange(st.shape[0]), cn),
                    weights=inst.cost[sel[rows]] - plan.cc[c1[rows]],
                    minlength=st.shape[0],
                )
                g2 = uniq[pid] // inst.m
                src2 = uniq[pid] % inst.m
                new2 = _count(keys, vals, g2 * inst.m + tgt) == 0
                srcs.append(src2)
                tgts.append(tgt)
                dems.append(dem)
                changes.append(walk + inst.lam * (new2.astype(np.float64) - 1.0))
                ptrs.append(np.cumsum(np.r_[0, cn[:-1]]) + sel.shape[0])
                clis.append(c1[rows])
                arcs.append(sel[rows].astype(np.int64))
    src, tgt, dem = np.concatenate(srcs), np.concatenate(tgts), np.concatenate(dems)
    ptr = np.r_[np.concatenate(ptrs), sum(c.shape[0] for c in clis)].astype(np.int64)
    return _Moves(
        src=src,
        tgt=tgt,
        dem=dem,
        change=np.concatenate(changes),
        units=_table_change(plan, src, tgt, dem),
        fits=plan.load[tgt] + dem <= inst.cap[tgt],
        ptr=ptr,
        cli=np.concatenate(clis),
        arc=np.concatenate(arcs),
    )


def _ranges(counts: I64) -> I64:
    """0 … counts[0]−1, 0 … counts[1]−1, … concatenated."""
    tot = int(counts.sum())
    return np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass
class _Round:
    """Bookkeeping of one round: checks made, changes applied by kind."""

    checks: int = 0
    gain: float = 0.0
    applied: dict[str, int] = field(default_factory=dict)

    def run(self, plan: PlanState, kind: str, cl: list[int], tg: list[int], ar: list[int]) -> bool:
        """Check (and apply if improving) one compound move."""
        self.checks += 1
        change = plan.try_move(cl, tg, ar)
        if change < 0:
            self.gain -= change
            self.applied[kind] = self.applied.get(kind, 0) + 1
            return True
        return False


def _direct(plan: PlanState, mv: _Moves, rnd: _Round, max_checks: int) -> None:
    """Improving moves that fit as they are, best first."""
    idx = np.flatnonzero((mv.change < -EPS) & mv.fits & (mv.units <= plan.spare))
    for k in idx[np.argsort(mv.change[idx], kind="stable")].tolist():
        if rnd.checks >= max_checks:
            return
        cl, ar = mv.members(k)
        rnd.run(plan, "move", cl, [int(mv.tgt[k])] * len(cl), ar)


def _swaps(plan: PlanState, mv: _Moves, rnd: _Round, max_checks: int) -> None:
    """Pairs of moves in opposite directions between two sites, best estimate first."""
    inst = plan.inst
    both = np.flatnonzero(mv.src >= 0)
    key = mv.src[both] * inst.m + mv.tgt[both]
    order = both[np.argsort(key, kind="stable")]
    skey = mv.src[order] * inst.m + mv.tgt[order]
    first = np.flatnonzero((mv.change < -EPS) & (mv.src >= 0))
    rev = mv.tgt[first] * inst.m + mv.src[first]
    m1, m2 = _pair_up(mv, first, order, skey, rev)
    if m1.shape[0] == 0:
        return
    est = mv.change[m1] + mv.change[m2]
    s, t = mv.src[m1], mv.tgt[m1]
    net = mv.dem[m1] - mv.dem[m2]  # residents moving from s to t
    good = (
        (est < -EPS)
        & (plan.load[t] + net <= inst.cap[t])
        & (plan.load[s] - net <= inst.cap[s])
        & (_table_change(plan, s, t, net) <= plan.spare)
    )
    _run_pairs(plan, mv, rnd, m1[good], m2[good], est[good], "swap", max_checks)


def _chains(plan: PlanState, mv: _Moves, rnd: _Round, max_checks: int) -> None:
    """Improving moves blocked at their target (capacity or tables), each with a move out of
    that target to a third site that makes room (ejection chains of two), best estimate
    first."""
    inst = plan.inst
    blocked = np.flatnonzero((mv.change < -EPS) & (~mv.fits | (mv.units > plan.spare)))
    if blocked.shape[0] == 0:
        return
    out = np.flatnonzero(mv.src >= 0)
    out = out[np.argsort(mv.src[out], kind="stable")]
    m1, m2 = _pair_up(mv, blocked, out, mv.src[out], mv.tgt[blocked])
    if m1.shape[0] == 0:
        return
    est = mv.change[m1] + mv.change[m2]
    s, t, u = mv.src[m1], mv.tgt[m1], mv.tgt[m2]
    net_t = mv.dem[m1] - mv.dem[m2]
    good = (est < -EPS) & (u != s) & (plan.load[t] + net_t <= inst.cap[t]) & mv.fits[m2]
    if plan.tables:
        du = (
            _tables_delta(plan, t, net_t)
            + _tables_delta(plan, u, mv.dem[m2])
            + np.where(s >= 0, _tables_delta(plan, np.maximum(s, 0), -mv.dem[m1]), 0)
        )
        good &= du <= plan.spare
    _run_pairs(plan, mv, rnd, m1[good], m2[good], est[good], "chain", max_checks)


def _pair_up(mv: _Moves, first: I64, partners: I64, partner_key: I64, want: I64) -> tuple[I64, I64]:
    """Every move of ``first`` with each partner whose key (``partner_key``, sorted) equals
    its ``want``; beyond :data:`MAX_SWAP_PAIRS` pairs only the best first moves keep theirs."""
    lo = np.searchsorted(partner_key, want, side="left")
    cnt = np.searchsorted(partner_key, want, side="right") - lo
    if int(cnt.sum()) > MAX_SWAP_PAIRS:
        keep = np.argsort(mv.change[first], kind="stable")
        keep = keep[np.cumsum(cnt[keep]) <= MAX_SWAP_PAIRS]
        first, lo, cnt = first[keep], lo[keep], cnt[keep]
    return np.repeat(first, cnt), partners[np.repeat(lo, cnt) + _ranges(cnt)]


def _run_pairs(
    plan: PlanState,
    mv: _Moves,
    rnd: _Round,
    first: I64,
    second: I64,
    est: F64,
    kind: str,
    max_checks: int,
) -> None:
    """Apply pairs of moves (``first[k]`` with ``second[k]``) best estimate first, each
    re-checked exactly against the current plan, until ``max_checks`` checks are spent."""
    for k in np.argsort(est, kind="stable").tolist():
        if rnd.checks >= max_checks:
            return
        a1, b1 = int(first[k]), int(second[k])
        cl1, ar1 = mv.members(a1)
        cl2, ar2 = mv.members(b1)
        tg = [int(mv.tgt[a1])] * len(cl1) + [int(mv.tgt[b1])] * len(cl2)
        rnd.run(plan, kind, cl1 + cl2, tg, ar1 + ar2)


def _trades(plan: PlanState, mv: _Moves, rnd: _Round, max_checks: int) -> None:
    """Improving moves short of tables, each paired with the cheapest move elsewhere that
    frees enough tables, when the pair together improves."""
    if not plan.tables:
        return
    buyers = np.flatnonzero((mv.change < -EPS) & mv.fits & (mv.units > plan.spare))
    sellers = np.flatnonzero(mv.fits & (mv.units < 0))
    if buyers.shape[0] == 0 or sellers.shape[0] == 0:
        return
    buyers = buyers[np.argsort(mv.change[buyers], kind="stable")]
    sellers = sellers[np.argsort(mv.change[sellers], kind="stable")]
    s_change = mv.change[sellers]
    for b in buyers.tolist():
        if rnd.checks >= max_checks:
            return
        cb = float(mv.change[b])
        clb, arb = mv.members(b)
        tb = int(mv.tgt[b])
        # sellers cheap enough to pay for the buyer's gain (sorted: a prefix)
        stop = int(np.searchsorted(s_change, -cb - EPS, side="left"))
        for s in sellers[: min(stop, TRADE_SCAN)].tolist():
            if rnd.checks >= max_checks:
                return
            cls, ars = mv.members(s)
            tg = [tb] * len(clb) + [int(mv.tgt[s])] * len(cls)
            if rnd.run(plan, "trade", clb + cls, tg, arb + ars):
                break


def _inflows(plan: PlanState, mv: _Moves, dirty: B) -> dict[int, tuple[float, list[int]]]:
    """Per open site t: the improving moves into t that one more table there admits (best
    first, disjoint clients, within its capacity), with their estimated change."""
    inst = plan.inst
    cand = np.flatnonzero((mv.change < -EPS) & ~dirty[mv.tgt] & ((mv.src < 0) | ~dirty[mv.src]))
    cand = cand[np.lexsort((cand, mv.change[cand], mv.tgt[cand]))]
    out: dict[int, tuple[float, list[int]]] = {}
    used: set[int] = set()
    room = 0
    cur = -1
    for k in cand.tolist():
        t = int(mv.tgt[k])
        if t != cur:
            cur = t
            used = set()
            head = int(inst.cap[t]) - int(plan.load[t])
            room = min(head, inst.unit * (int(plan.units[t]) + 1) - int(plan.load[t]))
        d = int(mv.dem[k])
        if d > room:
            continue
        cl, _ = mv.members(k)
        if used.intersection(cl):
            continue
        used.update(cl)
        room -= d
        total, moves = out.get(t, (0.0, []))
        out[t] = (total + float(mv.change[k]), [*moves, k])
    return out


def table_outflows(plan: PlanState, mv: _Moves, dirty: B) -> dict[int, tuple[float, list[int]]]:
    """Per open site s: the cheapest moves out of s that empty its last table, each into a
    target with room inside its tables (no new table anywhere), with their estimated change."""
    inst = plan.inst
    u = inst.unit
    s_ok = mv.src >= 0
    src = np.maximum(mv.src, 0)
    into_room = plan.load[mv.tgt] + mv.dem <= np.minimum(u * plan.units[mv.tgt], inst.cap[mv.tgt])
    cand = np.flatnonzero(s_ok & into_room & ~dirty[src] & ~dirty[mv.tgt])
    ratio = mv.change[cand] / np.maximum(mv.dem[cand], 1)
    cand = cand[np.lexsort((cand, ratio, mv.src[cand]))]
    out: dict[int, tuple[float, list[int]]] = {}
    if cand.shape[0] == 0:
        return out
    starts = np.flatnonzero(np.r_[True, mv.src[cand][1:] != mv.src[cand][:-1]])
    bounds = np.r_[starts, cand.shape[0]]
    for b in range(starts.shape[0]):
        rows = cand[bounds[b] : bounds[b + 1]]
        s = int(mv.src[rows[0]])
        need = int(plan.load[s]) - u * (int(plan.units[s]) - 1)
        if need <= 0 or plan.units[s] <= 0:
            continue
        # the single move that empties the table most cheaply …
        whole = rows[mv.dem[rows] >= need]
        best: tuple[float, list[int]] | None = None
        if whole.shape[0]:
            k = int(whole[np.argmin(mv.change[whole])])
            best = (float(mv.change[k]), [k])
        # … or the cheapest-per-resident moves until the table is empty
        used: set[int] = set()
        taken: dict[int, int] = {}
        total, picked, moved = 0.0, [], 0
        for k in rows.tolist():
            cl, _ = mv.members(k)
            t = int(mv.tgt[k])
            d = int(mv.dem[k])
            left = min(u * int(plan.units[t]), int(inst.cap[t])) - int(plan.load[t])
            if used.intersection(cl) or taken.get(t, 0) + d > left:
                continue
            used.update(cl)
            taken[t] = taken.get(t, 0) + d
            total += float(mv.change[k])
            picked.append(k)
            moved += d
            if moved >= need:
                break
        if moved >= need and (best is None or total < best[0]):
            best = (total, picked)
        if best is not None:
            out[s] = best
    return out


def _transfers(plan: PlanState, mv: _Moves, rnd: _Round, max_checks: int) -> None:
    """Move one table from site s to site t: the moves that empty s's last table plus the
    improving moves into t that the extra table admits, when together they improve."""
    if not plan.tables:
        return
    inst = plan.inst
    dirty = np.zeros(inst.m, dtype=np.bool_)
    buy = _inflows(plan, mv, dirty)
    sell = table_outflows(plan, mv, dirty)
    if not buy or not sell:
        return
    b_sites = sorted(buy, key=lambda t: (buy[t][0], t))
    s_sites = sorted(sell, key=lambda s: (sell[s][0], s))
    s_cost = np.array([sell[s][0] for s in s_sites])
    for t in b_sites:
        if rnd.checks >= max_checks:
            return
        gain, bmoves = buy[t]
        if dirty[t]:
            continue
        stop = int(np.searchsorted(s_cost, -gain - EPS, side="left"))
        for s in s_sites[: min(stop, TRADE_SCAN)]:
            if s == t or dirty[s] or rnd.checks >= max_checks:
                continue
            cl: list[int] = []
            tg: list[int] = []
            ar: list[int] = []
            for k in sell[s][1] + bmoves:
                c, a = mv.members(k)
                cl += c
                ar += a
                tg += [int(mv.tgt[k])] * len(c)
            if rnd.run(plan, "transfer", cl, tg, ar):
                touched = [int(mv.tgt[k]) for k in sell[s][1] + bmoves]
                touched += [int(mv.src[k]) for k in sell[s][1] + bmoves if mv.src[k] >= 0]
                dirty[touched] = True
                break


def reallocate(
    inst: Instance,
    assign: NDArray[np.integer],
    open_mask: B,
    *,
    work_limit: float,
    max_rounds: int = 50,
) -> Reallocation:
    """Improve the assignment of a feasible plan for its open sites (module docstring).

    Every applied move lowers the objective exactly and keeps every capacity and the table
    limit; the open sites do not change. The rounds stop when one applies nothing, after
    ``max_rounds``, or when the estimated work would exceed ``work_limit``.
    """
    plan = PlanState.of(inst, assign, open_mask)
    round_work = ROUND_ARC_PASSES * work.ARC_PASS * max(inst.k, 1)
    spent = 0.0
    applied: dict[str, int] = {}
    gain = 0.0
    rounds = 0
    while rounds < max_rounds and spent + round_work <= work_limit:
        rounds += 1
        spent += round_work
        max_checks = int((work_limit - spent) // CHECK_SECONDS)
        mv = candidate_moves(plan)
        rnd = _Round()
        _direct(plan, mv, rnd, max_checks)
        if rnd.checks < max_checks:
            mv = candidate_moves(plan) if rnd.applied else mv
            _swaps(plan, mv, rnd, max_checks)
        if rnd.checks < max_checks:
            _chains(plan, mv, rnd, max_checks)
        if rnd.checks < max_checks:
            _trades(plan, mv, rnd, max_checks)
        if rnd.checks < max_checks:
            mv = candidate_moves(plan) if rnd.applied else mv
            _transfers(plan, mv, rnd, max_checks)
        spent += rnd.checks * CHECK_SECONDS
        gain += rnd.gain
        for k, v in rnd.applied.items():
            applied[k] = applied.get(k, 0) + v
        if not rnd.applied:
            break
    return Reallocation(plan.a.astype(np.int32), spent, rounds, gain, applied)


def reserve_work(arcs: int, budget: float) -> float:
    """Work a caller keeps for :func:`reallocate` on a plan with ``arcs`` arcs:
    :data:`RESERVE_ROUNDS` rounds with their checks, at most :data:`RESERVE_MAX_SHARE` of
    ``budget``."""
    per_round = ROUND_ARC_PASSES * work.ARC_PASS * max(arcs, 1) + ROUND_CHECKS * CHECK_SECONDS
    return min(RESERVE_ROUNDS * per_round, RESERVE_MAX_SHARE * budget)


def reallocate_on_clock(
    inst: Instance, assign: NDArray[np.integer], open_mask: B, clock: WorkClock, limit: float
) -> NDArray[np.int32]:
    """:func:`reallocate` with at most ``limit`` of work, charged to ``clock`` (phase
    ``reallocate``); the caller offers the result (it is never worse, and feasible whenever
    ``assign`` is). ``limit`` is the caller's reserve for this step, like a final evaluation
    it is not cut by what earlier phases overran; the wall clock still stops it."""
    if time.perf_counter() >= clock.wall_deadline:
        clock.wall_cut()
        return np.asarray(assign, dtype=np.int32).copy()
    res = reallocate(inst, assign, open_mask, work_limit=max(0.0, limit))
    clock.charge(res.work, "reallocate")
    return res.assign
