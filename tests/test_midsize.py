"""Grid districts solved whole (mid-size districts, not decomposed into regions).

Where their plan uses every table (:func:`solver.location.engine._tables_bind`) the search
skips the flow-scored site search (its transportation cost gives every open site its full
capacity) and keeps a share of the work for the table search after the final step
(:func:`solver.location.engine._after_final_step`); work the final step leaves goes back to
the neighbourhoods (:func:`solver.location.engine._rest_to_neighbourhoods`). With spare
tables, and in the regions of a decomposed district (``decompose=False``), the flow-scored
site search runs as before.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from solver.location import engine
from solver.location.engine import (
    _after_final_step,
    _plan_for_sites,
    _rest_to_neighbourhoods,
    _Search,
    solve,
)
from solver.location.model import build_instance, evaluate
from solver.location.problem import LocationProblem
from solver.location.work import WorkClock
from tests.test_location import check_feasible
from tests.test_location_decompose import local_problem

BUDGET = 3.0


def _grid_problem(seed: int, spare: int = 3) -> LocationProblem:
    """A local instance with grids, sites of ten tables and tables for the demand plus
    ``spare`` tables (with none spare, the tables and not the sites' capacity bind)."""
    p = local_problem(seed, 120, 30, options=2)
    assert p.group is not None and p.unit_capacity is not None
    need = math.ceil(int(p.demand.sum()) / p.unit_capacity)
    cap = np.full(p.capacity.shape[0], 10 * p.unit_capacity, dtype=np.int64)
    return replace(p, capacity=cap, max_units_total=need + spare)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_where_every_table_is_used_the_table_search_replaces_the_site_search(seed: int) -> None:
    p = _grid_problem(seed, spare=0)
    res = solve(p, time_limit=60.0, work_budget=BUDGET, seed=seed)
    assert res.status in ("optimal", "feasible")
    check_feasible(p, res)
    assert not res.stats.get("wall_clock_bound")
    assert "decompose_regions" not in res.stats  # solved whole
    assert res.stats["tables_bind"] == 1.0
    assert "work_site_search" not in res.stats
    assert res.stats["table_search_flows"] >= 1
    assert res.stats["work_seconds"] <= BUDGET + engine.LNS_WORK + 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_spare_tables_or_in_a_region_the_site_search_runs(seed: int) -> None:
    p = _grid_problem(seed, spare=0)
    region = solve(p, time_limit=60.0, work_budget=BUDGET, seed=seed, decompose=False)
    check_feasible(p, region)
    assert "tables_bind" not in region.stats
    assert region.stats["work_site_search"] > 0
    ample = _grid_problem(seed, spare=10 * p.capacity.shape[0])
    res = solve(ample, time_limit=60.0, work_budget=BUDGET, seed=seed)
    check_feasible(ample, res)
    assert res.stats["tables_bind"] == 0.0
    assert res.stats["work_site_search"] > 0
    assert "table_search_flows" not in res.stats


def _started(p: LocationProblem, seed: int, budget: float, owns: bool) -> _Search:
    """A search state holding the plan of the largest sites, with ``budget`` of work."""
    inst = build_instance(p)
    st = _Search(
        inst=inst,
        clock=WorkClock.start(budget, 60.0),
        progress=None,
        seed=seed,
        owns_grid_plan=owns,
    )
    order = np.argsort(-inst.cap * inst.usable, kind="stable")
    open_mask = np.zeros(inst.m, dtype=np.bool_)
    open_mask[inst.required] = True
    for j in order.tolist():
        if int(open_mask.sum()) >= inst.p_max or not inst.usable[j]:
            continue
        open_mask[j] = True
    plan = _plan_for_sites(inst, open_mask)
    assert plan is not None
    assert st.offer(plan, open_mask, "start")
    return st


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_rest_never_worsens_the_plan_and_stays_in_its_budget(seed: int) -> None:
    p = _grid_problem(seed)
    st = _started(p, seed, BUDGET, owns=True)
    before = st.objective
    spent = st.clock.spent
    _rest_to_neighbourhoods(st)
    assert st.assign is not None and st.open_mask is not None
    ev = evaluate(st.inst, st.assign, st.open_mask)
    assert ev.feasible, ev.reason
    assert ev.objective == pytest.approx(st.objective)
    assert st.objective <= before
    assert st.clock.spent > spent  # it used the work left
    assert st.stats["rest_lns_subproblems"] >= 1  # on the neighbourhoods
    # a neighbourhood may end a little past the budget (its CP-SAT call is capped by the
    # work left, its arcs charged on top); never by more than one call's cap
    assert st.clock.spent <= BUDGET + engine.LNS_WORK + 1.0
    # the same state and seed give the same plan (work clock, no timing)
    again = _started(p, seed, BUDGET, owns=True)
    _rest_to_neighbourhoods(again)
    assert again.objective == st.objective
    assert again.assign is not None
    assert np.array_equal(again.assign, st.assign)


def test_the_rest_is_left_alone_without_a_grid_plan_of_its_own() -> None:
    p = _grid_problem(0)
    st = _started(p, 0, BUDGET, owns=False)
    before, spent = st.objective, st.clock.spent
    assert st.assign is not None
    plan = st.assign.copy()
    _rest_to_neighbourhoods(st)
    assert st.objective == before and st.clock.spent == spent
    assert np.array_equal(st.assign, plan)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_table_search_after_the_final_step_never_worsens_and_is_repeatable(
    seed: int,
) -> None:
    p = _grid_problem(seed, spare=0)

    def run() -> _Search:
        kept = BUDGET / 3
        st = _started(p, seed, BUDGET - kept, owns=True)
        st.table_work = kept
        return st

    st = run()
    before = st.objective
    _after_final_step(st)
    assert st.table_work == 0.0
    assert st.clock.budget == pytest.approx(BUDGET)
    assert st.assign is not None and st.open_mask is not None
    ev = evaluate(st.inst, st.assign, st.open_mask)
    assert ev.feasible, ev.reason
    assert st.objective <= before
    assert st.stats["table_search_flows"] >= 1
    assert st.clock.spent <= BUDGET + engine.LNS_WORK + 1.0
    again = run()
    _after_final_step(again)
    assert again.objective == st.objective
    assert again.assign is not None and np.array_equal(again.assign, st.assign)
