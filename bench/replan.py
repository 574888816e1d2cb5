"""Re-plan benchmark: the rest of the day of a generated district after a point closes and a
team stays away.

    python bench/replan.py                                  # 1M residents, re-plan at 10:00
    python bench/replan.py --residents 200000 --at 11:30
    python bench/replan.py --work /tmp/replan-bench         # keep the district and its plan

Generates the district (``natplan generate``, seed 3) and plans it once (kept in ``--work`` for
later runs), then re-plans at ``--at`` with the most loaded open point closed and the team with
the most samplers on duty after ``--at`` absent, twice. Prints the re-plan's seconds (target
≤ 15 s at 1M), the buildings that change point next to the closed point's buildings still to
come (those must move; any other move is one the change-cost model found worth it, listed
with its walks), the cost model's and the staff re-balance's figures, the team moves with
their drive, the overtime residents and extra samplers of the saved plan and of the re-plan,
the changes by kind, and checks: residents conserved, no call before ``--at`` nor at the
closed point, the same plan both times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sampling import load_scenario  # noqa: E402
from sampling.clock import parse_clock  # noqa: E402
from sampling.generate import generate_district  # noqa: E402
from sampling.output import write_plan  # noqa: E402
from sampling.replan.events import Event, EventKind  # noqa: E402
from sampling.replan.pipeline import run_replan  # noqa: E402
from sampling.replan.progress import Progress  # noqa: E402
from sampling.replan.saved import read_saved_plan  # noqa: E402
from sampling.stages.planning import plan_campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--at", default="10:00")
    parser.add_argument("--time-limit", type=float, default=30.0, help="plan and re-plan")
    parser.add_argument("--work", type=Path, help="folder to keep the district and its plan")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="natplan-replan-"))
    scenario_dir, plan_dir = work / f"district-{args.residents}", work / f"plan-{args.residents}"
    if not (scenario_dir / "scenario.toml").exists():
        generate_district(args.residents, 3, scenario_dir, fmt="parquet")
    scenario = load_scenario(scenario_dir)
    if not (plan_dir / "summary.json").exists():
        started = time.perf_counter()
        write_plan(plan_campaign(scenario, time_limit=args.time_limit, seed=0), plan_dir)
        print(f"plan: {time.perf_counter() - started:.1f} s")
    at = parse_clock(args.at)
    saved = read_saved_plan(plan_dir)
    points = saved.tables["points"].filter(pl.col("open")).sort("load", descending=True)
    closed = str(points["point_id"][0])
    duty = (
        saved.tables["shifts"]
        .filter(pl.col("end_min") > at)
        .group_by("team_id")
        .agg(pl.col("tables").sum())
        .sort("tables", "team_id", descending=[True, False])
    )
    absent = str(duty["team_id"][0])
    events = (
        Event(at, EventKind.POINT_CLOSED, closed, None, 2),
        Event(at - 30, EventKind.TEAM_ABSENT, absent, None, 3),
    )
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        result = run_replan(
            saved, scenario, at, Progress.empty(), events, time_limit=args.time_limit, seed=0
        )
        runs.append((time.perf_counter() - started, result))
    seconds, result = runs[0]
    tables = result.plan.tables
    b = result.situation.buildings
    own = b.filter((pl.col("old_point") == closed) & (pl.col("remaining") > 0))
    old = saved.tables["assignments"].select("building_id", pl.col("point_id").alias("old"))
    moved = (
        old.join(tables["assignments"], on="building_id")
        .filter(pl.col("walk_in") > 0)
        .filter(pl.col("old").ne_missing(pl.col("point_id")))
    )
    conserved = bool(
        ((b["sampled"] + b["catchup"] + b["later"] + b["to_home"]) == b["walk_in"]).all()
    )
    calls = tables["timetable"]
    same = all(t.equals(runs[1][1].plan.tables[n]) for n, t in tables.items())
    print(f"district: {scenario.residents:,} residents, {scenario.buildings.height:,} buildings")
    print(f"events: {closed} closed at {args.at} (load {points['load'][0]:,}); {absent} absent")
    print(f"re-plan: {seconds:.1f} s (second run {runs[1][0]:.1f} s; target ≤ 15 s at 1M)")
    print(
        f"buildings changing point: {moved.height} "
        f"(closed point's buildings still to come: {own.height}; "
        f"moved from other points: {moved.filter(pl.col('old') != closed).height})"
    )
    others = moved.filter(pl.col("old") != closed)
    if others.height:
        walks = others.join(
            saved.tables["assignments"].select("building_id", pl.col("walk_min").alias("was")),
            on="building_id",
        )
        print(
            "moved by the cost model: "
            + "; ".join(
                f"{b} {o}→{p} (walk {w:.1f}→{n:.1f} min, {r} residents to come)"
                for b, o, p, w, n, r in walks.select(
                    "building_id", "old", "point_id", "was", "walk_min", "walk_in"
                ).iter_rows()
            )
        )
    print(f"points touched: {len(result.plan.touched)}")
    figures = result.plan.figures
    print(
        "cost model: "
        + ", ".join(
            f"{k} {figures.get(k)}"
            for k in (
                "clients",
                "arcs",
                "buildings_freed",
                "buildings_moved_by_cost",
                "moves_reverted",
                "status",
                "gap",
            )
        )
    )
    day = figures.get("day", {})
    tried = day.get("rebalance_tried", [])
    kept = sorted(set(tried) & result.plan.touched)
    print(
        f"staff re-balance: {len(tried)} donor points tried, {len(kept)} re-planned; waiting"
        f" saved {day.get('rebalance_relief_resident_min', 0):,} resident-min against"
        f" {day.get('rebalance_call_moves_residents', 0):,} residents whose call it moves"
    )
    moves = result.changes.filter(pl.col("kind") == "team_moved")
    print(
        "team moves: "
        + "; ".join(
            f"{t} {o}→{n} ({m} min)"
            for t, o, n, m in moves.select(
                "team_id", "old_point_id", "new_point_id", "travel_min"
            ).iter_rows()
        )
    )
    before = saved.summary
    print(
        f"overtime residents: saved plan {before.get('residents_overtime')}, "
        f"re-plan {result.summary.get('residents_overtime')}; extra samplers: saved plan "
        f"{before.get('capacity_plan_extra_samplers')}, "
        f"re-plan {result.summary.get('capacity_plan_extra_samplers')}"
    )
    counts = result.changes.group_by("kind").len().sort("kind")
    print("changes: " + ", ".join(f"{k} {n}" for k, n in counts.iter_rows()))
    s = result.summary
    print(
        f"residents: swabbed {s['residents_sampled']:,} + remaining {s['residents_remaining']:,}"
        f" = {s['residents_day_total']:,}; finish {s['finish_time']}; alerts {s['alerts']}"
    )
    print(f"conserved per building: {conserved}")
    print(f"calls before --at: {calls.filter(pl.col('call_start_min') < at).height}")
    print(f"calls at the closed point: {calls.filter(pl.col('point_id') == closed).height}")
    print(f"same plan twice: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
