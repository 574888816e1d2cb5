"""Grid consolidation: merge a grid's stray buildings into a site the grid already uses.

A grid (client group) split over several sites costs λ per extra site. For each split group,
the clients it sends to one site are moved, together, to another site the group already uses
when every move has an arc, the target keeps within its capacity, the table limit still holds,
and the extra assignment cost is below λ. Greedy, best saving first per group; the caller
re-checks the result with :func:`solver.location.model.evaluate` before keeping it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from solver.location.model import I32, B, Instance, units_of


def group_members(inst: Instance) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Clients sorted by grid and the pointers ``ptr`` (grid g's members are
    ``order[ptr[g]:ptr[g + 1]]``); empty when the instance has no grids."""
    if inst.group is None:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    order = np.argsort(inst.group, kind="stable").astype(np.int64)
    ptr = np.searchsorted(inst.group[order], np.arange(inst.n_groups + 1)).astype(np.int64)
    return order, ptr


def consolidate_groups(inst: Instance, assign: I32, open_mask: B) -> I32:
    """A copy of ``assign`` with split groups merged where that lowers the objective."""
    result = assign.copy()
    if inst.group is None or inst.n_groups == 0 or inst.lam <= 0:
        return result
    served = np.flatnonzero(result >= 0)
    if served.size == 0:
        return result
    load = np.bincount(result[served], weights=inst.demand[served], minlength=inst.m).astype(
        np.int64
    )
    units = units_of(inst, load, open_mask)
    spare_units = inst.units_total - int(units.sum())
    group = inst.group[served].astype(np.int64)
    site = result[served].astype(np.int64)
    key = group * inst.m + site
    pairs = np.unique(key)
    per_group = np.bincount(pairs // inst.m, minlength=inst.n_groups)
    split = np.flatnonzero(per_group > 1)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], split)
    ends = np.searchsorted(group[order], split, side="right")
    for g_start, g_end in zip(starts.tolist(), ends.tolist(), strict=True):
        clients = served[order[g_start:g_end]]
        improved = True
        while improved:
            improved = False
            sites_used = np.unique(result[clients])
            if sites_used.size < 2:
                break
            best: tuple[float, int, int] | None = None
            for source in sites_used.tolist():
                movers = clients[result[clients] == source]
                moved = int(inst.demand[movers].sum())
                now = inst.cost[inst.arc_index(movers, np.full(movers.size, source))].sum()
                for target in sites_used.tolist():
                    if target == source or load[target] + moved > inst.cap[target]:
                        continue
                    arcs = inst.arc_index(movers, np.full(movers.size, target))
                    if np.any(arcs < 0):
                        continue
                    delta = float(inst.cost[arcs].sum() - now) - inst.lam
                    if delta >= 0 or (best is not None and delta >= best[0]):
                        continue
                    if inst.unit > 0:
                        new_t = -(-(load[target] + moved) // inst.unit)
                        new_s = -(-(load[source] - moved) // inst.unit)
                        extra = int(new_t - units[target] + new_s - units[source])
                        if extra > spare_units:
                            continue
                    best = (delta, source, target)
            if best is not None:
                _, source, target = best
                movers = clients[result[clients] == source]
                moved = int(inst.demand[movers].sum())
                result[movers] = target
                load[source] -= moved
                load[target] += moved
                if inst.unit > 0:
                    before = int(units[source] + units[target])
                    units[source] = -(-load[source] // inst.unit)
                    units[target] = -(-load[target] // inst.unit)
                    spare_units -= int(units[source] + units[target]) - before
                improved = True
    return result
