"""Seeded discrete-event simulation of each sampling point's day, and timetable repair.

Model. Each timetable part brings its residents uniformly at random over its call window
``[start, end)``; a share ``late_share`` of them comes late by an exponential delay of mean
``late_mean_min``. Swab times are gamma distributed with mean ``60 / rate_per_hour`` minutes
and coefficient of variation ``service_cv`` (deterministic when 0). Each queue — the point's
shared tables, and its dedicated yellow-code table when it has one — is FIFO with time-varying
servers: table ``i`` is open in blocks where the staffed count exceeds ``i``; a table that
closes finishes its current swab; after the window the last block's tables stay open until the
queue is empty (overtime, so finish times past the window are reported, not hidden). A yellow
channel's table serves its yellow queue first; that queue closes at the first moment after its
last call when nobody waits (later yellow arrivals are ``after_close``), and from then on —
after its last yellow swab — the table serves the shared queue too (planned in the timetable
as ``point_switch``). Both queues' random draws are made first, in the same order as ever, so a
point's stream does not depend on the switch.

Closing. A queue closes at the first moment after both the window end and its last call's end
when nobody is waiting: residents arriving later (stragglers of the late tail) find it closed
and are counted as ``after_close`` (catch-up sampling, 查缺补漏), not served. Without this rule
the last swab would be the largest of hundreds of exponential delays — about an hour after the
last call whatever the plan — and could not tell a plan with slack from one without.

Replications. ``simulate(..., replication=r)`` draws replication ``r`` from the stream
``default_rng([seed, point, r])`` (``r = 0``: ``[seed, point]``); :func:`replicate_finish`
runs several and :func:`finish_p95` reads the p95 finish per point and for the district (the
95th percentile over replications of the day's last swab).

Algorithm. Arrivals are generated per point from a per-point random stream
(``default_rng([seed, point])``, so re-simulating a subset of points gives the same numbers),
sorted, and served by the k-server recursion ``start_i = max(arrival_i, earliest free table)``
with a heap of table free times. Peak queue is measured at arrival instants
(``i + 1 − #starts ≤ arrival_i``), which is where it peaks.

:func:`repair_timetable` re-spreads the calls of points whose simulated p95 wait exceeds the
limit (a shorter planned wait and a lower planning rate, i.e. fewer calls per slot and a
longer day while the window allows), re-simulates only those points, and reports what still
fails and what cannot be fixed (load beyond the window's capacity).
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_right
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from solver.day.timetable import (
    Timetable,
    TimetableProblem,
    after_window_tables,
    build_timetable,
)

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

_DETERMINISTIC_CV = 1e-6  # below it swab times are the mean (gamma's shape 1/cv² overflows)


@dataclass(frozen=True)
class SimParams:
    """Behaviour of residents and samplers."""

    rate_per_hour: float = 100.0
    service_cv: float = 0.4
    late_share: float = 0.0
    late_mean_min: float = 10.0
    wait_limit_min: float = 30.0

    def __post_init__(self) -> None:
        if self.rate_per_hour <= 0 or self.service_cv < 0:
            raise ValueError("need rate_per_hour > 0 and service_cv >= 0")
        if not 0.0 <= self.late_share <= 1.0 or self.late_mean_min < 0:
            raise ValueError("need 0 <= late_share <= 1 and late_mean_min >= 0")


@dataclass(frozen=True)
class SimStats:
    """Run figures."""

    seconds: float
    residents: int
    points: int


@dataclass(frozen=True, eq=False)
class SimResult:
    """Per-point outcome (P,). Waits in minutes; NaN where a point has nobody (or no table).

    ``p50_wait``, ``p95_wait``, ``max_wait``, ``mean_wait`` over all the point's residents;
    ``yellow_p95_wait`` over its yellow-channel queue only (NaN without a channel);
    ``peak_queue`` people waiting (largest of its queues); ``finish`` last swab end (NaN if
    none); ``served`` residents swabbed; ``unserved`` residents with no table ever open;
    ``after_close`` residents arriving after their queue closed (see the module docstring).
    With ``keep_residents`` the per-resident arrays (``r_point``, ``r_channel``, ``r_arrival``,
    ``r_start``, ``r_end``), sorted by point, channel and arrival, are filled; else empty.
    """

    p50_wait: F64
    p95_wait: F64
    max_wait: F64
    mean_wait: F64
    yellow_p95_wait: F64
    peak_queue: I64
    finish: F64
    served: I64
    unserved: I64
    after_close: I64
    r_point: I64
    r_channel: I64
    r_arrival: F64
    r_start: F64
    r_end: F64
    stats: SimStats = field(repr=False)


def _intervals(
    edges: I64, tables: I64, window_end: int, after: int
) -> list[tuple[list[float], list[float]]]:
    """Open intervals per table index (starts, ends); ``after`` tables stay after the end."""
    n_tab = max(int(tables.max()) if tables.size else 0, after)
    out: list[tuple[list[float], list[float]]] = []
    for i in range(n_tab):
        st: list[float] = []
        en: list[float] = []
        for e in range(tables.size):
            if tables[e] > i:
                a, b = float(edges[e]), float(edges[e + 1])
                if en and en[-1] == a:
                    en[-1] = b
                else:
                    st.append(a)
                    en.append(b)
        if after > i:
            if en and en[-1] >= float(window_end):
                en[-1] = float("inf")
            else:
                st.append(float(window_end))
                en.append(float("inf"))
        if st:
            out.append((st, en))
    return out


def _from(
    iv: list[tuple[list[float], list[float]]], t: float
) -> list[tuple[list[float], list[float]]]:
    """The open intervals ``iv`` from time ``t`` on (a table that joins a queue at ``t``)."""
    out: list[tuple[list[float], list[float]]] = []
    for st, en in iv:
        keep = [(max(a, t), b) for a, b in zip(st, en, strict=True) if b > t]
        if keep:
            out.append(([a for a, _ in keep], [b for _, b in keep]))
    return out


def queue_tables(timetable: Timetable, point: int) -> tuple[int, int]:
    """Tables a point keeps after the window for its shared queue and its yellow channel
    (the channel keeps one of them until its table joins the shared queue)."""
    tt = timetable
    total = after_window_tables(tt.main_tables[point] + tt.yellow_tables[point])
    yellow = min(total, 1) if int(tt.yellow_tables[point].max(initial=0)) > 0 else 0
    return total - yellow, yellow


def serve_fifo(arrival: F64, service: F64, open_iv: list[tuple[list[float], list[float]]]) -> F64:
    """FIFO k-server starts for sorted ``arrival`` with tables open on ``open_iv``.

    ``open_iv[i]`` lists the open intervals of table ``i``. Returns start times (NaN for
    residents no table will ever serve).
    """
    n = arrival.size
    out = np.full(n, np.nan)
    if n == 0 or not open_iv:
        return out
    arr = arrival.tolist()
    svc = service.tolist()
    starts: list[float] = []
    simple = all(len(s) == 1 and e[0] == float("inf") for s, e in open_iv)
    if simple:
        heap = sorted(s[0] for s, _ in open_iv)
        push = heapq.heapreplace
        for a, sv in zip(arr, svc, strict=True):
            f = heap[0]
            st = a if a > f else f
            push(heap, st + sv)
            starts.append(st)
        out[:] = starts
        return out
    h: list[tuple[float, int]] = [(s[0], i) for i, (s, _) in enumerate(open_iv)]
    heapq.heapify(h)
    for a, sv in zip(arr, svc, strict=True):
        st = a
        while h:
            f, i = h[0]
            st = a if a > f else f
            s_i, e_i = open_iv[i]
            k = bisect_right(s_i, st) - 1
            if k >= 0 and st < e_i[k]:
                break
            if k + 1 < len(s_i):
                heapq.heapreplace(h, (s_i[k + 1], i))
            else:
                heapq.heappop(h)
        if not h:
            break
        heapq.heapreplace(h, (st + sv, i))
        starts.append(st)
    out[: len(starts)] = starts
    return out


def closed_out(arrival: F64, start: F64, close_after: float) -> NDArray[np.bool_]:
    """Residents (sorted ``arrival``, FIFO ``start``) arriving after their queue closed.

    The queue closes at the first moment from ``close_after`` on when everyone who came has
    started a swab: resident ``i`` finds it closed when it arrives after both ``close_after``
    and the previous resident's start; everyone after it does too. Starts before ``i`` do not
    depend on later arrivals (FIFO), so this is exact after the fact.
    """
    out = np.zeros(arrival.size, dtype=bool)
    if arrival.size == 0:
        return out
    before = np.concatenate([[-np.inf], start[:-1]])
    closed = arrival > np.maximum(before, close_after)
    if closed.any():
        out[int(np.argmax(closed)) :] = True
    return out


def simulate(
    timetable: Timetable,
    params: SimParams,
    *,
    seed: int = 0,
    points: I64 | None = None,
    keep_residents: bool = False,
    replication: int = 0,
) -> SimResult:
    """Simulate the day at every point (or at ``points`` only; others report NaN / 0).

    ``replication`` selects the random streams (``0`` is the plan's reported day)."""
    started = time.perf_counter()
    tt = timetable
    p = tt.main_tables.shape[0]
    mean = 60.0 / params.rate_per_hour
    cv = params.service_cv
    order = np.argsort(tt.part_point, kind="stable")
    pp = tt.part_point[order]
    bounds = np.searchsorted(pp, np.arange(p + 1))
    todo = np.arange(p) if points is None else np.unique(np.asarray(points, dtype=np.int64))

    p50 = np.full(p, np.nan)
    p95 = np.full(p, np.nan)
    pmax = np.full(p, np.nan)
    pmean = np.full(p, np.nan)
    y95 = np.full(p, np.nan)
    peak = np.zeros(p, np.int64)
    finish = np.full(p, np.nan)
    served = np.zeros(p, np.int64)
    unserved = np.zeros(p, np.int64)
    after_close = np.zeros(p, np.int64)
    keep: list[tuple[I64, I64, F64, F64, F64]] = []
    total = 0

    for j in todo.tolist():
        idx = order[bounds[j] : bounds[j + 1]]
        if idx.size == 0:
            continue
        rng = np.random.default_rng([seed, j] if replication == 0 else [seed, j, replication])
        waits_all: list[F64] = []
        m_after, y_after = queue_tables(tt, j)
        # draw both queues' residents first (the streams' order), then serve the yellow
        # channel before the shared queue: its table joins the shared queue once it is free
        drawn: list[tuple[int, I64, F64, F64]] = []
        for chan in (0, 1):
            sel = idx[tt.part_channel[idx] == chan]
            cnt = tt.part_residents[sel]
            n = int(cnt.sum())
            if n == 0:
                continue
            total += n
            st = np.repeat(tt.part_start[sel].astype(np.float64), cnt)
            ln = np.repeat((tt.part_end[sel] - tt.part_start[sel]).astype(np.float64), cnt)
            arr = st + rng.random(n) * ln
            if params.late_share > 0:
                late = rng.random(n) < params.late_share
                arr = arr + np.where(late, rng.exponential(params.late_mean_min, n), 0.0)
            arr.sort()
            if cv > _DETERMINISTIC_CV:
                shape = 1.0 / (cv * cv)
                svc = rng.gamma(shape, mean / shape, n)
            else:
                svc = np.full(n, mean)
            drawn.append((chan, sel, arr, svc))
        y_iv = _intervals(tt.table_edges, tt.yellow_tables[j], tt.window_end, y_after)
        switches = j < tt.point_switch.size and bool(np.isfinite(tt.point_switch[j]))
        # when the yellow channel's table joins the shared queue (planned, without yellow calls)
        free = float(tt.point_switch[j]) if switches else float("inf")
        mine: list[tuple[I64, I64, F64, F64, F64]] = []
        for chan, sel, arr, svc in sorted(drawn, key=lambda d: -d[0]):
            if chan == 1:
                iv = y_iv
                # a channel that switches closes once its calls are over and nobody waits
                close = float(tt.part_end[sel].max())
                if not switches:
                    close = max(close, float(tt.window_end))
            else:
                iv = _intervals(tt.table_edges, tt.main_tables[j], tt.window_end, m_after)
                iv = iv + (_from(y_iv, free) if np.isfinite(free) else [])
                close = max(float(tt.window_end), float(tt.part_end[sel].max()))
            start = serve_fifo(arr, svc, iv)
            late = closed_out(arr, start, close)
            ok = ~np.isnan(start) & ~late
            if chan == 1 and switches:
                done = start[ok] + svc[ok]
                free = max(close, float(done.max()) if done.size else close)
            after_close[j] += int(late.sum())
            unserved[j] += int((np.isnan(start) & ~late).sum())
            served[j] += int(ok.sum())
            if not ok.any():
                continue
            a_ok, s_ok = arr[ok], start[ok]
            end = s_ok + svc[ok]
            wait = s_ok - a_ok
            waits_all.append(wait)
            q = np.arange(1, a_ok.size + 1) - np.searchsorted(s_ok, a_ok, side="right")
            peak[j] = max(int(peak[j]), int(q.max()))
            finish[j] = float(np.nanmax([finish[j], float(end.max())]))
            if chan == 1:
                y95[j] = float(np.percentile(wait, 95))
            if keep_residents:
                m = a_ok.size
                mine.append((np.full(m, j, np.int64), np.full(m, chan, np.int64), a_ok, s_ok, end))
        keep.extend(sorted(mine, key=lambda k: int(k[1][0])))  # by channel
        if waits_all:
            w = np.concatenate(waits_all)
            q50, q95 = np.percentile(w, [50, 95])
            p50[j], p95[j] = float(q50), float(q95)
            pmax[j] = float(w.max())
            pmean[j] = float(w.mean())

    if keep:
        rp, rc, ra, rs, re_ = (np.concatenate([k[i] for k in keep]) for i in range(5))
    else:
        rp = rc = np.zeros(0, np.int64)
        ra = rs = re_ = np.zeros(0, np.float64)
    return SimResult(
        p50_wait=p50,
        p95_wait=p95,
        max_wait=pmax,
        mean_wait=pmean,
        yellow_p95_wait=y95,
        peak_queue=peak,
        finish=finish,
        served=served,
        unserved=unserved,
        after_close=after_close,
        r_point=rp.astype(np.int64),
        r_channel=rc.astype(np.int64),
        r_arrival=ra.astype(np.float64),
        r_start=rs.astype(np.float64),
        r_end=re_.astype(np.float64),
        stats=SimStats(time.perf_counter() - started, total, int(todo.size)),
    )


@dataclass(frozen=True, eq=False)
class Replications:
    """Finish of every point in every replication (R, P; NaN where a point has nobody) and
    the mean number of residents per point arriving after their queue closed (P,)."""

    finish: F64
    after_close: F64
    seconds: float


def replicate_finish(
    timetable: Timetable,
    params: SimParams,
    *,
    seed: int = 0,
    replications: int = 1,
    first: SimResult | None = None,
    points: I64 | None = None,
) -> Replications:
    """Finish times of ``replications`` simulated days (replication 0 may be given as
    ``first``, so the plan's reported day is not simulated twice); ``points`` limits the
    work to those points (others NaN)."""
    started = time.perf_counter()
    p = timetable.main_tables.shape[0]
    finish = np.full((max(replications, 1), p), np.nan)
    after = np.zeros((max(replications, 1), p))
    for r in range(max(replications, 1)):
        if r == 0 and first is not None:
            res = first
        else:
            res = simulate(timetable, params, seed=seed, points=points, replication=r)
        finish[r] = res.finish
        after[r] = res.after_close
    if points is not None:
        keep = np.zeros(p, dtype=bool)
        keep[np.asarray(points, dtype=np.int64)] = True
        finish[:, ~keep] = np.nan
        after[:, ~keep] = 0.0
    return Replications(finish, after.mean(axis=0), time.perf_counter() - started)


def finish_p95(finish: F64) -> tuple[F64, float]:
    """95th percentile over replications of each point's finish (P,; NaN for idle points) and
    of the district's last swab (NaN when nobody is swabbed)."""
    if finish.size == 0:
        return np.full(finish.shape[1] if finish.ndim == 2 else 0, np.nan), float("nan")
    busy = ~np.all(np.isnan(finish), axis=0)
    per_point = np.full(finish.shape[1], np.nan)
    if busy.any():
        per_point[busy] = np.nanpercentile(finish[:, busy], 95, axis=0)
        district = float(np.percentile(np.nanmax(finish[:, busy], axis=1), 95))
    else:
        district = float("nan")
    return per_point, district


def _merge(old: SimResult, new: SimResult, pts: I64) -> SimResult:
    """``old`` with the per-point figures of ``pts`` taken from ``new`` (no resident arrays)."""
    out: dict[str, object] = {}
    for name in (
        "p50_wait",
        "p95_wait",
        "max_wait",
        "mean_wait",
        "yellow_p95_wait",
        "peak_queue",
        "finish",
        "served",
        "unserved",
        "after_close",
    ):
        a = getattr(old, name).copy()
        a[pts] = getattr(new, name)[pts]
        out[name] = a
    z = np.zeros(0, np.int64)
    zf = np.zeros(0, np.float64)
    return replace(
        old,
        r_point=z,
        r_channel=z,
        r_arrival=zf,
        r_start=zf,
        r_end=zf,
        stats=SimStats(
            old.stats.seconds + new.stats.seconds,
            int(np.asarray(out["served"]).sum()),
            old.stats.points,
        ),
        **out,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, eq=False)
class RepairResult:
    """Outcome of :func:`repair_timetable`.

    ``changed``: points whose calls were re-spread or called earlier; ``failing``: points still
    above the wait limit after ``rounds``; ``impossible``: points above the limit that cannot be
    fixed by spreading (the window's capacity cannot take their load, or their calls already
    use the whole window). ``target_wait`` / ``rate_factor`` (P,) are the planning overrides
    used. ``finish_p95`` (P,) is each point's 95th-percentile finish over ``replications``
    simulated days and ``district_finish_p95`` that of the day's last swab; ``late`` the points
    whose p95 finish is after ``late_after``; ``after_close`` (P,) the mean residents arriving
    after their queue closed.
    """

    timetable: Timetable
    simulation: SimResult
    rounds: int
    changed: I64
    failing: I64
    impossible: I64
    target_wait: F64
    rate_factor: F64
    finish_p95: F64 = field(default_factory=lambda: np.zeros(0))
    district_finish_p95: float = float("nan")
    late: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    after_close: F64 = field(default_factory=lambda: np.zeros(0))
    replications: int = 1


def repair_timetable(
    problem: TimetableProblem,
    timetable: Timetable,
    params: SimParams,
    *,
    seed: int = 0,
    max_rounds: int = 3,
    simulation: SimResult | None = None,
    wait_shrink: float = 0.6,
    rate_shrink: float = 0.93,
    replications: int = 1,
    late_after: float | None = None,
    max_wait_share: float = 2.0 / 3.0,
) -> RepairResult:
    """Re-spread the calls of points whose simulated p95 wait exceeds the limit, and call
    earlier at points that finish late.

    Each round, for every point failing the wait limit: planned wait × ``wait_shrink`` and
    planning rate × ``rate_shrink`` (fewer calls per slot, a longer day). A change that would
    push residents out of the window (not called, or called only in overtime) is undone for the
    rate and the point is marked impossible. For every other point whose p95 finish over the
    replications is after ``late_after`` (window end + tolerance) and whose load fits in the
    window: the planned wait grows by the lateness, up to ``max_wait_share`` of the limit
    (calls run further ahead of service so late arrivals still find the queue open; the rest of
    the limit is left for the simulation's randomness). Points over capacity cannot be helped
    by calling earlier: they stay late and are reported. Only changed points are re-simulated
    (same per-point random streams).
    """
    lim = params.wait_limit_min
    p = problem.n_points
    sim = simulation if simulation is not None else simulate(timetable, params, seed=seed)
    reps = replicate_finish(timetable, params, seed=seed, replications=replications, first=sim)
    finish = reps.finish
    after = reps.after_close.copy()
    tw = np.full(p, problem.target_wait)
    rf = np.ones(p)
    tt = timetable
    changed = np.zeros(p, dtype=bool)

    def pushed_out(t: Timetable) -> I64:
        return t.point_not_called + t.point_overtime

    stuck = (tt.point_not_called > 0) | (tt.point_deficit > 0)  # cannot be helped by spreading
    raised = np.zeros(p, dtype=bool)  # the planned wait reached its cap
    rounds = 0
    for _ in range(max_rounds):
        p95_finish, _ = finish_p95(finish)
        bad = np.flatnonzero((sim.p95_wait > lim) & ~stuck)
        late = np.zeros(p, dtype=bool)
        if late_after is not None:
            late = (np.nan_to_num(p95_finish, nan=-np.inf) > late_after) & ~stuck & ~raised
            late[bad] = False
        slow = np.flatnonzero(late)
        if bad.size == 0 and slow.size == 0:
            break
        rounds += 1
        tw2, rf2 = tw.copy(), rf.copy()
        tw2[bad] *= wait_shrink
        rf2[bad] *= rate_shrink
        cap = max_wait_share * lim
        tw2[slow] = np.minimum(tw2[slow] + (p95_finish[slow] - float(late_after or 0.0)), cap)
        raised[slow[tw2[slow] >= cap - 1e-9]] = True
        tt2 = build_timetable(problem, target_wait=tw2, rate_factor=rf2)
        touched = np.concatenate([bad, slow])
        lost = touched[pushed_out(tt2)[touched] > pushed_out(tt)[touched]]
        if lost.size:  # the longer day does not fit: keep the rate, shrink the wait only
            rf2[lost] = rf[lost]
            stuck[lost] = True
            tt2 = build_timetable(problem, target_wait=tw2, rate_factor=rf2)
        tw, rf, tt = tw2, rf2, tt2
        changed[touched] = True
        new = simulate(tt, params, seed=seed, points=touched)
        sim = _merge(sim, new, touched)
        more = replicate_finish(
            tt, params, seed=seed, replications=replications, first=new, points=touched
        )
        finish[:, touched] = more.finish[:, touched]
        after[touched] = more.after_close[touched]
    over = sim.p95_wait > lim
    impossible = np.flatnonzero(over & stuck)
    failing = np.flatnonzero(over & ~stuck)
    p95_finish, district = finish_p95(finish)
    late_points = (
        np.flatnonzero(np.nan_to_num(p95_finish, nan=-np.inf) > late_after)
        if late_after is not None
        else np.zeros(0, np.int64)
    )
    return RepairResult(
        timetable=tt,
        simulation=sim,
        rounds=rounds,
        changed=np.flatnonzero(changed).astype(np.int64),
        failing=failing.astype(np.int64),
        impossible=impossible.astype(np.int64),
        target_wait=tw,
        rate_factor=rf,
        finish_p95=p95_finish,
        district_finish_p95=district,
        late=late_points.astype(np.int64),
        after_close=after,
        replications=max(replications, 1),
    )
