"""The ``natplan`` command line: thin wrappers over the library, no planning logic here.

Exit codes: 0 success, 2 the input is wrong (every problem listed), 1 an internal error
(a bug: please report it with the scenario).
"""

from __future__ import annotations

import argparse
import errno
import logging
import math
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sampling import __version__
from sampling.errors import ScenarioError
from sampling.interrupt import EXIT_INTERRUPTED, MESSAGE, interrupt_guard
from sampling.limit_options import add_limit_options, checked_limits

if TYPE_CHECKING:
    from sampling.scenario.model import Scenario

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2

ENVIRONMENT_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)
"""OS errors that are the machine's, not natplan's: disk full, read-only, no permission."""


def _validate(args: argparse.Namespace) -> int:
    from sampling.scenario.loader import load_scenario
    from sampling.scenario.norms import summarise

    scenario = load_scenario(args.scenario)
    summary = summarise(scenario)
    if not _quiet(args):
        print("\n".join(summary.lines()))
        for warning in summary.warnings:
            print(f"warning: {warning}")
    print("ok: the scenario is valid")
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from sampling.generate import generate_district

    if args.residents < 1:
        raise ScenarioError.single("--residents", "must be at least 1", str(args.residents))
    ratio = args.staff_ratio
    if ratio is not None and not (0.0 < ratio <= 10.0 and math.isfinite(ratio)):
        raise ScenarioError.single("--staff-ratio", "must be above 0 and at most 10", str(ratio))
    summary = generate_district(
        args.residents,
        args.seed,
        Path(args.out_dir),
        fmt=args.format,
        overwrite=args.overwrite,
        staff_ratio=ratio,
    )
    print(summary)
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    import json
    import time

    from sampling.console import StageConsole
    from sampling.files.lock import folder_lock
    from sampling.output.write import check_plan_folder, write_plan
    from sampling.progress import stage
    from sampling.report import plan_lines
    from sampling.scenario.loader import load_scenario
    from sampling.stages.planning import plan_campaign

    time_limit, wall_limit = checked_limits(args)
    started = time.perf_counter()
    with StageConsole(sys.stderr, quiet=_quiet(args)) as console:
        with stage(console, "load") as figures:
            scenario = load_scenario(args.scenario)
            figures.update(_scenario_figures(scenario))
        check_plan_folder(Path(args.out), scenario)  # before the lock: it may not create folders
        with folder_lock(Path(args.out)):  # held to the end: one run per OUT
            loaded = time.perf_counter() - started
            plan = plan_campaign(
                scenario,
                time_limit=time_limit,
                wall_limit=wall_limit,
                seed=args.seed,
                progress=console,
            )
            out = write_plan(
                plan,
                Path(args.out),
                lang=args.lang,
                extra_seconds={"load": loaded},
                progress=console,
            )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    if not _quiet(args):
        print("\n".join(plan_lines(summary)))
    print(f"wrote {out}")
    return EXIT_OK


def _scenario_figures(scenario: Scenario) -> dict[str, object]:
    """What the console says about a loaded scenario (its ``load`` stage line)."""
    buildings = scenario.buildings
    return {
        "scenario": scenario.header.name,
        "buildings": buildings.height,
        "residents": int(buildings["residents"].sum()) if buildings.height else 0,
        "points": scenario.points.height,
        "teams": scenario.teams.height,
        "households": scenario.home_visits.height,
    }


def _quiet(args: argparse.Namespace) -> bool:
    """``--quiet``: only errors and the final line."""
    return bool(getattr(args, "quiet", False))


def _map(args: argparse.Namespace) -> int:
    from sampling.files.lock import folder_lock
    from sampling.files.ownership import foreign_entries, refuse
    from sampling.output.mapping import render_plan_map

    out = Path(args.out)
    needed = ("summary.json", "assignments.parquet", "points.parquet")
    missing = [name for name in needed if not (out / name).exists()]
    if missing:
        raise ScenarioError.single(
            str(out),
            "not a plan output folder",
            f"missing {', '.join(missing)}; run natplan plan first",
        )
    if foreign_entries(out, "plan") != []:  # map.html is replaced only in natplan's own plan
        raise refuse(out, "is not a plan folder natplan wrote", "give the --out of natplan plan")
    with folder_lock(out):
        target = render_plan_map(
            out, lang=args.lang, tile_url=args.tile_url, tile_attribution=args.tile_attribution
        )
    print(f"wrote {target}")
    return EXIT_OK


def _import_osm(args: argparse.Namespace) -> int:
    from sampling.osm.extract import OsmError
    from sampling.osm.importer import import_osm

    if args.residents_total is not None and args.residents_total < 1:
        raise ScenarioError.single(
            "--residents-total", "must be at least 1", str(args.residents_total)
        )
    command = (
        f"natplan import-osm {args.extract} --out {args.out}"
        + (f" --residents-total {args.residents_total}" if args.residents_total is not None else "")
        + f" --seed {args.seed}"
    )
    try:
        summary = import_osm(
            Path(args.extract),
            Path(args.out),
            residents_total=args.residents_total,
            seed=args.seed,
            overwrite=args.overwrite,
            command=command,
        )
    except OsmError as error:
        raise ScenarioError.single(args.extract, str(error)) from None
    print(summary)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the README's CLI reference and tests)."""
    parser = _Parser(
        prog="natplan",
        description="Plan a one-day, district-wide nucleic-acid testing campaign.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    console_options(parser)
    parser.add_argument("--version", action="version", version=f"natplan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check a scenario folder and summarise it")
    validate.add_argument("scenario", help="scenario folder (with scenario.toml)")
    validate.set_defaults(run=_validate)

    generate = sub.add_parser("generate", help="write a synthetic district scenario")
    generate.add_argument("--residents", type=int, required=True, help="total residents")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table files")
    generate.add_argument(
        "--overwrite", action="store_true", help="replace a scenario folder natplan wrote"
    )
    generate.add_argument(
        "--staff-ratio",
        type=float,
        default=None,
        metavar="R",
        help="medical samplers = R × residents ÷ 360 (the norm); default 1.05–1.15 × that",
    )
    generate.add_argument("out_dir", help="folder to write")
    generate.set_defaults(run=_generate)

    plan = sub.add_parser("plan", help="plan the campaign and write the results")
    plan.add_argument("scenario", help="scenario folder (with scenario.toml)")
    plan.add_argument(
        "--out",
        required=True,
        help="output folder: new, empty, or an earlier natplan plan (replaced atomically);"
        " natplan never replaces a folder holding files it did not write",
    )
    add_limit_options(plan)
    plan.add_argument("--seed", type=int, default=0, help="random seed")
    plan.add_argument("--lang", choices=["zh", "en"], default="zh", help="document language")
    console_options(plan, sub=True)
    plan.set_defaults(run=_plan)

    remap = sub.add_parser("map", help="re-render OUT/map.html from a saved plan")
    remap.add_argument("out", help="output folder of natplan plan")
    remap.add_argument("--lang", choices=["zh", "en"], default="zh", help="label language")
    remap.add_argument("--tile-url", help="XYZ tile URL of an office tile server (optional)")
    remap.add_argument("--tile-attribution", help="attribution text for the tiles")
    remap.set_defaults(run=_map)

    osm = sub.add_parser("import-osm", help="write a scenario from an OpenStreetMap extract")
    osm.add_argument("extract", help="OSM extract (.osm, .osm.bz2, .osm.pbf); read offline")
    osm.add_argument("--out", required=True, help="scenario folder to write")
    osm.add_argument("--residents-total", type=int, help="scale estimated residents to this")
    osm.add_argument("--seed", type=int, default=0, help="seed of the synthetic parts")
    osm.add_argument(
        "--overwrite", action="store_true", help="replace a scenario folder natplan wrote"
    )
    osm.set_defaults(run=_import_osm)

    from sampling.city.commands import add_city_commands  # plan-city, generate-city, sweep

    add_city_commands(sub)

    from sampling.replan.command import add_replan_command  # replan (the day itself)

    add_replan_command(sub)
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, except empty ones (flags, optional values)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default in ("", [], ())
        if empty or default == argparse.SUPPRESS or "default" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose ``--help`` shows defaults; its subcommands inherit it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def console_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` on ``parser``; ``sub`` for a subcommand, where
    they may also be given after the command (``natplan plan … --quiet``)."""
    default: Any = argparse.SUPPRESS if sub else False
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="print only errors and the final line",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also log details of each stage as it runs (on stderr)",
    )


def _configure_logging(*, verbose: bool, debug: bool, quiet: bool = False) -> None:
    """Log natplan's own messages to stderr: warnings (errors only with ``--quiet``),
    details with ``--verbose``; above the live progress bars when they run."""
    from sampling.console import ConsoleLogHandler

    level = (
        logging.DEBUG
        if debug
        else logging.INFO
        if verbose
        else logging.ERROR
        if quiet
        else logging.WARNING
    )
    handler = ConsoleLogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    for name in ("sampling", "solver", "maps"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``natplan`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and _quiet(args):
        parser.error("--quiet and --verbose cannot be used together")
    _configure_logging(verbose=args.verbose, debug=args.debug, quiet=_quiet(args))
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        with interrupt_guard():
            return run(args)
    except ScenarioError as error:
        print(error.report(), file=sys.stderr)
        return EXIT_INPUT
    except (FileExistsError, PermissionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(MESSAGE, file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:
        if error.errno in ENVIRONMENT_ERRORS:
            where = f" ({error.filename})" if error.filename else ""
            print(
                f"error: {error.strerror}{where}; nothing was changed in the output folder",
                file=sys.stderr,
            )
            return EXIT_INPUT
        if args.debug:
            traceback.print_exc()
        return _internal(error)
    except Exception as error:  # a bug: say so plainly, no traceback unless asked
        if args.debug:
            traceback.print_exc()
        return _internal(error)


def _internal(error: BaseException) -> int:
    """Report an internal error (a bug) and return its exit code."""
    print(
        f"internal error: {type(error).__name__}: {error}\n"
        "This is a bug in natplan; rerun with --debug and report it with the scenario.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
