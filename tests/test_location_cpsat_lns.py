"""CP-SAT's own neighbourhood search over a whole (size-reduced) problem (``lns`` in
:func:`solver.location.cpsat.solve_sub_cpsat`, :func:`solver.location.engine._cpsat_lns`).

Its costs are scaled before rounding, so instances whose costs are small numbers (Stefanello's
distances, a few units per client) keep their order; the plan it returns is a plan of the
instance, at the cost it reports, and the engine keeps it only if it is better.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import engine, exact
from solver.location.cpsat import COST_RESOLUTION, cost_scale, solve_sub_cpsat
from solver.location.mip import SubProblem
from solver.location.model import BIG_UNITS, build_instance, evaluate
from solver.location.problem import LocationProblem
from tests.test_location import brute_force, cpmp_problem, random_problem


@given(top=st.floats(1e-6, 1e9))
def test_cost_scale_is_a_power_of_ten_that_keeps_the_resolution(top: float) -> None:
    scale = cost_scale(np.array([0.0, top / 3, top]))
    assert scale >= 1.0
    assert math.log10(scale) == pytest.approx(round(math.log10(scale)))
    assert top * scale <= COST_RESOLUTION * (1 + 1e-9) or scale == 1.0
    if top < COST_RESOLUTION / 10:
        assert top * scale > COST_RESOLUTION / 10 / (1 + 1e-9)


def small_costs(p: LocationProblem, factor: float) -> LocationProblem:
    """``p`` with every cost (arcs, unserved, grid splits) divided by ``factor``."""
    unserved = None if p.unserved_cost is None else p.unserved_cost / factor
    return replace(
        p,
        arc_cost=p.arc_cost / factor,
        unserved_cost=unserved,
        group_split_penalty=p.group_split_penalty / factor,
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), m=st.integers(1, 3))
def test_lns_on_the_whole_problem_finds_the_optimum_of_tiny_instances(
    seed: int, n: int, m: int
) -> None:
    """Costs below one unit (rounded away without the scale): the whole problem solved by the
    ``lns`` call is still the enumerated optimum, the plan it returns costs what it says, and
    a second call returns the same plan (the interleaved search is deterministic)."""
    p = small_costs(random_problem(seed, n, m), 1000.0)
    opt = brute_force(p)
    if math.isinf(opt):
        return
    inst = build_instance(p)
    arcs = np.arange(inst.k, dtype=np.int64)
    sites = np.flatnonzero(inst.usable).astype(np.int64)
    units = inst.units_total if inst.unit > 0 and inst.units_total < BIG_UNITS else BIG_UNITS
    sub = SubProblem(
        clients=np.arange(inst.n, dtype=np.int64),
        sites=sites,
        arcs=arcs,
        count_lo=inst.p_min,
        count_hi=inst.p_max,
        units_budget=units,
        group_outside={},
    )
    scale = cost_scale(np.r_[inst.cost, np.where(np.isfinite(inst.unserved), inst.unserved, 0)])
    runs = [
        solve_sub_cpsat(
            inst,
            sub,
            hint_assign=None,
            hint_open=None,
            time_limit=60.0,
            work_limit=5.0,
            seed=0,
            scale=scale,
            lns=2,
        )
        for _ in range(2)
    ]
    res, dtime, wall_cut = runs[0]
    again = runs[1][0]
    assert again is not None and res is not None
    assert np.array_equal(again.site_of_client, res.site_of_client)
    assert res is not None and not wall_cut and dtime <= 5.0 + 1e-6
    open_mask = inst.status == 1
    open_mask[sites] |= res.open_sites
    ev = evaluate(inst, res.site_of_client, open_mask)
    assert ev.feasible, ev.reason
    # rounding: at most half a scaled unit per arc, unserved client and grid
    slack = (inst.n + inst.n) / scale
    assert ev.objective == pytest.approx(opt, abs=slack + 1e-9)
    assert res.objective == pytest.approx(ev.objective, abs=slack + 1e-9)


def test_the_many_medians_path_runs_it_and_keeps_a_feasible_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the size-reduced path forced (as beyond SMALL_ARCS arcs), the engine spends work on
    the CP-SAT search, its plan is feasible, opens exactly p sites, costs what it reports, and
    the work stays within the budget."""
    monkeypatch.setattr(exact, "SMALL_ARCS", 1000)
    monkeypatch.setattr(engine, "SMALL_ARCS", 1000)
    models: list[np.ndarray] = []  # the arcs of each whole-problem CP-SAT model
    cpsat_call = engine._cpsat

    def record(st: Any, sub: Any, *args: Any, **kwargs: Any) -> Any:
        if args[2] == "cpsat_lns":
            models.append(sub.arcs.copy())
        return cpsat_call(st, sub, *args, **kwargs)

    monkeypatch.setattr(engine, "_cpsat", record)
    p = cpmp_problem(3, 120, 30, slack=1.25, extent=10.0)  # distances of a few units
    first = engine.solve(p, time_limit=300.0, work_budget=8.0, seed=0)
    assert first.stats.get("cpsat_lns_dtime", 0.0) > 0.0
    inst = build_instance(p)
    # the model holds each client's CPSAT_LNS_NEAREST cheapest arcs, beyond them only the
    # incumbent's own (one per client)
    assert models
    for arcs in models:
        rank = arcs - inst.ptr[inst.cli[arcs]]
        far = np.bincount(inst.cli[arcs[rank >= engine.CPSAT_LNS_NEAREST]], minlength=inst.n)
        assert far.max() <= 1
        assert np.bincount(inst.cli[arcs], minlength=inst.n).max() <= engine.CPSAT_LNS_NEAREST + 1
    ev = evaluate(inst, first.site_of_client, first.open_sites)
    assert ev.feasible, ev.reason
    assert int(first.open_sites.sum()) == 30
    assert ev.objective == pytest.approx(first.objective, rel=1e-9)
    assert first.stats["work_seconds"] <= 8.0 + 1e-9


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12))
def test_nearest_arcs_keeps_each_clients_k_cheapest(seed: int, k: int) -> None:
    """``nearest_arcs(inst, k)`` (the CP-SAT model's arcs before the Lagrangian test): each
    client keeps min(k, its arcs) arcs, and none of the arcs it drops is cheaper than one it
    keeps."""
    inst = build_instance(cpmp_problem(seed, 40, 8, slack=1.3, extent=10.0))
    small = exact.SMALL_ARCS
    try:
        exact.SMALL_ARCS = 0
        near = exact.nearest_arcs(inst, k)
    finally:
        exact.SMALL_ARCS = small
    assert near is not None
    degree = np.diff(inst.ptr)
    assert np.array_equal(np.bincount(inst.cli[near], minlength=inst.n), np.minimum(k, degree))
    for i in range(inst.n):
        arcs = np.arange(inst.ptr[i], inst.ptr[i + 1])
        kept, dropped = inst.cost[arcs[near[arcs]]], inst.cost[arcs[~near[arcs]]]
        assert dropped.size == 0 or kept.max() <= dropped.min()
