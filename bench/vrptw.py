"""Solomon VRPTW benchmark for the home-visit routing engine (DIMACS 2021 convention).

Distances and travel times are the Euclidean distance truncated to one decimal: integers in
tenths (``isqrt(100 * (dx² + dy²))``, exact for the integer coordinates), times likewise scaled
by 10. All customers are mandatory, at most 25 vehicles, objective = total distance; the
objective printed is recomputed from the routes by the independent checker
(:mod:`solver.routing.check`), which also verifies windows, capacity and that all are served.

    python bench/vrptw.py C101 [--time-limit 10] [--solution out.txt]
    python bench/vrptw.py --all [--time-limit 10]      # table + mean/max gap
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.routing import MANDATORY, RoutingProblem, solve
from solver.routing.check import check_routes

SHARED_BENCH = Path(
    os.environ.get("NATPLAN_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "bench")
)
"""Benchmark instances: ``../shared/bench`` beside the repository, or ``$NATPLAN_BENCH_DATA``."""
ROOT = SHARED_BENCH / "routing"
SOLOMON = ROOT / "solomon"
BKS = ROOT / "solomon_bks.csv"


def read_solomon(path: Path) -> RoutingProblem:
    """Parse a Solomon file (CRLF tolerant) into a problem in tenths of a unit."""
    lines = [ln.split() for ln in path.read_text().splitlines()]
    nums = [ln for ln in lines if ln and all(tok.lstrip("-").isdigit() for tok in ln)]
    fleet, cap = int(nums[0][0]), int(nums[0][1])
    rows = np.array([[int(t) for t in ln] for ln in nums[1:]], dtype=np.int64)
    xy = rows[:, 1:3]
    dx = xy[:, None, 0] - xy[None, :, 0]
    dy = xy[:, None, 1] - xy[None, :, 1]
    sq = 100 * (dx * dx + dy * dy)
    dist = np.vectorize(math.isqrt, otypes=[np.int64])(sq)
    horizon = int(rows[0, 5]) * 10
    return RoutingProblem.from_matrices(
        dist,
        dist,
        stop_location=np.arange(1, len(rows)),
        service=rows[1:, 6] * 10,
        vehicle_start=np.zeros(fleet, dtype=np.int64),
        vehicle_end=np.zeros(fleet, dtype=np.int64),
        avail_from=int(rows[0, 4]) * 10,
        avail_to=horizon,
        tw_early=rows[1:, 4] * 10,
        tw_late=rows[1:, 5] * 10,
        demand=rows[1:, 3],
        penalty=MANDATORY,
        capacity=cap,
    )


def load_bks() -> dict[str, float]:
    """DIMACS best-known distances by instance name."""
    with BKS.open() as fh:
        return {r["instance"]: float(r["dimacs_distance"]) for r in csv.DictReader(fh)}


def run(
    name: str,
    time_limit: float,
    seed: int,
    solution: Path | None,
    portfolio: list[tuple[str, int]] | None = None,
) -> dict[str, object]:
    """Solve one instance and return the JSON record."""
    problem = read_solomon(SOLOMON / f"{name}.txt")
    t0 = time.perf_counter()
    res = solve(problem, time_limit=time_limit, seed=seed, portfolio=portfolio)
    secs = time.perf_counter() - t0
    routes = [list(r.stops) for r in res.routes]
    rep = check_routes(problem, routes, require_all=True)
    bks = load_bks().get(name)
    obj = rep.total_distance / 10 if rep.ok else None
    nroutes = rep.num_routes
    if solution is not None and rep.ok:
        lines = [
            f"Route #{k + 1}: " + " ".join(str(s + 1) for s in r)
            for k, r in enumerate(r for r in routes if r)
        ]
        solution.write_text("\n".join(lines) + f"\nCost {obj}\n")
    gap = None if obj is None or bks is None else round(100 * (obj - bks) / bks, 3)
    return {
        "instance": name,
        "objective": obj,
        "routes": nroutes,
        "seconds": round(secs, 2),
        "bks": bks,
        "gap_pct": gap,
        "engine": res.stats.engine,
        "violations": rep.violations[:3],
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", nargs="?")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solution", type=Path)
    ap.add_argument("--all", action="store_true")
    ap.add_argument(
        "--portfolio", help="engines to race, e.g. pyvrp,ortools (default: pyvrp,pyvrp seeds)"
    )
    args = ap.parse_args(argv)
    port = None
    if args.portfolio:
        names = args.portfolio.split(",")
        port = [(e, names[:k].count(e)) for k, e in enumerate(names)]
    if not args.all:
        if not args.instance:
            ap.error("INSTANCE or --all required")
        print(json.dumps(run(args.instance, args.time_limit, args.seed, args.solution, port)))
        return 0
    names = sorted(p.stem for p in SOLOMON.glob("*.txt"))
    gaps: list[float] = []
    secs: list[float] = []
    failed = 0
    print(f"{'instance':9} {'objective':>10} {'bks':>9} {'gap%':>7} {'routes':>6} {'s':>6} engine")
    for name in names:
        rec = run(name, args.time_limit, args.seed, None, port)
        g = rec["gap_pct"]
        if isinstance(g, float):
            gaps.append(g)
        else:
            failed += 1
        secs.append(float(str(rec["seconds"])))
        print(
            f"{name:9} {rec['objective']!s:>10} {rec['bks']!s:>9} {g!s:>7} "
            f"{rec['routes']!s:>6} {rec['seconds']!s:>6} {rec['engine']}",
            flush=True,
        )
    if gaps:
        print(
            f"mean gap {sum(gaps) / len(gaps):.3f} %  max gap {max(gaps):.3f} %  "
            f"feasible {len(gaps)}/{len(names)}  failed {failed}  "
            f"mean s {sum(secs) / len(secs):.2f}  max s {max(secs):.2f}"
        )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
