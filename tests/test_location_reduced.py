"""The size-reduced problem (each client's nearest arcs) prices plans as the full one does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location.engine import _reduced_search_pays, solve
from solver.location.model import build_instance, evaluate, restrict
from solver.location.problem import LocationProblem
from tests.test_location import random_problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), m=st.integers(1, 5))
def test_restricted_instance_prices_plans_like_the_full_one(seed: int, n: int, m: int) -> None:
    p = random_problem(seed, n, m)
    inst = build_instance(p)
    rng = np.random.default_rng(seed)
    keep = rng.random(inst.k) < 0.6
    red = restrict(inst, keep)
    assert red.k == int(keep.sum())
    # arcs stay sorted by client, then cost, with matching CSR pointers and look-ups
    assert np.all(np.diff(red.cli) >= 0)
    for i in range(red.n):
        lo, hi = int(red.ptr[i]), int(red.ptr[i + 1])
        assert np.all(red.cli[lo:hi] == i)
        assert np.all(np.diff(red.cost[lo:hi]) >= 0)
    kept = np.flatnonzero(keep)
    assert np.array_equal(red.arc_index(red.cli, red.site), np.arange(red.k))
    assert np.array_equal(inst.arc_index(red.cli, red.site), kept)
    # a plan on kept arcs costs the same in both; one on a dropped arc is infeasible there
    res = solve(p, time_limit=60.0, work_budget=2.0, seed=0)
    if res.status not in ("optimal", "feasible"):
        return
    full = evaluate(inst, res.site_of_client, res.open_sites)
    small = evaluate(red, res.site_of_client, res.open_sites)
    served = np.flatnonzero(res.site_of_client >= 0)
    used = inst.arc_index(served, res.site_of_client[served])
    if np.all(keep[used]):
        assert small.feasible
        assert small.objective == full.objective
    else:
        assert not small.feasible


def _complete_problem(n: int, p: int) -> LocationProblem:
    """A capacitated p-median on random points with every client a site (n² arcs)."""
    rng = np.random.default_rng(n + p)
    xy = rng.random((n, 2))
    cli = np.repeat(np.arange(n), n)
    site = np.tile(np.arange(n), n)
    return LocationProblem(
        demand=rng.integers(1, 10, n).astype(np.int64),
        capacity=np.full(n, 10 * n // p, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=np.hypot(*(xy[cli] - xy[site]).T),
        site_status=np.zeros(n, dtype=np.int8),
        max_open=p,
        exact_open=True,
    )


def test_site_search_moves_to_nearest_arcs_only_where_they_are_few() -> None:
    # beyond SMALL_ARCS arcs with many open sites the nearest arcs are a few percent of all
    # arcs: the site search runs there; with few open sites they are most arcs, and below
    # SMALL_ARCS every arc stays
    assert _reduced_search_pays(build_instance(_complete_problem(535, 50)))
    assert _reduced_search_pays(build_instance(_complete_problem(535, 100)))
    assert not _reduced_search_pays(build_instance(_complete_problem(535, 5)))
    assert not _reduced_search_pays(build_instance(_complete_problem(400, 100)))


def test_neighbourhood_mips_are_capped_and_keep_the_plan_feasible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every neighbourhood MIP gets at most LNS_CALL_WORK of work (a hard one cannot take
    # the budget the other neighbourhoods need), and the search only ever improves the plan
    from solver.location import engine, exact
    from solver.location.mip import solve_sub_mip
    from solver.location.work import WorkClock

    prob = _complete_problem(40, 8)
    inst = build_instance(prob)
    s = engine._Search(inst=inst, clock=WorkClock.start(3.0, 600.0), progress=None, seed=0)
    sites = np.zeros(inst.m, dtype=np.bool_)
    sites[np.arange(0, 40, 5)] = True
    plan = s.plan(sites, "test")
    assert plan is not None and s.offer(plan, sites, "test")
    start = s.objective
    limits: list[float] = []
    real = solve_sub_mip

    def spy(*args: object, **kwargs: Any) -> Any:
        limits.append(float(kwargs["work_limit"]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(exact, "solve_sub_mip", spy)
    exact.reduced_lns(s, np.zeros(inst.k), *engine._sub_functions(s), reserve=0.0)
    assert limits and max(limits) <= exact.LNS_CALL_WORK
    assert s.assign is not None and s.open_mask is not None
    ev = evaluate(inst, s.assign, s.open_mask)
    assert ev.feasible and ev.objective == pytest.approx(s.objective)
    assert s.objective <= start


def test_cluster_neighbourhood_frees_every_site_of_nearby_medians() -> None:
    # Gnägi & Baumann's local subproblem: w open sites with all their clients, every open
    # site free to close and closed sites near those clients free to open (no fixed ring);
    # the incumbent stays a solution of it, and solving it never makes the plan worse
    from solver.location import engine, exact
    from solver.location.mip import solve_sub_mip
    from solver.location.work import WorkClock

    prob = _complete_problem(40, 8)
    inst = build_instance(prob)
    s = engine._Search(inst=inst, clock=WorkClock.start(5.0, 600.0), progress=None, seed=0)
    sites = np.zeros(inst.m, dtype=np.bool_)
    sites[np.arange(0, 40, 5)] = True
    plan = s.plan(sites, "test")
    assert plan is not None and s.offer(plan, sites, "test")
    assert s.assign is not None and s.open_mask is not None
    keep = np.ones(inst.k, dtype=np.bool_)
    make_sub, apply = engine._sub_functions(s)
    for nth, w in [(0, 1), (1, 3), (2, 4)]:
        seed_site = int(np.flatnonzero(s.open_mask)[nth])  # a cluster may move its medians
        sub = exact._cluster(s, keep, seed_site, w, make_sub)
        assert sub is not None and sub.fixed_open is None
        open_in = sub.sites[s.open_mask[sub.sites]]
        assert seed_site in open_in and open_in.shape[0] == w
        # every client of the cluster's open sites is free, nobody else
        assert np.array_equal(sub.clients, np.flatnonzero(np.isin(s.assign, open_in)))
        closed = sub.sites.shape[0] - w
        assert 0 < closed <= sub.clients.shape[0]
        # the incumbent's arcs are in it, and only arcs from its clients to its sites
        own = inst.arc_index(sub.clients, s.assign[sub.clients])
        assert np.all(np.isin(own, sub.arcs))
        assert np.all(np.isin(inst.cli[sub.arcs], sub.clients))
        assert np.all(np.isin(inst.site[sub.arcs], sub.sites))
        assert sub.count_lo == sub.count_hi == w  # exactly p open: the cluster keeps w
        before = s.objective
        res, _ = solve_sub_mip(
            inst,
            sub,
            hint_assign=s.assign,
            hint_open=s.open_mask,
            time_limit=60.0,
            node_limit=10_000,
            seed=0,
        )
        assert res is not None and res.objective <= before + 1e-6
        apply(sub, res, "test")
        ev = evaluate(inst, s.assign, s.open_mask)
        assert ev.feasible and s.objective <= before
        assert int(s.open_mask.sum()) == 8


@pytest.mark.parametrize(("n", "n_open"), [(50, 5), (318, 70), (535, 100), (724, 200), (1304, 300)])
def test_lns_levels_alternate_rings_and_growing_clusters(n: int, n_open: int) -> None:
    from solver.location import exact

    levels = exact.lns_levels(n, n_open)
    assert len(set(levels)) == len(levels)
    rings = [lv for lv in levels if not lv[2]]
    clusters = [lv[0] for lv in levels if lv[2]]
    assert rings and clusters
    assert all(w + r <= n_open for w, r, _ in rings)
    assert all(1 <= c <= n_open for c in clusters)
    assert clusters == sorted(clusters)  # clusters grow with the levels
    assert not levels[0][2]  # the cheap ring neighbourhoods come first
    # the first cluster holds about half the clients of the first ring level (or more)
    per_site = n / n_open
    assert clusters[0] == n_open or clusters[0] * per_site >= 0.4 * exact.LNS_CLIENTS
    assert clusters[0] * per_site <= exact.CLUSTER_MAX_CLIENTS


@pytest.mark.parametrize(("n", "n_open"), [(535, 5), (1304, 10), (318, 15)])
def test_no_clusters_where_few_medians_serve_many_clients(n: int, n_open: int) -> None:
    # a cluster of three open sites would hold hundreds of clients with every site free
    from solver.location import exact

    levels = exact.lns_levels(n, n_open)
    assert levels and not any(cluster for _, _, cluster in levels)
    assert levels[0] == (exact.LEVELS[0][0], exact.LEVELS[0][1], False)


def test_a_neighbourhood_tried_without_gain_is_not_solved_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a neighbourhood MIP that ends without gain — here every call is reported as cut by
    # its allowance (not proven) — is skipped while it and its part of the incumbent are
    # unchanged, also in the passes that follow an improvement elsewhere
    from solver.location import engine, exact
    from solver.location.mip import signature
    from solver.location.work import WorkClock

    prob = _complete_problem(40, 8)
    inst = build_instance(prob)
    s = engine._Search(inst=inst, clock=WorkClock.start(20.0, 600.0), progress=None, seed=0)
    sites = np.zeros(inst.m, dtype=np.bool_)
    sites[np.arange(0, 40, 5)] = True
    plan = s.plan(sites, "test")
    assert plan is not None and s.offer(plan, sites, "test")
    start = s.objective
    keys: list[bytes] = []
    real = exact.run_mip

    def unproven(st: Any, sub: Any, **kwargs: Any) -> Any:
        assert st.assign is not None and st.open_mask is not None
        keys.append(signature(sub, st.assign, st.open_mask))
        res = real(st, sub, **kwargs)
        return None if res is None else replace(res, optimal=False)

    monkeypatch.setattr(exact, "run_mip", unproven)
    exact.reduced_lns(s, np.zeros(inst.k), *engine._sub_functions(s), reserve=0.0)
    assert s.objective < start  # some neighbourhood improved, and passes went on after it
    assert s.stats.get("improvements_lns", 0) + s.stats.get("improvements_lns_cluster", 0) >= 1
    assert len(keys) > len(exact.lns_levels(inst.n, 8))
    assert len(set(keys)) == len(keys), "a neighbourhood tried without gain was solved again"
