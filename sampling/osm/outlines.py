"""Building outlines kept by ``natplan import-osm`` for the map's base layer.

The coverage map draws the district's streets and building outlines from the scenario's OSM
extract (:mod:`maps.basemap`). An imported scenario's extract is the derived
``streets.osm.bz2``, so the importer writes the outlines into it beside the walkable ways:

* **which**: every building area of the source extract (``building`` other than ``no``),
  homes or not — schools, offices and sheds are part of the town the map shows; one outline
  per *outer* ring (courtyards are not cut out: the map fills each outline, so an inner ring
  would change nothing but the file size);
* **simplified** with shapely: GEOS's topology-preserving Douglas–Peucker within
  :data:`OUTLINE_TOLERANCE_M` (1 m, in metres around the district's centre), one vectorised
  call for all rings. The result is a subset of the ring's vertices that stays a valid ring
  (never crosses itself, never collapses); rings with fewer than three distinct corners are
  dropped;
* **written** by :func:`sampling.osm.extract.street_file_text` as closed ways tagged with
  the ``building`` value only (ids there): the names stay in ``buildings.csv``, and a name
  made up from an address must not pass for an OSM ``name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from sampling.osm.features import Footprint
from sampling.scenario.model import project, unproject

FloatArray = NDArray[np.float64]

OUTLINE_TOLERANCE_M = 1.0
"""Largest distance (m) of a dropped corner from the simplified outline."""
FIXED = 10_000_000
"""OSM's fixed-point coordinate units per degree (seven decimals)."""


@dataclass(frozen=True, eq=False)
class Outline:
    """One simplified building outline: its ``building`` value and closed ring
    (``lat[0] == lat[-1]``, ``lon[0] == lon[-1]``) in WGS-84 degrees."""

    building: str
    lat: FloatArray
    lon: FloatArray


def building_outlines(
    footprints: Sequence[Footprint], tolerance_m: float = OUTLINE_TOLERANCE_M
) -> tuple[Outline, ...]:
    """The outer rings of ``footprints`` simplified within ``tolerance_m`` (rule in the module
    doc), in footprint order and ring order."""
    owners: list[Footprint] = []
    rings: list[FloatArray] = []
    for footprint in footprints:
        for ring in footprint.outer:
            if len(ring) >= 4:  # a closed ring of at least three corners
                owners.append(footprint)
                rings.append(ring)
    if not rings:
        return ()
    stacked = np.vstack(rings)
    lat0, lon0 = float(stacked[:, 0].mean()), float(stacked[:, 1].mean())
    x, y = project(stacked[:, 0], stacked[:, 1], lat0, lon0)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    polygons = shapely.polygons(
        shapely.linearrings(
            np.column_stack((x, y)), indices=np.repeat(np.arange(len(rings)), sizes)
        )
    )
    simple = shapely.get_exterior_ring(
        shapely.simplify(polygons, tolerance_m, preserve_topology=True)
    )
    coords, index = shapely.get_coordinates(simple, return_index=True)
    lat, lon = unproject(coords[:, 0], coords[:, 1], lat0, lon0)
    cuts = np.searchsorted(index, np.arange(1, len(rings)))
    out: list[Outline] = []
    for owner, ring_lat, ring_lon in zip(
        owners, np.split(lat, cuts), np.split(lon, cuts), strict=True
    ):
        corners = {
            (round(a * FIXED), round(b * FIXED)) for a, b in zip(ring_lat, ring_lon, strict=True)
        }
        if len(corners) >= 3:
            out.append(Outline(owner.building, ring_lat, ring_lon))
    return tuple(out)
