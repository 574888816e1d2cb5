"""Site steps between the neighbourhood MIPs on the many-medians path: the exact assignment of
the incumbent's open sites (``engine._open_site_assignment``), the site moves and that
assignment alternated while either improves (``engine._sites_then_assignment``), and
``exact.reduced_lns`` running such a step after each pass over its seeds."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from solver.location import engine, exact
from solver.location.model import build_instance, evaluate
from solver.location.problem import LocationProblem
from solver.location.work import WorkClock
from tests.test_location_reduced import _complete_problem


def _tight_problem(n: int, p: int, seed: int) -> LocationProblem:
    """A capacitated p-median whose capacities hold little more than the demand: few clients
    per open site, so the single-source assignment is a small bin packing."""
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    demand = rng.integers(3, 10, n).astype(np.int64)
    cli = np.repeat(np.arange(n), n)
    site = np.tile(np.arange(n), n)
    return LocationProblem(
        demand=demand,
        capacity=np.full(n, int(np.ceil(1.15 * demand.sum() / p)), dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=np.hypot(*(xy[cli] - xy[site]).T),
        site_status=np.zeros(n, dtype=np.int8),
        max_open=p,
        exact_open=True,
    )


def _state(prob: LocationProblem, sites: list[int], budget: float) -> engine._Search:
    """A search state whose incumbent is the flow plan of ``sites``."""
    inst = build_instance(prob)
    s = engine._Search(inst=inst, clock=WorkClock.start(budget, 600.0), progress=None, seed=0)
    mask = np.zeros(inst.m, dtype=np.bool_)
    mask[sites] = True
    plan = s.plan(mask, "test")
    assert plan is not None and s.offer(plan, mask, "test")
    return s


def _best_assignment(s: engine._Search) -> float:
    """The optimal single-source assignment of the incumbent's open sites, by enumeration."""
    assert s.open_mask is not None
    sites = np.flatnonzero(s.open_mask)
    best = np.inf
    for combo in itertools.product(sites.tolist(), repeat=s.inst.n):
        ev = evaluate(s.inst, np.asarray(combo, dtype=np.int32), s.open_mask)
        if ev.feasible:
            best = min(best, ev.objective)
    return float(best)


@pytest.mark.parametrize("seed", [2, 3])
def test_open_site_assignment_finds_the_best_assignment_of_the_sites(seed: int) -> None:
    # on these instances the flow plan (flow, single-source repair, client moves) of the
    # three sites is not their best assignment; the MIP finds that, by enumeration
    s = _state(_tight_problem(8, 3, seed), [0, 1, 2], 50.0)
    start, mask = s.objective, s.open_mask
    assert mask is not None
    best = _best_assignment(s)
    assert start > best + 1e-9
    spent = s.clock.spent
    engine._open_site_assignment(s, np.zeros(s.inst.k), limit=5.0)
    assert s.assign is not None and s.open_mask is not None
    assert np.array_equal(s.open_mask, mask)  # only the assignment changes
    ev = evaluate(s.inst, s.assign, s.open_mask)
    assert ev.feasible and ev.objective == pytest.approx(s.objective)
    assert s.objective <= start
    assert s.objective == pytest.approx(best, rel=1e-9)
    phase = s.clock.by_phase.get("open_site_assignment", 0.0)
    assert 0.0 < phase <= s.clock.spent - spent


def test_open_site_assignment_improves_a_poor_plan_and_keeps_to_its_work() -> None:
    # the flow plan of every fifth site on a tight instance: single-source repair leaves
    # chains of moves through several sites that one global MIP finds
    s = _state(_tight_problem(60, 12, 5), list(range(0, 60, 5)), 50.0)
    start, mask = s.objective, s.open_mask
    assert mask is not None
    engine._open_site_assignment(s, np.zeros(s.inst.k), limit=2.0)
    assert s.open_mask is not None and np.array_equal(s.open_mask, mask)
    assert s.objective < start
    assert s.stats["improvements_open_site_assignment"] == 1
    # one SCIP call within its allowance (twice it at most: a root's cut rounds overrun)
    assert 0.0 < s.clock.by_phase["open_site_assignment"] <= 2 * 2.0


def test_no_open_site_assignment_below_its_minimum_work() -> None:
    s = _state(_tight_problem(20, 4, 0), [0, 5, 10, 15], 50.0)
    start, spent = s.objective, s.clock.spent
    engine._open_site_assignment(s, np.zeros(s.inst.k), limit=engine.ASSIGN_MIN_WORK / 2)
    assert s.objective == start and s.clock.spent == spent


def test_site_steps_alternate_until_neither_improves_and_never_repeat_on_the_same_plan() -> None:
    s = _state(_complete_problem(90, 18), list(range(0, 90, 5)), 50.0)
    start = s.objective
    run = engine._sites_then_assignment(s, np.zeros(s.inst.k))
    assert run()  # a poor start: the moves (and the assignment) improve it
    assert s.objective < start
    assert s.assign is not None and s.open_mask is not None
    ev = evaluate(s.inst, s.assign, s.open_mask)
    assert ev.feasible and ev.objective == pytest.approx(s.objective)
    assert int(s.open_mask.sum()) == 18
    # both steps ended on this plan: called again, neither runs (no work, no change)
    obj, spent = s.objective, s.clock.spent
    assert not run()
    assert s.objective == obj and s.clock.spent == spent


def test_site_steps_are_repeatable() -> None:
    plans = []
    for _ in range(2):
        s = _state(_complete_problem(60, 12), list(range(0, 60, 5)), 50.0)
        engine._sites_then_assignment(s, np.zeros(s.inst.k))()
        assert s.assign is not None and s.open_mask is not None
        plans.append((s.assign.copy(), s.open_mask.copy(), s.clock.spent))
    assert np.array_equal(plans[0][0], plans[1][0])
    assert np.array_equal(plans[0][1], plans[1][1])
    assert plans[0][2] == plans[1][2]


def test_reduced_lns_runs_the_step_between_its_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    # the step runs after each pass over the seeds while work is left; one that finds
    # nothing leaves the search exactly as it was without it
    runs: list[float] = []

    def search(between: Any) -> engine._Search:
        s = _state(_complete_problem(40, 8), list(range(0, 40, 5)), 3.0)
        exact.reduced_lns(
            s, np.zeros(s.inst.k), *engine._sub_functions(s), reserve=0.0, between=between
        )
        return s

    def nothing() -> bool:
        runs.append(1.0)
        return False

    plain, hooked = search(None), search(nothing)
    assert runs  # at least one pass ended with work left
    assert hooked.assign is not None and plain.assign is not None
    assert np.array_equal(hooked.assign, plain.assign)
    assert hooked.clock.spent == plain.clock.spent


def test_an_improving_step_restarts_the_levels() -> None:
    # a step that reports an improvement sends the levels back to the first, as an improving
    # pass does: reported after the pass that exhausted the last level, the search goes on
    def passes(report_at: int) -> tuple[int, engine._Search]:
        calls: list[int] = []
        s = _state(_complete_problem(40, 8), list(range(0, 40, 5)), 30.0)

        def step() -> bool:
            calls.append(1)
            return len(calls) == report_at

        exact.reduced_lns(
            s, np.zeros(s.inst.k), *engine._sub_functions(s), reserve=0.0, between=step
        )
        return len(calls), s

    quiet, s = passes(0)
    assert quiet >= 1
    assert s.clock.left() > 1.0  # the levels were exhausted, not the work
    again, _ = passes(quiet)  # the same search up to its last pass, then "improved"
    assert again > quiet


def test_site_steps_count_their_calls_in_the_search() -> None:
    s = _state(_complete_problem(40, 8), list(range(0, 40, 5)), 30.0)
    steps = engine._sites_then_assignment(s, np.zeros(s.inst.k))
    exact.reduced_lns(s, np.zeros(s.inst.k), *engine._sub_functions(s), reserve=0.0, between=steps)
    assert s.stats.get("site_steps", 0.0) >= 1
    assert s.assign is not None and s.open_mask is not None
    assert evaluate(s.inst, s.assign, s.open_mask).feasible
