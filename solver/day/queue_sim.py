"""Seeded discrete-event simulation of each sampling point's day, and timetable repair.

Model. Each timetable part brings its residents uniformly at random over its call window
``[start, end)``; a share ``late_share`` of them comes late by an exponential delay of mean
``late_mean_min``. Swab times are gamma distributed with mean ``60 / rate_per_hour`` minutes
and coefficient of variation ``service_cv`` (deterministic when 0). Each queue — the point's
shared tables, and its dedicated yellow-code table when it has one — is FIFO with time-varying
servers: table ``i`` is open in blocks where the staffed count exceeds ``i``; a table that
closes finishes its current swab; after the window the last block's tables stay open until the
queue is empty (overtime, so finish times past the window are reported, not hidden).

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

from solver.day.timetable import Timetable, TimetableProblem, build_timetable

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
    none); ``served`` residents swabbed; ``unserved`` residents with no table ever open.
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
    r_point: I64
    r_channel: I64
    r_arrival: F64
    r_start: F64
    r_end: F64
    stats: SimStats = field(repr=False)


def _intervals(edges: I64, tables: I64, window_end: int) -> list[tuple[list[float], list[float]]]:
    """Open intervals per table index (starts, ends); the last count continues after the end."""
    after = int(tables[-1]) if tables.size else 0
    if after == 0 and tables.size:
        after = int(tables.max())
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


def simulate(
    timetable: Timetable,
    params: SimParams,
    *,
    seed: int = 0,
    points: I64 | None = None,
    keep_residents: bool = False,
) -> SimResult:
    """Simulate the day at every point (or at ``points`` only; others report NaN / 0)."""
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
    keep: list[tuple[I64, I64, F64, F64, F64]] = []
    total = 0

    for j in todo.tolist():
        idx = order[bounds[j] : bounds[j + 1]]
        if idx.size == 0:
            continue
        rng = np.random.default_rng([seed, j])
        waits_all: list[F64] = []
        for chan, tables in ((0, tt.main_tables[j]), (1, tt.yellow_tables[j])):
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
            iv = _intervals(tt.table_edges, tables, tt.window_end)
            start = serve_fifo(arr, svc, iv)
            ok = ~np.isnan(start)
            unserved[j] += int((~ok).sum())
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
                keep.append((np.full(m, j, np.int64), np.full(m, chan, np.int64), a_ok, s_ok, end))
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
        r_point=rp.astype(np.int64),
        r_channel=rc.astype(np.int64),
        r_arrival=ra.astype(np.float64),
        r_start=rs.astype(np.float64),
        r_end=re_.astype(np.float64),
        stats=SimStats(time.perf_counter() - started, total, int(todo.size)),
    )


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

    ``changed``: points whose calls were re-spread; ``failing``: points still above the limit
    after ``rounds``; ``impossible``: points above the limit that cannot be fixed by spreading
    (the window's capacity cannot take their load, or their calls already use the whole
    window). ``target_wait`` / ``rate_factor`` (P,) are the planning overrides used.
    """

    timetable: Timetable
    simulation: SimResult
    rounds: int
    changed: I64
    failing: I64
    impossible: I64
    target_wait: F64
    rate_factor: F64


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
) -> RepairResult:
    """Re-spread the calls of points whose simulated p95 wait exceeds the limit.

    Each round, for every failing point: planned wait × ``wait_shrink`` and planning rate ×
    ``rate_shrink`` (fewer calls per slot, a longer day). A change that would leave residents
    uncalled (the day no longer fits the window) is undone for the rate and the point is
    marked impossible. Only changed points are re-simulated (same per-point random streams).
    """
    lim = params.wait_limit_min
    p = problem.n_points
    sim = simulation if simulation is not None else simulate(timetable, params, seed=seed)
    tw = np.full(p, problem.target_wait)
    rf = np.ones(p)
    tt = timetable
    changed = np.zeros(p, dtype=bool)
    stuck = tt.point_not_called > 0  # cannot be helped by spreading
    rounds = 0
    for _ in range(max_rounds):
        bad = np.flatnonzero((sim.p95_wait > lim) & ~stuck)
        if bad.size == 0:
            break
        rounds += 1
        tw2, rf2 = tw.copy(), rf.copy()
        tw2[bad] *= wait_shrink
        rf2[bad] *= rate_shrink
        tt2 = build_timetable(problem, target_wait=tw2, rate_factor=rf2)
        lost = bad[tt2.point_not_called[bad] > tt.point_not_called[bad]]
        if lost.size:  # the longer day does not fit: keep the rate, shrink the wait only
            rf2[lost] = rf[lost]
            stuck[lost] = True
            tt2 = build_timetable(problem, target_wait=tw2, rate_factor=rf2)
        tw, rf, tt = tw2, rf2, tt2
        changed[bad] = True
        sim = _merge(sim, simulate(tt, params, seed=seed, points=bad), bad)
    over = sim.p95_wait > lim
    impossible = np.flatnonzero(over & stuck)
    failing = np.flatnonzero(over & ~stuck)
    return RepairResult(
        timetable=tt,
        simulation=sim,
        rounds=rounds,
        changed=np.flatnonzero(changed).astype(np.int64),
        failing=failing.astype(np.int64),
        impossible=impossible.astype(np.int64),
        target_wait=tw,
        rate_factor=rf,
    )
