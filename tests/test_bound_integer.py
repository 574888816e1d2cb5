"""Exact site knapsacks by their cores (:mod:`solver.location.table_knapsack`) in the bound.

Districts' capacities are beyond the per-site dynamic programme, so their bound used
fractional knapsacks; the core knapsacks give the exact values at a fraction of its cells.
They must equal enumeration, lift the Lagrangian above the fractional one at the same
multipliers and never above the optimum, and the engine's steps with them must leave the
plan as it was.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import bound, engine
from solver.location.bound import Lagrangian, site_ratio_order, subgradient
from solver.location.model import build_instance
from solver.location.problem import LocationProblem
from solver.location.table_knapsack import table_knapsacks
from tests.test_location import brute_force, random_problem

SiteItems = list[tuple[float, int]]  # (reduced cost < 0, demand) per item


def enumerate_site(items: SiteItems, cap: int, unit: int, tmax: int, nu: float) -> float:
    """The best ν t + Σ r over item subsets of weight ≤ min(U t, cap), by enumeration."""
    best = 0.0 if unit else math.inf
    for mask in range(1 << len(items)):
        pick = [items[b] for b in range(len(items)) if (mask >> b) & 1]
        weight = sum(d for _, d in pick)
        cost = sum(r for r, _ in pick)
        if unit == 0:
            if weight <= cap:
                best = min(best, cost)
            continue
        if weight == 0:
            best = min(best, cost)  # zero-demand items need no table
        for t in range(1, tmax + 1):
            if weight <= min(unit * t, cap):
                best = min(best, cost + nu * t)
    return best


site_items = st.lists(
    st.tuples(st.floats(-60.0, -0.01), st.integers(0, 12)), min_size=0, max_size=7
)


@settings(max_examples=250, deadline=None)
@given(
    sites=st.lists(
        st.tuples(site_items, st.integers(0, 40), st.integers(0, 5)), min_size=1, max_size=4
    ),
    unit=st.sampled_from([0, 1, 4, 7]),
    nu=st.floats(0.0, 80.0),
)
def test_core_knapsacks_match_enumeration(
    sites: list[tuple[SiteItems, int, int]], unit: int, nu: float
) -> None:
    """Every site's value is the enumerated optimum over its item subsets and table counts,
    and the items and tables it reports are a solution of that value."""
    owner = np.concatenate(
        [np.full(len(it), j, dtype=np.int64) for j, (it, _, _) in enumerate(sites)]
    )
    r = np.array([x[0] for it, _, _ in sites for x in it], dtype=np.float64)
    w = np.array([x[1] for it, _, _ in sites for x in it], dtype=np.int64)
    ratio = np.full(r.shape[0], -np.inf)
    np.divide(r, w, out=ratio, where=w > 0)
    order = site_ratio_order(owner, ratio, len(sites))
    owner, r, w = owner[order], r[order], w[order]
    starts = np.searchsorted(owner, np.arange(len(sites) + 1)).astype(np.int64)
    cap = np.array([c for _, c, _ in sites], dtype=np.int64)
    units_max = np.array([t for _, _, t in sites], dtype=np.int64)
    ks = table_knapsacks(w, r, starts, np.arange(len(sites)), cap, units_max, unit, nu)
    for j, (items, c, tmax) in enumerate(sites):
        want = enumerate_site(items, c, unit, tmax, nu)
        assert ks.value[j] == pytest.approx(want, rel=1e-9, abs=1e-9)
        seg = slice(int(starts[j]), int(starts[j + 1]))
        took = ks.taken[seg]
        t = int(ks.tables[j])
        room = c if unit == 0 else min(unit * t, c)
        assert int(w[seg][took].sum()) <= room
        assert 0 <= t <= (tmax if unit else 0)
        assert float(r[seg][took].sum()) + nu * t == pytest.approx(want, rel=1e-9, abs=1e-9)


def table_problem(seed: int, n: int, m: int) -> LocationProblem:
    """A random problem with whole tables and a table limit (the districts' shape)."""
    p = random_problem(seed, n, m)
    if p.unit_capacity is None:
        p = replace(p, unit_capacity=6, max_units_total=int(p.demand.sum() // 6 + 1))
    return p


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
def test_integer_bound_is_between_the_fractional_one_and_the_optimum(
    seed: int, n: int, m: int
) -> None:
    """At the same multipliers the Lagrangian with core knapsacks is at least the fractional
    one, equals the one with the per-site programme, and is below the enumerated optimum."""
    p = table_problem(seed, n, m)
    opt = brute_force(p)
    if math.isinf(opt):
        return
    inst = build_instance(p)
    rng = np.random.default_rng(seed)
    frac = Lagrangian(inst, exact=False)
    core = Lagrangian(inst, exact=False, integer=True)
    dp = Lagrangian(inst, exact=True)  # capacities here are within DP_MAX_CAPACITY
    assert core.integer and dp.exact
    top = float(inst.cost.max(initial=1.0)) + 1.0
    for _ in range(15):
        mu = rng.uniform(-0.2, 1.5, size=inst.n) * top
        nu = float(rng.uniform(0.0, 3.0) * top)
        lf = frac.evaluate(mu, nu)[0]
        lc = core.evaluate(mu, nu)[0]
        ld = dp.evaluate(mu, nu)[0]
        tol = 1e-9 * max(1.0, abs(opt), abs(lc))
        assert lc >= lf - tol
        assert lc == pytest.approx(ld, rel=1e-9, abs=1e-9)
        assert lc <= opt + tol
    lr = subgradient(inst, upper=lambda: opt, max_iter=200, exact=False, integer=True)
    assert lr.bound <= opt + 1e-6 * max(1.0, opt)


def test_integer_steps_raise_the_bound_and_leave_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid district solved whole: with the per-site programme off (as on the generated
    districts), the work its final step leaves goes to steps restarted from the scarcity start
    (fractional, then with core knapsacks); the plan is the one without them, the bound is
    higher, and the work stays within the budget."""
    p = table_problem(9, 150, 16)
    assert p.group is not None
    monkeypatch.setattr(bound, "DP_MAX_CAPACITY", 1)  # every capacity is beyond it
    steps = engine.solve(p, time_limit=120.0, work_budget=3.0, seed=0)
    monkeypatch.setattr(engine, "_finish_bound", lambda st: None)
    without = engine.solve(p, time_limit=120.0, work_budget=3.0, seed=0)
    assert np.array_equal(steps.site_of_client, without.site_of_client)
    assert steps.objective == without.objective
    assert steps.stats["lagrangian_restart_iterations"] > 1
    assert steps.stats["lagrangian_integer_iterations"] > 1
    assert steps.stats["lagrangian_bound"] > without.stats["lagrangian_bound"]
    assert without.lower_bound <= steps.lower_bound <= steps.objective
    assert steps.stats["work_seconds"] <= 3.0 + 1e-9
