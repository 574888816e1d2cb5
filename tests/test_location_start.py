"""The paid start: clients that are candidate sites themselves (every p-median benchmark)
priced at their cheapest paid arc give the classic combinatorial bound instead of 0, which
the engine takes as one more bound after its search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.location import engine
from solver.location.bound import (
    Lagrangian,
    cheapest_arc_cost,
    paid_start_bound,
    scarcity_start,
    subgradient,
)
from solver.location.engine import solve
from solver.location.model import build_instance
from solver.location.problem import LocationProblem
from tests.test_location import brute_force, cpmp_problem


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), m=st.integers(1, 6))
def test_cheapest_paid_arc_is_the_smallest_positive_cost(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    cli, site = np.nonzero(rng.random((n, m)) < 0.7)
    cost = rng.integers(0, 4, size=cli.shape[0]).astype(np.float64)  # many free arcs
    p = LocationProblem(
        demand=np.ones(n, dtype=np.int64),
        capacity=np.full(m, n, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=cost,
        site_status=np.zeros(m, dtype=np.int8),
        unserved_cost=np.full(n, 100.0),
    )
    inst = build_instance(p)
    cheapest = cheapest_arc_cost(inst)
    paid = cheapest_arc_cost(inst, paid=True)
    for i in range(n):
        costs = inst.cost[inst.ptr[i] : inst.ptr[i + 1]]
        assert cheapest[i] == (costs.min() if costs.size else 0.0)
        positive = costs[costs > 0]
        assert paid[i] == (positive.min() if positive.size else cheapest[i])


def test_first_bound_of_a_p_median_counts_the_clients_no_median_hosts() -> None:
    """With μ_i = the client's nearest-neighbour distance, each open site's knapsack takes
    only its own client (reduced cost −μ_j), so the first bound is the sum of the n − p
    smallest nearest-neighbour distances (every plan pays at least that; the classic start
    μ_i = 0 gives 0, and the steps then climb from 0 in steps of their own size)."""
    n, p = 120, 40
    prob = cpmp_problem(5, n, p, slack=1.25)
    inst = build_instance(prob)
    mu, nu = scarcity_start(inst, paid=True)
    lag = Lagrangian(inst, True, False)
    first = lag.evaluate(mu, nu)[0]
    assert lag.evaluate(*scarcity_start(inst))[0] == 0.0  # the classic start
    dist = prob.arc_cost.reshape(n, n) + np.diag(np.full(n, np.inf))
    nearest = np.sort(dist.min(axis=1))
    assert first == pytest.approx(float(nearest[: n - p].sum()), rel=1e-9)
    assert first > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 6), p=st.integers(1, 3))
def test_bounds_from_the_paid_start_never_exceed_the_optimum(seed: int, n: int, p: int) -> None:
    prob = cpmp_problem(seed, n, min(p, n), slack=1.6, extent=10.0, floor=True)
    opt = brute_force(prob)
    inst = build_instance(prob)
    mu, nu = scarcity_start(inst, paid=True)
    lr = subgradient(inst, upper=lambda: opt, max_iter=100, exact=True, mu0=mu, nu0=nu)
    assert lr.bound <= opt + 1e-6 * max(1.0, opt)
    assert paid_start_bound(inst)[0] <= opt + 1e-6 * max(1.0, opt)


def test_engine_reports_the_paid_start_bound_without_changing_its_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine takes the paid start's bound after its search: its bound is at least that
    one, and its plan is the plan it finds without it (the search never sees it)."""
    prob = cpmp_problem(8, 150, 50, slack=1.2)
    inst = build_instance(prob)
    paid = paid_start_bound(inst)[0]
    assert paid > 0
    res = solve(prob, time_limit=60.0, work_budget=3.0, seed=0)
    assert res.stats["paid_start_bound"] == pytest.approx(paid)
    assert res.lower_bound >= min(paid, res.objective) - 1e-9
    assert res.lower_bound <= res.objective
    monkeypatch.setattr(engine, "paid_start_bound", lambda inst: (-math.inf, 0.0))
    without = solve(prob, time_limit=60.0, work_budget=3.0, seed=0)
    assert np.array_equal(without.site_of_client, res.site_of_client)
    assert "paid_start_bound" not in without.stats


def test_no_paid_start_where_it_is_the_classic_one() -> None:
    """A zero-demand client pays nothing on any arc (a district's empty building): the paid
    start is the classic one there, and no extra evaluation is made."""
    demand = np.array([0, 3, 5], dtype=np.int64)
    cli = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    site = np.array([0, 1, 0, 1, 1], dtype=np.int32)
    dist = np.array([10.0, 20.0, 5.0, 7.0, 4.0])
    prob = LocationProblem(
        demand=demand,
        capacity=np.array([10, 10], dtype=np.int64),
        arc_client=cli,
        arc_site=site,
        arc_cost=dist * demand[cli],
        site_status=np.zeros(2, dtype=np.int8),
        max_open=1,
        unserved_cost=np.full(3, 1000.0),
    )
    inst = build_instance(prob)
    assert bool(np.any(inst.cost <= 0))
    assert paid_start_bound(inst) == (-math.inf, 0.0)
