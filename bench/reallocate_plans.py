"""Grid-aware reallocation alone on the final plans of generated districts.

    python bench/reallocate_plans.py --residents 1000000 --seed 0 1 --work-limit 0.9 5

Plans each district once with the engine as the assignment stage does
(:func:`solver.location.engine.solve`, ``--time-limit`` work units) but with the
decomposition's final reallocation switched off (no reserve, no call), keeps that plan
pickled under ``--cache`` (default ``/tmp``), then applies
:func:`solver.location.reallocate.reallocate` to it with each ``--work-limit`` and prints one
JSON line per run: objective, walking + unserved, grid penalty and the gap without the grid
penalty before and after, the moves applied by kind, the work charged and the process time.
A quick loop for tuning the phase without re-running the engine; the figures that count come
from ``bench/district_plans.py`` (the engine with the phase inside its budget).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from district_plans import district_problem  # noqa: E402

from solver.location import decompose  # noqa: E402
from solver.location.model import build_instance, evaluate  # noqa: E402
from solver.location.reallocate import reallocate  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """An engine plan: assignment, open sites, the Lagrangian bound and whether the wall clock
    cut the run."""

    assign: NDArray[np.int32]
    open: NDArray[np.bool_]
    bound: float
    wall_clock_bound: bool


def engine_plan(residents: int, seed: int, budget: float, cache: Path) -> Plan:
    """The engine's final plan without the reallocation (cached)."""
    path = cache / f"natplan-plan-{residents}-{seed}-{budget:g}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            assign, open_sites, bound, cut = pickle.load(fh)
        return Plan(assign, open_sites, float(bound), bool(cut))
    from sampling.stages.limits import wall_safety
    from solver.location.engine import solve

    problem = district_problem(residents, seed, cache)
    # imported there, not exported: patched by name
    saved = {name: getattr(decompose, name) for name in ("reserve_work", "improve_on_clock")}
    setattr(decompose, "reserve_work", lambda arcs, budget: 0.0)  # noqa: B010
    setattr(decompose, "improve_on_clock", lambda inst, a, o, clock, limit: (a, o))  # noqa: B010
    try:
        r = solve(problem, time_limit=wall_safety(budget), work_budget=budget, seed=seed)
    finally:
        for name, value in saved.items():
            setattr(decompose, name, value)
    plan = Plan(
        r.site_of_client,
        r.open_sites,
        float(r.stats.get("lagrangian_bound", r.lower_bound)),
        bool(r.stats.get("wall_clock_bound", 0.0)),
    )
    with path.open("wb") as fh:
        data = (plan.assign, plan.open, plan.bound, plan.wall_clock_bound)
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="district seeds")
    parser.add_argument("--time-limit", type=float, default=30.0, help="engine work budget")
    parser.add_argument("--work-limit", type=float, nargs="+", default=[0.9])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    for residents in args.residents:
        for seed in args.seed:
            plan = engine_plan(residents, seed, args.time_limit, args.cache)
            inst = build_instance(district_problem(residents, seed, args.cache))
            bound = plan.bound
            before = evaluate(inst, plan.assign, plan.open)
            for limit in args.work_limit:
                started = time.process_time()
                res = reallocate(inst, plan.assign, plan.open, work_limit=limit)
                cpu = time.process_time() - started
                after = evaluate(inst, res.assign, plan.open)
                figures: dict[str, object] = {
                    "residents": residents,
                    "seed": seed,
                    "work_limit": limit,
                }
                for name, ev in (("before", before), ("after", after)):
                    rest = ev.objective - ev.group_penalty
                    figures[name] = {
                        "feasible": ev.feasible,
                        "objective": round(ev.objective, 3),
                        "without_grid": round(rest, 3),
                        "grid_penalty": round(ev.group_penalty, 3),
                        "gap_without_grid_pct": round(100 * (rest - bound) / bound, 3),
                    }
                figures.update(
                    rounds=res.rounds,
                    applied=res.applied,
                    work=round(res.work, 3),
                    cpu_seconds=round(cpu, 3),
                    engine_wall_clock_bound=plan.wall_clock_bound,
                )
                print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
