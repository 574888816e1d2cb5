"""Regional fix-and-optimise (:mod:`solver.location.decompose`): partitions, whole-problem
feasibility of the plans, a valid bound and repeatable results.

The real thresholds only decompose instances of hundreds of thousands of arcs; the tests
lower them (``local_thresholds``) so that small, brute-forceable instances take the path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import decompose
from solver.location.engine import LocationProblem, solve
from solver.location.model import build_instance
from solver.location.work import WorkClock
from tests.test_location import brute_force, check_feasible

BUDGET = 1.0  # work units per solve: small instances, several regions and passes


def local_problem(
    seed: int, n: int, m: int, *, radius: float = 22.0, options: int | None = None
) -> LocationProblem:
    """Clients and sites along a 100 × 25 strip, arcs only within ``radius``: a local
    instance, like a district, whose regions share few arcs."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform((0, 0), (100, 25), size=(n, 2))
    sxy = rng.uniform((0, 0), (100, 25), size=(m, 2))
    dist = np.sqrt(((xy[:, None] - sxy[None]) ** 2).sum(-1))
    cli, site = np.nonzero(dist < radius)
    demand = rng.integers(1, 10, size=n)
    status = rng.choice(np.array([-1, 0, 0, 0, 0, 1], dtype=np.int8), size=m)
    opts = int(rng.integers(0, 4)) if options is None else options
    unit = 6 if opts >= 1 else None
    cap = rng.integers(2, 6, size=m) * 6
    max_units = int(demand.sum() // 6 + 3) if opts >= 1 else None
    group = rng.integers(0, max(1, n // 3), size=n).astype(np.int32) if opts >= 2 else None
    usable = int((status >= 0).sum())
    max_open = max(int((status == 1).sum()), usable - 1) if opts == 3 else None
    return LocationProblem(
        demand=demand,
        capacity=cap,
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site] * demand[cli],
        site_status=status,
        max_open=max_open,
        exact_open=bool(max_open is not None and rng.random() < 0.3),
        unserved_cost=(demand * 90.0).astype(np.float64),
        unit_capacity=unit,
        max_units_total=max_units,
        group=group,
        group_split_penalty=15.0 if group is not None else 0.0,
    )


@pytest.fixture
def local_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decompose every instance into regions of a few dozen arcs."""
    monkeypatch.setattr(decompose, "DECOMPOSE_ARCS", 0)
    monkeypatch.setattr(decompose, "REGION_ARCS", 40)
    monkeypatch.setattr(decompose, "MAX_CUT_SHARE", 1.0)


def test_partition_covers_every_client_and_site_once() -> None:
    p = local_problem(3, 300, 40, radius=12.0, options=0)
    inst = build_instance(p)
    part = decompose.partition(inst, 4)
    assert part.count == 4
    assert part.site_region.shape == (inst.m,) and part.client_region.shape == (inst.n,)
    assert set(np.unique(part.site_region).tolist()) == set(range(4))
    # a client lies in the region of its cheapest site; one without arcs in none
    has = inst.ptr[1:] > inst.ptr[:-1]
    home = inst.site[inst.ptr[:-1][has]]
    assert np.array_equal(part.client_region[has], part.site_region[home])
    assert np.all(part.client_region[~has] == -1)
    cut = int(np.count_nonzero(part.site_region[inst.site] != part.client_region[inst.cli]))
    assert part.cut_arcs == cut
    # a strip cut into bands: most arcs stay inside their region (sites spread over 4
    # regions at random would cut about three quarters of them)
    assert part.cut_arcs < 0.4 * inst.k
    again = decompose.partition(inst, 4)
    assert np.array_equal(part.site_region, again.site_region)


def test_offset_partition_moves_the_borders() -> None:
    inst = build_instance(local_problem(5, 300, 40, options=0))
    plain = decompose.partition(inst, 4)
    offset = decompose.partition(inst, 4, offset=True)
    assert offset.count == 5
    # some pair of sites that plain splits is together in the offset partition
    together = offset.site_region[:, None] == offset.site_region[None, :]
    apart = plain.site_region[:, None] != plain.site_region[None, :]
    assert np.any(together & apart)


def test_dense_instance_is_left_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompose, "DECOMPOSE_ARCS", 0)
    monkeypatch.setattr(decompose, "REGION_ARCS", 40)
    p = local_problem(1, 60, 12, radius=1e9, options=0)  # every client reaches every site
    inst = build_instance(p)
    assert decompose.choose_partition(inst, WorkClock.start(10.0)) is None
    r = solve(p, time_limit=30.0, work_budget=BUDGET, seed=0)
    assert "decompose_regions" not in r.stats


def test_small_instance_is_left_to_the_engine() -> None:
    p = local_problem(2, 80, 10)
    assert p.arc_client.shape[0] <= decompose.DECOMPOSE_ARCS
    r = solve(p, time_limit=30.0, work_budget=BUDGET, seed=0)
    assert "decompose_regions" not in r.stats


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(0, 3))
@pytest.mark.usefixtures("local_thresholds")
def test_decomposed_plan_is_feasible_for_the_whole_and_repeatable(seed: int, options: int) -> None:
    p = local_problem(seed, 120, 18, options=options)
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=1)
    if r.status in ("infeasible", "no_plan_found"):
        assert math.isinf(r.objective) and r.reason
        return
    check_feasible(p, r)  # capacities, tables, open limits; unserved only with a cost
    assert r.stats["decompose_regions"] >= 2
    assert r.stats["lagrangian_bound"] <= r.objective + 1e-6 * max(1.0, r.objective)
    again = solve(p, time_limit=60.0, work_budget=BUDGET, seed=1)
    assert np.array_equal(r.site_of_client, again.site_of_client)
    assert np.array_equal(r.open_sites, again.open_sites)
    assert r.objective == again.objective and r.lower_bound == again.lower_bound


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(0, 3))
@pytest.mark.usefixtures("local_thresholds")
def test_decomposed_bound_is_below_the_optimum(seed: int, options: int) -> None:
    p = local_problem(seed, 7, 4, radius=45.0, options=options)
    opt = brute_force(p)
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    if math.isinf(opt):
        assert r.status in ("infeasible", "no_plan_found")
        return
    assert r.status in ("optimal", "feasible")
    check_feasible(p, r)
    assert r.objective >= opt - 1e-6 * max(1.0, opt)
    assert r.lower_bound <= opt + 1e-6 * max(1.0, opt)
    assert r.stats["lagrangian_bound"] <= opt + 1e-6 * max(1.0, opt)
