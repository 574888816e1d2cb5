"""Tests for the queue simulation and the timetable repair loop."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.day.queue_sim import SimParams, repair_timetable, serve_fifo, simulate
from solver.day.timetable import Timetable, TimetableProblem, build_timetable, constant_tables

_FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def day(
    residents: list[int],
    points: list[int],
    tables: list[int],
    yellow: list[int] | None = None,
    **kw: object,
) -> TimetableProblem:
    """A small day: buildings at points, constant tables."""
    n = len(residents)
    edges, tab = constant_tables(np.asarray(tables, np.int64), 420, 840)
    args: dict[str, object] = {
        "building_point": np.asarray(points, np.int64),
        "residents": np.asarray(residents, np.int64),
        "yellow": np.asarray(yellow if yellow is not None else [0] * n, np.int64),
        "elderly": np.zeros(n, np.int64),
        "grid": np.arange(n, dtype=np.int64),
        "n_points": len(tables),
        "table_edges": edges,
        "tables": tab,
    }
    args.update(kw)
    return TimetableProblem(**args)  # type: ignore[arg-type]


@st.composite
def days(draw: st.DrawFn) -> tuple[Timetable, SimParams, int]:
    """Random small timetables with lateness and service variability, maybe time-varying."""
    p = draw(st.integers(1, 3))
    n = draw(st.integers(1, 12))
    res = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    pts = draw(st.lists(st.integers(0, p - 1), min_size=n, max_size=n))
    yel = [draw(st.integers(0, r // 2)) for r in res]
    if draw(st.booleans()):
        pr = day(res, pts, draw(st.lists(st.integers(1, 4), min_size=p, max_size=p)), yel)
    else:
        edges = np.arange(420, 841, 60, dtype=np.int64)
        tab = np.asarray(
            draw(st.lists(st.integers(0, 3), min_size=p * 7, max_size=p * 7)), np.int64
        ).reshape(p, 7)
        pr = dataclasses.replace(
            day(res, pts, [1] * p, yel), table_edges=edges, tables=tab, yellow_channel_share=0.0
        )
    params = SimParams(
        service_cv=draw(st.sampled_from([0.0, 0.3, 0.5])),
        late_share=draw(st.sampled_from([0.0, 0.2])),
    )
    return build_timetable(pr), params, draw(st.integers(0, 2**31))


@_FAST
@given(days())
def test_simulation_invariants(case: tuple[Timetable, SimParams, int]) -> None:
    tt, params, seed = case
    a = simulate(tt, params, seed=seed, keep_residents=True)
    b = simulate(tt, params, seed=seed, keep_residents=True)
    # same seed, same result
    assert np.array_equal(a.r_start, b.r_start) and np.array_equal(a.r_arrival, b.r_arrival)
    assert np.array_equal(a.p95_wait, b.p95_wait, equal_nan=True)
    # everyone served exactly once (no table ever open ⇒ counted unserved; arriving after the
    # queue closed ⇒ counted after_close)
    total = np.bincount(tt.part_point, weights=tt.part_residents, minlength=tt.main_tables.shape[0])
    assert np.array_equal((a.served + a.unserved + a.after_close).astype(float), total)
    assert a.r_point.size == int(a.served.sum())
    # waits ≥ 0, service after arrival, FIFO per queue (starts in arrival order)
    assert np.all(a.r_start >= a.r_arrival - 1e-9)
    assert np.all(a.r_end >= a.r_start)
    for j in np.unique(a.r_point).tolist():
        for c in (0, 1):
            m = (a.r_point == j) & (a.r_channel == c)
            assert np.all(np.diff(a.r_arrival[m]) >= 0)
            assert np.all(np.diff(a.r_start[m]) >= -1e-9)
    ok = a.served > 0
    assert np.all(a.p50_wait[ok] >= 0) and np.all(a.p95_wait[ok] >= a.p50_wait[ok] - 1e-9)
    # nobody starts before the window opens
    assert np.all(a.r_start >= tt.window_start - 1e-9)
    # with the same tables all day (and after it), never more swabs at once than tables, the
    # yellow channel's table included: it serves one queue at a time
    if tt.table_edges.size == 2:
        staffed = tt.main_tables[:, 0] + tt.yellow_tables[:, 0]
        for j in np.unique(a.r_point).tolist():
            m = a.r_point == j
            s, e = a.r_start[m], a.r_end[m]
            busy = (s[None, :] <= s[:, None] + 1e-9) & (e[None, :] > s[:, None] + 1e-9)
            assert int(busy.sum(axis=1).max()) <= staffed[j]


def test_same_seed_same_result_different_seed_differs() -> None:
    tt = build_timetable(day([300, 200, 250], [0, 0, 1], [2, 2]))
    p = SimParams(late_share=0.1)
    a, b, c = (simulate(tt, p, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.p95_wait, b.p95_wait) and np.array_equal(a.finish, b.finish)
    assert not np.array_equal(a.p95_wait, c.p95_wait)


def test_subset_simulation_matches_full() -> None:
    tt = build_timetable(day([300, 200, 250], [0, 1, 2], [2, 1, 2]))
    p = SimParams()
    full = simulate(tt, p, seed=1)
    part = simulate(tt, p, seed=1, points=np.array([1], np.int64))
    assert part.p95_wait[1] == full.p95_wait[1] and np.isnan(part.p95_wait[0])


def test_one_table_deterministic_by_hand() -> None:
    """Three residents at 07:00 sharp, one table, 1 min swabs: waits 0, 1, 2."""
    tt = build_timetable(day([3], [0], [1], rate_per_hour=60.0))
    tt = dataclasses.replace(
        tt,
        part_building=np.array([0]),
        part_point=np.array([0]),
        part_start=np.array([420]),
        part_end=np.array([420]),
        part_residents=np.array([3]),
        part_yellow=np.array([False]),
        part_channel=np.array([0]),
    )
    r = simulate(tt, SimParams(rate_per_hour=60.0, service_cv=0.0), keep_residents=True)
    assert r.r_start.tolist() == [420.0, 421.0, 422.0]
    assert r.p50_wait[0] == 1.0 and r.max_wait[0] == 2.0
    assert r.finish[0] == 423.0 and r.peak_queue[0] == 2


def test_serve_fifo_by_hand_with_closing_table() -> None:
    """Table 1 closes at 5 (finishing its swab); 3-minute swabs, five arrivals at 0."""
    arr = np.zeros(5)
    svc = np.full(5, 3.0)
    iv = [([0.0], [float("inf")]), ([0.0], [5.0])]
    assert serve_fifo(arr, svc, iv).tolist() == [0.0, 0.0, 3.0, 3.0, 6.0]
    # one table, arrivals spaced: classic single-server recursion
    a = np.array([0.0, 1.0, 10.0, 10.5])
    s = np.array([2.0, 2.0, 1.0, 1.0])
    assert serve_fifo(a, s, [([0.0], [float("inf")])]).tolist() == [0.0, 2.0, 10.0, 11.0]
    # a table opening later
    assert serve_fifo(np.zeros(2), np.ones(2), [([30.0], [float("inf")])]).tolist() == [30, 31]


def test_repair_fixes_or_reports() -> None:
    """Swabs slower than planned (70/h vs 100/h): repair spreads calls or reports the point."""
    pr = day([900, 900, 300], [0, 1, 2], [3, 2, 1])
    tt = build_timetable(pr)
    params = SimParams(rate_per_hour=70.0, service_cv=0.4)
    sim = simulate(tt, params, seed=3)
    assert np.nanmax(sim.p95_wait) > 30.0  # the plan fails in simulation
    rep = repair_timetable(pr, tt, params, seed=3, max_rounds=4, simulation=sim)
    assert 1 <= rep.rounds <= 4
    still = set(rep.failing.tolist()) | set(rep.impossible.tolist())
    for j in range(pr.n_points):
        if j not in still:
            assert rep.simulation.p95_wait[j] <= 30.0
    assert rep.changed.size >= 1
    # a repaired timetable is still a valid timetable: same buildings called in the window
    assert np.all(rep.timetable.part_end <= pr.window_end)


def test_million_residents_scale_small() -> None:
    """20k residents over 8 points keep their p95 waits under the limit (the speed at 1M:
    ``bench/day_scale.py``)."""
    rng = np.random.default_rng(0)
    n = 200
    pts = np.sort(rng.integers(0, 8, n))
    res = rng.integers(50, 150, n)
    tables = np.maximum(1, np.ceil(np.bincount(pts, weights=res, minlength=8) / 700))
    pr = day(res.tolist(), pts.tolist(), tables.astype(int).tolist())
    tt = build_timetable(pr)
    r = simulate(tt, SimParams(late_share=0.1), seed=0)
    assert np.nanmax(r.p95_wait) <= 30.0


def test_late_points_are_called_earlier_or_reported() -> None:
    """A point at 99 % with many late residents finishes after the window: the repair calls it
    earlier (a longer planned wait, capped) and its p95 finish over the replications does not
    get later; a point that is not late is left alone."""
    pr = day([198] * 7 + [150] * 7, [0] * 7 + [1] * 7, [2, 2])
    tt = build_timetable(pr)
    params = SimParams(late_share=0.4, late_mean_min=20.0, service_cv=0.6)
    sim = simulate(tt, params, seed=1)
    before = repair_timetable(pr, tt, params, seed=1, replications=10, simulation=sim)
    after = repair_timetable(
        pr, tt, params, seed=1, replications=10, simulation=sim, late_after=float(pr.window_end)
    )
    assert before.finish_p95[0] > pr.window_end  # late without the repair
    assert after.changed.tolist() == [0] and after.rounds >= 1
    assert pr.target_wait < after.target_wait[0] <= 2.0 / 3.0 * pr.wait_limit_min + 1e-9
    assert after.target_wait[1] == pr.target_wait
    assert after.finish_p95[0] <= before.finish_p95[0]
    assert after.finish_p95[1] == before.finish_p95[1]
    # the district's p95 finish is at least each point's, and the late list matches
    assert after.district_finish_p95 >= np.nanmax(after.finish_p95) - 1e-9
    assert set(after.late.tolist()) == set(np.flatnonzero(after.finish_p95 > pr.window_end))
    # nothing pushed out of the window
    assert after.timetable.point_not_called.sum() == 0
    assert after.timetable.point_overtime.sum() == 0


def test_yellow_channel_table_joins_the_shared_queue() -> None:
    """A yellow channel (1 of 3 tables) with 200 yellow-code residents and 2,100 regular
    residents in overtime mode: once its yellow queue is empty the channel's table swabs
    regular residents, so the day ends about when three tables finish everyone (deterministic
    swabs, nobody late), never with the channel idle while the shared queue runs into overtime;
    a yellow resident never waits behind a regular one."""
    res = [200] + [100] * 21
    yel = [200] + [0] * 21
    pr = day(res, [0] * 22, [3], yel, yellow_channel_share=0.2, overtime=True)
    tt = build_timetable(pr)
    assert tt.point_channel[0] and np.isfinite(tt.point_switch[0])
    params = SimParams(service_cv=0.0)
    r = simulate(tt, params, keep_residents=True)
    assert r.served[0] == 2300 and r.unserved[0] == 0
    # 2,300 swabs on 3 tables at 100/h: 07:00 + 460 min = 14:40 at the earliest
    bound = 420 + 2300 / 300 * 60
    assert bound <= r.finish[0] <= bound + 25
    without = simulate(dataclasses.replace(tt, point_switch=np.full(1, np.inf)), params)
    assert without.finish[0] > r.finish[0] + 60  # the channel kept for yellow: an hour later
    # the yellow queue is over before the channel's table takes regular residents
    yellow_end = r.r_end[r.r_channel == 1].max()
    main = r.r_channel == 0
    order = np.argsort(r.r_start[main])
    starts, ends = r.r_start[main][order], r.r_end[main][order]
    busy_before = np.array(
        [((starts <= t) & (ends > t)).sum() for t in starts[starts < yellow_end]]
    )
    assert busy_before.size == 0 or int(busy_before.max()) <= 2
