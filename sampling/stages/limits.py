"""How hard the solver stages work, and when the wall clock stops them.

Two different things, kept apart so that the same input gives the same plan on any machine:

* the **work budget** (``time_limit``, "seconds of work"): effort counted in the solvers' own
  units (iterations, LP work estimated on a reference machine). It decides the plan; a slow or
  busy machine takes longer but plans the same;
* the **wall-clock safety stop** (``wall_limit``, seconds): a hard stop for runaway stages. It
  only acts when the machine is far slower or busier than the reference; a stage it cuts is
  reported (``*_wall_clock_bound`` in summary.json, the ``wall_clock`` alert) because a rerun
  may then differ.

By default the safety stop is :data:`WALL_SAFETY_FACTOR` times the work budget.
"""

from __future__ import annotations

import math

WALL_SAFETY_FACTOR = 4.0
"""Default wall-clock safety stop per stage, as a multiple of its work budget: room for a
machine several times slower or busier than the reference before the clock acts."""


def wall_safety(time_limit: float, wall_limit: float | None = None) -> float:
    """The wall-clock safety stop for a stage whose work budget is ``time_limit``.

    ``wall_limit`` (when given) is used as is; otherwise the stop is
    :data:`WALL_SAFETY_FACTOR` × ``time_limit``.
    """
    if not (time_limit > 0 and math.isfinite(time_limit)):
        raise ValueError(f"time_limit must be positive and finite, got {time_limit}")
    if wall_limit is None:
        return WALL_SAFETY_FACTOR * time_limit
    if not (wall_limit > 0 and math.isfinite(wall_limit)):
        raise ValueError(f"wall_limit must be positive and finite, got {wall_limit}")
    return wall_limit
