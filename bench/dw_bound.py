"""How high the district Lagrangian can go: its Dantzig–Wolfe bound by column generation.

    python bench/dw_bound.py --residents 40000 --seed 1
    python bench/dw_bound.py --residents 1000000 --seed 0 1 --rounds 300

The district bound (:mod:`solver.location.bound`) relaxes the assignment rows (μ_i) and the
table limit (ν); its maximum over (μ, ν) is the value of the Dantzig–Wolfe master LP over site
patterns (a pattern: a set of clients one site serves and the whole tables it buys):

    min Σ_i u_i z_i + Σ_{j,k} c_jk λ_jk
    Σ_{j,k} a_ijk λ_jk + z_i = 1  (μ_i)       Σ_{j,k} t_jk λ_jk ≤ T  (−ν)
    Σ_k λ_jk ≤ y_j  (site j)                  p_min ≤ Σ_j y_j ≤ p_max,  y_j ∈ [req_j, usable_j]

The grid penalty is dropped, as in the bound. Subgradient steps only say where *they* stall;
this script climbs the same function by column generation: the restricted master (HiGHS)
gives duals, the pricing problem is every site's exact knapsack with whole tables
(:func:`solver.location.table_knapsack.table_knapsacks`, what the engine's bound uses), and
each pricing round evaluates L(μ, ν) exactly (the p best sites), a valid lower bound. The
master's value over the columns so far is an upper estimate of the DW bound; the two meet
when no column prices out. Duals are smoothed around the best Lagrangian multipliers
(Wentges: price at α·centre + (1 − α)·master duals; α drops after a mispricing) because plain
column generation tails off. The master starts from the final plan's patterns
(the engine's 30-unit plan, solved once and cached beside the district as
``natplan-plan-R-S.pkl``) and the knapsack solutions at the
engine's first-pass multipliers (``bench/bound_ceiling.py capture``) or the scarcity start.

The simplex master is hopelessly degenerate at district scale (1M: 33 s a solve after 10
rounds, the LP stuck near the plan's cost; 120k seed 0: 289 s for 30 rounds); ``--ipm``
solves it by interior point without crossover (central duals), which converges: 120k seed 0
in 140 rounds / 282 s to within 0.01 % (LP 17,778,726; valid 17,776,689; engine 17,744,289).
40k seeds 0 / 1 converge (simplex, 9 s / 7 s): DW bound 6,587,601 / 6,513,072, 750
subgradient steps reach 0.017 / 0.034 % below it, and the engine's exact MIP proves
6,693,095 / 6,577,890: the DW relaxation itself is 1.6 / 1.0 % below the optimum there.

Prints one JSON line per district: bound per round (checkpoints), the best valid bound, the
master value, rounds, columns and process seconds (a shared, loaded machine: pessimistic).
Needs ``highspy`` (HiGHS's own Python API, in the ``dev`` extra): the master grows column by
column and is re-solved warm, which scipy's ``linprog`` cannot do.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bound_ceiling import capture_path, instance  # noqa: E402  (bench/ is the script's folder)
from district_plans import district_problem  # noqa: E402

from solver.location import bound  # noqa: E402
from solver.location.engine import (  # noqa: E402
    DISTRICT_DEFLECTION,
    DISTRICT_PATIENCE,
    INTEGER_THETA,
)
from solver.location.model import Instance  # noqa: E402
from solver.location.table_knapsack import table_knapsacks  # noqa: E402

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass
class Pricing:
    """Every usable site's exact knapsack with whole tables at (μ, ν), and L(μ, ν)."""

    lag: float  # L(μ, ν): a valid lower bound
    value: F64  # [m] site knapsack values (≤ 0)
    tables: I64  # [m] tables of each site's best pattern
    clients: list[I64]  # [m] clients of each site's best pattern
    cost: F64  # [m] walking cost of each site's best pattern


def price(inst: Instance, lagr: bound.Lagrangian, mu: F64, nu: float) -> Pricing:
    """Solve every site's exact knapsack (not only the p best: all give columns) and L."""
    m = inst.m
    neg, cli_neg = lagr.negative_arcs(mu)
    items, _ = bound.sorted_items(inst, neg, inst.cost[neg] - mu[cli_neg], lagr.demand_arc[neg])
    arcs, s, w, rr, _ = items
    frac, _ = bound.table_choice(inst, None, nu, items)
    starts = np.searchsorted(s, np.arange(m + 1)).astype(np.int64)
    sites = np.flatnonzero((frac < 0) & (inst.status >= 0)).astype(np.int64)
    value = np.zeros(m)
    tables = np.zeros(m, dtype=np.int64)
    clients: list[I64] = [np.zeros(0, dtype=np.int64)] * m
    cost = np.zeros(m)
    if sites.shape[0]:
        ks = table_knapsacks(w, rr, starts, sites, inst.cap, inst.units_max, inst.unit, nu)
        value[sites] = ks.value
        tables[sites] = ks.tables
        for j in sites.tolist():
            lo, hi = int(starts[j]), int(starts[j + 1])
            a = arcs[lo:hi][ks.taken[lo:hi]]
            clients[j] = inst.cli[a].astype(np.int64)
            cost[j] = float(inst.cost[a].sum())
    sel = bound._select(inst, value)
    finite = np.isfinite(inst.unserved)
    lag = float(mu.sum()) + float(np.where(finite, np.minimum(0.0, inst.unserved - mu), 0.0).sum())
    lag += float(value[sel].sum()) - nu * inst.units_total
    return Pricing(lag, value, tables, clients, cost)


@dataclass
class Master:
    """The restricted master LP in HiGHS (rows: clients, tables, sites, open count)."""

    inst: Instance
    h: Any
    site_of: list[int] = field(default_factory=list)  # site of each pattern column
    seen: set[tuple[int, int, bytes]] = field(default_factory=set)

    @classmethod
    def build(cls, inst: Instance, highspy: Any, ipm: bool = False) -> Master:
        """Rows and the z / y columns; patterns come with :meth:`add`."""
        n, m = inst.n, inst.m
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("threads", 1)
        # dual simplex: primal simplex from the last basis was 20-50 times slower at 1M
        h.setOptionValue("simplex_strategy", 1)
        if ipm:  # interior duals, no crossover: central duals, no simplex degeneracy
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        inf = highspy.kHighsInf
        # rows: clients 0..n-1 (= 1), tables n (≤ T), sites n+1..n+m (≤ 0), open n+m+1
        lo = np.r_[np.ones(n), -inf, np.full(m, -inf), float(inst.p_min)]
        hi = np.r_[np.ones(n), float(inst.units_total), np.zeros(m), float(inst.p_max)]
        h.addRows(n + m + 2, lo, hi, 0, np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0))
        # z_i: unserved at u_i
        finite = np.isfinite(inst.unserved)
        h.addCols(
            n,
            np.where(finite, inst.unserved, 0.0),
            np.zeros(n),
            np.where(finite, inf, 0.0),
            n,
            np.arange(n, dtype=np.int32),
            np.arange(n, dtype=np.int32),
            np.ones(n),
        )
        # y_j: open, −1 in its site row, +1 in the open-count row
        ylo = inst.required.astype(np.float64)
        yhi = inst.usable.astype(np.float64)
        idx = np.column_stack([n + 1 + np.arange(m), np.full(m, n + m + 1)]).ravel()
        h.addCols(
            m,
            np.zeros(m),
            ylo,
            yhi,
            2 * m,
            np.arange(0, 2 * m, 2, dtype=np.int32),
            idx.astype(np.int32),
            np.tile([-1.0, 1.0], m),
        )
        return cls(inst, h)

    def add(self, site: int, clients: I64, tables: int, cost: float) -> bool:
        """Add one pattern column (unless already there)."""
        n = self.inst.n
        cl = np.unique(clients).astype(np.int32)
        key = (site, tables, cl.tobytes())
        if key in self.seen or cl.shape[0] == 0:
            return False
        self.seen.add(key)
        idx = np.r_[cl, np.int32(n), np.int32(n + 1 + site)].astype(np.int32)
        val = np.r_[np.ones(cl.shape[0]), float(tables), 1.0]
        self.h.addCol(cost, 0.0, 1.0, idx.shape[0], idx, val)
        self.site_of.append(site)
        return True

    def integer(self, seconds: float) -> dict[str, Any]:
        """Solve the master over the columns found as an integer program (patterns and
        sites 0/1; price-and-branch): is there a plan cheaper than the engine's among them?
        HiGHS's time limit is the only stop (a study, not a product figure)."""
        h, n = self.h, self.inst.n
        cols = np.arange(n, h.getNumCol(), dtype=np.int32)
        h.setOptionValue("solver", "choose")
        h.setOptionValue("run_crossover", "on")
        h.changeColsIntegrality(cols.shape[0], cols, np.ones(cols.shape[0], dtype=np.uint8))
        h.setOptionValue("time_limit", seconds)
        t = time.process_time()
        h.run()
        info = h.getInfo()
        return {
            "restricted_ip": float(info.objective_function_value),
            "restricted_ip_bound": float(info.mip_dual_bound),
            "restricted_ip_status": h.modelStatusToString(h.getModelStatus()),
            "restricted_ip_cpu_s": round(time.process_time() - t, 1),
        }

    def solve(self) -> tuple[float, F64, float, F64]:
        """Solve; return (value, μ, ν, site-row duals σ ≤ 0)."""
        self.h.run()
        n, m = self.inst.n, self.inst.m
        sol = self.h.getSolution()
        y = np.asarray(sol.row_dual, dtype=np.float64)
        value = float(self.h.getInfo().objective_function_value)
        return value, y[:n].copy(), max(0.0, -float(y[n])), y[n + 1 : n + 1 + m].copy()


def plan_patterns(inst: Instance, assign: I64) -> list[tuple[int, I64, int, float]]:
    """The plan's open sites as patterns (site, clients, tables, walking cost)."""
    out = []
    served = np.flatnonzero(assign >= 0)
    arcs = inst.arc_index(served, assign[served])
    assert bool(np.all(arcs >= 0)), "plan uses an arc the instance lacks"
    for j in np.unique(assign[served]).tolist():
        mine = assign[served] == j
        cl = served[mine].astype(np.int64)
        load = int(inst.demand[cl].sum())
        t = -(-load // inst.unit) if inst.unit > 0 else 0
        out.append((int(j), cl, int(t), float(inst.cost[arcs[mine]].sum())))
    return out


def plan_cost(inst: Instance, assign: I64) -> float:
    """Walking + unserved cost of a plan (the objective without the grid penalty)."""
    served = np.flatnonzero(assign >= 0)
    arcs = inst.arc_index(served, assign[served])
    return float(inst.cost[arcs].sum()) + float(inst.unserved[assign < 0].sum())


def column_generation(
    inst: Instance,
    mu0: F64,
    nu0: float,
    plan: dict[str, Any] | None,
    rounds: int,
    alpha0: float,
    highspy: Any,
    tol: float,
    seeds: list[tuple[F64, float]] | None = None,
    ipm: bool = False,
    restricted_ip: float = 0.0,
) -> dict[str, Any]:
    """Column generation with Wentges smoothing; figures per round. With ``restricted_ip``
    seconds, the columns found are then solved as an integer program (:func:`restricted_ip`)."""
    t0 = time.process_time()
    w0 = time.perf_counter()
    lagr = bound.Lagrangian(inst, exact=False)
    master = Master.build(inst, highspy, ipm)
    if plan is not None:
        for j, cl, t, c in plan_patterns(inst, np.asarray(plan["assign"], dtype=np.int64)):
            master.add(j, cl, t, c)
    start = price(inst, lagr, mu0, nu0)
    best, c_mu, c_nu = start.lag, mu0.copy(), nu0
    for j in np.flatnonzero(start.value < 0).tolist():
        master.add(j, start.clients[j], int(start.tables[j]), float(start.cost[j]))
    for p_mu, p_nu in seeds or []:
        pt = price(inst, lagr, p_mu, p_nu)
        if pt.lag > best:
            best, c_mu, c_nu = pt.lag, p_mu.copy(), p_nu
        for j in np.flatnonzero(bound._select(inst, pt.value) & (pt.value < 0)).tolist():
            master.add(j, pt.clients[j], int(pt.tables[j]), float(pt.cost[j]))
    trace: list[dict[str, float]] = [{"round": 0, "bound": best, "columns": len(master.site_of)}]
    alpha = alpha0
    lp = math.inf
    lp_s = price_s = 0.0
    done = 0
    for it in range(1, rounds + 1):
        ta = time.process_time()
        lp, mu, nu, sigma = master.solve()
        lp_s += time.process_time() - ta
        ta = time.process_time()
        added = 0
        while True:
            s_mu = alpha * c_mu + (1 - alpha) * mu
            s_nu = alpha * c_nu + (1 - alpha) * nu
            pr = price(inst, lagr, s_mu, s_nu)
            if pr.lag > best:
                best, c_mu, c_nu = pr.lag, s_mu, s_nu
            # reduced cost of each site's pattern at the master's duals
            for j in np.flatnonzero(pr.value < 0).tolist():
                cl = pr.clients[j]
                rc = pr.cost[j] - float(mu[cl].sum()) + nu * pr.tables[j] - sigma[j]
                if rc < -tol * max(1.0, abs(lp)) / inst.m and master.add(
                    j, cl, int(pr.tables[j]), float(pr.cost[j])
                ):
                    added += 1
            if added or alpha == 0.0:
                break
            alpha = 0.0 if alpha < 0.1 else alpha / 2  # mispricing: closer to the master
        price_s += time.process_time() - ta
        done = it
        trace.append(
            {"round": it, "bound": pr.lag, "best": best, "lp": lp, "added": added, "alpha": alpha}
        )
        if it % 5 == 0:
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
            print(
                f"round {it} lp {lp:.1f} best {best:.1f} cols {len(master.site_of)} "
                f"cpu {cpu:.0f} wall {wall:.0f}",
                file=sys.stderr,
                flush=True,
            )
        if added == 0:
            break
        if (lp - best) <= tol * abs(lp):
            break
    final_lp, _, _, _ = master.solve()
    return {
        "start_bound": start.lag,
        "best_bound": best,
        "master_lp": final_lp,
        "rounds": done,
        "columns": len(master.site_of),
        "converged": bool(final_lp - best <= tol * abs(final_lp)),
        "cpu_s": round(time.process_time() - t0, 1),
        "wall_s": round(time.perf_counter() - w0, 1),
        "cpu_lp_s": round(lp_s, 1),
        "cpu_pricing_s": round(price_s, 1),
        **(master.integer(restricted_ip) if restricted_ip > 0 else {}),
        "trace": trace,
    }


def start_multipliers(inst: Instance, residents: int, seed: int, cache: Path) -> tuple[F64, float]:
    """The engine's first-pass multipliers if ``bound_ceiling.py capture`` kept them, else the
    scarcity start."""
    path = capture_path(cache, residents, seed)
    try:
        with path.open("rb") as fh:
            state = pickle.load(fh)
        lr = state["lr"]
        if lr.mu.shape[0] == inst.n:
            return np.asarray(lr.mu, dtype=np.float64), float(lr.nu)
    except (OSError, KeyError, EOFError, pickle.UnpicklingError, AttributeError, TypeError):
        pass
    return bound.scarcity_start(inst)


def climb(
    inst: Instance, mu: F64, nu: float, target: float, steps: int, integer_steps: int
) -> tuple[F64, float, dict[str, Any]]:
    """Subgradient steps towards the plan's cost (as ``bench/bound_ceiling.py ceiling``), then
    steps with exact knapsacks, deflected in the demand metric as the engine's district
    passes: the centre column generation starts from."""
    t = time.process_time()
    theta = 1.0
    out: dict[str, Any] = {}
    metric = bound.client_metric(inst)
    for name, n_steps, integer in (("sub", steps, False), ("sub_integer", integer_steps, True)):
        if n_steps <= 0:
            continue
        lr = bound.subgradient(
            inst,
            upper=lambda: target,
            max_iter=n_steps,
            exact=True,
            integer=integer,
            mu0=mu,
            nu0=nu,
            theta0=max(theta, INTEGER_THETA) if integer else 1.0,
            deflection=DISTRICT_DEFLECTION,
            patience=DISTRICT_PATIENCE,
            metric=metric,
        )
        mu, nu, theta = lr.mu, lr.nu, lr.theta
        out.update({f"{name}_bound": lr.bound, f"{name}_steps": lr.iterations})
    out["sub_cpu_s"] = round(time.process_time() - t, 1)
    return mu, nu, out


def trajectory(
    inst: Instance, mu: F64, nu: float, target: float, steps: int
) -> tuple[list[tuple[F64, float]], float, F64, float]:
    """``steps`` exact-knapsack subgradient steps from (μ, ν) at a small step factor: the
    points they visit (their knapsack solutions seed the master, so its first duals are
    near the centre instead of at a degenerate vertex of the plan) and the best bound with its
    multipliers."""
    points: list[tuple[F64, float]] = []
    original = bound.Lagrangian.evaluate

    def spy(
        self: bound.Lagrangian, m: F64, n: float
    ) -> tuple[float, F64, float, F64, NDArray[np.bool_]]:
        points.append((m.copy(), float(n)))
        return original(self, m, n)

    bound.Lagrangian.evaluate = spy  # type: ignore[method-assign,assignment]
    try:
        li = bound.subgradient(
            inst,
            upper=lambda: target,
            max_iter=steps,
            exact=True,
            integer=True,
            mu0=mu,
            nu0=nu,
            theta0=INTEGER_THETA,
            deflection=DISTRICT_DEFLECTION,
            patience=DISTRICT_PATIENCE,
            metric=bound.client_metric(inst),
        )
    finally:
        bound.Lagrangian.evaluate = original  # type: ignore[method-assign]
    return points, li.bound, li.mu, li.nu


def final_plan(residents: int, seed: int, cache: Path) -> dict[str, Any]:
    """The engine's plan of a district at 30 units (``assign``, ``open``, ``bound``), solved
    once and cached in ``cache`` (same input, same plan: the work clock decides)."""
    path = cache / f"natplan-plan-{residents}-{seed}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            cached: dict[str, Any] = pickle.load(fh)
            return cached
    from sampling.stages.limits import wall_safety
    from solver.location.engine import solve

    r = solve(
        district_problem(residents, seed, cache),
        time_limit=wall_safety(30),
        work_budget=30,
        seed=seed,
    )
    plan = {"assign": r.site_of_client, "open": r.open_sites, "bound": r.lower_bound}
    with path.open("wb") as fh:
        pickle.dump(plan, fh)
    return plan


def main() -> None:
    """Run column generation on each district and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--residents", type=int, nargs="+", default=[40000])
    ap.add_argument("--seed", type=int, nargs="+", default=[1])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--alpha", type=float, default=0.8, help="Wentges smoothing weight")
    ap.add_argument("--tol", type=float, default=1e-6, help="relative stop gap")
    ap.add_argument("--steps", type=int, default=0, help="subgradient steps first")
    ap.add_argument("--integer-steps", type=int, default=0, help="then exact-knapsack steps")
    ap.add_argument("--seed-steps", type=int, default=0, help="trajectory seeding the master")
    ap.add_argument("--ipm", action="store_true", help="master by interior point, no crossover")
    ap.add_argument("--trace-every", type=int, default=10)
    ap.add_argument(
        "--restricted-ip", type=float, default=0.0, help="then the columns as an IP, seconds"
    )
    args = ap.parse_args()
    import highspy  # the dev extra; imported here so that --help works without it

    for residents in args.residents:
        for seed in args.seed:
            inst = instance(residents, seed, args.cache)
            plan: dict[str, Any] | None = final_plan(residents, seed, args.cache)
            mu0, nu0 = start_multipliers(inst, residents, seed, args.cache)
            pre: dict[str, Any] = {}
            if plan is not None and args.steps + args.integer_steps > 0:
                target = plan_cost(inst, np.asarray(plan["assign"], dtype=np.int64))
                keep_at = args.cache / (
                    f"natplan-dw-centre-{residents}-{seed}-{args.steps}-{args.integer_steps}.pkl"
                )
                if keep_at.exists():
                    with keep_at.open("rb") as fh:
                        mu0, nu0, pre = pickle.load(fh)
                else:
                    mu0, nu0, pre = climb(inst, mu0, nu0, target, args.steps, args.integer_steps)
                    with keep_at.open("wb") as fh:
                        pickle.dump((mu0, nu0, pre), fh)
            seeds: list[tuple[F64, float]] = []
            if plan is not None and args.seed_steps > 0:
                target = plan_cost(inst, np.asarray(plan["assign"], dtype=np.int64))
                w = time.perf_counter()
                seeds, b, _, _ = trajectory(inst, mu0, nu0, target, args.seed_steps)
                pre.update(
                    seed_points=len(seeds), seed_bound=b, seed_wall_s=time.perf_counter() - w
                )
            out = column_generation(
                inst,
                mu0,
                nu0,
                plan,
                args.rounds,
                args.alpha,
                highspy,
                args.tol,
                seeds,
                args.ipm,
                args.restricted_ip,
            )
            trace = out.pop("trace")
            keep = [r for r in trace if int(r["round"]) % args.trace_every == 0] + trace[-1:]
            figures: dict[str, Any] = {"residents": residents, "seed": seed, **pre, **out}
            if plan is not None:
                relaxed = plan_cost(inst, np.asarray(plan["assign"], dtype=np.int64))
                figures.update(
                    engine_bound=plan["bound"],
                    plan_without_grid=relaxed,
                    gain_over_engine=out["best_bound"] - plan["bound"],
                    gap_at_dw_pct=round(100 * (relaxed - out["best_bound"]) / out["best_bound"], 3),
                    gap_at_engine_pct=round(100 * (relaxed - plan["bound"]) / plan["bound"], 3),
                )
            figures["trace"] = keep
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
