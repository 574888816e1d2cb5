"""Scale run of :func:`solver.location.engine.solve` on a synthetic district-like instance.

Usage::

    python bench/location_scale.py --clients 10000 --sites 1200 [--time-limit 30] [--seed 0]

Instance (all arrays, built with a KD-tree): clustered buildings in a 10 × 10 km area with
20–600 residents each, candidate sites near buildings, arcs only within 865 m straight line
(15 min × 75 m/min ÷ 1.3 detour), cost = residents × distance × 1.3, capacity = tables
(4–10) × 700, unit capacity 700, table limit 1.1 × ceil(residents / 700), max_open =
residents / 2500, 1 % required and 2 % closed sites, unserved cost = residents × 5000 m,
grids of 20 buildings in Morton order, λ = 2000. Prints one JSON line with seconds per phase,
peak RSS, objective, bound and gap. Timings are noisy when other jobs share the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.location.engine import LocationProblem, solve

WALK = 15 * 75 / 1.3  # 865 m straight line
DETOUR = 1.3
UNIT = 700


def morton(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Interleave the bits of two 16-bit grid coordinates (z-order)."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    out: np.ndarray = spread(ix) | (spread(iy) << np.uint64(1))
    return out


def build(n: int, m: int, seed: int) -> tuple[LocationProblem, dict[str, float]]:
    """Synthetic district: returns the problem and a few descriptive numbers."""
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_clusters = max(5, n // 250)
    centres = rng.uniform(500, 9500, size=(n_clusters, 2))
    spread = rng.uniform(200, 700, size=n_clusters)
    which = rng.integers(0, n_clusters, size=n)
    xy = centres[which] + rng.normal(size=(n, 2)) * spread[which, None]
    xy = np.clip(xy, 0, 10_000)
    residents = np.clip(20 + rng.exponential(80, size=n), 20, 600).astype(np.int64)
    # sites near random buildings (weighted by residents) with a little jitter
    pick = rng.choice(n, size=m, replace=True, p=residents / residents.sum())
    sxy = xy[pick] + rng.normal(size=(m, 2)) * 60
    tb, ts = cKDTree(xy), cKDTree(sxy)
    pairs = tb.sparse_distance_matrix(ts, WALK, output_type="ndarray")
    cli = pairs["i"].astype(np.int32)
    site = pairs["j"].astype(np.int32)
    dist = pairs["v"].astype(np.float64)
    cost = residents[cli] * dist * DETOUR
    tables = rng.integers(4, 11, size=m)
    status = np.zeros(m, dtype=np.int8)
    perm = rng.permutation(m)
    status[perm[: max(1, m // 100)]] = 1
    status[perm[max(1, m // 100) : max(1, m // 100) + max(1, m // 50)]] = -1
    total = int(residents.sum())
    needed = -(-total // UNIT)
    cell = np.floor(xy / 50).astype(np.int64)
    order = np.argsort(morton(cell[:, 0], cell[:, 1]), kind="stable")
    group = np.empty(n, dtype=np.int32)
    group[order] = np.arange(n) // 20
    prob = LocationProblem(
        demand=residents,
        capacity=(tables * UNIT).astype(np.int64),
        arc_client=cli,
        arc_site=site,
        arc_cost=cost,
        site_status=status,
        max_open=total // 2500,
        unserved_cost=(residents * 5000.0).astype(np.float64),
        unit_capacity=UNIT,
        max_units_total=round(1.1 * needed),
        group=group,
        group_split_penalty=2000.0,
    )
    info = {
        "residents": float(total),
        "arcs": float(cli.shape[0]),
        "clients_without_arc": float(np.count_nonzero(np.bincount(cli, minlength=n) == 0)),
        "max_open": float(total // 2500),
        "max_units_total": float(round(1.1 * needed)),
        "seconds_build": time.perf_counter() - t,
    }
    return prob, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--sites", type=int, default=1_200)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    prob, info = build(args.clients, args.sites, args.seed)
    t = time.perf_counter()
    res = solve(prob, time_limit=args.time_limit, seed=args.seed)
    secs = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out: dict[str, object] = {
        "clients": args.clients,
        "sites": args.sites,
        **{k: round(v, 3) for k, v in info.items()},
        "seconds_solve": round(secs, 2),
        **{k: round(v, 3) for k, v in res.stats.items()},
        "peak_rss_mib": round(rss, 1),
        "objective": round(res.objective, 1),
        "lower_bound": round(res.lower_bound, 1),
        "gap_pct": round(100 * res.gap, 3),
        "status": res.status,
        "open": int(res.open_sites.sum()),
        "tables": int(res.units.sum()),
        "unserved": int(np.count_nonzero(res.site_of_client < 0)),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
