"""The Lagrangian bound and its arc bounds never exceed what a real plan costs."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from solver.location.bound import (
    Lagrangian,
    _select,
    arc_bounds,
    frac_knapsack,
    int_knapsack,
    site_ratio_order,
    subgradient,
    table_choice,
)
from solver.location.engine import solve
from solver.location.model import BIG_UNITS, Instance, build_instance
from tests.test_location import brute_force, random_problem


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
@example(seed=170, n=2, m=3)  # the only usable site ties in capacity with a useless one
def test_lagrangian_bound_is_below_the_optimum(seed: int, n: int, m: int) -> None:
    p = random_problem(seed, n, m)
    opt = brute_force(p)
    if math.isinf(opt):
        return
    inst = build_instance(p)
    plan = solve(p, time_limit=60.0, work_budget=2.0, seed=0)
    assert plan.objective == pytest.approx(opt, rel=1e-9, abs=1e-6)
    for exact in (False, True):
        # aim the Polyak steps at the optimum itself: the strongest multipliers we can reach
        lr = subgradient(inst, upper=lambda: opt, max_iter=300, exact=exact)
        assert lr.bound <= opt + 1e-6 * max(1.0, opt)
        # forcing an arc an optimal plan uses cannot raise its bound above the optimum
        lf = arc_bounds(inst, lr)
        served = np.flatnonzero(plan.site_of_client >= 0)
        used = inst.arc_index(served, plan.site_of_client[served])
        assert np.all(lf[used] <= opt + 1e-6 * max(1.0, opt))


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(-50, 20), st.integers(0, 9)), min_size=0, max_size=8),
    unit=st.integers(1, 7),
    tables=st.integers(1, 4),
    nu=st.floats(0, 40),
)
def test_table_knapsack_matches_enumeration(
    data: list[tuple[int, int]], unit: int, tables: int, nu: float
) -> None:
    """DP with tables bought at ν each equals enumerating every item subset."""
    r = np.array([d[0] for d in data], dtype=np.float64)
    w = np.array([d[1] for d in data], dtype=np.int64)
    cap = unit * tables
    value, take, t = int_knapsack(r, w, cap, unit, nu)
    best = 0.0
    for mask in range(1 << len(data)):
        pick = np.array([(mask >> b) & 1 for b in range(len(data))], dtype=bool)
        weight = int(w[pick].sum())
        if weight > cap:
            continue
        need = -(-weight // unit)
        best = min(best, float(r[pick].sum()) + nu * need)
    assert math.isclose(value, best, rel_tol=1e-9, abs_tol=1e-9)
    assert int(w[take].sum()) <= min(unit * t, cap)
    assert math.isclose(float(r[take].sum()) + nu * t, value, rel_tol=1e-9, abs_tol=1e-9)


def test_table_choice_is_below_the_exact_table_knapsack() -> None:
    """The fractional table choice is a relaxation of the exact one, site by site."""
    seed = 0
    while build_instance(random_problem(seed, 12, 4)).unit == 0:
        seed += 1
    inst = build_instance(random_problem(seed, 12, 4))
    rng = np.random.default_rng(0)
    for _ in range(50):
        r = inst.cost - rng.uniform(0, 2, size=inst.k) * inst.cost.max(initial=1.0)
        nu = float(rng.uniform(0, 50))
        val, _ = table_choice(inst, r, nu)
        for j in range(inst.m):
            a = np.flatnonzero((inst.site == j) & (r < 0))
            w = inst.demand[inst.cli[a]]
            exact, _, _ = int_knapsack(r[a], w, int(inst.cap[j]), inst.unit, nu)
            assert val[j] <= exact + 1e-9


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), m=st.integers(2, 6))
def test_swap_bounds_are_below_the_swapped_flow_cost(seed: int, n: int, m: int) -> None:
    """Capacity prices reproduce the flow cost, and every swap bound is below the swap's cost."""
    from solver.location.assign import flow_cost, flow_prices
    from solver.location.search import SwapBounds, site_arcs

    inst = build_instance(random_problem(seed, n, m))
    rng = np.random.default_rng(seed)
    open_mask = rng.random(inst.m) < 0.5
    priced = flow_prices(inst, open_mask, inst.cap)
    cost = flow_cost(inst, open_mask, inst.cap)
    if priced is None:
        assert math.isinf(cost)
        return
    assert priced[0] == pytest.approx(cost, rel=1e-9, abs=1e-9)
    pi = priced[1]
    assert np.all(pi >= 0) and np.all(pi[~open_mask] == 0)
    bounds = SwapBounds(inst, open_mask, pi, site_arcs(inst))
    # the dual objective at the current set is the flow cost (π optimal up to the flow's
    # integer scaling of unit costs)
    assert bounds.base - bounds.prices == pytest.approx(cost, rel=1e-6, abs=1e-6)
    closed = np.flatnonzero(~open_mask)
    for j in np.flatnonzero(open_mask):
        lbs = bounds.bounds(int(j), closed.astype(np.int64))
        for k, lb in zip(closed, lbs, strict=True):
            swapped = open_mask.copy()
            swapped[j], swapped[k] = False, True
            exact = flow_cost(inst, swapped, inst.cap)
            assert lb <= exact + 1e-6 * max(1.0, abs(exact))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(4, 20), m=st.integers(3, 8))
def test_pruned_swap_search_ends_in_a_flow_local_optimum(seed: int, n: int, m: int) -> None:
    """Skipping swaps by their bounds never skips an improving one."""
    from solver.location.assign import flow_cost
    from solver.location.search import site_arcs, site_neighbours, site_swap_search

    inst = build_instance(random_problem(seed, n, m))
    rng = np.random.default_rng(seed)
    start = inst.usable & (rng.random(inst.m) < 0.5)
    near = site_neighbours(inst)
    end, value = site_swap_search(
        inst,
        start,
        near,
        rng,
        keep_going=lambda: True,
        first_improvement=True,
        prune=site_arcs(inst),
    )
    assert value == pytest.approx(flow_cost(inst, end, inst.cap))
    if not math.isfinite(value):
        return
    assert value <= flow_cost(inst, start, inst.cap) + 1e-9
    for j in np.flatnonzero(end & (inst.status == 0)):
        for k in near[int(j)]:
            if end[k] or not inst.usable[k]:
                continue
            swapped = end.copy()
            swapped[j], swapped[k] = False, True
            assert flow_cost(inst, swapped, inst.cap) >= value - 1e-9 * max(1.0, abs(value))


@settings(max_examples=200, deadline=None)
@given(
    ratio=st.lists(
        st.one_of(st.integers(-6, 0).map(float), st.just(-math.inf), st.floats(-10, 0)),
        max_size=40,
    ),
    sites=st.data(),
    m=st.integers(1, 5),
)
def test_site_ratio_order_is_the_stable_lexsort(
    ratio: list[float], sites: st.DataObject, m: int
) -> None:
    """The fast order equals np.lexsort (site, then ratio, then position), ties included."""
    r = np.array(ratio, dtype=np.float64)
    s = np.array(
        sites.draw(st.lists(st.integers(0, m - 1), min_size=len(ratio), max_size=len(ratio))),
        dtype=np.int64,
    )
    assert np.array_equal(site_ratio_order(s, r, m), np.lexsort((r, s)))


def reference_evaluate(
    inst: Instance, mu: np.ndarray, nu: float
) -> tuple[float, np.ndarray, float, np.ndarray, np.ndarray]:
    """The Lagrangian as first written: one pass over all arcs, lexsort, fractional knapsacks."""
    r = inst.cost - mu[inst.cli]
    neg = np.flatnonzero(r < 0)
    s = inst.site[neg].astype(np.int64)
    w = inst.demand[inst.cli[neg]]
    rr = r[neg]
    ratio = np.full(rr.shape[0], -np.inf)
    np.divide(rr, w, out=ratio, where=w > 0)
    order = np.lexsort((ratio, s))
    items = (neg[order], s[order], w[order], rr[order], ratio[order])
    tables_on = inst.unit > 0 and inst.units_total < BIG_UNITS
    tables = np.zeros(inst.m, dtype=np.int64)
    if tables_on:
        val, tables = table_choice(inst, r, nu, items)
        fk = frac_knapsack(inst, r, np.minimum(tables * inst.unit, inst.cap), items)
    else:
        fk = frac_knapsack(inst, r, None, items)
        val = fk.value.copy()
    x_arc = np.zeros(inst.k)
    x_arc[fk.arcs] = fk.frac
    sel = _select(inst, val)
    fin = np.isfinite(inst.unserved)
    lag = float(mu.sum())
    u_term = np.where(fin, np.minimum(0.0, inst.unserved - mu), 0.0)
    lag += float(u_term.sum()) + float(val[sel].sum())
    cover = np.bincount(inst.cli, weights=x_arc * sel[inst.site], minlength=inst.n)
    g = 1.0 - cover - (fin & (inst.unserved < mu)).astype(np.float64)
    g_nu = 0.0
    if tables_on:
        g_nu = float(tables[sel].sum()) - inst.units_total
        lag -= nu * inst.units_total
    return lag, g, g_nu, val, sel


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), m=st.integers(1, 6))
def test_fast_evaluation_equals_the_full_pass(seed: int, n: int, m: int) -> None:
    """The binary-search evaluation gives bit-identical values to the pass over all arcs,
    also with tied ratios (integer multipliers on integer costs) and μ at arc costs."""
    p = random_problem(seed, n, m)
    p = replace(p, arc_cost=np.round(p.arc_cost))  # ties
    inst = build_instance(p)
    lag = Lagrangian(inst, exact=False)
    rng = np.random.default_rng(seed)
    scale = float(inst.cost.max(initial=1.0))
    for trial in range(6):
        mu = np.round(rng.uniform(-0.2, 1.2, size=inst.n) * scale)
        if trial == 0 and inst.k:  # μ equal to some arc costs: c − μ = 0 is not negative
            mu[inst.cli] = inst.cost
        nu = float(rng.uniform(0, 3) * scale) if trial % 2 else 0.0
        got = lag.evaluate(mu, nu)
        want = reference_evaluate(inst, mu, nu)
        assert got[0] == want[0]
        assert np.array_equal(got[1], want[1])
        assert got[2] == want[2]
        assert np.array_equal(got[3], want[3])
        assert np.array_equal(got[4], want[4])
        neg, cli = lag.negative_arcs(mu)
        assert np.array_equal(neg, np.flatnonzero(inst.cost - mu[inst.cli] < 0))
        assert lag.items == neg.shape[0] and np.array_equal(cli, inst.cli[neg])
    # arcs not sorted by cost within a client: the search would be wrong, the pass is used
    shuffled = replace(inst, cost=inst.cost[::-1].copy())
    unsorted = Lagrangian(shuffled, exact=False)
    mu = rng.uniform(0, 1, size=inst.n) * scale
    neg, cli = unsorted.negative_arcs(mu)
    assert np.array_equal(neg, np.flatnonzero(shuffled.cost - mu[inst.cli] < 0))
    assert np.array_equal(cli, inst.cli[neg])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), m=st.integers(1, 3))
def test_deflected_bound_with_any_target_is_below_the_optimum(seed: int, n: int, m: int) -> None:
    """Whatever the Polyak target (too low, exact, far too high) and however long the
    plain or deflected steps run, the bound stays at most the brute-force optimum."""
    p = random_problem(seed, n, m)
    opt = brute_force(p)
    if math.isinf(opt):
        return
    inst = build_instance(p)
    for target in (0.5 * opt, opt, 3.0 * opt + 10.0, math.inf):
        for exact in (False, True):
            for gamma in (0.0, 1.5):
                lr = subgradient(
                    inst, upper=lambda t=target: t, max_iter=400, exact=exact, deflection=gamma
                )
                assert lr.bound <= opt + 1e-6 * max(1.0, opt)
