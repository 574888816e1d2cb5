"""Capacitated p-median benchmarks (pmedcap1, SJC, Stefanello) for :func:`solver.location.engine.solve`.

Usage::

    python bench/cpmp.py INSTANCE [--time-limit S] [--solution FILE] [--k K]
    python bench/cpmp.py --all [--time-limit S]                 # pmedcap1 and SJC
    python bench/cpmp.py --set stefanello [--only lin318_100 …]  # the 20 large instances
    python bench/cpmp.py --set every                            # all three sets
    python bench/cpmp.py --set stefanello --seed 1 --stats      # another seed, work by phase

Default time limits: 5 s (pmedcap1), 30 s (SJC), 60 s (Stefanello). The time limit is the
engine's work budget (estimated seconds on a quiet 2-core machine, :mod:`solver.location.work`);
``--wall-limit W`` sets a later wall-clock safety stop, so that a loaded machine still shows the
deterministic result. Stefanello instances
(``stefanello/*.dat``, SJC's format) are compared with ``stefanello/bks.csv`` (best known;
proven optimal for some).

Every client is a candidate site, exactly p sites open, objective = Σ unweighted distances
(pmedcap1: floor of the Euclidean distance; SJC: plain Euclidean). The LocationProblem gets
the FULL arc set (n² arcs; 162k for SJC4) unless ``--k`` restricts each client to its K
nearest sites; the solver's Lagrangian bound is therefore a bound for the instance itself,
and its exact MIPs work on the arcs the Lagrangian cannot exclude.
Prints one JSON line per instance (and a summary table with --all).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.location.engine import LocationProblem, solve

SHARED_BENCH = Path(
    os.environ.get("NATPLAN_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "bench")
)
"""Benchmark instances: ``../shared/bench`` beside the repository, or ``$NATPLAN_BENCH_DATA``."""
ROOT = SHARED_BENCH / "location"
SJC_OPT = {
    "SJC1": 17288.99,
    "SJC2": 33270.94,
    "SJC3a": 45335.16,
    "SJC3b": 40635.90,
    "SJC4a": 61925.51,
    "SJC4b": 52458.02,
}


def best_known(path: Path) -> float | None:
    """Known optimum (pmedcap1 file header, SJC table) or Stefanello best known (bks.csv)."""
    if path.stem in SJC_OPT:
        return SJC_OPT[path.stem]
    bks = path.parent / "bks.csv"
    if not bks.exists():
        return None
    for line in bks.read_text().splitlines()[1:]:
        cols = line.split(",")
        if cols and cols[0] == path.stem:
            return float(cols[4])
    return None


def default_limit(path: Path) -> float:
    """Per-set default time limit: pmedcap1 5 s, SJC 30 s, Stefanello 60 s."""
    if path.suffix == ".txt":
        return 5.0
    return 60.0 if path.parent.name == "stefanello" else 30.0


def read_instance(
    path: Path,
) -> tuple[str, int, np.ndarray, np.ndarray, np.ndarray, float | None, bool]:
    """Return name, p, coordinates, demand, capacity, known optimum, floor-distance flag."""
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if path.suffix == ".txt":
        opt = float(rows[0][1])
        n, p, q = (int(v) for v in rows[1][:3])
        a = np.array(rows[2 : 2 + n], dtype=float)
        return path.stem, p, a[:, 1:3], a[:, 3].astype(np.int64), np.full(n, q, np.int64), opt, True
    n, p = (int(v) for v in rows[0][:2])
    a = np.array(rows[1 : 1 + n], dtype=float)
    return (
        path.stem,
        p,
        a[:, 0:2],
        a[:, 3].astype(np.int64),
        a[:, 2].astype(np.int64),
        best_known(path),
        False,
    )


def build_problem(
    xy: np.ndarray, demand: np.ndarray, cap: np.ndarray, p: int, floor: bool, k: int | None
) -> LocationProblem:
    """Arcs from every client to its k nearest sites (all sites if k is None)."""
    n = xy.shape[0]
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    if floor:
        dist = np.floor(dist)
    if k is None or k >= n:
        cli = np.repeat(np.arange(n), n)
        site = np.tile(np.arange(n), n)
    else:
        near = np.argsort(dist, axis=1, kind="stable")[:, :k]
        cli = np.repeat(np.arange(n), k)
        site = near.ravel()
    return LocationProblem(
        demand=demand,
        capacity=cap,
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site],
        site_status=np.zeros(n, dtype=np.int8),
        max_open=p,
        exact_open=True,
    )


def run(
    path: Path,
    time_limit: float,
    k: int | None,
    solution: Path | None,
    wall_limit: float | None = None,
    seed: int = 0,
    stats: bool = False,
) -> dict[str, object]:
    """Solve one instance with ``time_limit`` seconds of work (the deterministic budget) and
    ``wall_limit`` (default ``time_limit``) as the wall-clock safety stop; ``stats`` adds the
    engine's work per phase and its counters."""
    name, p, xy, demand, cap, opt, floor = read_instance(path)
    prob = build_problem(xy, demand, cap, p, floor, k)
    t = time.perf_counter()
    wall = time_limit if wall_limit is None else max(wall_limit, time_limit)
    res = solve(prob, time_limit=wall, seed=seed, work_budget=time_limit)
    secs = time.perf_counter() - t
    if solution is not None:
        solution.write_text(
            "".join(f"{i} {s}\n" for i, s in enumerate(res.site_of_client.tolist()))
        )
    out: dict[str, object] = {
        "instance": name,
        "n": int(xy.shape[0]),
        "p": p,
        "objective": round(res.objective, 4),
        "best_known": opt,
        "gap_to_optimum_pct": None if opt is None else round(100 * (res.objective - opt) / opt, 4),
        "lower_bound": round(res.lower_bound, 4),
        "gap_to_bound_pct": round(100 * res.gap, 4),
        "seconds": round(secs, 2),
        "work_seconds": round(res.stats.get("work_seconds", 0.0), 2),
        "status": res.status,
        "wall_clock_bound": int(res.stats.get("wall_clock_bound", 0.0)),
        "seed": seed,
    }
    if stats:
        out["stats"] = {key: round(v, 3) for key, v in sorted(res.stats.items())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("instance", nargs="?", type=Path)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument(
        "--wall-limit",
        type=float,
        default=None,
        help="wall-clock safety stop (default: the time limit); the time limit stays the work "
        "budget, so a loaded machine gives the same plan as a quiet one",
    )
    ap.add_argument("--solution", type=Path)
    ap.add_argument("--k", type=int, default=None, help="arcs per client (default: all)")
    ap.add_argument("--all", action="store_true", help="run all pmedcap1 and SJC instances")
    ap.add_argument(
        "--set",
        choices=("pmedcap1", "sjc", "stefanello", "every"),
        help="run one instance set (every: all three)",
    )
    ap.add_argument("--only", nargs="*", default=None, help="with --set: these instance names")
    ap.add_argument("--seed", type=int, default=0, help="the engine's random seed")
    ap.add_argument("--stats", action="store_true", help="add the engine's statistics")
    args = ap.parse_args()
    if args.all or args.set:
        chosen = args.set or "classic"
        files: list[Path] = []
        if chosen in ("classic", "pmedcap1", "every"):
            files += sorted((ROOT / "pmedcap1").glob("*.txt"))
        if chosen in ("classic", "sjc", "every"):
            files += [ROOT / "sjc" / f"{s}.dat" for s in SJC_OPT]
        if chosen in ("stefanello", "every"):
            files += sorted((ROOT / "stefanello").glob("*.dat"))
        if args.only:
            files = [f for f in files if f.stem in set(args.only)]
        rows = []
        for f in files:
            tl = args.time_limit or default_limit(f)
            r = run(f, tl, args.k, None, args.wall_limit, args.seed, args.stats)
            print(json.dumps(r), flush=True)
            rows.append(r)
        stef = ("lin318", "ali535", "u724", "rl1304")
        sets: list[tuple[str, tuple[str, ...]]] = [("pmedcap1", ("pmedcap1",)), ("SJC", ("SJC",))]
        sets += [(t, (t,)) for t in stef] + [("Stefanello", stef)]
        for label, pre in sets:
            sel = [r for r in rows if str(r["instance"]).startswith(pre)]
            if not sel:
                continue
            gaps = [float(r["gap_to_optimum_pct"]) for r in sel]  # type: ignore[arg-type]
            secs = [float(r["seconds"]) for r in sel]  # type: ignore[arg-type]
            print(
                f"{label}: {len(sel)} instances, mean gap {np.mean(gaps):.3f} %, "
                f"max gap {np.max(gaps):.3f} %, at optimum {sum(g < 1e-3 for g in gaps)}, "
                f"max seconds {np.max(secs):.1f}"
            )
        return
    if args.instance is None:
        ap.error("INSTANCE or --all required")
    tl = args.time_limit or default_limit(args.instance)
    print(
        json.dumps(
            run(args.instance, tl, args.k, args.solution, args.wall_limit, args.seed, args.stats)
        )
    )


if __name__ == "__main__":
    main()
