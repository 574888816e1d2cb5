"""How much search a routing solve gets by default: an iteration count fixed by the problem's size.

The same problem, seed and budget then give the same routes on a fast or slow, quiet or busy
machine; the time limit is only a safety stop, and a solve it cuts says so
(``SolveStats.wall_clock_bound``).

Rule: a problem with ``n`` households gets ``ITERATIONS_PER_SQRT_STOP × √n`` iterations in
total (:func:`iteration_budget`). Why the square root:

* an iteration of the iterated local search perturbs and re-optimises a few routes, so its cost
  follows the length of a team's route (a working day holds some 20–50 visits whatever the
  district's size), not the number of households — the total time grows like the budget;
* larger problems need more iterations to reach the same quality, but a linear rule would make
  a district of 7,000 households take twenty times as long as one of 350, far beyond any
  sensible time limit, while a constant one would starve the large problem;
* √n sits between the two: 4× the households get 2× the search, so the time stays within the
  same order from a street (a few hundred households) to a 1,000,000-resident district (a few
  thousand), where the regions (:mod:`solver.routing.decompose`) share the budget in
  proportion to their households (:func:`region_budgets`), and one large model and its regions
  get the same total effort.

The constant is the effort that gives a stable plan (an ILS past its first rapid descent) for
a few hundred households, i.e. a region's size (``REGION_STOPS`` = 300 → 3,000 iterations).
"""

from __future__ import annotations

import math

import numpy as np

from solver.routing.problem import IntArray

#: Iterations per square root of the households (300 households: 3,000 iterations).
ITERATIONS_PER_SQRT_STOP = 175
#: Fewest iterations any model gets (tiny problems converge at once; keep the search sane).
MIN_ITERATIONS = 100


def iteration_budget(stops: int) -> int:
    """Default iterations for a problem of ``stops`` households (all its models together)."""
    return max(MIN_ITERATIONS, math.ceil(ITERATIONS_PER_SQRT_STOP * math.sqrt(max(0, stops))))


def region_budgets(region_stops: IntArray, total_stops: int) -> IntArray:
    """The default budget of a decomposed problem split over its regions by their households.

    Integers that depend only on the sizes, so the split repeats exactly.
    """
    total = iteration_budget(total_stops)
    share = np.asarray(region_stops, dtype=np.int64) * total // max(1, total_stops)
    return np.maximum(MIN_ITERATIONS, share).astype(np.int64)
