"""The loaded scenario: a frozen header plus typed, validated tables."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np
import polars as pl
from numpy.typing import NDArray

from sampling.scenario.header import Header

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Scenario:
    """One campaign's input, validated. Frames follow ``sampling.scenario.tables``' schemas.

    ``home_visits`` is empty when the scenario has none; ``grids`` is ``None`` when the
    scenario has no grids table, ``labs`` and ``vehicles`` when it has no transport. What-ifs
    are new scenarios: ``scenario.replace(points=...)``.
    """

    root: Path
    header: Header
    buildings: pl.DataFrame
    points: pl.DataFrame
    teams: pl.DataFrame
    home_visits: pl.DataFrame
    grids: pl.DataFrame | None
    labs: pl.DataFrame | None = None  # tubes to the labs (issue 16): both or neither
    vehicles: pl.DataFrame | None = None

    def replace(self, **changes: object) -> Scenario:
        """A copy with some fields replaced (the original is untouched)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def origin(self) -> tuple[float, float]:
        """Reference (lat, lon) for the local planar projection: the buildings' mean."""
        if self.header.coordinates == "planar":
            return (0.0, 0.0)
        lat = cast(float, self.buildings["lat"].mean())
        lon = cast(float, self.buildings["lon"].mean())
        return (float(lat), float(lon))

    def xy(self, frame: pl.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Planar metres (east, north) for the rows of one of this scenario's tables.

        WGS-84 coordinates are projected equirectangularly around :attr:`origin`; within a
        district (tens of km) the distance error is far below a metre per kilometre.
        """
        if self.header.coordinates == "planar":
            return frame["x"].to_numpy().astype(np.float64), frame["y"].to_numpy().astype(
                np.float64
            )
        lat0, lon0 = self.origin
        return project(frame["lat"].to_numpy(), frame["lon"].to_numpy(), lat0, lon0)

    def latlon(self, frame: pl.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS-84 (lat, lon) for the rows of one of this scenario's tables.

        Planar scenarios have no real position; they are placed around (0°, 0°) so maps still
        draw true distances and shapes.
        """
        if self.header.coordinates == "planar":
            x, y = self.xy(frame)
            return unproject(x, y, 0.0, 0.0)
        return frame["lat"].to_numpy().astype(np.float64), frame["lon"].to_numpy().astype(
            np.float64
        )

    @property
    def residents(self) -> int:
        """Residents in all buildings."""
        return int(self.buildings["residents"].sum())


def project(
    lat: NDArray[np.float64], lon: NDArray[np.float64], lat0: float, lon0: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Equirectangular projection of WGS-84 degrees to metres around (lat0, lon0)."""
    k = np.pi / 180.0 * EARTH_RADIUS_M
    x = (np.asarray(lon, dtype=np.float64) - lon0) * k * np.cos(np.radians(lat0))
    y = (np.asarray(lat, dtype=np.float64) - lat0) * k
    return x, y


def unproject(
    x: NDArray[np.float64], y: NDArray[np.float64], lat0: float, lon0: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`project`: metres around (lat0, lon0) back to (lat, lon)."""
    k = np.pi / 180.0 * EARTH_RADIUS_M
    lat = np.asarray(y, dtype=np.float64) / k + lat0
    lon = np.asarray(x, dtype=np.float64) / (k * np.cos(np.radians(lat0))) + lon0
    return lat, lon
