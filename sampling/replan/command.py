"""The ``natplan replan`` subcommand (argument parsing and console lines; the work is in
:mod:`sampling.replan.pipeline`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sampling.clock import parse_clock
from sampling.errors import ScenarioError
from sampling.limit_options import add_limit_options, checked_limits
from sampling.replan.costs import ChangeCosts
from sampling.report import counted, plan_warnings, stage_text

__all__ = ["add_replan_command", "replan_lines"]

EXIT_OK = 0


def add_replan_command(sub: Any) -> None:
    """Register ``replan`` on the ``natplan`` subparsers ``sub``."""
    p = sub.add_parser("replan", help="re-plan the rest of the day from a saved plan")
    p.add_argument("out", help="output folder of natplan plan (the saved plan)")
    p.add_argument("--at", required=True, help="the time of the re-plan, HH:MM")
    p.add_argument(
        "--progress",
        action="append",
        default=[],
        metavar="FILE",
        help="progress reports (point_id,time,sampled or building_id,sampled); repeatable",
    )
    p.add_argument("--events", metavar="FILE", help="events (time,kind,id,value)")
    p.add_argument("--out", dest="new", required=True, help="folder for the new plan")
    p.add_argument("--scenario", help="scenario folder, if not where the plan says")
    add_limit_options(p)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--building-move-min",
        type=float,
        default=ChangeCosts.building_move_min,
        metavar="MIN",
        help="a building moved to another point costs as much as each of its residents still "
        "to come walking MIN minutes more (default %(default)s)",
    )
    p.add_argument(
        "--team-move-min",
        type=float,
        default=ChangeCosts.team_move_min,
        metavar="MIN",
        help="a team on duty moved to another point costs as much as MIN minutes of team "
        "travel (default %(default)s)",
    )
    p.add_argument(
        "--call-move-min",
        type=float,
        default=ChangeCosts.call_move_min,
        metavar="MIN",
        help="a resident told that their call moved by more than a slot costs as much as that "
        "resident waiting MIN minutes past the window end (default %(default)s)",
    )
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="document language")
    p.set_defaults(run=_replan)

    sim = sub.add_parser(
        "simulate-progress", help="write a realistic progress file from a saved plan"
    )
    sim.add_argument("out", help="output folder of natplan plan")
    sim.add_argument("--at", required=True, help="report progress up to this time, HH:MM")
    sim.add_argument("--seed", type=int, default=0, help="random seed")
    sim.add_argument(
        "--slowdown",
        action="append",
        default=[],
        metavar="POINT=FACTOR",
        help="swabs at POINT take FACTOR times longer; repeatable",
    )
    sim.add_argument("--scenario", help="scenario folder, if not where the plan says")
    sim.add_argument("--out", dest="file", required=True, help="progress file (.csv)")
    sim.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    import math

    from sampling.files.atomic import atomic_file
    from sampling.replan.saved import read_saved_plan
    from sampling.replan.simulate import simulate_progress
    from sampling.scenario.loader import load_scenario

    try:
        at = parse_clock(args.at)
    except ValueError:
        raise ScenarioError.single("--at", "not a time of day", args.at) from None
    slowdown: dict[str, float] = {}
    for text in args.slowdown:
        point, _, factor = str(text).partition("=")
        try:
            value = float(factor)
        except ValueError:
            value = math.nan
        if not point or not (0.1 <= value <= 10.0):
            raise ScenarioError.single("--slowdown", "expected POINT=FACTOR (0.1–10)", text)
        slowdown[point] = value
    saved = read_saved_plan(Path(args.out))
    folder = Path(args.scenario) if args.scenario else saved.scenario_dir
    scenario = load_scenario(folder)
    unknown = sorted(set(slowdown) - set(scenario.points["point_id"].to_list()))
    if unknown:
        raise ScenarioError.single("--slowdown", "unknown point", ", ".join(unknown))
    target = Path(args.file)
    if target.suffix.lower() != ".csv" or target.is_dir():
        raise ScenarioError.single(str(target), "not a .csv file name", args.file)
    if target.exists():
        raise ScenarioError.single(str(target), "exists already", "a new file name")
    frame = simulate_progress(saved, scenario.header, at, seed=args.seed, slowdown=slowdown)
    with atomic_file(target) as temporary:
        frame.write_csv(temporary)
    print(f"wrote {target} ({frame.height} reports)")
    return EXIT_OK


def _replan(args: argparse.Namespace) -> int:
    from sampling.files.lock import folder_lock
    from sampling.files.ownership import check_output_folder
    from sampling.output.write import plan_inputs
    from sampling.replan.pipeline import load_inputs, run_replan
    from sampling.replan.write import write_replan

    try:
        at = parse_clock(args.at)
    except ValueError:
        raise ScenarioError.single("--at", "not a time of day", args.at) from None
    time_limit, wall_limit = checked_limits(args)
    try:
        costs = ChangeCosts(args.building_move_min, args.team_move_min, args.call_move_min)
    except ValueError:
        raise ScenarioError.single(
            "--building-move-min / --team-move-min / --call-move-min",
            "must be finite and ≥ 0",
            f"{args.building_move_min} / {args.team_move_min} / {args.call_move_min}",
        ) from None
    started = time.perf_counter()
    saved, scenario, progress, events = load_inputs(
        Path(args.out),
        scenario_dir=Path(args.scenario) if args.scenario else None,
        progress=tuple(Path(p) for p in args.progress),
        events=Path(args.events) if args.events else None,
    )
    new = Path(args.new)
    protected = (*plan_inputs(scenario), saved.folder)
    check_output_folder(new, kind="plan", protected=protected)
    with folder_lock(new):
        result = run_replan(
            saved,
            scenario,
            at,
            progress,
            events,
            time_limit=time_limit,
            wall_limit=wall_limit,
            seed=args.seed,
            costs=costs,
        )
        result.summary["seconds"] = {"replan": round(time.perf_counter() - started, 3)}
        write_replan(
            new,
            result.plan.scenario,
            result.plan.tables,
            result.summary,
            result.changes,
            result.catchup,
            lang=args.lang,
        )
    print("\n".join(replan_lines(result.summary)))
    print(f"wrote {new}")
    return EXIT_OK


def replan_lines(summary: dict[str, Any]) -> list[str]:
    """What the console says about a re-plan."""
    changes = summary.get("changes") or {}
    listed = ", ".join(f"{k} {n}" for k, n in changes.items()) or "none"
    lines = [
        f"re-planned at {summary['replan_at']}:"
        f" {counted(int(summary['residents_sampled']), 'resident')} swabbed,"
        f" {summary['residents_remaining']:,} still to swab"
        f" ({summary['residents_catchup']:,} called but not yet come)",
        f"changes to tell: {summary['changes_total']:,} ({listed})",
        (
            f"last swab planned {summary['finish_time']} for a window ending"
            f" {summary.get('window_end')}"
            if summary.get("finish_time")
            else "no one is called at a point in the rest of the day"
        ),
    ]
    if summary.get("catchup_session"):
        lines.append(
            f"catch-up session {summary['window_start']}–{summary['window_end']} at "
            f"{summary['points_open']} points"
        )
    if summary.get("transport_replanned_from"):
        lines.append(
            f"transport from {summary['transport_replanned_from']}: "
            + stage_text("transport", summary)
        )
    lines += [f"warning: {w}" for w in plan_warnings(summary)]  # as ``natplan plan`` says them
    return lines
