"""The iterated local search's kick on the many-medians path: forced close–open moves
(``reopen.force_moves``), the kick's pairs (``engine._kick_pairs``) and the kick itself
(``engine._site_kick``: never worsens the incumbent, keeps the open count)."""

from __future__ import annotations

import numpy as np
import pytest

from solver.location import engine
from solver.location.model import evaluate
from solver.location.reopen import force_moves
from tests.test_location_stef_alternate import _state, _tight_problem


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forced_moves_apply_every_feasible_pair_even_when_it_costs(seed: int) -> None:
    s = _state(_tight_problem(24, 6, seed), [0, 1, 2, 3, 4, 5], 50.0)
    assert s.assign is not None and s.open_mask is not None
    pairs = [(0, 6), (1, 7)]
    assign, mask, spent = force_moves(s.inst, s.assign, s.open_mask, pairs)
    ev = evaluate(s.inst, assign, mask)
    assert ev.feasible
    assert spent > 0.0
    assert int(mask.sum()) == 6  # close–open: the open count stays
    for a, b in pairs:
        assert not mask[a] and mask[b]
        assert np.all(assign != a)  # nobody left at a closed site
    # the input plan is not touched
    assert s.open_mask[0] and s.open_mask[1] and not s.open_mask[6]


def test_forced_moves_skip_pairs_that_do_not_close_an_open_site() -> None:
    s = _state(_tight_problem(24, 6, 0), [0, 1, 2, 3, 4, 5], 50.0)
    assert s.assign is not None and s.open_mask is not None
    # 10 is closed, 2 is already open: neither pair changes the plan
    assign, mask, _ = force_moves(s.inst, s.assign, s.open_mask, [(10, 11), (0, 2)])
    assert np.array_equal(mask, s.open_mask)
    assert np.array_equal(assign, s.assign)


@pytest.mark.parametrize("seed", [0, 1])
def test_kick_pairs_close_open_sites_and_open_distinct_closed_ones(seed: int) -> None:
    s = _state(_tight_problem(30, 8, seed), list(range(8)), 50.0)
    assert s.open_mask is not None
    rng = np.random.default_rng(seed)
    pairs = engine._kick_pairs(s, rng, 3)
    assert 1 <= len(pairs) <= 3
    closing = [a for a, _ in pairs]
    opening = [b for _, b in pairs]
    assert len(set(closing)) == len(closing) and len(set(opening)) == len(opening)
    assert all(s.open_mask[a] for a in closing)
    assert not any(s.open_mask[b] for b in opening)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kick_never_worsens_the_incumbent_and_keeps_the_open_count(seed: int) -> None:
    s = _state(_tight_problem(30, 8, seed), list(range(8)), 60.0)
    kick = engine._site_kick(s, np.zeros(s.inst.k))
    objs = [s.objective]
    for _ in range(4):
        spent = s.clock.spent
        improved = kick()
        assert s.clock.spent > spent  # a kick is charged
        assert s.objective <= objs[-1] + 1e-9
        assert improved == (s.objective < objs[-1] - 1e-9 * max(1.0, abs(objs[-1])))
        objs.append(s.objective)
        assert s.assign is not None and s.open_mask is not None
        ev = evaluate(s.inst, s.assign, s.open_mask)
        assert ev.feasible and ev.objective == pytest.approx(s.objective)
        assert int(s.open_mask.sum()) == 8


def test_kick_escapes_a_local_optimum_of_the_site_steps() -> None:
    # the site moves and the open-site assignment, alternated until neither improves, end in
    # a plan they cannot improve; kicks (the kicked sites kept closed in the descent) can
    s = _state(_tight_problem(40, 10, 5), list(range(10)), 60.0)
    lf = np.zeros(s.inst.k)
    steps = engine._sites_then_assignment(s, lf)
    steps()
    stuck = s.objective
    assert not steps()  # a local optimum of the site steps
    assert s.objective == stuck
    kick = engine._site_kick(s, lf)
    results = [kick() for _ in range(6)]
    assert any(results)
    assert s.objective < stuck - 1e-9
    assert s.stats["kicks_kept"] == sum(results)
