"""Transport planning: vehicles in repeated trips collect tube batches and unload them at labs.

Formulation (rolling dispatch)
------------------------------
Every batch ``b`` (ready ``r``, oldest swab ``s``) has a **pickup deadline**
``min(r + interval, s + max_age − ride)``, where the *ride bound*
``ride = max_age − interval − (median ready − swab gap)`` limits the time from a trip's first
pickup to its lab. A pickup by the deadline followed by an unloading within ``ride`` keeps
both rules: no tube waits at its point longer than ``interval`` after it is sealed — so a point
with tubes is visited at least every ``interval``, counted from its oldest waiting tube — and
none is older than ``max_age`` at its lab.

The day is cut into *epochs* of ``interval ÷ 6`` (5–30 min). At each epoch start ``now``, every
point with tubes ready gets a target time — its waiting batches' earliest deadline, or, once its
last batch is out, that batch's ready time + one epoch (so final pickups come early and the day's
results are not held back) — and becomes

* a **mandatory** stop if the next epoch could not safely reach it before the target
  with one epoch to spare (``target < now + 3·epoch + drive from the nearest lab + handover``:
  vehicles on a trip are busy for up to ``ride``),
* an **optional** stop one epoch earlier when these are its last tubes, or at once while some
  lab's queue would run dry within two epochs (dropping it costs ``optional_penalty_s``), so
  trips take a final pickup early when the detour is small, and feed a lab that would idle
  (other early visits would only mean more visits in all),

and vehicles free within the epoch each make at most one *trip*: from where they are (depot or
the lab of their last unloading), pickups at stops, one unloading at a lab. Each epoch is a
vehicle routing problem solved with OR-Tools: nodes are the stops, the vehicles' starts and one
shared end. A trip's unloading is on its arc from its last stop to the end: every stop has its
*end lab* — among the open labs reached within the ride bound and before closing even when
leaving the stop at its latest time, the one with the least driving + unloading + projected
backlog wait (queue of :mod:`solver.transport.labs` on the deliveries so far); a stop that
reaches no lab before it closes cannot end a trip. Arc cost = driving + handling seconds
(vehicle time) plus, on the arc to the end, the end lab's backlog wait; an idle vehicle goes
from its start to the end at no cost. (One node per stop and vehicle keeps the model small:
with a copy of every lab per vehicle instead, a district of 5 M residents — 25 labs, 250
vehicles — had up to ~6,000 nodes per epoch, and its dense matrices took gigabytes.)
Dimensions: "Time" (stops ``[now, target]``, vehicles their hours),
"Ride" (from the first pickup to the unloading, at most ``ride``) and "Load" (capacities).
A district with more than ``region_points`` points with tubes is routed one lab's area at a
time (points by their nearest lab; every lab may still receive the tubes): the epoch's free
vehicles are shared out over the areas in proportion to their stops' need (one per stop, one
more when mandatory, plus its tubes in vehicle loads), the nearest vehicles first, so each
model stays small — time and memory grow about linearly with the district.

The routed trips are then driven from the routing's departure — as late as the stops' targets
allow, so pickups come near their targets, take the most tubes and the points need the fewest
visits; but as early as possible while some open lab's queue would run dry within two epochs
(labs neither idle nor pile up: "不空机、不积样") — without waiting on the way: at each stop the vehicle takes every tube
ready by its arrival (within the capacity the later stops keep), and at the end unloads at the
lab (:func:`_choose_lab`) with the least driving plus ``backlog_weight`` × the time until this
load would be tested, among the labs it reaches within the ride bound — deliveries decided
earlier in the same epoch count, so one epoch's trips spread over the labs.

Effort is a count: each epoch's (or area's) search stops after ``iterations`` solutions
(guided local search); the wall clock is only a reported safety stop. Same problem and parameters → same
trips on any machine.

Late tubes: a tube reaching its lab after ``max_age``, waiting at its point longer than
``interval``, never collected, or not tested in its lab's hours is *late*, with a reason:
``too_far`` (no pickup there reaches a lab within the ride bound, or even a direct run at once
misses the age limit), ``fleet`` (the vehicles, their hours or capacity could not collect it in
time) or ``lab_hours`` (delivered, but its lab closes before testing it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from solver.transport.labs import LabBook, LabQueues, simulate_labs
from solver.transport.problem import IntArray, TransportProblem

PICKUP, UNLOAD = 0, 1
STOP_COLUMNS = (
    "vehicle",
    "trip",
    "seq",
    "kind",
    "place",
    "arrive",
    "depart",
    "tubes",
    "oldest_swab",
    "oldest_ready",
)
REASONS = ("too_far", "fleet", "lab_hours")
"""Codes of late tubes (index = code)."""
TOO_FAR, FLEET, LAB_HOURS = 0, 1, 2
NOT_LATE = -1

_MANDATORY_PENALTY = 1 << 40
GUIDED_MIN_STOPS = 3
"""Epochs with fewer stops keep the descent's plan (guided search finds nothing more there)."""
ROUND_WALL_S = 10.0
"""Wall-clock safety stop of one epoch's search: this + 50 ms per stop (never reached by the
iteration budget on a working machine; reported when it is)."""


@dataclass(frozen=True)
class TransportParams:
    """Search settings: ``iterations`` solutions per round (default grows with the stops),
    the drop penalty (seconds of vehicle time) of an optional stop, the weight of a lab's
    projected backlog wait against vehicle seconds, the wall-clock safety stop, OR-Tools'
    first-solution strategy, and ``eager_epochs``: while some lab's queue would run dry within
    this many epochs, points are visited early and trips leave at once (0: never; more visits
    and vehicle time, earlier results when the labs are the bottleneck); and
    ``region_points``: a district with more points (with tubes) than this is routed one lab's
    area at a time (points by their nearest lab, the free vehicles shared out in proportion to
    the areas' need), so each epoch's models stay small — one model over a 5 M district's
    ~2,000 points and 250 vehicles took minutes for its first solution."""

    iterations: int | None = None
    optional_penalty_s: int = 900
    backlog_weight: float = 1.0
    time_limit: float = 30.0
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    eager_epochs: float = 2.0
    region_points: int = 500

    def __post_init__(self) -> None:
        if self.iterations is not None and self.iterations < 1:
            raise ValueError("iterations must be at least 1")
        if self.region_points < 1:
            raise ValueError("region_points must be at least 1")
        if (
            min(self.optional_penalty_s, self.backlog_weight, self.eager_epochs) < 0
            or self.time_limit <= 0
        ):
            raise ValueError("penalty and weight must be ≥ 0, time limit positive")


def round_iterations(stops: int) -> int:
    """Default solutions per round: 20 + 2 × √stops (a count, so runs repeat exactly)."""
    return 20 + math.ceil(2.0 * math.sqrt(max(0, stops)))


@dataclass(frozen=True)
class TransportResult:
    """Trips, where every tube went, the lab queues and the figures of the plan.

    ``stops`` (one row per trip stop, ordered by vehicle, trip, seq): ``vehicle``, ``trip``,
    ``seq``, ``kind`` (:data:`PICKUP` / :data:`UNLOAD`), ``place`` (point or lab index),
    ``arrive``, ``depart`` (seconds), ``tubes`` (picked up, or unloaded), ``oldest_swab`` and
    ``oldest_ready`` (of the tubes picked up here, or of the whole load when unloading).
    ``parcels``: tubes of one batch moved together — ``batch``, ``tubes``, ``pickup`` and
    ``unload`` (stop rows, −1 if never), ``lab`` (−1), ``result`` (expected result time, −1),
    ``reason`` (late code, :data:`NOT_LATE` when on time), ``untested`` (1: left untested
    when its lab closed). ``delivery_stop``: the unloading row of each delivery, whose lab
    queue figures ``queues`` holds.
    """

    stops: dict[str, IntArray]
    parcels: dict[str, IntArray]
    delivery_stop: IntArray
    queues: LabQueues
    epoch_s: int
    ride_s: int
    rounds: int
    iterations: int
    wall_clock_bound: bool
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class _Trip:
    vehicle: int
    start: int  # departure the routing found: as late as the stops' targets allow
    points: list[int]
    lab: int


def epoch_and_ride(problem: TransportProblem) -> tuple[int, int]:
    """``(epoch, ride)``: the dispatch epoch and the ride bound in seconds.

    ``E = interval ÷ 6`` (5–30 minutes); ``D = max_age − interval − s`` with ``s`` the median
    ready − oldest-swab gap of the batches (at least 10 minutes), so a batch picked up by its
    interval deadline and unloaded within ``D`` of the pickup keeps its age limit too.
    """
    p = problem
    slack = int(np.median(p.batch_ready - p.batch_swab)) if p.num_batches else 0
    epoch = int(min(1800, max(300, p.interval_s // 6)))
    ride = int(max(600, p.max_age_s - p.interval_s - slack))
    return epoch, ride


def solve_transport(
    problem: TransportProblem, params: TransportParams | None = None
) -> TransportResult:
    """Plan the trips of ``problem`` epoch by epoch (see the module docstring)."""
    params = params or TransportParams()
    started = time.perf_counter()
    p = problem
    nb, nl, nv = p.num_batches, p.num_labs, p.num_vehicles
    epoch, ride = epoch_and_ride(p)
    to_lab = p.point_to_lab_s()  # points × labs
    lead = to_lab.min(axis=1) if nl else np.full(p.num_points, 1 << 30)
    back = p.stop_s + lead + p.unload_s  # handover, drive to the nearest lab, unloading
    reach = (p.stop_s + lead) <= ride  # a pickup can reach a lab within the ride bound
    # pickup deadline of every batch: the interval rule, and the age rule given the ride bound
    deadline = np.minimum(p.batch_ready + p.interval_s, p.batch_swab + p.max_age_s - ride)
    order = np.lexsort((np.arange(nb), p.batch_swab, p.batch_ready, p.batch_point))
    remaining = p.batch_tubes.copy()
    # per point, its batches in ready order; a pointer to the first with tubes left
    by_point: list[list[int]] = [[] for _ in range(p.num_points)]
    for b in order.tolist():
        by_point[int(p.batch_point[b])].append(b)
    front = [0] * p.num_points
    direct_late = (p.batch_ready - p.batch_swab + back[p.batch_point]) > p.max_age_s
    servable = [bool(reach[q]) for q in range(p.num_points)]
    # a large district: one routing model per lab's area (its points: those nearest to it)
    split = p.num_points > params.region_points and nl > 1
    region = to_lab.argmin(axis=1) if split else np.zeros(p.num_points, dtype=np.int64)

    vehicle_loc = p.vehicle_xy.copy()
    vehicle_free = p.vehicle_from.copy()
    vehicle_trips = np.zeros(nv, dtype=np.int64)

    stop_rows: dict[str, list[int]] = {k: [] for k in STOP_COLUMNS}
    parcel_rows: dict[str, list[int]] = {k: [] for k in ("batch", "tubes", "pickup", "unload")}
    deliveries: list[tuple[int, int, int]] = []  # (lab, arrive, tubes) in creation order
    book = LabBook(p.lab_rate, p.lab_open, p.lab_close)  # their queues, kept up to date
    delivery_stop: list[int] = []

    last_vehicle_end = int(p.vehicle_to.max()) if nv else 0
    last_lab_close = int(p.lab_close.max()) if nl else 0
    horizon = min(last_vehicle_end, last_lab_close)
    now = int(p.batch_ready.min()) if nb else horizon
    rounds = iterations_used = 0
    wall_cut = False

    while nb and nv and nl and horizon > now:
        open_points = [
            q for q in range(p.num_points) if servable[q] and front[q] < len(by_point[q])
        ]
        if not open_points:
            break
        candidates: list[int] = []
        mandatory: list[bool] = []
        demand: list[int] = []
        latest: list[int] = []
        backlog = _backlog_wait_s(p, book, now + epoch)
        # a lab about to run dry wants tubes now
        eager = float(backlog.min()) < params.eager_epochs * epoch
        for q in open_points:
            waiting = [b for b in by_point[q][front[q] :] if p.batch_ready[b] <= now]
            if not waiting:
                continue
            hard = int(deadline[waiting].min())
            done = len(waiting) == len(by_point[q]) - front[q]  # nothing more to come
            target = min(hard, int(p.batch_ready[waiting[-1]]) + epoch) if done else hard
            margin = epoch + int(lead[q]) + p.stop_s
            due = target < now + 2 * epoch + margin
            if not due and not eager and not (done and target < now + 3 * epoch + margin):
                continue  # an earlier visit would only mean more visits in all
            candidates.append(q)
            mandatory.append(due)
            demand.append(int(remaining[waiting].sum()))
            if target >= now + int(lead[q]):
                latest.append(target)
            elif done and hard >= now + int(lead[q]) + epoch:
                latest.append(now + int(lead[q]) + epoch)  # the early last pickup is only a wish
            else:
                latest.append(now + ride)  # already late: as soon as possible
        if not candidates:
            ready_next = [
                int(p.batch_ready[by_point[q][front[q]]])
                for q in open_points
                if p.batch_ready[by_point[q][front[q]]] > now
            ]
            now = (
                max(now + epoch, min(ready_next))
                if len(ready_next) == len(open_points)
                else now + epoch
            )
            continue
        remaining_time = params.time_limit - (time.perf_counter() - started)
        if remaining_time <= 0:
            wall_cut = True
            break
        trips, used, cut = _route_round(
            p,
            params,
            now,
            epoch,
            ride,
            candidates,
            mandatory,
            demand,
            latest,
            vehicle_loc,
            vehicle_free,
            backlog,
            eager,
            remaining_time,
            region,
        )
        rounds += 1
        iterations_used += used
        wall_cut |= cut
        for trip in trips:
            _apply_trip(
                p,
                trip,
                now,
                ride,
                demand,
                candidates,
                by_point,
                front,
                remaining,
                vehicle_loc,
                vehicle_free,
                vehicle_trips,
                stop_rows,
                parcel_rows,
                deliveries,
                book,
                delivery_stop,
                params.backlog_weight,
            )
        now += epoch

    stops = {k: np.asarray(v, dtype=np.int64) for k, v in stop_rows.items()}
    # tubes never collected become parcels without a pickup
    for b in range(nb):
        if remaining[b] > 0:
            parcel_rows["batch"].append(b)
            parcel_rows["tubes"].append(int(remaining[b]))
            parcel_rows["pickup"].append(-1)
            parcel_rows["unload"].append(-1)
    parcels = {k: np.asarray(v, dtype=np.int64) for k, v in parcel_rows.items()}
    d = np.asarray(deliveries, dtype=np.int64).reshape(-1, 3)
    by_vehicle = stops["vehicle"][np.asarray(delivery_stop, dtype=np.int64)]
    queues = simulate_labs(
        p.lab_rate, p.lab_open, p.lab_close, d[:, 0], d[:, 1], d[:, 2], tiebreak=by_vehicle
    )
    delivery_of_stop = np.full(len(stops["kind"]), -1, dtype=np.int64)
    delivery_stop_arr = np.asarray(delivery_stop, dtype=np.int64)
    delivery_of_stop[delivery_stop_arr] = np.arange(len(delivery_stop_arr))
    parcels = _split_untested(parcels, queues, delivery_stop_arr)
    _judge(p, parcels, stops, queues, delivery_of_stop, direct_late, reach)
    return TransportResult(
        stops=stops,
        parcels=parcels,
        delivery_stop=delivery_stop_arr,
        queues=queues,
        epoch_s=epoch,
        ride_s=ride,
        rounds=rounds,
        iterations=iterations_used,
        wall_clock_bound=wall_cut,
        seconds=time.perf_counter() - started,
    )


def _backlog_wait_s(p: TransportProblem, book: LabBook, at: int) -> np.ndarray:
    """Per lab: seconds of testing queued at time ``at`` from the deliveries so far."""
    wait = np.zeros(p.num_labs, dtype=np.float64)
    for lb in range(p.num_labs):
        last = book.last_finish(lb)
        if last is not None:
            wait[lb] = max(0.0, float(last) - at)
    return wait


def _route_round(
    p: TransportProblem,
    params: TransportParams,
    now: int,
    epoch: int,
    ride: int,
    candidates: list[int],
    mandatory: list[bool],
    demand: list[int],
    latest: list[int],
    vehicle_loc: np.ndarray,
    vehicle_free: IntArray,
    backlog: np.ndarray,
    eager: bool,
    time_limit: float,
    region: IntArray,
) -> tuple[list[_Trip], int, bool]:
    """One epoch's trips (by vehicle), solutions used, clock cut: one routing model per
    region (``region`` of every point) holding the region's stops, with the vehicles free
    within the epoch shared out by :func:`_share_vehicles`."""
    active = [
        v
        for v in range(p.num_vehicles)
        if int(vehicle_free[v]) < now + epoch
        and max(now, int(vehicle_free[v]), int(p.vehicle_from[v])) + p.stop_s + p.unload_s
        < int(p.vehicle_to[v])
    ]
    if not active:
        return [], 0, False
    labs_open = [lb for lb in range(p.num_labs) if int(p.lab_close[lb]) > now]
    if not labs_open:
        return [], 0, False
    stops_of: dict[int, list[int]] = {}
    for i, q in enumerate(candidates):
        stops_of.setdefault(int(region[q]), []).append(i)
    if len(stops_of) == 1:
        fleets = {r: active for r in stops_of}
    else:
        cap = float(np.mean(p.vehicle_capacity[active]))
        need = [
            1.0 + (1.0 if mandatory[i] else 0.0) + demand[i] / cap for i in range(len(candidates))
        ]
        fleets = _share_vehicles(p, stops_of, candidates, need, active, vehicle_loc)
    began = time.perf_counter()
    trips: list[_Trip] = []
    used = 0
    cut = False
    for r in sorted(stops_of):
        if not fleets.get(r):
            continue
        rows = stops_of[r]
        got, n, c = _route_region(
            p,
            params,
            now,
            ride,
            [candidates[i] for i in rows],
            [mandatory[i] for i in rows],
            [demand[i] for i in rows],
            [latest[i] for i in rows],
            vehicle_loc,
            vehicle_free,
            backlog,
            eager,
            max(0.01, time_limit - (time.perf_counter() - began)),
            fleets[r],
            labs_open,
        )
        trips.extend(got)
        used += n
        cut |= c
    trips.sort(key=lambda trip: trip.vehicle)
    return trips, used, cut


def _share_vehicles(
    p: TransportProblem,
    stops_of: dict[int, list[int]],
    candidates: list[int],
    need: list[float],
    active: list[int],
    vehicle_loc: np.ndarray,
) -> dict[int, list[int]]:
    """Vehicles per region: quotas in proportion to the regions' summed stop ``need``
    (largest remainders, ties to the lower region), filled greedily by the shortest drive from each vehicle to the
    region's stops' centre (ties by vehicle, then region)."""
    regions = sorted(stops_of)
    count = np.asarray([sum(need[i] for i in stops_of[r]) for r in regions], dtype=np.float64)
    exact = count * len(active) / count.sum()
    quota = np.floor(exact).astype(np.int64)
    extra = len(active) - int(quota.sum())
    for k in np.lexsort((np.arange(len(regions)), -(exact - quota)))[:extra].tolist():
        quota[k] += 1
    centre = np.asarray(
        [p.point_xy[[candidates[i] for i in stops_of[r]]].mean(axis=0) for r in regions]
    )
    drive = p.drive_s(vehicle_loc[active], centre)  # active × regions
    a_idx, r_idx = np.meshgrid(np.arange(len(active)), np.arange(len(regions)), indexing="ij")
    order = np.lexsort((r_idx.ravel(), a_idx.ravel(), drive.ravel()))
    fleets: dict[int, list[int]] = {r: [] for r in regions}
    taken = np.zeros(len(active), dtype=bool)
    for flat in order.tolist():
        a, k = divmod(flat, len(regions))
        if taken[a] or quota[k] <= 0:
            continue
        taken[a] = True
        quota[k] -= 1
        fleets[regions[k]].append(active[a])
    for r in regions:
        fleets[r].sort()
    return fleets


def _route_region(
    p: TransportProblem,
    params: TransportParams,
    now: int,
    ride: int,
    candidates: list[int],
    mandatory: list[bool],
    demand: list[int],
    latest: list[int],
    vehicle_loc: np.ndarray,
    vehicle_free: IntArray,
    backlog: np.ndarray,
    eager: bool,
    time_limit: float,
    active: list[int],
    labs_open: list[int],
) -> tuple[list[_Trip], int, bool]:
    """One region's trips (stop order and lab per used vehicle), solutions used, clock cut."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n_stops, m = len(candidates), len(active)
    start0 = n_stops
    end_node = start0 + m
    n_nodes = end_node + 1
    xy = np.zeros((end_node, 2), dtype=np.float64)
    xy[:n_stops] = p.point_xy[candidates]
    xy[start0:end_node] = vehicle_loc[active]
    drive = np.zeros((n_nodes, n_nodes), dtype=np.int64)
    drive[:end_node, :end_node] = p.drive_s(xy, xy)
    # each stop's lab, should the trip end there: the least driving + unloading + projected
    # backlog wait among the labs it reaches within the ride bound and before they close even
    # when leaving at its latest time (then at any lab still open on arrival; a stop that
    # reaches none cannot end a trip)
    open_arr = np.asarray(labs_open, dtype=np.int64)
    to_lab = p.drive_s(xy[:n_stops], p.lab_xy[open_arr])  # stops × open labs
    bias = np.round(backlog[open_arr] * params.backlog_weight).astype(np.int64)
    end_cost = to_lab + p.unload_s + bias[None, :]
    leave = np.asarray(latest, dtype=np.int64)[:, None] + p.stop_s
    shut = leave + to_lab >= p.lab_close[open_arr][None, :]
    bad = shut | ((p.stop_s + to_lab) > ride)
    bad &= ~bad.all(axis=1, keepdims=True) | ~shut
    pick = np.argmin(np.where(bad, 1 << 40, end_cost), axis=1)
    rows = np.arange(n_stops)
    stop_lab = open_arr[pick]
    horizon = int(max(int(p.vehicle_to.max()), int(p.lab_close.max()), now + ride)) + 1
    transit = drive.copy()
    transit[:n_stops] += p.stop_s
    transit[:n_stops, end_node] = np.where(
        shut[rows, pick], horizon, p.stop_s + to_lab[rows, pick] + p.unload_s
    )
    cost = transit.copy()
    cost[:n_stops, end_node] += bias[pick]  # an idle vehicle ends where it is at no cost
    ride_transit = transit.copy()
    ride_transit[start0:end_node, :] = 0  # the ride bound runs from the first pickup

    manager = pywrapcp.RoutingIndexManager(
        n_nodes, m, [start0 + a for a in range(m)], [end_node] * m
    )
    routing = pywrapcp.RoutingModel(manager)
    cost_cb = routing.RegisterTransitMatrix(np.minimum(cost, horizon).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    time_cb = routing.RegisterTransitMatrix(np.minimum(transit, horizon).tolist())
    routing.AddDimension(time_cb, horizon, horizon, False, "Time")
    tdim = routing.GetDimensionOrDie("Time")
    ride_cb = routing.RegisterTransitMatrix(np.minimum(ride_transit, horizon).tolist())
    routing.AddDimension(ride_cb, 0, ride + p.unload_s, True, "Ride")
    caps = [int(p.vehicle_capacity[v]) for v in active]
    max_cap = max(caps)
    load = [min(d, max_cap) for d in demand] + [0] * (n_nodes - n_stops)
    load_cb = routing.RegisterUnaryTransitVector(load)
    routing.AddDimensionWithVehicleCapacity(load_cb, 0, caps, True, "Load")
    for i in range(n_stops):
        idx = manager.NodeToIndex(i)
        tdim.CumulVar(idx).SetRange(now, max(now, latest[i]))
        pen = _MANDATORY_PENALTY if mandatory[i] else params.optional_penalty_s
        routing.AddDisjunction([idx], pen)
    for a, v in enumerate(active):
        start = max(now, int(vehicle_free[v]), int(p.vehicle_from[v]))
        stop = int(p.vehicle_to[v])
        tdim.CumulVar(routing.Start(a)).SetRange(start, stop)
        tdim.CumulVar(routing.End(a)).SetRange(start, stop)
        # leave as late as the targets allow: a pickup near its target takes the most tubes
        # and resets the point's interval latest, so points need the fewest visits — unless a
        # lab is about to run dry, then as early as possible
        if eager:
            routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.Start(a)))
        else:
            routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(routing.Start(a)))

    limit = params.iterations or round_iterations(n_stops)
    limit_ms = max(10, int(min(time_limit, ROUND_WALL_S + 0.05 * n_stops) * 1000))
    began = time.perf_counter()
    # first the first solution (a tiny model: a descent from it, which always ends), then
    # guided local search from it for ``limit`` solutions; a tiny model's neighbourhood runs
    # dry before that many solutions, so it keeps the descent's plan
    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, params.first_solution
    )
    search.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    if n_stops >= GUIDED_MIN_STOPS:
        search.solution_limit = 1
    search.time_limit.FromMilliseconds(limit_ms)
    solution = routing.SolveWithParameters(search)
    if solution is not None and n_stops >= GUIDED_MIN_STOPS:
        guided = pywrapcp.DefaultRoutingSearchParameters()
        guided.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        guided.solution_limit = limit
        left_ms = max(10, limit_ms - int(1000 * (time.perf_counter() - began)))
        guided.time_limit.FromMilliseconds(left_ms)
        better = routing.SolveFromAssignmentWithParameters(solution, guided)
        if better is not None:
            solution = better
    cut = 1000 * (time.perf_counter() - began) >= 0.98 * limit_ms
    trips: list[_Trip] = []
    if solution is None:
        return trips, limit, True
    for a, v in enumerate(active):
        idx = solution.Value(routing.NextVar(routing.Start(a)))
        points: list[int] = []
        lab = -1
        while not routing.IsEnd(idx):
            node = manager.IndexToNode(idx)
            points.append(candidates[node])
            lab = int(stop_lab[node])
            idx = solution.Value(routing.NextVar(idx))
        if points and lab >= 0:
            start = solution.Value(tdim.CumulVar(routing.Start(a)))
            trips.append(_Trip(v, int(start), points, lab))
    return trips, limit, cut


def _apply_trip(
    p: TransportProblem,
    trip: _Trip,
    now: int,
    ride: int,
    demand: list[int],
    candidates: list[int],
    by_point: list[list[int]],
    front: list[int],
    remaining: IntArray,
    vehicle_loc: np.ndarray,
    vehicle_free: IntArray,
    vehicle_trips: IntArray,
    stop_rows: dict[str, list[int]],
    parcel_rows: dict[str, list[int]],
    deliveries: list[tuple[int, int, int]],
    book: LabBook,
    delivery_stop: list[int],
    weight: float,
) -> None:
    """Drive ``trip`` from its departure, collect tubes, unload at the lab
    :func:`_choose_lab` picks within the ride bound of the first pickup; record rows
    and state."""
    v = trip.vehicle
    first_pickup = -1
    cap = int(p.vehicle_capacity[v])
    planned = {q: demand[candidates.index(q)] for q in trip.points}
    reserved = sum(min(planned[q], cap) for q in trip.points)
    t = max(now, int(vehicle_free[v]), int(p.vehicle_from[v]), trip.start)
    here = vehicle_loc[v]
    load = 0
    number = int(vehicle_trips[v])
    trip_parcels: list[int] = []
    swab_min = ready_min = 1 << 62
    seq = 0
    for q in trip.points:
        t += int(p.drive_s(here, p.point_xy[q])[0, 0])
        arrive = max(t, now)
        reserved -= min(planned[q], cap)
        room = max(0, cap - load - reserved)
        got = 0
        oldest_swab = oldest_ready = 1 << 62
        row = len(stop_rows["kind"])
        for b in by_point[q][front[q] :]:
            if room <= 0 or p.batch_ready[b] > arrive:
                break
            take = min(int(remaining[b]), room)
            remaining[b] -= take
            room -= take
            got += take
            oldest_swab = min(oldest_swab, int(p.batch_swab[b]))
            oldest_ready = min(oldest_ready, int(p.batch_ready[b]))
            parcel_rows["batch"].append(b)
            parcel_rows["tubes"].append(take)
            parcel_rows["pickup"].append(row)
            parcel_rows["unload"].append(-1)
            trip_parcels.append(len(parcel_rows["batch"]) - 1)
        while front[q] < len(by_point[q]) and remaining[by_point[q][front[q]]] == 0:
            front[q] += 1
        depart = arrive + p.stop_s
        if got == 0:  # nothing was there after all: drive on without stopping
            t = arrive
            here = p.point_xy[q]
            continue
        load += got
        if first_pickup < 0:
            first_pickup = arrive
        swab_min, ready_min = min(swab_min, oldest_swab), min(ready_min, oldest_ready)
        _row(stop_rows, v, number, seq, PICKUP, q, arrive, depart, got, oldest_swab, oldest_ready)
        seq += 1
        t = depart
        here = p.point_xy[q]
    if load == 0:
        return
    lab, arrive = _choose_lab(p, v, trip.lab, t, here, load, first_pickup + ride, book, weight)
    depart = arrive + p.unload_s
    unload_row = len(stop_rows["kind"])
    _row(stop_rows, v, number, seq, UNLOAD, lab, arrive, depart, load, swab_min, ready_min)
    for k in trip_parcels:
        parcel_rows["unload"][k] = unload_row
    deliveries.append((lab, arrive, load))
    book.add(lab, arrive, load)
    delivery_stop.append(unload_row)
    vehicle_loc[v] = p.lab_xy[lab]
    vehicle_free[v] = depart
    vehicle_trips[v] = number + 1


def _choose_lab(
    p: TransportProblem,
    vehicle: int,
    planned: int,
    t: int,
    here: np.ndarray,
    load: int,
    limit: int,
    book: LabBook,
    weight: float,
) -> tuple[int, int]:
    """The lab (and arrival) for a load leaving ``here`` at ``t``: among the open labs reached
    by ``limit`` (the ride bound) with the unloading done in the vehicle's hours, the one with the least driving seconds plus
    ``weight`` × the time from arrival until its queue (with this load) is tested. Deliveries
    of the same round already decided are in the queues, so one round's trips spread over
    the labs instead of all joining the nearest. Falls back to the routed lab ``planned``."""
    drive = p.drive_s(here, p.lab_xy)[0]
    best: tuple[float, int, int] | None = None
    for lb in range(p.num_labs):
        arrive = max(t + int(drive[lb]), int(p.lab_open[lb]))
        if (
            arrive > limit
            or arrive + p.unload_s > int(p.vehicle_to[vehicle])
            or arrive >= int(p.lab_close[lb])
        ):
            continue
        finish = book.finish_if_added(lb, arrive, load)
        score = float(drive[lb]) + weight * float(finish - arrive)
        if best is None or score < best[0]:
            best = (score, lb, arrive)
    if best is None:
        arrive = max(t + int(drive[planned]), int(p.lab_open[planned]))
        return planned, arrive
    return best[1], best[2]


def _row(
    rows: dict[str, list[int]],
    vehicle: int,
    trip: int,
    seq: int,
    kind: int,
    place: int,
    arrive: int,
    depart: int,
    tubes: int,
    oldest_swab: int,
    oldest_ready: int,
) -> None:
    for key, value in (
        ("vehicle", vehicle),
        ("trip", trip),
        ("seq", seq),
        ("kind", kind),
        ("place", place),
        ("arrive", arrive),
        ("depart", depart),
        ("tubes", tubes),
        ("oldest_swab", oldest_swab),
        ("oldest_ready", oldest_ready),
    ):
        rows[key].append(value)


def _split_untested(
    parcels: dict[str, IntArray], queues: LabQueues, delivery_stop: IntArray
) -> dict[str, IntArray]:
    """Parcels with the untested tubes of each delivery split off as their own parcels.

    A lab tests a delivery's tubes in order, so its last ``untested`` tubes are the ones left
    when it closes: they are taken from the delivery's last parcels, a parcel split in two
    where the count falls inside it. Marked by ``untested`` = 1.
    """
    rows = {k: v.tolist() for k, v in parcels.items()}
    rows["untested"] = [0] * len(rows["batch"])
    by_unload: dict[int, list[int]] = {}
    for k, u in enumerate(rows["unload"]):
        if u >= 0:
            by_unload.setdefault(int(u), []).append(k)
    for d, row in enumerate(delivery_stop.tolist()):
        left = int(queues.untested[d])
        for k in reversed(by_unload.get(row, [])):
            if left <= 0:
                break
            tubes = rows["tubes"][k]
            if tubes <= left:
                rows["untested"][k] = 1
                left -= tubes
                continue
            rows["tubes"][k] = tubes - left  # the tested part stays, the rest splits off
            for key in ("batch", "pickup", "unload"):
                rows[key].append(rows[key][k])
            rows["tubes"].append(left)
            rows["untested"].append(1)
            left = 0
    return {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}


def _judge(
    p: TransportProblem,
    parcels: dict[str, IntArray],
    stops: dict[str, IntArray],
    queues: LabQueues,
    delivery_of_stop: IntArray,
    direct_late: np.ndarray,
    reach: np.ndarray,
) -> None:
    """Fill ``lab``, ``result`` and ``reason`` of every parcel (in place)."""
    n = len(parcels["batch"])
    lab = np.full(n, -1, dtype=np.int64)
    result = np.full(n, -1, dtype=np.int64)
    reason = np.full(n, NOT_LATE, dtype=np.int64)
    batch = parcels["batch"]
    far = direct_late[batch] | ~reach[p.batch_point[batch]]
    for k in range(n):
        u = int(parcels["unload"][k])
        pk = int(parcels["pickup"][k])
        b = int(batch[k])
        if u < 0:
            reason[k] = TOO_FAR if far[k] else FLEET
            continue
        lab[k] = int(stops["place"][u])
        d = int(delivery_of_stop[u])
        age = int(stops["arrive"][u]) - int(p.batch_swab[b])
        wait = int(stops["arrive"][pk]) - int(p.batch_ready[b])
        if parcels["untested"][k]:
            reason[k] = LAB_HOURS
        else:
            result[k] = int(queues.finish[d])
            if age > p.max_age_s or wait > p.interval_s:
                reason[k] = TOO_FAR if far[k] else FLEET
    parcels["lab"] = lab
    parcels["result"] = result
    parcels["reason"] = reason


def tube_table(problem: TransportProblem, result: TransportResult) -> dict[str, IntArray]:
    """One row per parcel, as the ``transport_tubes`` table holds it (−1 for "none"):
    ``batch``, ``point``, ``swab``, ``ready``, ``tubes``, ``vehicle``, ``trip``, ``pickup``
    (arrival at the point), ``lab``, ``lab_arrive``, ``result``, ``late_reason``."""
    p, pc, st = problem, result.parcels, result.stops
    pick, unload = pc["pickup"], pc["unload"]
    has = pick >= 0

    def at(column: IntArray, rows: IntArray) -> IntArray:
        out = np.full(len(rows), -1, dtype=np.int64)
        out[rows >= 0] = column[rows[rows >= 0]]
        return out

    return {
        "batch": pc["batch"],
        "point": p.batch_point[pc["batch"]],
        "swab": p.batch_swab[pc["batch"]],
        "ready": p.batch_ready[pc["batch"]],
        "tubes": pc["tubes"],
        "vehicle": np.where(has, at(st["vehicle"], pick), -1),
        "trip": np.where(has, at(st["trip"], pick), -1),
        "pickup": at(st["arrive"], pick),
        "lab": pc["lab"] if "lab" in pc else at(st["place"], unload),
        "lab_arrive": at(st["arrive"], unload),
        "result": pc["result"],
        "late_reason": pc["reason"],
    }
