"""District-scale home-visit routing run on a synthetic 1M-resident district.

Households cluster like buildings in neighbourhoods over ~10 × 10 km (several households can
share a building); persons per immobile household 1–3 (service 10 min + 3 min per person);
teams start and end at testing points spread over the district, working 08:00–17:00 or
staggered (08:00–16:00 / 09:00–17:00); walking 75 m/min with detour factor 1.3; a share of
households asks for a half-day window. Prints one JSON line: seconds, served share, routes.

    python bench/home_visit_scale.py [--households 7000] [--teams 220] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.routing import RoutingProblem, solve
from solver.routing.check import check_result

H = 3600


def build(
    households: int, teams: int, seed: int, staggered: bool, window_share: float
) -> RoutingProblem:
    """Synthetic district instance in arrays (metres, seconds of the day)."""
    rng = np.random.default_rng(seed)
    side = 10_000.0
    hoods = rng.uniform(0, side, size=(120, 2))
    n_build = max(1, households // 3)
    hood = rng.integers(len(hoods), size=n_build)
    build_xy = np.clip(hoods[hood] + rng.normal(0, 350, size=(n_build, 2)), 0, side)
    at = rng.integers(n_build, size=households)
    xy = build_xy[at] + rng.normal(0, 3, size=(households, 2))  # entrances of one building
    persons = rng.choice([1, 2, 3], size=households, p=[0.8, 0.18, 0.02])
    service = 600 + 180 * persons
    early = np.full(households, 8 * H)
    late = np.full(households, 17 * H)
    has_w = rng.random(households) < window_share
    am = rng.random(households) < 0.5
    late[has_w & am] = 12 * H
    early[has_w & ~am] = 13 * H
    points = rng.uniform(500, side - 500, size=(max(1, teams // 4), 2))
    team_xy = points[np.arange(teams) % len(points)]
    a_from = np.full(teams, 8 * H)
    a_to = np.full(teams, 17 * H)
    if staggered:
        a_from[1::2] = 9 * H
        a_to[0::2] = 16 * H
    return RoutingProblem.planar(
        xy,
        service,
        team_xy,
        a_from,
        a_to,
        tw_early=early,
        tw_late=late,
        demand=persons,
        speed=75.0,
        detour=1.3,
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=7000)
    ap.add_argument("--teams", type=int, default=220)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--staggered", action="store_true")
    ap.add_argument("--window-share", type=float, default=0.25)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    problem = build(args.households, args.teams, args.seed, args.staggered, args.window_share)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = solve(problem, time_limit=args.time_limit, seed=args.seed, workers=args.workers)
    secs = time.perf_counter() - t1
    rep = check_result(problem, res)
    served = int((res.vehicle >= 0).sum())
    per_route = [len(r.stops) for r in res.routes if r.stops]
    print(
        json.dumps(
            {
                "households": args.households,
                "teams": args.teams,
                "seconds": round(secs, 2),
                "build_seconds": round(t_build, 2),
                "served_share": round(served / max(1, problem.num_stops), 4),
                "unserved": dict(Counter(r for r in res.reason if r)),
                "routes": res.num_routes,
                "stops_per_route": round(float(np.mean(per_route)), 1) if per_route else 0,
                "km_per_route": round(res.total_distance / 1000 / max(1, res.num_routes), 2),
                "total_km": round(res.total_distance / 1000, 1),
                "regions": res.stats.regions,
                "status": res.status,
                "check_ok": rep.ok,
                "violations": rep.violations[:3],
            }
        )
    )
    return 0 if rep.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
