"""A bound that sees scarcity: with fewer staffed tables than residents, the lower bound
counts the residents every plan must leave unserved, and never exceeds the optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location.bound import scarcity_bound, scarcity_price, subgradient
from solver.location.engine import solve
from solver.location.model import build_instance
from solver.location.problem import LocationProblem
from tests.test_location import brute_force


def short_staffed(seed: int, n: int, m: int, *, unit: int = 6) -> LocationProblem:
    """Random instance whose staffed tables hold clearly less than the demand in reach."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    sxy = rng.uniform(0, 100, size=(m, 2))
    dist = np.sqrt(((xy[:, None] - sxy[None]) ** 2).sum(-1))
    cli, site = np.nonzero(dist < 70)
    demand = rng.integers(1, 10, size=n)
    tables = max(1, int(demand.sum() * rng.uniform(0.3, 0.9)) // unit)
    return LocationProblem(
        demand=demand,
        capacity=rng.integers(6, 40, size=m),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site] * demand[cli],
        site_status=np.zeros(m, dtype=np.int8),
        max_open=int(rng.integers(1, m + 1)),
        unserved_cost=(demand * float(rng.uniform(80.0, 400.0))).astype(np.float64),
        unit_capacity=unit,
        max_units_total=tables,
    )


def forced_unserved(p: LocationProblem) -> float:
    """Cheapest charge for the residents beyond the staffed tables (a weak, obvious bound)."""
    assert p.unserved_cost is not None and p.unit_capacity and p.max_units_total is not None
    reach = np.zeros(p.demand.shape[0], dtype=bool)
    reach[p.arc_client] = True
    per_resident = float((p.unserved_cost / p.demand).min())
    beyond = int(p.demand[reach].sum()) - p.unit_capacity * p.max_units_total
    return float(p.unserved_cost[~reach].sum()) + max(0, beyond) * per_resident


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
def test_scarcity_bounds_never_exceed_the_optimum(seed: int, n: int, m: int) -> None:
    p = short_staffed(seed, n, m)
    opt = brute_force(p)
    assert math.isfinite(opt)  # unserved is always allowed
    inst = build_instance(p)
    tol = 1e-6 * max(1.0, opt)
    agg = scarcity_bound(inst)
    assert agg <= opt + tol
    assert agg >= forced_unserved(p) - tol  # it does count the forced shortage
    lr = subgradient(inst, upper=lambda: opt, max_iter=200, exact=True)
    assert agg - tol <= lr.bound <= opt + tol
    res = solve(p, time_limit=60.0, work_budget=2.0, seed=0)
    assert res.lower_bound <= opt + tol
    assert res.objective == pytest.approx(opt, rel=1e-9, abs=1e-6)


def test_short_staffed_gap_is_meaningful() -> None:
    """400 clients, tables for 80 % of them: the gap stays small because the bound charges
    the shortage (a bound started at ν = 0 stays near the walking cost alone: gap > 100 %)."""
    p = short_staffed(3, 400, 40, unit=20)
    inst = build_instance(p)
    assert scarcity_price(inst) > 0
    res = solve(p, time_limit=20.0, seed=0, work_budget=6.0)
    assert res.status in ("feasible", "optimal")
    assert res.lower_bound >= forced_unserved(p)
    assert res.gap <= 0.10
