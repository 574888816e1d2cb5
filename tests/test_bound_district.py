"""The whole-district bound refinement (:func:`solver.location.engine._refine_bound`).

Whole districts (grids, beyond ``SMALL_ARCS`` arcs) refine the bound with deflected steps on
a fixed work allowance and keep only the bound: the plan must not depend on those steps, and
the bound must stay below every plan. ``SMALL_ARCS`` is lowered so that small instances take
the district path.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from solver.location import engine
from solver.location.engine import solve
from solver.location.problem import LocationResult
from tests.test_location import brute_force, check_feasible, random_problem
from tests.test_location_decompose import local_problem

BUDGET = 2.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
@example(seed=4307, n=4, m=2)  # γ = 1: a subgradient exactly against the last direction
def test_district_bound_is_below_the_optimum(seed: int, n: int, m: int) -> None:
    """Solved exactly by enumeration, tiny districts never get a bound above the optimum."""
    p = random_problem(seed, n, m)
    p = replace(p, group=(np.arange(n) // 2).astype(np.int32), group_split_penalty=25.0)
    opt = brute_force(p)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "SMALL_ARCS", 0)
        res = solve(p, time_limit=60.0, work_budget=BUDGET, seed=seed, decompose=False)
    if math.isinf(opt):
        assert res.status in ("infeasible", "no_plan_found")
        return
    assert "lagrangian_first_work" in res.stats  # the district path ran its first pass
    assert res.lower_bound <= opt + 1e-6 * max(1.0, abs(opt))
    assert res.objective >= opt - 1e-6 * max(1.0, abs(opt))  # no plan beats the enumeration


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_plan_does_not_depend_on_the_refinement_steps(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain refinement steps against deflected ones (with the long allowance's θ patience,
    whatever the allowance): the same plan, work and arc bounds; both bounds below the plan."""
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    monkeypatch.setattr(engine, "DEFLECT_MIN_STEPS", 0)
    p = local_problem(seed, 300, 40, options=2)
    assert p.group is not None
    runs: dict[float, LocationResult] = {}
    for gamma in (engine.DISTRICT_DEFLECTION, 0.0):
        monkeypatch.setattr(engine, "DISTRICT_DEFLECTION", gamma)
        runs[gamma] = solve(p, time_limit=120.0, work_budget=BUDGET, seed=seed, decompose=False)
        assert runs[gamma].stats["lagrangian_refine_deflection"] == gamma
    plain, deflected = runs[0.0], runs[max(runs)]
    assert max(runs) > 0.0
    for res in (plain, deflected):
        assert res.status in ("optimal", "feasible")
        assert not res.stats.get("wall_clock_bound")
        check_feasible(p, res)
        assert res.lower_bound <= res.objective + 1e-6 * max(1.0, abs(res.objective))
    assert np.array_equal(plain.site_of_client, deflected.site_of_client)
    assert np.array_equal(plain.open_sites, deflected.open_sites)
    assert plain.objective == deflected.objective
    assert plain.stats["work_seconds"] == pytest.approx(deflected.stats["work_seconds"], rel=1e-12)
    assert plain.stats["arcs_after_reduction"] == deflected.stats["arcs_after_reduction"]
