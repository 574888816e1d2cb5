"""Home-visit routing: public API (`RoutingProblem` in, `solve`, `RoutingResult` out).

Model (VRPTW with optional stops, see :mod:`solver.routing_problem`): households are stops with
a service duration, an optional window on the start of service, a demand (persons) and a drop
penalty; teams are vehicles with their own start and end locations, availability, optional
max stops and capacity. Minimise total distance + penalties of unserved households.

Solving: a *portfolio* of engines behind one interface — PyVRP (iterated local search,
:mod:`solver.routing_pyvrp`) and OR-Tools routing (PARALLEL_CHEAPEST_INSERTION + guided local
search, :mod:`solver.routing_ortools`). Both are single-threaded, so with ``workers=2`` the
second configuration runs in a child process at the same time; every candidate is verified by
the independent checker (:mod:`solver.route_check`) and the feasible one with the lowest
objective is kept (ties: portfolio order). Large instances are split geographically into
regions solved in parallel (:mod:`solver.routing_decompose`). Unserved households get a reason
decided afterwards by checks (:func:`solver.routing_result.unserved_reasons`).

Determinism: under a pure time limit the result depends on how far the search got; pass
``max_iterations`` for bit-for-bit reproducible runs (the time limit stays a hard cap).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Literal

import numpy as np

from solver.route_check import check_routes
from solver.routing_ortools import solve_ortools
from solver.routing_problem import (
    DEFAULT_PENALTY,
    MANDATORY,
    UNLIMITED,
    MatrixTravel,
    PlanarTravel,
    RoutingProblem,
)
from solver.routing_pyvrp import solve_pyvrp
from solver.routing_result import (
    REASON_CAPACITY,
    REASON_REACH,
    REASON_WINDOW,
    RoutingResult,
    SolveStats,
    VehicleRoute,
    build_result,
    servable,
)

__all__ = [
    "DEFAULT_PENALTY",
    "MANDATORY",
    "REASON_CAPACITY",
    "REASON_REACH",
    "REASON_WINDOW",
    "UNLIMITED",
    "MatrixTravel",
    "PlanarTravel",
    "RoutingProblem",
    "RoutingResult",
    "SolveStats",
    "VehicleRoute",
    "solve",
]

Engine = Literal["auto", "pyvrp", "ortools"]
Routes = list[list[int]]
EngineFn = Callable[[RoutingProblem, float, int, int | None], Routes | None]

_ENGINES: dict[str, EngineFn] = {"pyvrp": solve_pyvrp, "ortools": solve_ortools}
#: Portfolio for engine="auto": (engine, seed offset); the first runs in this process.
_PORTFOLIO: tuple[tuple[str, int], ...] = (("pyvrp", 0), ("pyvrp", 1))
#: Above this many stops the problem is decomposed into regions.
DECOMPOSE_ABOVE = 700
#: Seconds kept back from the time limit for model building, checks and result assembly.
_MARGIN = 0.15


def run_engine(
    name: str,
    problem: RoutingProblem,
    seconds: float,
    seed: int,
    iters: int | None,
    deadline: float | None = None,
) -> Routes | None:
    """Run one engine by name for ``seconds``, cut at the wall-clock ``deadline`` if given.

    Module-level so child processes can unpickle it; the deadline (``time.time()`` based) is
    absolute, so time spent starting a child counts against the caller's budget.
    """
    if deadline is not None:
        seconds = min(seconds, deadline - time.time())
    return _ENGINES[name](problem, max(0.05, seconds), seed, iters)


def _context() -> mp.context.BaseContext:
    """Process start method for the engine workers: ``fork`` where available, else ``spawn``.

    ``fork`` starts a worker in milliseconds with the engines already imported and, unlike
    ``spawn``/``forkserver``, does not re-import the caller's ``__main__`` (so scripts without an
    ``if __name__ == "__main__"`` guard work). Workers only run the engines' own code.
    """
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _worker_init(parent_pid: int) -> None:
    """Tie an engine worker to its parent: it dies with it and leaves Ctrl-C to it.

    Linux kills the worker when the parent dies (``PR_SET_PDEATHSIG``), so a ``kill -9`` of
    natplan leaves no orphan blocked on its task queue. SIGINT is ignored here (the terminal
    sends it to the whole process group): the parent decides how to stop and kills workers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError):  # ValueError: not the worker's main thread
        signal.set_wakeup_fd(-1)  # a forked child must not write into the parent's pipe
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool for parallel engine runs; workers die with this process."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )


def _score(problem: RoutingProblem, routes: Sequence[Sequence[int]]) -> int | None:
    """Objective (distance + penalties) if the independent checker accepts the routes."""
    rep = check_routes(problem, routes)
    if not rep.ok:
        return None
    served = [s for r in routes for s in r]
    mask = [True] * problem.num_stops
    for s in served:
        mask[s] = False
    pen = sum(int(x) for x, un in zip(problem.penalty, mask, strict=True) if un and x > 0)
    return rep.total_distance + pen


def solve_portfolio(
    problem: RoutingProblem,
    deadline: float,
    seed: int,
    configs: Sequence[tuple[str, int]],
    max_iterations: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> tuple[Routes | None, str, tuple[tuple[str, int | None], ...]]:
    """Run the configs (first here, the rest in ``pool``) and keep the best checked one."""
    futures: list[Future[Routes | None]] = []
    if pool is not None:
        futures = [
            pool.submit(run_engine, name, problem, math.inf, seed + off, max_iterations, deadline)
            for name, off in configs[1:]
        ]
        local = configs[:1]
    else:
        local = configs
    outs: list[Routes | None] = []
    for name, off in local:
        outs.append(run_engine(name, problem, math.inf, seed + off, max_iterations, deadline))
    outs.extend(f.result() for f in futures)
    order = list(local) + list(configs[1:]) if pool is not None else list(local)
    best: Routes | None = None
    best_name = "none"
    best_score: int | None = None
    seen: list[tuple[str, int | None]] = []
    for (name, off), routes in zip(order, outs, strict=True):
        score = None if routes is None else _score(problem, routes)
        label = f"{name}:{seed + off}"
        seen.append((label, score))
        if score is not None and (best_score is None or score < best_score):
            best, best_name, best_score = routes, label, score
    return best, best_name, tuple(seen)


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
    """Plan routes within ``time_limit`` seconds (wall clock, includes model building).

    ``engine``: "auto" runs the portfolio (PyVRP, plus a second PyVRP seed in a child process
    when ``workers >= 2``); "pyvrp" / "ortools" run one engine in this process.
    ``portfolio``: override the auto portfolio, e.g. ``(("pyvrp", 0), ("ortools", 0))``.
    ``decompose``: split into regions (default: when more than ``DECOMPOSE_ABOVE`` stops);
    regions are solved by PyVRP (OR-Tools with ``engine="ortools"``), ``workers`` at a time.
    """
    if time_limit <= 0:
        raise ValueError("time_limit must be positive")
    t0 = time.perf_counter()
    deadline = time.time() + max(0.05, time_limit - _MARGIN)
    full = problem
    keep = np.flatnonzero(servable(full)).astype(np.int64)
    if keep.size < full.num_stops:  # never servable: leave out of the models, reasons later
        problem = full.subproblem(keep, np.arange(full.num_vehicles, dtype=np.int64))
    big = problem.num_stops > DECOMPOSE_ABOVE if decompose is None else decompose
    if big:
        from solver.routing_decompose import solve_decomposed

        routes, label, seen, regions = solve_decomposed(
            problem,
            deadline,
            seed,
            workers,
            max_iterations,
            progress,
            engine="ortools" if engine == "ortools" else "pyvrp",
        )
        stats_regions = regions
    else:
        auto = _PORTFOLIO if portfolio is None else tuple(portfolio)
        configs: Sequence[tuple[str, int]] = auto if engine == "auto" else ((engine, 0),)
        if workers < 2 or len(configs) == 1:
            routes, label, seen = solve_portfolio(
                problem, deadline, seed, configs[:1], max_iterations
            )
        else:
            with make_pool(len(configs) - 1) as pool:
                routes, label, seen = solve_portfolio(
                    problem, deadline, seed, configs, max_iterations, pool
                )
        stats_regions = 1
    if routes is not None and keep.size < full.num_stops:
        routes = [[int(keep[s]) for s in r] for r in routes]
    result = build_result(full, routes, SolveStats(0.0, label, seen, stats_regions))
    stats = SolveStats(time.perf_counter() - t0, label, seen, stats_regions)
    return dataclasses.replace(result, stats=stats)
