"""Tests for the call timetable: windows, conservation, grid contiguity, yellow separation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.day.timetable import (
    CALLED,
    NOT_CALLED,
    NOTHING,
    Timetable,
    TimetableProblem,
    build_timetable,
    constant_tables,
)

_FAST = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def problems(draw: st.DrawFn) -> TimetableProblem:
    """1–3 points, up to 25 buildings, constant or time-varying tables, both yellow modes."""
    p = draw(st.integers(1, 3))
    n = draw(st.integers(1, 25))
    res = np.asarray(draw(st.lists(st.integers(0, 700), min_size=n, max_size=n)), np.int64)
    yel = np.asarray([draw(st.integers(0, int(r))) if r else 0 for r in res], np.int64)
    yel = np.where(np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n))), yel, 0)
    eld = np.asarray([draw(st.integers(0, int(r))) for r in res], np.int64)
    pts = np.asarray(draw(st.lists(st.integers(0, p - 1), min_size=n, max_size=n)), np.int64)
    grid = np.asarray(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.int64)
    start, end = 420, draw(st.sampled_from([600, 840]))
    if draw(st.booleans()):
        edges, tables = constant_tables(
            np.asarray(draw(st.lists(st.integers(1, 5), min_size=p, max_size=p)), np.int64),
            start,
            end,
        )
    else:
        edges = np.arange(start, end + 1, 30, dtype=np.int64)
        nb = edges.size - 1
        tables = np.asarray(
            draw(st.lists(st.integers(0, 4), min_size=p * nb, max_size=p * nb)), np.int64
        ).reshape(p, nb)
    return TimetableProblem(
        building_point=pts,
        residents=res,
        yellow=yel.astype(np.int64),
        elderly=eld,
        grid=grid,
        n_points=p,
        table_edges=edges,
        tables=tables,
        window_start=start,
        window_end=end,
        slot_min=draw(st.sampled_from([15, 20, 30])),
        yellow_mode=draw(st.sampled_from(["channel", "end_slot"])),
        yellow_channel_share=draw(st.sampled_from([0.0, 0.5])),
        elderly_first=draw(st.booleans()),
        overtime=draw(st.booleans()),
    )


def check(pr: TimetableProblem, tt: Timetable) -> None:
    """Every promise of the timetable."""
    n = pr.building_point.size
    regular = pr.residents - pr.yellow
    ws, we = pr.window_start, pr.window_end
    # parts inside the window (or after it, in overtime), positive, at the building's point
    assert np.all(tt.part_residents > 0)
    assert np.all((tt.part_start >= ws) & (tt.part_start < tt.part_end))
    if not pr.overtime:
        assert np.all(tt.part_end <= we)
    # a call slot never straddles the window end: overtime calls start at or after it
    assert not np.any((tt.part_start < we) & (tt.part_end > we))
    assert np.array_equal(tt.part_point, pr.building_point[tt.part_building])
    # exactly one call window per called building; residents conserved across split parts
    reg = ~tt.part_yellow
    got_reg = np.bincount(tt.part_building[reg], weights=tt.part_residents[reg], minlength=n)
    got_yel = np.bincount(tt.part_building[~reg], weights=tt.part_residents[~reg], minlength=n)
    called = tt.status == CALLED
    assert np.array_equal(called, regular > 0) or np.any(tt.status == NOT_CALLED)
    assert np.all(tt.status[regular == 0] == NOTHING)
    # a called building is called whole, except at most one per point: the one straddling the
    # point's capacity has its first residents called and the rest left without a call
    assert np.all((got_reg[called] > 0) & (got_reg[called] <= regular[called]))
    partial = called & (got_reg < regular)
    assert np.bincount(pr.building_point[partial], minlength=pr.n_points).max(initial=0) <= 1
    # …and only when its point leaves someone without a call
    assert np.all(np.isin(pr.building_point[partial], np.flatnonzero(tt.point_not_called)))
    assert np.all(got_reg[~called] == 0)
    assert np.all(tt.call_start[called] >= ws)
    assert pr.overtime or np.all(tt.call_end[called] <= we)
    assert np.all(tt.call_start[~called] == -1)
    assert np.all(got_yel <= pr.yellow)
    # a building's parts of one kind lie in consecutive slots (no gaps), except that one
    # straddling the window end keeps its calls inside the window and the rest in overtime
    for b in np.unique(tt.part_building).tolist():
        for kind in (False, True):
            m = (tt.part_building == b) & (tt.part_yellow == kind)
            if m.any():
                s = np.sort(tt.part_start[m])
                e = np.sort(tt.part_end[m])
                assert np.all((s[1:] == e[:-1]) | ((e[:-1] <= we) & (s[1:] >= we)))
    # residents not called are reported per point and flag the point
    left = (pr.residents - got_reg - got_yel).astype(np.int64)
    per_point = np.bincount(pr.building_point, weights=left, minlength=pr.n_points)
    assert np.array_equal(per_point.astype(np.int64), tt.point_not_called)
    assert np.array_equal(
        tt.point_over_capacity, (tt.point_not_called > 0) | (tt.point_deficit > 0)
    )
    # the deficit is the load beyond the staffed capacity in the window
    load = np.bincount(pr.building_point, weights=pr.residents, minlength=pr.n_points)
    assert np.array_equal(tt.point_deficit, np.maximum(load - tt.point_capacity, 0))
    # overtime residents are those called from the window end on
    late = tt.part_start >= we
    ot = np.bincount(tt.part_point[late], weights=tt.part_residents[late], minlength=pr.n_points)
    assert np.array_equal(ot.astype(np.int64), tt.point_overtime)
    if pr.overtime:
        # everyone is called where a table works after the window; the overtime covers the
        # deficit, and the finish is at least the time the after-window tables need for it
        per_min = pr.rate_per_hour / 60.0
        # (a deficit needing more than a day of overtime is left uncalled; a yellow channel's
        # table serves the regular residents once its yellow calls are done)
        day = np.maximum(tt.point_after_tables, 1) * per_min * (24 * 60 - 120)
        staffed = (tt.point_after_tables > 0) & (tt.point_deficit < day)
        assert np.all(tt.point_not_called[staffed] == 0)
        assert np.all(tt.point_overtime[staffed] >= tt.point_deficit[staffed] - 0)
        busy = staffed & (tt.point_deficit > 0)
        need = tt.point_deficit[busy] / (tt.point_after_tables[busy] * per_min)
        assert np.all(tt.point_finish[busy] - we >= need - 1e-6)
    else:
        assert np.all(tt.point_overtime == 0)
    # yellow never shares a slot on the same channel with regular residents
    for j in range(pr.n_points):
        for c in (0, 1):
            mr = (tt.part_point == j) & (tt.part_channel == c) & reg
            my = (tt.part_point == j) & (tt.part_channel == c) & ~reg
            if mr.any() and my.any():
                assert tt.part_start[my].min() >= tt.part_end[mr].max()
        if tt.point_channel[j]:
            assert not np.any((tt.part_point == j) & (tt.part_channel == 1) & reg)
    # a grid's buildings are called in consecutive slots: no other grid strictly inside
    for j in range(pr.n_points):
        m = (tt.part_point == j) & reg
        g = pr.grid[tt.part_building[m]]
        s = tt.part_start[m]
        for gid in np.unique(g).tolist():
            lo, hi = s[g == gid].min(), s[g == gid].max()
            assert not np.any((g != gid) & (s > lo) & (s < hi))
    # lower bound ≤ fluid finish; fluid wait within the planned wait
    ok = (tt.point_finish >= 0) & ~tt.point_over_capacity
    assert np.all(tt.point_lower_bound[ok] <= tt.point_finish[ok])
    if pr.tables.shape[1] == 1:  # no idle gaps: the calling curve bounds the fluid wait
        # calls are whole parts of ≥ min_part residents (or a whole smaller building), so the
        # fluid wait may exceed the target by at most one such part's service time
        # (per queue: a yellow channel's queue has one table, the regular one the rest)
        queue_tables = np.where(tt.point_channel, 1, pr.tables[:, 0])
        per_min_point = pr.rate_per_hour / 60.0 * np.maximum(queue_tables, 1)
        slack = pr.min_part / per_min_point
        assert np.all(tt.point_max_wait <= pr.target_wait + slack + 1e-6)
        assert np.all(
            (tt.point_max_wait <= pr.wait_limit_min + 1e-6)
            | (pr.target_wait + slack > pr.wait_limit_min)
        )


@_FAST
@given(problems())
def test_timetable_invariants(pr: TimetableProblem) -> None:
    check(pr, build_timetable(pr))


def check_no_idle_table(pr: TimetableProblem, tt: Timetable) -> None:
    """Nobody is left without a call in the window (not called, or called only in overtime)
    while a table of the point idles in the window: the residents called in the window fill
    its staffed capacity, up to one slot of the yellow channel's table draining its last
    calls, a moved first fragment and rounding. Constant tables (no staffing gaps to call
    around)."""
    assert pr.tables.shape[1] == 1
    we = pr.window_end
    regular = pr.residents - pr.yellow
    inside = tt.part_start < we
    called = np.bincount(
        tt.part_point[inside], weights=tt.part_residents[inside], minlength=pr.n_points
    )
    reg_late = np.bincount(
        tt.part_point[~inside & ~tt.part_yellow],
        weights=tt.part_residents[~inside & ~tt.part_yellow],
        minlength=pr.n_points,
    )
    per_min = pr.rate_per_hour / 60.0
    reg = ~tt.part_yellow
    got = np.bincount(tt.part_point[reg], weights=tt.part_residents[reg], minlength=pr.n_points)
    left = np.bincount(pr.building_point, weights=regular, minlength=pr.n_points) - got
    for j in range(pr.n_points):
        if left[j] == 0 and reg_late[j] == 0:
            continue
        slack = pr.min_part + 2
        if tt.point_channel[j]:
            slack += pr.slot_min * per_min
        assert called[j] >= tt.point_capacity[j] - slack, (j, called[j], tt.point_capacity[j])


@st.composite
def crowded(draw: st.DrawFn) -> TimetableProblem:
    """Points loaded up to twice their capacity, constant tables, often a yellow channel."""
    p = draw(st.integers(1, 3))
    n = draw(st.integers(1, 30))
    res = np.asarray(draw(st.lists(st.integers(1, 400), min_size=n, max_size=n)), np.int64)
    yel = np.asarray([draw(st.integers(0, int(r) // 2)) for r in res], np.int64)
    pts = np.asarray(draw(st.lists(st.integers(0, p - 1), min_size=n, max_size=n)), np.int64)
    load = np.bincount(pts, weights=res, minlength=p)
    end = draw(st.sampled_from([600, 840]))
    unit = 100.0 * (end - 420) / 60.0
    share = draw(st.sampled_from([0.5, 1.0, 2.0]))
    tables = np.maximum(np.ceil(load / (unit * share)), 1).astype(np.int64)
    edges, tab = constant_tables(tables, 420, end)
    return TimetableProblem(
        building_point=pts,
        residents=res,
        yellow=yel,
        elderly=np.zeros(n, np.int64),
        grid=np.asarray(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.int64),
        n_points=p,
        table_edges=edges,
        tables=tab,
        window_end=end,
        slot_min=draw(st.sampled_from([15, 30])),
        yellow_mode=draw(st.sampled_from(["channel", "end_slot"])),
        yellow_channel_share=draw(st.sampled_from([0.0, 0.2])),
        overtime=draw(st.booleans()),
    )


@_FAST
@given(crowded())
def test_no_resident_left_while_a_table_idles(pr: TimetableProblem) -> None:
    tt = build_timetable(pr)
    check(pr, tt)
    check_no_idle_table(pr, tt)


def test_yellow_channel_table_serves_regular_residents_after_its_calls() -> None:
    """3 tables × 700 in the window, 400 yellow (a channel) and 2,400 regular residents: the
    channel's table is free after about 4 h of yellow calls and swabs about 300 regular
    residents more than the two shared tables could (1,400), in the window; in overtime the
    rest is called on all three tables."""
    res = [400] + [100] * 24
    yel = np.array([400] + [0] * 24, np.int64)
    pr = one_point(res, 3, yellow=yel, yellow_channel_share=0.5)
    tt = build_timetable(pr)
    check(pr, tt)
    check_no_idle_table(pr, tt)
    assert tt.point_channel[0]
    assert 660 <= tt.point_switch[0] <= 690  # 400 yellow at 100/h from 07:00, called 10 min ahead
    reg_called = int(tt.part_residents[~tt.part_yellow].sum())
    assert reg_called >= 1600 and tt.point_not_called[0] == 2400 - reg_called
    # the yellow channel takes only yellow-code residents, before and after the switch
    assert not np.any((tt.part_channel == 1) & ~tt.part_yellow)
    pr_over = replace(pr, overtime=True)
    over = build_timetable(pr_over)
    check(pr_over, over)
    assert over.point_not_called[0] == 0
    # everyone (2,800) on 3 tables at 100/h: 07:00 + 560 min = 16:20 at the earliest
    assert over.point_finish[0] <= over.point_lower_bound[0] + 15


def test_yellow_channel_with_one_table_after_the_window() -> None:
    """Only one sampler stays after the window: it swabs the yellow queue, then the regular
    residents called in overtime (nobody is left without a call)."""
    edges = np.array([420, 630, 840], np.int64)
    pr = replace(
        one_point([600] + [100] * 20, 3, yellow=np.array([600] + [0] * 20, np.int64)),
        table_edges=edges,
        tables=np.array([[3, 1]], np.int64),
        overtime=True,
    )
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.point_channel[0] and tt.point_after_tables[0] == 1
    assert tt.point_not_called[0] == 0 and tt.point_overtime[0] > 0


def one_point(residents: list[int], tables: int, **kw: object) -> TimetableProblem:
    """One point, constant tables, one grid per building, no yellow."""
    n = len(residents)
    edges, tab = constant_tables(np.array([tables], np.int64), 420, 840)
    args: dict[str, object] = {
        "building_point": np.zeros(n, np.int64),
        "residents": np.asarray(residents, np.int64),
        "yellow": np.zeros(n, np.int64),
        "elderly": np.zeros(n, np.int64),
        "grid": np.arange(n, dtype=np.int64),
        "n_points": 1,
        "table_edges": edges,
        "tables": tab,
    }
    args.update(kw)
    return TimetableProblem(**args)  # type: ignore[arg-type]


def test_hand_example_finishes_at_lower_bound() -> None:
    """300 residents, 2 tables at 100/h: lower bound 08:30; calls run 10 min ahead."""
    pr = one_point([300], 2)
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.point_lower_bound[0] == 510
    assert tt.point_finish[0] == 510
    # G = C(e + 10): 50·(25/15)… first slot calls C(445) = 83 residents
    assert tt.part_start.tolist()[:2] == [420, 435]
    assert tt.part_residents[0] == 83
    assert tt.call_start[0] == 420 and tt.call_end[0] == 510


def test_over_capacity_is_flagged() -> None:
    """One table, 7 h, 100/h: 700 residents fit; of a second building of 200 the first 50
    are called at the end of the window and 150 are left, a third building gets no call."""
    pr = one_point([650, 200, 100], 1)
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.status.tolist() == [CALLED, CALLED, NOT_CALLED]
    assert tt.part_residents[tt.part_building == 1].sum() == 50
    assert tt.part_end[tt.part_building == 1].max() == 840
    assert tt.point_over_capacity[0] and tt.point_not_called[0] == 250


def test_yellow_end_slot_after_everyone() -> None:
    pr = one_point([200, 100], 2, yellow=np.array([20, 0], np.int64), yellow_mode="end_slot")
    tt = build_timetable(pr)
    check(pr, tt)
    ys = tt.part_start[tt.part_yellow].min()
    assert ys >= tt.part_end[~tt.part_yellow].max()
    assert tt.yellow_start[0] == ys and tt.yellow_start[1] == -1


def test_yellow_channel_when_justified() -> None:
    pr = one_point([1000, 100], 3, yellow=np.array([400, 0], np.int64))
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.point_channel[0]
    assert np.all(tt.part_channel[tt.part_yellow] == 1)
    assert tt.main_tables[0, 0] == 2 and tt.yellow_tables[0, 0] == 1


def test_elderly_grid_first() -> None:
    pr = one_point(
        [100, 100, 100],
        2,
        elderly=np.array([0, 80, 0], np.int64),
        grid=np.array([1, 2, 3], np.int64),
    )
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.call_start[1] == 420
    assert tt.call_start[0] < tt.call_start[2]


def test_ten_thousand_buildings_keep_every_promise() -> None:
    """A district-sized day (10,000 buildings, 400 points) keeps every promise and stays
    near its per-point lower bound; its speed is measured by ``bench/day_scale.py``."""
    rng = np.random.default_rng(0)
    n, p = 10_000, 400
    pts = np.sort(rng.integers(0, p, n))
    res = rng.integers(20, 250, n).astype(np.int64)
    load = np.bincount(pts, weights=res, minlength=p)
    tables = np.maximum(1, np.ceil(load / 700)).astype(np.int64)
    edges, tab = constant_tables(tables, 420, 840)
    pr = TimetableProblem(
        building_point=pts.astype(np.int64),
        residents=res,
        yellow=rng.binomial(res, 0.02).astype(np.int64),
        elderly=rng.binomial(res, 0.2).astype(np.int64),
        grid=(pts * 10 + rng.integers(0, 5, n)).astype(np.int64),
        n_points=p,
        table_edges=edges,
        tables=tab,
    )
    tt = build_timetable(pr)
    check(pr, tt)
    assert tt.stats.mean_point_gap_pct < 5.0
