"""Variable-metric subgradient steps (:func:`solver.location.bound.client_metric`).

The metric only changes which multipliers the steps visit: the bound must stay below every
plan whatever the metric. Whole districts take both bound passes in it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import engine
from solver.location.bound import arc_bounds, client_metric, subgradient
from solver.location.engine import solve
from solver.location.model import build_instance
from tests.test_location import brute_force, check_feasible, random_problem
from tests.test_location_decompose import local_problem


def test_client_metric_is_the_demand() -> None:
    """Weights are the clients' demands scaled to mean 1: a step moves every client's
    knapsack ratio ``(c − μ) / d`` alike."""
    p = random_problem(3, 12, 4, full=True)
    inst = build_instance(p)
    w = client_metric(inst)
    assert w.shape == (inst.n,)
    assert float(w.mean()) == pytest.approx(1.0)
    d = inst.demand.astype(np.float64)
    assert np.allclose(w, d / d.mean())


def test_client_metric_never_freezes_a_multiplier() -> None:
    """A client without demand gets the smallest positive demand's weight, not 0 (its
    multiplier would never move); no demand at all gives equal weights."""
    p = random_problem(5, 8, 3)
    demand = p.demand.copy()
    demand[[0, 4]] = 0
    w = client_metric(build_instance(replace(p, demand=demand)))
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert float(w.mean()) == pytest.approx(1.0)
    floor = np.maximum(demand, demand[demand > 0].min()).astype(np.float64)
    assert np.allclose(w, floor / floor.mean())
    assert w[0] == w[4] == float(w.min())
    w0 = client_metric(build_instance(replace(p, demand=np.zeros_like(demand))))
    assert np.allclose(w0, 1.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
def test_metric_bound_is_below_the_optimum(seed: int, n: int, m: int) -> None:
    """Aimed at the optimum itself, variable-metric steps (plain and deflected) never give a
    bound above the optimum found by enumeration, nor arc bounds above it on its arcs."""
    p = random_problem(seed, n, m)
    opt = brute_force(p)
    if math.isinf(opt):
        return
    inst = build_instance(p)
    plan = solve(p, time_limit=60.0, work_budget=2.0, seed=0)
    served = np.flatnonzero(plan.site_of_client >= 0)
    used = inst.arc_index(served, plan.site_of_client[served])
    for gamma in (0.0, 1.0):
        lr = subgradient(
            inst,
            upper=lambda: opt,
            max_iter=300,
            exact=False,
            deflection=gamma,
            metric=client_metric(inst),
        )
        assert lr.bound <= opt + 1e-6 * max(1.0, opt)
        lf = arc_bounds(inst, lr)
        assert np.all(lf[used] <= opt + 1e-6 * max(1.0, opt))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_district_passes_use_the_metric(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole districts (``SMALL_ARCS`` lowered) run both bound passes in the metric, the
    other instances never; the bound stays below the plan either way."""
    p = local_problem(seed, 300, 40, options=2)
    plain = solve(p, time_limit=120.0, work_budget=2.0, seed=seed, decompose=False)
    assert "lagrangian_metric" not in plain.stats
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    district = solve(p, time_limit=120.0, work_budget=2.0, seed=seed, decompose=False)
    assert district.stats["lagrangian_metric"] == 1.0
    for res in (plain, district):
        assert res.status in ("optimal", "feasible")
        assert not res.stats.get("wall_clock_bound")
        check_feasible(p, res)
        assert res.lower_bound <= res.objective + 1e-6 * max(1.0, abs(res.objective))
