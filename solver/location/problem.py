"""The assignment engine's input and output: :class:`LocationProblem` and :class:`LocationResult`.

Kept apart from the engine so that the preprocessing (:mod:`solver.location.model`) and the
engine both depend on these plain data types and not on each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from solver.location.bound import LagrangeResult

__all__ = ["LocationProblem", "LocationResult"]


def _frozen(a: NDArray[np.generic]) -> NDArray[np.generic]:
    b = np.array(a, copy=True)
    b.setflags(write=False)
    return b


@dataclass(frozen=True)
class LocationProblem:
    """Immutable capacitated single-source location instance (sparse arcs)."""

    demand: NDArray[np.int64]
    capacity: NDArray[np.int64]
    arc_client: NDArray[np.int32]
    arc_site: NDArray[np.int32]
    arc_cost: NDArray[np.float64]
    site_status: NDArray[np.int8]
    max_open: int | None = None
    exact_open: bool = False
    unserved_cost: NDArray[np.float64] | None = None
    unit_capacity: int | None = None
    max_units_total: int | None = None
    group: NDArray[np.int32] | None = None
    group_split_penalty: float = 0.0

    def __post_init__(self) -> None:
        """Coerce dtypes, freeze the arrays and validate shapes and values."""
        conv: list[tuple[str, type[np.generic]]] = [
            ("demand", np.int64),
            ("capacity", np.int64),
            ("arc_client", np.int32),
            ("arc_site", np.int32),
            ("arc_cost", np.float64),
            ("site_status", np.int8),
        ]
        for name, dt in conv:
            raw = np.asarray(getattr(self, name))
            if raw.ndim != 1:
                raise ValueError(f"{name} must be a 1-D array, got shape {raw.shape}")
            if dt is not np.float64 and raw.size and not np.all(np.isfinite(raw)):
                raise ValueError(f"{name} must be finite integers")
            if (
                dt is not np.float64
                and raw.size
                and np.issubdtype(raw.dtype, np.floating)
                and not np.all(raw == np.round(raw))
            ):
                raise ValueError(f"{name} must hold integers")
            object.__setattr__(self, name, _frozen(raw.astype(dt)))
        n, m, k = self.demand.shape[0], self.capacity.shape[0], self.arc_client.shape[0]
        if self.arc_site.shape[0] != k or self.arc_cost.shape[0] != k:
            raise ValueError("arc_client, arc_site and arc_cost must have the same length")
        if self.site_status.shape[0] != m:
            raise ValueError(f"site_status has length {self.site_status.shape[0]}, expected {m}")
        if np.any(self.demand < 0):
            raise ValueError("demand must be ≥ 0")
        if np.any(self.capacity < 0):
            raise ValueError("capacity must be ≥ 0")
        if k and (self.arc_client.min() < 0 or self.arc_client.max() >= n):
            raise ValueError(f"arc_client must lie in [0, {n})")
        if k and (self.arc_site.min() < 0 or self.arc_site.max() >= m):
            raise ValueError(f"arc_site must lie in [0, {m})")
        if k and not np.all(np.isfinite(self.arc_cost)):
            raise ValueError("arc_cost must be finite")
        if k and np.any(self.arc_cost < 0):
            raise ValueError("arc_cost must be ≥ 0")
        if not np.all(np.isin(self.site_status, (-1, 0, 1))):
            raise ValueError("site_status values must be -1 (closed), 0 (candidate), 1 (required)")
        if self.max_open is not None and int(self.max_open) < 0:
            raise ValueError("max_open must be ≥ 0")
        if self.exact_open and self.max_open is None:
            raise ValueError("exact_open needs max_open")
        if self.unserved_cost is not None:
            u = np.asarray(self.unserved_cost, dtype=np.float64)
            if u.shape != (n,):
                raise ValueError(f"unserved_cost must have shape ({n},)")
            if not np.all(np.isfinite(u)) or np.any(u < 0):
                raise ValueError("unserved_cost must be finite and ≥ 0")
            object.__setattr__(self, "unserved_cost", _frozen(u))
        if (self.unit_capacity is None) != (self.max_units_total is None) and (
            self.max_units_total is not None
        ):
            raise ValueError("max_units_total needs unit_capacity")
        if self.unit_capacity is not None and int(self.unit_capacity) <= 0:
            raise ValueError("unit_capacity must be > 0")
        if self.max_units_total is not None and int(self.max_units_total) < 0:
            raise ValueError("max_units_total must be ≥ 0")
        if self.group is not None:
            g = np.asarray(self.group)
            if g.shape != (n,):
                raise ValueError(f"group must have shape ({n},)")
            object.__setattr__(self, "group", _frozen(g.astype(np.int32)))
        if not math.isfinite(self.group_split_penalty) or self.group_split_penalty < 0:
            raise ValueError("group_split_penalty must be finite and ≥ 0")


@dataclass(frozen=True)
class LocationResult:
    """Plan, objective parts, bound and statistics of one :func:`solve` run.

    ``status`` is ``optimal`` (gap closed), ``feasible`` (a plan with a gap), ``infeasible``
    (proven: no plan satisfies the constraints; ``reason`` says which ones contradict each
    other) or ``no_plan_found`` (the search ended without a plan; nothing is proven). Without a
    plan, ``objective``, ``assignment_cost`` and ``gap`` are ``inf``.
    """

    site_of_client: NDArray[np.int32]
    open_sites: NDArray[np.bool_]
    units: NDArray[np.int64]
    load: NDArray[np.int64]
    objective: float
    assignment_cost: float
    lower_bound: float
    gap: float
    status: str
    stats: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    # the multipliers of the best Lagrangian bound the engine reached (None without one), so
    # a caller can resume its steps (the decomposition's last steps, after the final plan)
    multipliers: LagrangeResult | None = None
