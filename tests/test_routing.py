"""Tests for the home-visit routing engine and its independent checker."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.routing import (
    MANDATORY,
    RoutingProblem,
    RoutingResult,
    RoutingStatus,
    VisitReason,
    solve,
)
from solver.routing.check import check_result, check_routes

H = 3600


def tiny() -> RoutingProblem:
    """One team at the origin, 60 m/min, no detour; hand-computable times and distances."""
    return RoutingProblem.planar(
        stop_xy=[(600, 0), (1200, 0), (0, 600), (90_000, 0), (0, 1200)],
        service=[300, 300, 300, 300, 300],
        vehicle_start_xy=[(0, 0)],
        avail_from=0,
        avail_to=7200,
        tw_early=[0, 0, 8000, 0, 0],
        tw_late=[7200, 7200, 9000, 7200, 7200],
        max_stops=2,
        speed=60.0,
        detour=1.0,
    )


def test_tiny_hand_checked() -> None:
    p = tiny()
    res = solve(p, time_limit=2.0, engine="pyvrp", workers=1, max_iterations=200)
    assert check_result(p, res).ok
    # max 2 stops: the two stops east (0, 1) and the two north (2 impossible, 4) compete;
    # serving 0 and 1 (2400 m) ties with 4 + 0, the engine must pick one pair of cost 2400+.
    # max 2 stops: {0, 1} costs 600 + 600 + 1200 = 2400 m, {0, 4} 3142 m, {1, 4} 4097 m
    route = res.routes[0]
    assert set(route.stops) == {0, 1} and route.distance == 2400
    assert res.reason[2] == VisitReason.NO_TEAM_IN_WINDOW  # window opens after the day ends
    assert res.reason[3] == VisitReason.TEAM_OUT_OF_REACH  # 90 km away: 25 h each way in 2 h
    assert res.reason[4] == VisitReason.TEAMS_FULL  # reachable, but the team is full
    if route.stops == (0, 1):  # 60 m/min = 1 m/s
        assert (res.arrival[0], res.start[0], res.end[0]) == (600, 600, 900)
        assert (res.arrival[1], res.start[1], res.end[1]) == (1500, 1500, 1800)
        assert (route.start, route.end) == (0, 3000)
    assert res.status == "feasible" and res.objective == 2400 + 3 * 10_000_000


def test_late_departure_and_waiting() -> None:
    p = RoutingProblem.planar(
        stop_xy=[(600, 0)],
        service=[300],
        vehicle_start_xy=[(0, 0)],
        avail_from=0,
        avail_to=7200,
        tw_early=[3000],
        tw_late=[4000],
        speed=60.0,
        detour=1.0,
    )
    res = solve(p, time_limit=1.0, engine="ortools", workers=1)
    assert check_result(p, res).ok
    assert res.routes[0].start == 2400  # leaves so as to arrive when the window opens
    assert (res.arrival[0], res.start[0], res.end[0]) == (3000, 3000, 3300)


@st.composite
def instances(draw: st.DrawFn) -> RoutingProblem:
    """Small random instances: coordinates within 3 km, optional windows and limits."""
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, size=(n, 2))
    team_xy = rng.uniform(0, 3000, size=(m, 2))
    persons = rng.integers(1, 4, size=n)
    a_from = 8 * H + rng.integers(0, 3, size=m) * H
    a_to = a_from + rng.integers(1, 5, size=m) * H
    early = 8 * H + rng.integers(0, 8, size=n) * H
    late = early + rng.integers(0, 3, size=n) * H
    windows = draw(st.booleans())
    return RoutingProblem.planar(
        xy,
        600 + 180 * persons,
        team_xy,
        a_from,
        a_to,
        vehicle_end_xy=rng.uniform(0, 3000, size=(m, 2)) if draw(st.booleans()) else None,
        tw_early=early if windows else None,
        tw_late=late if windows else None,
        demand=persons,
        max_stops=rng.integers(1, 6, size=m) if draw(st.booleans()) else None,
        capacity=rng.integers(2, 8, size=m) if draw(st.booleans()) else None,
    )


def assert_valid(p: RoutingProblem, res: RoutingResult) -> None:
    """Properties every result must have (checked directly, not only via the checker)."""
    rep = check_result(p, res)
    assert rep.ok, rep.violations
    counts = np.zeros(p.num_stops, dtype=int)
    for v, r in enumerate(res.routes):
        counts[list(r.stops)] += 1
        assert len(r.stops) <= p.max_stops[v]
        if r.stops:
            assert r.start >= p.avail_from[v] and r.end <= p.avail_to[v]
    for s in range(p.num_stops):
        if counts[s] == 1:
            assert res.reason[s] is None
            assert res.start[s] >= res.arrival[s]
            assert p.tw_early[s] <= res.start[s] <= p.tw_late[s]
            assert res.end[s] == res.start[s] + p.service[s]
        else:
            assert (
                counts[s] == 0 and isinstance(res.reason[s], VisitReason) and res.vehicle[s] == -1
            )


_FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@_FAST
@given(instances())
def test_pyvrp_properties(p: RoutingProblem) -> None:
    res = solve(p, time_limit=1.0, engine="pyvrp", workers=1, max_iterations=150)
    assert_valid(p, res)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(instances())
def test_ortools_properties(p: RoutingProblem) -> None:
    res = solve(p, time_limit=0.3, engine="ortools", workers=1, max_iterations=50)
    assert_valid(p, res)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(instances(), st.integers(0, 1000))
def test_same_seed_same_routes(p: RoutingProblem, seed: int) -> None:
    a = solve(p, time_limit=2.0, seed=seed, engine="pyvrp", workers=1, max_iterations=100)
    b = solve(p, time_limit=2.0, seed=seed, engine="pyvrp", workers=1, max_iterations=100)
    assert [r.stops for r in a.routes] == [r.stops for r in b.routes]
    assert a.reason == b.reason


@settings(max_examples=60, deadline=None, derandomize=True)
@given(instances(), st.integers(0, 5), st.data())
def test_checker_rejects_corruption(p: RoutingProblem, kind: int, data: st.DataObject) -> None:
    res = solve(p, time_limit=1.0, engine="pyvrp", workers=1, max_iterations=100)
    assert check_result(p, res).ok
    used = [r for r in res.routes if r.stops]
    if not used:
        return
    r = data.draw(st.sampled_from(used))
    s = r.stops[0]
    routes = list(res.routes)
    if kind == 0:  # a stop visited twice
        routes[r.vehicle] = dataclasses.replace(r, stops=(*r.stops, s))
        bad = dataclasses.replace(res, routes=tuple(routes))
    elif kind == 1:  # reported start moved before arrival
        start = res.start.copy()
        start[s] = res.arrival[s] - 1
        bad = dataclasses.replace(res, start=start)
    elif kind == 2:  # end not start + service
        end = res.end.copy()
        end[s] += 1
        bad = dataclasses.replace(res, end=end)
    elif kind == 3:  # distance understated
        routes[r.vehicle] = dataclasses.replace(r, distance=r.distance - 1)
        bad = dataclasses.replace(res, routes=tuple(routes), total_distance=res.total_distance - 1)
    elif kind == 4:  # served stop dropped without a reason
        routes[r.vehicle] = dataclasses.replace(r, stops=r.stops[1:])
        bad = dataclasses.replace(res, routes=tuple(routes))
    else:  # team back after its availability
        routes[r.vehicle] = dataclasses.replace(r, end=int(p.avail_to[r.vehicle]) + 1)
        bad = dataclasses.replace(res, routes=tuple(routes))
    assert not check_result(p, bad).ok


def test_checker_rejects_window_violation() -> None:
    p = RoutingProblem.planar(
        stop_xy=[(600, 0), (1200, 0)],
        service=[300, 300],
        vehicle_start_xy=[(0, 0)],
        avail_from=0,
        avail_to=20_000,
        tw_early=[0, 0],
        tw_late=[700, 10_000],
        speed=60.0,
        detour=1.0,
    )
    assert check_routes(p, [[0, 1]]).ok
    assert not check_routes(p, [[1, 0]]).ok  # stop 0 reached at 2100 > 700
    assert not check_routes(p, [[0]], require_all=True).ok
    assert not check_routes(p, [[0, 0, 1]]).ok


def test_mandatory_unservable_is_incomplete_not_infeasible() -> None:
    p = RoutingProblem.planar(
        stop_xy=[(600, 0)],
        service=[300],
        vehicle_start_xy=[(0, 0)],
        avail_from=0,
        avail_to=400,  # the 300 s visit fits the day, the 2 × 6.9 min walk does not
        penalty=MANDATORY,
    )
    res = solve(p, time_limit=0.5, engine="pyvrp", workers=1)
    assert res.status is RoutingStatus.INCOMPLETE  # a heuristic never claims a proof
    assert res.reason[0] == VisitReason.TEAM_OUT_OF_REACH


def test_matrix_problem_and_open_end() -> None:
    dist = np.array([[0, 10, 20, 30], [10, 0, 10, 20], [20, 10, 0, 10], [30, 20, 10, 0]])
    p = RoutingProblem.from_matrices(
        dist,
        dist,
        stop_location=[1, 2],
        service=[5, 5],
        vehicle_start=[0],
        vehicle_end=[3],
        avail_from=0,
        avail_to=100,
    )
    for engine in ("pyvrp", "ortools"):
        res = solve(p, time_limit=0.5, engine=engine, workers=1, max_iterations=50)  # type: ignore[arg-type]
        assert check_result(p, res).ok
        assert res.routes[0].stops == (0, 1) and res.total_distance == 30


def test_portfolio_two_workers() -> None:
    rng = np.random.default_rng(3)
    p = RoutingProblem.planar(
        rng.uniform(0, 2000, size=(40, 2)),
        780,
        rng.uniform(0, 2000, size=(3, 2)),
        8 * H,
        12 * H,
    )
    res = solve(p, time_limit=3.0, seed=1, portfolio=(("pyvrp", 0), ("pyvrp", 1)))
    assert_valid(p, res)
    assert len(res.stats.candidates) == 2
    assert res.stats.seconds < 3.5


@pytest.mark.parametrize("workers", [2])
def test_decomposed_scale_small(workers: int) -> None:
    rng = np.random.default_rng(0)
    n, m = 900, 30
    p = RoutingProblem.planar(
        rng.uniform(0, 4000, size=(n, 2)),
        600 + 180 * rng.integers(1, 3, size=n),
        rng.uniform(0, 4000, size=(m, 2)),
        8 * H,
        17 * H,
    )
    res = solve(p, time_limit=6.0, workers=workers, decompose=True)
    assert res.stats.regions == 3
    assert_valid(p, res)
    assert res.stats.seconds < 7.0
    assert (res.vehicle >= 0).mean() > 0.95


def test_iteration_budget_follows_size_only() -> None:
    """The default effort: 175 × √households in all, split over regions by their size."""
    from solver.routing.effort import MIN_ITERATIONS, iteration_budget, region_budgets

    assert iteration_budget(300) == 3032  # ⌈175 × √300⌉
    assert iteration_budget(1200) == 2 * iteration_budget(300) - 1  # √: 4× households, 2× effort
    assert iteration_budget(0) == MIN_ITERATIONS
    sizes = np.array([320, 300, 290, 10])
    split = region_budgets(sizes, int(sizes.sum()))
    assert split.tolist() == region_budgets(sizes, int(sizes.sum())).tolist()
    assert abs(int(split.sum()) - iteration_budget(int(sizes.sum()))) <= MIN_ITERATIONS
    assert (np.diff(split[:3]) <= 0).all() and split[3] == MIN_ITERATIONS


def test_budget_not_clock_ends_the_search() -> None:
    """The default budget repeats exactly under a generous clock; a clock too short for the
    budget is reported (``wall_clock_bound``), never silent."""
    rng = np.random.default_rng(5)
    p = RoutingProblem.planar(
        rng.uniform(0, 2000, size=(60, 2)),
        600,
        rng.uniform(0, 2000, size=(3, 2)),
        8 * H,
        16 * H,
    )
    a = solve(p, time_limit=60.0, seed=3, workers=1)
    b = solve(p, time_limit=60.0, seed=3, workers=1)
    assert not a.stats.wall_clock_bound and not b.stats.wall_clock_bound
    assert a.stats.iterations == 1356  # 175 × √60, rounded up
    assert [r.stops for r in a.routes] == [r.stops for r in b.routes]
    cut = solve(p, time_limit=0.3, seed=3, workers=1, max_iterations=10**9)
    assert cut.stats.wall_clock_bound
    assert_valid(p, cut)


def test_decomposed_regions_repeat_and_report() -> None:
    """Regions solved in parallel combine in a fixed order: the same routes every time."""
    rng = np.random.default_rng(2)
    n, m = 700, 20
    p = RoutingProblem.planar(
        rng.uniform(0, 3000, size=(n, 2)),
        600,
        rng.uniform(0, 3000, size=(m, 2)),
        8 * H,
        17 * H,
    )
    runs = [
        solve(p, time_limit=60.0, seed=1, workers=2, decompose=True, max_iterations=150)
        for _ in range(2)
    ]
    assert runs[0].stats.regions == runs[1].stats.regions > 1
    assert not any(r.stats.wall_clock_bound for r in runs)
    assert [r.stops for r in runs[0].routes] == [r.stops for r in runs[1].routes]
    assert runs[0].stats.iterations == 150 * runs[0].stats.regions
