"""The close–open attempt of the site moves (``reopen._Search.attempt``) with its acceptance
threshold: the site moves keep only improving moves (``accept`` 0), the kick's forced moves
(``reopen.force_moves``) any feasible one (``accept`` inf) through the same attempt."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solver.location.model import evaluate
from solver.location.reallocate import PlanState
from solver.location.reopen import _Search, force_moves
from tests.test_location_stef_alternate import _state, _tight_problem


def _search(seed: int) -> tuple[_Search, float]:
    """A site-move search on a tight plan of 6 open sites and the plan's objective."""
    s = _state(_tight_problem(24, 6, seed), [0, 1, 2, 3, 4, 5], 50.0)
    assert s.assign is not None and s.open_mask is not None
    plan = PlanState.of(s.inst, s.assign.copy(), s.open_mask.copy())
    return _Search.of(plan), s.objective


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attempt_keeps_a_worsening_move_only_when_accepted(seed: int) -> None:
    kept_worse = 0
    for a, b in itertools.product(range(6), range(6, 24)):
        search, objective = _search(seed)
        plan = search.plan
        before_a, before_mask = plan.a.copy(), plan.open_mask.copy()
        trial = search.attempt(a, b)  # the site moves: improving moves only
        if trial.change < 0.0:
            continue  # an improving move: both thresholds keep it
        assert np.array_equal(plan.a, before_a) and np.array_equal(plan.open_mask, before_mask)
        trial = search.attempt(a, b, accept=np.inf)
        if not np.isfinite(trial.change) or plan.open_mask[a]:
            # no feasible repair: the plan stays as it was
            assert np.array_equal(plan.a, before_a)
            assert np.array_equal(plan.open_mask, before_mask)
            continue
        ev = evaluate(search.plan.inst, plan.a, plan.open_mask)
        assert ev.feasible
        assert not plan.open_mask[a] and plan.open_mask[b]
        # the change the trial reports is the plan's real change
        assert ev.objective == pytest.approx(objective + trial.change)
        kept_worse += trial.change > 0.0
    assert kept_worse > 0  # the tight plans are local optima for many pairs


@pytest.mark.parametrize("seed", [0, 1])
def test_forced_moves_are_attempts_that_accept_any_change(seed: int) -> None:
    s = _state(_tight_problem(24, 6, seed), [0, 1, 2, 3, 4, 5], 50.0)
    assert s.assign is not None and s.open_mask is not None
    pairs = [(0, 6), (1, 7), (2, 8)]
    assign, mask, _ = force_moves(s.inst, s.assign, s.open_mask, pairs)
    search, _ = _search(seed)
    for a, b in pairs:
        search.attempt(a, b, accept=np.inf)
    assert np.array_equal(assign, search.plan.a) and np.array_equal(mask, search.plan.open_mask)
