"""Immutable input data of the home-visit routing problem (VRPTW with optional stops).

Model
-----
Stops (households) ``i`` sit at locations ``stop_location[i]`` and need ``service[i]`` time
units of work that must *start* inside ``[tw_early[i], tw_late[i]]`` (waiting before the start
is allowed). A stop consumes ``demand[i]`` of a vehicle's capacity and may be left out at the
cost ``penalty[i]`` (``MANDATORY`` = must be served). Vehicles (teams) ``v`` leave
``vehicle_start[v]`` no earlier than ``avail_from[v]``, visit an ordered list of stops and must be
back at ``vehicle_end[v]`` by ``avail_to[v]``; optionally at most ``max_stops[v]`` stops and at
most ``capacity[v]`` demand. Objective: minimise total distance plus the penalties of the
unserved stops (penalties default to a value far above any route length, so serving comes first).

Units
-----
Everything is an integer (OR-Tools and PyVRP need integers). With :meth:`RoutingProblem.planar`
distances are **metres** and times **seconds** (windows and availabilities as seconds of the
day, e.g. 08:00 = 28 800). With :meth:`RoutingProblem.from_matrices` any integer units used
consistently work (the Solomon benchmark uses tenths of a unit: scale by 10 and floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Penalty value meaning "this stop must be served" (no drop allowed).
MANDATORY = -1
#: Default drop penalty: 10 000 km, far above any one-day route, so serving always wins.
DEFAULT_PENALTY = 10_000_000
#: Capacity / max-stops value meaning "unlimited".
UNLIMITED = 1 << 40


def _frozen(values: ArrayLike | None, n: int, name: str, default: int | None = None) -> IntArray:
    """Return a read-only int64 copy of ``values`` with length ``n`` (scalar broadcasts)."""
    if values is None:
        if default is None:
            raise ValueError(f"{name} is required")
        values = default
    arr = np.array(values, dtype=np.int64, copy=True)
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class PlanarTravel:
    """Straight-line travel: distance = round(euclid × detour) m, time = ceil(dist / speed) s.

    ``xy`` are projected coordinates in metres, ``speed`` in metres per minute.
    """

    xy: FloatArray
    speed: float = 75.0
    detour: float = 1.3

    def __post_init__(self) -> None:
        xy = np.array(self.xy, dtype=np.float64, copy=True)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError("xy must have shape (L, 2)")
        if self.speed <= 0 or self.detour < 1.0:
            raise ValueError("speed must be > 0 and detour >= 1")
        xy.flags.writeable = False
        object.__setattr__(self, "xy", xy)

    @property
    def num_locations(self) -> int:
        """Number of locations."""
        return int(self.xy.shape[0])

    def cross(self, a: IntArray, b: IntArray) -> tuple[IntArray, IntArray]:
        """Distance and duration matrices from locations ``a`` (rows) to ``b`` (columns)."""
        pa = self.xy[np.asarray(a, dtype=np.int64)]
        pb = self.xy[np.asarray(b, dtype=np.int64)]
        d = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
        d *= self.detour
        dist = np.rint(d).astype(np.int64)
        dur = np.ceil(d * (60.0 / self.speed) - 1e-9).astype(np.int64)
        return dist, dur


@dataclass(frozen=True, eq=False)
class MatrixTravel:
    """Explicit integer distance and duration matrices over all locations."""

    distance: IntArray
    duration: IntArray

    def __post_init__(self) -> None:
        for name in ("distance", "duration"):
            arr = np.array(getattr(self, name), dtype=np.int64, copy=True)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise ValueError(f"{name} must be a square matrix")
            if (arr < 0).any():
                raise ValueError(f"{name} must be non-negative")
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if self.distance.shape != self.duration.shape:
            raise ValueError("distance and duration must have the same shape")

    @property
    def num_locations(self) -> int:
        """Number of locations."""
        return int(self.distance.shape[0])

    def cross(self, a: IntArray, b: IntArray) -> tuple[IntArray, IntArray]:
        """Distance and duration matrices from locations ``a`` (rows) to ``b`` (columns)."""
        ia = np.asarray(a, dtype=np.int64)[:, None]
        ib = np.asarray(b, dtype=np.int64)[None, :]
        return self.distance[ia, ib], self.duration[ia, ib]


Travel = PlanarTravel | MatrixTravel


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """Stops, vehicles and travel of one routing problem; arrays are read-only int64.

    Build it with :meth:`planar` (coordinates) or :meth:`from_matrices` (explicit matrices);
    the plain constructor takes location indices into ``travel``.
    """

    travel: Travel
    stop_location: IntArray
    service: IntArray
    tw_early: IntArray
    tw_late: IntArray
    demand: IntArray
    penalty: IntArray
    vehicle_start: IntArray
    vehicle_end: IntArray
    avail_from: IntArray
    avail_to: IntArray
    max_stops: IntArray
    capacity: IntArray

    def __post_init__(self) -> None:
        n = int(np.asarray(self.stop_location).shape[0])
        m = int(np.asarray(self.vehicle_start).shape[0])
        for name in ("stop_location", "service", "tw_early", "tw_late", "demand", "penalty"):
            object.__setattr__(self, name, _frozen(getattr(self, name), n, name))
        for name in (
            "vehicle_start",
            "vehicle_end",
            "avail_from",
            "avail_to",
            "max_stops",
            "capacity",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name), m, name))
        nloc = self.travel.num_locations
        for name in ("stop_location", "vehicle_start", "vehicle_end"):
            arr = getattr(self, name)
            if arr.size and (arr.min() < 0 or arr.max() >= nloc):
                raise ValueError(f"{name} refers to a location outside travel")
        if (self.service < 0).any() or (self.demand < 0).any():
            raise ValueError("service and demand must be non-negative")
        if (self.tw_early > self.tw_late).any():
            raise ValueError("tw_early must not exceed tw_late")
        if (self.avail_from > self.avail_to).any():
            raise ValueError("avail_from must not exceed avail_to")
        if ((self.penalty < 0) & (self.penalty != MANDATORY)).any():
            raise ValueError("penalty must be >= 0 or MANDATORY")
        if (self.max_stops < 0).any() or (self.capacity < 0).any():
            raise ValueError("max_stops and capacity must be non-negative")

    @property
    def num_stops(self) -> int:
        """Number of stops (households)."""
        return int(self.stop_location.shape[0])

    @property
    def num_vehicles(self) -> int:
        """Number of vehicles (teams)."""
        return int(self.vehicle_start.shape[0])

    @property
    def mandatory(self) -> NDArray[np.bool_]:
        """Boolean mask of stops that must be served."""
        return np.asarray(self.penalty == MANDATORY)

    @classmethod
    def planar(
        cls,
        stop_xy: ArrayLike,
        service: ArrayLike,
        vehicle_start_xy: ArrayLike,
        avail_from: ArrayLike,
        avail_to: ArrayLike,
        *,
        vehicle_end_xy: ArrayLike | None = None,
        tw_early: ArrayLike | None = None,
        tw_late: ArrayLike | None = None,
        demand: ArrayLike | None = None,
        penalty: ArrayLike | None = None,
        max_stops: ArrayLike | None = None,
        capacity: ArrayLike | None = None,
        speed: float = 75.0,
        detour: float = 1.3,
    ) -> RoutingProblem:
        """Problem on planar coordinates in metres; times in seconds; speed in m/min.

        Missing windows mean "any time the team works"; ``vehicle_end_xy`` defaults to the start.
        """
        sxy = np.asarray(stop_xy, dtype=np.float64).reshape(-1, 2)
        vs = np.asarray(vehicle_start_xy, dtype=np.float64).reshape(-1, 2)
        ve = vs if vehicle_end_xy is None else np.asarray(vehicle_end_xy, np.float64)
        ve = ve.reshape(-1, 2)
        n, m = sxy.shape[0], vs.shape[0]
        travel = PlanarTravel(np.vstack([sxy, vs, ve]), speed=speed, detour=detour)
        return cls._assemble(
            travel,
            np.arange(n),
            np.arange(n, n + m),
            np.arange(n + m, n + 2 * m),
            service,
            avail_from,
            avail_to,
            tw_early,
            tw_late,
            demand,
            penalty,
            max_stops,
            capacity,
        )

    @classmethod
    def from_matrices(
        cls,
        distance: ArrayLike,
        duration: ArrayLike,
        stop_location: ArrayLike,
        service: ArrayLike,
        vehicle_start: ArrayLike,
        vehicle_end: ArrayLike,
        avail_from: ArrayLike,
        avail_to: ArrayLike,
        *,
        tw_early: ArrayLike | None = None,
        tw_late: ArrayLike | None = None,
        demand: ArrayLike | None = None,
        penalty: ArrayLike | None = None,
        max_stops: ArrayLike | None = None,
        capacity: ArrayLike | None = None,
    ) -> RoutingProblem:
        """Problem on explicit integer matrices; stops/vehicles refer to matrix indices."""
        travel = MatrixTravel(np.asarray(distance), np.asarray(duration))
        return cls._assemble(
            travel,
            np.asarray(stop_location),
            np.asarray(vehicle_start),
            np.asarray(vehicle_end),
            service,
            avail_from,
            avail_to,
            tw_early,
            tw_late,
            demand,
            penalty,
            max_stops,
            capacity,
        )

    @classmethod
    def _assemble(
        cls,
        travel: Travel,
        stop_location: IntArray | NDArray[Any],
        vehicle_start: IntArray | NDArray[Any],
        vehicle_end: IntArray | NDArray[Any],
        service: ArrayLike,
        avail_from: ArrayLike,
        avail_to: ArrayLike,
        tw_early: ArrayLike | None,
        tw_late: ArrayLike | None,
        demand: ArrayLike | None,
        penalty: ArrayLike | None,
        max_stops: ArrayLike | None,
        capacity: ArrayLike | None,
    ) -> RoutingProblem:
        """Fill defaults shared by both constructors."""
        n, m = len(stop_location), len(vehicle_start)
        a_from = _frozen(avail_from, m, "avail_from")
        a_to = _frozen(avail_to, m, "avail_to")
        lo = int(a_from.min()) if m else 0
        hi = int(a_to.max()) if m else 0
        return cls(
            travel=travel,
            stop_location=_frozen(stop_location, n, "stop_location"),
            service=_frozen(service, n, "service"),
            tw_early=_frozen(tw_early, n, "tw_early", default=lo),
            tw_late=_frozen(tw_late, n, "tw_late", default=hi),
            demand=_frozen(demand, n, "demand", default=1),
            penalty=_frozen(penalty, n, "penalty", default=DEFAULT_PENALTY),
            vehicle_start=_frozen(vehicle_start, m, "vehicle_start"),
            vehicle_end=_frozen(vehicle_end, m, "vehicle_end"),
            avail_from=a_from,
            avail_to=a_to,
            max_stops=_frozen(max_stops, m, "max_stops", default=UNLIMITED),
            capacity=_frozen(capacity, m, "capacity", default=UNLIMITED),
        )

    def subproblem(self, stops: IntArray, vehicles: IntArray) -> RoutingProblem:
        """The same problem restricted to the given stops and vehicles (same travel object)."""
        s = np.asarray(stops, dtype=np.int64)
        v = np.asarray(vehicles, dtype=np.int64)
        return RoutingProblem(
            travel=self.travel,
            stop_location=self.stop_location[s],
            service=self.service[s],
            tw_early=self.tw_early[s],
            tw_late=self.tw_late[s],
            demand=self.demand[s],
            penalty=self.penalty[s],
            vehicle_start=self.vehicle_start[v],
            vehicle_end=self.vehicle_end[v],
            avail_from=self.avail_from[v],
            avail_to=self.avail_to[v],
            max_stops=self.max_stops[v],
            capacity=self.capacity[v],
        )

    def node_matrices(self) -> tuple[IntArray, IntArray, IntArray]:
        """Dense matrices over "nodes" = stops, then distinct vehicle start/end locations.

        Returns ``(distance, duration, node_location)``; engines index nodes, not locations,
        so a large shared location table is never materialised as a full matrix.
        """
        depots = np.unique(np.concatenate([self.vehicle_start, self.vehicle_end]))
        nodes = np.concatenate([self.stop_location, depots]).astype(np.int64)
        dist, dur = self.travel.cross(nodes, nodes)
        return dist, dur, nodes
