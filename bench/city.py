"""City benchmark: a generated city planned on Dask, in parallel and (optionally) one by one.

    python bench/city.py                                   # 10M residents, 10 districts, 2 workers
    python bench/city.py --residents 2000000 --districts 4 --sequential
    python bench/city.py --scheduler tcp://127.0.0.1:8786  # workers started by hand

Generates the city (Parquet tables) into ``--work`` (kept and reused between runs), plans it
with ``--workers`` local worker processes (or on ``--scheduler``) into a fresh output folder,
and prints the total wall time, each district's time, worker and the worker's peak memory,
the peak memory per worker, and the sum of the district times against the wall time. With
``--sequential`` the same city is also planned with one worker, one district after another:
the speed-up is the ratio of the two wall times, and the two runs' district tables must be
byte-identical (the plans do not depend on the number of workers). ``--compare DIR`` checks
the district tables against an earlier run's output folder (e.g. the local run when
``--scheduler`` points at hand-started workers).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sampling.city.generate import generate_city  # noqa: E402
from sampling.city.plan import CityRun, plan_city  # noqa: E402


def tables(out: Path) -> dict[str, bytes]:
    """Every district's Parquet tables by ``district/table`` (byte contents)."""
    return {
        f"{p.parent.name}/{p.name}": p.read_bytes()
        for p in sorted(out.glob("*/*.parquet"))
        if p.parent != out
    }


def differences(first: Path, second: Path) -> list[str]:
    """Tables that differ (or exist in one run only) between two city output folders."""
    a, b = tables(first), tables(second)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def run(
    city: Path, out: Path, args: argparse.Namespace, workers: int, scheduler: str | None
) -> tuple[CityRun, float]:
    """Plan ``city`` into a fresh ``out``; return the run and its wall time."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = plan_city(
        city,
        out,
        scheduler=scheduler,
        workers=workers,
        time_limit=args.time_limit,
        wall_limit=args.wall_limit,
        seed=0,
        lang="en",
        echo=lambda line: print(f"  {line}", flush=True),
    )
    return result, time.perf_counter() - started


def report(label: str, result: CityRun, wall: float) -> float:
    """Print a run's figures; return the sum of its district task times."""
    rows = result.summary["districts"]
    busy = sum(r["seconds"] or 0.0 for r in rows)
    print(f"{label}: wall {wall:.1f} s for {len(rows)} districts; district times sum {busy:.1f} s")
    for r in rows:
        print(
            f"  {r['district']}: {r['residents_total'] or 0:>9,} residents, {r['seconds'] or 0:6.1f} s"
            f" (plan {r['plan_seconds'] or 0:5.1f} s), {r['worker']}, worker peak"
            f" {r['peak_rss_mib'] or 0:,.0f} MiB, status {r['status']}, wall-clock cut {r['wall_clock_bound']}"
        )
    peaks: dict[str, float] = {}
    for r in rows:
        if r["worker"]:
            peaks[r["worker"]] = max(peaks.get(r["worker"], 0.0), r["peak_rss_mib"] or 0.0)
    for worker, peak in sorted(peaks.items()):
        print(f"  peak memory of worker {worker}: {peak:,.0f} MiB")
    return busy


def main() -> None:
    """Parse the options, generate (or reuse) the city, plan it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000_000)
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=30.0, help="work budget per stage")
    parser.add_argument("--wall-limit", type=float, help="wall-clock safety per stage")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="an existing Dask scheduler instead of a LocalCluster")
    parser.add_argument("--sequential", action="store_true", help="also plan with one worker")
    parser.add_argument("--compare", type=Path, help="an earlier output folder to compare with")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "natplan-bench-city"
    )
    args = parser.parse_args()

    city = args.work / f"city-{args.residents}-{args.districts}-{args.seed}"
    if not (city / "city.toml").is_file():
        started = time.perf_counter()
        generate_city(args.residents, args.districts, args.seed, city, fmt="parquet")
        print(f"generated {city} in {time.perf_counter() - started:.1f} s")
    label = "scheduler" if args.scheduler else f"{args.workers} workers"
    out = (
        args.work
        / f"out-{args.residents}-{args.districts}-{'scheduler' if args.scheduler else args.workers}"
    )
    parallel, wall = run(city, out, args, args.workers, args.scheduler)
    busy = report(label, parallel, wall)
    print(f"  district times ÷ wall = {busy / wall:.2f} (work done in parallel)")
    if args.sequential:
        seq_out = args.work / f"out-{args.residents}-{args.districts}-sequential"
        sequential, seq_wall = run(city, seq_out, args, 1, None)
        report("1 worker (one district after another)", sequential, seq_wall)
        print(f"speed-up of {label} over one after another: {seq_wall / wall:.2f}×")
        diff = differences(out, seq_out)
        print(f"district tables identical across worker counts: {not diff} {diff[:5]}")
    if args.compare:
        diff = differences(out, args.compare)
        print(f"district tables identical to {args.compare}: {not diff} {diff[:5]}")


if __name__ == "__main__":
    main()
