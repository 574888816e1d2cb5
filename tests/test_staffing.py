"""Tests for the staffing engine: coverage or exact shortfall, availability, shift limits."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.day.staffing import (
    StaffingProblem,
    StaffingResult,
    capacity_plan,
    coverage_from_rows,
    extra_lower_bound,
    solve_staffing,
)

_FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def problem(
    tables: list[int],
    teams: list[tuple[int, int, int]],
    *,
    start: int = 420,
    end: int = 840,
    block: int = 30,
    shift: int | None = None,
    travel: bool = False,
) -> StaffingProblem:
    """Points on a line 1 km apart, teams (samplers, from, to) at the origin."""
    p, k = len(tables), len(teams)
    return StaffingProblem(
        point_xy=np.column_stack([np.arange(p) * 1000.0, np.zeros(p)]),
        tables=np.asarray(tables, dtype=np.int64),
        team_samplers=np.asarray([t[0] for t in teams], dtype=np.int64).reshape(k),
        team_from=np.asarray([t[1] for t in teams], dtype=np.int64).reshape(k),
        team_to=np.asarray([t[2] for t in teams], dtype=np.int64).reshape(k),
        team_xy=np.column_stack([np.arange(k) * 700.0, np.full(k, 300.0)]),
        window_start=start,
        window_end=end,
        block_min=block,
        max_shift_min=shift,
        travel_delays_start=travel,
    )


@st.composite
def problems(draw: st.DrawFn) -> StaffingProblem:
    """Small random instances: 1–5 points, 1–5 teams, staggered availability."""
    start = draw(st.sampled_from([420, 480]))
    length = draw(st.sampled_from([120, 240, 390, 420]))
    block = draw(st.sampled_from([30, 60]))
    tables = draw(st.lists(st.integers(0, 4), min_size=1, max_size=5))
    teams = []
    for _ in range(draw(st.integers(1, 5))):
        a = draw(st.integers(start - 60, start + length))
        b = draw(st.integers(a + 1, start + length + 120))
        teams.append((draw(st.integers(1, 6)), a, b))
    shift = draw(st.sampled_from([None, 60, 150, 1000]))
    travel = draw(st.booleans())
    return problem(
        tables, teams, start=start, end=start + length, block=block, shift=shift, travel=travel
    )


def check(pr: StaffingProblem, res: StaffingResult) -> None:
    """Every invariant the plan promises."""
    edges = pr.edges()
    # availability and shift limits
    assert np.all(res.start >= pr.team_from[res.team])
    assert np.all(res.end <= pr.team_to[res.team])
    assert np.all(res.end > res.start)
    assert np.all(res.end - res.start <= pr.shift_limit)
    assert np.all(res.samplers > 0)
    # one shift per sampler: a team never uses more samplers than it has (so per block too)
    used = np.bincount(res.team, weights=res.samplers, minlength=pr.n_teams)
    assert np.all(used <= pr.team_samplers)
    # coverage recomputed from rows; coverage + shortfall == tables exactly
    cov = coverage_from_rows(pr.n_points, edges, res.point, res.start, res.end, res.samplers)
    assert np.array_equal(cov, res.coverage)
    short = res.shortfall_matrix()
    assert np.all(short >= 0)
    assert np.array_equal(cov + short, np.broadcast_to(pr.tables[:, None], cov.shape))
    assert (res.status == "covered") == (not short.any())
    # capacity plan: real rows (of the replan if any) + extra rows cover every table
    base = res.replan if res.replan is not None else res
    cov2 = coverage_from_rows(
        pr.n_points, edges, base.point, base.start, base.end, base.samplers
    ) + coverage_from_rows(
        pr.n_points, edges, res.extra_point, res.extra_start, res.extra_end, res.extra_samplers
    )
    assert np.all(cov2 >= pr.tables[:, None])
    assert np.all(res.extra_end - res.extra_start <= pr.shift_limit)
    assert res.stats.extra_samplers >= res.stats.extra_lower_bound
    if res.status == "covered":
        assert res.extra_samplers.size == 0


@_FAST
@given(problems())
def test_plan_invariants(pr: StaffingProblem) -> None:
    check(pr, solve_staffing(pr, time_limit=5.0))


@_FAST
@given(problems())
def test_lower_bound_never_exceeds_any_cover(pr: StaffingProblem) -> None:
    res = solve_staffing(pr)
    assert extra_lower_bound(pr) <= int(res.extra_samplers.sum()) or res.status == "covered"


def test_two_shift_rota_by_hand() -> None:
    """Four samplers all day, two tables: 2 samplers 07:00–10:30, 2 more 10:30–14:00."""
    pr = problem([2], [(4, 400, 900)])
    res = solve_staffing(pr)
    check(pr, res)
    assert res.status == "covered"
    rows = sorted(zip(res.start.tolist(), res.end.tolist(), res.samplers.tolist(), strict=True))
    assert rows == [(420, 630, 2), (630, 840, 2)]


def test_shortfall_and_capacity_plan_by_hand() -> None:
    """One sampler for one table: 10:30–14:00 is missing, one extra sampler covers it."""
    pr = problem([1], [(1, 420, 840)])
    res = solve_staffing(pr)
    check(pr, res)
    assert res.status == "shortfall"
    assert res.short_start.min() == 630 and res.short_end.max() == 840
    assert int(res.short_missing.sum()) == 7  # seven 30-min blocks
    assert res.extra_start.tolist() == [630] and res.extra_samplers.tolist() == [1]
    assert res.stats.extra_lower_bound == 1


def test_late_team_and_early_leaver() -> None:
    """A team arriving 09:00 can only start then; the earlier team leaving at 12:00 goes first."""
    pr = problem([1], [(1, 540, 900), (1, 420, 720), (1, 420, 900)])
    res = solve_staffing(pr)
    check(pr, res)
    assert res.status == "covered"
    first = res.team[res.start == 420]
    assert first.tolist() == [1]  # earliest deadline first keeps the all-day team for later


def test_team_stays_together() -> None:
    """Two adjacent points, one big team close to both: it is not split needlessly."""
    pr = problem([2, 0], [(4, 420, 840), (4, 420, 840)])
    res = solve_staffing(pr)
    check(pr, res)
    assert res.stats.split_teams == 0


def test_scale_400_points_150_teams() -> None:
    """A district-sized roster keeps every promise (its speed: ``bench/day_scale.py``)."""
    rng = np.random.default_rng(3)
    p, k = 400, 150
    tables = rng.integers(2, 7, p)
    pr = StaffingProblem(
        point_xy=rng.uniform(0, 20_000, (p, 2)),
        tables=tables.astype(np.int64),
        team_samplers=np.full(k, int(tables.sum() * 2.1 / k) + 1, dtype=np.int64),
        team_from=rng.choice([390, 420, 480, 540], k, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int64),
        team_to=np.full(k, 900, dtype=np.int64),
        team_xy=rng.uniform(-10_000, 30_000, (k, 2)),
    )
    res = solve_staffing(pr, time_limit=10.0)
    check(pr, res)


def _on_duty_problem(team_point: list[int], move_penalty_m: float) -> StaffingProblem:
    """Points 0 and 1 (1 km apart), one table each; team 0 (2 samplers) at point 0, team 1
    (1 sampler) off duty 4 km away."""
    return StaffingProblem(
        point_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        tables=np.array([1, 1], dtype=np.int64),
        team_samplers=np.array([2, 1], dtype=np.int64),
        team_from=np.array([420, 420], dtype=np.int64),
        team_to=np.array([840, 840], dtype=np.int64),
        team_xy=np.array([[0.0, 0.0], [5000.0, 0.0]]),
        max_shift_min=420,
        team_point=np.asarray(team_point, dtype=np.int64),
        move_penalty_m=move_penalty_m,
    )


def test_move_penalty_prefers_a_team_off_duty() -> None:
    """Without a move cost the team on duty covers the other point (it is nearer); with one,
    the team off duty does, and the team on duty stays."""
    free = solve_staffing(_on_duty_problem([0, -1], 0.0))
    check(_on_duty_problem([0, -1], 0.0), free)
    assert set(free.point[free.team == 0].tolist()) == {0, 1}
    assert free.stats.team_moves == 1
    costly = solve_staffing(_on_duty_problem([0, -1], 10_000.0))
    check(_on_duty_problem([0, -1], 10_000.0), costly)
    assert set(costly.point[costly.team == 0].tolist()) == {0}
    assert set(costly.point[costly.team == 1].tolist()) == {1}
    assert costly.stats.team_moves == 0


def test_move_happens_when_it_covers_a_lane() -> None:
    """A lane left without a sampler costs more than any move: with no team off duty the team
    on duty moves, whatever the move cost."""
    pr = _on_duty_problem([0, 0], 1e6)
    pr = StaffingProblem(
        **{**pr.__dict__, "team_samplers": np.array([2, 0], dtype=np.int64)}  # type: ignore[arg-type]
    )
    res = solve_staffing(pr)
    check(pr, res)
    assert res.status == "covered"
    assert res.stats.team_moves == 1


def test_work_cap_is_counted_not_timed() -> None:
    """The re-solve with every arc is skipped by the work count, flagged, and a run repeats
    exactly (no wall clock decides anything)."""
    rng = np.random.default_rng(3)
    p, k = 400, 150
    tables = rng.integers(2, 7, p).astype(np.int64)
    pr = StaffingProblem(
        point_xy=rng.uniform(0, 20_000, (p, 2)),
        tables=tables,
        team_samplers=np.full(k, int(tables.sum() * 1.7 / k) + 1, dtype=np.int64),
        team_from=rng.choice([390, 420, 480, 540], k, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int64),
        team_to=np.full(k, 900, dtype=np.int64),
        team_xy=rng.uniform(-10_000, 30_000, (k, 2)),
    )
    full = solve_staffing(pr, work_limit=10**12)
    capped = solve_staffing(pr, work_limit=0)
    again = solve_staffing(pr, work_limit=0)
    check(pr, full)
    check(pr, capped)
    assert not full.stats.work_capped and full.stats.resolves_skipped == 0
    assert capped.stats.work_capped and capped.stats.resolves_skipped > 0
    assert capped.stats.work_arcs < full.stats.work_arcs
    for name in ("team", "point", "start", "end", "samplers", "extra_samplers"):
        assert np.array_equal(getattr(capped, name), getattr(again, name))
    # the default cap follows the work budget, never the clock
    assert solve_staffing(pr, time_limit=1e-9).stats.work_capped


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    need=st.lists(st.integers(0, 6), min_size=1, max_size=24),
    limit_blocks=st.integers(1, 10),
)
def test_capacity_plan_covers_the_shortfall_with_the_fewest_samplers(
    need: list[int], limit_blocks: int
) -> None:
    """Extra shifts cover every short block, none is longer than a shift, the count is the
    greedy's optimum (the largest need of any window one shift long can see is a lower bound),
    and every shift is needed in its last block (none runs on for nothing)."""
    short = np.asarray([need], dtype=np.int64)
    edges = np.arange(len(need) + 1, dtype=np.int64) * 30
    point, start, end, samplers = capacity_plan(short, edges, limit_blocks * 30)
    cover = np.zeros(len(need), dtype=np.int64)
    for s, e, n in zip(start.tolist(), end.tolist(), samplers.tolist(), strict=True):
        assert 0 < e - s <= limit_blocks * 30 and n > 0
        cover[s // 30 : e // 30] += n
    assert (cover >= short[0]).all()
    assert (point == 0).all()
    assert int(samplers.sum()) >= max(need)
    for e, n in zip(end.tolist(), samplers.tolist(), strict=True):
        last = e // 30 - 1
        assert cover[last] - n < short[0][last]  # without these samplers the last block is short


def test_half_hour_shortfall_asks_for_half_an_hour() -> None:
    """Fifteen samplers missing 07:00–07:30 only: the capacity plan books 07:00–07:30."""
    short = np.zeros((1, 14), dtype=np.int64)
    short[0, 0] = 15
    edges = 420 + np.arange(15, dtype=np.int64) * 30
    _, start, end, samplers = capacity_plan(short, edges, 210)
    assert start.tolist() == [420] and end.tolist() == [450] and samplers.tolist() == [15]
