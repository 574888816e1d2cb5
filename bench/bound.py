"""Lagrangian bound benchmark on generated districts: build the location instance once (pickled
to a cache folder), then time :meth:`~solver.location.bound.Lagrangian.evaluate` and run the
subgradient for a given number of iterations or work, printing the bound it reaches.

    python bench/bound.py build --residents 1000000 --seed 1      # cache the instance
    python bench/bound.py profile --residents 1000000 --seed 1    # seconds per evaluation
    python bench/bound.py run --residents 1000000 --seed 1 --iterations 1500 --upper 114.0e6
    python bench/bound.py lp --residents 1000000 --seed 1         # LP relaxation (HiGHS)
    python bench/bound.py solve --residents 1000000 --seed 1      # the engine alone

The instance is the one the assignment stage solves (:func:`sampling.stages.assignment.
build_problem`, then :func:`solver.location.model.build_instance`). Timings are
``time.process_time`` of this process; the machine may be shared, so they are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from district_plans import district_problem  # noqa: E402  (bench/ is the script's folder)

from solver.location.model import Instance  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "natplan-bound"
CACHE.mkdir(parents=True, exist_ok=True)


def instance_path(residents: int, seed: int) -> Path:
    """Where the pickled instance of a generated district is cached."""
    return CACHE / f"district-{residents}-{seed}.pkl"


def build(residents: int, seed: int) -> Instance:
    """The district's location instance (cached), built from its cached location problem
    (:func:`district_plans.district_problem`, shared with ``bench/district_plans.py``)."""
    from solver.location.model import build_instance

    path = instance_path(residents, seed)
    if path.exists():
        with path.open("rb") as fh:
            inst: Instance = pickle.load(fh)
        return inst
    inst = build_instance(district_problem(residents, seed, CACHE))
    with path.open("wb") as fh:
        pickle.dump(inst, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return inst


def profile(inst: Instance, repeats: int, upper: float) -> dict[str, float]:
    """Process seconds per Lagrangian evaluation at the starting multipliers and after 30
    subgradient steps (more arcs with negative reduced cost), and the counts it is charged by."""
    from solver.location.bound import Lagrangian, scarcity_start, subgradient

    lag = Lagrangian(inst, exact=True)
    after = subgradient(inst, upper=lambda: upper, max_iter=30)
    out: dict[str, float] = {"clients": float(inst.n), "sites": float(inst.m)}
    for label, (mu, nu) in {
        "start": scarcity_start(inst),
        "after_30": (after.mu, after.nu),
    }.items():
        lag.evaluate(mu, nu)
        t = time.process_time()
        for _ in range(repeats):
            lag.evaluate(mu, nu)
        out[f"evaluate_s_{label}"] = (time.process_time() - t) / repeats
        out[f"items_{label}"] = float(lag.items)
        out[f"searched_{label}"] = float(lag.searched)
        out[f"charged_s_{label}"] = lag.work()
    return out


def run(
    inst: Instance, iterations: int, upper: float, work_budget: float | None
) -> dict[str, float]:
    """Run the subgradient; return bound, iterations, process seconds and charged work."""
    from solver.location.bound import subgradient

    charged = [0.0]

    def charge(w: float) -> None:
        charged[0] += w

    def ok() -> bool:
        return work_budget is None or charged[0] < work_budget

    t = time.process_time()
    lr = subgradient(
        inst,
        upper=lambda: upper,
        max_iter=iterations,
        deadline_ok=ok,
        charge=charge,
    )
    return {
        "bound": lr.bound,
        "iterations": float(lr.iterations),
        "process_s": time.process_time() - t,
        "work": charged[0],
        "theta": lr.theta,
    }


def lp_bound(inst: Instance, solution: list[np.ndarray] | None = None) -> dict[str, float]:
    """LP relaxation of the strong formulation with HiGHS (scipy): x_ij ≤ y_j, tables t_j
    continuous with Σ_i d_i x_ij ≤ U t_j, t_j ≤ ⌈Q_j/U⌉ y_j, Σ_i d_i x_ij ≤ Q_j y_j, Σ t_j ≤ T,
    p_min ≤ Σ y_j ≤ p_max, required sites open; grid penalty dropped (as in the bound)."""
    from scipy import sparse
    from scipy.optimize import linprog

    n, m, k = inst.n, inst.m, inst.k
    d = inst.demand.astype(np.float64)
    fin = np.isfinite(inst.unserved)
    nz = int(np.count_nonzero(fin))
    # columns: x (k) | z (finite unserved clients) | y (m) | t (m)
    ox, oz, oy, ot = 0, k, k + nz, k + nz + m
    ncol = ot + m
    cost = np.r_[inst.cost, inst.unserved[fin], np.zeros(2 * m)]
    zcli = np.flatnonzero(fin)
    arange_k = np.arange(k)
    sites = np.arange(m)
    # equalities: each client assigned or unserved
    a_eq = sparse.csr_matrix(
        (
            np.ones(k + nz),
            (np.r_[inst.cli, zcli], np.r_[arange_k + ox, oz + np.arange(nz)]),
        ),
        shape=(n, ncol),
    )
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    r = 0
    # capacity by tables: Σ d x − U t ≤ 0
    rows += [r + inst.site, r + sites]
    cols += [arange_k, ot + sites]
    vals += [d[inst.cli], np.full(m, -float(inst.unit if inst.unit > 0 else 0))]
    r += m
    # capacity: Σ d x − Q y ≤ 0
    rows += [r + inst.site, r + sites]
    cols += [arange_k, oy + sites]
    vals += [d[inst.cli], -inst.cap.astype(np.float64)]
    r += m
    # tables only at open sites: t − tmax y ≤ 0
    rows += [r + sites, r + sites]
    cols += [ot + sites, oy + sites]
    vals += [np.ones(m), -inst.units_max.astype(np.float64)]
    r += m
    # strong cuts: x − y ≤ 0
    rows += [r + arange_k, r + arange_k]
    cols += [arange_k, oy + inst.site]
    vals += [np.ones(k), -np.ones(k)]
    r += k
    # table limit and open limit
    rows += [np.full(m, r), np.full(m, r + 1), np.full(m, r + 2)]
    cols += [ot + sites, oy + sites, oy + sites]
    vals += [np.ones(m), np.ones(m), -np.ones(m)]
    b_ub = np.r_[np.zeros(3 * m + k), float(min(inst.units_total, 1e12)), inst.p_max, -inst.p_min]
    a_ub = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(r + 3, ncol),
    )
    lo = np.zeros(ncol)
    hi = np.ones(ncol)
    hi[ot:] = inst.units_max
    lo[oy:ot] = inst.required.astype(np.float64)
    hi[oy:ot] = (inst.status >= 0).astype(np.float64)
    t = time.process_time()
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=np.column_stack([lo, hi]),
        method="highs",
        options={"disp": True},
    )
    if solution is not None and res.x is not None:
        solution += [res.x[:k], res.x[oy:ot], res.x[ot:]]
    y = res.x[oy:ot] if res.x is not None else np.zeros(m)
    tt = res.x[ot:] if res.x is not None else np.zeros(m)
    return {
        "lp_status": float(res.status),
        "lp_bound": float(res.fun) if res.fun is not None else float("nan"),
        "lp_process_s": time.process_time() - t,
        "lp_open_sum": float(y.sum()),
        "lp_fractional_open": float(np.count_nonzero((y > 1e-6) & (y < 1 - 1e-6))),
        "lp_tables": float(tt.sum()),
        "lp_fractional_tables": float(np.count_nonzero(np.abs(tt - np.round(tt)) > 1e-6)),
    }


def table_lp_bound(inst: Instance, method: str = "highs-ipm") -> dict[str, float]:
    """The Lagrangian dual with whole tables per site, as one LP (Balas' disaggregation):
    per site j and table count t a copy y_jt of the opening and x_ijt of the assignment, with
    x_ijt ≤ y_jt, Σ_i d_i x_ijt ≤ min(U t, Q_j) y_jt, Σ_t y_jt ≤ 1, Σ t y_jt ≤ T and the open
    limit. Each site's part is the convex hull of its whole-table knapsack polytopes, so the
    LP equals max L(μ, ν) of :class:`~solver.location.bound.Lagrangian` with fractional
    knapsacks — the ceiling of the engine's bound when the DP knapsacks are off."""
    from scipy import sparse
    from scipy.optimize import linprog

    n, m, k = inst.n, inst.m, inst.k
    d = inst.demand.astype(np.float64)
    tmax = inst.units_max.astype(np.int64)
    # (site, t) pairs
    pair_site = np.repeat(np.arange(m), tmax)
    pair_t = np.arange(int(tmax.sum())) - np.repeat(np.r_[0, np.cumsum(tmax)[:-1]], tmax) + 1
    npair = pair_site.shape[0]
    first_pair = np.r_[0, np.cumsum(tmax)[:-1]]
    # arc copies: arc a with every t of its site
    copies = tmax[inst.site]
    arc_of = np.repeat(np.arange(k), copies)
    pair_of = np.repeat(first_pair[inst.site], copies) + (
        np.arange(arc_of.shape[0]) - np.repeat(np.r_[0, np.cumsum(copies)[:-1]], copies)
    )
    nx = arc_of.shape[0]
    # columns: x copies | y pairs | z
    oy, oz = nx, nx + npair
    ncol = oz + n
    cost = np.r_[inst.cost[arc_of], np.zeros(npair), inst.unserved]
    a_eq = sparse.csr_matrix(
        (
            np.ones(nx + n),
            (np.r_[inst.cli[arc_of], np.arange(n)], np.r_[np.arange(nx), oz + np.arange(n)]),
        ),
        shape=(n, ncol),
    )
    cand = inst.status[pair_site] == 0
    capq = np.minimum(inst.unit * pair_t, inst.cap[pair_site]).astype(np.float64)
    rows = [np.arange(nx), np.arange(nx), nx + pair_of, nx + np.arange(npair)]
    cols = [np.arange(nx), oy + pair_of, np.arange(nx), oy + np.arange(npair)]
    vals = [np.ones(nx), -np.ones(nx), d[inst.cli[arc_of]], -capq]
    r = nx + npair
    rows += [r + pair_site]
    cols += [oy + np.arange(npair)]
    vals += [np.ones(npair)]
    r += m
    rows += [np.full(npair, r), np.full(int(cand.sum()), r + 1)]
    cols += [oy + np.arange(npair), oy + np.flatnonzero(cand)]
    vals += [pair_t.astype(np.float64), np.ones(int(cand.sum()))]
    n_req = int(inst.required.sum())
    b_ub = np.r_[
        np.zeros(nx + npair), np.ones(m), float(min(inst.units_total, 1e12)), inst.p_max - n_req
    ]
    a_ub = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r + 2, ncol)
    )
    t = time.process_time()
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=(0, None),
        method=method,
        options={"disp": True},
    )
    return {
        "table_lp_status": float(res.status),
        "table_lp_bound": float(res.fun) if res.fun is not None else float("nan"),
        "table_lp_process_s": time.process_time() - t,
        "table_lp_columns": float(ncol),
    }


def solve_district(residents: int, seed: int, budget: float, wall: float) -> dict[str, float | str]:
    """The location engine alone on the cached problem, as the assignment stage calls it
    (before levelling): objective, bound and gaps, and the bound's figures."""
    from solver.location import solve

    problem = district_problem(residents, seed, CACHE)
    t = time.perf_counter()
    res = solve(problem, time_limit=wall, work_budget=budget, seed=seed)
    stats = res.stats
    return {
        "objective": res.objective,
        "lower_bound": res.lower_bound,
        "gap_pct": round(100 * res.gap, 3),
        "gap_without_group_penalty_pct": round(
            100 * stats.get("gap_without_group_penalty", res.gap), 3
        ),
        "group_penalty": stats.get("group_penalty", 0.0),
        "lagrangian_iterations": stats.get("lagrangian_iterations", 0.0),
        "work_bound": stats.get("work_bound", 0.0),
        "wall_clock_bound": stats.get("wall_clock_bound", 0.0),
        "wall_s": round(time.perf_counter() - t, 1),
        "status": res.status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["build", "profile", "run", "lp", "table-lp", "solve"])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--budget", type=float, default=30.0, help="solve: work budget")
    parser.add_argument("--wall", type=float, default=900.0, help="solve: wall-clock stop")
    parser.add_argument("--upper", type=float, default=float("inf"), help="Polyak target")
    parser.add_argument("--work", type=float, help="stop after this much charged work")
    args = parser.parse_args()
    t = time.perf_counter()
    inst = build(args.residents, args.seed)
    figures: dict[str, object] = {
        "residents": args.residents,
        "seed": args.seed,
        "arcs": inst.k,
        "load_s": round(time.perf_counter() - t, 2),
    }
    if args.action == "profile":
        figures.update(profile(inst, args.repeats, args.upper))
    elif args.action == "run":
        figures.update(run(inst, args.iterations, args.upper, args.work))
    elif args.action == "solve":
        figures.update(solve_district(args.residents, args.seed, args.budget, args.wall))
    elif args.action == "table-lp":
        figures.update(table_lp_bound(inst))
    elif args.action == "lp":
        figures.update(lp_bound(inst))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
