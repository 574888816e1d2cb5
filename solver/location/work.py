"""A deterministic work clock, so that the same instance and seed give the same plan.

Search phases that ask "how much time is left?" of the wall clock make different decisions on
a busy machine than on an idle one, and so return different plans. The location solver
instead charges every step an *estimated* cost, in seconds on the machine the estimates were
measured on (2 cores, 2026), and decides by that count. The estimates are deliberately a
little high, so the wall clock — still enforced as a hard stop — only binds on a slower or
overloaded machine; when it does, :attr:`WorkClock.wall_bound` records that the run was cut by
the wall clock and may differ from a run elsewhere. Decisions never compare the two clocks,
so as long as the wall deadline is not reached the plan depends on the work count alone.

The figures come from ``time.process_time`` measurements on a 1,000,000-resident district
(263k arcs), a 100,000-resident one and the SJC benchmarks, times about 1.3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# seconds per unit of work
SUBGRADIENT_PER_ARC = 6e-8  # one Lagrangian evaluation, per arc
SUBGRADIENT_STEP = 1e-3  # one Lagrangian evaluation, fixed part
DP_PER_CELL = 2.5e-9  # exact knapsack: items × capacity cells
PLAN_PER_ARC = 1.5e-6  # min-cost flow + single-source repair + table fitting, per (client + arc)
FLOW_PER_ARC = 1.0e-6  # min-cost flow value only, per arc of the open sites
SWAP_BOUND_PER_ARC = 3.5e-7  # swap lower bounds for one site's neighbours, per open-site arc
PMEDIAN_PER_ARC = 8e-8  # one interchange round, per arc
DROP_PER_ARC = 3e-7  # one drop round (flow + regrets), per arc
EVALUATE_PER_ITEM = 2.5e-7  # plan evaluation, per client
ARC_PASS = 5e-8  # one vectorised pass over the arcs (arc bounds, neighbour lists)
CPSAT_PER_DTIME = 2.0  # CP-SAT deterministic time → seconds
CPSAT_PER_ARC = 3e-5  # building a CP-SAT neighbourhood model, per arc
STEP = 1e-4  # fixed overhead of any step
WALL_MARGIN = 0.2  # seconds (at most 5 % of the limit) kept free before the wall-clock stop


@dataclass
class WorkClock:
    """Budget of estimated seconds, with the wall clock as a hard stop."""

    budget: float
    wall_deadline: float
    spent: float = 0.0
    wall_bound: bool = False
    by_phase: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, seconds: float) -> WorkClock:
        """A clock with ``seconds`` of work whose hard stop is a little before ``seconds`` of
        wall time from now (:data:`WALL_MARGIN`): steps already running when it passes (a
        SCIP call, the final evaluation) must still end inside the caller's time limit."""
        margin = min(WALL_MARGIN, 0.05 * float(seconds))
        return cls(budget=float(seconds), wall_deadline=time.perf_counter() + seconds - margin)

    def charge(self, seconds: float, phase: str = "other") -> None:
        """Count ``seconds`` of estimated work."""
        self.spent += seconds + STEP
        self.by_phase[phase] = self.by_phase.get(phase, 0.0) + seconds + STEP

    def left(self) -> float:
        """Work left; 0 once the wall clock has passed its deadline (then the run is cut
        short by the machine's speed and may differ from a run elsewhere)."""
        if time.perf_counter() >= self.wall_deadline:
            self.wall_bound = True
            return 0.0
        return self.budget - self.spent
