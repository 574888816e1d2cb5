"""Tests for solver.location.engine: feasibility properties, bound validity, optimality on tiny cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location.engine import LocationProblem, LocationResult, solve
from solver.location.model import build_instance
from solver.location.reopen import reserve_work as final_reserve

TL = 2.0  # work budget (estimated seconds, solver.location.work): what ends the search
WALL = 60.0  # wall-clock safety stop only, generous so that a loaded machine gives the same plan


def random_problem(seed: int, n: int, m: int, *, full: bool = False) -> LocationProblem:
    """Small random instance exercising every option."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    sxy = rng.uniform(0, 100, size=(m, 2))
    dist = np.sqrt(((xy[:, None] - sxy[None]) ** 2).sum(-1))
    mask = dist < (1e9 if full else 60)
    cli, site = np.nonzero(mask)
    demand = rng.integers(1, 10, size=n)
    cap = rng.integers(5, 30, size=m)
    status = rng.choice(np.array([-1, 0, 0, 0, 1], dtype=np.int8), size=m)
    opts = rng.integers(0, 4)
    unserved = (demand * 80.0).astype(np.float64) if opts != 0 else None
    unit = 6 if opts >= 2 else None
    max_units = int(demand.sum() // 6 + 2) if opts >= 2 else None
    group = rng.integers(0, max(1, n // 3), size=n).astype(np.int32) if opts == 3 else None
    max_open = int(rng.integers(int((status == 1).sum()), m + 1)) if rng.random() < 0.7 else None
    return LocationProblem(
        demand=demand,
        capacity=cap,
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site] * demand[cli],
        site_status=status,
        max_open=max_open,
        exact_open=bool(max_open is not None and rng.random() < 0.3),
        unserved_cost=unserved,
        unit_capacity=unit,
        max_units_total=max_units,
        group=group,
        group_split_penalty=25.0 if group is not None else 0.0,
    )


def objective_of(p: LocationProblem, site_of: np.ndarray) -> float:
    """Recompute the full objective independently of the solver."""
    cost = {
        (int(i), int(j)): float(c)
        for i, j, c in zip(p.arc_client, p.arc_site, p.arc_cost, strict=True)
    }
    total = 0.0
    for i, j in enumerate(site_of):
        if j < 0:
            assert p.unserved_cost is not None
            total += float(p.unserved_cost[i])
        else:
            total += min(c for (a, b), c in cost.items() if a == i and b == j)
    if p.group is not None and p.group_split_penalty > 0:
        for g in np.unique(p.group):
            used = {int(s) for s in site_of[p.group == g] if s >= 0}
            total += p.group_split_penalty * max(0, len(used) - 1)
    return total


def check_feasible(p: LocationProblem, r: LocationResult) -> None:
    """Every constraint of the model, checked from the raw problem."""
    n, m = p.demand.shape[0], p.capacity.shape[0]
    arcs = set(zip(p.arc_client.tolist(), p.arc_site.tolist(), strict=True))
    has_arc = np.zeros(n, dtype=bool)
    has_arc[p.arc_client] = True
    for i, j in enumerate(r.site_of_client.tolist()):
        if j >= 0:
            assert (i, j) in arcs
            assert r.open_sites[j]
        else:
            assert p.unserved_cost is not None or not has_arc[i]
    load = np.bincount(
        r.site_of_client[r.site_of_client >= 0],
        weights=p.demand[r.site_of_client >= 0],
        minlength=m,
    )
    assert np.array_equal(load.astype(np.int64), r.load)
    assert np.all(load <= p.capacity)
    assert not np.any(r.open_sites & (p.site_status == -1))
    assert np.all(r.open_sites[p.site_status == 1])
    if p.max_open is not None:
        assert r.open_sites.sum() <= p.max_open
        if p.exact_open:
            assert r.open_sites.sum() == p.max_open
    if p.unit_capacity is not None:
        units = np.where(r.open_sites, -(-r.load // p.unit_capacity), 0)
        assert np.array_equal(units, r.units)
        if p.max_units_total is not None:
            assert units.sum() <= p.max_units_total
    assert r.objective == pytest.approx(objective_of(p, r.site_of_client), rel=1e-9, abs=1e-6)
    assert r.lower_bound <= r.objective + 1e-6 * max(1.0, abs(r.objective))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 14), m=st.integers(1, 6))
def test_random_instances_are_feasible_and_bounded(seed: int, n: int, m: int) -> None:
    p = random_problem(seed, n, m)
    # effort is the work budget (TL units); the wall clock is only a generous safety stop, so
    # a loaded machine cannot cut one of the two runs and make them differ
    r = solve(p, time_limit=30 * TL, seed=1, work_budget=TL)
    if r.status in ("infeasible", "no_plan_found"):
        assert math.isinf(r.objective) and r.reason
        if r.status == "no_plan_found" and n <= 8:  # small enough to check: none exists
            assert math.isinf(brute_force(p)), "the engine missed an existing plan"
        return
    check_feasible(p, r)
    assert not r.stats.get("wall_clock_bound"), "the safety stop cut a tiny instance"
    r2 = solve(p, time_limit=30 * TL, seed=1, work_budget=TL)
    assert np.array_equal(r.site_of_client, r2.site_of_client)
    assert r.objective == r2.objective


def cpmp_problem(
    seed: int, n: int, p: int, slack: float, extent: float = 100.0, floor: bool = False
) -> LocationProblem:
    """A capacitated p-median on all n² arcs (every client a candidate site, exactly p open),
    clients uniform in a square of side ``extent``, capacities leaving ``slack`` over demand;
    ``floor``: distances rounded down (as pmedcap1's)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent, size=(n, 2))
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    if floor:
        dist = np.floor(dist)
    demand = rng.integers(1, 20, size=n)
    cli, site = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    return LocationProblem(
        demand=demand,
        capacity=np.full(n, int(demand.sum() * slack / p)),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site],
        site_status=np.zeros(n, dtype=np.int8),
        max_open=p,
        exact_open=True,
    )


def brute_force(p: LocationProblem) -> float:
    """Enumerate every assignment (tiny instances only)."""
    n, m = p.demand.shape[0], p.capacity.shape[0]
    opts: list[list[int]] = []
    for i in range(n):
        o = sorted({int(j) for c, j in zip(p.arc_client, p.arc_site, strict=True) if c == i})
        if p.unserved_cost is not None:
            o.append(-1)
        opts.append(o)
    best = math.inf
    for combo in itertools.product(*opts):  # empty option list: no feasible plan
        a = np.array(combo, dtype=np.int64)
        used = np.zeros(m, dtype=bool)
        used[a[a >= 0]] = True
        if np.any(used & (p.site_status == -1)):
            continue
        opened = used | (p.site_status == 1)
        k = int(opened.sum())
        if p.max_open is not None and k > p.max_open:
            continue
        if p.exact_open and p.max_open is not None:
            free = int(((p.site_status == 0) & ~opened).sum())
            if k + free < p.max_open:
                continue
        load = np.bincount(a[a >= 0], weights=p.demand[a >= 0], minlength=m)
        if np.any(load > p.capacity):
            continue
        unit, max_units = p.unit_capacity, p.max_units_total
        if (
            unit is not None
            and max_units is not None
            and (-(-load.astype(np.int64) // unit)).sum() > max_units
        ):
            continue
        best = min(best, objective_of(p, a))
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
def test_reaches_brute_force_optimum(seed: int, n: int, m: int) -> None:
    p = random_problem(seed, n, m)
    opt = brute_force(p)
    r = solve(p, time_limit=WALL, work_budget=TL, seed=0)
    if math.isinf(opt):  # tiny: the MIP over all arcs proves it
        assert r.status == "infeasible" and r.reason
        return
    assert r.status in ("optimal", "feasible")
    check_feasible(p, r)
    assert r.objective == pytest.approx(opt, rel=1e-9, abs=1e-6)
    assert r.lower_bound <= opt + 1e-6 * max(1.0, opt)


def test_hand_instance() -> None:
    """4 clients, 3 sites, p = 2, capacity 2 clients each: optimum 1+1+2+2 = 6 by hand."""
    # clients 0,1 near site 0; clients 2,3 near site 2; site 1 in the middle
    cost = np.array(
        [[1, 3, 9], [1, 3, 9], [9, 3, 2], [9, 3, 2]],
        dtype=float,
    )
    cli, site = np.nonzero(np.ones_like(cost))
    p = LocationProblem(
        demand=np.ones(4, dtype=np.int64),
        capacity=np.full(3, 2, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=cost[cli, site],
        site_status=np.zeros(3, dtype=np.int8),
        max_open=2,
        exact_open=True,
    )
    r = solve(p, time_limit=WALL, work_budget=TL)
    assert r.objective == pytest.approx(6.0)
    assert r.site_of_client.tolist() == [0, 0, 2, 2]
    assert r.status == "optimal"
    assert r.lower_bound == pytest.approx(6.0)


def test_grid_penalty_keeps_group_together() -> None:
    """Two sites at equal cost for a grid of 3: the penalty makes them share one site."""
    cli = np.array([0, 0, 1, 1, 2, 2], dtype=np.int32)
    site = np.array([0, 1, 0, 1, 0, 1], dtype=np.int32)
    cost = np.array([1.0, 1.2, 1.2, 1.0, 1.0, 1.2])
    p = LocationProblem(
        demand=np.ones(3, dtype=np.int64),
        capacity=np.full(2, 5, dtype=np.int64),
        arc_client=cli,
        arc_site=site,
        arc_cost=cost,
        site_status=np.zeros(2, dtype=np.int8),
        group=np.zeros(3, dtype=np.int32),
        group_split_penalty=10.0,
    )
    r = solve(p, time_limit=WALL, work_budget=TL)
    assert len(set(r.site_of_client.tolist())) == 1
    assert r.objective == pytest.approx(3.2)


def test_required_sites_exceed_max_open_is_infeasible() -> None:
    p = LocationProblem(
        demand=np.ones(2, dtype=np.int64),
        capacity=np.full(3, 5, dtype=np.int64),
        arc_client=np.array([0, 1], dtype=np.int32),
        arc_site=np.array([0, 1], dtype=np.int32),
        arc_cost=np.array([1.0, 1.0]),
        site_status=np.array([1, 1, 1], dtype=np.int8),
        max_open=2,
    )
    r = solve(p, time_limit=WALL, work_budget=TL)
    assert r.status == "infeasible"
    assert np.all(r.site_of_client == -1)


def test_client_without_arc_and_no_unserved_cost_is_infeasible() -> None:
    p = LocationProblem(
        demand=np.ones(2, dtype=np.int64),
        capacity=np.full(1, 5, dtype=np.int64),
        arc_client=np.array([0], dtype=np.int32),
        arc_site=np.array([0], dtype=np.int32),
        arc_cost=np.array([1.0]),
        site_status=np.zeros(1, dtype=np.int8),
    )
    assert solve(p, time_limit=WALL, work_budget=TL).status == "infeasible"


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"demand": np.array([-1])}, "demand"),
        ({"arc_site": np.array([3], dtype=np.int32)}, "arc_site"),
        ({"site_status": np.array([2], dtype=np.int8)}, "site_status"),
        ({"exact_open": True}, "exact_open"),
        ({"unserved_cost": np.array([1.0, 2.0])}, "unserved_cost"),
        ({"arc_cost": np.array([np.nan])}, "arc_cost"),
    ],
)
def test_validation_errors(kwargs: dict[str, object], msg: str) -> None:
    base: dict[str, object] = {
        "demand": np.array([1]),
        "capacity": np.array([2]),
        "arc_client": np.array([0], dtype=np.int32),
        "arc_site": np.array([0], dtype=np.int32),
        "arc_cost": np.array([1.0]),
        "site_status": np.array([0], dtype=np.int8),
    }
    base.update(kwargs)
    with pytest.raises(ValueError, match=msg):
        LocationProblem(**base)  # type: ignore[arg-type]


def test_problem_arrays_are_read_only() -> None:
    p = random_problem(0, 5, 3)
    with pytest.raises(ValueError):
        p.demand[0] = 5


def test_progress_callback_and_stats() -> None:
    p = random_problem(3, 12, 5, full=True)
    seen: list[str] = []
    r = solve(
        p, time_limit=WALL, work_budget=TL, progress=lambda phase, obj, bnd: seen.append(phase)
    )
    assert "bound" in seen
    assert "seconds_total" in r.stats


def test_same_plan_when_the_work_budget_ends_the_search() -> None:
    """A search cut by its (estimated) work budget, not by finishing, is still repeatable.

    A small work budget under a generous wall-clock limit: the budget, never the wall clock,
    ends the search even on a slow or busy machine, so this runs everywhere.
    """
    rng = np.random.default_rng(3)
    n, m = 1500, 150
    xy = rng.uniform(0, 3000, size=(n, 2))
    sxy = rng.uniform(0, 3000, size=(m, 2))
    dist = np.sqrt(((xy[:, None] - sxy[None]) ** 2).sum(-1))
    cli, site = np.nonzero(dist < 700)
    demand = rng.integers(20, 200, size=n)
    p = LocationProblem(
        demand=demand,
        capacity=np.full(m, 7 * 700),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site] * demand[cli],
        site_status=np.zeros(m, dtype=np.int8),
        max_open=int(demand.sum() // 4000),
        unserved_cost=(demand * 5000.0).astype(np.float64),
        unit_capacity=700,
        max_units_total=int(demand.sum() // 700 + 10),
        group=(np.arange(n) // 12).astype(np.int32),
        group_split_penalty=2000.0,
    )
    runs = [solve(p, time_limit=120.0, seed=5, work_budget=2.0) for _ in range(2)]
    assert not any(r.stats["wall_clock_bound"] for r in runs)
    assert runs[0].status == "feasible"  # the budget, not optimality, ended the search
    # the search spends its budget less the final step's reserve (phases keep back half a
    # second); the final step may end early, once it finds nothing more
    stats = runs[0].stats
    search = stats["work_seconds"] - stats["work_reallocate"] - stats.get("work_site_moves", 0.0)
    assert search >= 2.0 - final_reserve(build_instance(p).k, 2.0) - 0.5
    assert np.array_equal(runs[0].site_of_client, runs[1].site_of_client)
    assert runs[0].objective == runs[1].objective
    assert runs[0].lower_bound == runs[1].lower_bound


def test_small_cpmp_path_reaches_mip_optimum() -> None:
    """Capacitated p-median (all n² arcs): the small-instance path matches the exact MIP."""
    from solver.location.exact import is_small
    from solver.location.mip import SubProblem, solve_sub_mip
    from solver.location.model import build_instance

    p = 4
    prob = cpmp_problem(3, 30, p, slack=1.15, floor=True)
    inst = build_instance(prob)
    assert is_small(inst)
    every = SubProblem(np.arange(inst.n), np.arange(inst.m), np.arange(inst.k), p, p, 1 << 40, {})
    exact, effort = solve_sub_mip(
        inst, every, hint_assign=None, hint_open=None, time_limit=60, node_limit=10**7, seed=0
    )
    assert exact is not None and exact.optimal
    assert effort.ran and not effort.wall_cut and effort.nodes >= 1 and effort.work > 0
    r = solve(prob, time_limit=WALL, work_budget=4.0, seed=0)
    check_feasible(prob, r)
    assert r.objective == pytest.approx(exact.objective, abs=1e-6)
    assert r.lower_bound <= exact.objective + 1e-6


def test_sub_mip_keeps_fixed_open_sites() -> None:
    """``fixed_open`` sites stay open even when closing them would be cheaper."""
    from solver.location.mip import SubProblem, solve_sub_mip
    from solver.location.model import build_instance

    prob = LocationProblem(
        demand=np.array([1, 1]),
        capacity=np.array([5, 5, 5]),
        arc_client=np.array([0, 0, 1, 1], dtype=np.int32),
        arc_site=np.array([0, 2, 1, 2], dtype=np.int32),
        arc_cost=np.array([5.0, 1.0, 5.0, 1.0]),
        site_status=np.zeros(3, dtype=np.int8),
        max_open=2,
    )
    inst = build_instance(prob)
    arcs = np.arange(inst.k, dtype=np.int64)
    sites = np.arange(3, dtype=np.int64)
    sub = SubProblem(np.arange(2, dtype=np.int64), sites, arcs, 0, 2, 1 << 40, {})
    free, _ = solve_sub_mip(
        inst, sub, hint_assign=None, hint_open=None, time_limit=5, node_limit=100, seed=0
    )
    assert free is not None and free.objective == pytest.approx(2.0)
    fixed = SubProblem(
        sub.clients, sites, arcs, 0, 2, 1 << 40, {}, fixed_open=np.array([True, True, False])
    )
    res, _ = solve_sub_mip(
        inst, fixed, hint_assign=None, hint_open=None, time_limit=5, node_limit=100, seed=0
    )
    assert res is not None
    assert res.open_sites.tolist() == [True, True, False]
    assert res.objective == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 14), m=st.integers(1, 8))
def test_spread_start_opens_usable_sites_only(seed: int, n: int, m: int) -> None:
    """Random spread-out site sets keep required sites, never use closed or unreachable
    sites, open as many as asked when enough sites are reachable, and repeat for a seed."""
    from solver.location.engine import _spread_start
    from solver.location.model import build_instance

    inst = build_instance(random_problem(seed, n, m))
    reachable = np.zeros(inst.m, dtype=np.bool_)
    reachable[inst.site] = True
    eligible = inst.usable & reachable
    want = int(inst.required.sum()) + 2
    sel = _spread_start(inst, want, np.random.default_rng(seed))
    assert np.all(sel[inst.required])
    assert not np.any(sel & (inst.status < 0))
    assert np.all(eligible[sel & ~inst.required])
    assert int(sel.sum()) == min(want, int((eligible | inst.required).sum()))
    again = _spread_start(inst, want, np.random.default_rng(seed))
    assert np.array_equal(sel, again)


def test_site_swap_search_follows_the_given_cost() -> None:
    """With a custom cost the swap search ends in a set no single swap to a neighbour
    improves, and never scores worse than its start."""
    from solver.location.model import build_instance
    from solver.location.search import site_neighbours, site_swap_search

    prob = random_problem(11, 12, 8, full=True)
    inst = build_instance(prob)
    near = site_neighbours(inst, k=inst.m)
    weight = np.arange(inst.m, dtype=np.float64)

    def cost(sites: np.ndarray) -> float:  # prefers low-numbered sites
        return float(weight[sites].sum())

    movable = np.flatnonzero(inst.status == 0)
    start = inst.required.copy()
    start[movable[-2:]] = True
    for first in (False, True):
        end, value = site_swap_search(
            inst,
            start,
            near,
            np.random.default_rng(0),
            keep_going=lambda: True,
            cost=cost,
            first_improvement=first,
        )
        assert value == cost(end) <= cost(start)
        assert int(end.sum()) == int(start.sum()) and np.all(end[inst.required])
        for j in np.flatnonzero(end & (inst.status == 0)):
            for k in near[int(j)]:
                if not end[k] and inst.usable[k]:
                    trial = end.copy()
                    trial[j], trial[k] = False, True
                    assert cost(trial) >= value
