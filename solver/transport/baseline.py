"""The simple practice the planner replaces: nearest lab, one fixed round every interval.

Each point sends its tubes to its nearest lab. The points of one lab are swept by angle around
it into groups whose round — lab → points in sweep order → lab, driving plus handovers and one
unloading — fits in one interval and whose tubes of one interval (at the group's busiest
interval) fit one vehicle; every group gets its own vehicle, which leaves the lab at the
group's first ready time and then every interval, taking at each point every tube ready by its
arrival (up to its capacity), until the group's tubes are all collected. Used by the benchmark
to compare vehicle hours and the latest result time with the planned trips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.transport.labs import simulate_labs
from solver.transport.problem import TransportProblem


@dataclass(frozen=True)
class BaselineResult:
    """Figures of the fixed-round practice: vehicles (= groups), busy seconds (driving and
    handling), latest result time (−1 if none), tubes late (older than the age limit at the
    lab, or waiting past the interval), the oldest tube's age and the tubes never tested."""

    vehicles: int
    busy_s: int
    latest_result_s: int
    tubes_late: int
    max_age_s: int
    untested: int


def fixed_rounds(problem: TransportProblem) -> BaselineResult:
    """Plan and evaluate the fixed-round practice on ``problem`` (see the module docstring)."""
    p = problem
    if p.num_batches == 0 or p.num_labs == 0:
        return BaselineResult(0, 0, -1, 0, 0, 0)
    to_lab = p.point_to_lab_s()
    lab_of = to_lab.argmin(axis=1)
    cap = int(np.median(p.vehicle_capacity)) if p.num_vehicles else 1
    # tubes per interval at each point's busiest interval
    peak = np.zeros(p.num_points, dtype=np.int64)
    for q in range(p.num_points):
        mine = p.batch_point == q
        if mine.any():
            ready, tubes = p.batch_ready[mine], p.batch_tubes[mine]
            peak[q] = max(
                int(tubes[(ready >= r) & (ready < r + p.interval_s)].sum()) for r in ready
            )
    groups: list[tuple[int, list[int]]] = []
    produce = np.bincount(p.batch_point, minlength=p.num_points) > 0
    for lb in range(p.num_labs):
        mine = np.flatnonzero((lab_of == lb) & produce)
        if mine.size == 0:
            continue
        d = p.point_xy[mine] - p.lab_xy[lb]
        order = mine[np.argsort(np.arctan2(d[:, 1], d[:, 0]), kind="stable")]
        current: list[int] = []
        for q in order.tolist():
            trial = [*current, q]
            if current and (_round_s(p, lb, trial) > p.interval_s or int(peak[trial].sum()) > cap):
                groups.append((lb, current))
                trial = [q]
            current = trial
        groups.append((lb, current))

    remaining = p.batch_tubes.copy()
    deliveries: list[tuple[int, int, int, int]] = []  # lab, arrive, tubes, group
    busy = late = 0
    max_age = 0
    for g, (lb, members) in enumerate(groups):
        batches = np.flatnonzero(np.isin(p.batch_point, members))
        order = batches[np.lexsort((p.batch_ready[batches], p.batch_point[batches]))]
        depart = int(p.batch_ready[batches].min())
        while remaining[batches].sum() > 0:
            t, here, load = depart, p.lab_xy[lb], 0
            picked: list[tuple[int, int, int]] = []  # batch, tubes, pickup time
            for q in members:
                t += int(p.drive_s(here, p.point_xy[q])[0, 0])
                for b in order[p.batch_point[order] == q].tolist():
                    if remaining[b] == 0 or p.batch_ready[b] > t or load >= cap:
                        continue
                    take = min(int(remaining[b]), cap - load)
                    remaining[b] -= take
                    load += take
                    picked.append((b, take, t))
                t += p.stop_s
                here = p.point_xy[q]
            t += int(p.drive_s(here, p.lab_xy[lb])[0, 0])
            arrive = max(t, int(p.lab_open[lb]))
            busy += arrive + p.unload_s - depart
            if load:
                deliveries.append((lb, arrive, load, g))
            for b, take, at in picked:
                age = arrive - int(p.batch_swab[b])
                max_age = max(max_age, age)
                if age > p.max_age_s or at - int(p.batch_ready[b]) > p.interval_s:
                    late += take
            depart += p.interval_s
    d = np.asarray(deliveries, dtype=np.int64).reshape(-1, 4)
    queues = simulate_labs(
        p.lab_rate, p.lab_open, p.lab_close, d[:, 0], d[:, 1], d[:, 2], tiebreak=d[:, 3]
    )
    tested = queues.untested < d[:, 2]
    latest = int(queues.finish[tested].max()) if tested.any() else -1
    return BaselineResult(
        vehicles=len(groups),
        busy_s=int(busy),
        latest_result_s=latest,
        tubes_late=int(late),
        max_age_s=int(max_age),
        untested=int(queues.untested.sum()),
    )


def _round_s(p: TransportProblem, lab: int, members: list[int]) -> int:
    """Seconds of one round from ``lab`` through ``members`` in order and back, unloading."""
    xy = np.vstack([p.lab_xy[lab], p.point_xy[members], p.lab_xy[lab]])
    legs = sum(int(p.drive_s(xy[k], xy[k + 1])[0, 0]) for k in range(len(xy) - 1))
    return legs + p.stop_s * len(members) + p.unload_s


def vehicle_hours(seconds: int) -> float:
    """Seconds as hours, two decimals."""
    return math.floor(seconds / 36.0 + 0.5) / 100.0
