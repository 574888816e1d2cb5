"""Site and table search by the transportation cost with each site's tables
(:mod:`solver.location.table_search`)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from solver.location.assign import flow_cost
from solver.location.engine import _plan_for_sites
from solver.location.model import Instance, build_instance, evaluate
from solver.location.problem import LocationProblem
from solver.location.search import site_neighbours
from solver.location.table_search import (
    TableSearch,
    plan_for_tables,
    seats,
    table_site_search,
)
from tests.test_location_decompose import local_problem


def _line(client_x: list[float], site_x: list[float], units_total: int, **kw: object) -> Instance:
    """Clients and sites on a line, every pair an arc at its distance, tables of two seats."""
    cx, sx = np.asarray(client_x), np.asarray(site_x)
    cli, site = np.meshgrid(np.arange(cx.shape[0]), np.arange(sx.shape[0]), indexing="ij")
    cli, site = cli.ravel(), site.ravel()
    p = LocationProblem(
        demand=np.ones(cx.shape[0], dtype=np.int64),
        capacity=np.full(sx.shape[0], 10, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=np.abs(cx[cli] - sx[site]),
        site_status=np.zeros(sx.shape[0], dtype=np.int8),
        unserved_cost=np.full(cx.shape[0], 1000.0),
        unit_capacity=2,
        max_units_total=units_total,
        **kw,  # type: ignore[arg-type]
    )
    return build_instance(p)


def _search(
    inst: Instance, open_mask: NDArray[np.bool_], tables: NDArray[np.int64], flows: int = 10_000
) -> TableSearch:
    count = [0]

    def on_flow() -> None:
        count[0] += 1

    res = table_site_search(
        inst,
        open_mask,
        tables.astype(np.int64),
        site_neighbours(inst),
        np.random.default_rng(0),
        keep_going=lambda: count[0] < flows,
        on_flow=on_flow,
    )
    assert res.flows == count[0]
    return res


def test_seats_are_the_tables_within_capacity() -> None:
    inst = _line([0.0], [0.0, 5.0], units_total=10)
    assert seats(inst, np.array([2, 7])).tolist() == [4, 10]


def test_a_table_moves_to_where_its_seats_save_walking() -> None:
    # four residents at site 1, one at site 0; site 0 holds two of the three tables
    inst = _line([10.0, 10.0, 10.0, 10.0, 0.0], [0.0, 10.0], units_total=3)
    res = _search(inst, np.array([True, True]), np.array([2, 1]))
    assert res.start_cost == pytest.approx(20.0)  # two residents walk 10 to site 0
    assert res.tables.tolist() == [1, 2]
    assert res.cost == pytest.approx(0.0)
    assert res.moves >= 1


def test_a_site_swap_carries_its_tables() -> None:
    # one site may open: the far one holds both tables, the near one is closed
    inst = _line([10.0, 10.0, 10.0, 10.0], [0.0, 10.0], units_total=2, max_open=1)
    res = _search(inst, np.array([True, False]), np.array([2, 0]))
    assert res.start_cost == pytest.approx(40.0)
    assert res.open_mask.tolist() == [False, True]
    assert res.tables.tolist() == [0, 2]
    assert res.cost == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_never_worse_within_the_limits_and_repeatable(seed: int) -> None:
    p = local_problem(seed, 120, 30, options=1)
    inst = build_instance(p)
    open_mask = inst.usable.copy()
    rng = np.random.default_rng(seed)
    free = np.flatnonzero(open_mask & (inst.status == 0))
    open_mask[rng.choice(free, size=free.shape[0] // 3, replace=False)] = False
    plan = _plan_for_sites(inst, open_mask)
    if plan is None:
        pytest.skip("no plan for the start set")
    ev = evaluate(inst, plan, open_mask)
    assert ev.feasible
    res = _search(inst, open_mask, ev.units, flows=300)
    assert res.cost <= res.start_cost
    assert res.cost == pytest.approx(flow_cost(inst, res.open_mask, seats(inst, res.tables)))
    assert int(res.tables.sum()) <= inst.units_total
    assert np.all(res.tables <= inst.units_max)
    assert np.all(res.tables[~res.open_mask] == 0)
    assert int(res.open_mask.sum()) == int(open_mask.sum())
    assert np.all(res.open_mask[inst.required])
    assert not np.any(res.open_mask & ~inst.usable)
    again = _search(inst, open_mask, ev.units, flows=300)
    assert np.array_equal(again.open_mask, res.open_mask)
    assert np.array_equal(again.tables, res.tables)
    # its plan keeps every limit
    found = plan_for_tables(inst, res.open_mask, res.tables)
    if found is not None:
        check = evaluate(inst, found, res.open_mask)
        assert check.feasible, check.reason


def test_the_plan_follows_the_tables() -> None:
    inst = _line([10.0, 10.0, 10.0, 10.0, 0.0], [0.0, 10.0], units_total=3)
    plan = plan_for_tables(inst, np.array([True, True]), np.array([1, 2], dtype=np.int64))
    assert plan is not None
    assert plan.tolist() == [1, 1, 1, 1, 0]
    ev = evaluate(inst, plan, np.array([True, True]))
    assert ev.feasible and ev.objective == pytest.approx(0.0)
