"""Neighbourhood MIPs with CP-SAT for the large neighbourhood search.

Same model and limits as :func:`solver.location.mip.solve_sub_mip` (free clients C, sites N
and arcs A; local open-site and table limits; grid penalties counting the sites a grid uses
outside N), solved by OR-Tools CP-SAT instead of SCIP. On the grid-penalty neighbourhoods of a
district the LP relaxation is weak (a grid split fractionally pays nothing) and SCIP can spend
seconds on one 100-client neighbourhood; CP-SAT closes the same ones in a fraction of that.

CP-SAT needs integer costs: arc and unserved costs are multiplied by ``scale`` (default 1:
whole resident-metres; :func:`cost_scale` for instances whose costs are small numbers) and
rounded, so the plan it returns is re-evaluated exactly by the caller and its bound is not
used. One worker (or, with ``lns``, CP-SAT's interleaved search: its subsolvers take turns in
a fixed order), a fixed seed and a deterministic-time limit make the result repeatable; the
caller charges the deterministic time CP-SAT reports. The wall-clock limit only guards the
caller's deadline, and the call says when it was the one that stopped the search.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from solver.location.mip import SubProblem, SubResult
from solver.location.model import Instance

# The full-problem subsolvers an ``lns`` call leaves out: with the interleaved search they take
# turns with the neighbourhood workers and spend the deterministic time on the whole model's
# tree. On ali535 with p = 150 (the engine's 60-unit plan, 3.21 % above the best known, each
# client's 10 nearest medians) 20 units of deterministic time gave 1.68 % with the LNS and
# local-search workers alone, 2.19 % with all of them (two interleaved workers each).
FULL_PROBLEM_SUBSOLVERS = (
    "core",
    "max_lp",
    "max_lp_sym",
    "no_lp",
    "pseudo_costs",
    "quick_restart",
    "quick_restart_no_lp",
    "reduced_costs",
)
COST_RESOLUTION = 1e6  # cost_scale: the dearest arc becomes about this many integer units


def cost_scale(costs: NDArray[np.float64]) -> float:
    """A power of ten that turns ``costs`` into integers of about :data:`COST_RESOLUTION` at
    the dearest (at least 1: districts' resident-metres stay as they are)."""
    top = float(np.max(costs, initial=0.0))
    if top <= 0.0:
        return 1.0
    return float(10.0 ** max(0, int(np.floor(np.log10(COST_RESOLUTION / top)))))


def solve_sub_cpsat(
    inst: Instance,
    sub: SubProblem,
    *,
    hint_assign: NDArray[np.int32] | None,
    hint_open: NDArray[np.bool_] | None,
    time_limit: float,
    work_limit: float,
    seed: int,
    scale: float = 1.0,
    lns: int = 0,
) -> tuple[SubResult | None, float, bool]:
    """Build and solve the neighbourhood model.

    ``scale`` multiplies the costs before they are rounded (:func:`cost_scale`). ``lns`` > 0
    solves it with CP-SAT's own large neighbourhood search instead: that many workers,
    interleaved (deterministic), without :data:`FULL_PROBLEM_SUBSOLVERS` — for models too
    large to solve, hinted with a plan to improve. Returns the result (None if CP-SAT found no solution), the deterministic time spent,
    which the caller charges to its work clock, and whether the wall-clock ``time_limit``
    rather than ``work_limit`` (deterministic time) or a proof ended the search.
    """
    clients, sites, arcs = sub.clients, sub.sites, sub.arcs
    if clients.shape[0] == 0:
        return None, 0.0, False
    cpos = np.full(inst.n, -1, dtype=np.int64)
    cpos[clients] = np.arange(clients.shape[0])
    spos = np.full(inst.m, -1, dtype=np.int64)
    spos[sites] = np.arange(sites.shape[0])
    a_c = cpos[inst.cli[arcs]]
    a_s = spos[inst.site[arcs]]
    dem = inst.demand[inst.cli[arcs]]
    cost = np.rint(scale * inst.cost[arcs]).astype(np.int64)
    md = cp_model.CpModel()
    x = [md.new_bool_var(f"x{a}") for a in range(arcs.shape[0])]
    y = [md.new_bool_var(f"y{s}") for s in range(sites.shape[0])]
    for req in np.flatnonzero(inst.status[sites] == 1):
        md.add(y[int(req)] == 1)
    by_client: list[list[int]] = [[] for _ in range(clients.shape[0])]
    by_site: list[list[int]] = [[] for _ in range(sites.shape[0])]
    for a in range(arcs.shape[0]):
        by_client[int(a_c[a])].append(a)
        by_site[int(a_s[a])].append(a)
        md.add_implication(x[a], y[int(a_s[a])])
    obj: list[cp_model.LinearExprT] = [int(cost[a]) * x[a] for a in range(arcs.shape[0])]
    for c, i in enumerate(clients):
        u = float(inst.unserved[i])
        lits = [x[a] for a in by_client[c]]
        if np.isfinite(u):
            z = md.new_bool_var(f"z{c}")
            obj.append(round(scale * u) * z)
            lits.append(z)
        if not lits:
            return None, 0.0, False
        md.add_exactly_one(lits)
    tables = inst.unit > 0 and sub.units_budget < int(inst.units_max[sites].sum())
    t_vars = []
    for s, j in enumerate(sites):
        load = cp_model.LinearExpr.weighted_sum(
            [x[a] for a in by_site[s]], [int(dem[a]) for a in by_site[s]]
        )
        md.add(load <= int(inst.cap[j]) * y[s])
        if tables:
            t = md.new_int_var(0, int(inst.units_max[j]), f"t{s}")
            md.add(load <= inst.unit * t)
            md.add(t <= int(inst.units_max[j]) * y[s])
            t_vars.append(t)
    if t_vars:
        md.add(sum(t_vars) <= int(sub.units_budget))
    n_sites = sites.shape[0]
    if sub.count_lo > 0 or sub.count_hi < n_sites:
        md.add_linear_constraint(sum(y), max(sub.count_lo, 0), min(sub.count_hi, n_sites))
    if inst.group is not None and inst.lam > 0 and arcs.shape[0]:
        g_arc = inst.group[inst.cli[arcs]].astype(np.int64)
        pairs, pair_of = np.unique(g_arc * inst.m + inst.site[arcs], return_inverse=True)
        used = [md.new_bool_var(f"g{p}") for p in range(pairs.shape[0])]
        for a in range(arcs.shape[0]):
            md.add_implication(x[a], used[int(pair_of[a])])
        pair_g = pairs // inst.m
        lam = round(scale * inst.lam)
        for g in np.unique(pair_g):
            out = sub.group_outside.get(int(g), 0)
            members = [used[int(p)] for p in np.flatnonzero(pair_g == g)]
            extra = md.new_int_var(0, len(members) + out, f"w{g}")
            md.add(extra >= out - 1 + sum(members))
            obj.append(lam * extra)
    md.minimize(sum(obj))
    if hint_assign is not None and hint_open is not None:
        h_site = hint_assign[inst.cli[arcs]]
        for a in range(arcs.shape[0]):
            md.add_hint(x[a], bool(h_site[a] == inst.site[arcs[a]]))
        for s, j in enumerate(sites):
            md.add_hint(y[s], bool(hint_open[j]))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = max(1, lns)
    if lns > 0:
        solver.parameters.interleave_search = True
        solver.parameters.ignore_subsolvers.extend(FULL_PROBLEM_SUBSOLVERS)
    solver.parameters.catch_sigint_signal = False  # Ctrl-C stays natplan's (sampling.interrupt)
    solver.parameters.random_seed = int(seed) % (1 << 31)
    solver.parameters.max_deterministic_time = float(work_limit)
    solver.parameters.max_time_in_seconds = max(0.01, float(time_limit))
    status = solver.solve(md)
    dtime = float(solver.response_proto.deterministic_time)
    finished = status in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID)
    wall_cut = not finished and dtime < float(work_limit)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, dtime, wall_cut
    xv = np.array([solver.boolean_value(v) for v in x], dtype=np.bool_)
    out_site = np.full(clients.shape[0], -1, dtype=np.int32)
    out_site[a_c[xv]] = inst.site[arcs[xv]]
    open_s = np.array([solver.boolean_value(v) for v in y], dtype=np.bool_)
    result = SubResult(
        site_of_client=out_site,
        open_sites=open_s,
        objective=float(solver.objective_value) / scale,
        bound=float(solver.best_objective_bound) / scale,
        optimal=status == cp_model.OPTIMAL,
    )
    return result, dtime, wall_cut
