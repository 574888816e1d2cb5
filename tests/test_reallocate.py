"""Grid-aware reallocation (:mod:`solver.location.reallocate`): every plan it returns keeps
every limit, is never worse, its reported gain is the objective's decrease, it is repeatable,
and it finds the compound moves it is built for (a grid's whole piece, a table trade)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location.engine import LocationProblem, solve
from solver.location.model import build_instance, evaluate
from solver.location.problem import LocationResult
from solver.location.reallocate import (
    RESERVE_MAX_SHARE,
    reallocate,
    reallocate_on_clock,
    reserve_work,
)
from solver.location.reopen import reserve_work as final_reserve
from solver.location.work import WorkClock
from tests.test_location import check_feasible, objective_of
from tests.test_location_decompose import local_problem


def small_problem(
    demand: list[int],
    capacity: list[int],
    arcs: list[tuple[int, int, float]],
    *,
    max_open: int | None = None,
    unit: int | None = None,
    tables: int | None = None,
    group: list[int] | None = None,
    lam: float = 0.0,
) -> LocationProblem:
    """A hand-built problem from its arcs ``(client, site, cost)``."""
    cli, site, cost = zip(*arcs, strict=True)
    return LocationProblem(
        demand=np.array(demand),
        capacity=np.array(capacity),
        arc_client=np.array(cli, dtype=np.int32),
        arc_site=np.array(site, dtype=np.int32),
        arc_cost=np.array(cost, dtype=np.float64),
        site_status=np.zeros(len(capacity), dtype=np.int8),
        max_open=max_open,
        unit_capacity=unit,
        max_units_total=tables,
        group=None if group is None else np.array(group, dtype=np.int32),
        group_split_penalty=lam,
    )


def test_a_grid_piece_moves_whole_when_no_single_building_gains() -> None:
    # grid 0 = clients 0, 1 (at site 0) and 2 (only reaches site 1): split, λ = 50. Moving
    # client 0 or 1 alone to site 1 walks 10 more and keeps the split; moving both (the
    # piece) walks 20 more and removes the split: −30.
    p = small_problem(
        [1, 1, 1],
        [10, 10],
        [(0, 0, 1.0), (0, 1, 11.0), (1, 0, 1.0), (1, 1, 11.0), (2, 1, 1.0)],
        group=[0, 0, 0],
        lam=50.0,
    )
    inst = build_instance(p)
    start = np.array([0, 0, 1], dtype=np.int32)
    open_mask = np.ones(2, dtype=np.bool_)
    assert evaluate(inst, start, open_mask).objective == 53.0
    res = reallocate(inst, start, open_mask, work_limit=1.0)
    assert res.assign.tolist() == [1, 1, 1]
    assert evaluate(inst, res.assign, open_mask).objective == 23.0
    assert res.gain == 30.0
    assert res.applied.get("move", 0) == 1


def test_a_table_trade_pays_for_a_blocked_move() -> None:
    # tables of 10, at most 5 in all, all in use: client 0 (5 at site 0, walks 100) would
    # walk 10 at site 1, whose one table is full (client 1); client 2 (1 at site 2, whose
    # second table holds only it) can move to site 3 for 2 more, freeing that table.
    p = small_problem(
        [5, 10, 1, 10, 5, 5],
        [30, 30, 30, 30],
        [
            (0, 0, 100.0),
            (0, 1, 10.0),
            (1, 1, 1.0),
            (2, 2, 1.0),
            (2, 3, 3.0),
            (3, 2, 1.0),
            (4, 3, 1.0),
            (5, 0, 1.0),
        ],
        unit=10,
        tables=5,
    )
    inst = build_instance(p)
    start = np.array([0, 1, 2, 2, 3, 0], dtype=np.int32)
    open_mask = np.ones(4, dtype=np.bool_)
    before = evaluate(inst, start, open_mask)
    assert before.feasible and int(before.units.sum()) == 5
    res = reallocate(inst, start, open_mask, work_limit=1.0)
    after = evaluate(inst, res.assign, open_mask)
    assert after.feasible
    assert res.assign.tolist() == [1, 1, 3, 2, 3, 0]
    assert after.objective == before.objective - 88.0
    assert int(after.units.sum()) <= 5


def start_plan(p: LocationProblem, seed: int) -> LocationResult:
    """A rough first plan (the engine alone on a small work budget)."""
    return solve(p, time_limit=60.0, work_budget=0.05, seed=seed, decompose=False)


def check_from_raw(
    p: LocationProblem, assign: np.ndarray, open_mask: np.ndarray, after: Any
) -> None:
    """The plan checked from the raw problem (arcs, capacities, tables, open sites) and its
    objective recounted from it agrees with ``after`` (an evaluation)."""
    as_result = LocationResult(
        site_of_client=assign,
        open_sites=open_mask.copy(),
        units=after.units,
        load=after.load,
        objective=after.objective,
        assignment_cost=after.assignment_cost,
        lower_bound=-np.inf,
        gap=np.inf,
        status="feasible",
    )
    check_feasible(p, as_result)
    assert abs(objective_of(p, assign) - after.objective) <= 1e-6 * max(1.0, after.objective)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(0, 3))
def test_never_worse_feasible_and_repeatable(seed: int, options: int) -> None:
    p = local_problem(seed, 90, 14, options=options)
    first = start_plan(p, seed)
    if first.status not in ("optimal", "feasible"):
        return
    inst = build_instance(p)
    before = evaluate(inst, first.site_of_client, first.open_sites)
    res = reallocate(inst, first.site_of_client, first.open_sites, work_limit=0.5)
    after = evaluate(inst, res.assign, first.open_sites)
    assert after.feasible, after.reason
    assert after.objective <= before.objective + 1e-9
    assert abs((before.objective - after.objective) - res.gain) <= 1e-6 * max(1.0, before.objective)
    # the same plan and allowance give the same result
    again = reallocate(inst, first.site_of_client, first.open_sites, work_limit=0.5)
    assert np.array_equal(again.assign, res.assign) and again.work == res.work
    check_from_raw(p, res.assign, first.open_sites, after)  # open sites unchanged


def test_work_limit_is_respected_and_charged() -> None:
    p = local_problem(7, 300, 30, options=2)
    first = start_plan(p, 7)
    inst = build_instance(p)
    none = reallocate(inst, first.site_of_client, first.open_sites, work_limit=0.0)
    assert none.work == 0.0 and none.rounds == 0
    assert np.array_equal(none.assign, first.site_of_client)
    clock = WorkClock.start(100.0, 600.0)
    limit = 1e-3
    moved = reallocate_on_clock(inst, first.site_of_client, first.open_sites, clock, limit)
    assert 0.0 < clock.by_phase["reallocate"] <= limit + 1e-4  # + the clock's fixed step
    # the clock also measures what the charged steps cost on this machine, by the same phases
    assert set(clock.cpu_by_phase) == set(clock.by_phase)
    assert all(seconds >= 0.0 for seconds in clock.cpu_by_phase.values())
    assert evaluate(inst, moved, first.open_sites).feasible


def test_reserve_covers_rounds_within_a_share_of_the_budget() -> None:
    small, large = reserve_work(10_000, 30.0), reserve_work(1_000_000, 30.0)
    assert 0.0 < small < large <= RESERVE_MAX_SHARE * 30.0
    assert reserve_work(10**9, 30.0) == RESERVE_MAX_SHARE * 30.0
    # what it keeps pays for the rounds it is meant for on the plans that need them
    p = local_problem(11, 300, 30, options=2)
    first = start_plan(p, 11)
    inst = build_instance(p)
    res = reallocate(
        inst, first.site_of_client, first.open_sites, work_limit=reserve_work(inst.k, 1e9)
    )
    assert res.rounds > 0 and res.work <= reserve_work(inst.k, 1e9)


def test_the_engine_ends_with_it_within_its_budget() -> None:
    """A call that owns its final plan (``decompose``) with grids ends with the reallocation
    and site moves (:func:`solver.location.reopen.improve_on_clock`, as a decomposed
    district does) on work kept from the start, so the whole stays within the budget; the
    decomposition's own calls (``decompose=False``) leave it to their caller."""
    p = local_problem(5, 300, 30, options=2)
    budget = 0.5
    owned = solve(p, time_limit=60.0, work_budget=budget, seed=5)
    assert owned.status in ("optimal", "feasible")
    check_feasible(p, owned)
    assert owned.stats["work_reallocate"] > 0.0
    assert owned.stats["work_seconds"] <= budget + 0.05
    inner = solve(p, time_limit=60.0, work_budget=budget, seed=5, decompose=False)
    assert "work_reallocate" not in inner.stats and "work_site_moves" not in inner.stats
    # what it gets is kept out of the search: the search alone spends the budget less it
    final = owned.stats["work_reallocate"] + owned.stats.get("work_site_moves", 0.0)
    reserve = final_reserve(build_instance(p).k, budget)
    assert owned.stats["work_seconds"] - final <= budget - reserve + 0.05
