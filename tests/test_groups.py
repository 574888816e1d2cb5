"""Grid consolidation (:mod:`solver.location.groups`): a split grid's stray buildings join a
site the grid already uses when that walks less than λ, within capacities and the table
limit, and the plan is never worse."""

from __future__ import annotations

import numpy as np

from solver.location.groups import consolidate_groups
from solver.location.model import build_instance, evaluate
from tests.test_reallocate import small_problem

ARCS = [(0, 0, 1.0), (1, 0, 1.0), (2, 0, 9.0), (2, 1, 1.0)]


def test_a_split_grid_is_merged_when_cheaper_than_lambda() -> None:
    # grid 0: clients 0, 1 at site 0 and client 2 at site 1; moving client 2 to site 0 walks
    # 8 more and removes the split (λ = 20)
    inst = build_instance(small_problem([1, 1, 1], [10, 10], ARCS, group=[0, 0, 0], lam=20.0))
    start = np.array([0, 0, 1], dtype=np.int32)
    open_mask = np.ones(2, dtype=np.bool_)
    merged = consolidate_groups(inst, start, open_mask)
    assert merged.tolist() == [0, 0, 0]
    assert evaluate(inst, merged, open_mask).objective == 11.0 < 23.0


def test_no_merge_when_walking_costs_more_than_lambda_or_capacity_lacks() -> None:
    start = np.array([0, 0, 1], dtype=np.int32)
    open_mask = np.ones(2, dtype=np.bool_)
    dear = build_instance(small_problem([1, 1, 1], [10, 10], ARCS, group=[0, 0, 0], lam=5.0))
    assert consolidate_groups(dear, start, open_mask).tolist() == [0, 0, 1]
    full = build_instance(small_problem([1, 1, 1], [2, 10], ARCS, group=[0, 0, 0], lam=20.0))
    assert consolidate_groups(full, start, open_mask).tolist() == [0, 0, 1]
    # tables of 2, 2 in all, both full (client 3 of another grid keeps site 1's): merging
    # would need a second table at site 0
    arcs = [*ARCS, (3, 1, 1.0)]
    tight = build_instance(
        small_problem([1, 1, 1, 1], [4, 4], arcs, unit=2, tables=2, group=[0, 0, 0, 1], lam=20.0)
    )
    start4 = np.array([0, 0, 1, 1], dtype=np.int32)
    assert evaluate(tight, start4, open_mask).feasible
    assert consolidate_groups(tight, start4, open_mask).tolist() == [0, 0, 1, 1]
    roomy = build_instance(
        small_problem([1, 1, 1, 1], [4, 4], arcs, unit=2, tables=3, group=[0, 0, 0, 1], lam=20.0)
    )
    assert consolidate_groups(roomy, start4, open_mask).tolist() == [0, 0, 0, 1]
