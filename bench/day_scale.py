"""Day-of-operations benchmark: staffing → call timetable → queue simulation at district scale.

    python bench/day_scale.py                         # ≈1M residents, 400 points, 150 teams
    python bench/day_scale.py --samplers 2800         # a short roster: shortfall + capacity plan
    python bench/day_scale.py --residents 200000 --points 80 --teams 30

Synthetic inputs are built directly as arrays (no scenario files): points on a 20 × 20 km
district, ≈25 buildings per point (lognormal sizes, a few towers), grids of ≈8 buildings,
tables = ceil(load / (rate × window hours)), teams with staggered arrivals 06:30–09:00.
Prints seconds per stage, overall finish against the capacity lower bound, points whose
simulated p95 wait exceeds the limit (before and after re-spreading), and the staffing
shortfall. Speed targets (they were wall-clock asserts in the unit tests): staffing ≤ 10 s for
400 points and 150 teams, call timetable ≤ 5 s for 10,000 buildings; checked when the run is
no larger than that (the default is), exit status 1 if one is missed. Wall-clock figures on a
shared machine are pessimistic.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.day.queue_sim import SimParams, repair_timetable, simulate  # noqa: E402
from solver.day.staffing import StaffingProblem, solve_staffing  # noqa: E402
from solver.day.timetable import TimetableProblem, build_timetable  # noqa: E402

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

#: Speed targets: (stage, seconds, points, teams, buildings) - the run must be no larger than
#: that for the target to apply.
TARGETS: tuple[tuple[str, float, int, int, int], ...] = (
    ("staffing", 10.0, 400, 150, 10_000),
    ("timetable", 5.0, 400, 150, 10_000),
)


@dataclass(frozen=True)
class District:
    """Synthetic day inputs as arrays."""

    point_xy: F64
    tables: I64
    b_point: I64
    b_residents: I64
    b_yellow: I64
    b_elderly: I64
    b_grid: I64
    team_samplers: I64
    team_from: I64
    team_to: I64
    team_xy: F64


def make_district(
    residents: int, points: int, teams: int, samplers: int | None, seed: int, rate: float
) -> District:
    """Build a synthetic district (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    side = 20_000.0
    pxy = rng.uniform(0, side, size=(points, 2))
    n_b = max(points, residents // 100)
    b_point = np.sort(rng.integers(0, points, size=n_b))
    size = rng.lognormal(mean=0.0, sigma=0.6, size=n_b)
    tower = rng.random(n_b) < 0.03
    size[tower] *= 5.0  # a few 400–700 resident towers
    res = np.maximum(1, np.floor(size / size.sum() * residents)).astype(np.int64)
    res[: residents - int(res.sum())] += 1 if residents > res.sum() else 0
    yellow = rng.binomial(res, 0.01).astype(np.int64)
    elderly = rng.binomial(res, rng.choice([0.1, 0.5], size=n_b, p=[0.85, 0.15])).astype(np.int64)
    # grids: consecutive buildings of a point, ≈8 per grid
    grid = np.cumsum(rng.random(n_b) < 1 / 8).astype(np.int64)
    grid = grid + b_point * n_b  # never shared across points here
    _, grid = np.unique(grid, return_inverse=True)
    load = np.bincount(b_point, weights=res, minlength=points)
    tables = np.maximum(1, np.ceil(load / (rate * 7.0))).astype(np.int64)
    total_tables = int(tables.sum())
    want = samplers if samplers is not None else round(total_tables * 2 * 1.08)
    share = rng.dirichlet(np.full(teams, 4.0))
    t_samp = np.maximum(2, np.floor(share * want)).astype(np.int64)
    arrive = rng.choice(
        np.array([390, 420, 450, 480, 510, 540]),
        size=teams,
        p=[0.35, 0.25, 0.15, 0.10, 0.08, 0.07],
    ).astype(np.int64)
    leave = np.where(rng.random(teams) < 0.1, 720, rng.choice([840, 870, 900], size=teams))
    local = rng.random(teams) < 0.6
    txy = np.where(
        local[:, None],
        rng.uniform(0, side, size=(teams, 2)),
        rng.uniform(-30_000, side + 30_000, size=(teams, 2)),
    )
    return District(
        pxy,
        tables,
        b_point.astype(np.int64),
        res,
        yellow,
        elderly,
        grid.astype(np.int64),
        t_samp,
        arrive,
        leave.astype(np.int64),
        txy,
    )


def missed_targets(seconds: dict[str, float], points: int, teams: int, buildings: int) -> int:
    """Print each speed target that applies to this size against its figure; how many missed."""
    missed = 0
    for stage, limit, max_points, max_teams, max_buildings in TARGETS:
        if points > max_points or teams > max_teams or buildings > max_buildings:
            print(
                f"target {stage}: not checked (run larger than {max_points} points,"
                f" {max_teams} teams, {max_buildings:,} buildings)"
            )
            continue
        ok = seconds[stage] <= limit
        missed += not ok
        print(
            f"target {stage}: {seconds[stage]:.2f} s against ≤ {limit:g} s"
            f" ({max_points} points, {max_teams} teams, {max_buildings:,} buildings):"
            f" {'met' if ok else 'MISSED'}"
        )
    return missed


def main() -> int:
    """Run the three stages, print the figures; 1 if a speed target is missed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=400)
    ap.add_argument("--teams", type=int, default=150)
    ap.add_argument("--samplers", type=int, default=None, help="default: 2.16 × tables")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument(
        "--sim-rate", type=float, default=None, help="actual swab rate (default: --rate)"
    )
    ap.add_argument("--yellow-mode", choices=["channel", "end_slot"], default="channel")
    ap.add_argument("--cv", type=float, default=0.4, help="swab time coefficient of variation")
    ap.add_argument("--late", type=float, default=0.1, help="share of residents arriving late")
    args = ap.parse_args()

    t0 = time.perf_counter()
    d = make_district(args.residents, args.points, args.teams, args.samplers, args.seed, args.rate)
    t1 = time.perf_counter()
    print(
        f"inputs: {int(d.b_residents.sum()):,} residents, {d.b_point.size:,} buildings, "
        f"{d.tables.size} points, {int(d.tables.sum()):,} tables, {d.team_samplers.size} teams, "
        f"{int(d.team_samplers.sum()):,} samplers  ({t1 - t0:.2f} s)"
    )

    sp = StaffingProblem(
        point_xy=d.point_xy,
        tables=d.tables,
        team_samplers=d.team_samplers,
        team_from=d.team_from,
        team_to=d.team_to,
        team_xy=d.team_xy,
    )
    st = solve_staffing(sp, seed=args.seed, time_limit=10.0)
    t2 = time.perf_counter()
    s = st.stats
    print(
        f"staffing: {t2 - t1:.2f} s  status={st.status} rows={st.team.size} "
        f"samplers_used={s.samplers_used:,} pairs={s.team_point_pairs} "
        f"split_teams={s.split_teams} travel={s.travel_m / 1000:.0f} km "
        f"shortfall={s.shortfall_lane_blocks} lane-blocks at {np.unique(st.short_point).size} "
        f"points; capacity plan +{s.extra_samplers} samplers (lower bound {s.extra_lower_bound})"
    )
    if st.extra_start.size:
        by_time = np.unique(st.extra_start, return_counts=False)
        parts = [
            f"{int(t) // 60:02d}:{int(t) % 60:02d}+{int(st.extra_samplers[st.extra_start == t].sum())}"
            for t in by_time
        ]
        print("  extra samplers by shift start: " + ", ".join(parts))

    tp = TimetableProblem(
        building_point=d.b_point,
        residents=d.b_residents,
        yellow=d.b_yellow,
        elderly=d.b_elderly,
        grid=d.b_grid,
        n_points=d.tables.size,
        table_edges=st.edges,
        tables=st.staffed_tables(d.tables),
        rate_per_hour=args.rate,
        yellow_mode=args.yellow_mode,
    )
    tt = build_timetable(tp)
    t3 = time.perf_counter()
    ts = tt.stats
    print(
        f"timetable: {t3 - t2:.2f} s  parts={tt.part_point.size:,} "
        f"split_buildings={ts.split_buildings} channels={int(tt.point_channel.sum())} "
        f"overall finish {ts.finish // 60:02d}:{ts.finish % 60:02d} vs lower bound "
        f"{ts.lower_bound // 60:02d}:{ts.lower_bound % 60:02d} "
        f"(gap {ts.gap_pct:.2f} %, mean per-point gap {ts.mean_point_gap_pct:.2f} %); "
        f"points over capacity {ts.points_over_capacity}, residents not called "
        f"{ts.residents_not_called:,}"
    )

    params = SimParams(
        rate_per_hour=args.sim_rate or args.rate,
        service_cv=args.cv,
        late_share=args.late,
        late_mean_min=10.0,
    )
    sim = simulate(tt, params, seed=args.seed)
    t4 = time.perf_counter()
    lim = tp.wait_limit_min
    bad = int((sim.p95_wait > lim).sum())
    fin = int(np.nanmax(np.where(sim.served > 0, sim.finish, np.nan)))
    print(
        f"simulation: {t4 - t3:.2f} s  residents={int(sim.served.sum()):,} "
        f"p95 wait median {np.nanmedian(sim.p95_wait):.1f} max {np.nanmax(sim.p95_wait):.1f} min; "
        f"points with p95 > {lim:.0f} min: {bad}; last finish {fin // 60:02d}:{fin % 60:02d}; "
        f"points finishing after {tp.window_end // 60:02d}:00: "
        f"{int((sim.finish > tp.window_end).sum())} (median overrun "
        f"{np.nanmedian(np.where(sim.finish > tp.window_end, sim.finish - tp.window_end, np.nan)) if (sim.finish > tp.window_end).any() else 0:.1f} min)"
    )
    rep = repair_timetable(tp, tt, params, seed=args.seed, max_rounds=3, simulation=sim)
    t5 = time.perf_counter()
    print(
        f"repair: {t5 - t4:.2f} s  rounds={rep.rounds} re-spread points={rep.changed.size} "
        f"still failing={rep.failing.size} impossible={rep.impossible.size}"
    )
    print(
        f"total solver time: {t2 - t1 + t5 - t2:.2f} s "
        f"(staffing {t2 - t1:.2f}, timetable {t3 - t2:.2f}, simulation {t4 - t3:.2f}, "
        f"repair {t5 - t4:.2f})"
    )
    seconds = {"staffing": t2 - t1, "timetable": t3 - t2}
    missed = missed_targets(seconds, d.tables.size, d.team_samplers.size, d.b_point.size)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
