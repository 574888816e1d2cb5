"""Call timetable: when each building is called down to its sampling point (分楼栋、分时段).

Model (fluid queue, per point). Staffed tables ``c(t)`` (piecewise constant on
``table_edges``) serve ``rate_per_hour`` swabs per table per hour, so the cumulative capacity
``C(t)`` is piecewise linear. The window is cut into call slots of ``slot_min`` minutes.
Residents are laid out in call order as one line (grids contiguous; optionally grids and,
inside a grid, buildings with many elderly first) and the first ``G_s`` residents are called
by the end of slot ``s``, with the *calling curve*

    ``G_s = C(min(e_s + w, window_end))``  (``w`` = target wait, default limit / 3)

i.e. calls run ``w`` minutes of capacity ahead of service: in the fluid model tables never
idle (so the point finishes at the capacity lower bound) and nobody called by ``e_s`` waits
longer than ``w``. A building whose residents straddle slot ends is split into consecutive
per-slot parts (by unit/floor); a first fragment smaller than ``min_part`` moves into the
next slot (calling later never lengthens the wait bound). Residents beyond ``C(window_end)``
cannot be served in the window; the building straddling that capacity has its first residents
(units, floors) called in the last slot and the rest left without a call, so no table idles
while residents of the point wait for a call.

What happens to them depends on ``overtime``. Without it (``overflow = "unserved"``) those
buildings are flagged ``NOT_CALLED``. With it, calls continue after the window end in slots of
the same length, ``G_s = C(e_s + w)``, on the tables of the window's last staffed block (the
samplers on duty at the end stay until their point's last resident is swabbed; see
:mod:`sampling.stages.day`), until everyone is called or ``_OVERTIME_MIN`` after the window
(a deficit larger than a day leaves the rest ``NOT_CALLED``). Residents called after the window
end are the point's *overtime* residents; the residents beyond the point's staffed capacity in
the window are its *deficit* (``point_deficit`` = load − ``C(window_end)``, at least 0).

Yellow-code residents never share a slot or a channel with others. ``yellow_mode="channel"``:
at points with at least two tables and a yellow volume of at least ``yellow_channel_share`` of
one table's day, one table becomes a dedicated yellow channel and the yellow residents get
their own calling curve on it, from the window start at the table's full rate. Once the yellow
queue has drained (its fluid finish, ``point_switch``) the channel's table joins the shared
tables — in the window and in overtime, where it is one of the tables kept on — so the regular
residents' curve counts it from then on; while yellow residents are being called it takes
nobody else. A yellow queue that cannot drain (yellow residents left without a call) keeps its
table. Otherwise (or with ``"end_slot"``) they are called after everyone else, on the same
tables, in short end slots (``yellow_slot_min``, default 5 min) from the first such boundary
after the regular queue has drained (fluid);
if no capacity is left in the window they are called in overtime or, without it, not called
(the point is flagged).

Report per point: start, fluid finish, peak queue, longest fluid wait and the lower bound
``C⁻¹(residents)`` (start + residents ÷ staffed rate with time-varying tables). A point over
capacity reports the finish of its whole load, its uncalled residents swabbed in overtime
after the window, so the finish is never earlier than the bound and shows the overrun. Inputs are
``residents`` (walk-in, yellow included) and ``yellow`` ≤ ``residents`` per building.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

CALLED = 0  # building called (its regular residents have a call window; see _layout)
NOT_CALLED = 1  # the point's capacity in the window cannot take this building
NOTHING = 2  # no regular (non-yellow) residents to call

_OVERTIME_MIN = 24 * 60  # capacity after the window keeps the last tables (for finish times)
"""How long after the window the capacity model (and overtime calls) may run."""


@dataclass(frozen=True)
class TimetableProblem:
    """Immutable timetable input: buildings (N,), points P, staffed tables (P, E) on edges.

    ``tables[p, e]`` tables staffed at point ``p`` in ``[table_edges[e], table_edges[e+1])``
    (from :meth:`solver.day.staffing.StaffingResult.staffed_tables`, or :func:`constant_tables`).
    ``grid`` ids need not be contiguous; buildings of one grid at one point are kept together.
    """

    building_point: I64
    residents: I64
    yellow: I64
    elderly: I64
    grid: I64
    n_points: int
    table_edges: I64
    tables: I64
    window_start: int = 7 * 60
    window_end: int = 14 * 60
    rate_per_hour: float = 100.0
    slot_min: int = 15
    wait_limit_min: float = 30.0
    target_wait_min: float | None = None
    min_part: int = 20
    yellow_mode: Literal["channel", "end_slot"] = "channel"
    yellow_slot_min: int = 5
    yellow_channel_share: float = 0.5
    elderly_first: bool = True
    elderly_share_min: float = 0.3
    overtime: bool = False

    def __post_init__(self) -> None:
        n = self.building_point.shape[0]
        for name in ("residents", "yellow", "elderly", "grid"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one value per building")
        if n and (int(self.building_point.min()) < 0 or self.building_point.max() >= self.n_points):
            raise ValueError("building_point out of range")
        if np.any(self.yellow > self.residents) or np.any(self.yellow < 0):
            raise ValueError("need 0 <= yellow <= residents")
        if self.tables.shape != (self.n_points, self.table_edges.shape[0] - 1):
            raise ValueError("tables must be (P, len(table_edges) - 1)")
        if self.window_end <= self.window_start or self.slot_min <= 0:
            raise ValueError("need window_start < window_end and slot_min > 0")
        if self.yellow_mode not in ("channel", "end_slot"):
            raise ValueError("yellow_mode must be 'channel' or 'end_slot'")

    @property
    def target_wait(self) -> float:
        """Planned fluid wait ``w`` in minutes."""
        if self.target_wait_min is not None:
            return float(self.target_wait_min)
        return self.wait_limit_min / 3.0

    def slot_edges(self) -> I64:
        """Call slot edges from window start to window end (last slot may be shorter)."""
        e = np.arange(self.window_start, self.window_end, self.slot_min, dtype=np.int64)
        return np.append(e, np.int64(self.window_end))


def constant_tables(tables: I64, window_start: int, window_end: int) -> tuple[I64, I64]:
    """``(table_edges, tables (P, 1))`` for tables staffed the whole window."""
    edges = np.array([window_start, window_end], dtype=np.int64)
    return edges, tables.astype(np.int64).reshape(-1, 1)


@dataclass(frozen=True)
class TimetableStats:
    """Whole-day figures over the points with residents (a point over capacity counts with
    its overtime finish, see :func:`_overtime`).

    ``gap_pct``: (finish − window start) / (lower bound − window start) − 1 for the last
    point to finish against the latest lower bound; ``mean_point_gap_pct``: the same ratio
    per point, averaged.
    """

    seconds: float
    finish: int
    lower_bound: int
    gap_pct: float
    mean_point_gap_pct: float
    split_buildings: int
    points_over_capacity: int
    residents_not_called: int
    residents_overtime: int = 0
    deficit: int = 0


@dataclass(frozen=True, eq=False)
class Timetable:
    """Call windows per part, building and point.

    Parts (the unit of calling; a building has one part per slot it is called in):
    ``part_building``, ``part_point``, ``part_start``, ``part_end`` (minutes),
    ``part_residents``, ``part_yellow`` (yellow-code residents only), ``part_channel``
    (1 = the point's dedicated yellow table, 0 = the shared tables).
    Buildings: ``call_start``/``call_end`` of the regular residents (-1 if not called),
    ``yellow_start``/``yellow_end`` of the yellow residents (-1 if none or not called),
    ``status`` (:data:`CALLED`, :data:`NOT_CALLED`, :data:`NOTHING`).
    Points: ``point_start``, ``point_finish`` (fluid; with overtime for residents left without
    a call, see :func:`_overtime`; -1 if idle), ``point_lower_bound``,
    ``point_peak_queue`` (people), ``point_max_wait`` (minutes, fluid), ``point_channel``
    (dedicated yellow table), ``point_over_capacity`` (load does not fit in the window),
    ``point_not_called`` (residents left without a call), ``point_stranded`` (of those, the
    residents no table will ever swab: none is kept after the window, so the point's finish and
    bound count only the others), ``point_overtime`` (residents
    called after the window end), ``point_capacity`` (residents the staffed tables can swab
    inside the window), ``point_deficit`` (load beyond that capacity), ``point_after_tables``
    (tables kept on after the window end).
    ``main_edges``/``main_tables`` and ``yellow_tables`` (P, E): tables per queue, for
    simulation. ``overtime``: calls may continue after the window end.
    """

    part_building: I64
    part_point: I64
    part_start: I64
    part_end: I64
    part_residents: I64
    part_yellow: B
    part_channel: I64
    call_start: I64
    call_end: I64
    yellow_start: I64
    yellow_end: I64
    status: I64
    point_start: I64
    point_finish: I64
    point_lower_bound: I64
    point_peak_queue: F64
    point_max_wait: F64
    point_channel: B
    point_over_capacity: B
    point_not_called: I64
    point_stranded: I64
    table_edges: I64
    main_tables: I64
    yellow_tables: I64
    window_start: int
    window_end: int
    stats: TimetableStats = field(repr=False)
    point_overtime: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    point_capacity: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    point_deficit: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    point_after_tables: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    overtime: bool = False
    point_switch: F64 = field(default_factory=lambda: np.zeros(0, np.float64))


def after_window_tables(tables: I64) -> int:
    """Tables kept on after the window: the last block's, or the most staffed if it has none.

    The same rule holds in the timetable's capacity, the simulation and the overtime shifts.
    """
    last = int(tables[-1]) if tables.size else 0
    return last if last > 0 else max(int(tables.max()) if tables.size else 0, 0)


def tables_at(edges: I64, tables: I64, after: int, window_end: int, t: F64) -> F64:
    """Tables in force at times ``t`` (≥ ``edges[0]``): ``tables`` on the blocks of ``edges``
    inside the window, ``after`` from the window end on."""
    blk = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, max(tables.size - 1, 0))
    inside = tables[blk].astype(np.float64) if tables.size else np.zeros(t.shape)
    return np.where(t < window_end, inside, float(after))


class _Cap:
    """Cumulative capacity ``C(t)`` of one queue (piecewise linear) and its inverse.

    ``t`` (K + 1) breakpoints from the window start to the end of the overtime horizon and
    ``n`` (K) tables in force between them; ``after`` is the count at the horizon's end (the
    tables that stay after the window).
    """

    def __init__(self, t: F64, n: F64, per_min: float) -> None:
        self.t = t
        self.after = int(n[-1]) if n.size else 0
        self.c = np.concatenate([[0.0], np.cumsum(n * np.diff(t) * per_min)])

    @classmethod
    def of(
        cls,
        edges: I64,
        parts: list[tuple[I64, int, float]],
        per_min: float,
        end: int,
    ) -> _Cap:
        """The capacity of a queue served by ``parts``: ``(tables per block of edges, tables
        after the window, from)`` — each part's tables count from the time ``from`` on (a
        yellow channel's table joining the shared tables once the yellow calls are done)."""
        horizon = float(end + _OVERTIME_MIN)
        if len(parts) == 1 and parts[0][2] <= edges[0] and edges[-1] == end:
            tables, after, _ = parts[0]  # one set of tables all day: the blocks as they are
            t = np.append(edges.astype(np.float64), horizon)
            return cls(t, np.append(tables.astype(np.float64), float(after)), per_min)
        cuts = [edges.astype(np.float64), np.array([float(end), horizon])]
        cuts += [np.array([f]) for _, _, f in parts if edges[0] < f < horizon]
        t = np.unique(np.concatenate(cuts))
        t = t[(t >= edges[0]) & (t <= horizon)]
        mid = (t[:-1] + t[1:]) / 2.0
        n = np.zeros(mid.size)
        for tables, after, start in parts:
            n += np.where(mid >= start, tables_at(edges, tables, after, end, mid), 0.0)
        return cls(t, n, per_min)

    def at(self, x: F64 | float) -> F64:
        """C(x)."""
        return np.asarray(np.interp(x, self.t, self.c), dtype=np.float64)

    def inv(self, y: F64 | float) -> F64:
        """Earliest time with C(t) ≥ y (the end of the horizon if never)."""
        y = np.asarray(y, dtype=np.float64)
        i = np.searchsorted(self.c, y, side="left")
        i = np.clip(i, 1, self.c.size - 1)
        c0, c1 = self.c[i - 1], self.c[i]
        t0, t1 = self.t[i - 1], self.t[i]
        frac = np.where(c1 > c0, (y - c0) / np.where(c1 > c0, c1 - c0, 1.0), 1.0)
        out = np.where(y <= 0, self.t[0], t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0))
        return np.asarray(out, dtype=np.float64)


@dataclass
class _Layout:
    """Parts of one queue at one point (building, slot index, residents)."""

    building: I64
    slot: I64
    residents: I64
    not_called: I64  # buildings beyond capacity
    left: int = 0  # residents of the one building straddling the capacity left without a call

    def uncalled(self, res: I64) -> int:
        """Residents of this queue left without a call (whole buildings and the straddler's
        rest)."""
        return int(res[self.not_called].sum()) + self.left


def _layout(
    order: I64, res: I64, g: I64, min_part: int, slot0: int, split_at: int | None = None
) -> tuple[_Layout, int]:
    """Split the residents of buildings ``order`` (in call order) over slots by curve ``g``.

    ``g[s]`` is the cumulative number of residents that may be called by the end of slot
    ``slot0 + s``; slots from ``split_at`` on are overtime (after the window end), and a
    building straddling the window end keeps its calls inside the window (the rest is called
    in overtime). The building straddling the last slot's capacity has its first residents
    (units, floors) called and the rest left without a call (``left``), so no table idles
    while residents wait for a call. Returns the layout and the number of split buildings.
    """
    r = res[order]
    keep = r > 0
    order, r = order[keep], r[keep]
    end = np.cumsum(r)
    cap = int(g[-1]) if g.size else 0
    fits = end - r < cap  # at least its first resident can be called
    bad = order[~fits]
    order, r, end = order[fits], r[fits], end[fits]
    left = int(np.maximum(end - cap, 0).sum())
    end = np.minimum(end, cap)
    beg = np.concatenate([[0], end[:-1]]).astype(np.int64) if end.size else end
    s_first = np.searchsorted(g, beg + 1, side="left")
    s_last = np.searchsorted(g, end, side="left")
    n = s_last - s_first + 1
    idx = np.repeat(np.arange(order.size), n)
    off = np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)
    slot = s_first[idx] + off
    hi = np.minimum(end[idx], g[slot])
    lo = np.maximum(beg[idx], np.where(slot > 0, g[np.maximum(slot - 1, 0)], 0))
    cnt = (hi - lo).astype(np.int64)
    # move a small first fragment into the next slot (later calls keep the wait bound)
    first_pos = np.cumsum(n) - n
    small = (n > 1) & (cnt[first_pos] < min_part)
    if small.any():
        fp = first_pos[small]
        cnt[fp + 1] += cnt[fp]
        cnt[fp] = 0
    # a building's call window must be contiguous: where the curve is flat (no staffed
    # table) inside a building, its earlier parts move to the first slot after the gap
    pos = np.flatnonzero(cnt > 0)
    gap = (idx[pos[1:]] == idx[pos[:-1]]) & (slot[pos[1:]] > slot[pos[:-1]] + 1)
    if split_at is not None:
        gap &= ~((slot[pos[:-1]] < split_at) & (slot[pos[1:]] >= split_at))
    for q in np.flatnonzero(gap).tolist():
        after = int(pos[q + 1])
        first = int(first_pos[idx[after]])
        cnt[after] += int(cnt[first:after].sum())
        cnt[first:after] = 0
    ok = cnt > 0
    split = int((np.bincount(idx[ok], minlength=order.size) > 1).sum())
    return (
        _Layout(order[idx[ok]], slot[ok] + slot0, cnt[ok], bad.astype(np.int64), left),
        split,
    )


def _curve(cap: _Cap, slot_end: I64, w: float, window_end: int, base: float) -> I64:
    """Calling curve: residents callable by each slot end, ``C(min(e + w, end)) − base``
    inside the window and ``C(e + w) − base`` for overtime slots (ending after the window)."""
    e = slot_end.astype(np.float64)
    x = np.where(e <= window_end, np.minimum(e + w, float(window_end)), e + w)
    return np.maximum(np.floor(cap.at(x) - base + 1e-9), 0).astype(np.int64)


def _slot_grid(first: int, window_end: int, step: int, until: float) -> I64:
    """Slot edges from ``first`` by ``step`` to the window end (always an edge), then on by
    ``step`` after the window while an edge is needed to reach ``until``."""
    inside = np.arange(first, window_end, step, dtype=np.int64)
    edges = np.append(inside, np.int64(window_end))
    if until > window_end:
        count = min(math.ceil((until - window_end) / step - 1e-9), _OVERTIME_MIN // step)
        after = window_end + step * np.arange(1, count + 1, dtype=np.int64)
        edges = np.append(edges, after)
    return edges


def _window_slots(edges: I64, window_end: int) -> int:
    """Number of slots of ``edges`` that end inside the window (the first overtime slot)."""
    return int(np.searchsorted(edges, window_end, side="left"))


def _overtime_until(cap: _Cap, load: float, base: float, w: float, window_end: int) -> float:
    """Latest slot end needed to call ``load`` residents after ``base`` in overtime (the
    window end when they fit in it, or nobody works after the window)."""
    if load <= 0 or cap.after <= 0:
        return float(window_end)
    if float(cap.at(float(window_end))) - base >= load:
        return float(window_end)
    # at least one slot after the window (the curve there runs w ahead of service)
    return max(float(cap.inv(base + load)) - w + 1e-6, window_end + 1e-3)


def _fluid(cap: _Cap, start: I64, end: I64, count: I64) -> tuple[float, float, float, float]:
    """Fluid queue for arrivals spread uniformly over ``[start, end)`` per part.

    Returns (first call, finish, peak queue, longest wait); -1 times when nobody comes.
    """
    keep = count > 0
    start, end, count = start[keep], end[keep], count[keep]
    if start.size == 0:
        return -1.0, -1.0, 0.0, 0.0
    grid = np.unique(np.concatenate([start, end])).astype(np.float64)
    span = np.maximum(end - start, 1e-9).astype(np.float64)
    frac = np.clip((grid[:, None] - start[None, :]) / span[None, :], 0.0, 1.0)
    cum_a = frac @ count.astype(np.float64)
    arrivals = np.diff(cum_a)
    cs = cap.at(grid)
    srv = np.diff(cs)
    q = 0.0
    peak = 0.0
    wait = 0.0
    for s in range(arrivals.size):
        q = max(0.0, q + float(arrivals[s]) - float(srv[s]))
        peak = max(peak, q)
        if q > 0:
            wait = max(wait, float(cap.inv(cs[s + 1] + q)) - float(grid[s + 1]))
    finish = float(cap.inv(cs[-1] + q))
    return float(grid[0]), finish, peak, wait


def _overtime(cap: _Cap, finish: float, left: int, window_end: int) -> float:
    """Finish of a queue whose ``left`` residents got no call in the window (over capacity).

    They are swabbed after the window and after the queue's called residents (``finish``,
    −1 if nobody was called), on the tables kept after the window, so the reported finish
    says how far past the window the point's whole load runs and is never earlier than the
    capacity lower bound ``C⁻¹(load)``.
    """
    if left <= 0 or cap.after <= 0:
        return finish  # no table after the window: they are never swabbed (``point_stranded``)
    begin = max(finish, float(window_end))
    return float(cap.inv(float(cap.at(begin)) + left))


def _order(
    pts_b: I64, grid: I64, elderly: I64, residents: I64, elderly_first: bool, share: float
) -> I64:
    """Call order of buildings: by point, grid (elderly-heavy grids first), building."""
    n = pts_b.size
    _, g = np.unique(grid, return_inverse=True)
    key_g = pts_b.astype(np.int64) * (int(g.max()) + 1 if n else 1) + g
    if not elderly_first or n == 0:
        return np.lexsort((np.arange(n), key_g, pts_b)).astype(np.int64)
    heavy = (elderly >= share * np.maximum(residents, 1)) & (elderly > 0)
    uniq, inv = np.unique(key_g, return_inverse=True)
    g_eld = np.bincount(inv, weights=elderly, minlength=uniq.size)
    g_res = np.bincount(inv, weights=residents, minlength=uniq.size)
    g_share = g_eld / np.maximum(g_res, 1)
    # first appearance keeps the input order among equal grids
    first_seen = np.full(uniq.size, n, dtype=np.int64)
    np.minimum.at(first_seen, inv, np.arange(n))
    return np.lexsort((np.arange(n), ~heavy, first_seen[inv], -g_share[inv], pts_b)).astype(
        np.int64
    )


def build_timetable(
    problem: TimetableProblem,
    *,
    target_wait: F64 | None = None,
    rate_factor: F64 | None = None,
) -> Timetable:
    """Give every building a call window (see module docstring).

    ``target_wait`` (P,) overrides the planned fluid wait per point and ``rate_factor`` (P,)
    plans calls at a fraction of the staffed rate (spreads calls over a longer day); both are
    used by :func:`solver.day.queue_sim.repair_timetable`.
    """
    started = time.perf_counter()
    pr = problem
    n, p = pr.building_point.shape[0], pr.n_points
    per_min = pr.rate_per_hour / 60.0
    w_arr = np.full(p, pr.target_wait) if target_wait is None else np.asarray(target_wait, float)
    f_arr = np.ones(p) if rate_factor is None else np.asarray(rate_factor, float)
    regular = (pr.residents - pr.yellow).astype(np.int64)
    yellow = pr.yellow.astype(np.int64)
    order = _order(
        pr.building_point, pr.grid, pr.elderly, pr.residents, pr.elderly_first, pr.elderly_share_min
    )
    pts_sorted = pr.building_point[order]
    bounds = np.searchsorted(pts_sorted, np.arange(p + 1))
    load_reg = np.bincount(pr.building_point, weights=regular, minlength=p)
    load_yel = np.bincount(pr.building_point, weights=yellow, minlength=p)
    tmax = pr.tables.max(axis=1) if pr.tables.shape[1] else np.zeros(p, np.int64)
    day_per_table = pr.rate_per_hour * (pr.window_end - pr.window_start) / 60.0
    channel = (
        (pr.yellow_mode == "channel")
        & (tmax >= 2)
        & (load_yel > 0)
        & (load_yel >= pr.yellow_channel_share * day_per_table)
    )
    y_tables = np.where(channel[:, None], np.minimum(pr.tables, 1), 0).astype(np.int64)
    m_tables = (pr.tables - y_tables).astype(np.int64)

    parts_b: list[I64] = []
    parts_s: list[I64] = []
    parts_e: list[I64] = []
    parts_r: list[I64] = []
    parts_y: list[B] = []
    parts_c: list[I64] = []
    not_called: list[I64] = []
    p_start = np.full(p, -1, np.int64)
    p_finish = np.full(p, -1, np.int64)
    p_lb = np.full(p, -1, np.int64)
    p_peak = np.zeros(p)
    p_wait = np.zeros(p)
    p_nc = np.zeros(p, np.int64)
    p_stranded = np.zeros(p, np.int64)
    p_cap = np.zeros(p, np.int64)
    p_deficit = np.zeros(p, np.int64)
    p_after = np.zeros(p, np.int64)
    p_switch = np.full(p, math.inf)
    split_total = 0
    y_step = max(1, min(pr.yellow_slot_min, pr.slot_min))

    def add(lay: _Layout, grid: I64, is_yellow: bool, chan: int) -> tuple[I64, I64, I64]:
        st, en = grid[lay.slot], grid[lay.slot + 1]
        parts_b.append(lay.building)
        parts_s.append(st)
        parts_e.append(en)
        parts_r.append(lay.residents)
        parts_y.append(np.full(lay.slot.size, is_yellow, dtype=bool))
        parts_c.append(np.full(lay.slot.size, chan, np.int64))
        return st, en, lay.residents

    for j in range(p):
        bj = order[bounds[j] : bounds[j + 1]]
        total = int(load_reg[j] + load_yel[j])
        edges_t = pr.table_edges
        kept = after_window_tables(pr.tables[j])
        full = _Cap.of(edges_t, [(pr.tables[j], kept, -math.inf)], per_min, pr.window_end)
        p_after[j] = full.after
        p_cap[j] = max(
            math.floor(
                float(full.at(float(pr.window_end)) - full.at(float(pr.window_start))) + 1e-9
            ),
            0,
        )
        if total == 0:
            continue
        # no table after the window: residents beyond the window's capacity are never swabbed
        reachable = total if full.after > 0 else min(total, p_cap[j])
        p_lb[j] = math.ceil(float(full.inv(float(reachable))) - 1e-9)
        w = float(w_arr[j])
        y_after = min(int(full.after), 1) if channel[j] else 0
        m_after = int(full.after) - y_after
        ylay: _Layout | None = None
        switch = math.inf  # when the yellow channel's table joins the shared tables
        if channel[j]:
            # the yellow channel first: its table serves the shared queue once its calls are
            # done (the yellow queue's fluid drain), in the window and in overtime
            y_parts = [(y_tables[j], y_after, -math.inf)]
            ycap = _Cap.of(edges_t, y_parts, per_min * f_arr[j], pr.window_end)
            ycap_true = _Cap.of(edges_t, y_parts, per_min, pr.window_end)
            y_until = (
                _overtime_until(ycap, float(load_yel[j]), 0.0, w, pr.window_end)
                if pr.overtime
                else float(pr.window_end)
            )
            y_grid = _slot_grid(pr.window_start, pr.window_end, pr.slot_min, y_until)
            gy = _curve(ycap, y_grid[1:], w, pr.window_end, 0.0)
            ylay, sp_y = _layout(
                bj, yellow, gy, pr.min_part, 0, _window_slots(y_grid, pr.window_end)
            )
            y_fluid = _fluid(ycap_true, y_grid[ylay.slot], y_grid[ylay.slot + 1], ylay.residents)
            y_nc = ylay.uncalled(yellow)
            y_fin = _overtime(ycap_true, y_fluid[1], y_nc, pr.window_end)
            # a yellow queue that never drains (residents left without a call) keeps its table
            switch = y_fin if y_fin >= 0 and (y_nc == 0 or pr.overtime) else math.inf
            p_switch[j] = switch
        m_parts = [(m_tables[j], m_after, -math.inf)]
        if channel[j] and math.isfinite(switch):
            m_parts.append((y_tables[j], y_after, switch))
        main = _Cap.of(edges_t, m_parts, per_min * f_arr[j], pr.window_end)
        main_true = _Cap.of(edges_t, m_parts, per_min, pr.window_end)
        until = (
            _overtime_until(main, float(load_reg[j]), 0.0, w, pr.window_end)
            if pr.overtime
            else float(pr.window_end)
        )
        edges = _slot_grid(pr.window_start, pr.window_end, pr.slot_min, until)
        g = _curve(main, edges[1:], w, pr.window_end, 0.0)
        lay, sp = _layout(bj, regular, g, pr.min_part, 0, _window_slots(edges, pr.window_end))
        split_total += sp
        rs, re_, rr = add(lay, edges, False, 0)
        not_called.append(lay.not_called)
        nc = lay.uncalled(regular)
        if channel[j] and ylay is not None:
            sp = sp_y
            ys, ye, yr = add(ylay, y_grid, True, 1)
            s0_, f0_, pk0, wt0 = _fluid(main_true, rs, re_, rr)
            s1_, _, pk1, wt1 = y_fluid
            starts = [x for x in (s0_, s1_) if x >= 0]
            first_call = min(starts) if starts else -1.0
            fin = max(_overtime(main_true, f0_, nc, pr.window_end), y_fin)
            pk, wt = max(pk0, pk1), max(wt0, wt1)
        else:
            # a separate end slot: from the regular queue's (fluid) drain time, on a finer grid
            _, rfin, _, _ = _fluid(main_true, rs, re_, rr)
            t0 = float(pr.window_start) if rfin < 0 else rfin
            k0 = math.ceil((t0 - pr.window_start) / y_step - 1e-9)
            first = pr.window_start + k0 * y_step
            if first < pr.window_end:
                base = float(main.at(float(first)))
                y_until = (
                    _overtime_until(main, float(load_yel[j]), base, w, pr.window_end)
                    if pr.overtime
                    else float(pr.window_end)
                )
                y_edges = _slot_grid(first, pr.window_end, y_step, y_until)
            elif pr.overtime and load_yel[j] > 0 and main.after > 0:
                # the regular queue runs past the window: yellow slots follow it in overtime
                first = pr.window_end + math.ceil((t0 - pr.window_end) / y_step - 1e-9) * y_step
                base = float(main.at(float(first)))
                y_until = float(main.inv(base + float(load_yel[j]))) - w + 1e-6
                count = max(math.ceil((y_until - first) / y_step - 1e-9), 1)
                y_edges = first + y_step * np.arange(count + 1, dtype=np.int64)
            else:
                y_edges = np.array([pr.window_end], dtype=np.int64)
                base = float(main.at(float(pr.window_end)))
            gy = _curve(main, y_edges[1:], w, pr.window_end, base)
            ylay, sp = _layout(
                bj, yellow, gy, pr.min_part, 0, _window_slots(y_edges, pr.window_end)
            )
            ys, ye, yr = add(ylay, y_edges, True, 0)
            first_call, fin, pk, wt = _fluid(
                main_true,
                np.concatenate([rs, ys]),
                np.concatenate([re_, ye]),
                np.concatenate([rr, yr]),
            )
            fin = _overtime(main_true, fin, nc + ylay.uncalled(yellow), pr.window_end)
        split_total += sp
        not_called.append(ylay.not_called)
        nc += ylay.uncalled(yellow)
        p_start[j] = int(first_call)
        # fin ≥ the bound in exact arithmetic (the bound's capacity serves the same load);
        # the max only absorbs floating-point rounding
        p_finish[j] = max(math.ceil(fin - 1e-9), int(p_lb[j]))
        p_peak[j] = pk
        p_wait[j] = wt
        p_nc[j] = nc
        p_stranded[j] = nc if full.after <= 0 else 0
        p_deficit[j] = max(total - int(p_cap[j]), 0)
    p_over = (p_nc > 0) | (p_deficit > 0)

    cat_b = np.concatenate(parts_b) if parts_b else np.zeros(0, np.int64)
    part_start = np.concatenate(parts_s) if parts_s else np.zeros(0, np.int64)
    part_end = np.concatenate(parts_e) if parts_e else np.zeros(0, np.int64)
    cat_r = np.concatenate(parts_r) if parts_r else np.zeros(0, np.int64)
    cat_y = np.concatenate(parts_y) if parts_y else np.zeros(0, bool)
    cat_c = np.concatenate(parts_c) if parts_c else np.zeros(0, np.int64)
    late_call = part_start >= pr.window_end
    p_ot = np.bincount(
        pr.building_point[cat_b[late_call]], weights=cat_r[late_call], minlength=p
    ).astype(np.int64)

    call_start = np.full(n, -1, np.int64)
    call_end = np.full(n, -1, np.int64)
    y_start = np.full(n, -1, np.int64)
    y_end = np.full(n, -1, np.int64)
    big = np.iinfo(np.int64).max
    for flag, s_arr, e_arr in ((False, call_start, call_end), (True, y_start, y_end)):
        sel = cat_y == flag
        tmp_s = np.full(n, big, np.int64)
        np.minimum.at(tmp_s, cat_b[sel], part_start[sel])
        np.maximum.at(e_arr, cat_b[sel], part_end[sel])
        s_arr[:] = np.where(tmp_s == big, -1, tmp_s)
    status = np.where(regular > 0, CALLED, NOTHING).astype(np.int64)
    nc_reg = np.concatenate(not_called[0::2]) if not_called else np.zeros(0, np.int64)
    status[nc_reg] = NOT_CALLED

    served = p_finish >= 0  # points with residents; over capacity ones finish in overtime
    if served.any():
        fin_all = int(p_finish[served].max())
        lb_all = int(p_lb[served].max())
        span_lb = np.maximum(p_lb - pr.window_start, 1).astype(float)
        # a finish at its bound is no gap, also when both are the window start (no one called)
        gaps = np.where(p_finish <= p_lb, 0.0, (p_finish - pr.window_start) / span_lb - 1.0)
        mean_gap = float(np.mean(gaps[served])) * 100.0
        gap = (
            0.0
            if fin_all <= lb_all
            else ((fin_all - pr.window_start) / max(lb_all - pr.window_start, 1) - 1.0) * 100.0
        )
    else:
        fin_all = lb_all = pr.window_start
        mean_gap = gap = 0.0
    stats = TimetableStats(
        seconds=time.perf_counter() - started,
        finish=fin_all,
        lower_bound=lb_all,
        gap_pct=gap,
        mean_point_gap_pct=mean_gap,
        split_buildings=split_total,
        points_over_capacity=int(p_over.sum()),
        residents_not_called=int(p_nc.sum()),
        residents_overtime=int(p_ot.sum()),
        deficit=int(p_deficit.sum()),
    )
    return Timetable(
        part_building=cat_b.astype(np.int64),
        part_point=pr.building_point[cat_b].astype(np.int64),
        part_start=part_start.astype(np.int64),
        part_end=part_end.astype(np.int64),
        part_residents=cat_r.astype(np.int64),
        part_yellow=cat_y.astype(bool),
        part_channel=cat_c.astype(np.int64),
        call_start=call_start,
        call_end=call_end,
        yellow_start=y_start,
        yellow_end=y_end,
        status=status,
        point_start=p_start,
        point_finish=p_finish,
        point_lower_bound=p_lb,
        point_peak_queue=p_peak,
        point_max_wait=p_wait,
        point_channel=channel.astype(bool),
        point_over_capacity=p_over,
        point_not_called=p_nc,
        point_stranded=p_stranded,
        table_edges=pr.table_edges.astype(np.int64),
        main_tables=m_tables,
        yellow_tables=y_tables,
        window_start=pr.window_start,
        window_end=pr.window_end,
        stats=stats,
        point_overtime=p_ot,
        point_capacity=p_cap,
        point_deficit=p_deficit,
        point_after_tables=p_after,
        overtime=pr.overtime,
        point_switch=p_switch,
    )
