"""Independent checker of a transport plan, from its two output tables and the inputs alone.

Shares no code with the planner except the travel-time rule and the lab queue model (the
definition of "expected result time"). ``trips`` are the rows of ``transport_trips`` (vehicle,
trip, seq, kind, place, arrive, depart, tubes); ``tubes`` the rows of ``transport_tubes`` (one per
parcel: point, swab, ready, tubes, vehicle, trip, pickup time, lab, lab arrival, result, late reason code);
both as integer arrays (−1 for "none"). It recomputes and checks:

* conservation: every batch's tubes are in parcels; a parcel is collected once and unloaded
  once (pickup row of its vehicle and trip at its point, the trip's unloading at its lab), or
  listed late; the tubes of each row equal the parcels' sums;
* vehicles: each trip's load within its capacity; rows in order, driving times respected
  (arrive ≥ previous departure + drive), handover and unloading times, within the vehicle's
  hours, pickups before the unloading;
* ages (lab arrival − swab ≤ max age) and waits (pickup − ready ≤ interval) of every parcel
  not listed late;
* the visiting rule ("every point is visited often enough"): no sealed tube waits at its point
  longer than the interval unless listed late — a point with tubes sealed and waiting is
  visited within the interval of its oldest one, a point with nothing waiting needs no visit.
  Checked per point from the pickup rows, whatever order a visit takes the tubes in: by every
  on-time tube's ready time + interval, the point's pickup rows (less the late parcels they
  carry) have taken at least the on-time tubes ready by then. The longest wait of a collected
  tube per point is reported (``max_pickup_gap_s``);
* labs: deliveries only while open (a vehicle may wait at a lab until it opens: the wait is
  reported, ``lab_wait_s``); the queues recomputed from the unloading rows give the same result
  time for every delivered parcel, and no hour tests more than the lab's rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from solver.transport.labs import hourly_load, simulate_labs
from solver.transport.problem import IntArray, TransportProblem

PICKUP, UNLOAD = 0, 1


@dataclass
class CheckReport:
    """``ok`` iff no violation; recomputed figures for the benchmark."""

    tubes_delivered: int = 0
    tubes_late: int = 0
    max_age_s: int = 0
    latest_result_s: int = -1
    vehicle_busy_s: int = 0
    lab_wait_s: int = 0
    max_pickup_gap_s: dict[int, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no violation was found."""
        return not self.violations


def check_transport(
    problem: TransportProblem,
    trips: Mapping[str, IntArray],
    tubes: Mapping[str, IntArray],
    *,
    batch_of_parcel: IntArray | None = None,
) -> CheckReport:
    """Check the tables against ``problem`` (see the module docstring).

    ``batch_of_parcel`` (optional) ties parcels to the problem's batches for the conservation
    check per batch; without it tubes are conserved per point.
    """
    p = problem
    rep = CheckReport()
    bad = rep.violations
    kind, veh, trip = trips["kind"], trips["vehicle"], trips["trip"]
    place, arrive, depart, count = trips["place"], trips["arrive"], trips["depart"], trips["tubes"]
    n = len(kind)

    # conservation
    produced = np.bincount(p.batch_point, p.batch_tubes, minlength=p.num_points)
    listed = np.bincount(tubes["point"], tubes["tubes"], minlength=p.num_points)
    if not np.array_equal(produced.astype(np.int64), listed.astype(np.int64)):
        bad.append("tubes per point differ between the batches and the tube table")
    if batch_of_parcel is not None:
        per_batch = np.bincount(batch_of_parcel, tubes["tubes"], minlength=p.num_batches)
        if not np.array_equal(per_batch.astype(np.int64), p.batch_tubes):
            bad.append("tubes per batch not conserved")
    row_of: dict[tuple[int, int, int], list[int]] = {}
    for r in range(n):
        row_of.setdefault((int(veh[r]), int(trip[r]), int(kind[r])), []).append(r)
    picked = np.zeros(n, dtype=np.int64)
    late = tubes["late_reason"] >= 0
    for k in range(len(tubes["tubes"])):
        v, t = int(tubes["vehicle"][k]), int(tubes["trip"][k])
        if v < 0:
            if not late[k]:
                bad.append(f"parcel {k} never collected but not listed late")
            continue
        pickups = [
            r
            for r in row_of.get((v, t, PICKUP), [])
            if place[r] == tubes["point"][k] and arrive[r] == tubes["pickup"][k]
        ]
        unloads = row_of.get((v, t, UNLOAD), [])
        if len(pickups) != 1 or len(unloads) != 1:
            bad.append(f"parcel {k}: {len(pickups)} pickups, {len(unloads)} unloadings")
            continue
        picked[pickups[0]] += tubes["tubes"][k]
        u = unloads[0]
        if place[u] != tubes["lab"][k] or arrive[u] != tubes["lab_arrive"][k]:
            bad.append(f"parcel {k}: lab or arrival differs from its trip's unloading")
        if int(arrive[pickups[0]]) < int(tubes["ready"][k]):
            bad.append(f"parcel {k} collected before it was ready")
        age = int(arrive[u]) - int(tubes["swab"][k])
        wait = int(arrive[pickups[0]]) - int(tubes["ready"][k])
        if not late[k]:
            rep.tubes_delivered += int(tubes["tubes"][k])
            rep.max_age_s = max(rep.max_age_s, age)
            if age > p.max_age_s:
                bad.append(f"parcel {k}: age {age} s over the limit, not listed late")
            if wait > p.interval_s:
                bad.append(f"parcel {k}: waited {wait} s at its point, not listed late")
    rep.tubes_late = int(tubes["tubes"][late].sum())
    is_pick = kind == PICKUP
    if not np.array_equal(picked[is_pick], count[is_pick]):
        bad.append("pickup rows' tubes differ from their parcels")
    _check_visits(p, trips, tubes, rep)

    # vehicles: order, times, capacity
    order = np.lexsort((trips["seq"], trip, veh))
    prev: int | None = None
    load = 0
    for r in order.tolist():
        v = int(veh[r])
        loc = p.point_xy[place[r]] if kind[r] == PICKUP else p.lab_xy[place[r]]
        if prev is None or int(veh[prev]) != v:
            here = p.vehicle_xy[v]
            free = int(p.vehicle_from[v])
            load = 0
        else:
            here = p.point_xy[place[prev]] if kind[prev] == PICKUP else p.lab_xy[place[prev]]
            free = int(depart[prev])
            if trip[prev] != trip[r] and kind[prev] != UNLOAD:
                bad.append(f"vehicle {v} trip {int(trip[prev])} does not end by unloading")
        drive = int(p.drive_s(here, loc)[0, 0])
        if int(arrive[r]) < free + drive:
            bad.append(f"row {r}: vehicle {v} arrives before it can")
        elif kind[r] == UNLOAD:
            rep.lab_wait_s += int(arrive[r]) - (free + drive)
        handling = p.stop_s if kind[r] == PICKUP else p.unload_s
        if int(depart[r]) != int(arrive[r]) + handling:
            bad.append(f"row {r}: handling time is not {handling} s")
        if int(depart[r]) > int(p.vehicle_to[v]):
            bad.append(f"row {r}: vehicle {v} works past its hours")
        if kind[r] == PICKUP:
            load += int(count[r])
            if load > int(p.vehicle_capacity[v]):
                bad.append(f"row {r}: vehicle {v} over capacity ({load} tubes)")
        else:
            if int(count[r]) != load:
                bad.append(f"row {r}: unloads {int(count[r])} tubes, carries {load}")
            lb = int(place[r])
            if not int(p.lab_open[lb]) <= int(arrive[r]) < int(p.lab_close[lb]):
                bad.append(f"row {r}: lab {lb} closed at arrival")
            load = 0
        rep.vehicle_busy_s += drive + handling
        prev = r
    if prev is not None and kind[prev] != UNLOAD:
        bad.append(f"vehicle {int(veh[prev])}'s last trip does not end by unloading")

    # labs
    unload = np.flatnonzero(kind == UNLOAD)
    if unload.size:
        rank = np.lexsort((trips["vehicle"][unload], arrive[unload]))
        rows = unload[rank]
        queues = simulate_labs(
            p.lab_rate,
            p.lab_open,
            p.lab_close,
            place[rows],
            arrive[rows],
            count[rows],
            tiebreak=veh[rows],
        )
        finish = dict(zip(rows.tolist(), queues.finish.tolist(), strict=True))
        left = dict(zip(rows.tolist(), queues.untested.tolist(), strict=True))
        for k in np.flatnonzero(~late & (tubes["vehicle"] >= 0)).tolist():
            u = row_of[(int(tubes["vehicle"][k]), int(tubes["trip"][k]), UNLOAD)][0]
            if finish[u] != int(tubes["result"][k]):
                bad.append(f"parcel {k}: result {int(tubes['result'][k])} ≠ {finish[u]}")
        untested = sum(left.values())
        # delivered but not tested before the lab closed: ``lab_hours`` with no result
        for_hours = tubes["late_reason"] == 2
        at_lab = for_hours & (tubes["vehicle"] >= 0) & (tubes["result"] < 0)
        listed_lab = int(tubes["tubes"][at_lab].sum())
        if untested != listed_lab:
            bad.append(f"{untested} tubes untested in lab hours, {listed_lab} listed so")
        # every other ``lab_hours`` tube: a lab was near enough, but none open in time
        blocked = _blocked(p, tubes["point"], tubes["ready"], tubes["swab"])
        wrong = for_hours & ~at_lab & ~blocked
        if wrong.any():
            bad.append(
                f"{int(tubes['tubes'][wrong].sum())} tubes late for lab hours with a lab open"
            )
        load_rows = hourly_load(
            p.num_labs, p.lab_rate, place[rows], arrive[rows], count[rows], queues
        )
        over = load_rows.tested > np.ceil(p.lab_rate[load_rows.lab])
        if over.any():
            bad.append(f"{int(over.sum())} lab hours test more than the lab's rate")
        rep.latest_result_s = int(tubes["result"][~late].max()) if (~late).any() else -1
    return rep


def _check_visits(
    p: TransportProblem,
    trips: Mapping[str, IntArray],
    tubes: Mapping[str, IntArray],
    rep: CheckReport,
) -> None:
    """The visiting rule per point (see the module docstring) and each point's pickup gap."""
    late = tubes["late_reason"] >= 0
    collected = tubes["vehicle"] >= 0
    wait = tubes["pickup"] - tubes["ready"]
    for q, gap in zip(tubes["point"][collected].tolist(), wait[collected].tolist(), strict=True):
        rep.max_pickup_gap_s[q] = max(rep.max_pickup_gap_s.get(q, 0), int(gap))
    pickups = np.flatnonzero(trips["kind"] == PICKUP)
    rows_of = _by_key(trips["place"][pickups], pickups)
    late_of = _by_key(tubes["point"][late & collected], np.flatnonzero(late & collected))
    none = np.zeros(0, dtype=np.int64)
    for q, mine in _by_key(tubes["point"][~late], np.flatnonzero(~late)).items():
        # on-time tubes taken at this point: its pickup rows less the late parcels they carry
        rows, late_here = rows_of.get(q, none), late_of.get(q, none)
        times = np.concatenate([trips["arrive"][rows], tubes["pickup"][late_here]])
        taken = np.concatenate([trips["tubes"][rows], -tubes["tubes"][late_here]])
        order = np.argsort(times, kind="stable")
        times = times[order]
        cum_taken = np.concatenate([[0], np.cumsum(taken[order])])
        ready = tubes["ready"][mine]
        by_ready = np.argsort(ready, kind="stable")
        ready, cum_ready = ready[by_ready], np.cumsum(tubes["tubes"][mine][by_ready])
        got = cum_taken[np.searchsorted(times, ready + p.interval_s, side="right")]
        short = np.flatnonzero(got < cum_ready)
        if short.size:
            k = int(short[0])
            rep.violations.append(
                f"point {q}: {int(cum_ready[k] - got[k])} tubes sealed by {int(ready[k])} s "
                f"still waiting {p.interval_s} s later, not listed late"
            )


def _by_key(keys: IntArray, items: IntArray) -> dict[int, IntArray]:
    """``items`` grouped by their ``keys`` (each group in the items' order)."""
    if keys.size == 0:
        return {}
    order = np.argsort(keys, kind="stable")
    values, starts = np.unique(keys[order], return_index=True)
    groups = np.split(items[order], starts[1:])
    return {int(k): g for k, g in zip(values.tolist(), groups, strict=True)}


def _blocked(p: TransportProblem, point: IntArray, ready: IntArray, swab: IntArray) -> np.ndarray:
    """Per tube row, recomputed here: a direct run at once reaches some lab within the age
    limit, but no lab is open, before it closes and within the age limit, when it gets there."""
    if point.size == 0 or p.num_labs == 0:
        return np.zeros(point.size, dtype=bool)
    drive = p.point_to_lab_s()[point]
    arrive = ready[:, None] + p.stop_s + drive
    limit = (swab + p.max_age_s)[:, None]
    start = np.maximum(arrive, p.lab_open[None, :])
    open_in_time = (start <= limit) & (start < p.lab_close[None, :])
    return np.asarray((arrive <= limit).any(axis=1) & ~open_in_time.any(axis=1))
