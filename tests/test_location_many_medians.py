"""Site moves before the neighbourhood MIPs on the many-sites path (``engine._reduced_site_moves``):
they improve a poor first plan of a capacitated p-median, keep every limit and the open count,
never make the plan worse, keep to their work and give the same plan on every run."""

from __future__ import annotations

import numpy as np

from solver.location import engine
from solver.location.model import build_instance, evaluate
from solver.location.work import WorkClock
from tests.test_location_reduced import _complete_problem


def _started(n: int, p: int, budget: float) -> engine._Search:
    """A search state whose incumbent is the flow plan of every (n ÷ p)-th site: a poor but
    feasible start, as the site search's plans are on tight capacities."""
    inst = build_instance(_complete_problem(n, p))
    s = engine._Search(inst=inst, clock=WorkClock.start(budget, 600.0), progress=None, seed=0)
    sites = np.zeros(inst.m, dtype=np.bool_)
    sites[np.arange(0, n, n // p)[:p]] = True
    plan = s.plan(sites, "test")
    assert plan is not None and s.offer(plan, sites, "test")
    return s


def test_site_moves_improve_a_poor_start_within_their_work() -> None:
    s = _started(120, 24, 50.0)
    start, spent = s.objective, s.clock.spent
    engine._reduced_site_moves(s, np.zeros(s.inst.k), limit=2.0)
    assert s.assign is not None and s.open_mask is not None
    ev = evaluate(s.inst, s.assign, s.open_mask)  # on every arc, not the reduced ones
    assert ev.feasible and ev.objective == s.objective
    assert s.objective < start  # moved medians pay on this start
    assert int(s.open_mask.sum()) == 24  # exactly p open
    assert s.stats["site_moves_gain"] == start - s.objective
    assert s.stats["improvements_site_moves"] == 1
    # the moves' own work stays within the limit (plus the reduced state's arc pass and
    # evaluations, and one last trial that may end past it)
    moves = s.clock.by_phase.get("site_moves", 0.0) + s.clock.by_phase.get("reallocate", 0.0)
    assert 0.0 < moves <= 2.0 + 0.05
    assert s.clock.spent - spent >= moves


def test_site_moves_are_repeatable_and_never_worse() -> None:
    plans = []
    for _ in range(2):
        s = _started(90, 15, 50.0)
        start = s.objective
        engine._reduced_site_moves(s, np.zeros(s.inst.k), limit=1.0)
        assert s.objective <= start
        assert s.assign is not None and s.open_mask is not None
        plans.append((s.assign.copy(), s.open_mask.copy(), s.clock.spent))
    assert np.array_equal(plans[0][0], plans[1][0])
    assert np.array_equal(plans[0][1], plans[1][1])
    assert plans[0][2] == plans[1][2]


def test_no_site_moves_without_work_left() -> None:
    s = _started(60, 12, 0.5)  # less than one unit left: the step is skipped
    start, spent = s.objective, s.clock.spent
    engine._reduced_site_moves(s, np.zeros(s.inst.k), limit=5.0)
    assert s.objective == start and s.clock.spent == spent


def test_the_engine_runs_the_site_moves_before_the_neighbourhood_mips() -> None:
    # a capacitated p-median takes the exact path: site search, then the site moves on its
    # plan (their work in their own phases), then the neighbourhood MIPs
    res = engine.solve(_complete_problem(60, 12), time_limit=120.0, work_budget=4.0, seed=0)
    assert res.status in ("optimal", "feasible")
    assert "seconds_site_moves" in res.stats
    assert res.stats.get("work_site_moves", 0.0) + res.stats.get("work_reallocate", 0.0) > 0.0
    again = engine.solve(_complete_problem(60, 12), time_limit=120.0, work_budget=4.0, seed=0)
    assert np.array_equal(again.site_of_client, res.site_of_client)


def test_site_moves_on_a_plan_that_serves_nobody() -> None:
    # one client without arcs (left unserved at its cost) and one site: the moves have
    # nothing to price and leave the plan as it is (their estimates once failed on it)
    from tests.test_location import random_problem

    res = engine.solve(random_problem(47, 1, 1), time_limit=30.0, work_budget=2.0, seed=1)
    assert res.status in ("optimal", "feasible")
    assert "seconds_site_moves" in res.stats
    assert np.all(res.site_of_client == -1)
