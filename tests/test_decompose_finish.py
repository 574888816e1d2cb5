"""The decomposition's last bound steps and its region plans' polishing.

* :func:`solver.location.decompose._finish_bound` resumes the engine's multipliers
  (:attr:`~solver.location.problem.LocationResult.multipliers`) with exact site knapsacks:
  its bound never falls below the engine's and never rises above the optimum;
* :func:`solver.location.decompose._polish` never returns a region plan worse than the
  region solve's, and keeps it feasible;
* the bound's work comes out of the region passes only: without a pass, the final rounds get
  the budget first.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import bound, decompose
from solver.location.engine import solve
from solver.location.model import build_instance, evaluate
from solver.location.work import WorkClock
from tests.test_location import brute_force, check_feasible
from tests.test_location_decompose import BUDGET, local_problem


@pytest.fixture
def exact_knapsacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small capacities count as beyond the per-site DP: the bound's exact knapsacks run."""
    monkeypatch.setattr(bound, "DP_MAX_CAPACITY", 5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(1, 2))
@pytest.mark.usefixtures("exact_knapsacks")
def test_finish_bound_rises_from_the_engines_multipliers_and_stays_below_the_optimum(
    seed: int, options: int
) -> None:
    p = local_problem(seed, 7, 4, radius=45.0, options=options)
    opt = brute_force(p)
    first = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0, decompose=False)
    if math.isinf(opt) or first.status not in ("optimal", "feasible"):
        return
    assert first.multipliers is not None
    engine_lag = first.stats["lagrangian_bound"]
    assert first.multipliers.bound == pytest.approx(engine_lag)
    inst = build_instance(p)
    walking = first.objective - first.stats.get("group_penalty", 0.0)
    clock = WorkClock.start(1.0, 600.0)
    lag, steps = decompose._finish_bound(inst, first, walking, clock, 0.5)
    assert steps > 0
    assert lag >= engine_lag
    # a Lagrangian bound ignores the grid penalty: below every plan's walking cost, so below
    # the optimum's objective
    assert lag <= opt + 1e-6 * max(1.0, abs(opt))
    assert clock.spent <= 0.5 + 0.1  # the limit, and at most one step past it


def test_finish_bound_without_multipliers_or_work_keeps_the_engines_bound() -> None:
    p = local_problem(3, 40, 8, options=1)
    first = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0, decompose=False)
    inst = build_instance(p)
    lag = first.stats["lagrangian_bound"]
    clock = WorkClock.start(1.0, 600.0)
    assert decompose._finish_bound(inst, first, first.objective, clock, 0.0) == (lag, 0)
    bare = replace(first, multipliers=None)
    assert decompose._finish_bound(inst, bare, first.objective, clock, 1.0) == (lag, 0)
    assert clock.spent == 0.0


@pytest.mark.parametrize("seed", [2, 9, 17])
def test_polished_region_plan_is_feasible_and_never_worse(seed: int) -> None:
    p = local_problem(seed, 120, 16, options=2)
    inst = build_instance(p)
    clients = np.arange(inst.n, dtype=np.int64)
    sites = np.arange(inst.m, dtype=np.int64)
    sub = decompose.sub_problem(p, inst, clients, sites, None, 0, inst.units_total)
    # a rough plan: the engine's with a tiny budget
    res = solve(sub.problem, time_limit=60.0, work_budget=0.05, seed=seed, decompose=False)
    assert res.status in ("optimal", "feasible")
    whole = decompose._Whole(
        inst,
        WorkClock.start(10.0, 600.0),
        res.site_of_client.astype(np.int64),
        res.open_sites.copy(),
        res.objective,
    )
    assign, opened = decompose._polish(whole, sub, res, 0.5)
    ev = evaluate(build_instance(sub.problem), assign, opened)
    assert ev.feasible
    assert ev.objective <= res.objective + 1e-9 * max(1.0, res.objective)
    assert 0.0 < whole.clock.by_phase["region_polish"] <= 0.5 + 0.1
    # no work: the solve's plan as it is, nothing charged
    same = decompose._polish(whole, sub, res, 0.0)
    assert np.array_equal(same[0], res.site_of_client)
    assert np.array_equal(same[1], res.open_sites)


@pytest.mark.usefixtures("exact_knapsacks")
def test_bound_work_comes_out_of_the_region_passes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    p = local_problem(5, 160, 24, options=2)
    k = build_instance(p).k
    for name, value in (
        ("DECOMPOSE_ARCS", 0),
        ("MIN_REGION_ARCS", 40),
        ("MAX_REGION_ARCS", 40),
        ("LOCAL_ARCS", 40),
        ("MAX_CUT_SHARE", 1.0),
    ):
        monkeypatch.setattr(decompose, name, value)
    with_passes = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    check_feasible(p, with_passes)
    assert with_passes.stats["decompose_whole_pass"] == 1.0
    assert with_passes.stats["decompose_bound_steps"] > 0
    assert with_passes.stats["work_bound"] >= 0.5 * decompose.BOUND_SHARE * BUDGET
    engine_lag = with_passes.stats["engine_lagrangian_bound"]
    assert with_passes.stats["lagrangian_bound"] >= engine_lag
    assert with_passes.lower_bound >= engine_lag
    # no pass fits: the final rounds are given the whole rest; the bound gets what they leave
    monkeypatch.setattr(decompose, "PASS_WORK_PER_ARC", 2 * BUDGET / k)
    no_pass = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    check_feasible(p, no_pass)
    assert no_pass.stats["decompose_whole_pass"] == 0.0
    rounds = no_pass.stats.get("work_reallocate", 0.0) + no_pass.stats.get("work_site_moves", 0.0)
    left_by_rounds = BUDGET - (no_pass.stats["work_seconds"] - no_pass.stats.get("work_bound", 0))
    assert no_pass.stats.get("work_bound", 0.0) <= left_by_rounds + 0.05
    assert rounds > 0


@pytest.mark.usefixtures("exact_knapsacks")
def test_theta_restarts_only_when_the_work_holds_many_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The steps aim at the final plan: θ restarts (at least :data:`RESTART_THETA`) when the
    work holds :data:`RESTART_MIN_STEPS` steps at the engine's cost per step, else resumes."""
    p = local_problem(3, 40, 8, options=1)
    first = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0, decompose=False)
    assert first.multipliers is not None
    inst = build_instance(p)
    small_theta = decompose.RESTART_THETA / 8
    lr = replace(first.multipliers, theta=small_theta)
    per_step = 0.01
    stats = {**first.stats, "lagrangian_integer_iterations": 10.0}
    stats["lagrangian_integer_work"] = 10 * per_step
    engine_run = replace(first, multipliers=lr, stats=stats)
    seen: list[float] = []
    real = bound.exact_steps_until

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(float(kwargs["theta0"]))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(decompose, "exact_steps_until", spy)
    room = decompose.RESTART_MIN_STEPS * per_step
    for limit in (2 * room, room / 2):
        decompose._finish_bound(inst, engine_run, first.objective, WorkClock.start(9, 600), limit)
    assert seen == [decompose.RESTART_THETA, small_theta]
    # without the engine's own exact steps there is no cost to go by: θ resumes
    bare = replace(engine_run, stats={**first.stats, "lagrangian_integer_iterations": 0.0})
    decompose._finish_bound(inst, bare, first.objective, WorkClock.start(9, 600), 2 * room)
    assert seen[-1] == small_theta
