"""Run every benchmark in sequence and print their figures (``make bench``; about an hour).

Each benchmark is its own script (see its docstring); this only runs them one after another so
they never compete for the two cores. Pass names to run a subset:

    python bench/run_all.py cpmp vrptw scale
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

RUNS: dict[str, list[str]] = {
    "cpmp": ["cpmp.py", "--all"],  # pmedcap1 (5 s each) and SJC (30 s each) vs known optima
    "vrptw": ["vrptw.py", "--all", "--time-limit", "10"],  # 56 Solomon vs DIMACS best-known
    "stefanello": ["cpmp.py", "--set", "stefanello"],  # 20 large CPMPs, 60 units each (issue 14)
    "cpmp_large": ["cpmp_large.py"],  # 6 generated CPMPs of 2,000-3,038 clients, gap to bound
    # the engine on generated districts, mid-size (not decomposed) to 5M (issue 14)
    "districts": [
        "district_plans.py",
        "--residents",
        *("40000", "120000", "300000", "1000000", "5000000"),
        *("--seed", "0", "1"),
    ],
    # the default work budget (30 s per stage), as a planner runs it
    "scale": ["scale.py", "--residents", "10000", "100000", "1000000"],
    "location_scale": ["location_scale.py", "--clients", "10000", "--sites", "1200"],
    "day": ["day_scale.py"],
    "home_visits": ["home_visit_scale.py"],
    "streets": ["streets_scale.py"],
    "map": ["map_scale.py"],
    "transport": ["transport.py", "--residents", "1000000", "--time-limit", "30"],  # issue 16
    "replan": ["replan.py", "--residents", "1000000"],  # issue 15: re-plan at 10:00
    "city": ["city.py", "--residents", "2000000", "--districts", "4"],  # issue 17
}


def main() -> int:
    chosen = sys.argv[1:] or list(RUNS)
    unknown = [name for name in chosen if name not in RUNS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(RUNS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name}: {' '.join(RUNS[name])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(BENCH / RUNS[name][0]), *RUNS[name][1:]])
        print(f"=== {name}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed or missed a target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
