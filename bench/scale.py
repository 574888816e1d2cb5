"""Scale benchmark: generate districts of given sizes and plan them, printing stage figures.

    python bench/scale.py                      # 10k, 100k and 1M residents
    python bench/scale.py --residents 1000000 --time-limit 30

Prints one JSON line per district: generation and load seconds, per-stage plan seconds, the
seconds to write everything (tables, map, documents, plan.xlsx: ``write_s``), the whole plan as
``natplan plan`` runs it (load + plan + write: ``whole_plan_s``), peak
memory (RSS of this process, which includes everything before it), buildings, candidate
points, arcs, objective, lower bound and gap. Each size runs in a fresh subprocess so peak
memory is per district.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_one(
    residents: int, seed: int, time_limit: float, wall_limit: float | None = None
) -> dict[str, object]:
    """Generate, load and plan one district; return its figures."""
    from sampling.generate import generate_district
    from sampling.output.write import write_plan
    from sampling.scenario.loader import load_scenario
    from sampling.stages.planning import plan_campaign

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "district"
        started = time.perf_counter()
        generate_district(residents, seed, folder, fmt="parquet")
        generated = time.perf_counter()
        scenario = load_scenario(folder)
        loaded = time.perf_counter()
        plan = plan_campaign(scenario, time_limit=time_limit, wall_limit=wall_limit, seed=seed)
        planned = time.perf_counter()
        write_plan(plan, Path(tmp) / "out")
        written = time.perf_counter()
        written_seconds = json.loads((Path(tmp) / "out" / "summary.json").read_text("utf-8"))[
            "seconds"
        ]
    summary = plan.summary()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "residents": residents,
        "buildings": scenario.buildings.height,
        "candidate_points": scenario.points.height,
        "arcs": plan.assignment.stats.arcs,
        "generate_s": round(generated - started, 2),
        "load_s": round(loaded - generated, 2),
        "plan_s": round(planned - loaded, 2),
        "write_s": round(written - planned, 2),
        "whole_plan_s": round(written - generated, 2),
        "stage_s": written_seconds,
        "peak_rss_mib": round(peak_mib, 1),
        "points_open": summary["points_open"],
        "tables_used": summary["tables_used"],
        "coverage": round(float(summary["coverage"]), 4),  # type: ignore[arg-type]
        "residents_unserved": summary["residents_unserved"],
        "objective": summary["objective"],
        "lower_bound": summary["lower_bound"],
        "gap_pct": round(100 * float(summary["gap"]), 3),  # type: ignore[arg-type]
        "grid_penalty": summary["grid_penalty"],
        "grids_split": summary["grids_split"],
        "gap_without_grid_penalty_pct": round(
            100 * float(summary["gap_without_grid_penalty"]),  # type: ignore[arg-type]
            3,
        ),
        "solver_wall_clock_bound": summary["solver_wall_clock_bound"],
        "status": summary["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=30.0, help="work budget per stage")
    parser.add_argument("--wall-limit", type=float, help="wall-clock safety per stage")
    parser.add_argument("--inline", action="store_true", help="run in this process (one size)")
    args = parser.parse_args()
    if args.inline:
        for residents in args.residents:
            figures = run_one(residents, args.seed, args.time_limit, args.wall_limit)
            print(json.dumps(figures), flush=True)
        return
    for residents in args.residents:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--inline",
                "--residents",
                str(residents),
                "--seed",
                str(args.seed),
                "--time-limit",
                str(args.time_limit),
                *(["--wall-limit", str(args.wall_limit)] if args.wall_limit else []),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
