"""Buildings, open spaces and non-residential sites from an OpenStreetMap extract.

Areas (closed ways and multipolygons) come from pyosmium's area assembly; their footprint
area and centroid are computed in metres (each polygon projected around its own first vertex,
so the result does not depend on any global origin). Tag rules, following
``shared/geo/README.md``:

* **Residential building**: ``building`` is residential, apartments, house, detached,
  semidetached_house, terrace, dormitory, bungalow, farm or ``yes``. ``building=yes`` — most
  buildings in Chinese OSM data — counts as residential unless it also carries a
  non-residential key (amenity, shop, office, tourism, craft, healthcare, leisure, historic,
  man_made, …) or its centroid lies inside a non-residential *site* (a school, hospital or
  university grounds, a park, commercial/retail/industrial/military land…); explicit
  residential values are kept everywhere (staff housing, dormitories). Every other value
  (office, commercial, retail, industrial, school, university, hospital, church, hotel,
  garage, …) is not imported, nor are footprints under 30 m².
* **Open space** (a candidate sampling point): schools and kindergartens, universities and
  colleges, playgrounds, squares (``place=square``, pedestrian areas), parks and gardens,
  pitches, tracks, stadiums and sports centres, surface parking, marketplaces, community
  centres, village greens and recreation grounds; as areas (tables from the area) or as
  tagged nodes (two tables). Areas that are buildings are skipped (except community centres).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import osmium.osm
from numpy.typing import NDArray

from sampling.scenario.model import project, unproject

FloatArray = NDArray[np.float64]

RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
    }
)
"""``building`` values imported wherever they stand (``yes`` is imported with conditions)."""

NON_RESIDENTIAL_KEYS: tuple[str, ...] = (
    "amenity",
    "shop",
    "office",
    "tourism",
    "craft",
    "healthcare",
    "leisure",
    "historic",
    "man_made",
    "public_transport",
    "railway",
    "aeroway",
    "military",
    "power",
    "emergency",
    "government",
)
"""A ``building=yes`` carrying any of these keys is not a home."""

SITE_TAGS: dict[str, frozenset[str]] = {
    "amenity": frozenset(
        {
            "school",
            "kindergarten",
            "college",
            "university",
            "hospital",
            "clinic",
            "place_of_worship",
            "police",
            "courthouse",
            "townhall",
            "prison",
            "fire_station",
            "marketplace",
        }
    ),
    "landuse": frozenset(
        {"commercial", "retail", "industrial", "military", "railway", "religious", "education"}
    ),
    "leisure": frozenset({"park", "stadium", "sports_centre", "garden"}),
    "tourism": frozenset({"museum", "attraction", "zoo", "theme_park"}),
    "historic": frozenset({"castle", "monument", "temple", "palace"}),
}
"""Areas whose ``building=yes`` buildings are not homes (campuses, parks, commercial land…)."""

# (key, values, kind); the first match wins.
OPEN_SPACE_RULES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("amenity", frozenset({"school", "kindergarten"}), "school"),
    ("amenity", frozenset({"college", "university"}), "campus"),
    ("leisure", frozenset({"playground"}), "playground"),
    ("place", frozenset({"square"}), "square"),
    ("highway", frozenset({"pedestrian"}), "square"),
    ("amenity", frozenset({"marketplace"}), "square"),
    ("leisure", frozenset({"park", "garden"}), "park"),
    ("leisure", frozenset({"pitch", "track", "stadium", "sports_centre"}), "pitch"),
    ("amenity", frozenset({"parking"}), "parking"),
    ("amenity", frozenset({"community_centre"}), "community_centre"),
    ("landuse", frozenset({"village_green", "recreation_ground"}), "green"),
    ("leisure", frozenset({"common"}), "green"),
)
"""Which tagged areas and nodes become candidate sampling points, and their ``kind``."""

FEATURE_KEYS: tuple[str, ...] = ("building", "amenity", "leisure", "place", "highway", "landuse")
"""Keys worth streaming for features (everything above is decided by these or tags beside)."""

MIN_FOOTPRINT_M2 = 30.0
DEFAULT_LEVELS = 6.0
METRES_PER_LEVEL = 3.0
_NUMBER = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)")
_NOT_SURFACE_PARKING = frozenset({"underground", "multi-storey", "rooftop", "garage_boxes"})


@dataclass(frozen=True, eq=False)
class Footprint:
    """One building polygon: OSM reference, footprint m², centroid, levels, residential class,
    its ``building`` value and its outer rings (``(n, 2)`` (lat, lon) arrays, closed).

    ``status`` is ``"residential"`` (explicit value), ``"yes"`` (generic, site check pending)
    or the reason it is not a home (``"tag"`` or ``"small"``). The rings are kept for every
    building, home or not: they become the map's building outlines
    (:mod:`sampling.osm.outlines`).
    """

    ref: str
    area_m2: float
    lat: float
    lon: float
    levels: float
    levels_from: str
    status: str
    name: str | None
    building: str = "yes"
    outer: tuple[FloatArray, ...] = ()


@dataclass(frozen=True)
class OpenSpace:
    """A candidate sampling site: OSM reference, kind, name, centroid and area (0 for nodes)."""

    ref: str
    kind: str
    name: str | None
    lat: float
    lon: float
    area_m2: float


@dataclass
class Features:
    """Everything the importer needs besides streets, collected from one pass over areas."""

    buildings: list[Footprint] = field(default_factory=list)
    open_spaces: list[OpenSpace] = field(default_factory=list)
    sites: list[list[FloatArray]] = field(default_factory=list)
    """Non-residential site polygons: each a list of rings, ``(n, 2)`` arrays of (lat, lon)."""

    def area(self, obj: osmium.osm.Area) -> None:
        """Take one assembled area (building, open space, site or nothing)."""
        tags = {tag.k: tag.v for tag in obj.tags}
        rings = _rings(obj)
        if not rings:
            return
        ref = f"{'w' if obj.from_way() else 'r'}{obj.orig_id()}"
        if "building" in tags and tags["building"] != "no":
            self._building(ref, tags, rings)
        if _is_site(tags):
            self.sites.append([r for r, _ in rings])
        kind = open_space_kind(tags)
        if kind is not None and ("building" not in tags or kind == "community_centre"):
            area, lat, lon = polygon_area_centroid(rings)
            self.open_spaces.append(OpenSpace(ref, kind, tags.get("name"), lat, lon, area))

    def node(self, obj: osmium.osm.Node) -> None:
        """Take one tagged node (an open space mapped as a point)."""
        tags = {tag.k: tag.v for tag in obj.tags}
        kind = open_space_kind(tags)
        if kind is not None and obj.location.valid():
            self.open_spaces.append(
                OpenSpace(f"n{obj.id}", kind, tags.get("name"), obj.lat, obj.lon, 0.0)
            )

    def _building(
        self, ref: str, tags: Mapping[str, str], rings: list[tuple[FloatArray, bool]]
    ) -> None:
        area, lat, lon = polygon_area_centroid(rings)
        levels, source = building_levels(tags)
        value = tags["building"]
        if value in RESIDENTIAL_BUILDINGS:
            status = "residential"
        elif value == "yes" and not any(k in tags for k in NON_RESIDENTIAL_KEYS):
            status = "yes"
        else:
            status = "tag"
        if status != "tag" and area < MIN_FOOTPRINT_M2:
            status = "small"
        name = tags.get("name") or _address(tags)
        outer = tuple(r for r, is_outer in rings if is_outer)
        self.buildings.append(
            Footprint(ref, area, lat, lon, levels, source, status, name, value, outer)
        )


def open_space_kind(tags: Mapping[str, str]) -> str | None:
    """The sampling-point ``kind`` of a tagged object, or None (rules above)."""
    for key, values, kind in OPEN_SPACE_RULES:
        if tags.get(key) in values:
            if kind == "parking" and tags.get("parking") in _NOT_SURFACE_PARKING:
                return None
            if key == "highway" and tags.get("area") != "yes":
                return None
            return kind
    return None


def _is_site(tags: Mapping[str, str]) -> bool:
    return any(tags.get(key) in values for key, values in SITE_TAGS.items())


def _address(tags: Mapping[str, str]) -> str | None:
    street, number = tags.get("addr:street"), tags.get("addr:housenumber")
    if street and number:
        return f"{street}{number}"
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    match = _NUMBER.match(text)
    return float(match.group(1).replace(",", ".")) if match else None


def building_levels(tags: Mapping[str, str]) -> tuple[float, str]:
    """Above-ground levels and where they came from: ``building:levels``, height ÷ 3 m, or 6."""
    levels = _number(tags.get("building:levels"))
    if levels is not None and 1 <= levels <= 150:
        return levels, "levels"
    height = _number(tags.get("height"))
    if height is not None and 2 <= height <= 600:
        return max(1.0, round(height / METRES_PER_LEVEL)), "height"
    return DEFAULT_LEVELS, "default"


def _rings(obj: osmium.osm.Area) -> list[tuple[FloatArray, bool]]:
    """All rings as ``(n, 2)`` (lat, lon) arrays with ``True`` for outer rings."""
    rings: list[tuple[FloatArray, bool]] = []
    for outer in obj.outer_rings():
        rings.append((np.asarray([(n.lat, n.lon) for n in outer], dtype=np.float64), True))
        rings.extend(
            (np.asarray([(n.lat, n.lon) for n in inner], dtype=np.float64), False)
            for inner in obj.inner_rings(outer)
        )
    return [(r, outer) for r, outer in rings if len(r) >= 3]


def polygon_area_centroid(rings: list[tuple[FloatArray, bool]]) -> tuple[float, float, float]:
    """Area in m² (outer minus inner rings) and area centroid (lat, lon) of a polygon.

    Each polygon is projected around its first vertex, so a district-wide origin never
    distorts a footprint. Degenerate polygons fall back to the vertex mean.
    """
    lat0, lon0 = float(rings[0][0][0, 0]), float(rings[0][0][0, 1])
    total = cx = cy = 0.0
    for ring, outer in rings:
        x, y = project(ring[:, 0], ring[:, 1], lat0, lon0)
        x2, y2 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y2 - x2 * y
        signed = 0.5 * float(cross.sum())
        if signed == 0.0:
            continue
        sign = 1.0 if outer else -1.0
        area = sign * abs(signed)
        cx += area * float(((x + x2) * cross).sum()) / (6.0 * signed)
        cy += area * float(((y + y2) * cross).sum()) / (6.0 * signed)
        total += area
    if total <= 0.0:
        return 0.0, float(rings[0][0][:, 0].mean()), float(rings[0][0][:, 1].mean())
    lat, lon = unproject(np.asarray([cx / total]), np.asarray([cy / total]), lat0, lon0)
    return total, float(lat[0]), float(lon[0])


def inside_any(
    lat: FloatArray, lon: FloatArray, polygons: list[list[FloatArray]], lat0: float, lon0: float
) -> NDArray[np.bool_]:
    """Whether each (lat, lon) lies inside any polygon (even–odd rule over all its rings).

    Vectorised ray casting per polygon over the points inside its bounding box.
    """
    x, y = project(lat, lon, lat0, lon0)
    inside = np.zeros(len(x), dtype=bool)
    for rings in polygons:
        stacked = np.concatenate(rings)
        sx, sy = project(stacked[:, 0], stacked[:, 1], lat0, lon0)
        box = (x >= sx.min()) & (x <= sx.max()) & (y >= sy.min()) & (y <= sy.max()) & ~inside
        candidates = np.flatnonzero(box)
        if len(candidates) == 0:
            continue
        px, py = x[candidates], y[candidates]
        odd = np.zeros(len(candidates), dtype=bool)
        for ring in rings:
            rx, ry = project(ring[:, 0], ring[:, 1], lat0, lon0)
            ax, ay = rx[:, None], ry[:, None]
            bx, by = np.roll(rx, -1)[:, None], np.roll(ry, -1)[:, None]
            crosses = (ay > py) != (by > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                at = ax + (py - ay) * (bx - ax) / (by - ay)
            odd ^= (crosses & (px < at)).sum(axis=0) % 2 == 1
        inside[candidates[odd]] = True
    return inside
