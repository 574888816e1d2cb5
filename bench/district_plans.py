"""The location engine alone on generated districts: plan quality of the regional decomposition.

    python bench/district_plans.py --residents 1000000 --seed 1 --time-limit 30
    python bench/district_plans.py --residents 1000000 --seed 0 1 --region-arcs 30000 45000

Generates the district once (as ``bench/scale.py`` does: ``generate_district``, the scenario
loader and the assignment stage's :func:`~sampling.stages.assignment.build_problem`) and keeps
its :class:`~solver.location.problem.LocationProblem` pickled under ``--cache`` (default
``/tmp``), so further runs skip generation and go straight to
:func:`solver.location.engine.solve` with the same work budget and wall-clock safety stop as
the assignment stage. Prints one JSON line per run: the objective with and without the grid
penalty, the first whole-district plan's objective (before the regions), the bound, both
gaps, work by phase (also the engine's) and wall seconds. ``--region-arcs`` (a fixed region
size) and ``--engine-share`` override the
decomposition's rules (``--scales``: the region sizes of the passes; to check that they do not fit one instance only).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.location import decompose  # noqa: E402
from solver.location.problem import LocationProblem  # noqa: E402


def district_problem(residents: int, seed: int, cache: Path) -> LocationProblem:
    """The assignment stage's location problem of a generated district (cached)."""
    path = cache / f"natplan-district-{residents}-{seed}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            problem: LocationProblem = pickle.load(fh)
        return problem
    from sampling.generate import generate_district
    from sampling.scenario.loader import load_scenario
    from sampling.stages.assignment import build_problem

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "district"
        generate_district(residents, seed, folder, fmt="parquet")
        problem = build_problem(load_scenario(folder))[0]
    with path.open("wb") as fh:
        pickle.dump(problem, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return problem


def run(problem: LocationProblem, seed: int, time_limit: float) -> dict[str, object]:
    """Solve ``problem`` as the assignment stage does and return its figures."""
    from sampling.stages.limits import wall_safety
    from solver.location.engine import solve

    started = time.perf_counter()
    r = solve(problem, time_limit=wall_safety(time_limit), work_budget=time_limit, seed=seed)
    seconds = time.perf_counter() - started
    grid = float(r.stats.get("group_penalty", 0.0))
    lag = float(r.stats.get("lagrangian_bound", r.lower_bound))
    first = float(r.stats.get("decompose_first_objective", float("nan")))
    return {
        "objective": round(r.objective, 3),
        "without_grid": round(r.objective - grid, 3),
        "grid_penalty": round(grid, 3),
        "first_objective": round(first, 3),
        "bound": round(r.lower_bound, 3),
        "lagrangian_bound": round(lag, 3),
        "gap_pct": round(100 * r.gap, 3),
        "gap_without_grid_pct": round(100 * float(r.stats.get("gap_without_group_penalty", 0)), 3),
        "status": r.status,
        "wall_clock_bound": bool(r.stats.get("wall_clock_bound", 0.0)),
        "seconds": round(seconds, 1),
        "work": {k[5:]: round(float(v), 2) for k, v in r.stats.items() if k.startswith("work_")},
        # the whole-problem engine's work by phase (its construction, bound and neighbourhoods)
        "engine_work": {
            k[12:]: round(float(v), 2)
            for k, v in r.stats.items()
            if k.startswith("engine_work_") and k != "engine_work_seconds"
        },
        # process seconds by phase, to compare with the work charged (work.WorkClock)
        "cpu": {k[4:]: round(float(v), 2) for k, v in r.stats.items() if k.startswith("cpu_")},
        "engine_cpu": {
            k[11:]: round(float(v), 2) for k, v in r.stats.items() if k.startswith("engine_cpu_")
        },
        "decompose": {
            k: round(float(v), 4)
            for k, v in r.stats.items()
            if k.startswith("decompose_") and k != "decompose_first_objective"
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="district seeds")
    parser.add_argument("--time-limit", type=float, default=30.0, help="work budget")
    parser.add_argument("--region-arcs", type=int, nargs="*", default=[])
    parser.add_argument("--engine-share", type=float, nargs="*", default=[])
    parser.add_argument("--scales", type=float, nargs="*", default=[], help="region sizes")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="other decompose constants"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    region_arcs: list[int | None] = list(args.region_arcs) or [None]
    shares: list[float | None] = list(args.engine_share) or [None]
    if args.scales:
        decompose.SCALES = tuple(args.scales)
    for item in args.set:
        name, value = item.split("=", 1)
        setattr(decompose, name, type(getattr(decompose, name))(value))
    for residents in args.residents:
        for seed in args.seed:
            problem = district_problem(residents, seed, args.cache)
            for arcs in region_arcs:
                for share in shares:
                    if arcs is not None:  # a fixed region size instead of region_arcs' rule
                        decompose.MIN_REGION_ARCS = decompose.MAX_REGION_ARCS = arcs
                    if share is not None:  # a fixed share instead of engine_work's rule
                        decompose.ENGINE_PER_ARC = 0.0
                        decompose.ENGINE_SEARCH_SHARE = decompose.ENGINE_MAX_SHARE = share
                    figures = {
                        "residents": residents,
                        "seed": seed,
                        "arcs": int(problem.arc_client.shape[0]),
                        "engine_share": round(
                            decompose.engine_work(problem.arc_client.shape[0], args.time_limit)
                            / args.time_limit,
                            3,
                        ),
                        "scales": list(decompose.SCALES),
                        "set": args.set,
                        **run(problem, seed, args.time_limit),
                    }
                    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
