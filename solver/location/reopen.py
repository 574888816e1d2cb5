"""Site moves priced with the reassignment they cause: close one site, open another, repair.

With the open sites fixed, the reallocation (:mod:`solver.location.reallocate`) converges on
the generated districts, and a single site swap priced alone almost never pays: closing a
site pushes its clients onto neighbours whose tables are full, and a new site only pays once
the clients around it move in. This module changes the site set together with that
reassignment and judges the whole compound step by its exact objective change:

* **close–open**: close site ``a`` and open ``b`` (the open count stays the same);
* **close**: close ``a`` alone (below ``p_max``: its clients move to their neighbours, and
  whole tables freed by the rounding at ``a`` go to moves elsewhere that lacked a table);
* **open**: open ``b`` alone, when fewer than ``p_max`` sites are open.

Each candidate is tried on the plan itself and undone when it does not pay:

1. ``a``'s clients are lifted off it (so its tables are free), then every grid piece of
   ``a`` (all of a grid's buildings there; buildings alone when the piece cannot move
   whole) goes to its cheapest feasible open site, ``b`` included;
2. clients (their whole piece where possible) move into ``b`` while that improves;
3. the repair: ``a``'s former clients try again for a better site, and the best improving
   moves of the round that lacked only a table take the tables the step freed.

Steps 1 and 2 are tried in both orders (``b`` first lets it take the tables ``a`` freed).
When the table limit blocks a step, a table is *bought*: the cheapest moves elsewhere that
empty some site's last table into room other sites' tables have (the reallocation's
table-transfer outflows), for ``a``'s clients always, for ``b`` when the savings a new
table there admits exceed the seller's estimated cost.

Every step is priced exactly by :meth:`~solver.location.reallocate.PlanState.delta` (walking,
unserved and λ × grid splits, with every capacity and the table limit), so a kept candidate
lowers the whole objective by exactly the sum of its steps and keeps every limit; the open
count stays within ``[p_min, p_max]`` and required sites stay open.

Candidates are ranked by a vectorised estimate from the state at the start of a round:
closing ``a`` costs its clients' second-best open arcs, opening ``b`` gains what its arcs
save over the clients' current arcs (up to its capacity), and a pair that shares clients
counts each shared client once, at the better of the two. Work is counted, never timed: arc
passes per round and client checks per step, so the same plan and allowance give the same
result.

On a caller's final plan (:func:`improve_on_clock`) site-move rounds and reallocation rounds
share one allowance, round by round: each kind is tried once (the reallocation first), then
the next round goes to the kind whose last round gained most per unit of work
(:func:`next_kind`), until neither finds anything on the plan as it is or the work is spent.
Run first, the site moves take gains the cheap reallocation rounds would find anyway; run to
its end first, the reallocation spends its slow last rounds (a few thousand resident-metres
each on the generated 5M districts) where a site-move round gains millions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from solver.location import reallocate, work
from solver.location.groups import group_members
from solver.location.model import Instance
from solver.location.reallocate import EPS, PlanState, candidate_moves, table_outflows
from solver.location.search import site_arcs
from solver.location.work import WorkClock

__all__ = [
    "KINDS",
    "REALLOCATE",
    "SITE_MOVES",
    "SiteMoves",
    "force_moves",
    "improve_on_clock",
    "improve_sites",
    "next_kind",
    "reserve_work",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

# Work estimates (seconds on the 2-core reference machine, as in solver.location.work): one
# round's estimates, table sellers and blocked moves in passes over the arcs (process time
# 0.06 s on the generated 1M district, 263k arcs, and 0.47 s at 5M, 1.15M arcs, at load
# average 8-10 on 2 cores: 2.5 and 7 passes), a client checked in a step's exact pricing,
# and a vectorised look-up (a piece's targets, a client's grid mates). Fitted on the same
# districts: 3 units charged for 1.8-2.6 s of process time at that load.
ROUND_ARC_PASSES = 12
CLIENT_CHECK_SECONDS = 3e-6
CALL_SECONDS = 2e-5
TARGETS = 8  # open sites tried per piece in step 1 (cheapest arcs first)
FAR_SITES = 24  # cheapest closings × best openings paired regardless of shared clients
BLOCKED_TRIES = 40  # table-blocked moves tried per candidate in the repair
TABLE_BUYS = 6  # tables bought per candidate
ORDERS = (False, True)  # step 2 after step 1, and before it
SITE_TRIES = 4  # candidates tried per site and round (its best estimates first; doubled
# after a round that kept nothing while it left some untried)
NO_SITE = 1e12  # estimated cost of a client left without any open site
# What a caller keeps for its final plan's rounds on top of the reallocation's reserve: this
# share of its budget (the schedule, not this share, decides which kind spends it).
SITE_SHARE = 0.1
# The kinds of round :func:`improve_on_clock` schedules (also their work phases), the cheaper
# first: a reallocation round is 8 arc passes, a site-move round 12 and its trials.
REALLOCATE, SITE_MOVES = "reallocate", "site_moves"
KINDS = (REALLOCATE, SITE_MOVES)


@dataclass(frozen=True)
class SiteMoves:
    """The improved plan, the work it took and what was applied."""

    assign: NDArray[np.int32]
    open_mask: B
    work: float
    rounds: int
    gain: float  # objective decrease (≥ 0)
    applied: dict[str, int] = field(default_factory=dict)
    tried: int = 0  # candidates tried
    checks: int = 0  # client checks made
    calls: int = 0  # vectorised look-ups made
    wall_cut: bool = False  # stopped by the wall clock's safety stop


@dataclass
class _Trial:
    """One candidate tried on the plan: its steps (for the undo) and their exact change."""

    plan: PlanState
    log: list[tuple[int, int, float]] = field(default_factory=list)  # client, site, cost before
    change: float = 0.0
    clients: int = 0  # client checks made
    calls: int = 0  # vectorised look-ups made (a piece's targets, a client's mates)
    buys: int = 0  # tables bought
    sold: set[int] = field(default_factory=set)  # sellers used (or found stale)

    def step(
        self, clients: list[int], targets: list[int], arcs: list[int], need_gain: bool
    ) -> bool:
        """Apply one move of ``clients`` if it is feasible (and improves, if ``need_gain``)."""
        self.clients += len(clients) + 1
        d = self.plan.delta(clients, targets, arcs)
        if not math.isfinite(d) or (need_gain and d >= -EPS):
            return False
        for i in clients:
            self.log.append((i, int(self.plan.a[i]), float(self.plan.cc[i])))
        self.plan.apply(clients, targets, arcs)
        self.change += d
        return True

    def undo(self) -> None:
        """Restore the plan as it was before the trial's steps."""
        for i, s, c in reversed(self.log):
            self.plan.put(i, s, c)
        self.log.clear()
        self.change = 0.0


@dataclass(frozen=True)
class _Seller:
    """Moves out of ``site`` that empty its last table (into room other sites' tables have),
    from the round's start, with their estimated change."""

    cost: float
    site: int
    clients: list[int]
    targets: list[int]
    arcs: list[int]


def _sellers(plan: PlanState) -> list[_Seller]:
    """Every site's cheapest way to free one table, cheapest first (the reallocation's
    table-transfer outflows)."""
    if not plan.tables:
        return []
    mv = candidate_moves(plan)
    out = table_outflows(plan, mv, np.zeros(plan.inst.m, dtype=np.bool_))
    sellers = []
    for site, (cost, moves) in out.items():
        cl: list[int] = []
        tg: list[int] = []
        ar: list[int] = []
        for k in moves:
            c, a = mv.members(k)
            cl += c
            ar += a
            tg += [int(mv.tgt[k])] * len(c)
        sellers.append(_Seller(cost, site, cl, tg, ar))
    sellers.sort(key=lambda x: (x.cost, x.site))
    return sellers


@dataclass
class _Search:
    """The plan with what the candidates' steps look up: arcs by site, grid members."""

    plan: PlanState
    n_open: int
    by_site: I64  # arc indices sorted by site (then client order)
    site_ptr: I64
    members: I64  # clients sorted by grid
    group_ptr: I64
    blocked: list[tuple[list[int], int, list[int]]] = field(default_factory=list)
    sellers: list[_Seller] = field(default_factory=list)

    @classmethod
    def of(cls, plan: PlanState) -> _Search:
        """Index ``plan``'s instance by site and grid."""
        arcs = site_arcs(plan.inst)
        members, ptr = group_members(plan.inst)
        n_open = int(np.count_nonzero(plan.open_mask))
        return cls(plan, n_open, arcs.by_site, arcs.ptr, members, ptr)

    def clients_at(self, s: int) -> I64:
        """Clients served at site ``s`` (all have an arc to it)."""
        cli = self.plan.inst.cli[self.by_site[self.site_ptr[s] : self.site_ptr[s + 1]]]
        return np.asarray(cli[self.plan.a[cli] == s], dtype=np.int64)

    def mates(self, i: int, s: int) -> I64:
        """Client ``i``'s grid members served at site ``s`` (its piece there)."""
        g = int(self.plan.inst.group[i])  # type: ignore[index]
        grp = self.members[self.group_ptr[g] : self.group_ptr[g + 1]]
        return np.asarray(grp[self.plan.a[grp] == s], dtype=np.int64)

    def pieces(self, clients: I64) -> list[list[int]]:
        """``clients`` (all at one site) split by grid, largest demand first."""
        inst = self.plan.inst
        if clients.shape[0] == 0:
            return []
        if not self.plan.grid or inst.group is None:
            order = np.argsort(-inst.demand[clients], kind="stable")
            return [[int(i)] for i in clients[order]]
        g = inst.group[clients]
        order = np.lexsort((clients, g))
        cs, gs = clients[order], g[order]
        cuts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        out = np.split(cs, cuts[1:])
        out.sort(key=lambda p: (-int(inst.demand[p].sum()), int(p[0])))
        return [p.tolist() for p in out]

    def place(self, trial: _Trial, piece: list[int], need_gain: bool) -> bool:
        """Move ``piece`` whole to its best feasible open site among the first arcs of its
        first member; with ``need_gain``, only if that improves."""
        plan = self.plan
        inst = plan.inst
        trial.calls += 1
        i0 = piece[0]
        lo, hi = int(inst.ptr[i0]), int(inst.ptr[i0 + 1])
        sites = inst.site[lo:hi]
        ok = np.flatnonzero(plan.open_mask[sites] & (sites != plan.a[i0]))[:TARGETS]
        if ok.shape[0] == 0:
            return False
        cand = sites[ok].astype(np.int64)
        if len(piece) == 1:
            arcs = (ok + lo).reshape(1, -1)
        else:
            cl = np.asarray(piece, dtype=np.int64)
            arcs = inst.arc_index(np.repeat(cl, cand.shape[0]), np.tile(cand, cl.shape[0]))
            arcs = arcs.reshape(cl.shape[0], cand.shape[0])
        # vectorised screen: every member has the arc, the target's capacity and tables hold
        valid = np.all(arcs >= 0, axis=0)
        dem = int(inst.demand[piece].sum())
        load = plan.load[cand] + dem
        valid &= load <= inst.cap[cand]
        if plan.tables:
            valid &= -(-load // inst.unit) - plan.units[cand] <= plan.spare
        cols = np.flatnonzero(valid)
        if cols.shape[0] == 0:
            return False
        walk = inst.cost[arcs[:, cols]].sum(axis=0) - plan.cc[piece].sum()
        # the grid can lower a change by at most λ per grid the piece joins
        slack = inst.lam if plan.grid else 0.0
        best, best_j = math.inf, -1
        for c in np.argsort(walk, kind="stable").tolist():
            if walk[c] - slack >= best:
                break
            j = int(cols[c])
            trial.clients += len(piece) + 1
            d = plan.delta(piece, [int(cand[j])] * len(piece), arcs[:, j].tolist())
            if d < best:
                best, best_j = d, j
        if best_j < 0 or (need_gain and best >= -EPS):
            return False
        t = int(cand[best_j])
        return trial.step(piece, [t] * len(piece), arcs[:, best_j].tolist(), need_gain)

    def lift(self, trial: _Trial, clients: list[int]) -> None:
        """Take ``clients`` off their sites for the trial (placed again by :meth:`place`;
        held at cost 0 meanwhile, the change counted exactly with the grid splits)."""
        plan = self.plan
        inst = plan.inst
        groups: list[int] = []
        if plan.grid and inst.group is not None:
            groups = sorted(set(inst.group[clients].tolist()))
        split = plan.gsites[groups] if groups else np.zeros(0, dtype=np.int64)
        before = float(np.maximum(split - 1, 0).sum())
        for i in clients:
            trial.log.append((i, int(plan.a[i]), float(plan.cc[i])))
            trial.change -= float(plan.cc[i])
            plan.put(i, -1, 0.0)
        if groups:
            after = float(np.maximum(plan.gsites[groups] - 1, 0).sum())
            trial.change += inst.lam * (after - before)
        trial.clients += len(clients)

    def buy(self, trial: _Trial, avoid: tuple[int, ...], max_cost: float) -> bool:
        """Free one table: the cheapest seller (not ``avoid``, not used in this trial, its
        moves still emptying its last table) whose estimated cost is below ``max_cost``."""
        plan = self.plan
        u = plan.inst.unit
        for k, sl in enumerate(self.sellers):
            if sl.cost >= max_cost or trial.buys >= TABLE_BUYS:
                return False
            if k in trial.sold or sl.site in avoid or any(t in avoid for t in sl.targets):
                continue
            s = sl.site
            if not plan.open_mask[s] or any(plan.a[i] != s for i in sl.clients):
                continue  # stale: the plan changed there since the round began
            if not all(plan.open_mask[t] for t in sl.targets):
                continue
            need = int(plan.load[s]) - u * (int(plan.units[s]) - 1)
            if int(plan.inst.demand[sl.clients].sum()) < need:
                continue
            trial.sold.add(k)
            if trial.step(sl.clients, sl.targets, sl.arcs, False):
                trial.buys += 1
                return True
        return False

    def place_all(self, trial: _Trial, clients: I64, avoid: tuple[int, ...]) -> bool:
        """Step 1: every lifted client of the closed site to another open site, by piece;
        a table is bought (:meth:`buy`) when one does not fit anywhere."""
        for piece in self.pieces(clients):
            while not self.place(trial, piece, False):
                if len(piece) > 1:
                    if all(self.place(trial, [i], False) for i in piece):
                        break
                    piece = [i for i in piece if self.plan.a[i] < 0]
                if not self.buy(trial, avoid, math.inf):
                    return False
        return True

    def fill(self, trial: _Trial, b: int, avoid: tuple[int, ...]) -> None:
        """Step 2: clients whose arc to ``b`` beats their current cost move in (their whole
        piece when that improves, else alone), largest saving first; a table is bought
        (:meth:`buy`) when the savings a new table at ``b`` admits exceed its estimate."""
        plan = self.plan
        inst = plan.inst
        arcs = self.by_site[self.site_ptr[b] : self.site_ptr[b + 1]]
        cli = inst.cli[arcs].astype(np.int64)
        saving = plan.cc[cli] - inst.cost[arcs]
        keep = saving > EPS
        order = np.argsort(-saving[keep], kind="stable")
        arcs, cli, saving = arcs[keep][order], cli[keep][order], saving[keep][order]
        moved: set[int] = set()
        for k in range(cli.shape[0]):
            i = int(cli[k])
            if i in moved or plan.a[i] == b:
                continue
            trial.calls += 1
            s = int(plan.a[i])
            piece = [i]
            if plan.grid and s >= 0 and inst.group is not None:
                mates = self.mates(i, s)
                if mates.shape[0] > 1:
                    piece = mates.tolist()
            pa = [int(arcs[k])]
            if len(piece) > 1:
                pa_all = inst.arc_index(np.asarray(piece), np.full(len(piece), b))
                if np.all(pa_all >= 0):
                    pa = pa_all.tolist()
                else:
                    piece = [i]
            for _ in range(2):
                if trial.step(piece, [b] * len(piece), pa, True):
                    moved.update(piece)
                    break
                if len(piece) > 1 and trial.step([i], [b], [int(arcs[k])], True):
                    moved.add(i)
                    break
                dem = int(inst.demand[piece].sum())
                if not plan.tables or plan.load[b] + dem > inst.cap[b]:
                    break
                if plan.load[b] + dem <= inst.unit * plan.units[b]:
                    break  # not short of a table
                # what one more table at b would seat: the next savings within its seats
                seats = inst.unit * (int(plan.units[b]) + 1) - int(plan.load[b])
                ahead = np.cumsum(inst.demand[cli[k:]]) <= seats
                if not self.buy(trial, avoid, float(saving[k:][ahead].sum())):
                    break

    def repair(self, trial: _Trial, former: list[int]) -> None:
        """Step 3: ``a``'s former clients try again; blocked moves use freed tables."""
        for i in former:
            self.place(trial, [i], True)
        if self.plan.tables and self.plan.spare > 0:
            tries = 0
            for cl, t, ar in self.blocked:
                if self.plan.spare <= 0 or tries >= BLOCKED_TRIES:
                    break
                if not self.plan.open_mask[t] or any(self.plan.a[i] == t for i in cl):
                    continue
                tries += 1
                trial.step(cl, [t] * len(cl), ar, True)

    def attempt(self, a: int, b: int, accept: float = 0.0) -> _Trial:
        """Close ``a`` (−1: none) and open ``b`` (−1: none) with the repair, in both orders
        of steps 1 and 2 when there are both; the better is kept when its change is below
        ``accept`` (0: it improves; inf: any feasible move, a kick's), else the plan is left
        as it was."""
        plan = self.plan
        mask_before = plan.open_mask.copy()
        orders = ORDERS if a >= 0 and b >= 0 else (False,)
        best, best_order = accept, None
        clients = calls = 0
        trial = _Trial(plan)
        for n, b_first in enumerate(orders):
            trial = self._run(a, b, b_first)
            clients, calls = clients + trial.clients, calls + trial.calls
            if trial.change < best - EPS:
                best, best_order = trial.change, b_first
                if n == len(orders) - 1:
                    break  # the last order is the best: keep it as it stands
            trial.undo()
            plan.open_mask[:] = mask_before
        else:
            if best_order is not None:  # an earlier order was better: again
                trial = self._run(a, b, best_order)
                clients, calls = clients + trial.clients, calls + trial.calls
                if not trial.change < accept - EPS:  # (the same steps: never expected)
                    trial.undo()
                    plan.open_mask[:] = mask_before
                    best_order = None
            if best_order is None:
                trial = _Trial(plan)
        if best_order is not None:
            self.n_open += (b >= 0) - (a >= 0)
        trial.clients, trial.calls = clients, calls
        return trial

    def _run(self, a: int, b: int, b_first: bool) -> _Trial:
        """One trial of :meth:`attempt` applied to the plan (change +inf if it fails)."""
        plan = self.plan
        trial = _Trial(plan)
        if b >= 0:
            plan.open_mask[b] = True
        former: list[int] = []
        if a >= 0:
            plan.open_mask[a] = False
            former = self.clients_at(a).tolist()
            self.lift(trial, former)
        avoid = (a, b)
        if b >= 0 and b_first:
            self.fill(trial, b, avoid)
        if a >= 0 and not self.place_all(trial, np.asarray(former, dtype=np.int64), avoid):
            trial.change = math.inf
            return trial
        if b >= 0 and not b_first:
            self.fill(trial, b, avoid)
        self.repair(trial, former)
        if b >= 0 and self.clients_at(b).shape[0] == 0:
            trial.change = math.inf  # an opened site nobody uses: not this move
        return trial


def _estimates(plan: PlanState, n_open: int) -> list[tuple[float, int, int]]:
    """Candidate (estimated change, close a, open b) of one round, best first (module
    docstring: second-best arcs for a closing, savings up to capacity for an opening)."""
    inst = plan.inst
    cli = inst.cli.astype(np.int64)
    site = inst.site.astype(np.int64)
    a = plan.a
    cc = plan.cc
    served = a >= 0
    # each client's cheapest open arc other than its own (arcs are sorted by client, cost)
    alt_ok = plan.open_mask[site] & (site != a[cli])
    idx = np.flatnonzero(alt_ok)
    first = idx[np.r_[True, cli[idx][1:] != cli[idx][:-1]]] if idx.shape[0] else idx
    # without one: its unserved cost, or a stand-in far above any walk (a pair that offers
    # the client a site cancels it exactly)
    alt = np.where(np.isfinite(inst.unserved), inst.unserved, NO_SITE)
    alt[cli[first]] = inst.cost[first]
    closable = plan.open_mask & ~inst.required
    # (float even when no client is served: bincount of nothing is an integer array)
    close_cost = np.bincount(a[served], weights=alt[served] - cc[served], minlength=inst.m).astype(
        np.float64
    )
    close_cost[~closable] = np.inf
    # opening b: the savings of its arcs over the clients' current costs, within capacity
    openable = inst.usable & ~plan.open_mask
    sav = cc[cli] - inst.cost
    arc_ok = openable[site] & (sav > 0)
    ia = np.flatnonzero(arc_ok)
    ia = ia[np.lexsort((-sav[ia], site[ia]))]
    dem = inst.demand[cli[ia]]
    cum = np.cumsum(dem)
    starts = np.flatnonzero(np.r_[True, site[ia][1:] != site[ia][:-1]]) if ia.shape[0] else ia
    base = np.repeat(cum[starts] - dem[starts], np.diff(np.r_[starts, ia.shape[0]]))
    within = (cum - base) <= inst.cap[site[ia]]
    open_gain = np.bincount(site[ia][within], weights=sav[ia][within], minlength=inst.m).astype(
        np.float64
    )
    out: dict[tuple[int, int], float] = {}
    if n_open <= inst.p_max and np.any(openable):
        # pairs sharing clients: client i of a with an arc to b counts once
        src = a[cli]
        pair = openable[site] & (src >= 0) & closable[np.maximum(src, 0)]
        ip = np.flatnonzero(pair)
        c_ib = inst.cost[ip]
        ci = cli[ip]
        corr = np.minimum(alt[ci], c_ib) - alt[ci] + np.maximum(0.0, cc[ci] - c_ib)
        keys = src[ip] * inst.m + site[ip]
        uk, inv = np.unique(keys, return_inverse=True)
        tot = np.bincount(inv, weights=corr, minlength=uk.shape[0]).astype(np.float64)
        ka, kb = uk // inst.m, uk % inst.m
        est = close_cost[ka] - open_gain[kb] + tot
        for x, y, e in zip(ka.tolist(), kb.tolist(), est.tolist(), strict=True):
            out[x, y] = e
        # far pairs: the cheapest closings with the best openings
        ca = np.flatnonzero(np.isfinite(close_cost))
        ca = ca[np.argsort(close_cost[ca], kind="stable")][:FAR_SITES]
        ob = np.flatnonzero(openable & (open_gain > 0))
        ob = ob[np.argsort(-open_gain[ob], kind="stable")][:FAR_SITES]
        for x in ca.tolist():
            for y in ob.tolist():
                out.setdefault((x, y), float(close_cost[x] - open_gain[y]))
    if n_open > inst.p_min:
        ca = np.flatnonzero(np.isfinite(close_cost))
        for x in ca[np.argsort(close_cost[ca], kind="stable")][:FAR_SITES].tolist():
            out[x, -1] = float(close_cost[x])
    if n_open < inst.p_max:
        ob = np.flatnonzero(openable & (open_gain > 0))
        for y in ob[np.argsort(-open_gain[ob], kind="stable")][:FAR_SITES].tolist():
            out[-1, y] = -float(open_gain[y])
    ranked = sorted(((e, x, y) for (x, y), e in out.items() if math.isfinite(e)))
    return ranked


def _blocked(plan: PlanState) -> list[tuple[list[int], int, list[int]]]:
    """Improving single-client moves that fit their target's capacity but need one more
    table than the plan has spare, best first (what a step that frees tables can pay for)."""
    inst = plan.inst
    if not plan.tables:
        return []
    cli = inst.cli.astype(np.int64)
    site = inst.site.astype(np.int64)
    ch = inst.cost - plan.cc[cli]
    ok = plan.open_mask[site] & (site != plan.a[cli]) & (ch < -EPS)
    ok &= plan.load[site] + inst.demand[cli] <= inst.cap[site]
    ok &= plan.load[site] + inst.demand[cli] > inst.unit * plan.units[site]
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(ch[idx], kind="stable")][: 4 * BLOCKED_TRIES]
    return [([int(cli[k])], int(site[k]), [int(k)]) for k in idx.tolist()]


@dataclass
class _RoundResult:
    """What one round of site moves did: its work, its exact gain and whether the plan is
    left where the site moves cannot go on (a round that kept nothing, none left untried)."""

    work: float = 0.0
    gain: float = 0.0
    kept: int = 0
    done: bool = False
    tried: int = 0
    checks: int = 0
    calls: int = 0
    wall_cut: bool = False
    applied: dict[str, int] = field(default_factory=dict)


def _round_work(inst: Instance) -> float:
    """Work of one round's passes over the arcs (its trials are counted on top)."""
    return ROUND_ARC_PASSES * work.ARC_PASS * max(inst.k, 1)


@dataclass
class _SiteRounds:
    """Rounds of site moves on one instance: its arc and grid index (built once) and the
    per-site try cap, kept from round to round while other steps change the plan between."""

    search: _Search
    round_work: float
    cap: int = SITE_TRIES

    @classmethod
    def of(cls, plan: PlanState) -> _SiteRounds:
        """Index ``plan``'s instance (its work: :meth:`index_work`)."""
        return cls(_Search.of(plan), _round_work(plan.inst))

    def index_work(self) -> float:
        """Work of building the site index of the arcs."""
        return self.round_work / 2

    def bind(self, plan: PlanState) -> None:
        """Run the next rounds on ``plan`` (same instance, possibly changed sites)."""
        self.search.plan = plan
        self.search.n_open = int(np.count_nonzero(plan.open_mask))

    def round(self, work_limit: float, deadline: float = math.inf) -> _RoundResult:
        """One round on the bound plan within ``work_limit`` (nothing when a round's passes do
        not fit): candidates by estimate, each tried and kept only when it pays."""
        out = _RoundResult()
        if self.round_work > work_limit:
            return out
        search = self.search
        plan = search.plan
        inst = plan.inst
        out.work = self.round_work
        cands = _estimates(plan, search.n_open)
        search.blocked = _blocked(plan)
        search.sellers = _sellers(plan)
        dirty = np.zeros(inst.m, dtype=np.bool_)
        tries = np.zeros(inst.m, dtype=np.int64)  # candidates tried per site this round
        capped = False
        for est, a, b in cands:
            if est >= 0:
                break  # the rest are not expected to pay
            if (a >= 0 and dirty[a]) or (b >= 0 and dirty[b]):
                continue
            if (a >= 0 and not plan.open_mask[a]) or (b >= 0 and plan.open_mask[b]):
                continue
            if (b >= 0) > (a >= 0) and search.n_open >= inst.p_max:
                continue
            if (a >= 0) > (b >= 0) and search.n_open <= inst.p_min:
                continue
            if (a >= 0 and tries[a] >= self.cap) or (b >= 0 and tries[b] >= self.cap):
                capped = True
                continue
            tries[[x for x in (a, b) if x >= 0]] += 1
            trial = search.attempt(a, b)
            out.tried += 1
            out.work += trial.clients * CLIENT_CHECK_SECONDS + trial.calls * CALL_SECONDS
            out.checks += trial.clients
            out.calls += trial.calls
            if trial.log:
                out.kept += 1
                out.gain -= trial.change
                kind = "close-open" if a >= 0 and b >= 0 else "close" if a >= 0 else "open"
                out.applied[kind] = out.applied.get(kind, 0) + 1
                touched = [s for _, s, _ in trial.log if s >= 0]
                touched += [int(plan.a[i]) for i, _, _ in trial.log if plan.a[i] >= 0]
                dirty[touched] = True
            if out.work >= work_limit:
                capped = True  # candidates left untried: not done
                break
            if time.perf_counter() >= deadline:
                out.wall_cut = True
                break
        if not out.kept and not out.wall_cut:
            if capped:
                self.cap *= 2  # the sites' further candidates, in the next round
            else:
                out.done = True
        return out


def improve_sites(
    inst: Instance,
    assign: NDArray[np.integer],
    open_mask: B,
    *,
    work_limit: float,
    max_rounds: int = 20,
    deadline: float = math.inf,
) -> SiteMoves:
    """Close–open, close and open steps with their reassignment (module docstring), kept only
    when they lower the objective; rounds until one keeps nothing, ``max_rounds`` or the
    estimated work reaches ``work_limit`` (or the wall clock ``deadline``, a
    :func:`time.perf_counter` value: a safety stop, reported as ``wall_cut``)."""
    plan = PlanState.of(inst, assign, open_mask.copy())
    runner = _SiteRounds.of(plan)
    spent = runner.index_work()
    applied: dict[str, int] = {}
    gain = 0.0
    rounds = tried = checks = calls = 0
    wall_cut = False
    while rounds < max_rounds:
        res = runner.round(work_limit - spent, deadline)
        if res.work == 0.0:
            break
        rounds += 1
        spent += res.work
        gain += res.gain
        tried, checks, calls = tried + res.tried, checks + res.checks, calls + res.calls
        for k, v in res.applied.items():
            applied[k] = applied.get(k, 0) + v
        wall_cut = res.wall_cut
        if res.done or wall_cut or spent >= work_limit:
            break
    return SiteMoves(
        plan.a.astype(np.int32),
        plan.open_mask.copy(),
        spent,
        rounds,
        gain,
        applied,
        tried,
        checks,
        calls,
        wall_cut,
    )


def force_moves(
    inst: Instance, assign: NDArray[np.integer], open_mask: B, pairs: list[tuple[int, int]]
) -> tuple[NDArray[np.int32], B, float]:
    """Close ``a`` and open ``b`` for each pair with the repair (module docstring), kept
    whenever feasible even when it costs: the perturbation of an iterated local search,
    which the site moves and an assignment MIP then descend from. Pairs whose ``a`` is closed,
    whose ``b`` is open or whose clients cannot all be placed are skipped (each pair is one
    :meth:`_Search.attempt` that accepts any feasible change). Returns the plan and the work
    (the site index plus the client checks and look-ups made)."""
    plan = PlanState.of(inst, np.asarray(assign, dtype=np.int32).copy(), open_mask.copy())
    search = _Search.of(plan)  # no blocked moves or table sellers: a kick buys no tables
    spent = _round_work(inst) / 2
    for a, b in pairs:
        if not plan.open_mask[a] or plan.open_mask[b] or not inst.usable[b]:
            continue
        trial = search.attempt(a, b, accept=math.inf)
        spent += trial.clients * CLIENT_CHECK_SECONDS + trial.calls * CALL_SECONDS
    return plan.a.astype(np.int32), plan.open_mask.copy(), spent


def reserve_work(arcs: int, budget: float) -> float:
    """Work a caller keeps for :func:`improve_on_clock` on a plan with ``arcs`` arcs: the
    reallocation's reserve (:func:`solver.location.reallocate.reserve_work`) plus
    :data:`SITE_SHARE` of ``budget``; the rounds share it as :func:`next_kind` decides."""
    return reallocate.reserve_work(arcs, budget) + SITE_SHARE * budget


def next_kind(rate: dict[str, float | None], stale: set[str]) -> str | None:
    """The kind of the next round (:data:`KINDS`), None when every kind is ``stale`` (it found
    nothing on the plan as it is, or no round of it fits in the work left).

    Each kind is tried once, in the order of :data:`KINDS` (``rate`` None: not tried yet);
    then the round goes to the kind whose last round gained most per unit of work (``rate``),
    the earlier kind of :data:`KINDS` on a tie: a deterministic adaptive schedule (as in
    adaptive large-neighbourhood search) that leaves the reallocation's slow last rounds to
    the site moves when these pay more, and the reverse.
    """
    best, best_rate = None, -math.inf
    for kind in KINDS:
        if kind in stale:
            continue
        r = rate[kind]
        r = math.inf if r is None else r
        if r > best_rate:
            best, best_rate = kind, r
    return best


def improve_on_clock(
    inst: Instance, assign: NDArray[np.integer], open_mask: B, clock: WorkClock, limit: float
) -> tuple[NDArray[np.int32], B]:
    """Reallocation rounds and site-move rounds on the final plan within ``limit`` of work
    charged to ``clock`` (phases ``reallocate`` and ``site_moves``), each round given to the
    kind :func:`next_kind` picks. The caller offers the result: never worse, and feasible
    whenever the plan given is."""
    a = np.asarray(assign, dtype=np.int32).copy()
    mask = open_mask.copy()
    if time.perf_counter() >= clock.wall_deadline:
        clock.wall_cut()
        return a, mask
    runner: _SiteRounds | None = None
    rate: dict[str, float | None] = dict.fromkeys(KINDS)
    found_nothing: set[str] = set()  # on the plan as it is now
    no_room: set[str] = set()  # a round of this kind no longer fits
    left = max(0.0, limit)
    while (kind := next_kind(rate, found_nothing | no_room)) is not None:
        done = True
        if kind == REALLOCATE:
            res = reallocate.reallocate(inst, a, mask, work_limit=left, max_rounds=1)
            spent, gain, a = res.work, res.gain, res.assign
        else:
            if runner is None and 3 * _round_work(inst) / 2 > left:
                no_room.add(kind)  # the index and one round do not fit
                continue
            plan = PlanState.of(inst, a, mask)
            if runner is None:
                runner = _SiteRounds.of(plan)
                clock.charge(runner.index_work(), kind)
                left -= runner.index_work()
            runner.bind(plan)
            site = runner.round(left, clock.wall_deadline)
            spent, gain, done = site.work, site.gain, site.done
            a, mask = plan.a.astype(np.int32), plan.open_mask.copy()
            if site.wall_cut:
                clock.charge(spent, kind)
                clock.wall_cut()
                break
        if spent == 0.0:
            no_room.add(kind)
            continue
        clock.charge(spent, kind)
        left -= spent
        rate[kind] = gain / spent
        if gain > EPS:
            found_nothing.clear()  # the plan changed: the other kind may find more
        elif done:
            found_nothing.add(kind)
        if time.perf_counter() >= clock.wall_deadline:
            clock.wall_cut()
            break
    return a, mask
