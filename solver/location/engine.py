r"""Capacitated single-source location: which sampling points open, which building goes where.

Formulation
-----------
Sets: clients :math:`i \in I` (buildings), sites :math:`j \in J` (sampling points), arcs
:math:`A \subseteq I \times J` (pairs within the walking limit), groups :math:`g \in G`
(grids) with members :math:`I_g`. Sites have a status: required :math:`J^R`, closed
:math:`J^C`, candidate otherwise.

Data: demand :math:`d_i`, capacity :math:`Q_j`, arc cost :math:`c_{ij}`, unserved cost
:math:`u_i` (:math:`+\infty` when not given), open-site limit :math:`p` (``max_open``; with
``exact_open`` exactly :math:`p`), table capacity :math:`U` and table limit :math:`T`,
grid split penalty :math:`\lambda`.

Variables: :math:`y_j \in \{0,1\}` site open, :math:`x_{ij} \in \{0,1\}` client i served by
site j, :math:`z_i \in \{0,1\}` client i unserved, :math:`t_j \in \mathbb{Z}_{\ge 0}` tables
at site j, :math:`w_{gj} \in \{0,1\}` grid g uses site j.

.. math::

    \min \; & \sum_{(i,j)\in A} c_{ij} x_{ij} + \sum_i u_i z_i
              + \lambda \sum_{g} \max\Big(0, \sum_j w_{gj} - 1\Big) \\
    \text{s.t.} \; & \sum_{j:(i,j)\in A} x_{ij} + z_i = 1 && \forall i
        \quad (z_i = 0 \text{ if } u_i = \infty) \\
    & \sum_{i:(i,j)\in A} d_i x_{ij} \le Q_j y_j && \forall j \\
    & x_{ij} \le y_j && \forall (i,j) \in A \quad \text{(strong linking)} \\
    & \sum_{i} d_i x_{ij} \le U t_j, \quad \sum_j t_j \le T && \text{(if } U, T \text{ given)} \\
    & \sum_j y_j \le p \quad (= p \text{ if exact\_open}) \\
    & y_j = 1 \; (j \in J^R), \qquad y_j = 0 \; (j \in J^C) \\
    & w_{gj} \ge x_{ij} && \forall g, i \in I_g, (i,j) \in A

At the optimum :math:`t_j = \lceil \text{load}_j / U \rceil`. Without :math:`U` every open site
counts one unit.

Method
------
1. **Bound** (:mod:`solver.location.bound`): Lagrangian relaxation of the assignment and table
   constraints. Per site a knapsack in which the site buys whole tables at the table
   multiplier ν (fractional items, vectorised; exact DP when capacities are small, exact by
   their cores (:mod:`solver.location.table_knapsack`) in a district's last steps), so the
   relaxation sees that tables come in units. Subgradient optimisation; valid for the full arc
   set; the grid penalty is relaxed (a fractional split costs nothing in any LP relaxation,
   so no cheap bound sees it).
2. **Construction**: Lagrangian heuristic — the relaxation's site sets, assignment by
   min-cost flow plus single-source repair and table fitting (:mod:`solver.location.assign`);
   on large instances also a drop heuristic (all sites open, close the lowest-regret ones),
   except on whole districts (:func:`_district`): on the generated ones its plan never beat
   the Lagrangian one and took 6–7 of the 5M engine's 19 units.
3. **Capacity-ignoring p-median interchange** (:mod:`solver.location.pmedian`): Whitaker's
   fast interchange over the sparse arcs from the incumbent's sites (vectorised, batches of
   independent swaps), then min-cost flow, table fitting and client moves for capacities.
   Whole districts run it to its end (:data:`PMEDIAN_SHARE` only a safety), with
   :data:`PMEDIAN_FREE_PAIRS` distant swaps offered per round; the others for at most 15 %
   of the work left.
4. **Bound refinement**: the subgradient resumes with the incumbent as its Polyak target (the
   first pass had none), planning the relaxation's site sets on the way. Whole districts
   plan none; they get a work allowance fixed in advance, keep the first pass's multipliers
   for the arc bounds and report the refined bound only (:func:`_refine_bound`); the
   decomposition's first plan gives it :data:`DISTRICT_REFINE_SHARE` of the work left. Both of
   their passes take deflected steps in the demand metric (:data:`DISTRICT_METRIC`); where
   capacities are beyond the per-site DP, the allowance ends with steps with exact site
   knapsacks (:data:`INTEGER_SHARE`, :func:`_integer_steps`).
5. **Improvement**: instances without grids with up to 200k arcs or up to 5,000 clients
   (e.g. the capacitated p-median benchmarks) first run swap local search on site sets from
   many random spread-out starts (first improvement, min-cost-flow proxy; the best sets
   re-searched with swaps scored by the single-source plan, then exact assignments),
   because under tight capacities good plans sit in basins several swaps apart. The site
   search's plan then gets close–open site moves priced with the reassignment they cause,
   and reallocation rounds (:func:`_reduced_site_moves`, :mod:`solver.location.reopen`):
   the site search ranks sets by their flow, these moves price the single-source plan
   itself (with hundreds of medians they start the neighbourhood MIPs several percent
   lower). Then :mod:`solver.location.exact`: SCIP neighbourhood MIPs from the incumbent and
   from the next-best distinct plans, one MIP over the union of the best sets' sites, and
   whole-problem MIPs restricted to the arcs the Lagrangian cannot exclude (work they leave
   goes back to the neighbourhoods). Neighbourhoods grow with the number of open sites per
   client (:func:`solver.location.exact.level_scale`) and alternate between a few free
   sites in a ring of fixed open ones and clusters of nearby open sites in which every site
   is free (:func:`solver.location.exact.lns_levels`); where that scale exceeds 1 (an open
   site serves only a few clients) the incumbent's neighbourhoods get half the work before
   the whole-problem MIPs, not a tenth; beyond 200k arcs the first bound pass plans no
   relaxation sets, the bound is refined with the incumbent as target, and every MIP is a
   neighbourhood MIP (a whole-problem root would outlast the budget); where site sets are
   too large for a site search on all arcs, the drop and p-median constructions and a site
   search run on the size-reduced problem of each client's nearest arcs
   (:func:`_reduced_state`; a flow there costs a few percent of one on all arcs), their site
   sets planned on all arcs, then the site moves, before the neighbourhood MIPs get the
   rest. The site search also moves to the nearest arcs wherever they are at most a quarter
   of all arcs (:func:`_reduced_search_pays`: mid-to-high p). There the site moves
   alternate with one SCIP MIP over the assignment to the open sites
   (:func:`_open_site_assignment`: with a few clients per open site the single-source
   assignment is a bin packing whose improving chains run through more sites than a
   neighbourhood holds) while either improves, and again after each pass of the
   neighbourhood MIPs over their seeds (:func:`_sites_then_assignment`); after the first
   site moves, CP-SAT's own neighbourhood search improves the whole size-reduced problem
   from the incumbent on :data:`CPSAT_LNS_SHARE` of the work (:func:`_cpsat_lns`); where a pass (or a
   part of one) finds nothing, an iterated-local-search kick closes a local group of open
   sites for nearby closed ones and descends from there with those sites kept closed
   (:func:`_site_kick`), kept only if better; work the neighbourhood
   MIPs leave (every level exhausted) goes to further site searches from the incumbent with
   fresh random starts, each followed by the neighbourhoods. Otherwise swap local search on
   site sets with a min-cost-flow proxy (mid-size), the whole problem as one SCIP MIP on the
   surviving arcs (small; :mod:`solver.location.mip`), then neighbourhoods of a few nearby
   open sites with their clients and nearby closed sites solved exactly by CP-SAT
   (:mod:`solver.location.cpsat`), grid penalties included (large neighbourhood search).
6. **Grid consolidation** (:mod:`solver.location.groups`): a grid's buildings at one site move
   together to another site the grid already uses when capacity and the table limit allow and
   the extra walking costs less than λ; kept only if :func:`evaluate` confirms a better plan.
7. **Grid-aware reallocation and site moves** (a call that owns its final plan, with grids;
   :func:`solver.location.reopen.improve_on_clock`, the final step of a decomposed district
   too): rounds of building and grid-piece moves, swaps, chains and table trades for the open
   sites (:mod:`solver.location.reallocate`) and of close–open site moves priced with their
   reassignment, each round to the kind that gained more per unit of work, on work kept from
   the start. With the reallocation alone, a generated 120k-resident district (30,694 arcs,
   seed 0) ended 7.0 % above its bound without grids, with the site moves 6.4 %; the other
   mid-size districts measured (40k-300k residents, seeds 0 and 1) were unchanged or better.
8. **Table search** (a grid district solved whole whose plan uses every table,
   :func:`_tables_bind`; it skips the flow-scored site search of step 5): site and table
   search by the transportation cost with each site's tables
   (:mod:`solver.location.table_search`) on work kept for it, then step 7 again; work left
   goes back to the neighbourhoods (:func:`_after_final_step`).
9. **Bound with exact site knapsacks** (the same calls, capacities beyond the per-site DP):
   the work still left goes to subgradient steps restarted with the final plan's cost as
   target, fractional then with exact site knapsacks (:func:`_finish_bound`); the plan is
   final by then.

No plan from the construction: the largest sites open with a flow plan, then the trivial
plan (every client unserved, the required sites open, filled up to ``p_min``; it exists
whenever all unserved costs are finite), then one SCIP MIP over every arc and usable site
(up to 40k arcs). ``infeasible`` comes only with a proof: the counting checks of
:func:`_proven_infeasible` or that MIP returning INFEASIBLE; any other failure is
``no_plan_found`` with what was tried.

Time is counted on a work clock (:mod:`solver.location.work`): every step is charged an estimate of its
cost computed from counts (arcs, iterations; CP-SAT's deterministic time; SCIP's LP
iterations and nodes, its calls limited by the nodes their allowance affords), and phases
share the budget by that count, with the wall clock only as a hard stop. The same instance,
seed and time limit therefore give the same plan, unless the machine is so slow that the wall
clock cuts the search (``stats["wall_clock_bound"]`` then says so).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from solver.location import work
from solver.location.assign import assign_flow, fit_tables, flow_cost, flow_prices
from solver.location.bound import (
    DEFLECTION,
    PATIENCE,
    THETA_MIN,
    LagrangeResult,
    arc_bounds,
    beyond_exact_dp,
    client_metric,
    exact_steps_until,
    paid_start_bound,
    subgradient,
)
from solver.location.cpsat import cost_scale, solve_sub_cpsat
from solver.location.decompose import solve_decomposed
from solver.location.exact import (
    CHEAP_ARCS,
    MIN_WALL_SECONDS,
    NEAR_MIN,
    NEAR_PER_SHARE,
    SMALL_ARCS,
    Apply,
    MakeSub,
    is_small,
    level_scale,
    nearest_arcs,
    ranked_arcs,
    reduced_lns,
    run_mip,
    solve_on_arcs,
    solve_whole,
    solver_time_limit,
    surviving_arcs,
)
from solver.location.groups import consolidate_groups
from solver.location.mip import SubProblem, SubResult, signature
from solver.location.model import (
    BIG_UNITS,
    Instance,
    build_instance,
    evaluate,
    planned_result,
    restrict,
)
from solver.location.pmedian import pmedian_search
from solver.location.problem import LocationProblem, LocationResult
from solver.location.reallocate import reallocate
from solver.location.reallocate import reserve_work as realloc_reserve
from solver.location.reopen import force_moves, improve_on_clock, reserve_work
from solver.location.search import (
    SiteArcs,
    SwapBounds,
    drop_construction,
    improve_assignment,
    site_arcs,
    site_neighbours,
    site_swap_search,
)
from solver.location.table_search import plan_for_tables, table_site_search
from solver.location.work import WorkClock

__all__ = ["LocationProblem", "LocationResult", "solve"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]
Progress = Callable[[str, float, float], None]

MULTISTART_ARCS = 20_000  # small instances up to this many arcs: half the time on multi-start
NEIGHBOUR_SETS = 2  # best flow sets whose best single swaps get an exact assignment
NEIGHBOUR_TOP = 9  # ... that many swaps each
SPREAD_REPEATS = 25  # stop the random starts after this many in a row end in known sets
POLISH_TOP = 8  # small instances: plan-scored swap search from this many best site sets
ELITE_LNS = 2  # small instances: LNS also from this many next-best distinct site sets
MAX_PROOF_ARCS = 40_000  # no whole-problem MIP on all arcs beyond this (rescue / proof)
PROOF_SHARE = 0.5  # work share of the rescue / proof MIP
LNS_WORK = 1.0  # CP-SAT deterministic-time limit per neighbourhood (≈ seconds of work)
SITE_SEARCH_ARCS = 60_000  # no site search on sets with more arcs than this (one flow each)
DENSE_BOUND_SHARE = 0.1  # dense instances: work share of each subgradient pass
REDUCED_SHARE = 0.15  # dense path: work share of the site search on the nearest arcs
REDUCED_SPREAD_STARTS = 10_000  # … and its random spread-out starts (until they repeat)
REDUCED_MAX_FRACTION = 0.25  # … also where the nearest arcs are at most this part of all arcs
# Whole districts: the p-median interchange's cap, as a share of the work left. Cut at
# 15 % the generated 5M districts stopped after 20-30 of the 83-89 rounds it needs to end
# (about 9-10.5 units of the engine's 19; gap without grids, seeds 0 / 1: 8.9 / 12.2 % cut,
# 6.1 / 10.3 % run (nearly) to the end); the 1M ones end within 17-26 rounds either way.
PMEDIAN_SHARE = 0.9
# Whole districts: pairs of a large gain and a small loss offered per interchange round
# (:func:`~solver.location.pmedian.pmedian_search`; as many as a round applies swaps). With one
# per round the generated 5M districts' interchange ended in a tail of one distant move per
# round (seed 1: 89 rounds, 8.2 units); with 16, 18 rounds (1.7 units) to a local optimum as
# good (capacity-ignoring cost 573.66 vs 573.71 M; 1M seed 0: 21 → 11 rounds, the same optimum).
# Other instances keep one: their interchange is capped (15 % of the work left) and their
# benchmarks were not re-measured with more.
PMEDIAN_FREE_PAIRS = 16
# Cap of the site moves after the site search (:func:`_reduced_site_moves`), as a share of the
# work left: they end by themselves when neither kind of round finds anything (ali535 with
# p = 100, seed 0: 2.2 of the 37 units left), the cap keeps most of the work for the MIPs.
SITE_MOVES_SHARE = 0.1
# The exact assignment of the incumbent's open sites (:func:`_open_site_assignment`): its
# share of the work left, its node limit, each client's cheapest arcs to open sites in it
# (as many as the neighbourhoods' candidates come from, exact.CHEAP_ARCS), and no call
# with less work than this.
ASSIGN_SHARE = 0.05
ASSIGN_NODES = 20_000
ASSIGN_ARCS = CHEAP_ARCS
ASSIGN_MIN_WORK = 0.2
# … and when its share does not afford the root node, the root alone runs only if its estimate
# fits this share of the work left: it is one step of an alternation, and a root estimate can
# be several times off (2,392 clients, 700 open sites, multipliers from another start:
# estimated 8.1 units, took 35 of the 30 left, and the CP-SAT and neighbourhood steps after it
# got nothing).
ASSIGN_ROOT_SHARE = 0.25
# The iterated local search's kick (:func:`_site_kick`): closed candidates drawn from, per
# kicked open site (its clients' most seen closed sites among their CHEAP_ARCS cheapest arcs).
KICK_CANDIDATES = 3


@dataclass
class _Search:
    """Mutable search state: incumbent, clock, statistics."""

    inst: Instance
    clock: WorkClock
    progress: Progress | None
    seed: int
    assign: I32 | None = None
    open_mask: B | None = None
    objective: float = math.inf
    relaxed_upper: float = math.inf  # best walking + unserved cost of any feasible plan seen
    pool: dict[bytes, float] = field(default_factory=dict)
    bound: float = -math.inf
    stats: dict[str, float] = field(default_factory=dict)
    proof: str = ""  # why no plan exists, when a solver proved it
    note: str = ""  # what was tried when no plan was found and nothing proven
    full: _Search | None = None  # a size-reduced state: the state on all arcs
    lagrange: LagrangeResult | None = None  # multipliers of the best Lagrangian bound so far
    owns_grid_plan: bool = False  # a grid district solved whole that owns its final plan
    table_work: float = 0.0  # work kept for the table search after the final step

    def left(self) -> float:
        """Estimated seconds of work left (see :mod:`solver.location.work`)."""
        return self.clock.left()

    def charge(self, seconds: float, phase: str) -> None:
        """Count the estimated cost of a step."""
        self.clock.charge(seconds, phase)

    def wall_left(self) -> float:
        """Wall-clock seconds to the hard stop (the safety limit of solver calls)."""
        return self.clock.wall_deadline - time.perf_counter()

    def wall_cut(self) -> None:
        """Record that the wall clock cut a step short (see :meth:`WorkClock.wall_cut`)."""
        self.clock.wall_cut()

    def plan(self, open_mask: B, phase: str) -> I32 | None:
        """:func:`_plan_for_sites`, charged to the work clock."""
        k_open = int(np.count_nonzero(open_mask[self.inst.site]))
        self.charge(work.PLAN_PER_ARC * (self.inst.n + k_open), phase)
        plan = _plan_for_sites(self.inst, open_mask)
        if plan is None and self.full is not None:
            # the repair failed on the reduced arcs: the full state plans the set on all arcs
            # and keeps the plan if better (it may use arcs this state does not have)
            found = self.full.plan(open_mask, phase)
            if found is not None:
                self.full.offer(found, open_mask, phase)
        return plan

    def offer(self, assign: I32, open_mask: B, phase: str) -> bool:
        """Keep the plan if it is feasible and better than the incumbent."""
        self.charge(work.EVALUATE_PER_ITEM * self.inst.n, phase)
        ev = evaluate(self.inst, assign, open_mask)
        if not ev.feasible:
            return False
        self.relaxed_upper = min(self.relaxed_upper, ev.objective - ev.group_penalty)
        if self.assign is None or ev.objective < self.objective - 1e-9 * max(
            1.0, abs(self.objective)
        ):
            self.assign, self.open_mask, self.objective = (
                assign.copy(),
                open_mask.copy(),
                ev.objective,
            )
            self.stats[f"improvements_{phase}"] = self.stats.get(f"improvements_{phase}", 0) + 1
            if self.progress is not None:
                self.progress(phase, self.objective, self.bound)
            return True
        return False


def _complete_open(inst: Instance, sel: B, val: NDArray[np.float64]) -> B:
    """Extend a site set to p_max sites (opening more never costs; exact_open needs it)."""
    open_mask = sel & inst.usable
    need = inst.p_max - int(open_mask.sum())
    if need > 0:
        rest = np.flatnonzero(inst.usable & ~open_mask)
        rest = rest[np.argsort(val[rest], kind="stable")][:need]
        open_mask[rest] = True
    return open_mask


def _plan_for_sites(inst: Instance, open_mask: B) -> I32 | None:
    assign = assign_flow(inst, open_mask, inst.cap)
    if assign is None:
        return None
    fitted = fit_tables(inst, open_mask, assign)
    if fitted is None:
        return None
    return improve_assignment(inst, fitted, open_mask)


def _proven_infeasible(inst: Instance) -> str:
    n_req = int(inst.required.sum())
    if n_req > inst.p_max:
        return f"{n_req} required sites exceed max_open={inst.p_max}"
    if int(inst.usable.sum()) < inst.p_min:
        return f"fewer usable sites than exact_open={inst.p_min}"
    has = inst.ptr[1:] > inst.ptr[:-1]
    must = ~np.isfinite(inst.unserved)
    if np.any(must & ~has):
        return "a client without unserved_cost has no usable arc"
    top = np.sort(inst.cap[inst.usable])[::-1][: inst.p_max]
    if int(inst.demand[must].sum()) > int(top.sum()):
        return "demand exceeds the capacity of the largest max_open sites"
    tables = inst.unit > 0 and inst.units_total < BIG_UNITS
    if tables and int(inst.demand[must].sum()) > inst.unit * inst.units_total:
        return "demand exceeds max_units_total × unit_capacity"
    return ""


def _empty_result(
    inst: Instance, reason: str, stats: dict[str, float], bound: float, *, proven: bool
) -> LocationResult:
    """No plan: ``infeasible`` with the contradiction that proves it, else ``no_plan_found``."""
    return LocationResult(
        site_of_client=np.full(inst.n, -1, dtype=np.int32),
        open_sites=np.zeros(inst.m, dtype=np.bool_),
        units=np.zeros(inst.m, dtype=np.int64),
        load=np.zeros(inst.m, dtype=np.int64),
        objective=math.inf,
        assignment_cost=math.inf,
        lower_bound=bound,
        gap=math.inf,
        status="infeasible" if proven else "no_plan_found",
        stats=dict(stats),
        reason=reason,
    )


def solve(
    problem: LocationProblem,
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    progress: Progress | None = None,
    work_budget: float | None = None,
    decompose: bool = True,
    start: tuple[NDArray[np.int32], NDArray[np.bool_]] | None = None,
) -> LocationResult:
    """Plan open sites and single-source assignment; see the module docstring for the model.

    ``work_budget``: estimated seconds of work (:mod:`solver.location.work`) that end the
    search, default ``time_limit``; ``time_limit`` is the wall-clock hard stop. With
    ``decompose``, large local instances are solved by regions
    (:mod:`solver.location.decompose`); the regions themselves are solved whole. A call with
    ``decompose`` owns its final plan: with grids, it ends with the grid-aware reallocation
    and site moves (:func:`solver.location.reopen.improve_on_clock`, on work kept for them
    from the start);
    ``decompose=False`` (the decomposition's own calls) leaves that to the caller. ``start``
    (site per client, open sites): a plan to improve on, kept as the first incumbent if
    feasible (the decomposition's fix-and-optimise passes hand each region its current plan).
    """
    if decompose:
        by_regions = solve_decomposed(
            problem,
            solver=solve,
            time_limit=time_limit,
            work_budget=work_budget,
            seed=seed,
            progress=progress,
        )
        if by_regions is not None:
            return by_regions
    t0 = time.perf_counter()
    inst = build_instance(problem)
    budget = time_limit if work_budget is None else work_budget
    # the final step's work (reallocation and site moves), kept out of the search's budget
    keep = reserve_work(inst.k, budget) if decompose and inst.group is not None else 0.0
    # … and the bound's last steps with exact site knapsacks (:func:`_finish_bound`)
    bound_keep = FINISH_BOUND_SHARE * budget if keep > 0 and beyond_exact_dp(inst) else 0.0
    clock = WorkClock.start(budget - keep - bound_keep, time_limit)
    st = _Search(inst=inst, clock=clock, progress=progress, seed=seed, owns_grid_plan=keep > 0)
    st.charge(10 * work.ARC_PASS * inst.k, "preprocess")
    st.stats["arcs"] = float(inst.k)
    st.stats["seconds_preprocess"] = time.perf_counter() - t0
    reason = _proven_infeasible(inst)
    if reason:
        return _empty_result(inst, reason, st.stats, math.inf, proven=True)
    if start is not None:
        st.offer(
            np.asarray(start[0], dtype=np.int32), np.asarray(start[1], dtype=np.bool_), "start"
        )

    # 1. Lagrangian bound with Lagrangian heuristic.
    t1 = time.perf_counter()
    lr = _bound_phase(st)
    st.bound = max(st.bound, lr.bound)
    st.stats["seconds_bound"] = time.perf_counter() - t1
    st.stats["lagrangian_bound"] = lr.bound
    st.stats["lagrangian_iterations"] = float(lr.iterations)
    if progress is not None:
        progress("bound", st.objective, st.bound)

    # 2. Exact MIP on the reduced whole problem (small) or neighbourhood search (large).
    t2 = time.perf_counter()
    _improve(st, lr)
    st.stats["seconds_improve"] = time.perf_counter() - t2
    if st.assign is not None and st.open_mask is not None and inst.group is not None:
        # 3. Merge grids split over several sites where the walk costs less than λ.
        t3 = time.perf_counter()
        st.charge(work.ARC_PASS * inst.k, "groups")
        st.offer(consolidate_groups(inst, st.assign, st.open_mask), st.open_mask, "groups")
        st.stats["seconds_groups"] = time.perf_counter() - t3
    if st.assign is not None and st.open_mask is not None and keep > 0:
        # 4. Grid-aware reallocation and site moves (as a decomposed district's final step),
        # on the work kept for them.
        clock.budget += keep
        moved, opened = improve_on_clock(inst, st.assign, st.open_mask, clock, clock.left())
        st.offer(moved, opened, "reallocate")
        _after_final_step(st)
    if keep > 0:
        # 5. The bound's last steps, with exact site knapsacks, on the work kept for them and
        # whatever the plan's steps left.
        clock.budget += bound_keep
        _finish_bound(st)
    # 6. Clients at a candidate site of their own: one more bound, from the paid start (after
    # the search, so the search is the same with or without it).
    paid, paid_work = paid_start_bound(inst)
    if paid_work > 0:
        st.charge(paid_work, "bound")
        st.stats["paid_start_bound"] = paid
        if paid > st.bound:
            st.bound = paid
            st.stats["lagrangian_bound"] = max(st.stats.get("lagrangian_bound", -math.inf), paid)
    st.stats["seconds_total"] = time.perf_counter() - t0
    st.stats.update(clock.stats())
    if st.assign is None or st.open_mask is None:
        if st.proof:
            return _empty_result(inst, st.proof, st.stats, math.inf, proven=True)
        reason = "the search ended without a plan (nothing proven)"
        if st.note:
            reason += f": {st.note}"
        return _empty_result(inst, reason, st.stats, st.bound, proven=False)
    ev = evaluate(inst, st.assign, st.open_mask)
    assert ev.feasible, ev.reason
    result = planned_result(ev, st.assign, st.open_mask, st.bound, st.stats)
    return replace(result, multipliers=st.lagrange)


def _lagrangian_heuristic(st: _Search, seen: set[bytes]) -> Callable[[int, B, float], None]:
    """Subgradient callback: plan the relaxation's site set every few iterations.

    The relaxation's sets are good site choices once the multipliers settle; each one costs a
    min-cost flow plus repair, so the schedule is sparse on large instances and skipped when
    the clock is short.
    """
    inst = st.inst
    every = 8 if inst.k <= 200_000 else 25
    cost = work.PLAN_PER_ARC * (inst.n + inst.k)

    def on_iter(it: int, sel: B, lag: float) -> None:
        if it % every != 0 and it != 1:
            return
        if st.left() < 2.0 * cost:
            return
        key = sel.tobytes()
        if key in seen:
            return
        seen.add(key)
        open_mask = _complete_open(inst, sel, np.zeros(inst.m))
        plan = st.plan(open_mask, "lagrangian")
        if plan is not None:
            st.offer(plan, open_mask, "lagrangian")
            st.pool[open_mask.tobytes()] = evaluate(inst, plan, open_mask).objective
        st.stats["lagrangian_heuristic_calls"] = st.stats.get("lagrangian_heuristic_calls", 0) + 1

    return on_iter


# Whole districts (:func:`_district`): both bound passes take deflected steps
# (Camerini-Fratta-Maffioli, γ = :data:`DISTRICT_FIRST_DEFLECTION` in the first pass,
# :data:`DISTRICT_DEFLECTION` in the refinement) in the demand metric
# (:func:`~solver.location.bound.client_metric`, :data:`DISTRICT_METRIC`). With the first
# pass's target (no plan yet: the best bound + 5 %), 150 steps from the scarcity start reach
# 556.5 / 579.0 M on the generated 5M districts (seeds 0 / 1) and 113.76 / 109.41 M on the 1M
# ones; plain steps 550.9 / 570.1 and 112.68 / 108.38 M, plain steps in the demand metric
# 553.3 / 569.7 and 113.05 / 109.14 M (``bench/bound_ceiling.py ceiling --steps 150
# --from-start --upper inf``). The refinement resumes the same steps; θ halves after
# :data:`DISTRICT_PATIENCE` steps without a better bound when its allowance holds
# :data:`DEFLECT_MIN_STEPS` steps (1M), after :data:`~solver.location.bound.PATIENCE` on
# shorter ones (5M: 40-70 steps). Its multipliers plan nothing and the arc bounds keep the
# first pass's, so the refinement never changes the plan; the first pass's multipliers do
# (its site set is the first plan).
DISTRICT_FIRST_DEFLECTION = 1.0
DISTRICT_DEFLECTION = 1.0
DISTRICT_PATIENCE = 50
DEFLECT_MIN_STEPS = 300
DISTRICT_METRIC = True
REFINE_ITERATIONS = 600  # refinement steps (districts: its allowance, at the first pass's cost)
# The refinement's share of the work the construction leaves in a whole district whose plan the
# caller improves further (the decomposition's first plan; the allowance is at most
# REFINE_ITERATIONS steps; 0.3 elsewhere beyond 200k arcs). The engine's neighbourhoods after
# it add little to the decomposition's final plan (its whole-plan rounds end in the same local
# optimum): on the generated 5M district (seed 1) 4.6 more units of them moved the engine's
# plan by 2 M (0.3 %) and the final plan by nothing measurable, while 3.3 more units of
# refinement (0.3 → 0.6) raised the bound 0.42 M (gap without grids 5.683 → 5.571 %, seed 0
# 2.912 → 2.804 %). The 1M districts' refinements reach REFINE_ITERATIONS steps with either
# share (plans and bounds unchanged). A district that owns its final plan keeps 0.3: there the
# neighbourhoods shape the plan.
DISTRICT_REFINE_SHARE = 0.6


def _district_metric(st: _Search) -> NDArray[np.float64] | None:
    """A whole district's subgradient metric (:data:`DISTRICT_METRIC`), charged as a pass over
    the clients; None for plain steps."""
    st.stats["lagrangian_metric"] = float(DISTRICT_METRIC)
    if not DISTRICT_METRIC:
        return None
    st.charge(work.ARC_PASS * st.inst.n, "bound")
    return client_metric(st.inst)


def _bound_phase(st: _Search) -> LagrangeResult:
    """Subgradient optimisation; evaluates the relaxation's site sets as plans on a schedule.

    Records the pass's work (``lagrangian_first_work``): a district's refinement allowance is
    counted in first-pass steps (:func:`_refine_bound`)."""
    inst = st.inst
    spent = st.clock.spent
    seen: set[bytes] = set()
    small = inst.k <= SMALL_ARCS  # few arcs: a long first pass with Lagrangian heuristics
    # Dense instances with many open sites (:func:`_dense`): the first plans are far from
    # the bound, no arc bound excludes anything yet, and the neighbourhood MIPs turn work
    # into a better plan faster than the subgradient turns it into a better bound.
    share = 0.25 if small else (DENSE_BOUND_SHARE if _dense(inst) else 0.2)
    budget = st.left()
    deflection, metric = DEFLECTION, None
    if _district(inst):
        deflection, metric = DISTRICT_FIRST_DEFLECTION, _district_metric(st)
    lr = subgradient(
        inst,
        upper=lambda: st.relaxed_upper,
        on_iter=_lagrangian_heuristic(st, seen) if small else None,
        max_iter=600 if small else 150,
        exact=True,
        deadline_ok=lambda: st.left() > (1.0 - share) * budget,
        charge=lambda w: st.charge(w, "bound"),
        deflection=deflection,
        metric=metric,
    )
    st.stats["lagrangian_first_work"] = st.clock.spent - spent
    st.lagrange = lr
    open_mask = _complete_open(inst, lr.selected, lr.site_value)
    if st.assign is None or lr.selected.tobytes() not in seen:
        plan = st.plan(open_mask, "lagrangian")
        if plan is not None:
            st.offer(plan, open_mask, "lagrangian")
            st.pool[open_mask.tobytes()] = evaluate(inst, plan, open_mask).objective
    return lr


def _refine_bound(st: _Search, lr: LagrangeResult, share: float) -> LagrangeResult:
    """Resume the subgradient with the incumbent as Polyak target (a far better step size than
    the first pass had), planning the relaxation's site sets on the way.

    Whole districts (:func:`_district`) plan none here: after the p-median no such plan beat the
    incumbent on the generated 1M and 5M districts (seeds 0 and 1), and each cost a flow on
    all arcs (3 of the 1M engine's 17 units); the work goes to iterations and the
    neighbourhoods (gap without grids 4.39 / 3.38 % → 4.30 / 3.34 % at 1M, 9.60 → 9.31 % on
    5M seed 1, seed 0 unchanged: it had no work for a plan there).

    A district's steps are deflected (:data:`DISTRICT_DEFLECTION`; θ patience
    :data:`DISTRICT_PATIENCE` when its allowance holds :data:`DEFLECT_MIN_STEPS` steps) in the
    demand metric, as its first pass's, and only their bound is kept: the arc bounds still
    come from the first pass's multipliers (``lr`` is returned). The allowance is fixed before the first step: :data:`REFINE_ITERATIONS`
    steps at the first pass's mean cost, within ``share`` of the work left (plus the one step
    that may end past it, as before), charged whole (its unused rest is less than a step). So
    the plan side sees the same clock (up to rounding) and arc bounds whatever these steps
    reach (unless they converge before the allowance ends). When the sites' capacities are
    beyond the exact knapsacks' (:func:`~solver.location.bound.beyond_exact_dp`), the last
    :data:`INTEGER_SHARE` of the allowance goes to steps with exact knapsacks
    (:func:`_integer_steps`) from the best fractional multipliers."""
    inst = st.inst
    if st.left() < 1.0:
        return lr
    t = time.perf_counter()
    district = _district(inst)
    stop_at = st.left() * (1.0 - share)
    end = math.inf  # districts: the clock's reading when the allowance is used up
    frac_end = math.inf  # … and when its fractional steps end
    deflection, patience = DEFLECTION, PATIENCE
    metric = None
    if district:
        per_step = st.stats.get("lagrangian_first_work", 0.0) / max(lr.iterations, 1)
        allowance = min(share * st.left() + per_step, REFINE_ITERATIONS * per_step)
        end = frac_end = st.clock.spent + allowance
        deflection, metric = DISTRICT_DEFLECTION, _district_metric(st)
        if allowance >= DEFLECT_MIN_STEPS * per_step:
            patience = DISTRICT_PATIENCE
        if beyond_exact_dp(inst):
            frac_end = end - INTEGER_SHARE * allowance
        st.stats["lagrangian_refine_deflection"] = deflection
    dearest = [0.0]  # the dearest step so far: a district steps while one more fits

    def charge(w: float) -> None:
        dearest[0] = max(dearest[0], w)
        st.charge(w, "bound")

    def go_on() -> bool:
        if district:  # left() is 0 past the wall-clock deadline
            return st.left() > 0.0 and st.clock.spent + dearest[0] <= frac_end
        return st.left() > stop_at

    more = subgradient(
        inst,
        upper=lambda: st.relaxed_upper,
        on_iter=None if district else _lagrangian_heuristic(st, set()),
        max_iter=10 * REFINE_ITERATIONS if district else REFINE_ITERATIONS,
        exact=True,
        deadline_ok=go_on,
        charge=charge,
        mu0=lr.mu,
        nu0=lr.nu,
        theta0=max(lr.theta, 0.25),
        deflection=deflection,
        patience=patience,
        metric=metric,
    )
    st.stats["lagrangian_iterations"] = st.stats.get("lagrangian_iterations", 0) + more.iterations
    best = more if more.bound > lr.bound else lr
    if end > frac_end:
        best, dearest_int = _integer_steps(st, best, end, deflection, patience, metric)
        dearest[0] = max(dearest[0], dearest_int)
    if 0.0 < end - st.clock.spent <= dearest[0]:
        # the allowance's rest, so the clock reads ``end`` whatever the steps reached
        st.charge(end - st.clock.spent, "bound")
    st.stats["seconds_bound_refine"] = time.perf_counter() - t
    if best.bound > lr.bound:
        _record_bound(st, best)
        return lr if district else best
    return lr


def _record_bound(st: _Search, lr: LagrangeResult) -> None:
    """``lr`` is the best Lagrangian bound so far: the search's bound, its figure and its
    multipliers (for later steps) follow it, and the progress callback is told."""
    st.bound = max(st.bound, lr.bound)
    st.stats["lagrangian_bound"] = lr.bound
    st.lagrange = lr
    if st.progress is not None:
        st.progress("bound", st.objective, st.bound)


# Share of a whole district's refinement allowance (:func:`_refine_bound`) for steps with exact
# site knapsacks (:func:`_integer_steps`), after the fractional ones.
INTEGER_SHARE = 0.25
INTEGER_ITERATIONS = 600  # at most this many steps with exact knapsacks in one call
# θ the exact-knapsack steps restart from when the fractional ones stopped at THETA_MIN
# (mid-size districts' refinements do; whole districts' steps resume their θ). From converged
# fractional multipliers on the generated 120k-resident district (seed 0), θ = 0.25 / 0.05 /
# 0.01 / 0.001 gained +0.06 / +0.14 / +0.15 / +0.09 % in 50 steps, +0.30 / +0.28 / +0.24 /
# +0.16 % in 300.
INTEGER_THETA = 0.05


def _integer_steps(
    st: _Search,
    lr: LagrangeResult,
    end: float,
    deflection: float,
    patience: int,
    metric: NDArray[np.float64] | None,
) -> tuple[LagrangeResult, float]:
    """Subgradient steps with exact site knapsacks
    (:func:`~solver.location.table_knapsack.table_knapsacks`) from ``lr``'s multipliers while
    the next step (as dear as the dearest so far) fits before the clock reads ``end``; returns
    the better of ``lr`` and their best, and the dearest step. Records their bound and steps
    (``lagrangian_integer_*``); the plan never sees these multipliers."""
    spent = st.clock.spent
    out, dearest = exact_steps_until(
        st.inst,
        st.clock,
        end,
        lr,
        upper=lambda: st.relaxed_upper,
        theta0=lr.theta if lr.theta >= THETA_MIN else INTEGER_THETA,
        max_iter=INTEGER_ITERATIONS,
        deflection=deflection,
        patience=patience,
        metric=metric,
    )
    _record_steps(st, "integer", out, st.clock.spent - spent)
    return (out if out.bound > lr.bound else lr), dearest


def _record_steps(st: _Search, name: str, out: LagrangeResult, spent: float) -> None:
    """Figures of one run of subgradient steps (``lagrangian_{name}_*``: its best bound, steps
    and work) and its steps in the total."""
    st.stats[f"lagrangian_{name}_bound"] = out.bound
    st.stats[f"lagrangian_{name}_iterations"] = float(out.iterations)
    st.stats[f"lagrangian_{name}_work"] = spent
    st.stats["lagrangian_iterations"] = st.stats.get("lagrangian_iterations", 0) + out.iterations


# Share of a grid district's budget (solved whole, capacities beyond the per-site DP) kept
# from the start for :func:`_finish_bound`: the table search and the neighbourhoods after the
# final step (step 8) use all the work there is, and the exact knapsacks' steps then had none
# (the generated 120k-resident district, seed 0: 3 units of them raise the bound 0.5 %).
FINISH_BOUND_SHARE = 0.1
# Share of :func:`_finish_bound`'s work for fractional steps restarted from the scarcity start
# (before the exact-knapsack ones). Once the plan is final its cost is a far better Polyak
# target than the search's passes had; the multipliers those passes leave have stalled (θ at
# 1e-4 to 1e-3). From their state on the generated districts 120k / 200k / 300k (seeds 0 / 1),
# their bounds resumed with exact knapsacks (the work left, about 3 units): 17.744 / 14.728,
# 24.763 / 22.429, 32.491 / 35.108 M; restarted with this share 0.3: 17.754 / 14.728, 24.837 /
# 22.431, 32.505 / 35.387 M (0.5: 17.722 / 14.728, 24.793 / 22.431, 32.491 / 35.355; 0.7:
# 17.754 / 14.728, 24.849 / 22.431, 32.505 / 35.254). The better of both is reported.
FINISH_RESTART_SHARE = 0.3


def _finish_bound(st: _Search) -> None:
    """A grid district solved whole: the work its final step left goes to the bound, after the
    plan is final, so it raises the reported bound and changes nothing else.

    The steps restart from the scarcity start (:func:`~solver.location.bound.scarcity_start`),
    deflected in the demand metric with the final plan's cost as target: first fractional ones
    (:data:`FINISH_RESTART_SHARE` of the work), then exact site knapsacks
    (:func:`_integer_steps`) from their best multipliers."""
    lr = st.lagrange
    if lr is None or not beyond_exact_dp(st.inst) or st.left() <= 0.0:
        return
    metric = _district_metric(st)
    spent, end = st.clock.spent, st.clock.spent + st.left()
    restart = exact_steps_until(
        st.inst,
        st.clock,
        st.clock.spent + FINISH_RESTART_SHARE * st.left(),
        None,
        upper=lambda: st.relaxed_upper,
        theta0=1.0,
        max_iter=10 * REFINE_ITERATIONS,
        deflection=DISTRICT_DEFLECTION,
        patience=DISTRICT_PATIENCE,
        metric=metric,
        integer=False,
    )[0]
    _record_steps(st, "restart", restart, st.clock.spent - spent)
    best = _integer_steps(st, restart, end, DISTRICT_DEFLECTION, DISTRICT_PATIENCE, metric)[0]
    if best.bound > st.stats.get("lagrangian_bound", -math.inf):
        _record_bound(st, best)


def _improve(st: _Search, lr: LagrangeResult) -> None:
    """Whole-problem MIP on Lagrangian-reduced arcs if small, then neighbourhood search."""
    inst = st.inst
    if st.assign is None:
        _rescue(st)
    if st.assign is None:
        return
    # Dense instances with many open sites (:func:`_dense`): the constructions run on each
    # client's nearest arcs (a few percent of all arcs); their site sets are planned on all
    # arcs, since the single-source repair often fails on few.
    dense = _dense(inst)
    near = nearest_arcs(inst) if dense else None
    on = inst if near is None else restrict(inst, near)
    if near is not None:
        st.charge(work.ARC_PASS * inst.k, "reduced")
        st.stats["reduced_arcs"] = float(on.k)
    if inst.k > SMALL_ARCS and not _district(inst) and st.left() > 1.0:
        t = time.perf_counter()
        _drop_start(st, on)
        st.stats["seconds_drop"] = time.perf_counter() - t
    _pmedian_starts(st, on)
    if not is_small(inst) or inst.k > SMALL_ARCS:  # the first pass had no heuristics
        refine = DENSE_BOUND_SHARE if dense else (0.3 if inst.k > 200_000 else 0.15)
        if _district(inst) and not st.owns_grid_plan:  # the decomposition's first plan
            refine = DISTRICT_REFINE_SHARE
        lr = _refine_bound(st, lr, share=refine)
    st.charge(work.ARC_PASS * inst.k, "bound")
    lf = arc_bounds(inst, lr)
    st.stats["arcs_after_reduction"] = float(np.count_nonzero(lf < st.objective))
    if is_small(inst):
        _improve_small(st, lf)
        return
    tables_bind = _tables_bind(st)
    kept = TABLE_SEARCH_SHARE * st.left() if tables_bind else 0.0
    if not tables_bind:
        t = time.perf_counter()
        _site_search(st)
        st.stats["seconds_site_search"] = time.perf_counter() - t
    # the table search's share, for after the final step (:func:`_after_final_step`)
    st.clock.budget -= kept
    st.table_work = kept
    if st.left() > 1.0:
        _global_mip(st, lf, share=0.6)
    _lns(st)


REST_ROUNDS = 3  # further neighbourhood runs on the work the final step leaves
TABLE_SEARCH_SHARE = 1 / 3  # work share of the table search (:func:`_table_search`)


def _table_search(st: _Search) -> None:
    """Where every table is in use (:func:`_tables_bind`), after the neighbourhoods: site and
    table search by the transportation cost with each site's tables
    (:mod:`solver.location.table_search`) from the incumbent's sites and tables, on the work
    left but the reallocation's reserve; its result planned, reallocated (grid-aware, table
    trades) and offered.

    The plans follow that cost: three engine runs on the generated 120k-resident district
    (seed 0, no grid penalty) cost 18.82 / 18.57 / 18.52 M, their flows at their own tables
    18.56 / 18.33 / 18.26 M; from the engine's plan (19.46 M with the grid penalty, its flow
    18.48 M) 800 flows reached 18.31 M and the reallocated plan 19.36 M."""
    inst = st.inst
    if st.assign is None or st.open_mask is None or st.left() <= 0.0:
        return
    ev = evaluate(inst, st.assign, st.open_mask)
    per_set = _arcs_per_site_set(inst)
    st.charge(work.ARC_PASS * inst.k, "table_search")
    near = site_neighbours(inst)
    keep = realloc_reserve(inst.k, st.left())  # for the reallocation of its plan
    found = table_site_search(
        inst,
        st.open_mask,
        ev.units.astype(np.int64),
        near,
        np.random.default_rng(st.seed),
        keep_going=lambda: st.left() > keep,
        on_flow=lambda: st.charge(work.FLOW_PER_ARC * per_set, "table_search"),
    )
    st.stats["table_search_flows"] = float(found.flows)
    st.stats["table_search_moves"] = float(found.moves)
    if found.moves == 0:
        return
    st.charge(work.PLAN_PER_ARC * (inst.n + per_set), "table_search")
    plan = plan_for_tables(inst, found.open_mask, found.tables)
    if plan is None:
        return
    moved = reallocate(inst, plan, found.open_mask, work_limit=max(0.0, st.left()))
    st.charge(moved.work, "table_search")
    st.offer(moved.assign, found.open_mask, "table_search")


def _after_final_step(st: _Search) -> None:
    """A grid district solved whole, after its final step: the table search on the work kept
    for it (where every table is in use, :func:`_tables_bind`) and, when it improved the plan,
    the final step again (site moves and reallocation on the new sites); then the work left
    goes back to the neighbourhoods (:func:`_rest_to_neighbourhoods`).

    The table search runs after the final step: the site moves, priced exactly with their
    reassignment, go further from the neighbourhoods' plan than the table search does, and
    the table search then moves the tables between the sites they leave. On the generated
    200k-resident district (seed 0) the table search before the neighbourhoods took the plan
    from 27.44 to 26.59 M and nothing after it found more than 0.02 %; after the final step
    (27.24 → 26.43 M) it took 26.43 to 26.41 M. (120k, seed 0: final step 19.38 M, table
    search 19.20 M; 300k, seed 1: 38.61 → 38.53 M.)"""
    if st.table_work > 0.0:
        st.clock.budget += st.table_work
        st.table_work = 0.0
        before = st.objective
        t = time.perf_counter()
        _table_search(st)
        st.stats["seconds_table_search"] = time.perf_counter() - t
        if st.objective < before and st.assign is not None and st.open_mask is not None:
            moved, opened = improve_on_clock(st.inst, st.assign, st.open_mask, st.clock, st.left())
            st.offer(moved, opened, "reallocate")
    _rest_to_neighbourhoods(st)


def _rest_to_neighbourhoods(st: _Search) -> None:
    """A grid district solved whole (its final plan its own): work the final step left
    (its rounds found nothing more on the plan) goes back to the neighbourhood MIPs, with
    fresh seeds, and the final step runs again on what they leave, while either improves.

    The final step's reserve is kept from the start and was left unspent (3-4 of 30 units on
    the generated 100-300k-resident districts) when its rounds stop finding anything."""
    if not st.owns_grid_plan:
        return
    for salt in range(1, REST_ROUNDS + 1):
        if st.assign is None or st.open_mask is None or st.left() <= 1.0:
            return
        before = st.objective
        _lns(st, salt=1000 * salt)
        assert st.assign is not None and st.open_mask is not None
        if st.left() > 0.0:
            moved, opened = improve_on_clock(st.inst, st.assign, st.open_mask, st.clock, st.left())
            st.offer(moved, opened, "reallocate")
        if st.objective >= before:
            return


def _tables_bind(st: _Search) -> bool:
    """A grid district solved whole (not by regions, its final plan its own) whose plan uses
    every table: no flow-scored site search; :data:`TABLE_SEARCH_SHARE` of the work is kept
    for the table search after the final step (:func:`_after_final_step`), the rest goes to
    the whole-problem MIP and the CP-SAT neighbourhoods. Elsewhere (spare tables, regions of
    a decomposed district) the flow-scored site search runs as before.

    The site search ranks site sets by their transportation cost with every open site at its
    full capacity, which sees neither the grid penalty nor the table limit, and plans only
    the sets it ends in. Where every table is in use the spread of the tables decides the
    plan: on the generated 120k-resident district (seed 0; tables for 101.8 % of the
    residents) it spent 14 of 30 units and its exact assignments 7 more without one better
    plan (engine seeds 0, 1 and 2)."""
    inst = st.inst
    if not st.owns_grid_plan or st.assign is None or st.open_mask is None:
        return False
    if inst.unit <= 0 or inst.units_total >= BIG_UNITS:
        return False
    st.charge(work.EVALUATE_PER_ITEM * inst.n, "table_search")
    used = int(evaluate(inst, st.assign, st.open_mask).units.sum())
    st.stats["tables_bind"] = float(used >= inst.units_total)
    return used >= inst.units_total


def _district(inst: Instance) -> bool:
    """A whole district: grids and more than :data:`SMALL_ARCS` arcs (the decomposition's
    first plan; its regions and smaller districts take the general path). Its construction
    has no drop heuristic, runs the p-median to its end and its bound refinement plans no
    relaxation sets (:func:`_refine_bound`)."""
    return inst.group is not None and inst.k > SMALL_ARCS


def _dense(inst: Instance) -> bool:
    """Exact path with more arcs than :data:`SMALL_ARCS` and site sets too large for the site
    search on all arcs (hundreds of open sites): the constructions and the site search move
    to each client's nearest arcs (:func:`_reduced_state`) and the bound gets less work."""
    return is_small(inst) and inst.k > SMALL_ARCS and _arcs_per_site_set(inst) > SITE_SEARCH_ARCS


def _reduced_search_pays(inst: Instance) -> bool:
    """Site search on each client's nearest arcs (:func:`_reduced_site_search`) instead of all
    arcs: dense instances, and instances beyond :data:`SMALL_ARCS` arcs whose nearest arcs
    are at most :data:`REDUCED_MAX_FRACTION` of all arcs (mid-to-high p: the all-arc search
    affords only a few hundred flows there; ali535 with p = 50 and 100 ended 3.7 and 7.3 %
    above the best known with it)."""
    if _dense(inst):
        return True
    if not is_small(inst) or inst.k <= SMALL_ARCS or inst.n == 0:
        return False
    near = max(NEAR_MIN, math.ceil(NEAR_PER_SHARE * inst.n / max(1, inst.p_max)))
    return near * inst.n <= REDUCED_MAX_FRACTION * inst.k


def _drop_start(st: _Search, on: Instance) -> None:
    """Drop construction (all sites open, close the lowest-regret ones) on the arcs of
    ``on`` (the instance or a size-reduced one), then its plan on all arcs."""
    st.charge(work.ARC_PASS * on.k, "drop")
    near = site_neighbours(on)

    def drop_round() -> bool:
        st.charge(work.DROP_PER_ARC * on.k, "drop")
        return st.left() > 1.0

    sites = drop_construction(on, near, keep_going=drop_round)
    if sites is not None:
        plan = st.plan(sites, "drop")
        if plan is not None:
            st.offer(plan, sites, "drop")


def _reduced_state(st: _Search, lf: NDArray[np.float64] | None) -> _Search:
    """A search state on the size-reduced problem: each client's nearest arcs
    (:func:`~solver.location.exact.nearest_arcs`; with ``lf`` only those that survive the
    Lagrangian arc bounds) plus the incumbent's, sharing the work clock and the incumbent.

    Stefanello et al. (2015) and Gnägi & Baumann (2021) solve large capacitated p-medians
    on each client's few nearest sites: good plans use near sites. A min-cost flow there
    costs a few percent of one on all arcs, so constructions and site searches that the full
    arc set makes too dear when hundreds of sites are open fit the budget. Its plans are
    plans of the full instance at the same cost (:func:`_adopt` hands them back).
    """
    inst = st.inst
    near = nearest_arcs(inst)
    keep = np.ones(inst.k, dtype=np.bool_) if near is None else near
    if lf is not None:
        keep = surviving_arcs(st, lf, keep)
    elif st.assign is not None:
        keep = keep.copy()
        served = np.flatnonzero(st.assign >= 0)
        keep[inst.arc_index(served, st.assign[served])] = True
    st.charge(work.ARC_PASS * inst.k, "reduced")
    red = restrict(inst, keep)
    sub = _Search(inst=red, clock=st.clock, progress=None, seed=st.seed, bound=st.bound, full=st)
    sub.pool = dict(st.pool)
    sub.relaxed_upper = st.relaxed_upper
    if st.assign is not None and st.open_mask is not None:
        sub.offer(st.assign, st.open_mask, "reduced")
    return sub


def _adopt(st: _Search, sub: _Search, phase: str) -> None:
    """Hand a reduced state's incumbent, site sets and statistics back to the full state."""
    for key, value in sub.stats.items():
        st.stats[f"reduced_{key}"] = st.stats.get(f"reduced_{key}", 0.0) + value
    st.pool.update(sub.pool)
    if sub.assign is not None and sub.open_mask is not None:
        st.offer(sub.assign, sub.open_mask, phase)


def _improve_small(st: _Search, lf: NDArray[np.float64]) -> None:
    """Small instances: multi-start site search, LNS from the best distinct plans, a MIP over
    the union of their sites, then the whole-problem MIP on the Lagrangian-surviving arcs."""
    t = time.perf_counter()
    # Many cheap descents pay on small instances (pmedcap1: n ≤ 100); on larger ones (SJC3/4)
    # one descent costs much more and the neighbourhood MIPs need the time.
    few = st.inst.k <= MULTISTART_ARCS
    reduced = _reduced_search_pays(st.inst)
    between: Callable[[], bool] | None = None  # the site steps between LNS passes
    elites = (
        []
        if reduced
        else _site_search(
            st, share=0.5 if few else 0.1, spread_starts=10_000, exact_top=6, polish=0.3
        )
    )
    st.stats["seconds_site_search"] = time.perf_counter() - t
    if st.inst.k > SMALL_ARCS:
        # Beyond SMALL_ARCS arcs a whole-problem MIP's root alone outlasts the budget. Where
        # the nearest arcs are a small part of all arcs (dense instances, and mid-to-high p),
        # the site search runs on them instead (a flow there costs a fraction of one on all
        # arcs, so many more descents fit); it gives the neighbourhood MIPs a start, and they
        # get the rest.
        if reduced:
            t = time.perf_counter()
            _reduced_site_search(st, lf, share=REDUCED_SHARE)
            st.stats["seconds_reduced_site_search"] = time.perf_counter() - t
            t = time.perf_counter()
            between = _sites_then_assignment(st, lf)
            between()
            st.stats["seconds_site_moves"] = time.perf_counter() - t
            t = time.perf_counter()
            _cpsat_lns(st, lf, CPSAT_LNS_SHARE * st.left())
            st.stats["seconds_cpsat_lns"] = time.perf_counter() - t
        t = time.perf_counter()
        done: set[bytes] = set()  # neighbourhoods solved without gain
        kick = _site_kick(st, lf) if reduced else None
        reduced_lns(
            st, lf, *_sub_functions(st), reserve=0.0, solved=done, between=between, kick=kick
        )
        # Work the neighbourhoods left (every level exhausted) goes to another site search
        # from the incumbent, with fresh random starts, and the neighbourhoods again.
        rounds = 0
        while reduced and st.left() > 1.0 and rounds < 3:
            rounds += 1
            before = st.objective
            cur = replace(st, seed=st.seed + rounds, progress=None)
            _reduced_site_search(cur, lf, share=0.5)
            if cur.assign is not None and cur.open_mask is not None:
                st.offer(cur.assign, cur.open_mask, "reduced_site_search")
            reduced_lns(
                st, lf, *_sub_functions(st), reserve=0.0, solved=done, between=between, kick=kick
            )
            if st.objective >= before:
                break
        st.stats["site_search_rounds"] = float(rounds)
        st.stats["seconds_lns"] = time.perf_counter() - t
        return

    t = time.perf_counter()
    _reduced_site_moves(st, lf, SITE_MOVES_SHARE * st.left())
    st.stats["seconds_site_moves"] = time.perf_counter() - t
    t = time.perf_counter()
    # LNS from the incumbent, then from the next-best distinct site sets (other basins)
    incumbent_sites = st.open_mask
    others = [
        replace(st, assign=a, open_mask=om, objective=obj, progress=None)
        for obj, a, om in elites
        if incumbent_sites is None or not np.array_equal(om, incumbent_sites)
    ]
    starts = [st, *others[:ELITE_LNS]]
    # On larger instances the whole-problem MIP below is what closes the last percent, given
    # time: SJC4a over seeds 0-2 ended 1.9, 0 and 1.0 % above the optimum with half the time
    # left for these LNS runs, and at the optimum in all three with a tenth.
    share = (0.5 if few else 0.1) * st.left() / len(starts)
    # Where an open site serves only a few clients (level_scale > 1: many medians) the
    # whole-problem MIP is a gamble and the neighbourhoods improve steadily: lin318 with
    # p = 70 and 100 ended 2.8 / 4.8 % and 0.3 / 5.6 % above the best known (seeds 0 / 1) with
    # a tenth for the neighbourhoods and the rest on the whole MIP (33.5 and 39.7 of 60 units
    # for one improvement on p = 70); with half first, 0.7 / 2.4 % and 2.3 / 2.4 %.
    lns_half = level_scale(st.inst.n, st.inst.p_max) > 1
    solved: set[bytes] = set()  # the incumbent's neighbourhoods solved without gain
    for cur in starts:
        reduced_lns(
            cur,
            lf,
            *_sub_functions(cur),
            reserve=0.5 * st.left() if lns_half and cur is st else max(0.0, st.left() - share),
            solved=solved if cur is st else None,
        )
        if cur is not st and cur.assign is not None and cur.open_mask is not None:
            st.offer(cur.assign, cur.open_mask, "elite_lns")
    st.stats["seconds_lns"] = time.perf_counter() - t
    t = time.perf_counter()
    _merge_elites(st, lf, [om for _, _, om in elites])
    st.stats["seconds_merge"] = time.perf_counter() - t
    t = time.perf_counter()
    solve_whole(st, lf, *_sub_functions(st), arc_budget=8000)
    st.stats["seconds_whole_mip"] = time.perf_counter() - t
    if st.left() > 1.0:
        # Work the whole-problem MIP did not need (it finished, or its arcs did not fit) goes
        # back to the neighbourhood search from the incumbent, which skips what it has solved.
        t = time.perf_counter()
        reduced_lns(st, lf, *_sub_functions(st), reserve=0.0, solved=solved)
        st.stats["seconds_final_lns"] = time.perf_counter() - t


# Work share (of what the site moves leave) of CP-SAT's own neighbourhood search over the whole
# size-reduced problem (:func:`_cpsat_lns`) on the many-medians path.
CPSAT_LNS_SHARE = 0.4
CPSAT_LNS_WORKERS = 2  # its interleaved workers (deterministic whatever the cores)
# Each client's cheapest arcs in its model (plus the incumbent's). Fewer than the MIP
# neighbourhoods keep (:func:`~solver.location.exact.nearest_arcs`, at least 16): a smaller
# model lets its neighbourhood workers cover more per unit of deterministic time. 10 against
# 16 on the ten many-medians Stefanello instances most affected (60 units), seed 0 / seed 1:
# sum of gaps −0.47 / −0.67 points, u724_200 2.097 → 1.743 / 1.520 → 1.051 %, rl1304_300
# 1.630 → 1.630 / 2.183 → 1.773 %, ali535_150 2.048 → 2.002 / 1.338 → 1.704 %.
CPSAT_LNS_NEAREST = 10


def _cpsat_lns(st: _Search, lf: NDArray[np.float64], limit: float) -> None:
    """CP-SAT's large neighbourhood search on the whole size-reduced problem (each client's
    :data:`CPSAT_LNS_NEAREST` cheapest arcs that survive the Lagrangian, plus the incumbent's),
    hinted with the incumbent, within ``limit`` of work; its plan is offered.

    Gnägi & Baumann (2021) solve the whole size-reduced model with a MIP solver; SCIP's root
    alone outlasts the budget there (ali535 with p = 150: 11 s on the 8 nearest arcs, no better
    plan), while CP-SAT's neighbourhood workers, which relax random and related groups of
    variables and re-solve them, improve plans the site moves and our neighbourhood MIPs leave
    (from the engine's 60-unit plan: ali535 p = 150 3.21 → 1.68 % above the best known,
    rl1304 p = 300 2.39 → 2.12 %)."""
    inst = st.inst
    near = nearest_arcs(inst, CPSAT_LNS_NEAREST)
    if st.assign is None or st.open_mask is None or near is None or limit < 1.0:
        return
    st.charge(work.ARC_PASS * inst.k, "cpsat_lns")
    arcs = np.flatnonzero(surviving_arcs(st, lf, near)).astype(np.int64)
    sub = _subproblem(
        st,
        np.arange(inst.n, dtype=np.int64),
        np.flatnonzero(inst.usable).astype(np.int64),
        arcs,
    )
    res, dtime = _cpsat(
        st,
        sub,
        max(0.01, (limit - work.CPSAT_PER_ARC * arcs.shape[0]) / work.CPSAT_PER_DTIME),
        st.seed,
        "cpsat_lns",
        scale=cost_scale(inst.cost[arcs]),
        lns=CPSAT_LNS_WORKERS,
    )
    if dtime is not None:
        st.stats["cpsat_lns_dtime"] = dtime
    if res is not None:
        _apply(st, sub, res, "cpsat_lns")


def _cpsat(
    st: _Search,
    sub: SubProblem,
    work_limit: float,
    seed: int,
    phase: str,
    *,
    scale: float = 1.0,
    lns: int = 0,
) -> tuple[SubResult | None, float | None]:
    """One CP-SAT call on ``sub`` hinted with the incumbent
    (:func:`~solver.location.cpsat.solve_sub_cpsat`, ``work_limit`` in deterministic time),
    charged to ``phase`` (its deterministic time and the model's arcs), the wall-clock cut
    recorded. Returns its result and deterministic time; (None, None) when the wall clock
    leaves no time for a call."""
    time_limit = solver_time_limit(st)
    if time_limit < MIN_WALL_SECONDS:
        st.wall_cut()
        return None, None
    res, dtime, wall_cut = solve_sub_cpsat(
        st.inst,
        sub,
        hint_assign=st.assign,
        hint_open=st.open_mask,
        time_limit=time_limit,
        work_limit=work_limit,
        seed=seed,
        scale=scale,
        lns=lns,
    )
    st.charge(work.CPSAT_PER_DTIME * dtime + work.CPSAT_PER_ARC * sub.arcs.shape[0], phase)
    if wall_cut:
        st.wall_cut()
    return res, dtime


def _reduced_site_search(st: _Search, lf: NDArray[np.float64], share: float) -> None:
    """Site search on the size-reduced problem (:func:`_reduced_state`): swap local search
    from the incumbent's and random spread-out site sets, each local optimum planned on all
    arcs when the single-source repair fails on the reduced ones."""
    if nearest_arcs(st.inst) is None or st.assign is None or st.left() < 1.0:
        return
    sub = _reduced_state(st, lf)
    st.stats["reduced_arcs"] = float(sub.inst.k)
    # No exact (SCIP) assignment of the best sets here: on sparse arcs under tight capacities
    # its root node runs far beyond its estimate (ali535_100: 23 of 60 units, no plan); the
    # neighbourhood MIPs, which improve plans steadily at their estimate, get the work.
    _site_search(
        sub,
        share=share,
        spread_starts=REDUCED_SPREAD_STARTS,
        exact_top=0,
        polish=0.3,
        neighbour_sets=0,
    )
    _adopt(st, sub, "reduced_site_search")


def _reduced_site_moves(st: _Search, lf: NDArray[np.float64], limit: float) -> None:
    """Close–open site moves priced with the reassignment they cause, and reallocation rounds
    (:func:`solver.location.reopen.improve_on_clock`), on the size-reduced problem
    (:func:`_reduced_state`: the nearest arcs where there are many, the arcs that survive the
    Lagrangian arc bounds) within ``limit`` of work; the plan is kept if better.

    The site search ranks site sets by their transportation cost (demand may split) and plans
    only the sets it ends in; a site move is priced on the single-source plan itself, a
    median moving together with the clients that follow it and the reallocation's chains
    making room. It is a cheap start for the neighbourhood MIPs where medians are many: on
    ali535 with p = 100 (seed 0) the site search's plan was 12.2 % above the best known, the
    moves took it to 3.9 % for 2.2 units, where the MIPs alone had needed about 27 units to
    reach 5.6 % (the 60-unit result went from 3.58 to 0.59 %).
    """
    if st.assign is None or st.left() < 1.0:
        return
    sub = _reduced_state(st, lf)
    if sub.assign is None or sub.open_mask is None:
        return
    before = st.objective
    assign, open_mask = improve_on_clock(sub.inst, sub.assign, sub.open_mask, st.clock, limit)
    sub.offer(assign, open_mask, "site_moves")
    _adopt(st, sub, "site_moves")
    st.stats["site_moves_gain"] = st.stats.get("site_moves_gain", 0.0) + before - st.objective


def _open_site_assignment(st: _Search, lf: NDArray[np.float64], limit: float) -> None:
    """The assignment of every client to the incumbent's open sites (kept open) as one SCIP
    MIP, hinted with the incumbent, on each client's :data:`ASSIGN_ARCS` cheapest surviving
    arcs to open sites and its own; the plan is kept if better.

    With few clients per open site the single-source assignment is a bin packing whose
    improving moves are chains through many sites, longer than a neighbourhood MIP holds
    (a few sites and their clients): on ali535 with p = 150 (seed 1) the plan the LNS ended
    with was 0.7 % above the best assignment of its own sites; this MIP took it 0.6 % lower
    in about 1.6 units, where the LNS was gaining about 0.1 % per 10 units."""
    inst = st.inst
    if st.assign is None or st.open_mask is None or limit < ASSIGN_MIN_WORK:
        return
    keep = surviving_arcs(st, lf) & st.open_mask[inst.site]
    ca, rank = ranked_arcs(st, keep, np.arange(inst.n, dtype=np.int64))
    sel = np.zeros(inst.k, dtype=np.bool_)
    sel[ca[rank < ASSIGN_ARCS]] = True
    served = np.flatnonzero(st.assign >= 0)
    sel[inst.arc_index(served, st.assign[served])] = True
    st.charge(work.ARC_PASS * inst.k, "open_site_assignment")
    arcs = np.flatnonzero(sel).astype(np.int64)
    sites = np.flatnonzero(st.open_mask).astype(np.int64)
    sub = replace(
        _subproblem(st, np.arange(inst.n, dtype=np.int64), sites, arcs),
        fixed_open=np.ones(sites.shape[0], dtype=np.bool_),
    )
    res = run_mip(
        st,
        sub,
        work_limit=limit,
        node_limit=ASSIGN_NODES,
        seed=st.seed,
        phase="open_site_assignment",
        root_iterations=work.MIP_FIXED_ROOT_ITERATIONS,
        lp_dives=False,  # hinted with the incumbent: no dives for a plan that is there
        root_share=ASSIGN_ROOT_SHARE,
    )
    if res is not None:
        _apply(st, sub, res, "open_site_assignment")


def _sites_then_assignment(st: _Search, lf: NDArray[np.float64]) -> Callable[[], bool]:
    """Site moves (:func:`_reduced_site_moves`) and the exact assignment of the open sites
    (:func:`_open_site_assignment`), alternated while either improves the incumbent; run
    first after the site search, then after each pass of the neighbourhood MIPs over their
    seeds (the ``between`` step of :func:`~solver.location.exact.reduced_lns`). A pass moves
    medians and clients, after which close–open moves that did not pay before may; the site
    moves change the site set, whose best assignment they only approximate. Each step runs
    only when the incumbent changed since it last ended (on the same plan it would find
    nothing again), within :data:`SITE_MOVES_SHARE` and :data:`ASSIGN_SHARE` of the work
    left; True when they improved the incumbent."""
    seen = {"moves": math.inf, "assign": math.inf}  # the objective each step last ended at

    def run() -> bool:
        start = st.objective
        while st.left() > 1.0:
            before = st.objective
            if st.objective < seen["moves"]:
                _reduced_site_moves(st, lf, SITE_MOVES_SHARE * st.left())
                seen["moves"] = st.objective
            if st.objective < seen["assign"]:
                _open_site_assignment(st, lf, ASSIGN_SHARE * st.left())
                seen["assign"] = st.objective
            if st.objective >= before:
                break
        st.stats["site_steps"] = st.stats.get("site_steps", 0.0) + 1
        return st.objective < start

    return run


def _kick_pairs(st: _Search, rng: np.random.Generator, k: int) -> list[tuple[int, int]]:
    """Close–open pairs of one kick: a random open site and the k − 1 open sites its clients'
    arcs reach most (a local group; required sites stay open), each paired with one of the
    :data:`KICK_CANDIDATES` closed usable sites its clients see most among their
    :data:`CHEAP_ARCS` cheapest arcs (drawn with ``rng``, distinct across the pairs)."""
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    looked = 0  # arcs looked at (charged as arc passes)
    opened = np.flatnonzero(st.open_mask & ~inst.required)
    if opened.shape[0] == 0:
        return []
    every_arc = np.ones(inst.k, dtype=np.bool_)
    a0 = int(opened[rng.integers(opened.shape[0])])
    group = [a0]
    ca, _ = ranked_arcs(st, every_arc, np.flatnonzero(st.assign == a0))
    looked += ca.shape[0]
    near = inst.site[ca].astype(np.int64)
    near = near[st.open_mask[near] & ~inst.required[near] & (near != a0)]
    if near.shape[0] and k > 1:
        ids, cnt = np.unique(near, return_counts=True)
        group += ids[np.argsort(-cnt, kind="stable")][: k - 1].tolist()
    taken = np.zeros(inst.m, dtype=np.bool_)
    pairs: list[tuple[int, int]] = []
    for a in group:
        ca, rank = ranked_arcs(st, every_arc, np.flatnonzero(st.assign == a))
        looked += ca.shape[0]
        cand = inst.site[ca[rank < CHEAP_ARCS]].astype(np.int64)
        cand = cand[inst.usable[cand] & ~st.open_mask[cand] & ~taken[cand]]
        if cand.shape[0] == 0:
            continue
        ids, cnt = np.unique(cand, return_counts=True)
        top = ids[np.argsort(-cnt, kind="stable")][:KICK_CANDIDATES]
        b = int(top[rng.integers(top.shape[0])])
        taken[b] = True
        pairs.append((a, b))
    st.charge(work.ARC_PASS * looked, "kick")
    return pairs


def _site_kick(st: _Search, lf: NDArray[np.float64]) -> Callable[[], bool]:
    """The perturbation of an iterated local search over site sets, for the neighbourhood
    search's ``kick`` (:func:`~solver.location.exact.reduced_lns`): on the size-reduced
    problem, close a local group of open sites and open a nearby closed site for each
    (:func:`_kick_pairs`, :func:`~solver.location.reopen.force_moves`: kept even when it
    costs), then descend by site moves that may not reopen the sites the kick closed (a tabu:
    without it the moves undid the kick — on ali535 with p = 150 and rl1304 with p = 300 the
    descents of 10 kicks ended within 0.09 % of the incumbent, none below) and the open-site
    assignment MIP, on a copy of the state; the incumbent takes the result only if better.
    The group holds as many open sites as the first neighbourhood level frees
    (:func:`~solver.location.exact.level_scale`, at least two: a lone close–open is what the
    site moves try anyway). True when it improved the incumbent."""
    rng = np.random.default_rng(st.seed + 1)

    def run() -> bool:
        if st.assign is None or st.open_mask is None or st.left() < 1.0:
            return False
        start, spent_before = st.objective, st.clock.spent
        k = max(2, level_scale(st.inst.n, int(np.count_nonzero(st.open_mask))))
        sub = _reduced_state(st, lf)
        assert sub.assign is not None and sub.open_mask is not None
        pairs = _kick_pairs(sub, rng, k)
        if not pairs:
            return False
        assign, open_mask, spent = force_moves(sub.inst, sub.assign, sub.open_mask, pairs)
        st.charge(spent, "kick")
        status = sub.inst.status.copy()
        status[[a for a, _ in pairs]] = -1  # the tabu: the kicked sites stay closed
        assign, open_mask = improve_on_clock(
            replace(sub.inst, status=status),
            assign,
            open_mask,
            st.clock,
            SITE_MOVES_SHARE * st.left(),
        )
        cur = replace(st, assign=None, open_mask=None, objective=math.inf, progress=None)
        if not cur.offer(assign, open_mask, "kick"):
            return False
        _open_site_assignment(cur, lf, ASSIGN_SHARE * st.left())
        assert cur.assign is not None and cur.open_mask is not None
        better = st.offer(cur.assign, cur.open_mask, "kick")
        st.stats["kicks"] = st.stats.get("kicks", 0.0) + 1
        st.stats["kicks_kept"] = st.stats.get("kicks_kept", 0.0) + better
        # how far above the incumbent the kick's descent ended (% of the incumbent)
        pct = 100.0 * (cur.objective - start) / max(1e-9, abs(start))
        st.stats["kick_excess_sum"] = st.stats.get("kick_excess_sum", 0.0) + pct
        st.stats["kick_excess_min"] = min(st.stats.get("kick_excess_min", math.inf), pct)
        # the work of the kicks with their descents (to weigh them against the LNS's)
        st.stats["kick_work"] = st.stats.get("kick_work", 0.0) + st.clock.spent - spent_before
        return better

    return run


def _sub_functions(
    cur: _Search,
) -> tuple[MakeSub, Apply]:
    """Neighbourhood builder and applier bound to one search state (for location_exact)."""

    def make_sub(clients: I64, sites: I64, arcs: I64) -> SubProblem:
        return _subproblem(cur, clients, sites, arcs)

    def apply(sub: SubProblem, res: SubResult, phase: str) -> bool:
        return _apply(cur, sub, res, phase)

    return make_sub, apply


def _merge_elites(st: _Search, lf: NDArray[np.float64], elite_sites: list[B]) -> None:
    """Whole-problem MIP over the union of the elite site sets (solution merging).

    Good local optima share most sites and differ in a few; the best plan over their union
    often combines the right choice from each, and the union is small enough for SCIP.
    """
    inst = st.inst
    if st.assign is None or st.open_mask is None or st.left() < 0.5:
        return
    union = st.open_mask.copy()
    for om in elite_sites:
        union |= om
    keep = surviving_arcs(st, lf)
    arcs = np.flatnonzero(keep & union[inst.site]).astype(np.int64)
    st.stats["merge_sites"] = float(np.count_nonzero(union))
    # not every surviving arc (complete=False): a heuristic, no bound claim
    solve_on_arcs(
        st,
        lf,
        keep,
        arcs,
        False,
        *_sub_functions(st),
        work_limit=0.5 * st.left(),
        phase="merge",
        whole=False,  # the elites' sites only: few open/close decisions
    )


def _pmedian_starts(st: _Search, on: Instance) -> None:
    """Capacity-ignoring p-median interchange from the incumbent's sites on the arcs of
    ``on`` (the instance or a size-reduced one), then flow + repair on all arcs."""
    inst = st.inst
    if st.open_mask is None or st.left() < 1.0:
        return
    t = time.perf_counter()
    # whole districts: the interchange runs to its end (the cap is only a safety)
    share = PMEDIAN_SHARE if _district(inst) else 0.15
    stop_at = st.left() * (1.0 - share)
    rounds = 0

    def pmedian_round() -> bool:
        nonlocal rounds
        rounds += 1
        st.charge(work.PMEDIAN_PER_ARC * on.k, "pmedian")
        return st.left() > stop_at

    free_pairs = PMEDIAN_FREE_PAIRS if _district(inst) else 1
    sites = pmedian_search(on, st.open_mask, keep_going=pmedian_round, free_pairs=free_pairs)
    st.stats["pmedian_rounds"] = float(rounds)
    plan = st.plan(sites, "pmedian")
    if plan is not None:
        st.offer(plan, sites, "pmedian")
        st.pool[sites.tobytes()] = evaluate(inst, plan, sites).objective
    st.stats["seconds_pmedian"] = time.perf_counter() - t


def _spread_start(inst: Instance, n_open: int, rng: np.random.Generator) -> B:
    """A random site set spread over the clients (k-means++ seeding on the arcs).

    Starts from the required sites; each further site is the cheapest usable site of a client
    drawn with probability ∝ demand × (cost to its nearest chosen site)², so the sets cover the
    map the way good plans do, yet differ with each draw of ``rng``.
    """
    sel = inst.required.copy()
    near = np.full(inst.n, np.inf)
    ok = inst.usable[inst.site]
    big = float(inst.cost.max(initial=1.0)) * 2.0  # stands in for "no chosen site in reach"

    def add(j: int) -> None:
        sel[j] = True
        a = np.flatnonzero(inst.site == j)
        np.minimum.at(near, inst.cli[a], inst.cost[a])

    for j in np.flatnonzero(sel).tolist():
        add(int(j))
    while int(sel.sum()) < n_open:
        free = ok & ~sel[inst.site]
        if not np.any(free):
            break
        reach = np.bincount(inst.cli[free], minlength=inst.n) > 0
        w = inst.demand * np.minimum(near, big) ** 2 * reach
        total = float(w.sum())
        if total > 0:
            i = int(rng.choice(inst.n, p=w / total))
        else:
            i = int(rng.choice(np.flatnonzero(reach)))
        a = np.arange(inst.ptr[i], inst.ptr[i + 1])
        a = a[free[a]]
        add(int(inst.site[a[np.argmin(inst.cost[a])]]))
    return sel


def _arcs_per_site_set(inst: Instance) -> float:
    """Arcs of a typical full site set (p_max sites' share of the arcs): the size of one flow."""
    return inst.k * max(inst.p_max, 1) / max(int(inst.usable.sum()), 1)


def _site_search(
    st: _Search,
    share: float = 0.6,
    starts: int = 3,
    patience: int = 40,
    spread_starts: int = 0,
    exact_top: int = 3,
    polish: float = 0.0,
    neighbour_sets: int = NEIGHBOUR_SETS,
) -> list[tuple[float, I32, B]]:
    """Iterated local search on site sets.

    Swap local search (min-cost-flow proxy) from the best distinct Lagrangian sets and from
    ``spread_starts`` random spread-out sets (:func:`_spread_start`; tight capacities leave
    good plans in basins several swaps apart, which kicks from one set rarely reach), then
    kicks of 1–3 random neighbour swaps from the best set found, each followed by the swap
    search; stops after ``patience`` kicks without improvement or at ``share`` of the
    remaining time. The last ``polish`` part of that time re-runs the swap search from the best
    sets found, scoring swaps by the single-source plan's objective instead (twice the work
    per swap; under tight capacities the flow proxy prefers sets whose single-source plans
    are worse). The best ``exact_top`` sets then get an exact single-source assignment
    (``neighbour_sets``: the best flow sets' best single swaps too, where swap bounds are
    kept); returns those plans (objective, assignment, sites), best first: elite starts for
    the LNS.
    """
    inst = st.inst
    per_set = _arcs_per_site_set(inst)
    if per_set > SITE_SEARCH_ARCS or st.open_mask is None:
        return []
    st.charge(work.ARC_PASS * inst.k, "site_search")
    near = site_neighbours(inst)
    # Swap bounds skip the swaps that cannot improve: many more descents where the multi-start
    # is the main search (pmedcap1: 52 of 60 runs at the optimum against 47 of 60 without).
    # Where the SCIP neighbourhood search leads (more arcs) they only change which elites it
    # starts from; SJC4a ended 0.6-2.0 % above the optimum in 4 runs with them and 0, 0 and
    # 1.9 % in 3 without (SCIP then stopped on wall time, so it varied), so they stay off there.
    by_site: SiteArcs | None = None
    if inst.k <= MULTISTART_ARCS:
        st.charge(work.ARC_PASS * inst.k, "site_search")
        by_site = site_arcs(inst)
    rng = np.random.default_rng(st.seed)
    ranked = sorted(st.pool.items(), key=lambda kv: kv[1])
    cands = [st.open_mask.copy()] + [
        np.frombuffer(k, dtype=np.bool_).copy() for k, _ in ranked[:starts]
    ]
    seen: set[bytes] = set()
    total = st.left()
    stop_at = total * (1.0 - share * (1.0 - polish))  # end of the flow-scored stage

    def go() -> bool:
        return st.left() > stop_at

    def flow_evaluated() -> None:
        st.charge(work.FLOW_PER_ARC * per_set, "site_search")

    def swaps_bounded() -> None:
        st.charge(work.SWAP_BOUND_PER_ARC * per_set, "site_search")

    def plan_objective(sites: B) -> float:
        st.charge((work.PLAN_PER_ARC - work.FLOW_PER_ARC) * (inst.n + per_set), "site_search")
        plan = _plan_for_sites(inst, sites)
        return math.inf if plan is None else evaluate(inst, plan, sites).objective

    def descend(start: B, active: B | None = None, by_plan: bool = False) -> bool:
        """Swap search from ``start``; False if it ended in a set seen before."""
        flow_evaluated()
        sites, value = site_swap_search(
            inst,
            start,
            near,
            rng,
            keep_going=go,
            active=active,
            on_eval=flow_evaluated,
            cost=plan_objective if by_plan else None,
            first_improvement=spread_starts > 0,
            prune=by_site,
            on_bound=swaps_bounded,
        )
        key = sites.tobytes()
        if not by_plan:
            flows[key] = value
        if key in seen:
            return False
        seen.add(key)
        plan = st.plan(sites, "site_search")
        if plan is not None:
            st.offer(plan, sites, "site_search")
            tops[key] = (evaluate(inst, plan, sites).objective, plan)
        return True

    tops: dict[bytes, tuple[float, I32]] = {}
    flows: dict[bytes, float] = {}  # flow cost of every set a flow-scored descent ended in
    for start in cands:
        if go():
            descend(start)
    n_open = int(np.count_nonzero(st.open_mask))
    repeats = 0  # small instances have few local optima: stop once starts keep repeating
    for _ in range(spread_starts):
        if not go() or repeats >= SPREAD_REPEATS or st.objective <= st.bound:
            break
        repeats = 0 if descend(_spread_start(inst, n_open, rng)) else repeats + 1
    stop_at = total * (1.0 - share)
    if polish > 0:
        for key, _ in sorted(tops.items(), key=lambda kv: kv[1][0])[:POLISH_TOP]:
            if not go():
                break
            descend(np.frombuffer(key, dtype=np.bool_).copy(), by_plan=True)
    kicks = stale = 0
    movable = inst.status == 0
    while go() and stale < patience:
        assert st.open_mask is not None
        cur = st.open_mask.copy()
        active = np.zeros(inst.m, dtype=np.bool_)
        for _ in range(int(rng.integers(1, 4))):
            opened = np.flatnonzero(cur & movable)
            if opened.shape[0] == 0:
                break
            j = int(opened[rng.integers(opened.shape[0])])
            nb = [int(k) for k in near[j] if not cur[k] and inst.usable[k]]
            if not nb:
                continue
            k = nb[int(rng.integers(len(nb)))]
            cur[j], cur[k] = False, True
            active[near[j]] = True
            active[near[k]] = True
            active[k] = True
        before = st.objective
        descend(cur, active)
        kicks += 1
        stale = 0 if st.objective < before else stale + 1
    st.stats["site_search_kicks"] = float(kicks)
    # exact single-source assignment for the best few site sets
    elites: list[tuple[float, I32, B]] = []
    for set_key, (obj, found) in sorted(tops.items(), key=lambda kv: kv[1][0])[:exact_top]:
        sites = np.frombuffer(set_key, dtype=np.bool_).copy()
        if st.left() >= 0.5:
            exact = _gap_exact(st, sites)
            if exact is not None and exact[0] < obj:
                obj, found = exact
        elites.append((obj, found, sites))
    elites.sort(key=lambda e: e[0])
    if by_site is not None:
        # The flow proxy can rank the optimal set just below its best sets (pmedcap1_14, _15,
        # _20: the optimum is one swap from the best flow set and not a flow local optimum).
        exact_done = {e[2].tobytes() for e in elites}
        best_flow = sorted(flows.items(), key=lambda kv: kv[1])[:neighbour_sets]
        for key, _ in best_flow:
            base = np.frombuffer(key, dtype=np.bool_).copy()
            for sites in _best_swaps(st, base, by_site, NEIGHBOUR_TOP, flow_evaluated):
                if st.left() < 0.5:
                    break
                if sites.tobytes() in exact_done:
                    continue
                exact_done.add(sites.tobytes())
                exact = _gap_exact(st, sites)
                if exact is not None:
                    elites.append((exact[0], exact[1], sites))
    return sorted(elites, key=lambda e: e[0])


def _best_swaps(
    st: _Search, base: B, by_site: SiteArcs, count: int, on_flow: Callable[[], None]
) -> list[B]:
    """The ``count`` sets one swap from ``base`` (any open candidate for any closed usable
    site) with the lowest transportation cost: ranked by :class:`SwapBounds`, then the
    ``3 × count`` best bounds evaluated exactly."""
    inst = st.inst
    priced = flow_prices(inst, base, inst.cap)
    on_flow()
    if priced is None:
        return []
    bounds = SwapBounds(inst, base, priced[1], by_site)
    closed = np.flatnonzero(~base & inst.usable).astype(np.int64)
    movable = np.flatnonzero(base & (inst.status == 0))
    if closed.shape[0] == 0 or movable.shape[0] == 0:
        return []
    per_set = _arcs_per_site_set(inst)
    st.charge(work.SWAP_BOUND_PER_ARC * per_set * movable.shape[0], "site_search")
    lb = np.concatenate([bounds.bounds(int(j), closed) for j in movable])
    pairs = np.argsort(lb, kind="stable")[: 3 * count]
    scored: list[tuple[float, int, B]] = []
    for idx in pairs:
        if not np.isfinite(lb[idx]):
            break
        sites = base.copy()
        sites[movable[idx // closed.shape[0]]] = False
        sites[closed[idx % closed.shape[0]]] = True
        cost = flow_cost(inst, sites, inst.cap)
        on_flow()
        scored.append((cost, int(idx), sites))
    scored.sort(key=lambda e: (e[0], e[1]))
    return [sites for cost, _, sites in scored[:count] if np.isfinite(cost)]


def _gap_exact(st: _Search, open_mask: B) -> tuple[float, I32] | None:
    """Solve the assignment for a fixed site set exactly (SCIP), warm-started by the heuristic;
    offers the plan and returns it with its objective (None if SCIP found none)."""
    inst = st.inst
    arcs = np.flatnonzero(open_mask[inst.site])
    if arcs.shape[0] > 30_000 or st.assign is None:
        return None
    hint = st.plan(open_mask, "gap_exact")
    sites = np.flatnonzero(open_mask).astype(np.int64)
    n_open = sites.shape[0]
    budget = inst.units_total if inst.unit > 0 and inst.units_total < BIG_UNITS else BIG_UNITS
    sub = SubProblem(np.arange(inst.n, dtype=np.int64), sites, arcs, n_open, n_open, budget, {})
    res = run_mip(
        st,
        sub,
        work_limit=min(st.left() - 0.3, 0.25 * st.left()),
        node_limit=20_000,
        seed=st.seed,
        phase="gap_exact",
        hint=(hint, open_mask),
        root_iterations=work.MIP_FIXED_ROOT_ITERATIONS,
        # hinted by the heuristic plan: SCIP's LP dives look for a plan that is there, beyond
        # the call's count (a 120k-resident district's fixed-site root: 48,907 LP iterations,
        # 45.7 units, with 5.7 left)
        lp_dives=False,
    )
    if res is None:
        return None
    assign = res.site_of_client.copy()
    st.offer(assign, open_mask.copy(), "gap_exact")
    return evaluate(inst, assign, open_mask).objective, assign


def _rescue(st: _Search) -> None:
    """No plan yet: the largest sites open, then the trivial plan, then the exact MIP.

    The trivial plan leaves every client unserved (all must have a finite unserved cost) and
    opens the required sites, plus the cheapest-indexed usable ones up to ``p_min``: it always
    exists when :func:`_proven_infeasible` found nothing, so such instances always get a plan.
    Otherwise a MIP over every arc and every usable site decides: INFEASIBLE from it is a
    proof (``st.proof``); a MIP that does not finish proves nothing (``st.note`` says why).
    """
    inst = st.inst
    # sites that some client can use first, then by capacity
    demand_in_reach = np.bincount(inst.site, weights=inst.demand[inst.cli], minlength=inst.m)
    cap_rank = np.lexsort((-inst.cap, demand_in_reach <= 0))
    open_mask = inst.required.copy()
    for j in cap_rank:
        if int(open_mask.sum()) >= inst.p_max:
            break
        if inst.usable[j]:
            open_mask[j] = True
    plan = st.plan(open_mask, "rescue")
    if plan is not None and st.offer(plan, open_mask, "rescue"):
        return
    if np.all(np.isfinite(inst.unserved)) and int(inst.required.sum()) <= inst.p_max:
        trivial = inst.required.copy()
        extra = np.flatnonzero(inst.usable & ~trivial)[: max(0, inst.p_min - int(trivial.sum()))]
        trivial[extra] = True
        if st.offer(np.full(inst.n, -1, dtype=np.int32), trivial, "rescue"):
            return
    _proof_mip(st)


def _proof_mip(st: _Search) -> None:
    """The whole problem over all arcs and all usable sites as one SCIP MIP (no reduction).

    A solution becomes the incumbent; a proof of infeasibility is recorded in ``st.proof``.
    """
    inst = st.inst
    arcs = np.arange(inst.k, dtype=np.int64)
    if arcs.shape[0] > MAX_PROOF_ARCS:
        st.note = f"the whole-problem MIP ({inst.k} arcs) is too large to run"
        return
    sites = np.flatnonzero(inst.usable).astype(np.int64)
    clients = np.arange(inst.n, dtype=np.int64)
    sub = SubProblem(clients, sites, arcs, inst.p_min, inst.p_max, inst.units_total, {})
    proven: list[bool] = []
    res = run_mip(
        st,
        sub,
        work_limit=PROOF_SHARE * st.left(),
        node_limit=1_000_000,
        seed=st.seed,
        phase="proof_mip",
        hint=(None, None),
        root_iterations=work.MIP_WHOLE_ROOT_ITERATIONS,
        on_infeasible=lambda: proven.append(True),
    )
    if proven:
        st.proof = (
            "no plan satisfies demand, capacities and the open-site and table limits together "
            f"(the whole problem over all {inst.k} arcs is an infeasible MIP)"
        )
        return
    if res is None:
        st.note = "the whole-problem MIP over all arcs ended without a plan or a proof"
        return
    open_mask = np.zeros(inst.m, dtype=np.bool_)
    open_mask[sites] = res.open_sites
    st.offer(res.site_of_client.copy(), open_mask, "proof_mip")


def _global_counts(st: _Search) -> tuple[int, int]:
    assert st.assign is not None and st.open_mask is not None
    ev = evaluate(st.inst, st.assign, st.open_mask)
    return ev.n_open, int(ev.units.sum())


def _subproblem(st: _Search, clients: I64, sites: I64, arcs: I64) -> SubProblem:
    """Local limits for a neighbourhood from the incumbent's global slack."""
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    ev = evaluate(inst, st.assign, st.open_mask)
    open_in = int(st.open_mask[sites].sum())
    units_in = int(ev.units[sites].sum())
    if inst.unit > 0 and inst.units_total < BIG_UNITS:
        budget = units_in + (inst.units_total - int(ev.units.sum()))
    else:
        budget = BIG_UNITS
    outside: dict[int, int] = {}
    if inst.group is not None and inst.lam > 0:
        in_c = np.zeros(inst.n, dtype=np.bool_)
        in_c[clients] = True
        groups = np.unique(inst.group[clients])
        mem = np.isin(inst.group, groups) & ~in_c & (st.assign >= 0)
        pairs = np.unique(inst.group[mem].astype(np.int64) * inst.m + st.assign[mem])
        gs, cnt = np.unique(pairs // inst.m, return_counts=True)
        outside = {int(g): int(c) for g, c in zip(gs, cnt, strict=True)}
    return SubProblem(
        clients=clients,
        sites=sites,
        arcs=arcs,
        count_lo=open_in - (ev.n_open - inst.p_min),
        count_hi=open_in + (inst.p_max - ev.n_open),
        units_budget=budget,
        group_outside=outside,
    )


def _apply(st: _Search, sub: SubProblem, res: SubResult, phase: str) -> bool:
    assert st.assign is not None and st.open_mask is not None
    assign = st.assign.copy()
    assign[sub.clients] = res.site_of_client
    open_mask = st.open_mask.copy()
    open_mask[sub.sites] = res.open_sites
    return st.offer(assign, open_mask, phase)


def _global_mip(st: _Search, lf: NDArray[np.float64], share: float = 1.0) -> None:
    """Whole problem on arcs not excluded by the Lagrangian; its bound is valid for all arcs."""
    inst = st.inst
    if math.isfinite(st.objective):
        keep = lf < st.objective - 1e-9 * max(1.0, abs(st.objective))
    else:
        keep = np.ones(inst.k, dtype=np.bool_)
    if st.assign is not None:
        served = np.flatnonzero(st.assign >= 0)
        keep[inst.arc_index(served, st.assign[served])] = True
    arcs = np.flatnonzero(keep)
    st.stats["global_mip_arcs"] = float(arcs.shape[0])
    if arcs.shape[0] > 40_000:
        return
    clients = np.arange(inst.n, dtype=np.int64)
    has = np.zeros(inst.m, dtype=np.bool_)
    has[inst.site[arcs]] = True
    sites = np.flatnonzero(inst.usable & (has | inst.required)).astype(np.int64)
    if st.assign is not None:
        sub = _subproblem(st, clients, sites, arcs)
    else:
        sub = SubProblem(clients, sites, arcs, inst.p_min, inst.p_max, inst.units_total, {})
    t = time.perf_counter()
    res = run_mip(
        st,
        sub,
        work_limit=share * (st.left() - 0.5),
        node_limit=1_000_000,
        seed=st.seed,
        phase="global_mip",
        root_iterations=work.MIP_WHOLE_ROOT_ITERATIONS,
        # from the incumbent, no LP dives; without one (the rescue) they look for a plan
        lp_dives=st.assign is None or st.open_mask is None,
    )
    st.stats["seconds_global_mip"] = time.perf_counter() - t
    if res is None:
        return
    if st.assign is None:
        assign = res.site_of_client.copy()
        open_mask = np.zeros(inst.m, dtype=np.bool_)
        open_mask[sites] = res.open_sites
        st.offer(assign, open_mask, "global_mip")
    else:
        _apply(st, sub, res, "global_mip")
    excluded = lf[~keep]
    out_min = float(excluded.min()) if excluded.shape[0] else math.inf
    # Without grids the MIP bound holds for every plan on the kept arcs.
    st.bound = max(st.bound, min(res.bound, out_min))
    st.stats["global_mip_bound"] = res.bound


def _lns(st: _Search, salt: int = 0) -> None:
    """Neighbourhood MIPs around each open site, growing the neighbourhood when stuck
    (``salt``: another random order and CP-SAT seeds, for a further run on the same plan)."""
    rng = np.random.default_rng(st.seed + salt)
    solved: set[bytes] = set()
    n_open = int(np.count_nonzero(st.open_mask)) if st.open_mask is not None else 0
    w_max = max(2, min(8, n_open))
    w = min(3, w_max)
    iters = 0
    while st.left() > 0.5:
        assert st.assign is not None and st.open_mask is not None
        seeds = _lns_order(st, rng)
        improved = False
        for s in seeds:
            if st.left() <= 0.5:
                break
            assert st.assign is not None and st.open_mask is not None
            if not st.open_mask[s]:
                continue
            sub = _neighbourhood(st, int(s), w)
            if sub is None:
                continue
            key = signature(sub, st.assign, st.open_mask)
            if key in solved:
                continue
            iters += 1
            work_limit = min(LNS_WORK, max(0.01, (st.left() - 0.5) / work.CPSAT_PER_DTIME))
            res, dtime = _cpsat(st, sub, work_limit, st.seed + salt + iters, "lns")
            if dtime is None:
                break
            if res is None:
                continue
            if _apply(st, sub, res, "lns"):
                improved = True
            elif res.optimal:
                solved.add(key)
        if not improved:
            if w >= w_max:
                break
            w += 1
    if salt:  # a further run (:func:`_rest_to_neighbourhoods`): the first run's figures stay
        st.stats["rest_lns_subproblems"] = st.stats.get("rest_lns_subproblems", 0.0) + iters
        return
    st.stats["lns_subproblems"] = float(iters)
    st.stats["lns_final_width"] = float(w)


def _lns_order(st: _Search, rng: np.random.Generator) -> I64:
    """Open sites, most promising neighbourhoods first.

    Score = the walking its clients do beyond their cheapest arc plus λ for every split grid
    it serves: where the plan departs most from what each building would like. Ties (and
    sites with nothing to gain) keep a seeded random order.
    """
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    seeds = np.flatnonzero(st.open_mask)
    seeds = seeds[rng.permutation(seeds.shape[0])]
    served = np.flatnonzero(st.assign >= 0)
    if served.shape[0] == 0:
        return seeds
    sites = st.assign[served].astype(np.int64)
    excess = inst.cost[inst.arc_index(served, sites)] - inst.cost[inst.ptr[served]]
    score: NDArray[np.float64] = np.bincount(sites, weights=excess, minlength=inst.m).astype(
        np.float64
    )
    if inst.group is not None and inst.lam > 0:
        pairs = np.unique(inst.group[served].astype(np.int64) * inst.m + sites)
        n_sites = np.bincount(pairs // inst.m, minlength=inst.n_groups)
        split = n_sites[pairs // inst.m] > 1
        score += inst.lam * np.bincount(pairs[split] % inst.m, minlength=inst.m)
    return seeds[np.argsort(-score[seeds], kind="stable")]


def _neighbourhood(st: _Search, seed_site: int, w: int) -> SubProblem | None:
    """Seed site + the w−1 open sites sharing most arcs with its clients + nearby closed sites."""
    inst = st.inst
    assert st.assign is not None and st.open_mask is not None
    cs = np.flatnonzero(st.assign == seed_site).astype(np.int64)
    a = inst.arcs_of(cs)
    other = inst.site[a]
    open_o = other[st.open_mask[other] & (other != seed_site)]
    if open_o.shape[0]:
        ids, cnt = np.unique(open_o, return_counts=True)
        near = ids[np.argsort(-cnt, kind="stable")][: w - 1]
    else:
        near = np.zeros(0, dtype=np.int64)
    n_open = np.r_[seed_site, near].astype(np.int64)
    in_n = np.zeros(inst.m, dtype=np.bool_)
    in_n[n_open] = True
    clients = np.flatnonzero(in_n[np.maximum(st.assign, 0)] & (st.assign >= 0)).astype(np.int64)
    uns = np.flatnonzero(st.assign < 0)
    if uns.shape[0]:
        ua = inst.arcs_of(uns.astype(np.int64))
        touch = np.unique(inst.cli[ua[in_n[inst.site[ua]]]]).astype(np.int64)
        clients = np.union1d(clients, touch)
    if clients.shape[0] == 0:
        return None
    ca = inst.arcs_of(clients)
    # closed candidates: sites among clients' cheapest arcs, ranked by how many clients see them
    rank = ca - inst.ptr[inst.cli[ca]]
    cheap = ca[rank < 12]
    cand = inst.site[cheap]
    cand = cand[~in_n[cand] & inst.usable[cand] & ~st.open_mask[cand]]
    if cand.shape[0]:
        ids, cnt = np.unique(cand, return_counts=True)
        max_closed = max(2 * w, 6)
        extra = ids[np.argsort(-cnt, kind="stable")][:max_closed]
        in_n[extra] = True
    sites = np.flatnonzero(in_n).astype(np.int64)
    arcs = ca[in_n[inst.site[ca]]]
    return _subproblem(st, clients, sites, arcs)
