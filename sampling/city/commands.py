"""The ``plan-city``, ``generate-city`` and ``sweep`` subcommands (thin: parse, call, print).

Added to the ``natplan`` parser by :func:`add_city_commands`; Dask is imported only when one
of them runs. Exit codes: 0 every district/variant planned; 2 the input or output folder is
wrong, or some districts failed on their input (the others are written); 1 a district hit an
internal error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sampling.errors import ScenarioError
from sampling.limit_options import add_limit_options, checked_limits

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


def _check_common(args: argparse.Namespace) -> None:
    checked_limits(args)
    if args.workers < 1:
        raise ScenarioError.single("--workers", "must be at least 1", str(args.workers))


def _exit_code(kinds: list[str]) -> int:
    """0 when nothing failed, 1 if anything failed internally, otherwise 2."""
    if not kinds:
        return EXIT_OK
    return EXIT_INTERNAL if "internal" in kinds else EXIT_INPUT


def _plan_city(args: argparse.Namespace) -> int:
    from sampling.city.plan import plan_city

    _check_common(args)
    run = plan_city(
        Path(args.city),
        Path(args.out),
        scheduler=args.scheduler,
        workers=args.workers,
        time_limit=args.time_limit,
        wall_limit=args.wall_limit,
        seed=args.seed,
        lang=args.lang,
    )
    totals = run.summary["totals"]
    done = len(run.outcomes) - len(run.failed)
    print(
        f"{run.summary['city']}: {done} of {len(run.outcomes)} districts planned,"
        f" {totals['residents_total']:,} residents; wall {run.summary['wall_seconds']:.1f} s"
    )
    for failed in run.failed:
        print(
            f"failed: {failed.job.name} ({failed.result.error_kind}); see {run.out / 'index.html'}"
        )
    print(f"wrote {run.out / 'index.html'} and {run.out / 'map.html'}")
    return _exit_code([o.result.error_kind for o in run.failed])


def _generate_city(args: argparse.Namespace) -> int:
    from sampling.city.generate import generate_city

    if args.districts < 1:
        raise ScenarioError.single("--districts", "must be at least 1", str(args.districts))
    if args.residents < args.districts:
        raise ScenarioError.single(
            "--residents", "must be at least one per district", str(args.residents)
        )
    layout = generate_city(
        args.residents,
        args.districts,
        args.seed,
        Path(args.out),
        fmt=args.format,
        overwrite=args.overwrite,
    )
    for d in layout:
        print(
            f"  {d.name}: {d.residents:,} residents, density ×{1 / d.density_factor**2:.2f},"
            f" samplers {d.staff_ratio:g} × residents ÷ 360"
        )
    print(f"wrote {args.out} ({len(layout)} districts)")
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from sampling.city.sweep import sweep

    _check_common(args)
    run = sweep(
        Path(args.scenario),
        args.vary,
        Path(args.out),
        scheduler=args.scheduler,
        workers=args.workers,
        time_limit=args.time_limit,
        wall_limit=args.wall_limit,
        seed=args.seed,
        lang=args.lang,
    )
    print(f"wrote {run.out / 'sweep.html'} and {run.out / 'sweep.parquet'}")
    return _exit_code([str(kind) for kind in run.failed["error_kind"]])


def _engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler (tcp://host:8786) whose workers see the same paths;"
        " default: a local cluster of --workers processes",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="local worker processes"
    )
    add_limit_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    parser.add_argument("--lang", choices=["zh", "en"], default="zh", help="document language")


def add_city_commands(sub: Any) -> None:
    """Add ``plan-city``, ``generate-city`` and ``sweep`` to the ``natplan`` subparsers."""
    city = sub.add_parser("plan-city", help="plan every district of a city in parallel (Dask)")
    city.add_argument("city", help="folder of district scenario folders (+ optional city.toml)")
    city.add_argument("--out", required=True, help="output folder: OUT/<district>/ per district")
    _engine_options(city)
    city.set_defaults(run=_plan_city)

    gen = sub.add_parser("generate-city", help="write a city of adjacent synthetic districts")
    gen.add_argument("--residents", type=int, required=True, help="residents in all districts")
    gen.add_argument("--districts", type=int, required=True, help="number of districts")
    gen.add_argument("--seed", type=int, default=0, help="random seed")
    gen.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table files")
    gen.add_argument("--overwrite", action="store_true", help="replace a city natplan wrote")
    gen.add_argument("out", help="city folder to write")
    gen.set_defaults(run=_generate_city)

    what_if = sub.add_parser("sweep", help="plan every combination of header variations (Dask)")
    what_if.add_argument("scenario", help="scenario folder")
    what_if.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=V1,V2,…",
        help="a dotted scenario.toml key (window.end, sampling.pool_size) or staff_ratio",
    )
    what_if.add_argument("--out", required=True, help="output folder: a plan per variant")
    _engine_options(what_if)
    what_if.set_defaults(run=_sweep)
