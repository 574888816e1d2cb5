"""Clock times as whole minutes since midnight (``"07:30"`` ↔ ``450``).

Minutes are what the solvers compute with; ``HH:MM`` is what planners read and write.
``24:00`` (1440) is allowed so a window can run to midnight.
"""

from __future__ import annotations

import re

import polars as pl

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*$")
MINUTES_PER_DAY = 24 * 60


def parse_clock(text: str) -> int:
    """``"7:05"`` → 425. Raises ValueError for anything that is not a time of day."""
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"not a time of day: {text!r} (expected HH:MM, e.g. 07:30)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = int(match.group(3) or 0)
    total = hours * 60 + minutes
    if (
        minutes > 59
        or seconds > 59
        or total > MINUTES_PER_DAY
        or (total == MINUTES_PER_DAY and seconds)
    ):
        raise ValueError(f"not a time of day: {text!r} (expected 00:00 to 24:00)")
    return total


def format_clock(minutes: float) -> str:
    """425 → ``"07:05"`` (rounded down to the minute)."""
    whole = int(minutes)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def clock_expr(minutes: pl.Expr) -> pl.Expr:
    """Polars: whole minutes since midnight → ``HH:MM`` text (null stays null)."""
    hours = (minutes // 60).cast(pl.String).str.zfill(2)
    return pl.format("{}:{}", hours, (minutes % 60).cast(pl.String).str.zfill(2))
