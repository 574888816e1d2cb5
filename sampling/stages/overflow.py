"""After the location engine: tables to a target utilisation, and residents beyond capacity.

The engine (:mod:`solver.location.engine`) assigns buildings to points with tables of full
capacity ``U`` (one table's residents in the window) under the staffable-table cap ``T``. This
module turns that plan into the one the day can run, in greedy passes over the arcs
(building–point pairs within the walking limit), each cheap and each keeping every plan rule
(arcs only, open points only, ``max_tables`` per point, at most ``T`` tables in all):

1. **Fill** — a building the engine left unserved although a point is in reach goes to a
   reachable open point with room (first within the target, then within full capacity, adding
   tables while staff allows; a candidate point may be opened while ``max_open_points``
   allows), the cheapest such move first.
2. **Level** — a point planned above the *effective target* gets tables added (while staff and
   its site allow) or hands buildings (alone, or a grid's buildings there together) to
   reachable open points below the target, the cheapest per resident first (walking +
   grid-split penalty, the engine's own cost): no point above the target while there is room
   elsewhere. The effective target is ``target_utilisation`` when the staffed tables can take
   every reachable resident at it (``T × U × target ≥ demand``), else 1: full capacity, the
   staff cannot afford the slack (levelling to the lowest level the staff allows cost the
   generated 1,000,000-resident district 10 points of gap for no simulated benefit).
3. **Trim** — tables no longer needed at the effective target are released (never below
   ``ceil(load ÷ U)``).
4. **Overflow** — buildings still without a point although one is in reach (the staffed
   tables cannot take them in the window) go to the reachable open point with tables where
   they add the least overtime per table (``(load + walk-in − tables × U) ÷ tables``), closest
   first among equals. With ``overflow = "overtime"`` they are assigned there and called after
   the window; with ``"unserved"`` they stay unserved and the placement is only used to size
   the deficit, the window extension and the capacity plan.
5. **Balance** (overtime only, when some point runs past the window) — the staffable tables
   are spread in proportion to the points' loads (:func:`_reallocate_tables`), then buildings
   move off the point with the most overtime per table while that lowers it
   (:func:`_balance`): the window extension is the longest point's overtime, so it is made as
   short as the staff and walking reach allow.

Costs are tracked as the engine counts them (resident-metres, the unserved charge, the
grid-split penalty) for passes 1–3, which keep a plan the engine's model accepts, so its cost
stays an upper bound against the engine's lower bound. Passes 4–5 go beyond the model (it has
no overtime): the objective stays that of the in-window plan, residents placed in overtime
charged as unserved.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class Arcs:
    """Building–point arcs sorted by building: ``start[b]:start[b + 1]`` are ``b``'s arcs."""

    start: I64
    point: I64
    walk_m: F64

    @classmethod
    def of(cls, n: int, building: I64, point: I64, walk_m: F64) -> Arcs:
        """Arcs of ``n`` buildings from unsorted pairs."""
        order = np.lexsort((walk_m, building))
        counts = np.bincount(building, minlength=n)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(start, point[order].astype(np.int64), walk_m[order].astype(np.float64))

    def of_building(self, b: int) -> tuple[I64, F64]:
        """Points and walks of building ``b`` (nearest first)."""
        lo, hi = int(self.start[b]), int(self.start[b + 1])
        return self.point[lo:hi], self.walk_m[lo:hi]


@dataclass(frozen=True)
class Levelled:
    """The plan after the passes: point per building (-1 unserved), tables and load per point,
    open points, the effective target, the cost change of passes 1–3 (walking, unserved charge,
    grid-split penalty), buildings placed beyond capacity (``overflow_point`` ≥ 0; with
    ``apply_overflow`` they are also in ``site``) and counts of what each pass did."""

    site: I64
    tables: I64
    load: I64
    open: B
    target: float
    delta_walk: float
    delta_unserved: float
    delta_grid: float
    overflow_point: I64
    filled: int
    moved: int
    tables_added: int
    tables_released: int
    balanced: int = 0

    @property
    def changed(self) -> bool:
        """Whether passes 1–3 changed the engine's plan (its cost may then differ)."""
        return bool(self.filled or self.moved or self.tables_added or self.tables_released)


class _State:
    """Mutable plan state shared by the passes."""

    def __init__(
        self,
        demand: I64,
        site: I64,
        tables: I64,
        open_: B,
        max_tables: I64,
        unit: float,
        table_cap: int,
        group: I64,
        group_penalty: float,
    ) -> None:
        self.demand = demand
        self.site = site.astype(np.int64).copy()
        self.tables = tables.astype(np.int64).copy()
        self.open = open_.astype(bool).copy()
        self.max_tables = max_tables.astype(np.int64)
        self.unit = unit
        self.table_cap = table_cap
        self.group = group
        self.penalty = group_penalty
        served = self.site >= 0
        self.load = np.bincount(
            self.site[served], weights=demand[served], minlength=tables.size
        ).astype(np.int64)
        self.pairs: dict[tuple[int, int], int] = defaultdict(int)
        self.points_of: dict[int, int] = defaultdict(int)  # distinct points per grid
        for b in np.flatnonzero(served).tolist():
            key = (int(group[b]), int(self.site[b]))
            if self.pairs[key] == 0:
                self.points_of[key[0]] += 1
            self.pairs[key] += 1

    @property
    def tables_total(self) -> int:
        return int(self.tables.sum())

    def grid_delta(self, b: int, to: int) -> float:
        """Grid-split penalty change of moving building ``b`` to point ``to`` (-1: unserved):
        λ × the change of max(0, distinct points of its grid − 1)."""
        if self.penalty <= 0:
            return 0.0
        g, frm = int(self.group[b]), int(self.site[b])
        if frm == to:
            return 0.0
        before = self.points_of.get(g, 0)
        after = before
        if frm >= 0 and self.pairs.get((g, frm), 0) == 1:
            after -= 1
        if to >= 0 and self.pairs.get((g, to), 0) == 0:
            after += 1
        return self.penalty * (max(after - 1, 0) - max(before - 1, 0))

    def group_delta(self, members: tuple[int, ...], to: int) -> float:
        """Grid-split penalty change of moving buildings ``members`` (one grid, one point)
        together to ``to``."""
        if len(members) == 1:
            return self.grid_delta(members[0], to)
        if self.penalty <= 0:
            return 0.0
        g, frm = int(self.group[members[0]]), int(self.site[members[0]])
        before = self.points_of.get(g, 0)
        after = before
        if self.pairs.get((g, frm), 0) == len(members):
            after -= 1
        if self.pairs.get((g, to), 0) == 0:
            after += 1
        return self.penalty * (max(after - 1, 0) - max(before - 1, 0))

    def move(self, b: int, to: int) -> None:
        """Move building ``b`` to point ``to`` (``-1``: unserved)."""
        g, frm, d = int(self.group[b]), int(self.site[b]), int(self.demand[b])
        if frm >= 0:
            self.load[frm] -= d
            self.pairs[(g, frm)] -= 1
            if self.pairs[(g, frm)] == 0:
                del self.pairs[(g, frm)]
                self.points_of[g] -= 1
        if to >= 0:
            self.load[to] += d
            if self.pairs[(g, to)] == 0:
                self.points_of[g] += 1
            self.pairs[(g, to)] += 1
        self.site[b] = to

    def tables_for(self, load: float, share: float) -> int:
        """Tables that keep ``load`` at or below ``share`` of their capacity."""
        return max(math.ceil(load / (self.unit * share) - 1e-9), 1 if load > 0 else 0)

    def room(self, k: int, extra: int, share: float) -> int:
        """Tables to add at ``k`` so it takes ``extra`` more residents within ``share`` of its
        capacity (0: fits as is), or -1 when its site or the staff cannot."""
        need = self.tables_for(float(self.load[k] + extra), share) - int(self.tables[k])
        if need <= 0:
            return 0
        if self.tables[k] + need > self.max_tables[k]:
            return -1
        if self.tables_total + need > self.table_cap:
            return -1
        return need


def _level_options(
    st: _State, arcs: Arcs, j: int
) -> list[tuple[float, float, tuple[int, ...], int]]:
    """Ways to take load off point ``j``: single buildings, and each grid's buildings at ``j``
    together (no new grid split), to every other open point all of them reach. Sorted by
    cost per resident moved (walking + grid-split penalty), then cost."""
    mine = [b for b in np.flatnonzero(st.site == j).tolist() if st.demand[b] > 0]
    walks: dict[int, dict[int, float]] = {}
    for b in mine:
        pts, ws = arcs.of_building(b)
        walks[b] = dict(zip(pts.tolist(), ws.tolist(), strict=True))
    groups: dict[int, list[int]] = defaultdict(list)
    for b in mine:
        groups[int(st.group[b])].append(b)
    candidates: list[tuple[int, ...]] = [(b,) for b in mine]
    candidates += [tuple(members) for members in groups.values() if len(members) > 1]
    options: list[tuple[float, float, tuple[int, ...], int]] = []
    for members in candidates:
        reach = set(walks[members[0]])
        for b in members[1:]:
            reach &= set(walks[b])
        d = int(st.demand[list(members)].sum())
        for k in reach:
            if k == j or not st.open[k] or st.tables[k] <= 0:
                continue
            walk = sum((walks[b][k] - walks[b][j]) * int(st.demand[b]) for b in members)
            cost = walk + st.group_delta(members, k)
            options.append((cost / d, cost, members, k))
    options.sort()
    return options


def effective_target(target: float, demand_reachable: int, table_cap: int, unit: float) -> float:
    """``target`` when ``table_cap`` tables of ``unit`` residents take the reachable demand at
    it, else 1 (full capacity: the staff cannot afford the slack, and what does not fit runs
    into overtime)."""
    capacity = table_cap * unit
    if capacity > 0 and capacity * target >= demand_reachable:
        return float(target)
    return 1.0


def level(
    *,
    demand: I64,
    site: I64,
    tables: I64,
    open_: B,
    usable: B,
    max_tables: I64,
    max_open: int | None,
    arcs: Arcs,
    unit: float,
    table_cap: int,
    target: float,
    group: I64,
    group_penalty: float,
    unserved_cost: F64,
    apply_overflow: bool,
) -> Levelled:
    """Run the passes (see the module docstring) on the engine's plan."""
    n = demand.size
    st = _State(demand, site, tables, open_, max_tables, unit, table_cap, group, group_penalty)
    has_arc = np.diff(arcs.start) > 0
    reachable = int(demand[has_arc].sum())
    share = effective_target(target, reachable, table_cap, unit)
    delta_walk = delta_unserved = delta_grid = 0.0
    filled = moved = added = 0

    def walk_of(b: int, k: int) -> float:
        pts, walks = arcs.of_building(b)
        return float(walks[np.flatnonzero(pts == k)[0]])

    # 1. fill: unserved buildings with an arc, largest first (hardest to place)
    waiting = np.flatnonzero((st.site < 0) & has_arc & (demand > 0)).tolist()
    waiting.sort(key=lambda b: (-int(demand[b]), b))
    for b in waiting:
        d = int(demand[b])
        pts, walks = arcs.of_building(b)
        best: tuple[int, float, int, int] | None = None  # (class, cost, point, tables to add)
        for k, w in zip(pts.tolist(), walks.tolist(), strict=True):
            if not usable[k]:
                continue
            if st.open[k]:
                for cls, frac in ((0, share), (1, 1.0)):
                    need = st.room(k, d, frac)
                    if need >= 0:
                        cost = d * w + st.grid_delta(b, k)
                        cand = (cls * 2 + (1 if need else 0), cost, k, need)
                        if best is None or cand[:2] < best[:2]:
                            best = cand
                        break
            elif max_open is None or int(st.open.sum()) < max_open:
                need = st.tables_for(float(d), share)
                if need <= st.max_tables[k] and st.tables_total + need <= table_cap:
                    cost = d * w + st.grid_delta(b, k)
                    cand = (4, cost, k, need)
                    if best is None or cand[:2] < best[:2]:
                        best = cand
        if best is None:
            continue
        _, _, k, need = best
        delta_grid += st.grid_delta(b, k)
        delta_walk += d * walk_of(b, k)
        delta_unserved -= float(unserved_cost[b])
        st.open[k] = True
        st.tables[k] += need
        added += need
        st.move(b, k)
        filled += 1

    # 2. level: points above the effective target, fullest first
    for j in np.argsort(-(st.load / np.maximum(st.tables, 1)), kind="stable").tolist():
        if not st.open[j] or st.load[j] <= share * st.tables[j] * unit + 1e-9:
            continue
        need = st.room(j, 0, share)
        if need > 0:
            st.tables[j] += need
            added += need
            continue
        options = _level_options(st, arcs, j)
        for _, _, members, k in options:
            if st.load[j] <= share * st.tables[j] * unit + 1e-9:
                break
            if any(st.site[b] != j for b in members):
                continue
            if st.room(k, int(demand[list(members)].sum()), share) != 0:
                continue
            delta_grid += st.group_delta(members, k)
            for b in members:
                delta_walk += (walk_of(b, k) - walk_of(b, j)) * int(demand[b])
                st.move(b, k)
            moved += len(members)

    # 3. trim tables the effective target no longer needs
    released = 0
    for j in np.flatnonzero(st.open).tolist():
        keep = max(
            math.ceil(st.load[j] / unit - 1e-9),
            min(int(st.tables[j]), st.tables_for(float(st.load[j]), share)),
        )
        if st.load[j] == 0:
            keep = 0  # nobody left at it: no tables to staff
        if keep < st.tables[j]:
            released += int(st.tables[j]) - keep
            st.tables[j] = keep

    # 4. overflow: what the staffed tables cannot take in the window
    overflow = np.full(n, -1, dtype=np.int64)
    extra = np.zeros(st.tables.size, dtype=np.int64)  # hypothetical load (unserved mode)
    left = np.flatnonzero((st.site < 0) & has_arc & (demand > 0)).tolist()
    left.sort(key=lambda b: (-int(demand[b]), b))
    for b in left:
        d = int(demand[b])
        pts, walks = arcs.of_building(b)
        best_k, best_key = -1, (math.inf, math.inf)
        for k, w in zip(pts.tolist(), walks.tolist(), strict=True):
            if not st.open[k] or st.tables[k] <= 0:
                continue
            excess = (st.load[k] + extra[k] + d - st.tables[k] * unit) / st.tables[k]
            key = (excess, w)
            if key < best_key:
                best_k, best_key = k, key
        if best_k < 0 and apply_overflow:
            best_k = _open_for_overflow(st, pts, walks, d, usable, max_open)
        if best_k < 0:
            continue
        overflow[b] = best_k
        if apply_overflow:
            st.move(b, best_k)
        else:
            extra[best_k] += d
    balanced = 0
    if apply_overflow and np.any(st.open & (st.load > st.tables * unit)):
        _reallocate_tables(st)
        balanced = _balance(st, arcs, overflow)
    return Levelled(
        site=st.site,
        tables=st.tables,
        load=st.load,
        open=st.open,
        target=share,
        delta_walk=delta_walk,
        delta_unserved=delta_unserved,
        delta_grid=delta_grid,
        overflow_point=overflow,
        filled=filled,
        moved=moved,
        tables_added=added,
        tables_released=released,
        balanced=balanced,
    )


def _open_for_overflow(
    st: _State, pts: I64, walks: F64, demand: int, usable: B, max_open: int | None
) -> int:
    """The nearest usable point of ``pts`` (a building's arcs) without tables, opened for a
    building that no open point with tables reaches, with the tables its load needs at full capacity
    (at least one, within the point's ``max_tables`` and the staff's table cap), while the
    open-point limit allows; -1 if none can open. Without it a building too large for the
    window's capacity at the one point in its reach is left without a point although staff
    and the open-point limit would allow that point (its reason would wrongly name them)."""
    spare = st.table_cap - st.tables_total
    may_open = max_open is None or int(st.open.sum()) < max_open
    for i in np.argsort(walks, kind="stable").tolist():
        k = int(pts[i])
        if st.tables[k] > 0 or not usable[k] or st.max_tables[k] <= 0 or spare <= 0:
            continue
        if not st.open[k] and not may_open:
            continue  # an open point without tables (trimmed) needs no new opening
        tables = max(1, min(int(st.max_tables[k]), spare, math.ceil(demand / st.unit - 1e-9)))
        st.open[k] = True
        st.tables[k] = tables
        return k
    return -1


def _reallocate_tables(st: _State) -> None:
    """Pass 5a (overtime): the staffable tables to the points in proportion to their load.

    When some point must run past the window, the round ends when the point with the most
    residents per table finishes; the tables (samplers) are one pool, so they are spread to
    minimise the largest load ÷ tables: the smallest ``F`` with
    ``Σ max(1, ceil(load ÷ F)) ≤ T`` (each point within its ``max_tables``), found by
    bisection, then any tables left go to the points with the most residents per table.
    Kept only if it lowers the largest load per table without putting more residents past
    the window in all.
    """
    active = np.flatnonzero(st.open & (st.load > 0))
    if active.size == 0 or active.size > st.table_cap:
        return
    load = st.load[active].astype(np.float64)
    top = st.max_tables[active].astype(np.float64)
    if np.any(top < 1):
        return
    before = float(np.max(load / np.maximum(st.tables[active], 1)))

    def need(f: float) -> NDArray[np.int64]:
        return np.maximum(np.ceil(load / f - 1e-9), 1).astype(np.int64)

    lo, hi = float(np.max(load / top)), float(np.max(load))
    if need(lo).sum() <= st.table_cap:
        hi = lo
    for _ in range(60):
        if hi - lo <= 1e-6 * max(hi, 1.0):
            break
        mid = (lo + hi) / 2
        if need(mid).sum() <= st.table_cap:
            hi = mid
        else:
            lo = mid
    tables = np.minimum(need(hi), top.astype(np.int64))
    spare = st.table_cap - int(tables.sum())
    while spare > 0:
        room = tables < top
        if not room.any():
            break
        k = int(np.argmax(np.where(room, load / tables, -np.inf)))
        tables[k] += 1
        spare -= 1
    unit = st.unit
    excess_before = float(np.maximum(load - st.tables[active] * unit, 0).sum())
    excess_after = float(np.maximum(load - tables * unit, 0).sum())
    # better for the longest point, and never more residents past the window in all
    if float(np.max(load / tables)) < before - 1e-9 and excess_after <= excess_before + 1e-9:
        st.tables[active] = tables


def _balance(st: _State, arcs: Arcs, overflow: I64) -> int:
    """Pass 5 (overtime): move buildings off the point with the most overtime per table.

    The window extension is set by the point whose excess per table, ``(load − tables × U) ÷
    tables``, is largest. While a building there can go to another reachable open point so
    that the larger of the two excesses drops, the move that drops it most is made (the
    shorter walk among equals); a point that cannot improve ends the pass, since it then
    sets the extension. Returns the moves made (``overflow`` follows the moved overtime
    buildings).
    """
    unit = st.unit
    active = st.open & (st.tables > 0)
    per_table = np.maximum(st.tables, 1).astype(np.float64)
    moves = 0
    for _ in range(int(st.site.size)):
        ratio = np.where(active, (st.load - st.tables * unit) / per_table, -np.inf)
        j = int(np.argmax(ratio))
        worst = float(ratio[j])
        if not worst > 0:
            break
        best: tuple[float, float, int, int] | None = None
        for b in np.flatnonzero(st.site == j).tolist():
            d = int(st.demand[b])
            if d <= 0:
                continue
            pts, walks = arcs.of_building(b)
            here = float(walks[np.flatnonzero(pts == j)[0]])
            left = worst - d / per_table[j]
            for k, w in zip(pts.tolist(), walks.tolist(), strict=True):
                if k == j or not active[k]:
                    continue
                peak = max(left, float(ratio[k]) + d / per_table[k])
                if peak < worst - 1e-9:
                    cand = (peak, (w - here) * d, b, k)
                    if best is None or cand[:2] < best[:2]:
                        best = cand
        if best is None:
            break
        _, _, b, k = best
        if overflow[b] >= 0:
            overflow[b] = k
        st.move(b, k)
        moves += 1
    return moves
