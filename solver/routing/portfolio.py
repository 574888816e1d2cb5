"""The engine portfolio: run routing engines (here and in worker processes), keep the best.

Every candidate is verified by the independent checker (:mod:`solver.routing.check`); the
feasible one with the lowest objective wins (ties: portfolio order, never the order in which
the runs finished), so with every run complete the choice repeats exactly. Worker processes
come from :func:`make_pool` and die with their parent. Used by :func:`solver.routing.solve` and
by the regional decomposition (:mod:`solver.routing.decompose`).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from solver.routing.check import check_routes
from solver.routing.engine_ortools import solve_ortools
from solver.routing.engine_pyvrp import solve_pyvrp
from solver.routing.problem import (
    RoutingProblem,
)
from solver.routing.result import EngineRun

__all__ = ["EngineFn", "PortfolioRun", "Routes", "make_pool", "run_engine", "solve_portfolio"]

Routes = list[list[int]]
EngineFn = Callable[[RoutingProblem, float, int, int | None], EngineRun]

_ENGINES: dict[str, EngineFn] = {"pyvrp": solve_pyvrp, "ortools": solve_ortools}


def run_engine(
    name: str,
    problem: RoutingProblem,
    seconds: float,
    seed: int,
    iters: int | None,
    deadline: float | None = None,
) -> EngineRun:
    """Run one engine by name for ``iters`` iterations, at most ``seconds`` and at most until
    the wall-clock ``deadline`` if given (both only safety stops).

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


@dataclass(frozen=True)
class PortfolioRun:
    """The best checked routes of a portfolio, its label, every candidate's score, and whether
    every engine ran its whole iteration budget (``complete``)."""

    routes: Routes | None
    label: str
    seen: tuple[tuple[str, int | None], ...]
    complete: bool


def solve_portfolio(
    problem: RoutingProblem,
    deadline: float,
    seed: int,
    configs: Sequence[tuple[str, int]],
    max_iterations: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> PortfolioRun:
    """Run the configs (first here, the rest in ``pool``) and keep the best checked one."""
    futures: list[Future[EngineRun]] = []
    if pool is not None:
        futures = [
            pool.submit(run_engine, name, problem, math.inf, seed + off, max_iterations, deadline)
            for name, off in configs[1:]
        ]
        local = configs[:1]
    else:
        local = configs
    outs: list[EngineRun] = []
    for name, off in local:
        outs.append(run_engine(name, problem, math.inf, seed + off, max_iterations, deadline))
    outs.extend(f.result() for f in futures)  # submission order, not completion order
    order = list(local) + list(configs[1:]) if pool is not None else list(local)
    best: Routes | None = None
    best_name = "none"
    best_score: int | None = None
    seen: list[tuple[str, int | None]] = []
    for (name, off), run in zip(order, outs, strict=True):
        score = None if run.routes is None else _score(problem, run.routes)
        label = f"{name}:{seed + off}"
        seen.append((label, score))
        if score is not None and (best_score is None or score < best_score):
            best, best_name, best_score = run.routes, label, score
    return PortfolioRun(best, best_name, tuple(seen), all(run.complete for run in outs))
