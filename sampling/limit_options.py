"""The ``--time-limit`` / ``--wall-limit`` options shared by every planning command.

``--time-limit`` is the work budget of each solver stage (seconds of work on a reference
machine: the same budget gives the same plan on any machine); ``--wall-limit`` is the
wall-clock safety stop (:mod:`sampling.stages.limits`).
"""

from __future__ import annotations

import argparse
import math

from sampling.errors import ScenarioError
from sampling.stages.limits import WALL_SAFETY_FACTOR


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--time-limit`` and ``--wall-limit`` to ``parser``."""
    parser.add_argument(
        "--time-limit",
        type=float,
        default=30.0,
        metavar="S",
        help="work budget per solver stage, in seconds of work on a reference machine; the"
        " same budget gives the same plan on any machine, however busy",
    )
    parser.add_argument(
        "--wall-limit",
        type=float,
        default=None,
        metavar="S",
        help="wall-clock safety stop per solver stage, seconds (default"
        f" {WALL_SAFETY_FACTOR:g} × --time-limit); a stage it cuts is reported, and a rerun"
        " may then differ",
    )


def checked_limits(args: argparse.Namespace) -> tuple[float, float | None]:
    """``(time_limit, wall_limit)`` from parsed options; input errors exit 2 with the reason."""
    for flag, value in (("--time-limit", args.time_limit), ("--wall-limit", args.wall_limit)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ScenarioError.single(flag, "must be positive", str(value))
    return float(args.time_limit), None if args.wall_limit is None else float(args.wall_limit)
