"""Small line charts for the sweep page, as geometry for an inline SVG (no script, no CDN).

:func:`line_chart` turns one metric against one variable into pixel coordinates; the page
template draws them (``sampling/templates/city_sweep.html``), so every label is escaped there.
The variable's values are categories in the order given on the command line; each
combination of the other variables is one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT = 340, 210
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 34


@dataclass(frozen=True)
class Series:
    """One line: its colour, legend text and points ``(x, y, value text)`` (gaps skipped)."""

    colour: str
    label: str
    points: tuple[tuple[float, float, str], ...]

    @property
    def path(self) -> str:
        """The ``points`` attribute of an SVG polyline."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass(frozen=True)
class Chart:
    """Geometry of one chart: axes ticks and lines in pixels of a WIDTH × HEIGHT box."""

    title: str
    width: int
    height: int
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    series: tuple[Series, ...]
    plot: tuple[int, int, int, int]  # left, top, right, bottom of the plotting area


CLOCK_STEPS = (15.0, 30.0, 60.0, 120.0, 180.0, 360.0)
"""Tick steps (minutes) of a time-of-day axis."""


def nice_ticks(
    low: float, high: float, count: int = 4, steps: Sequence[float] | None = None
) -> list[float]:
    """About ``count`` round tick values covering [low, high] (``steps``: the allowed steps,
    e.g. :data:`CLOCK_STEPS`; default 1, 2, 2.5, 5 × a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        low, high = low - (steps[0] if steps else 1.0), high + (steps[0] if steps else 1.0)
    raw = (high - low) / count
    if steps:
        step = next((s for s in steps if s >= raw), steps[-1])
    else:
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def line_chart(
    title: str,
    categories: Sequence[str],
    lines: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    *,
    steps: Sequence[float] | None = None,
) -> Chart:
    """A chart of ``lines`` (legend text, one value per category; None = no plan) over
    ``categories``, values printed with ``fmt`` (tick labels with more digits when ``fmt``
    would print two ticks alike); ``steps`` as for :func:`nice_ticks`."""
    values = [v for _, ys in lines for v in ys if v is not None and math.isfinite(v)]
    ticks = nice_ticks(min(values), max(values), steps=steps) if values else [0.0, 1.0]
    tick_text = [fmt(t) for t in ticks]
    if len(set(tick_text)) < len(tick_text):
        tick_text = [f"{t:,.6g}" for t in ticks]
    low, high = ticks[0], ticks[-1]
    if high == low:
        high = low + 1.0
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    n = len(categories)

    def px(i: int) -> float:
        return LEFT + (right - LEFT) * ((i + 0.5) / n if n else 0.5)

    def py(v: float) -> float:
        return bottom - (bottom - TOP) * (v - low) / (high - low)

    series = tuple(
        Series(
            PALETTE[k % len(PALETTE)],
            label,
            tuple(
                (px(i), py(v), fmt(v))
                for i, v in enumerate(ys)
                if v is not None and math.isfinite(v)
            ),
        )
        for k, (label, ys) in enumerate(lines)
    )
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        x_ticks=tuple((px(i), c) for i, c in enumerate(categories)),
        y_ticks=tuple((py(t), text) for t, text in zip(ticks, tick_text, strict=True)),
        series=series,
        plot=(LEFT, TOP, right, bottom),
    )
