"""Home-visit routing: public API (`RoutingProblem` in, `solve`, `RoutingResult` out).

Model (VRPTW with optional stops, see :mod:`solver.routing.problem`): households are stops with
a service duration, an optional window on the start of service, a demand (persons) and a drop
penalty; teams are vehicles with their own start and end locations, availability, optional
max stops and capacity. Minimise total distance + penalties of unserved households.

Solving: a *portfolio* of engines behind one interface — PyVRP (iterated local search,
:mod:`solver.routing.engine_pyvrp`) and OR-Tools routing (PARALLEL_CHEAPEST_INSERTION + guided local
search, :mod:`solver.routing.engine_ortools`). Both are single-threaded, so with ``workers=2`` a
second configuration (``portfolio=``) runs in a child process at the same time; every candidate
is verified by the independent checker (:mod:`solver.routing.check`) and the feasible one with
the lowest objective is kept (ties: portfolio order). By default one PyVRP run: a second seed
in parallel doubled the CPU the stage needs, so on a busy machine both runs took twice as long
and the clock, not the budget, ended them; it gained little (on nanjing-xinjiekou and
yuci-street seed 0 won anyway). Large instances are split geographically into
regions solved in parallel (:mod:`solver.routing.decompose`). Unserved households get a reason
decided afterwards by checks (:func:`solver.routing.result.unserved_reasons`).

Determinism: the search effort is an iteration budget, by default fixed by the problem's size
(:mod:`solver.routing.effort`), so the same problem, seed and budget give the same routes on
any machine. The time limit is only a safety stop: when it ends an engine, a region or the
repair before its budget, ``stats.wall_clock_bound`` says so (a rerun may then differ).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from solver.routing.decompose import solve_decomposed
from solver.routing.effort import iteration_budget
from solver.routing.portfolio import make_pool, solve_portfolio
from solver.routing.problem import RoutingProblem
from solver.routing.result import RoutingResult, SolveStats, build_result, servable

__all__ = ["DECOMPOSE_ABOVE", "Engine", "iteration_budget", "solve"]

Engine = Literal["auto", "pyvrp", "ortools"]
#: Portfolio for engine="auto": (engine, seed offset); the first runs in this process.
_PORTFOLIO: tuple[tuple[str, int], ...] = (("pyvrp", 0),)
#: Above this many stops the problem is decomposed into regions.
DECOMPOSE_ABOVE = 700
#: Seconds kept back from the time limit for model building, checks and result assembly.
_MARGIN = 0.15


def solve(
    problem: RoutingProblem,
    *,
    time_limit: float,
    seed: int = 0,
    engine: Engine = "auto",
    workers: int = 2,
    max_iterations: int | None = None,
    decompose: bool | None = None,
    portfolio: Sequence[tuple[str, int]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RoutingResult:
    """Plan routes with an iteration budget, within ``time_limit`` seconds (wall clock,
    includes model building; a safety stop, reported in ``stats.wall_clock_bound``).

    ``max_iterations``: iterations per engine run (per region when decomposed); default the
    size rule of :func:`solver.routing.effort.iteration_budget` (split over the regions).
    ``engine``: "auto" runs the portfolio (by default one PyVRP run; further configurations
    in child processes when ``workers >= 2``); "pyvrp" / "ortools" run one engine here.
    ``portfolio``: override the auto portfolio, e.g. ``(("pyvrp", 0), ("pyvrp", 1))`` for the
    best of two seeds.
    ``decompose``: split into regions (default: when more than ``DECOMPOSE_ABOVE`` stops);
    regions are solved by PyVRP (OR-Tools with ``engine="ortools"``), ``workers`` at a time.
    """
    if time_limit <= 0:
        raise ValueError("time_limit must be positive")
    if max_iterations is not None and max_iterations < 1:
        raise ValueError("max_iterations must be positive")
    t0 = time.perf_counter()
    deadline = time.time() + max(0.05, time_limit - _MARGIN)
    full = problem
    keep = np.flatnonzero(servable(full)).astype(np.int64)
    if keep.size < full.num_stops:  # never servable: leave out of the models, reasons later
        problem = full.subproblem(keep, np.arange(full.num_vehicles, dtype=np.int64))
    big = problem.num_stops > DECOMPOSE_ABOVE if decompose is None else decompose
    if big:
        regional = solve_decomposed(
            problem,
            deadline,
            seed,
            workers,
            max_iterations,
            progress,
            engine="ortools" if engine == "ortools" else "pyvrp",
        )
        routes, label, seen = regional.routes, regional.label, regional.seen
        stats_regions, iterations = regional.regions, regional.iterations
        complete = regional.complete
    else:
        iterations = (
            max_iterations if max_iterations is not None else iteration_budget(problem.num_stops)
        )
        auto = _PORTFOLIO if portfolio is None else tuple(portfolio)
        configs: Sequence[tuple[str, int]] = auto if engine == "auto" else ((engine, 0),)
        if workers < 2 or len(configs) == 1:
            run = solve_portfolio(problem, deadline, seed, configs[:1], iterations)
        else:
            with make_pool(len(configs) - 1) as pool:
                run = solve_portfolio(problem, deadline, seed, configs, iterations, pool)
        routes, label, seen, complete = run.routes, run.label, run.seen, run.complete
        stats_regions = 1
    if routes is not None and keep.size < full.num_stops:
        routes = [[int(keep[s]) for s in r] for r in routes]
    stats = SolveStats(0.0, label, seen, stats_regions, iterations, not complete)
    result = build_result(full, routes, stats)
    return dataclasses.replace(
        result, stats=dataclasses.replace(stats, seconds=time.perf_counter() - t0)
    )
