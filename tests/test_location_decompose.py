"""Regional fix-and-optimise (:mod:`solver.location.decompose`): partitions, whole-problem
feasibility of the plans (never worse than the engine's first plan), a valid bound, repeatable
results, the regions' limits and order, region plans judged on the region as a whole
evaluation would, regions not re-solved without change, the passes' region sizes and the
rule for the region size.

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
from solver.location.model import BIG_UNITS, build_instance, evaluate, planned_result
from solver.location.problem import LocationResult
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
    monkeypatch.setattr(decompose, "MIN_REGION_ARCS", 40)
    monkeypatch.setattr(decompose, "MAX_REGION_ARCS", 40)
    monkeypatch.setattr(decompose, "LOCAL_ARCS", 40)
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
    monkeypatch.setattr(decompose, "LOCAL_ARCS", 40)
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
    # the regions only keep improvements: never worse than the engine's first plan
    assert r.objective <= r.stats["decompose_first_objective"] + 1e-9 * max(1.0, r.objective)
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


def _engine_plan(p: LocationProblem) -> decompose._Whole:
    """The whole problem's engine plan as the decomposition's incumbent (a clock of 10 units)."""
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0, decompose=False)
    assert r.status in ("optimal", "feasible")
    inst = build_instance(p)
    whole = decompose._Whole(
        inst,
        WorkClock.start(10.0, 600.0),
        r.site_of_client.astype(np.int64),
        r.open_sites.copy(),
        r.objective,
    )
    return whole


@pytest.mark.parametrize("seed", [4, 11])
def test_regions_split_the_plan_and_leave_the_global_slack(seed: int) -> None:
    p = local_problem(seed, 150, 20, options=3)
    whole = _engine_plan(p)
    inst = whole.inst
    part = decompose.partition(inst, 4)
    regions = decompose._regions(whole, part)
    ev = evaluate(inst, whole.assign.astype(np.int32), whole.open_mask)
    seen = np.zeros(inst.n, dtype=np.int64)
    for reg in regions:
        seen[reg.clients] += 1
        open_in = int(np.count_nonzero(whole.open_mask[reg.sites]))
        # a region may open what the rest leaves of the open-site and table limits, no more
        if inst.p_max < int(inst.usable.sum()):
            assert reg.p_hi == open_in + inst.p_max - ev.n_open
        if inst.unit > 0 and inst.units_total < BIG_UNITS:
            assert reg.units == int(ev.units[reg.sites].sum()) + inst.units_total - int(
                ev.units.sum()
            )
        at = whole.assign[reg.clients]
        assert np.all(part.site_region[at[at >= 0]] == part.site_region[reg.sites[0]])
    # every served client is re-solved by exactly one region: the one of its site
    assert np.all(seen[whole.assign >= 0] == 1)
    assert len({reg.key for reg in regions}) == part.count


def test_regions_solved_without_gain_are_not_solved_again() -> None:
    p = local_problem(7, 150, 20, options=1)
    whole = _engine_plan(p)
    part = decompose.partition(whole.inst, 4)
    calls: list[int] = []

    def same_plan(sub: LocationProblem, **kw: object) -> LocationResult:
        """A sub-solver that returns its start unchanged (so no region ever gains)."""
        calls.append(sub.demand.shape[0])
        start = kw["start"]
        assert isinstance(start, tuple)
        assign, open_mask = np.asarray(start[0], np.int32), np.asarray(start[1], np.bool_)
        ev = evaluate(build_instance(sub), assign, open_mask)
        assert ev.feasible  # the region's limits admit the incumbent's part of the plan
        return planned_result(ev, assign, open_mask, -math.inf, {"work_seconds": 0.1})

    solved: set[bytes] = set()
    before = whole.objective
    assert decompose._repair(p, whole, part, 1.0, same_plan, 0, solved) == 0
    assert whole.objective == before
    first = len(calls)
    assert first == len(solved) >= 1
    # unchanged plan: a second pass over the same regions solves nothing
    assert decompose._repair(p, whole, part, 1.0, same_plan, 1, solved) == 0
    assert len(calls) == first


@pytest.mark.usefixtures("local_thresholds")
def test_passes_cycle_through_region_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompose, "PASS_WORK_PER_ARC", 0.03 * 2 * BUDGET / 600)
    monkeypatch.setattr(decompose, "SCALES", (1.0, 0.5))
    counts: list[tuple[int, bool]] = []
    plain = decompose.partition

    def recorded(
        inst: object, regions: int, *, offset: bool = False, graph: object = None
    ) -> decompose.Partition:
        counts.append((regions, offset))
        return plain(inst, regions, offset=offset, graph=graph)  # type: ignore[arg-type]

    monkeypatch.setattr(decompose, "partition", recorded)
    p = local_problem(5, 160, 24, options=2)
    r = solve(p, time_limit=60.0, work_budget=2 * BUDGET, seed=0)
    check_feasible(p, r)
    k = build_instance(p).k
    base = math.ceil(k / 40)
    small = max(2, math.ceil(k / (40 * 0.5)))
    assert counts[0] == (base, False)  # the partition that says whether to decompose
    assert (base, True) in counts and (small, True) in counts and (small, False) in counts
    assert r.stats["decompose_passes"] >= 4


@pytest.mark.usefixtures("local_thresholds")
def test_no_region_pass_when_the_budget_cannot_reach_every_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass costs more than the work left: no region is solved, the final rounds get the
    work, and the plan is still checked and never worse than the engine's."""
    p = local_problem(5, 160, 24, options=2)
    k = build_instance(p).k
    monkeypatch.setattr(decompose, "PASS_WORK_PER_ARC", 2 * BUDGET / k)
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    check_feasible(p, r)
    assert r.stats["decompose_whole_pass"] == 0.0
    assert r.stats["decompose_passes"] == 0 and r.stats["decompose_solves"] == 0
    assert "work_regions" not in r.stats
    assert r.objective <= r.stats["decompose_first_objective"] + 1e-9 * max(1.0, r.objective)
    assert r.stats["work_seconds"] <= BUDGET * 1.05
    # with the usual pass work the same instance is solved by regions
    monkeypatch.undo()
    monkeypatch.setattr(decompose, "DECOMPOSE_ARCS", 0)
    monkeypatch.setattr(decompose, "MIN_REGION_ARCS", 40)
    monkeypatch.setattr(decompose, "MAX_REGION_ARCS", 40)
    monkeypatch.setattr(decompose, "LOCAL_ARCS", 40)
    monkeypatch.setattr(decompose, "MAX_CUT_SHARE", 1.0)
    again = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    assert again.stats["decompose_whole_pass"] == 1.0 and again.stats["decompose_solves"] > 0


def test_region_size_grows_with_the_engines_work_per_arc_within_its_bounds() -> None:
    sizes = [decompose.region_arcs(10**6, w) for w in (0.0, 5.0, 15.0, 30.0, 60.0, 600.0)]
    assert sizes == sorted(sizes)
    assert sizes[0] == decompose.MIN_REGION_ARCS and sizes[-1] == decompose.MAX_REGION_ARCS
    # between the bounds: proportional to the work per arc
    mid = (decompose.MIN_REGION_ARCS + decompose.MAX_REGION_ARCS) / 2
    w = mid / decompose.REGION_ARCS_PER_WORK * 10**6
    assert decompose.region_arcs(10**6, w) == pytest.approx(mid, abs=1)
    # the same work on more arcs: smaller regions
    assert decompose.region_arcs(4 * 10**5, 10.0) > decompose.region_arcs(2 * 10**6, 10.0)


def test_partition_of_a_given_site_graph_is_the_same_partition() -> None:
    inst = build_instance(local_problem(6, 300, 40, options=0))
    first = decompose.partition(inst, 3)
    assert first.graph is not None
    for count, offset in ((5, True), (4, False)):
        fresh = decompose.partition(inst, count, offset=offset)
        reused = decompose.partition(inst, count, offset=offset, graph=first.graph)
        assert np.array_equal(fresh.site_region, reused.site_region)
        assert np.array_equal(fresh.client_region, reused.client_region)
        assert fresh.cut_arcs == reused.cut_arcs


def test_room_is_the_walk_beyond_the_cheapest_arcs_per_region() -> None:
    p = local_problem(3, 150, 20, options=0)
    whole = _engine_plan(p)
    inst = whole.inst
    part = decompose.partition(inst, 4)
    room = decompose._room(whole, part)
    served = np.flatnonzero(whole.assign >= 0)
    now = inst.cost[inst.arc_index(served, whole.assign[served])]
    beyond = now - inst.cost[inst.ptr[served]]
    # the regions share out exactly the served clients' walk beyond their cheapest arcs (and
    # the unserved cost of unserved clients that have an arc)
    has = inst.ptr[1:] > inst.ptr[:-1]
    uns = np.flatnonzero((whole.assign < 0) & has)
    extra = float((inst.unserved[uns] - inst.cost[inst.ptr[uns]]).sum())
    assert room.shape == (part.count,)
    assert np.all(room >= -1e-9)
    assert room.sum() == pytest.approx(float(beyond.sum()) + extra)
    owner = part.site_region[whole.assign[served]]
    for r in range(part.count):
        assert room[r] >= float(beyond[owner == r].sum()) - 1e-6


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(1, 3))
def test_region_plans_are_checked_and_counted_like_whole_plans(seed: int, options: int) -> None:
    """A region's new plan is judged on the region alone (its loads, the whole plan's open
    and table counts, the grids it touches); what it keeps must be what a whole evaluation
    says, and what breaks a global limit must be refused."""
    p = local_problem(seed, 150, 20, options=options)
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0, decompose=False)
    if r.status not in ("optimal", "feasible"):
        return
    inst = build_instance(p)
    whole = decompose._Whole(
        inst,
        WorkClock.start(10.0, 600.0),
        r.site_of_client.astype(np.int64),
        r.open_sites.copy(),
        r.objective,
    )
    part = decompose.partition(inst, 3)
    rng = np.random.default_rng(seed)
    for reg in decompose._regions(whole, part):
        if reg.clients.shape[0] == 0:
            continue
        sub = decompose.sub_problem(
            p, inst, reg.clients, reg.sites, reg.p_hi, max(reg.p_lo, 0), reg.units
        )
        res = solve(sub.problem, time_limit=60.0, work_budget=0.3, seed=1, decompose=False)
        for site_of, opened in (
            (res.site_of_client, res.open_sites),
            # a region plan that ignores the limits: every usable site open, each client at
            # a random site it reaches (or unserved)
            (_random_plan(sub.problem, rng), build_instance(sub.problem).usable.copy()),
        ):
            if not np.all(np.isfinite(np.asarray(site_of))):
                continue
            before = (whole.assign.copy(), whole.open_mask.copy(), whole.objective)
            assign = whole.assign.copy()
            assign[reg.clients] = np.where(site_of >= 0, reg.sites[np.maximum(site_of, 0)], -1)
            open_mask = whole.open_mask.copy()
            open_mask[reg.sites] = opened
            ev = evaluate(inst, assign.astype(np.int32), open_mask)
            kept = whole.offer_region(reg.clients, reg.sites, np.asarray(site_of), opened)
            assert kept == (ev.feasible and ev.objective < before[2] - 1e-9 * max(1.0, before[2]))
            if kept:
                assert whole.objective == pytest.approx(ev.objective, rel=1e-9)
                assert np.array_equal(whole.assign, assign)
            else:
                assert np.array_equal(whole.assign, before[0]) and whole.objective == before[2]
            # what the incumbent tracks is what a whole evaluation gives
            now = evaluate(inst, whole.assign.astype(np.int32), whole.open_mask)
            assert now.feasible
            assert np.array_equal(whole.units, now.units) and whole.n_open == now.n_open
            assert np.array_equal(whole.load, now.load)


def _random_plan(p: LocationProblem, rng: np.random.Generator) -> np.ndarray:
    """Each client at a random site it has an arc to, or unserved (−1)."""
    site = np.full(p.demand.shape[0], -1, dtype=np.int64)
    for i in range(p.demand.shape[0]):
        mine = np.asarray(p.arc_site)[np.asarray(p.arc_client) == i]
        if mine.shape[0] and rng.random() < 0.9:
            site[i] = int(rng.choice(mine))
    return site


def test_engine_work_grows_with_the_arcs_within_its_shares() -> None:
    budget = 30.0
    works = [decompose.engine_work(k, budget) for k in (0, 10**5, 270_000, 10**6, 10**8)]
    assert works == sorted(works)
    assert works[0] == pytest.approx(decompose.ENGINE_SEARCH_SHARE * budget)
    assert works[-1] == pytest.approx(decompose.ENGINE_MAX_SHARE * budget)
    # below the cap: the construction per arc on top of the neighbourhoods' share
    k = 100_000
    assert decompose.engine_work(k, budget) < decompose.ENGINE_MAX_SHARE * budget
    assert decompose.engine_work(k, budget) == pytest.approx(
        decompose.ENGINE_PER_ARC * k + decompose.ENGINE_SEARCH_SHARE * budget
    )
    # twice the budget: the same construction, twice the neighbourhoods
    assert decompose.engine_work(k, 2 * budget) - decompose.engine_work(k, budget) == (
        pytest.approx(decompose.ENGINE_SEARCH_SHARE * budget)
    )


@pytest.mark.usefixtures("local_thresholds")
def test_a_region_plan_that_breaks_a_limit_never_reaches_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even if a region's check let through a plan that opens too many sites, the whole plan
    is evaluated at the end and the engine's first plan returned instead."""

    def careless(self: decompose._Whole, clients: object, sites: object, *_: object) -> bool:
        self.open_mask = self.inst.usable.copy()  # every usable site: more than max_open
        return True

    monkeypatch.setattr(decompose._Whole, "offer_region", careless)
    p = local_problem(11, 150, 20, options=3)
    assert p.max_open is not None and p.max_open < int((np.asarray(p.site_status) >= 0).sum())
    r = solve(p, time_limit=60.0, work_budget=BUDGET, seed=0)
    check_feasible(p, r)
    assert r.stats["decompose_rejected"] == 1.0
    assert r.objective == pytest.approx(r.stats["decompose_first_objective"])
