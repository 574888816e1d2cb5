"""Exact MIP on a neighbourhood (or the whole problem) with SCIP through ``pywraplp``.

Clients C, sites N and arcs A ⊆ C × N are free; every other client keeps its site. The model
is the full formulation of :mod:`solver.location` restricted to C, N, A, with the global
limits turned into local ones: the number of open sites in N stays within
[count_lo, count_hi] and the tables in N within ``units_budget``. Grid penalties count the
sites a grid already uses outside N. SCIP is deterministic; a node limit keeps the run
deterministic too, and a time limit only guards the caller's overall deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.linear_solver import pywraplp

from solver.location_model import Instance

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class SubProblem:
    """A neighbourhood: free clients, free sites, arcs and local limits."""

    clients: I64
    sites: I64
    arcs: I64
    count_lo: int
    count_hi: int
    units_budget: int  # tables available to the sites in N (≥ 0; huge if unlimited)
    group_outside: dict[int, int]  # distinct sites used outside C by each touched group


@dataclass(frozen=True)
class SubResult:
    """Solution of a sub-MIP."""

    site_of_client: I32  # per client of C: site or -1
    open_sites: B  # per site of N
    objective: float
    bound: float
    optimal: bool


def solve_sub_mip(
    inst: Instance,
    sub: SubProblem,
    *,
    hint_assign: I32 | None,
    hint_open: B | None,
    time_limit: float,
    node_limit: int,
    seed: int,
) -> SubResult | None:
    """Build and solve the neighbourhood MIP; None if SCIP found no solution."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - SCIP ships with OR-Tools wheels
        return None
    inf = solver.infinity()
    clients, sites, arcs = sub.clients, sub.sites, sub.arcs
    cpos = np.full(inst.n, -1, dtype=np.int64)
    cpos[clients] = np.arange(clients.shape[0])
    spos = np.full(inst.m, -1, dtype=np.int64)
    spos[sites] = np.arange(sites.shape[0])
    a_c = cpos[inst.cli[arcs]]
    a_s = spos[inst.site[arcs]]
    d = inst.demand
    obj = solver.Objective()
    x = [solver.BoolVar("") for _ in range(arcs.shape[0])]
    for a, var in enumerate(x):
        obj.SetCoefficient(var, float(inst.cost[arcs[a]]))
    req = inst.status[sites] == 1
    y: list[pywraplp.Variable | None] = [
        None if req[s] else solver.BoolVar("") for s in range(sites.shape[0])
    ]
    # assignment
    rows = [solver.Constraint(1.0, 1.0) for _ in range(clients.shape[0])]
    for a, var in enumerate(x):
        rows[a_c[a]].SetCoefficient(var, 1.0)
    z: list[pywraplp.Variable | None] = []
    for c, i in enumerate(clients):
        u = float(inst.unserved[i])
        if np.isfinite(u):
            zi = solver.NumVar(0.0, 1.0, "")
            rows[c].SetCoefficient(zi, 1.0)
            obj.SetCoefficient(zi, u)
            z.append(zi)
        else:
            z.append(None)
    # capacity, strong linking, tables
    caps = []
    for s, j in enumerate(sites):
        q = float(inst.cap[j])
        ys = y[s]
        if ys is None:
            ct = solver.Constraint(-inf, q)
        else:
            ct = solver.Constraint(-inf, 0.0)
            ct.SetCoefficient(ys, -q)
        caps.append(ct)
    for a, var in enumerate(x):
        s = int(a_s[a])
        caps[s].SetCoefficient(var, float(d[inst.cli[arcs[a]]]))
        ys = y[s]
        if ys is not None:
            link = solver.Constraint(-inf, 0.0)
            link.SetCoefficient(var, 1.0)
            link.SetCoefficient(ys, -1.0)
    t: list[pywraplp.Variable] = []
    if inst.unit > 0 and sub.units_budget < int(inst.units_max[sites].sum()):
        budget = solver.Constraint(-inf, float(sub.units_budget))
        tab = [solver.Constraint(-inf, 0.0) for _ in range(sites.shape[0])]
        for s, j in enumerate(sites):
            ts = solver.IntVar(0.0, float(inst.units_max[j]), "")
            t.append(ts)
            tab[s].SetCoefficient(ts, -float(inst.unit))
            budget.SetCoefficient(ts, 1.0)
            ys = y[s]
            if ys is not None:
                on = solver.Constraint(-inf, 0.0)
                on.SetCoefficient(ts, 1.0)
                on.SetCoefficient(ys, -float(inst.units_max[j]))
        for a, var in enumerate(x):
            tab[int(a_s[a])].SetCoefficient(var, float(d[inst.cli[arcs[a]]]))
    n_req = int(req.sum())
    free_y = [v for v in y if v is not None]
    lo = sub.count_lo - n_req
    hi = sub.count_hi - n_req
    if free_y and (lo > 0 or hi < len(free_y)):
        cnt = solver.Constraint(float(max(lo, 0)), float(hi))
        for v in free_y:
            cnt.SetCoefficient(v, 1.0)
    # grid penalty: w_g ≥ out_g − 1 + Σ_j zg_j, zg_j ≥ x_ij for members i of g
    if inst.group is not None and inst.lam > 0 and arcs.shape[0]:
        g_arc = inst.group[inst.cli[arcs]].astype(np.int64)
        pair_key = g_arc * inst.m + inst.site[arcs]
        pairs, pair_of = np.unique(pair_key, return_inverse=True)
        zg = [solver.NumVar(0.0, 1.0, "") for _ in range(pairs.shape[0])]
        for a, var in enumerate(x):
            ct = solver.Constraint(-inf, 0.0)
            ct.SetCoefficient(var, 1.0)
            ct.SetCoefficient(zg[int(pair_of[a])], -1.0)
        pair_g = pairs // inst.m
        for g in np.unique(pair_g):
            w = solver.NumVar(0.0, inf, "")
            obj.SetCoefficient(w, inst.lam)
            out = sub.group_outside.get(int(g), 0)
            ct = solver.Constraint(float(out - 1), inf)
            ct.SetCoefficient(w, 1.0)
            for pidx in np.flatnonzero(pair_g == g):
                ct.SetCoefficient(zg[int(pidx)], -1.0)
    obj.SetMinimization()
    if hint_assign is not None and hint_open is not None:
        hv: list[pywraplp.Variable] = []
        hval: list[float] = []
        h_site = hint_assign[inst.cli[arcs]]
        for a, var in enumerate(x):
            hv.append(var)
            hval.append(1.0 if h_site[a] == inst.site[arcs[a]] else 0.0)
        for s, j in enumerate(sites):
            ys = y[s]
            if ys is not None:
                hv.append(ys)
                hval.append(1.0 if hint_open[j] else 0.0)
        solver.SetHint(hv, hval)
    solver.SetSolverSpecificParametersAsString(
        f"limits/nodes = {int(node_limit)}\nrandomization/randomseedshift = {int(seed) % 1000}\n"
    )
    solver.SetTimeLimit(max(1, int(time_limit * 1000)))
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    xv = np.array([v.solution_value() for v in x]) > 0.5
    out_site = np.full(clients.shape[0], -1, dtype=np.int32)
    out_site[a_c[xv]] = inst.site[arcs[xv]]
    open_s = np.array([True if v is None else v.solution_value() > 0.5 for v in y], dtype=np.bool_)
    open_s |= np.isin(sites, out_site[out_site >= 0])
    return SubResult(
        site_of_client=out_site,
        open_sites=open_s,
        objective=float(solver.Objective().Value()),
        bound=float(solver.Objective().BestBound()),
        optimal=status == pywraplp.Solver.OPTIMAL,
    )
