"""The whole district's construction and the work it leaves (:mod:`solver.location.engine`).

A whole district (grids, beyond ``SMALL_ARCS`` arcs; lowered here so that small instances take
that path) runs the p-median interchange with :data:`~solver.location.engine.PMEDIAN_FREE_PAIRS`
free pairs per round (other instances with one), and when its caller improves the plan
further (the decomposition's first plan, ``decompose=False``) refines its bound on
:data:`~solver.location.engine.DISTRICT_REFINE_SHARE` of the work the construction leaves; a
district that owns its final plan keeps the general share.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from solver.location import engine
from solver.location.engine import solve
from solver.location.problem import LocationProblem, LocationResult
from tests.test_location import check_feasible
from tests.test_location_decompose import local_problem

BUDGET = 2.0


def _solve(p: LocationProblem, seed: int, *, decompose: bool) -> LocationResult:
    res = solve(p, time_limit=120.0, work_budget=BUDGET, seed=seed, decompose=decompose)
    assert res.status in ("optimal", "feasible")
    assert not res.stats.get("wall_clock_bound")
    check_feasible(p, res)
    return res


def _by_share(
    seed: int, shares: tuple[float, float], monkeypatch: pytest.MonkeyPatch, *, decompose: bool
) -> tuple[LocationResult, LocationResult]:
    """The same small district taken as a whole district, solved with each refinement share."""
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    p = local_problem(seed, 120, 30, options=2)
    runs = []
    for share in shares:
        monkeypatch.setattr(engine, "DISTRICT_REFINE_SHARE", share)
        runs.append(_solve(p, seed, decompose=decompose))
    return runs[0], runs[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_decompositions_first_plan_refines_its_bound_on_the_district_share(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    low_run, high_run = _by_share(seed, (0.3, 0.6), monkeypatch, decompose=False)
    low, high = low_run.stats, high_run.stats
    # more refinement steps from the same multipliers: the best bound can only rise
    assert high["lagrangian_iterations"] > low["lagrangian_iterations"]
    assert high["lagrangian_bound"] >= low["lagrangian_bound"] - 1e-9
    assert high["work_bound"] > low["work_bound"]
    assert high_run.lower_bound <= high_run.objective + 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_a_district_that_owns_its_plan_keeps_the_general_refinement(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # too small to decompose: solved whole, with its own final step
    a, b = _by_share(seed, (0.3, 0.9), monkeypatch, decompose=True)
    assert "decompose_regions" not in a.stats and "decompose_regions" not in b.stats
    assert a.stats["lagrangian_iterations"] == b.stats["lagrangian_iterations"]
    assert a.objective == b.objective
    assert a.lower_bound == b.lower_bound


@pytest.mark.parametrize("grids", [True, False])
def test_free_pairs_per_round_only_on_whole_districts(
    grids: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    p = local_problem(3, 120, 30, options=2)
    if not grids:
        p = replace(p, group=None, group_split_penalty=0.0)
    seen: list[int] = []
    real = engine.pmedian_search

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(int(kwargs.get("free_pairs", 1)))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "pmedian_search", spy)
    _solve(p, 3, decompose=False)
    assert seen == [engine.PMEDIAN_FREE_PAIRS if grids else 1]
