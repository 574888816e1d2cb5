"""A deterministic work clock, so that the same instance and seed give the same plan.

Search phases that ask "how much time is left?" of the wall clock make different decisions on
a busy machine than on an idle one, and so return different plans. The location solver
instead charges every step an *estimated* cost, in seconds on the machine the estimates were
measured on (2 cores, 2026), computed from counts that do not depend on the machine (arcs,
clients, iterations, nodes), and decides by that count. The estimates are deliberately high,
so the wall clock — still enforced as a hard stop — only binds on a slower or overloaded
machine; when it does (a phase finds the wall deadline passed, or a solver call is stopped by
its wall-clock safety limit), :attr:`WorkClock.wall_bound` records that the run was cut by the
wall clock and may differ from a run elsewhere. Decisions never compare the two clocks, so as
long as the wall deadline is not reached the plan depends on the work count alone.

External solvers are charged by their own deterministic counts, never by their measured
time: CP-SAT by its deterministic time (:data:`CPSAT_PER_DTIME`), SCIP by its LP iterations
and branch-and-bound nodes (:func:`mip_work`); a SCIP call is limited by a node limit that its
allowance affords (:func:`mip_node_limit`), and is not started when even its root node would
not fit.

The figures come from ``time.process_time`` measurements on a 1,000,000-resident district
(263k arcs), a 100,000-resident one and the SJC and pmedcap1 benchmarks: the per-step ones
times about 1.3. The SCIP ones (per LP iteration and per node) are a least-squares fit of the
summed process time of 3,200 calls on eight Stefanello runs (p from 10 to 300), so that a
run's SCIP calls together cost what they are charged; single calls vary (a typical one
costs about 0.65 of its estimate, a root node whose cut loop runs long twice its estimate).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

# seconds per unit of work
# one Lagrangian evaluation (solver.location.bound.Lagrangian.work): fixed part, then per client
# probed by the binary search for its negative arcs and per arc with negative reduced cost;
# exact knapsacks per items × capacity cell (plus a fixed part per item, in cells). Fit
# 2026-11 to 200-iteration runs on pmedcap1, SJC, Stefanello and the 1M and 5M districts
# (process time, load average 7-9 on the 2 cores: pessimistic), × 1.3
SUBGRADIENT_PER_ARC = 6e-8
SUBGRADIENT_STEP = 2e-4
DP_PER_CELL = 1.8e-9
# exact knapsacks by their cores (solver.location.table_knapsack), many sites at once: per
# call (a batch of sites), per item examined over the (site, table count) pairs, per round of
# the dynamic programme and per cell. Fit 2026-11 to 300 calls on the generated 40k-5M
# districts (process time, load average 3-4 on the 2 cores), × 1.3
CORE_KNAPSACK_CALL = 2e-4
CORE_KNAPSACK_PER_ITEM = 3e-7
CORE_KNAPSACK_ROUND = 2e-5
CORE_KNAPSACK_PER_CELL = 7.5e-9
PLAN_PER_ARC = 1.5e-6  # min-cost flow + single-source repair + table fitting, per (client + arc)
FLOW_PER_ARC = 1.0e-6  # min-cost flow value only, per arc of the open sites
SWAP_BOUND_PER_ARC = 3.5e-7  # swap lower bounds for one site's neighbours, per open-site arc
PMEDIAN_PER_ARC = 8e-8  # one interchange round, per arc
DROP_PER_ARC = 3e-7  # one drop round (flow + regrets), per arc
EVALUATE_PER_ITEM = 2.5e-7  # plan evaluation, per client
ARC_PASS = 5e-8  # one vectorised pass over the arcs (arc bounds, neighbour lists)
CPSAT_PER_DTIME = 2.0  # CP-SAT deterministic time → seconds
CPSAT_PER_ARC = 3e-5  # building a CP-SAT neighbourhood model, per arc
# SCIP (solver.location.mip): a call costs MIP_CALL + MIP_BUILD_PER_NONZERO × coefficients
# + MIP_PER_ITERATION × LP iterations × √sites + MIP_PER_NODE × nodes × coefficients
# (with restarts off and strong branching tied to the LP iterations, see solve_sub_mip).
# An LP iteration's cost follows the model's sites (its capacity rows, where the cut loop
# separates), not its coefficients: at about 25,000 coefficients a neighbourhood of 14 sites
# and 540 clients (rl1304, p = 10) took 1.6e-4 s per iteration, the assignment to 150 open
# sites (ali535, p = 150) 7e-4 s. Charged by √coefficients (until 2026-11-29) a run's SCIP
# calls cost 0.32 (rl1304 and u724 with p = 10) to 1.28 (ali535 with p = 150) × their
# charge; by √sites 0.55-0.91 (fit 2026-11-29, load average 1-2 on the 2 cores), and
# 0.31-0.99 on all 20 Stefanello instances × seeds 0 and 1 with at least 9 units of SCIP
# (ali535 and lin318 0.55-0.99, u724 and rl1304 with p = 30 to 300 lowest: what √sites
# leaves unexplained there is still charged, not undercharged)
MIP_CALL = 0.007  # fixed part of a call (model transfer, presolve, the root's set-up)
MIP_BUILD_PER_NONZERO = 1e-6  # building the model, per matrix coefficient
MIP_PER_ITERATION = 5.05e-5  # per LP iteration, × √(sites of the model)
MIP_PER_NODE = 7.9e-7  # per branch-and-bound node, × matrix coefficients
# LP iterations per column of a root node (measured medians by kind of model):
MIP_ROOT_ITERATIONS = 0.5  # a neighbourhood: a few free sites and their clients
MIP_FIXED_ROOT_ITERATIONS = 0.2  # a fixed site set: only the assignment is free
# (re-measured 2026-11 on the root of the plan's site set: 0.058-0.075 on SJC3a, lin318 with
# p = 15 and 70; 0.17-0.38 on pmedcap1 and ali535 with p = 100 (53,600 columns); log-mean
# 0.145, × 1.3 = 0.19)
MIP_WHOLE_ROOT_ITERATIONS = 2.5  # the whole problem: many free sites
MIP_NODE_ITERATIONS = 0.15  # LP iterations per column of a node after the root
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
    cpu_by_phase: dict[str, float] = field(default_factory=dict)
    """Process seconds between each charge and the one before, by the later charge's phase:
    what the estimates cost on this machine (to check and refit the constants above)."""
    _cpu_mark: float = field(default_factory=time.process_time, repr=False)

    @classmethod
    def start(cls, seconds: float, wall_seconds: float | None = None) -> WorkClock:
        """A clock with ``seconds`` of work whose hard stop is a little before
        ``wall_seconds`` (default ``seconds``) of wall time from now (:data:`WALL_MARGIN`):
        steps already running when it passes (a SCIP call, the final evaluation) must still
        end inside the caller's time limit."""
        wall = float(seconds if wall_seconds is None else wall_seconds)
        margin = min(WALL_MARGIN, 0.05 * wall)
        return cls(budget=float(seconds), wall_deadline=time.perf_counter() + wall - margin)

    def charge(self, seconds: float, phase: str = "other") -> None:
        """Count ``seconds`` of estimated work."""
        self.spent += seconds + STEP
        self.by_phase[phase] = self.by_phase.get(phase, 0.0) + seconds + STEP
        now = time.process_time()
        self.cpu_by_phase[phase] = self.cpu_by_phase.get(phase, 0.0) + now - self._cpu_mark
        self._cpu_mark = now

    def left(self) -> float:
        """Work left; 0 once the wall clock has passed its deadline (then the run is cut
        short by the machine's speed and may differ from a run elsewhere)."""
        if time.perf_counter() >= self.wall_deadline:
            self.wall_bound = True
            return 0.0
        return self.budget - self.spent

    def stats(self) -> dict[str, float]:
        """What a solve reports of its clock: the work spent, whether the wall clock cut it,
        and the work (``work_<phase>``) and process seconds (``cpu_<phase>``) by phase."""
        out = {"work_seconds": self.spent, "wall_clock_bound": float(self.wall_bound)}
        out.update((f"work_{phase}", w) for phase, w in sorted(self.by_phase.items()))
        out.update((f"cpu_{phase}", c) for phase, c in sorted(self.cpu_by_phase.items()))
        return out

    def wall_cut(self) -> None:
        """Record that the wall clock, not the work count, decided something (a solver stopped
        by its wall-clock safety limit, a step skipped for lack of wall time)."""
        self.wall_bound = True


def mip_build_work(nonzeros: int) -> float:
    """Estimated seconds of building a SCIP model that is then not solved."""
    return MIP_BUILD_PER_NONZERO * nonzeros


def mip_work(nonzeros: int, nodes: int, lp_iterations: int, sites: int) -> float:
    """Estimated seconds of a SCIP call from its model size (matrix coefficients, sites) and
    what it did (deterministic)."""
    return (
        MIP_CALL
        + mip_build_work(nonzeros)
        + mip_iteration_work(sites) * lp_iterations
        + MIP_PER_NODE * nodes * nonzeros
    )


def mip_iteration_work(sites: int) -> float:
    """Estimated seconds of one LP iteration in a SCIP call on a model of ``sites`` sites."""
    return MIP_PER_ITERATION * math.sqrt(max(1, sites))


def mip_lp_iteration_cap(work: float, sites: int) -> int:
    """LP iterations that ``work`` estimated seconds pay for in a SCIP call on a model of
    ``sites`` sites (what :func:`mip_work` charges per iteration; at least 1): no single LP
    of the call may take more, whatever the node limit (SCIP's ``lp/iterlim``)."""
    if not math.isfinite(work):
        return 1 << 62
    return max(1, min(1 << 62, math.ceil(work / mip_iteration_work(sites))))


def mip_root_work(
    columns: int, nonzeros: int, sites: int, per_column: float = MIP_ROOT_ITERATIONS
) -> float:
    """Estimated seconds of a SCIP call that stops after its root node, taking ``per_column``
    LP iterations per column."""
    return mip_work(nonzeros, 1, math.ceil(per_column * columns), sites)


def mip_node_limit(
    work: float,
    columns: int,
    nonzeros: int,
    sites: int,
    root_iterations: float = MIP_ROOT_ITERATIONS,
) -> int:
    """Nodes a SCIP call can afford within ``work`` estimated seconds: the root (of
    ``root_iterations`` LP iterations per column) plus as many further nodes as the rest
    allows; 0 when not even the root node fits.

    The root's effort varies most (a hard one takes ten times a typical one); the node limit
    still makes the call deterministic, and it is charged by what it did (:func:`mip_work`).
    """
    if not math.isfinite(work):
        return 1 << 40
    rest = work - mip_root_work(columns, nonzeros, sites, root_iterations)
    if rest < 0:
        return 0
    per_node = MIP_PER_NODE * nonzeros + mip_iteration_work(sites) * MIP_NODE_ITERATIONS * columns
    return 1 + int(rest // max(per_node, 1e-9))
