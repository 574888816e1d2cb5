"""Site and table search for table-scarce instances: which sites open, how many tables each.

Where the table limit binds (every table in use, a few spare for the whole district), a plan's
cost is decided by how the tables are spread over the open sites: a site seats at most
``min(Q_j, U t_j)`` residents with ``t_j`` tables. The transportation cost with those seats
(demand may split) follows the single-source plans closely: on a generated 120k-resident
district three engine runs' plans cost 18.82, 18.57 and 18.52 M (walking and unserved, no
grid penalty), their transportation costs at their own tables 18.56, 18.33 and 18.26 M; the
best and the worst differ in one site (its tables with it) and single tables moved between
seven other sites. The flow-scored site search (:func:`solver.location.search.site_swap_search`)
gives every open site its full capacity: its cost of the same sets (17.37 / 17.21 M) lies
1.3-1.5 M below the plans and shows half the difference between them.

:func:`table_site_search` is a local search on (open sites, tables per site) by that cost:

* **close–open carrying the tables**: close ``j``, open a neighbour ``k`` with ``j``'s tables
  (as many as ``k``'s capacity holds; the rest become spare);
* **table transfer**: one table from a site with a low seat price to one with a high price
  (the flow's capacity duals, :func:`solver.location.assign.flow_prices`), and spare tables
  to the dearest seats.

:func:`plan_for_tables` turns the result into a single-source plan: the flow with those seats
rounded, then client moves; the caller's reallocation places what the rounding left out.
Effort is counted by the caller's callbacks (one per flow), never timed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from solver.location.assign import assign_flow, fit_tables, flow_cost, flow_prices
from solver.location.model import Instance, units_of
from solver.location.search import improve_assignment

__all__ = ["TRANSFER_TOP", "TableSearch", "plan_for_tables", "seats", "table_site_search"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

TRANSFER_TOP = 6  # table transfers tried between this many cheapest and dearest seat prices
REL_EPS = 1e-9  # relative improvement that counts


@dataclass(frozen=True)
class TableSearch:
    """The search's best site set, tables per site and transportation cost with those seats."""

    open_mask: B
    tables: I64
    cost: float
    start_cost: float
    flows: int  # transportation problems solved
    moves: int  # improving moves applied


def seats(inst: Instance, tables: I64) -> I64:
    """Residents each site can take with ``tables`` tables: min(capacity, U × tables)."""
    return np.asarray(np.minimum(inst.cap, inst.unit * tables), dtype=np.int64)


def _better(c: float, best: float) -> bool:
    return c < best - REL_EPS * max(1.0, abs(best))


def table_site_search(
    inst: Instance,
    open_mask: B,
    tables: I64,
    near: list[I64],
    rng: np.random.Generator,
    keep_going: Callable[[], bool],
    on_flow: Callable[[], None],
) -> TableSearch:
    """Close–open moves carrying the tables and table transfers (module docstring), first
    improvement, by the transportation cost with each site's seats; passes until one finds
    nothing or ``keep_going`` says stop (checked before every flow, ``on_flow`` called after).

    ``tables`` is the plan's tables per site (``open_mask`` sites; at most
    :attr:`Instance.units_total` in all). Required sites stay open, the open count stays.
    """
    cur = open_mask.copy()
    t = np.where(cur, tables, 0).astype(np.int64)
    flows = moves = 0

    def cost(sites: B, tab: I64) -> float:
        nonlocal flows
        flows += 1
        c = flow_cost(inst, sites, seats(inst, tab))
        on_flow()
        return c

    best = cost(cur, t)
    start = best
    movable = inst.status == 0
    improved = True
    while improved and keep_going():
        improved = False
        for j in rng.permutation(np.flatnonzero(cur & movable)).tolist():
            for k in near[j].tolist():
                if cur[k] or not inst.usable[k]:
                    continue
                if not keep_going():
                    return TableSearch(cur, t, best, start, flows, moves)
                tk = min(int(t[j]), int(inst.units_max[k]))
                tj = int(t[j])
                cur[j], cur[k] = False, True
                t[j], t[k] = 0, tk
                c = cost(cur, t)
                if _better(c, best):
                    best, improved, moves = c, True, moves + 1
                    break
                cur[j], cur[k] = True, False
                t[j], t[k] = tj, 0
        for _ in range(2):  # the transfers, then again at the prices they leave
            if not keep_going():
                break
            gained = _transfers(inst, cur, t, best, keep_going, cost)
            if not _better(gained[0], best):
                break
            best, improved, moves = gained[0], True, moves + gained[1]
    return TableSearch(cur, t, best, start, flows, moves)


def _transfers(
    inst: Instance,
    cur: B,
    t: I64,
    best: float,
    keep_going: Callable[[], bool],
    cost: Callable[[B, I64], float],
) -> tuple[float, int]:
    """Table transfers from cheap to dear seats (and spare tables to the dearest), kept when
    they lower the cost; ``t`` is changed in place. Returns the cost and the moves applied."""
    res = flow_prices(inst, cur, seats(inst, t))
    if res is None:
        return best, 0
    pi = res[1]
    opened = np.flatnonzero(cur)
    buyers = opened[t[opened] < inst.units_max[opened]]
    buyers = buyers[np.argsort(-pi[buyers], kind="stable")][:TRANSFER_TOP].tolist()
    sellers = opened[t[opened] > 0]
    sellers = sellers[np.argsort(pi[sellers], kind="stable")][:TRANSFER_TOP].tolist()
    moves = 0
    for y in buyers:
        spare = int(inst.units_total) - int(t.sum())
        if spare > 0 and t[y] < inst.units_max[y]:
            if not keep_going():
                return best, moves
            t[y] += 1
            c = cost(cur, t)
            if _better(c, best):
                best, moves = c, moves + 1
                continue
            t[y] -= 1
        for x in sellers:
            if x == y or t[x] == 0 or t[y] >= inst.units_max[y]:
                continue
            if not keep_going():
                return best, moves
            t[x] -= 1
            t[y] += 1
            c = cost(cur, t)
            if _better(c, best):
                best, moves = c, moves + 1
                break
            t[x] += 1
            t[y] -= 1
    return best, moves


def plan_for_tables(inst: Instance, open_mask: B, tables: I64) -> I32 | None:
    """A single-source plan for the open sites and their tables (module docstring): the flow
    with each site's seats rounded, then client moves; the table fitting only when the
    rounding needs more tables than the limit. None if the flow or the fitting finds none.

    A client the rounding leaves out (no open site with a seat left) stays unserved here:
    the caller's reallocation, whose chains and table trades make room, places it."""
    assign = assign_flow(inst, open_mask, seats(inst, tables))
    if assign is None:
        return None
    served = assign >= 0
    load = np.bincount(assign[served], weights=inst.demand[served], minlength=inst.m).astype(
        np.int64
    )
    if int(units_of(inst, load, open_mask).sum()) > inst.units_total:
        fitted = fit_tables(inst, open_mask, assign)
        if fitted is None:
            return None
        assign = fitted
    return improve_assignment(inst, assign, open_mask)
