"""Transport planning: vehicles in repeated trips collect tube batches and unload them at labs.

Formulation (rolling dispatch)
------------------------------
Every batch ``b`` (ready ``r``, oldest swab ``s``) has a **pickup deadline**
``min(r + interval, s + max_age − ride)``, where the *ride bound*
``ride = max_age − interval − (median ready − swab gap)`` limits the time from a trip's first
pickup to its lab. A pickup by the deadline followed by an unloading within ``ride`` keeps
both rules: no tube waits at its point longer than ``interval`` after it is sealed, and none is
older than ``max_age`` at its lab.

"Every point is visited often enough" is the first rule: a point is visited within
``interval`` of its oldest sealed tube that is still waiting — so a point with tubes is never
left longer than ``interval``, and a point with nothing sealed and waiting need not be visited
(an empty visit collects nothing). A point's *pickup gap* is the longest a sealed tube of it
waited for a vehicle; the checker recomputes it and the results table reports it per point.

The day is cut into *epochs* of ``interval ÷ 6`` (5–30 min). At each epoch start ``now``, every
point with tubes ready gets a target time — its waiting batches' earliest deadline, or, once its
last batch is out, that batch's ready time + one epoch (so final pickups come early and the day's
results are not held back) — and becomes

* a **mandatory** stop if the next epoch could not safely reach it before the target
  with one epoch to spare (``target < now + 3·epoch + drive from the nearest lab + handover``:
  vehicles on a trip are busy for up to ``ride``),
* an **optional** stop one epoch earlier when these are its last tubes, or at once while some
  lab's queue would run dry within two epochs (dropping it costs ``optional_penalty_s``, or
  ``eager_penalty_s`` for such an eager visit), so
  trips take a final pickup early when the detour is small, and feed a lab that would idle
  (other early visits would only mean more visits in all),

and vehicles free within the epoch each make at most one *trip*: from where they are (depot or
the lab of their last unloading), pickups at stops, one unloading at a lab. Each epoch is a
vehicle routing problem solved with OR-Tools: nodes are the stops, the vehicles' starts and one
shared end. A trip's unloading is on its arc from its last stop to the end: every stop has its
*end lab* — among the labs reached within the ride bound (waiting for one not open yet
included) and still testing a load arriving when the stop is left at its latest time (the
lab closes after both the arrival and its queue so far), the one with the least driving +
waiting until it opens + unloading + projected backlog wait (queue of
:mod:`solver.transport.labs` on the deliveries so far); a stop that reaches no lab testing
its load cannot end a trip. So a trip is never planned to unload at a closed lab: it goes to
another lab or waits at one about to open, and the wait is on its route's time and ride. Arc
cost = driving + handling seconds (vehicle time) plus, on the arc to the end, the end lab's
wait and backlog wait; an idle vehicle goes
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
(labs neither idle nor pile up: "不空机、不积样"). Only the trips leaving within the epoch are
driven; one whose departure falls later is routed again at the next epoch (``stats
["trips_deferred"]`` counts them), so a vehicle is never held, idle, for a late departure while
other points fall due (one vehicle for eight points: 232 of 2,215 tubes late when it was, 9
after). A driven trip goes without waiting on the way: at each stop the vehicle takes every tube
ready by its arrival (within the capacity the later stops keep), and at the end unloads at the
lab (:func:`_choose_lab`) with the least driving plus waiting for it to open plus
``backlog_weight`` × the time until this load would be tested, among the labs open on arrival
(or after the wait) that it reaches within the ride bound and that test the whole load before
closing — deliveries decided earlier in the same epoch count, so one epoch's trips spread over
the labs. Seconds spent waiting for a lab to open are counted (``stats["lab_wait_s"]``).
A trip whose load no lab could take is not driven.

Effort is a count: each epoch's (or area's) search stops after ``iterations`` solutions
(guided local search); the wall clock is only a reported safety stop. Same problem and parameters → same
trips on any machine.

Late tubes: a tube reaching its lab after ``max_age``, waiting at its point longer than
``interval``, never collected, or not tested in its lab's hours is *late*, with a reason:
``too_far`` (no pickup there reaches a lab within the ride bound, or even a direct run at once
misses the age limit), ``lab_hours`` (delivered, but its lab closes before testing it; or a lab
is near enough but none is open while its tubes could reach one in time —
:func:`hours_blocked`) or ``fleet`` (the vehicles, their hours or capacity could not collect it
in time).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from solver.transport.labs import LabBook, LabQueues, simulate_labs
from solver.transport.problem import FloatArray, IntArray, TransportProblem

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
GUIDED_BRANCHES = 200
"""Search branches allowed per solution of a guided round's budget: the deterministic stop
for models whose neighbourhood runs dry before ``limit`` solutions."""
"""Wall-clock safety stop of one epoch's search: this + 50 ms per stop (never reached by the
iteration budget on a working machine; reported when it is)."""


EAGER_PENALTY_S = 900
"""Default drop penalty of an *eager* stop — an early visit, not the point's last, to feed a lab
about to run dry. It adds a visit (the point's later tubes still need theirs), unlike an early
final pickup (``optional_penalty_s``), which replaces the last one. Measured trade-off: on the
generated 1 M district (50 vehicles) one handover (300 s: eager visits only where practically on
the way) cuts vehicle hours 429.5 → 398.6, below the fixed rounds' 409, with no tube late and the
last result at 20:09 instead of 19:52; but on a tight fleet (3 vehicles, 12 points, one of two
labs closing at 10:00) it leaves 17 tubes late that the eager visits' spread-out load keeps on
time — so the default keeps them, and ``bench/transport.py`` reports both."""


@dataclass(frozen=True)
class TransportParams:
    """Search settings: ``iterations`` solutions per round (default grows with the stops),
    the drop penalties (seconds of vehicle time) of an optional early final pickup and of an
    eager early visit (:data:`EAGER_PENALTY_S`), the weight of a lab's
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
    eager_penalty_s: int = EAGER_PENALTY_S
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
            min(self.optional_penalty_s, self.eager_penalty_s, self.backlog_weight) < 0
            or self.eager_epochs < 0
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
    queue figures ``queues`` holds. ``stats["lab_wait_s"]``: seconds vehicles waited at labs
    for them to open; ``stats["trips_deferred"]``: routed trips left to the next epoch because
    they would leave after this one.
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


@dataclass(frozen=True)
class _Round:
    """One epoch's routing input (read-only for the routing; trips change the dispatch state
    only once they are applied): the epoch start ``now``, the ride bound, the candidate
    ``stops`` (points) with whether each is ``mandatory``, its tubes waiting (``demand``) and
    its ``latest`` pickup time, and per lab the projected ``backlog`` wait (seconds of testing
    queued at the next epoch) and ``queue_end`` (when its queue so far is tested, −1 when
    empty); ``eager`` while an open lab would run dry; the vehicles' places and free times."""

    now: int
    ride: int
    stops: list[int]
    mandatory: list[bool]
    demand: list[int]
    latest: list[int]
    penalty: list[int]
    backlog: FloatArray
    queue_end: IntArray
    eager: bool
    vehicle_loc: FloatArray
    vehicle_free: IntArray

    def part(self, rows: list[int]) -> _Round:
        """The same round restricted to the stops at ``rows``."""
        return replace(
            self,
            stops=[self.stops[i] for i in rows],
            mandatory=[self.mandatory[i] for i in rows],
            demand=[self.demand[i] for i in rows],
            latest=[self.latest[i] for i in rows],
            penalty=[self.penalty[i] for i in rows],
        )


@dataclass
class _Dispatch:
    """What the applied trips have decided so far: tubes left per batch, each point's batches
    in ready order with a pointer to the first with tubes left, the vehicles' places, free
    times and trip counts, the stop and parcel rows, the deliveries and their lab queues,
    and the seconds vehicles waited at labs not yet open."""

    remaining: IntArray
    by_point: list[list[int]]
    front: list[int]
    vehicle_loc: FloatArray
    vehicle_free: IntArray
    vehicle_trips: IntArray
    book: LabBook
    stop_rows: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in STOP_COLUMNS})
    parcel_rows: dict[str, list[int]] = field(
        default_factory=lambda: {k: [] for k in ("batch", "tubes", "pickup", "unload")}
    )
    deliveries: list[tuple[int, int, int]] = field(default_factory=list)  # lab, arrive, tubes
    delivery_stop: list[int] = field(default_factory=list)
    lab_wait_s: int = 0


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


def hours_blocked(problem: TransportProblem) -> NDArray[np.bool_]:
    """Per batch: some lab is near enough to keep its age limit, but none is open then.

    A lab is usable for batch ``b`` when a direct run at once (ready + handover + drive)
    reaches it within the age limit and, waiting for it to open if need be, before it closes
    and still within the age limit. Batches near enough with no usable lab can only be late
    for the labs' hours (``lab_hours``), whatever the vehicles do.
    """
    p = problem
    if p.num_batches == 0 or p.num_labs == 0:
        return np.zeros(p.num_batches, dtype=bool)
    to_lab = p.point_to_lab_s()[p.batch_point]  # batches × labs
    reach = p.batch_ready[:, None] + p.stop_s + to_lab
    limit = (p.batch_swab + p.max_age_s)[:, None]
    at = np.maximum(reach, p.lab_open[None, :])
    usable = (at <= limit) & (at < p.lab_close[None, :])
    near = (reach <= limit).any(axis=1)
    return np.asarray(near & ~usable.any(axis=1), dtype=np.bool_)


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
    # per point, its batches in ready order; a pointer to the first with tubes left
    by_point: list[list[int]] = [[] for _ in range(p.num_points)]
    for b in order.tolist():
        by_point[int(p.batch_point[b])].append(b)
    direct_late = (p.batch_ready - p.batch_swab + back[p.batch_point]) > p.max_age_s
    servable = [bool(reach[q]) for q in range(p.num_points)]
    # a large district: one routing model per lab's area (its points: those nearest to it)
    split = p.num_points > params.region_points and nl > 1
    region = to_lab.argmin(axis=1) if split else np.zeros(p.num_points, dtype=np.int64)

    state = _Dispatch(
        remaining=p.batch_tubes.copy(),
        by_point=by_point,
        front=[0] * p.num_points,
        vehicle_loc=p.vehicle_xy.copy(),
        vehicle_free=p.vehicle_from.copy(),
        vehicle_trips=np.zeros(nv, dtype=np.int64),
        book=LabBook(p.lab_rate, p.lab_open, p.lab_close),  # the queues, kept up to date
    )
    remaining, front = state.remaining, state.front

    last_vehicle_end = int(p.vehicle_to.max()) if nv else 0
    last_lab_close = int(p.lab_close.max()) if nl else 0
    horizon = min(last_vehicle_end, last_lab_close)
    now = int(p.batch_ready.min()) if nb else horizon
    rounds = iterations_used = deferred = 0
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
        penalty: list[int] = []
        backlog = _backlog_wait_s(p, state.book, now + epoch)
        # a lab open now (or opening within the eager horizon) about to run dry wants tubes now
        eager_s = params.eager_epochs * epoch
        serving = (p.lab_close > now + epoch) & (p.lab_open <= now + eager_s)
        eager = bool(serving.any()) and float(backlog[serving].min()) < eager_s
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
            penalty.append(
                _MANDATORY_PENALTY
                if due
                else params.optional_penalty_s
                if done
                else params.eager_penalty_s
            )
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
        ends = [state.book.last_finish(lb) for lb in range(nl)]
        rnd = _Round(
            now=now,
            ride=ride,
            stops=candidates,
            mandatory=mandatory,
            demand=demand,
            latest=latest,
            penalty=penalty,
            backlog=backlog,
            queue_end=np.asarray([-1 if e is None else e for e in ends], dtype=np.int64),
            eager=eager,
            vehicle_loc=state.vehicle_loc,
            vehicle_free=state.vehicle_free,
        )
        trips, used, cut = _route_round(p, params, rnd, epoch, remaining_time, region)
        rounds += 1
        iterations_used += used
        wall_cut |= cut
        for trip in trips:
            # Only trips leaving within this epoch are driven. One that leaves later would hold
            # its vehicle from now until its return, blind to the stops falling due meanwhile:
            # it is routed again next epoch, with them (a thin fleet otherwise idles at the lab
            # waiting for one late departure while other points' deadlines pass).
            if trip.start < now + epoch:
                _apply_trip(p, state, rnd, trip, params.backlog_weight)
            else:
                deferred += 1
        now += epoch

    stops = {k: np.asarray(v, dtype=np.int64) for k, v in state.stop_rows.items()}
    parcel_rows = state.parcel_rows
    # tubes never collected become parcels without a pickup
    for b in range(nb):
        if remaining[b] > 0:
            parcel_rows["batch"].append(b)
            parcel_rows["tubes"].append(int(remaining[b]))
            parcel_rows["pickup"].append(-1)
            parcel_rows["unload"].append(-1)
    parcels = {k: np.asarray(v, dtype=np.int64) for k, v in parcel_rows.items()}
    d = np.asarray(state.deliveries, dtype=np.int64).reshape(-1, 3)
    delivery_stop_arr = np.asarray(state.delivery_stop, dtype=np.int64)
    by_vehicle = stops["vehicle"][delivery_stop_arr]
    queues = simulate_labs(
        p.lab_rate, p.lab_open, p.lab_close, d[:, 0], d[:, 1], d[:, 2], tiebreak=by_vehicle
    )
    delivery_of_stop = np.full(len(stops["kind"]), -1, dtype=np.int64)
    delivery_of_stop[delivery_stop_arr] = np.arange(len(delivery_stop_arr))
    parcels = _split_untested(parcels, queues, delivery_stop_arr)
    blocked = hours_blocked(p)
    _judge(p, parcels, stops, queues, delivery_of_stop, direct_late, reach, blocked)
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
        stats={"lab_wait_s": float(state.lab_wait_s), "trips_deferred": float(deferred)},
    )


def _backlog_wait_s(p: TransportProblem, book: LabBook, at: int) -> FloatArray:
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
    rnd: _Round,
    epoch: int,
    time_limit: float,
    region: IntArray,
) -> tuple[list[_Trip], int, bool]:
    """One epoch's trips (by vehicle), solutions used, clock cut: one routing model per
    region (``region`` of every point) holding the region's stops, with the vehicles free
    within the epoch shared out by :func:`_share_vehicles`."""
    now = rnd.now
    active = [
        v
        for v in range(p.num_vehicles)
        if int(rnd.vehicle_free[v]) < now + epoch
        and max(now, int(rnd.vehicle_free[v]), int(p.vehicle_from[v])) + p.stop_s + p.unload_s
        < int(p.vehicle_to[v])
    ]
    if not active:
        return [], 0, False
    labs_open = [lb for lb in range(p.num_labs) if int(p.lab_close[lb]) > now]
    if not labs_open:
        return [], 0, False
    stops_of: dict[int, list[int]] = {}
    for i, q in enumerate(rnd.stops):
        stops_of.setdefault(int(region[q]), []).append(i)
    if len(stops_of) == 1:
        fleets = {r: active for r in stops_of}
    else:
        cap = float(np.mean(p.vehicle_capacity[active]))
        need = [
            1.0 + (1.0 if rnd.mandatory[i] else 0.0) + rnd.demand[i] / cap
            for i in range(len(rnd.stops))
        ]
        fleets = _share_vehicles(p, stops_of, rnd.stops, need, active, rnd.vehicle_loc)
    began = time.perf_counter()
    trips: list[_Trip] = []
    used = 0
    cut = False
    for r in sorted(stops_of):
        if not fleets.get(r):
            continue
        got, n, c = _route_region(
            p,
            params,
            rnd.part(stops_of[r]),
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
    rnd: _Round,
    time_limit: float,
    active: list[int],
    labs_open: list[int],
) -> tuple[list[_Trip], int, bool]:
    """One region's trips (stop order and lab per used vehicle), solutions used, clock cut."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    now, ride, latest = rnd.now, rnd.ride, rnd.latest
    n_stops, m = len(rnd.stops), len(active)
    start0 = n_stops
    end_node = start0 + m
    n_nodes = end_node + 1
    xy = np.zeros((end_node, 2), dtype=np.float64)
    xy[:n_stops] = p.point_xy[rnd.stops]
    xy[start0:end_node] = rnd.vehicle_loc[active]
    drive = np.zeros((n_nodes, n_nodes), dtype=np.int64)
    drive[:end_node, :end_node] = p.drive_s(xy, xy)
    # each stop's lab, should the trip end there: the least driving + waiting for the lab to
    # open + unloading + projected backlog wait among the labs it reaches within the ride
    # bound (the wait included) and that still test a load arriving when leaving the stop at
    # its latest time — open on arrival or opening later, closing after both the arrival and
    # the end of the lab's queue so far (then at any such lab beyond the ride bound; a stop
    # that reaches none cannot end a trip). The wait is the least one (leaving at the latest).
    open_arr = np.asarray(labs_open, dtype=np.int64)
    to_lab = p.drive_s(xy[:n_stops], p.lab_xy[open_arr])  # stops × open labs
    bias = np.round(rnd.backlog[open_arr] * params.backlog_weight).astype(np.int64)
    leave = np.asarray(latest, dtype=np.int64)[:, None] + p.stop_s
    reach = leave + to_lab
    wait = np.maximum(0, p.lab_open[open_arr][None, :] - reach)
    end_cost = to_lab + wait + p.unload_s + bias[None, :]
    tested_from = np.maximum(reach + wait, rnd.queue_end[open_arr][None, :])
    shut = tested_from >= p.lab_close[open_arr][None, :]
    bad = shut | ((p.stop_s + to_lab + wait) > ride)
    bad &= ~bad.all(axis=1, keepdims=True) | ~shut
    pick = np.argmin(np.where(bad, 1 << 40, end_cost), axis=1)
    rows = np.arange(n_stops)
    stop_lab = open_arr[pick]
    horizon = int(max(int(p.vehicle_to.max()), int(p.lab_close.max()), now + ride)) + 1
    transit = drive.copy()
    transit[:n_stops] += p.stop_s
    transit[:n_stops, end_node] = np.where(
        shut[rows, pick],
        horizon,
        p.stop_s + to_lab[rows, pick] + wait[rows, pick] + p.unload_s,
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
    load = [min(d, max_cap) for d in rnd.demand] + [0] * (n_nodes - n_stops)
    load_cb = routing.RegisterUnaryTransitVector(load)
    routing.AddDimensionWithVehicleCapacity(load_cb, 0, caps, True, "Load")
    for i in range(n_stops):
        idx = manager.NodeToIndex(i)
        tdim.CumulVar(idx).SetRange(now, max(now, latest[i]))
        routing.AddDisjunction([idx], rnd.penalty[i])
    for a, v in enumerate(active):
        start = max(now, int(rnd.vehicle_free[v]), int(p.vehicle_from[v]))
        stop = int(p.vehicle_to[v])
        tdim.CumulVar(routing.Start(a)).SetRange(start, stop)
        tdim.CumulVar(routing.End(a)).SetRange(start, stop)
        # leave as late as the targets allow: a pickup near its target takes the most tubes
        # and resets the point's interval latest, so points need the fewest visits — unless a
        # lab is about to run dry, then as early as possible
        if rnd.eager:
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
        # guided local search does not stop on its own when a small model's neighbourhood
        # stops yielding solutions: cap it by search branches too (a count, never the clock)
        routing.AddSearchMonitor(routing.solver().BranchesLimit(GUIDED_BRANCHES * limit))
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
            points.append(rnd.stops[node])
            lab = int(stop_lab[node])
            idx = solution.Value(routing.NextVar(idx))
        if points and lab >= 0:
            start = solution.Value(tdim.CumulVar(routing.Start(a)))
            trips.append(_Trip(v, int(start), points, lab))
    return trips, limit, cut


def _apply_trip(
    p: TransportProblem, state: _Dispatch, rnd: _Round, trip: _Trip, weight: float
) -> None:
    """Drive ``trip`` from its departure and collect tubes, then unload at the lab
    :func:`_choose_lab` picks (waiting there if it is not open yet); record rows and state.
    A trip whose load no lab can take (every lab closed on arrival, or the vehicle's hours
    over) is not driven: its tubes stay at their points."""
    v = trip.vehicle
    s = state
    cap = int(p.vehicle_capacity[v])
    planned = {q: rnd.demand[rnd.stops.index(q)] for q in trip.points}
    reserved = sum(min(planned[q], cap) for q in trip.points)
    t = max(rnd.now, int(s.vehicle_free[v]), int(p.vehicle_from[v]), trip.start)
    here = s.vehicle_loc[v]
    load = 0
    # the pickups first as a plan: (point, arrival, [(batch, tubes)])
    visits: list[tuple[int, int, list[tuple[int, int]]]] = []
    first_pickup = -1
    for q in trip.points:
        t += int(p.drive_s(here, p.point_xy[q])[0, 0])
        arrive = max(t, rnd.now)
        reserved -= min(planned[q], cap)
        room = max(0, cap - load - reserved)
        taken: list[tuple[int, int]] = []
        for b in s.by_point[q][s.front[q] :]:
            if room <= 0 or p.batch_ready[b] > arrive:
                break
            take = min(int(s.remaining[b]), room)
            room -= take
            taken.append((b, take))
        here = p.point_xy[q]
        if not taken:  # nothing was there after all: drive on without stopping
            t = arrive
            continue
        load += sum(n for _, n in taken)
        if first_pickup < 0:
            first_pickup = arrive
        visits.append((q, arrive, taken))
        t = arrive + p.stop_s
    if load == 0:
        return
    swab_min = min(int(p.batch_swab[b]) for _, _, taken in visits for b, _ in taken)
    choice = _choose_lab(p, v, t, here, load, first_pickup + rnd.ride, swab_min, s.book, weight)
    if choice is None:
        return
    lab, arrive_lab, wait = choice
    number = int(s.vehicle_trips[v])
    trip_parcels: list[int] = []
    ready_min = 1 << 62
    for seq, (q, arrive, taken) in enumerate(visits):
        row = len(s.stop_rows["kind"])
        got = 0
        for b, take in taken:
            s.remaining[b] -= take
            got += take
            s.parcel_rows["batch"].append(b)
            s.parcel_rows["tubes"].append(take)
            s.parcel_rows["pickup"].append(row)
            s.parcel_rows["unload"].append(-1)
            trip_parcels.append(len(s.parcel_rows["batch"]) - 1)
        oldest_swab = min(int(p.batch_swab[b]) for b, _ in taken)
        oldest_ready = min(int(p.batch_ready[b]) for b, _ in taken)
        ready_min = min(ready_min, oldest_ready)
        _row(
            s.stop_rows,
            v,
            number,
            seq,
            PICKUP,
            q,
            arrive,
            arrive + p.stop_s,
            got,
            oldest_swab,
            oldest_ready,
        )
        while s.front[q] < len(s.by_point[q]) and s.remaining[s.by_point[q][s.front[q]]] == 0:
            s.front[q] += 1
    depart = arrive_lab + p.unload_s
    unload_row = len(s.stop_rows["kind"])
    _row(
        s.stop_rows,
        v,
        number,
        len(visits),
        UNLOAD,
        lab,
        arrive_lab,
        depart,
        load,
        swab_min,
        ready_min,
    )
    for k in trip_parcels:
        s.parcel_rows["unload"][k] = unload_row
    s.deliveries.append((lab, arrive_lab, load))
    s.book.add(lab, arrive_lab, load)
    s.delivery_stop.append(unload_row)
    s.lab_wait_s += wait
    s.vehicle_loc[v] = p.lab_xy[lab]
    s.vehicle_free[v] = depart
    s.vehicle_trips[v] = number + 1


def _choose_lab(
    p: TransportProblem,
    vehicle: int,
    t: int,
    here: FloatArray,
    load: int,
    limit: int,
    swab_min: int,
    book: LabBook,
    weight: float,
) -> tuple[int, int, int] | None:
    """The lab, arrival and wait for a load leaving ``here`` at ``t``, or ``None``.

    Only labs open on arrival (after waiting for one that opens later) with the unloading
    done in the vehicle's hours. Among them, the least driving + waiting + ``weight`` × the
    time from arrival until this load is tested — first among the labs reached by ``limit``
    (the ride bound) that test the whole load before closing, then among those reached within
    the load's age limit (oldest swab ``swab_min`` + max age) that do, then among all (its
    tubes will be late or untested). Deliveries of the same round already decided are in the
    queues, so one round's trips spread over the labs instead of all joining the nearest.
    Ties go to the lower index.
    """
    drive = p.drive_s(here, p.lab_xy)[0]
    age_limit = swab_min + p.max_age_s
    best: list[tuple[float, int, int, int] | None] = [None, None, None]
    for lb in range(p.num_labs):
        reach = t + int(drive[lb])
        arrive = max(reach, int(p.lab_open[lb]))
        if arrive + p.unload_s > int(p.vehicle_to[vehicle]) or arrive >= int(p.lab_close[lb]):
            continue
        finish = book.finish_if_added(lb, arrive, load)
        score = float(drive[lb]) + float(arrive - reach) + weight * float(finish - arrive)
        whole = book.tests_whole(lb, arrive, load)
        tier = 0 if whole and arrive <= limit else 1 if whole and arrive <= age_limit else 2
        key = (score, lb, arrive, arrive - reach)
        current = best[tier]
        if current is None or key < current:
            best[tier] = key
    for found in best:
        if found is not None:
            return found[1], found[2], found[3]
    return None


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
    blocked: np.ndarray,
) -> None:
    """Fill ``lab``, ``result`` and ``reason`` of every parcel (in place): a late parcel is
    ``too_far`` when no lab is near enough, ``lab_hours`` when labs are near enough but none
    is open while its tubes could get there (:func:`hours_blocked`) or its lab closed before
    testing it, else ``fleet``."""
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
            reason[k] = TOO_FAR if far[k] else LAB_HOURS if blocked[b] else FLEET
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
                reason[k] = TOO_FAR if far[k] else LAB_HOURS if blocked[b] else FLEET
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
