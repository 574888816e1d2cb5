"""Street-distance benchmark: a city-sized synthetic street graph, district-sized demand.

    python bench/streets_scale.py                       # ~100k nodes, 10k buildings, 1,200 points
    python bench/streets_scale.py --nodes 400000 --buildings 50000 --points 5000

The graph is a jittered grid of blocks over ``--area-km2`` (default 100 km², a 1M-resident
district: about 40 m between nodes at 100k nodes), 8 % of street segments missing, two shape
nodes on a quarter of the segments (like OSM way geometry); buildings and points are uniform
over it. Prints one JSON line: graph size, pairs found, seconds for snapping and
for the limited Dijkstra runs, the total, and the observed detour factor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.streets import StreetGraph, collapse_edges, street_pairs  # noqa: E402


def grid_city(nodes: int, area_km2: float, seed: int) -> StreetGraph:
    """A jittered street grid of about ``nodes`` nodes (incl. shape nodes) over ``area_km2``."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(nodes / 1.46))
    spacing = np.sqrt(area_km2) * 1000.0 / side
    gx, gy = np.meshgrid(np.arange(side) * spacing, np.arange(side) * spacing)
    x = (gx + rng.normal(0.0, spacing / 10, gx.shape)).ravel()
    y = (gy + rng.normal(0.0, spacing / 10, gy.shape)).ravel()
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.08
    u, v = u[keep], v[keep]
    # shape nodes: split a quarter of the segments into three pieces (curvy OSM ways)
    split = rng.random(len(u)) < 0.25
    su, sv = u[split], v[split]
    n0 = len(x)
    k = len(su)
    a, b = n0 + np.arange(k), n0 + k + np.arange(k)
    bend = rng.normal(0.0, 4.0, (2, k))
    ax = x[su] + (x[sv] - x[su]) / 3 + bend[0]
    ay = y[su] + (y[sv] - y[su]) / 3 + bend[1]
    bx = x[su] + 2 * (x[sv] - x[su]) / 3 + bend[0]
    by = y[su] + 2 * (y[sv] - y[su]) / 3 + bend[1]
    x = np.concatenate([x, ax, bx])
    y = np.concatenate([y, ay, by])
    eu = np.concatenate([u[~split], su, a, b])
    ev = np.concatenate([v[~split], a, b, sv])
    length = np.hypot(x[eu] - x[ev], y[eu] - y[ev])
    eu, ev, length = collapse_edges(eu, ev, length)
    return StreetGraph(x, y, eu, ev, length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--area-km2", type=float, default=100.0, help="city area")
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_200)
    parser.add_argument("--limit", type=float, default=1_125.0, help="walking limit, metres")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    graph = grid_city(args.nodes, args.area_km2, args.seed)
    built = time.perf_counter() - started
    rng = np.random.default_rng(args.seed + 1)
    high = np.array([graph.x.max(), graph.y.max()])
    buildings = rng.uniform(0.0, 1.0, (args.buildings, 2)) * high
    points = rng.uniform(0.0, 1.0, (args.points, 2)) * high
    weight = rng.integers(20, 400, args.buildings).astype(np.float64)

    started = time.perf_counter()
    pairs, report = street_pairs(
        graph, buildings, points, walk_limit_m=args.limit, building_weight=weight
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "nodes": graph.nodes,
                "edges": graph.edges,
                "area_km2": round(float(high.prod()) / 1e6, 1),
                "buildings": args.buildings,
                "points": args.points,
                "pairs": len(pairs),
                "graph_build_s": round(built, 2),
                "snap_s": round(report.seconds["snap"], 2),
                "network_s": round(report.seconds["network"], 2),
                "street_pairs_s": round(seconds, 2),
                "detour_median": round(report.detour_median, 3),
                "detour_mean": round(report.detour_mean, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
