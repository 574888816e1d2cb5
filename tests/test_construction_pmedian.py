"""The capacity-ignoring p-median interchange (:mod:`solver.location.pmedian`).

It must end in a swap-local optimum of the capacity-ignoring cost whatever the number of free
pairs per round, keep the required and closed sites as they are, value a free pair by its
exact cost change when its sites share no client, and reach distant moves in fewer rounds
when it offers several free pairs per round (the whole district's construction,
:data:`solver.location.engine.PMEDIAN_FREE_PAIRS`).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from solver.location.model import Instance, build_instance
from solver.location.pmedian import (
    _fallback,
    _free_pairs,
    _nearest_two,
    pmedian_cost,
    pmedian_search,
)
from solver.location.problem import LocationProblem
from tests.test_location_decompose import local_problem

B = NDArray[np.bool_]


def _start(inst: Instance, count: int, seed: int) -> B:
    """The required sites plus random movable usable ones, ``count`` in all."""
    rng = np.random.default_rng(seed)
    mask = inst.required.copy()
    free = np.flatnonzero(inst.usable & (inst.status == 0))
    need = max(0, count - int(mask.sum()))
    mask[rng.choice(free, size=min(need, free.shape[0]), replace=False)] = True
    return mask


def _swapped(mask: B, k: int, j: int) -> B:
    out = mask.copy()
    out[k], out[j] = True, False
    return out


@pytest.mark.parametrize("free_pairs", [1, 16])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_interchange_ends_in_a_swap_local_optimum(seed: int, free_pairs: int) -> None:
    inst = build_instance(local_problem(seed, 70, 16, options=0))
    start = _start(inst, 6, seed)
    sites = pmedian_search(inst, start, keep_going=lambda: True, free_pairs=free_pairs)
    assert int(sites.sum()) == int(start.sum())
    assert np.all(sites[inst.required])
    assert not np.any(sites & ~inst.usable)
    # sites that may not move keep their state
    fixed = inst.status != 0
    assert np.array_equal(sites[fixed], start[fixed])
    cost = pmedian_cost(inst, sites)
    assert cost <= pmedian_cost(inst, start) + 1e-9
    tol = 1e-9 * max(1.0, cost)
    movable = inst.status == 0
    for k in np.flatnonzero(inst.usable & movable & ~sites):
        for j in np.flatnonzero(sites & movable):
            assert pmedian_cost(inst, _swapped(sites, int(k), int(j))) >= cost - tol


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_free_pair_is_valued_by_its_exact_change_or_below(seed: int) -> None:
    inst = build_instance(local_problem(seed, 90, 24, options=0, radius=12.0))
    mask = _start(inst, 8, seed)
    fb = _fallback(inst)
    d1, s1, d2 = _nearest_two(inst, mask, fb)
    m = inst.m
    gain = np.bincount(inst.site, weights=np.maximum(0.0, d1[inst.cli] - inst.cost), minlength=m)
    served = s1 >= 0
    loss = np.bincount(s1[served], weights=(d2 - d1)[served], minlength=m)
    movable = inst.status == 0
    pairs = _free_pairs(gain, loss, inst.usable & movable & ~mask, mask & movable, 6, -np.inf)
    assert 1 <= len(pairs) <= 6
    before = pmedian_cost(inst, mask)
    exact_seen = 0
    for value, k, j in pairs:
        change = before - pmedian_cost(inst, _swapped(mask, k, j))
        assert value <= change + 1e-6 * max(1.0, before)
        shared = np.intersect1d(inst.cli[inst.site == k], inst.cli[inst.site == j])
        if shared.shape[0] == 0:
            exact_seen += 1
            assert value == pytest.approx(change, rel=1e-9, abs=1e-6)
    assert exact_seen >= 1
    # the largest gains paired in order with the smallest losses
    assert np.all(np.diff(gain[[k for _, k, _ in pairs]]) <= 0)
    assert np.all(np.diff(loss[[j for _, _, j in pairs]]) >= 0)


def _clusters(count: int) -> tuple[Instance, B]:
    """``count`` clusters far apart (no arc between them), three sites each; the start opens
    two sites in each of the first half and none in the second half, so every improving move
    opens a site in an empty cluster and closes one of a doubled cluster: a free pair."""
    rng = np.random.default_rng(7)
    per = 5
    cxy = np.array([[1000.0 * c, 0.0] for c in range(count)])
    xy = np.repeat(cxy, per, axis=0) + rng.uniform(-5, 5, size=(count * per, 2))
    sxy = np.repeat(cxy, 3, axis=0) + rng.uniform(-5, 5, size=(count * 3, 2))
    dist = np.sqrt(((xy[:, None] - sxy[None]) ** 2).sum(-1))
    cli, site = np.nonzero(dist < 50.0)
    n, m = xy.shape[0], sxy.shape[0]
    demand = np.ones(n, dtype=np.int64)
    problem = LocationProblem(
        demand=demand,
        capacity=np.full(m, 100, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=dist[cli, site],
        site_status=np.zeros(m, dtype=np.int8),
        max_open=count,
        unserved_cost=np.full(n, 1e4),
    )
    inst = build_instance(problem)
    start = np.zeros(inst.m, dtype=np.bool_)
    for c in range(count // 2):
        start[3 * c] = start[3 * c + 1] = True
    return inst, start


def test_several_free_pairs_per_round_reach_distant_moves_in_fewer_rounds() -> None:
    inst, start = _clusters(20)
    rounds: dict[int, int] = {}
    costs: dict[int, float] = {}
    for free in (1, 16):
        count = [0]

        def keep_going(count: list[int] = count) -> bool:
            count[0] += 1
            return True

        sites = pmedian_search(inst, start, keep_going=keep_going, free_pairs=free)
        rounds[free], costs[free] = count[0], pmedian_cost(inst, sites)
        # one open site per cluster: every client served within its cluster
        per_cluster = sites.reshape(-1, 3).sum(axis=1)
        assert np.all(per_cluster == 1)
    assert costs[16] == pytest.approx(costs[1])
    # one free move per round with a single free pair; all ten in one round with 16
    assert rounds[1] >= 10
    assert rounds[16] <= 3
