"""Lab queues: deliveries tested in arrival order at each lab's rate, only in its open hours.

Model: lab ``l`` tests ``rate[l]`` tubes per hour as a fluid, first come first served, from
``open[l]`` to ``close[l]``. A delivery of ``q`` tubes arriving at ``a`` starts when the lab
is free and open, ``s = max(a, open, finish of the previous delivery)``, and is fully tested at
``f = s + q ÷ rate`` — its tubes' expected result time. Whatever is not tested by ``close`` is
left untested (the plan lists it: more lab hours are needed). Deliveries arriving at the same
time are taken by vehicle (``tiebreak``), so the planner and the checker agree.

:func:`hourly_load` turns the queues into whole tubes per lab and hour (arrived, tested, backlog
at the hour's end), with tested counts from the floored cumulative fluid, so no hour ever shows
more than ``ceil(rate)`` tubes tested. :func:`result_time_bound` is a lower bound on the latest
result time of any plan.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from solver.transport.problem import FloatArray, IntArray

HOUR_S = 3600


@dataclass(frozen=True)
class LabQueues:
    """Per delivery (input order): testing ``start`` and ``finish`` (seconds, start rounded
    down, finish up), ``untested`` tubes (not tested before the lab closes) and the exact
    ``begin`` of testing."""

    start: IntArray
    finish: IntArray
    untested: IntArray
    begin: FloatArray  # exact testing start (the hourly load integrates from it)


def simulate_labs(
    rate_per_hour: FloatArray,
    open_s: IntArray,
    close_s: IntArray,
    lab: IntArray,
    arrive_s: IntArray,
    tubes: IntArray,
    *,
    tiebreak: IntArray | None = None,
) -> LabQueues:
    """Test every delivery (``lab``, ``arrive_s``, ``tubes``) in arrival order per lab;
    deliveries arriving at the same second in ``tiebreak`` order (default: as given)."""
    n = len(lab)
    start = np.zeros(n, dtype=np.int64)
    finish = np.zeros(n, dtype=np.int64)
    untested = np.zeros(n, dtype=np.int64)
    exact = np.zeros(n, dtype=np.float64)
    key = np.arange(n) if tiebreak is None else np.asarray(tiebreak)
    order = np.lexsort((np.arange(n), key, arrive_s, lab))
    free: dict[int, float] = {}
    for d in order.tolist():
        lb = int(lab[d])
        rate_s = float(rate_per_hour[lb]) / HOUR_S
        begin = max(float(arrive_s[d]), float(open_s[lb]), free.get(lb, -math.inf))
        end = begin + float(tubes[d]) / rate_s
        close = float(close_s[lb])
        if begin >= close:
            untested[d] = int(tubes[d])
            end = begin = close
        elif end > close:
            done = math.floor((close - begin) * rate_s + 1e-9)
            untested[d] = int(tubes[d]) - done
            end = close
        free[lb] = end
        exact[d] = begin
        start[d] = math.floor(begin)
        finish[d] = math.ceil(end - 1e-9)
    return LabQueues(start, finish, untested, exact)


@dataclass(frozen=True)
class HourlyLoad:
    """Rows of the lab load table: ``lab``, ``hour`` (hour of the day, may pass 24),
    ``arrived``, ``tested`` and ``backlog`` (arrived − tested so far, at the hour's end)."""

    lab: IntArray
    hour: IntArray
    arrived: IntArray
    tested: IntArray
    backlog: IntArray


def hourly_load(
    num_labs: int,
    rate_per_hour: FloatArray,
    lab: IntArray,
    arrive_s: IntArray,
    tubes: IntArray,
    queues: LabQueues,
) -> HourlyLoad:
    """Arrived, tested and backlog per lab and hour, from the first arrival to the last test."""
    out: list[tuple[int, int, int, int, int]] = []
    for lb in range(num_labs):
        mine = np.flatnonzero(lab == lb)
        if mine.size == 0:
            continue
        rate_s = float(rate_per_hour[lb]) / HOUR_S
        first = int(arrive_s[mine].min()) // HOUR_S
        last = -(-int(max(queues.finish[mine].max(), arrive_s[mine].max())) // HOUR_S)
        begins = queues.begin[mine]
        tested_q = (tubes[mine] - queues.untested[mine]).astype(np.float64)
        prev_arrived = prev_tested = 0
        for hour in range(first, max(last, first + 1)):
            edge = float((hour + 1) * HOUR_S)
            arrived = int(tubes[mine][arrive_s[mine] < edge].sum())
            fluid = np.clip((edge - begins) * rate_s, 0.0, tested_q).sum()
            tested = min(math.floor(fluid + 1e-6), int(tested_q.sum()))
            out.append((lb, hour, arrived - prev_arrived, tested - prev_tested, arrived - tested))
            prev_arrived, prev_tested = arrived, tested
    cols = list(zip(*out, strict=True)) if out else [(), (), (), (), ()]
    return HourlyLoad(*(np.asarray(c, dtype=np.int64) for c in cols))


def result_time_bound(
    earliest_arrival_s: IntArray, tubes: IntArray, rate_per_hour: FloatArray
) -> int:
    """A lower bound (seconds) on the latest result time of any plan.

    Every batch reaches a lab no earlier than ``earliest_arrival_s`` (its ready time + the
    shortest handover, drive and unloading to any lab); all labs together test at most the sum
    of their rates. One fluid server at that total rate, open all day, fed every batch at its
    earliest arrival, finishes no later than any real plan: its finish is the bound. (It is at
    least the last batch's earliest arrival, and at least the time the labs together need.)
    """
    if len(tubes) == 0:
        return 0
    rate_s = float(np.sum(rate_per_hour)) / HOUR_S
    order = np.argsort(earliest_arrival_s, kind="stable")
    finish = -math.inf
    for b in order.tolist():
        finish = max(finish, float(earliest_arrival_s[b])) + float(tubes[b]) / rate_s
    return math.ceil(finish - 1e-9)


class LabBook:
    """The lab queues of the deliveries decided so far, kept up to date one delivery at a time.

    Same model and numbers as :func:`simulate_labs` with deliveries taken in the order they
    were added at equal arrival times, but a new delivery costs a binary search and an update
    of the later deliveries of its own lab (usually none: deliveries come roughly in arrival
    order), instead of a whole re-simulation — so planning a large district's thousands of
    trips stays linear, not quadratic, in the deliveries.
    """

    def __init__(self, rate_per_hour: FloatArray, open_s: IntArray, close_s: IntArray) -> None:
        n = len(rate_per_hour)
        self._rate_s = [float(r) / HOUR_S for r in rate_per_hour]
        self._open = [float(o) for o in open_s]
        self._close = [float(c) for c in close_s]
        self._arrive: list[list[int]] = [[] for _ in range(n)]  # per lab, in queue order
        self._tubes: list[list[int]] = [[] for _ in range(n)]
        self._free: list[list[float]] = [[] for _ in range(n)]  # lab free after each delivery

    def _end(self, lab: int, begin: float, tubes: int) -> float:
        """When testing ``tubes`` that may start at ``begin`` ends (the close at the latest)."""
        close = self._close[lab]
        if begin >= close:
            return close
        return min(begin + tubes / self._rate_s[lab], close)

    def _start(self, lab: int, arrive: int, free: float) -> float:
        return max(float(arrive), self._open[lab], free)

    def finish_if_added(self, lab: int, arrive: int, tubes: int) -> int:
        """Result time (whole seconds, rounded up) of ``tubes`` arriving at ``lab`` at
        ``arrive``, queued after every delivery so far that arrives no later."""
        pos = bisect.bisect_right(self._arrive[lab], arrive)
        free = self._free[lab][pos - 1] if pos else -math.inf
        end = self._end(lab, self._start(lab, arrive, free), tubes)
        return math.ceil(end - 1e-9)

    def tests_whole(self, lab: int, arrive: int, tubes: int) -> bool:
        """Whether ``tubes`` arriving at ``lab`` at ``arrive`` (queued as in
        :meth:`finish_if_added`) are all tested before the lab closes."""
        pos = bisect.bisect_right(self._arrive[lab], arrive)
        free = self._free[lab][pos - 1] if pos else -math.inf
        begin = self._start(lab, arrive, free)
        done = math.floor((self._close[lab] - begin) * self._rate_s[lab] + 1e-9)
        return begin < self._close[lab] and done >= tubes

    def add(self, lab: int, arrive: int, tubes: int) -> None:
        """Queue a delivery (after those arriving at the same time) and update the later ones."""
        arrivals, loads, free = self._arrive[lab], self._tubes[lab], self._free[lab]
        pos = bisect.bisect_right(arrivals, arrive)
        arrivals.insert(pos, arrive)
        loads.insert(pos, tubes)
        free.insert(pos, 0.0)
        before = free[pos - 1] if pos else -math.inf
        for k in range(pos, len(arrivals)):
            before = self._end(lab, self._start(lab, arrivals[k], before), loads[k])
            free[k] = before

    def last_finish(self, lab: int) -> int | None:
        """Result time of the lab's last queued delivery (``None`` without deliveries)."""
        free = self._free[lab]
        return math.ceil(free[-1] - 1e-9) if free else None
