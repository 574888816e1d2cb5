"""Benchmark: tubes to the labs on a generated district (issue 16).

Generates a district (``natplan generate``: labs and vehicles included), plans it, and prints
the transport figures — tubes, late tubes by reason, the oldest tube, vehicle hours, the latest
result time against its lower bound (one server at all labs' rate together, fed every batch at
its earliest possible lab arrival — ready + shortest handover, drive and unloading; at least
``max(last ready + drive to the nearest lab, total tubes ÷ total lab rate)``) and the gap —
side by side with
the simple practice it replaces (each point to its nearest lab, one fixed round every interval
per group of nearby points, one vehicle per group; :mod:`solver.transport.baseline`) and with a
lean variant of the plan (eager visits to feed labs about to run dry only where practically on
the way, ``eager_penalty_s`` = one handover: fewer vehicle hours, later results; see
:data:`solver.transport.solve.EAGER_PENALTY_S`). The plan's tables are then checked from the
saved files alone (:func:`check_saved_transport`), the lean variant's from its arrays.

    python bench/transport.py [--residents 1000000] [--seed 1] [--time-limit 30]

Seconds are wall clock on whatever machine runs it (a loaded one reads slow); the effort is
an iteration count, so the plan itself is the same everywhere.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sampling import load_scenario
from sampling.generate import generate_district
from sampling.output.write import write_plan
from sampling.stages.planning import plan_campaign
from sampling.stages.transport import check_saved_transport, transport_problem
from solver.transport.baseline import fixed_rounds, vehicle_hours
from solver.transport.check import check_transport
from solver.transport.solve import TransportParams, solve_transport, tube_table


def _clock(seconds: int | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    minutes = -(-int(seconds) // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "district"
        generate_district(args.residents, args.seed, folder, fmt="parquet")
        scenario = load_scenario(folder)
        assert scenario.labs is not None and scenario.vehicles is not None
        started = time.perf_counter()
        plan = plan_campaign(scenario, time_limit=args.time_limit, seed=0)
        whole = time.perf_counter() - started
        assert plan.transport is not None
        s = plan.summary()
        problem = transport_problem(scenario, plan.assignment, plan.day, plan.home_visits)
        base = fixed_rounds(problem)
        lean_params = TransportParams(
            iterations=scenario.header.transport.search_iterations,
            time_limit=args.time_limit,
            eager_penalty_s=problem.stop_s,
        )
        lean = solve_transport(problem, lean_params)
        lean_tubes = tube_table(problem, lean)
        lean_report = check_transport(
            problem, lean.stops, lean_tubes, batch_of_parcel=lean_tubes["batch"]
        )
        out = write_plan(plan, Path(tmp) / "out")
        report = check_saved_transport(out, scenario)

    stats = plan.transport.stats
    print(
        f"district {args.residents:,} residents (seed {args.seed}): {problem.num_points} points "
        f"with tubes, {problem.num_labs} labs ({int(problem.lab_rate.sum()):,} tubes/h in all), "
        f"{problem.num_vehicles} vehicles; lab hours "
        + ", ".join(
            f"{_clock(int(a))}–{_clock(int(b))}"
            for a, b in zip(problem.lab_open, problem.lab_close, strict=True)
        )
    )
    print(
        f"transport stage {stats['transport_seconds']:.1f} s (solver "
        f"{stats['transport_solve_seconds']:.1f} s, {s['transport_rounds']} rounds, "
        f"{s['transport_iterations']:,} iterations, wall-clock cut {s['transport_wall_clock_bound']}); "
        f"whole plan {whole:.1f} s"
    )
    print(f"tubes {s['tubes_total']:,}; late {s['tubes_late']:,} {s['tubes_late_reasons']}")
    if s["tubes_late"]:
        print(
            f"  more vehicles so no tube is late for the fleet: {s['extra_vehicles_needed']}; "
            f"more lab hours so none is late for the labs' hours: {s['extra_lab_hours']}"
        )
    bound = _minutes(s["latest_result_lower_bound"])
    latest = _minutes(s["latest_result_time"])
    base_latest = -(-base.latest_result_s // 60) if base.latest_result_s >= 0 else None
    lean_latest = (
        -(-lean_report.latest_result_s // 60) if lean_report.latest_result_s >= 0 else None
    )
    lean_vehicles = len(set(lean.stops["vehicle"].tolist()))
    lean_gap = max(lean_report.max_pickup_gap_s.values(), default=0) / 60
    rows = [
        ("", "planned", "planned lean", "fixed rounds"),
        ("vehicles", str(s["vehicles_used"]), str(lean_vehicles), str(base.vehicles)),
        (
            "vehicle hours",
            f"{s['vehicle_hours']:.1f}",
            f"{lean_report.vehicle_busy_s / 3600:.1f}",
            f"{vehicle_hours(base.busy_s):.1f}",
        ),
        (
            "waiting at labs (h)",
            f"{s['vehicle_lab_wait_hours']:.1f}",
            f"{lean_report.lab_wait_s / 3600:.1f}",
            "—",
        ),
        (
            "latest result",
            str(s["latest_result_time"]),
            _clock(lean_report.latest_result_s),
            _clock(base.latest_result_s),
        ),
        (
            "gap to bound (min)",
            f"{latest - bound}" if latest is not None and bound is not None else "—",
            f"{lean_latest - bound}" if lean_latest is not None and bound is not None else "—",
            f"{base_latest - bound}" if base_latest is not None and bound is not None else "—",
        ),
        (
            "tubes late",
            f"{s['tubes_late']:,}",
            f"{lean_report.tubes_late:,}",
            f"{base.tubes_late + base.untested:,}",
        ),
        (
            "oldest tube (min)",
            f"{s['max_tube_age_min']}",
            f"{lean_report.max_age_s / 60:.1f}",
            f"{base.max_age_s / 60:.1f}",
        ),
        ("longest pickup wait", f"{s['max_pickup_gap_min']}", f"{lean_gap:.1f}", "—"),
    ]
    print(f"latest result lower bound {s['latest_result_lower_bound']}")
    for name, a, b, c in rows:
        print(f"  {name:<20} {a:>12} {b:>14} {c:>14}")
    print(f"lean variant check: {'ok' if lean_report.ok else 'FAILED'}")
    print(
        f"independent check from the saved tables: {'ok' if report.ok else 'FAILED'} "
        f"({report.tubes_delivered:,} delivered, {report.tubes_late:,} late, oldest "
        f"{report.max_age_s / 60:.1f} min, {report.vehicle_busy_s / 3600:.1f} vehicle hours, "
        f"latest result {_clock(report.latest_result_s)})"
    )
    for violation in report.violations[:10]:
        print(f"  {violation}")


if __name__ == "__main__":
    main()
