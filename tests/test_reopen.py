"""Site moves with their reassignment (:mod:`solver.location.reopen`): they find the
close–open step a fixed-site search cannot, every plan they return keeps every limit (open
count, capacities, tables) and is never worse, the gain they report is the objective's
decrease, they are repeatable and they keep to their work. The schedule of the final plan's
rounds tries each kind once, then follows the gain per unit of work, and stops once neither
kind finds anything."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.location import reopen
from solver.location.engine import LocationProblem
from solver.location.model import build_instance, evaluate
from solver.location.reallocate import reallocate
from solver.location.reopen import (
    REALLOCATE,
    SITE_MOVES,
    improve_on_clock,
    improve_sites,
    next_kind,
    reserve_work,
)
from solver.location.work import WorkClock
from tests.test_location_decompose import local_problem
from tests.test_reallocate import check_from_raw, small_problem, start_plan


def _pair_instance() -> LocationProblem:
    return small_problem(
        [2, 2, 2],
        [10, 10, 10],
        [
            (0, 0, 10.0),
            (0, 1, 30.0),
            (0, 2, 1.0),
            (1, 0, 10.0),
            (1, 1, 30.0),
            (1, 2, 1.0),
            (2, 1, 1.0),
            (2, 0, 40.0),
        ],
        max_open=2,
        group=[0, 0, 1],
        lam=50.0,
    )


def test_only_a_close_open_pair_improves_and_it_is_found() -> None:
    # two sites may open. Clients 0 and 1 (a grid) walk 10 each at site 0 and 1 each at the
    # closed site 2; client 2 walks 1 at site 1. Opening 2 needs closing 0 (p_max = 2), and
    # closing 0 alone sends 0 and 1 to site 1 (30 each): only the pair pays, −18.
    p = _pair_instance()
    inst = build_instance(p)
    start = np.array([0, 0, 1], dtype=np.int32)
    open_mask = np.array([True, True, False])
    before = evaluate(inst, start, open_mask)
    assert before.feasible and before.objective == 21.0
    # the sites fixed, nothing improves
    assert reallocate(inst, start, open_mask, work_limit=1.0).gain == 0.0
    res = improve_sites(inst, start, open_mask, work_limit=1.0)
    after = evaluate(inst, res.assign, res.open_mask)
    assert after.feasible, after.reason
    assert res.open_mask.tolist() == [False, True, True]
    assert res.assign.tolist() == [2, 2, 1]
    assert after.objective == 3.0 and res.gain == 18.0
    assert res.applied == {"close-open": 1}


def test_a_closed_sites_table_goes_to_the_opened_site() -> None:
    # tables of 10, at most 3, all in use (one each at sites 0, 1, 2). Site 0 serves
    # clients 0 and 1 (5 residents each, walking 20 each); the closed site 3 would serve
    # them for 1 each but needs a table. Moved one by one, the first would need a fourth
    # table; closing 0 frees its table for site 3: −38.
    p = small_problem(
        [5, 5, 9, 9],
        [20, 20, 20, 20],
        [
            (0, 0, 20.0),
            (0, 3, 1.0),
            (1, 0, 20.0),
            (1, 3, 1.0),
            (2, 1, 1.0),
            (2, 0, 5.0),
            (3, 2, 1.0),
        ],
        max_open=3,
        unit=10,
        tables=3,
    )
    inst = build_instance(p)
    start = np.array([0, 0, 1, 2], dtype=np.int32)
    open_mask = np.array([True, True, True, False])
    before = evaluate(inst, start, open_mask)
    assert before.feasible and int(before.units.sum()) == 3
    res = improve_sites(inst, start, open_mask, work_limit=1.0)
    after = evaluate(inst, res.assign, res.open_mask)
    assert after.feasible, after.reason
    assert res.assign.tolist() == [3, 3, 1, 2]
    assert after.objective == before.objective - 38.0
    assert int(after.units.sum()) <= 3 and after.n_open <= 3


def test_an_unused_open_site_is_traded_for_a_useful_one() -> None:
    # p_max = 2 and site 0 is open but serves nobody; the closed site 2 would save client 1
    # 9 of its walk at site 1: close 0, open 2.
    p = small_problem(
        [1, 1],
        [5, 5, 5],
        [(0, 1, 1.0), (1, 1, 10.0), (1, 2, 1.0), (0, 0, 50.0)],
        max_open=2,
    )
    inst = build_instance(p)
    start = np.array([1, 1], dtype=np.int32)
    res = improve_sites(inst, start, np.array([True, True, False]), work_limit=1.0)
    assert res.open_mask.tolist() == [False, True, True]
    assert res.assign.tolist() == [1, 2] and res.gain == 9.0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(0, 3))
def test_never_worse_feasible_and_repeatable(seed: int, options: int) -> None:
    p = local_problem(seed, 90, 14, options=options)
    first = start_plan(p, seed)
    if first.status not in ("optimal", "feasible"):
        return
    inst = build_instance(p)
    before = evaluate(inst, first.site_of_client, first.open_sites)
    res = improve_sites(inst, first.site_of_client, first.open_sites, work_limit=0.5)
    after = evaluate(inst, res.assign, res.open_mask)
    assert after.feasible, after.reason
    assert after.objective <= before.objective + 1e-9
    assert abs((before.objective - after.objective) - res.gain) <= 1e-6 * max(1.0, before.objective)
    assert not np.any(inst.required & ~res.open_mask)
    assert inst.p_min <= int(res.open_mask.sum()) <= inst.p_max
    again = improve_sites(inst, first.site_of_client, first.open_sites, work_limit=0.5)
    assert np.array_equal(again.assign, res.assign) and again.work == res.work
    assert np.array_equal(again.open_mask, res.open_mask)
    check_from_raw(p, res.assign, res.open_mask, after)


def test_work_limit_is_respected_and_charged() -> None:
    p = local_problem(7, 300, 30, options=3)
    first = start_plan(p, 7)
    inst = build_instance(p)
    none = improve_sites(inst, first.site_of_client, first.open_sites, work_limit=0.0)
    assert none.rounds == 0 and none.tried == 0
    assert np.array_equal(none.assign, first.site_of_client)
    some = improve_sites(inst, first.site_of_client, first.open_sites, work_limit=0.02)
    assert some.tried > 0 and some.work <= 0.02 + 0.01  # one candidate past the limit at most
    clock = WorkClock.start(100.0, 600.0)
    limit = reserve_work(inst.k, 0.1)
    moved, opened = improve_on_clock(inst, first.site_of_client, first.open_sites, clock, limit)
    assert clock.spent <= limit + 0.01
    assert set(clock.by_phase) <= {"site_moves", "reallocate"}
    ev = evaluate(inst, moved, opened)
    assert ev.feasible
    assert ev.objective <= evaluate(inst, first.site_of_client, first.open_sites).objective


def test_each_kind_is_tried_once_then_the_better_gain_per_work_goes_next() -> None:
    r, s = REALLOCATE, SITE_MOVES
    assert next_kind({r: None, s: None}, set()) == r  # the cheaper round first
    assert next_kind({r: 9.0, s: None}, set()) == s  # then the other, whatever r gained
    assert next_kind({r: 9.0, s: 3.0}, set()) == r
    assert next_kind({r: 2.0, s: 3.0}, set()) == s
    assert next_kind({r: 3.0, s: 3.0}, set()) == r  # a tie: the cheaper round
    assert next_kind({r: 9.0, s: 3.0}, {r}) == s  # r found nothing on this plan
    assert next_kind({r: 9.0, s: None}, {s}) == r
    assert next_kind({r: 9.0, s: 3.0}, {r, s}) is None


def test_the_schedule_finds_the_pair_and_stops_when_nothing_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the reallocation alone finds nothing on the pair instance (see above); the site moves
    # find the pair. Every round after the first of each kind follows a round of the other
    # kind that gained, or one of its own that did; both find nothing in the end, and the
    # schedule stops there, far inside its allowance.
    inst = build_instance(_pair_instance())
    start = np.array([0, 0, 1], dtype=np.int32)
    open_mask = np.array([True, True, False])
    rounds: list[tuple[str, float]] = []
    real, site_round = reopen.reallocate.reallocate, reopen._SiteRounds.round

    def traced_reallocate(*args, **kwargs):  # type: ignore[no-untyped-def]
        res = real(*args, **kwargs)
        rounds.append((REALLOCATE, res.gain))
        return res

    def traced_round(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        res = site_round(self, *args, **kwargs)
        rounds.append((SITE_MOVES, res.gain))
        return res

    monkeypatch.setattr(reopen.reallocate, "reallocate", traced_reallocate)
    monkeypatch.setattr(reopen._SiteRounds, "round", traced_round)
    clock = WorkClock.start(100.0, 600.0)
    moved, opened = improve_on_clock(inst, start, open_mask, clock, 10.0)
    ev = evaluate(inst, moved, opened)
    assert ev.feasible and ev.objective == 3.0
    assert rounds[:2] == [(REALLOCATE, 0.0), (SITE_MOVES, 18.0)]
    stale = False  # the reallocation found nothing on the plan as it is
    for kind, gain in rounds:
        if kind == REALLOCATE:
            assert not stale  # run again only once the site moves changed the plan
            stale = gain == 0.0
        elif gain > 0.0:
            stale = False
    assert rounds[-1][1] == 0.0 and rounds[-2][1] == 0.0
    assert clock.spent < 1.0
    assert set(clock.by_phase) == {REALLOCATE, SITE_MOVES}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), options=st.integers(0, 3))
def test_the_schedule_is_never_worse_within_its_work_and_repeatable(
    seed: int, options: int
) -> None:
    p = local_problem(seed, 120, 16, options=options)
    first = start_plan(p, seed)
    if first.status not in ("optimal", "feasible"):
        return
    inst = build_instance(p)
    before = evaluate(inst, first.site_of_client, first.open_sites)
    limit = 0.05
    runs = []
    for _ in range(2):
        clock = WorkClock.start(100.0, 600.0)
        moved, opened = improve_on_clock(inst, first.site_of_client, first.open_sites, clock, limit)
        runs.append((moved, opened, clock.spent))
    (moved, opened, spent), (moved2, opened2, spent2) = runs
    after = evaluate(inst, moved, opened)
    assert after.feasible, after.reason
    assert after.objective <= before.objective + 1e-9
    assert inst.p_min <= int(opened.sum()) <= inst.p_max
    assert not np.any(inst.required & ~opened)
    # one trial past the limit at most, and a step's fixed overhead per round
    assert spent <= limit + 0.01
    assert np.array_equal(moved, moved2) and np.array_equal(opened, opened2) and spent == spent2
