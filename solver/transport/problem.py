"""Immutable input of the tube transport problem: tube batches at points, labs and vehicles.

Model
-----
Open sampling points ``p`` (planar metres) produce tubes in *batches*: batch ``b`` holds
``batch_tubes[b]`` tubes at point ``batch_point[b]``, can be picked up from ``batch_ready[b]``
(its tubes are sealed) and its oldest swab was taken at ``batch_swab[b]`` (≤ ready). Labs ``l``
receive tubes while open (``lab_open`` … ``lab_close``) and test ``lab_rate[l]`` tubes per hour
in arrival order. Vehicles ``v`` leave their depot no earlier than ``vehicle_from[v]``, carry
at most ``vehicle_capacity[v]`` tubes, drive in repeated trips (pickups at points, then one
unloading at a lab) and finish their last unloading by ``vehicle_to[v]``.

Rules: no tube older than ``max_age_s`` when it reaches a lab (swab → lab arrival), and no tube
waits at its point longer than ``interval_s`` after it is ready (so every point with tubes is
visited at least that often). A handover at a point takes ``stop_s``, an unloading ``unload_s``.
Travel is the straight line × ``detour`` at ``speed_m_per_min``, rounded up to whole seconds.

Units: seconds of the day for times, metres for positions, tubes for loads (all integers
except positions and lab rates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def _ints(values: ArrayLike, name: str, n: int | None = None) -> IntArray:
    """A read-only int64 copy of ``values`` (length ``n`` when given)."""
    arr = np.array(values, dtype=np.int64, copy=True).reshape(-1)
    if n is not None and arr.shape != (n,):
        raise ValueError(f"{name} must have {n} values, got {arr.shape[0]}")
    arr.flags.writeable = False
    return arr


def _xy(values: ArrayLike, name: str) -> FloatArray:
    """A read-only (n, 2) float64 copy of planar coordinates."""
    arr = np.array(values, dtype=np.float64, copy=True).reshape(-1, 2)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: coordinates must be finite")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class TransportProblem:
    """Batches, labs, vehicles and the rules; see the module docstring for the model."""

    point_xy: FloatArray
    batch_point: IntArray
    batch_ready: IntArray
    batch_swab: IntArray
    batch_tubes: IntArray
    lab_xy: FloatArray
    lab_rate: FloatArray
    lab_open: IntArray
    lab_close: IntArray
    vehicle_xy: FloatArray
    vehicle_capacity: IntArray
    vehicle_from: IntArray
    vehicle_to: IntArray
    speed_m_per_min: float
    detour: float
    stop_s: int
    unload_s: int
    max_age_s: int
    interval_s: int

    @classmethod
    def build(
        cls,
        *,
        point_xy: ArrayLike,
        batch_point: ArrayLike,
        batch_ready: ArrayLike,
        batch_swab: ArrayLike,
        batch_tubes: ArrayLike,
        lab_xy: ArrayLike,
        lab_rate: ArrayLike,
        lab_open: ArrayLike,
        lab_close: ArrayLike,
        vehicle_xy: ArrayLike,
        vehicle_capacity: ArrayLike,
        vehicle_from: ArrayLike,
        vehicle_to: ArrayLike,
        speed_m_per_min: float,
        detour: float = 1.3,
        stop_s: int = 300,
        unload_s: int = 600,
        max_age_s: int = 240 * 60,
        interval_s: int = 120 * 60,
    ) -> TransportProblem:
        """Validated, read-only copies of the inputs (raises ``ValueError`` on bad data)."""
        points = _xy(point_xy, "point_xy")
        bp = _ints(batch_point, "batch_point")
        nb = bp.shape[0]
        labs = _xy(lab_xy, "lab_xy")
        nl = labs.shape[0]
        vehicles = _xy(vehicle_xy, "vehicle_xy")
        nv = vehicles.shape[0]
        rate = np.array(lab_rate, dtype=np.float64, copy=True).reshape(-1)
        if rate.shape != (nl,) or not (rate > 0).all() or not np.isfinite(rate).all():
            raise ValueError("lab_rate must be one positive finite value per lab")
        rate.flags.writeable = False
        problem = cls(
            point_xy=points,
            batch_point=bp,
            batch_ready=_ints(batch_ready, "batch_ready", nb),
            batch_swab=_ints(batch_swab, "batch_swab", nb),
            batch_tubes=_ints(batch_tubes, "batch_tubes", nb),
            lab_xy=labs,
            lab_rate=rate,
            lab_open=_ints(lab_open, "lab_open", nl),
            lab_close=_ints(lab_close, "lab_close", nl),
            vehicle_xy=vehicles,
            vehicle_capacity=_ints(vehicle_capacity, "vehicle_capacity", nv),
            vehicle_from=_ints(vehicle_from, "vehicle_from", nv),
            vehicle_to=_ints(vehicle_to, "vehicle_to", nv),
            speed_m_per_min=float(speed_m_per_min),
            detour=float(detour),
            stop_s=int(stop_s),
            unload_s=int(unload_s),
            max_age_s=int(max_age_s),
            interval_s=int(interval_s),
        )
        problem._validate()
        return problem

    def _validate(self) -> None:
        if self.batch_point.size and (
            self.batch_point.min() < 0 or self.batch_point.max() >= self.num_points
        ):
            raise ValueError("batch_point out of range")
        if (self.batch_tubes < 1).any():
            raise ValueError("every batch holds at least one tube")
        if (self.batch_swab > self.batch_ready).any():
            raise ValueError("a batch is ready before its oldest swab")
        if (self.lab_close <= self.lab_open).any():
            raise ValueError("a lab closes before it opens")
        if (self.vehicle_to <= self.vehicle_from).any():
            raise ValueError("a vehicle's hours end before they start")
        if (self.vehicle_capacity < 1).any():
            raise ValueError("a vehicle carries at least one tube")
        if not (self.speed_m_per_min > 0 and self.detour >= 1.0):
            raise ValueError("speed must be positive and detour at least 1")
        if min(self.stop_s, self.unload_s) < 0 or min(self.max_age_s, self.interval_s) <= 0:
            raise ValueError("handling times must be ≥ 0 and limits positive")

    @property
    def num_points(self) -> int:
        """Sampling points (some may have no batch)."""
        return int(self.point_xy.shape[0])

    @property
    def num_batches(self) -> int:
        """Tube batches."""
        return int(self.batch_point.shape[0])

    @property
    def num_labs(self) -> int:
        """Labs."""
        return int(self.lab_xy.shape[0])

    @property
    def num_vehicles(self) -> int:
        """Vehicles."""
        return int(self.vehicle_xy.shape[0])

    @property
    def tubes_total(self) -> int:
        """Tubes in all batches."""
        return int(self.batch_tubes.sum())

    def drive_s(self, a: FloatArray, b: FloatArray) -> IntArray:
        """Whole seconds to drive from every row of ``a`` to every row of ``b`` (matrix)."""
        a2 = np.asarray(a, dtype=np.float64).reshape(-1, 2)
        b2 = np.asarray(b, dtype=np.float64).reshape(-1, 2)
        metres = np.hypot(a2[:, None, 0] - b2[None, :, 0], a2[:, None, 1] - b2[None, :, 1])
        return np.ceil(metres * self.detour / self.speed_m_per_min * 60.0).astype(np.int64)

    def point_to_lab_s(self) -> IntArray:
        """Seconds from every point to every lab (points × labs)."""
        return self.drive_s(self.point_xy, self.lab_xy)
