"""A light base layer (streets and building outlines) read from the scenario's OSM extract.

The map must open with no network, so instead of tiles it can carry the district's own
streets and building footprints, read offline with pyosmium from the OpenStreetMap extract a
street-distance scenario already has (``osm_extract``). To stay small inside the one HTML file:

* only ways inside the map's bounds (plus a margin) are kept; a street is trimmed to the
  vertices inside and one beyond (so it still leaves the frame), a building outline with a
  corner inside is kept whole;
* geometry is simplified with shapely (GEOS Douglas–Peucker within ``tolerance_m``, all ways
  in one vectorised call), so a straight street is two vertices; building outlines keep their
  topology (a simplified outline never crosses itself);
* coordinates become integers of 1e-5 degree (about 1.1 m) and every vertex after the first
  is stored as the difference to the one before, which makes most numbers one or two digits;
* **size budget**: building outlines may fill at most :data:`MAX_OUTLINE_VALUES` integers
  (about 6 MB of the page, at about 3.8 bytes an integer): when a map has more, the smallest
  outlines (by area) are left out first (:func:`limit_outlines`; ``BaseMap.outlines_dropped``
  counts them). Streets are never dropped. Central Nanjing (1,277 outlines per 60,000
  residents) needs about 390,000 integers at 1.3 million residents, so nothing is dropped
  there; a district of small houses reaches the budget at about 110,000 outlines.

Each way is one flat list ``[kind, lat0, lon0, dlat1, dlon1, ...]`` (integers); ``kind``
indexes :data:`KINDS`. ``maps/assets/natplan/natplan.js`` (``make.base``) decodes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely

__all__ = [
    "KINDS",
    "MAX_OUTLINE_VALUES",
    "OUTLINE",
    "SCALE",
    "BaseMap",
    "BaseMapError",
    "limit_outlines",
    "outline_areas_m2",
    "read_basemap",
    "road_kind",
    "simplify_lines",
]

SCALE = 100_000
"""Coordinate units per degree (1e-5 degree ≈ 1.1 m)."""

KINDS = ("road_major", "road_minor", "footway", "outline")
"""Kinds of base geometry, by index; also the ``[map]`` label keys of their legend rows."""
OUTLINE = KINDS.index("outline")
"""The kind of a building outline."""
MAX_OUTLINE_VALUES = 1_500_000
"""Most integers the building outlines of one map may take (the size budget above)."""

_MAJOR = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
    }
)
_MINOR = frozenset(
    {"tertiary", "tertiary_link", "residential", "unclassified", "living_street", "service", "road"}
)
_FOOT = frozenset(
    {"footway", "path", "pedestrian", "steps", "cycleway", "track", "bridleway", "corridor"}
)
_M_PER_DEG = 111_320.0


class BaseMapError(ValueError):
    """The OSM extract cannot be read."""


@dataclass(frozen=True)
class BaseMap:
    """Encoded base geometry (see the module doc), what was kept and how many outlines the
    size budget left out."""

    ways: tuple[tuple[int, ...], ...]
    streets: int
    outlines: int
    outlines_dropped: int = 0

    @property
    def empty(self) -> bool:
        """True when the extract had nothing inside the bounds."""
        return not self.ways


def road_kind(highway: str | None) -> int | None:
    """Index in :data:`KINDS` of a ``highway`` value, or None when it is not drawn."""
    if highway in _MAJOR:
        return 0
    if highway in _MINOR:
        return 1
    if highway in _FOOT:
        return 2
    return None


def simplify_lines(
    lines: Sequence[npt.NDArray[np.float64]], tolerance: float, *, preserve_topology: bool = False
) -> list[npt.NDArray[np.float64]]:
    """Each polyline of ``lines`` (n × 2, n ≥ 2, metres) simplified by shapely within
    ``tolerance``: a subset of its vertices, ends kept, every dropped vertex within
    ``tolerance`` of the result. One vectorised GEOS call for all lines; with
    ``preserve_topology`` a line (a building outline) is kept from crossing itself."""
    if not lines:
        return []
    sizes = np.fromiter((len(line) for line in lines), dtype=np.int64, count=len(lines))
    geoms = shapely.linestrings(np.vstack(lines), indices=np.repeat(np.arange(len(lines)), sizes))
    simple = shapely.simplify(geoms, tolerance, preserve_topology=preserve_topology)
    coords, index = shapely.get_coordinates(simple, return_index=True)
    cuts = np.searchsorted(index, np.arange(1, len(lines)))
    return list(np.split(coords, cuts))


def _encode(kind: int, lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]) -> list[int]:
    """``[kind, lat0, lon0, dlat, dlon, ...]``; empty when the way collapses to one vertex."""
    q = np.column_stack((np.round(lat * SCALE), np.round(lon * SCALE))).astype(np.int64)
    q = q[np.r_[True, np.any(np.diff(q, axis=0) != 0, axis=1)]]
    if len(q) < 2:
        return []
    deltas = np.vstack((q[:1], np.diff(q, axis=0)))
    return [kind, *deltas.ravel().tolist()]


def _trim(inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Vertices inside, plus each one next to an inside vertex (lines run out of the frame)."""
    grown = inside.copy()
    grown[1:] |= inside[:-1]
    grown[:-1] |= inside[1:]
    return grown


def read_basemap(
    path: Path,
    bounds: tuple[float, float, float, float],
    *,
    tolerance_m: float = 2.0,
    margin_m: float = 300.0,
    max_outline_values: int = MAX_OUTLINE_VALUES,
) -> BaseMap:
    """Streets and building outlines of the extract at ``path`` inside ``bounds``.

    ``bounds`` is ``(south, west, north, east)`` in degrees, grown by ``margin_m``; outlines
    beyond ``max_outline_values`` integers are left out, smallest first
    (:func:`limit_outlines`). Raises :class:`BaseMapError` if the file is missing or pyosmium
    cannot read it.
    """
    import osmium
    import osmium.filter
    import osmium.osm

    path = Path(path)
    if not path.is_file():
        raise BaseMapError(f"OSM extract not found: {path}")
    south, west, north, east = bounds
    lat0 = (south + north) / 2
    kx = _M_PER_DEG * max(0.1, math.cos(math.radians(lat0)))
    dlat, dlon = margin_m / _M_PER_DEG, margin_m / kx
    south, north, west, east = south - dlat, north + dlat, west - dlon, east + dlon
    parts: list[tuple[int, int, npt.NDArray[np.float64]]] = []  # kind, way id, metres
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway", "building"))
    )
    try:
        for way in processor:
            if not isinstance(way, osmium.osm.Way):
                continue
            highway = way.tags.get("highway")
            kind = road_kind(highway) if highway is not None else None
            if kind is None and "building" in way.tags:
                kind = OUTLINE
            if kind is None:
                continue
            located = [(n.lat, n.lon) for n in way.nodes if n.location.valid()]
            if len(located) < 2:
                continue
            ll = np.asarray(located, dtype=np.float64)
            inside = (
                (ll[:, 0] >= south) & (ll[:, 0] <= north) & (ll[:, 1] >= west) & (ll[:, 1] <= east)
            )
            if not inside.any():
                continue
            kept = np.flatnonzero(_trim(inside) if kind != OUTLINE else np.ones_like(inside))
            for run in np.split(kept, np.flatnonzero(np.diff(kept) > 1) + 1):
                part = ll[run]  # a way leaving and re-entering the frame becomes two parts
                xy = np.column_stack(((part[:, 1] - west) * kx, (part[:, 0] - south) * _M_PER_DEG))
                parts.append((kind, way.id, xy))
    except RuntimeError as exc:
        raise BaseMapError(f"{path}: cannot read the OSM extract ({exc})") from None
    found: list[tuple[int, int, list[int]]] = []
    for outlines_only in (False, True):
        chosen = [p for p in parts if (p[0] == OUTLINE) == outlines_only]
        simple = simplify_lines(
            [p[2] for p in chosen], tolerance_m, preserve_topology=outlines_only
        )
        for (kind, way_id, _), xy in zip(chosen, simple, strict=True):
            lat, lon = xy[:, 1] / _M_PER_DEG + south, xy[:, 0] / kx + west
            encoded = _encode(kind, lat, lon)
            if encoded:
                found.append((-kind, way_id, encoded))  # outlines first, main roads on top
    found.sort(key=lambda w: (w[0], w[1]))
    outlines = sum(1 for w in found if w[0] == -OUTLINE)
    base = BaseMap(tuple(tuple(w[2]) for w in found), len(found) - outlines, outlines)
    return limit_outlines(base, max_outline_values)


def outline_areas_m2(ways: Sequence[Sequence[int]]) -> npt.NDArray[np.float64]:
    """Area in m² of each encoded way taken as a ring (shoelace in metres around its first
    vertex; an open way is closed by its last edge), one vectorised pass over all vertices."""
    if not ways:
        return np.zeros(0, dtype=np.float64)
    sizes = np.fromiter(((len(w) - 1) // 2 for w in ways), dtype=np.int64, count=len(ways))
    deltas = np.fromiter(
        (v for w in ways for v in w[1:]), dtype=np.int64, count=int(2 * sizes.sum())
    ).reshape(-1, 2)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    first = np.repeat(starts, sizes)
    deltas[starts] = 0  # the first vertex is absolute: measure from it
    rel = np.cumsum(deltas, axis=0)
    rel -= rel[first]  # running sums restart at each way
    lat0 = np.repeat(np.asarray([w[1] for w in ways], dtype=np.float64) / SCALE, sizes)
    x = rel[:, 1] / SCALE * _M_PER_DEG * np.cos(np.radians(lat0))
    y = rel[:, 0] / SCALE * _M_PER_DEG
    nxt = np.arange(len(x)) + 1
    nxt[starts + sizes - 1] = starts  # each ring closes on its first vertex
    cross = x * y[nxt] - x[nxt] * y
    areas: npt.NDArray[np.float64] = 0.5 * np.abs(np.add.reduceat(cross, starts))
    return areas


def limit_outlines(base: BaseMap, max_values: int = MAX_OUTLINE_VALUES) -> BaseMap:
    """``base`` with its building outlines within ``max_values`` integers: the largest
    outlines (by :func:`outline_areas_m2`; ties in order) are kept until the next would pass
    the budget, the smaller ones are left out and counted. Streets and order are kept."""
    index = [i for i, w in enumerate(base.ways) if w[0] == OUTLINE]
    if sum(len(base.ways[i]) for i in index) <= max_values:
        return base
    areas = outline_areas_m2([base.ways[i] for i in index])
    used, drop = 0, set[int]()
    for rank in np.argsort(-areas, kind="stable").tolist():
        size = len(base.ways[index[rank]])
        if drop or used + size > max_values:
            drop.add(index[rank])
        else:
            used += size
    ways = tuple(w for i, w in enumerate(base.ways) if i not in drop)
    return BaseMap(ways, base.streets, base.outlines - len(drop), base.outlines_dropped + len(drop))
