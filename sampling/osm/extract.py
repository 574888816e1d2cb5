"""Reading OpenStreetMap extracts (``.osm``, ``.osm.bz2``, ``.osm.pbf``) into a walking graph.

Offline only: files are read with pyosmium, nothing is ever fetched (no Overpass, no web
service). The result is plain arrays (:class:`OsmStreets`), projected into a
:class:`solver.streets.StreetGraph` for street distances. :func:`write_street_file` writes the
derived extract an imported scenario carries: the walkable ways and the building outlines.

**Which ways are walkable.** A way counts when its ``highway`` value is in
:data:`WALKABLE_HIGHWAYS` (footway, path, pedestrian, steps, living_street, residential,
service, unclassified, track, cycleway, primary … tertiary and their links, trunk and
trunk_link) and none of these holds:

* ``foot`` is ``no``, ``private`` or ``use_sidepath`` (walkers must use a separately mapped
  sidewalk);
* ``access`` is ``no`` or ``private`` and ``foot`` does not say ``yes``/``designated``/
  ``permissive``;
* ``motorroad=yes`` (Chinese elevated expressways are often ``trunk`` + ``motorroad``),
  ``area=yes`` on anything but a pedestrian area, or ``indoor=yes``.

Everything else is excluded: motorway and motorway_link, construction, proposed, abandoned,
platform, raceway, bus_guideway, busway. Surface trunk roads are walkable (in Chinese cities
they have sidewalks) unless tagged otherwise.

**Graph.** Every pair of consecutive way nodes with known locations is an edge whose length is
the haversine distance; ways are walked both ways (undirected); parallel edges collapse to the
shortest; self-loops are dropped; only the largest connected component is kept (a clipped
extract leaves fragments at its border that would strand a building). Node ids are the OSM
ids, sorted, so the same file always gives the same arrays.
"""

from __future__ import annotations

import bz2
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import osmium
import osmium.filter
import osmium.osm
from numpy.typing import NDArray

from sampling.osm.outlines import FIXED, Outline
from sampling.scenario.model import EARTH_RADIUS_M, Scenario, project
from solver.streets import StreetGraph, collapse_edges, largest_component

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

EXTRACT_SUFFIXES: tuple[str, ...] = (".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".osm.gz")
"""File names pyosmium reads (format detected from the suffix)."""

WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "footway",
        "path",
        "pedestrian",
        "steps",
        "corridor",
        "living_street",
        "residential",
        "service",
        "unclassified",
        "road",
        "track",
        "cycleway",
        "bridleway",
        "tertiary",
        "tertiary_link",
        "secondary",
        "secondary_link",
        "primary",
        "primary_link",
        "trunk",
        "trunk_link",
    }
)
"""``highway`` values a resident may walk along (motorways, construction etc. are not)."""

_FOOT_NO = frozenset({"no", "private", "use_sidepath"})
_FOOT_YES = frozenset({"yes", "designated", "permissive"})
_ACCESS_NO = frozenset({"no", "private"})
STREET_TAGS: tuple[str, ...] = (
    "highway",
    "name",
    "foot",
    "access",
    "motorroad",
    "area",
    "indoor",
)
"""Tags kept on the ways of a derived street file (what :func:`is_walkable` reads, and names)."""

ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL 1.0"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 does not allow."""


class OsmError(ValueError):
    """An extract that is missing, unreadable, empty or has no walkable streets."""


def is_walkable(tags: Mapping[str, str]) -> bool:
    """Whether a way with ``tags`` is part of the walking graph (rule in the module doc)."""
    highway = tags.get("highway")
    if highway not in WALKABLE_HIGHWAYS:
        return False
    foot = tags.get("foot", "")
    if foot in _FOOT_NO:
        return False
    if tags.get("access", "") in _ACCESS_NO and foot not in _FOOT_YES:
        return False
    if tags.get("motorroad") == "yes" or tags.get("indoor") == "yes":
        return False
    return not (tags.get("area") == "yes" and highway != "pedestrian")


@dataclass(frozen=True)
class StreetWay:
    """One walkable way: its id, kept tags and all its node refs (some may lack a location)."""

    way_id: int
    tags: tuple[tuple[str, str], ...]
    refs: tuple[int, ...]


@dataclass(frozen=True)
class OsmStreets:
    """A walkable street graph in WGS-84: nodes (OSM id, lat, lon) and undirected edges.

    ``u``/``v`` index the node arrays (``u < v``); ``length_m`` is the haversine length.
    ``ways`` are the walkable ways the graph came from (for writing a derived street file);
    ``fragment_nodes`` counts nodes dropped outside the largest connected component.
    """

    node_id: IntArray
    lat: FloatArray
    lon: FloatArray
    u: IntArray
    v: IntArray
    length_m: FloatArray
    ways: tuple[StreetWay, ...]
    fragment_nodes: int

    def graph(self, lat0: float, lon0: float) -> StreetGraph:
        """The graph in planar metres around (lat0, lon0), the scenario's projection."""
        x, y = project(self.lat, self.lon, lat0, lon0)
        return StreetGraph(x, y, self.u, self.v, self.length_m)


class StreetCollector:
    """Collects walkable ways while an extract streams past (node locations attached)."""

    def __init__(self) -> None:
        self.ways: list[StreetWay] = []
        self.location: dict[int, tuple[int, int]] = {}  # OSM node id → fixed-point (x, y)
        self.edge_a: list[int] = []
        self.edge_b: list[int] = []

    def way(self, way: osmium.osm.Way) -> None:
        tags = {tag.k: tag.v for tag in way.tags}
        if not is_walkable(tags):
            return
        refs: list[int] = []
        previous: int | None = None
        for node in way.nodes:
            refs.append(node.ref)
            if not node.location.valid():  # outside a clipped extract: the way breaks here
                previous = None
                continue
            self.location[node.ref] = (node.x, node.y)
            if previous is not None:
                self.edge_a.append(previous)
                self.edge_b.append(node.ref)
            previous = node.ref
        kept = tuple((k, tags[k]) for k in STREET_TAGS if k in tags)
        self.ways.append(StreetWay(way.id, kept, tuple(refs)))

    def result(self, source: str) -> OsmStreets:
        """The largest connected walking graph; raises OsmError when there is none."""
        if not self.edge_a:
            raise OsmError(
                f"{source}: no walkable streets (no way tagged highway=footway, residential, …"
                " with located nodes)"
            )
        ids = np.fromiter(sorted(self.location), dtype=np.int64, count=len(self.location))
        fixed = np.asarray([self.location[i] for i in ids.tolist()], dtype=np.int64)
        lon, lat = fixed[:, 0] / 1e7, fixed[:, 1] / 1e7
        a = np.searchsorted(ids, np.asarray(self.edge_a, dtype=np.int64))
        b = np.searchsorted(ids, np.asarray(self.edge_b, dtype=np.int64))
        u, v, length = collapse_edges(a, b, haversine_m(lat[a], lon[a], lat[b], lon[b]))
        if len(u) == 0:
            raise OsmError(f"{source}: no walkable streets (ways have no usable segments)")
        keep = largest_component(len(ids), u, v)
        new_index = np.cumsum(keep) - 1
        edge_keep = keep[u]  # both ends of an edge share a component
        kept_ids = set(ids[keep].tolist())
        ways = tuple(w for w in self.ways if not kept_ids.isdisjoint(w.refs))
        return OsmStreets(
            node_id=ids[keep],
            lat=lat[keep],
            lon=lon[keep],
            u=new_index[u[edge_keep]].astype(np.int64),
            v=new_index[v[edge_keep]].astype(np.int64),
            length_m=length[edge_keep],
            ways=ways,
            fragment_nodes=int((~keep).sum()),
        )


def scenario_streets(scenario: Scenario) -> StreetGraph:
    """The street graph of a ``distance = "street"`` scenario, in its planar projection.

    Reads ``header.osm_extract`` relative to the scenario folder; OsmError if it is not set
    or cannot be read.
    """
    relative = scenario.header.osm_extract
    if not relative:
        raise OsmError('the scenario has no osm_extract (needed for distance = "street")')
    return read_streets(scenario.root / relative).graph(*scenario.origin)


def haversine_m(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance in metres (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    out: FloatArray = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    return out


def check_extract(path: Path) -> Path:
    """``path`` if it names an existing OSM extract file; OsmError otherwise."""
    path = Path(path)
    if not path.exists():
        raise OsmError(f"OSM extract not found: {path}")
    if not path.is_file():
        raise OsmError(f"OSM extract is not a file: {path}")
    if not path.name.endswith(EXTRACT_SUFFIXES):
        raise OsmError(f"{path}: not an OSM extract (expected {', '.join(EXTRACT_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise OsmError(f"{path}: the OSM extract is empty (0 bytes)")
    return path


def scan(
    path: Path, *, keys: Iterable[str], areas: bool
) -> Iterator[osmium.osm.Node | osmium.osm.Way | osmium.osm.Area]:
    """Stream the objects of an extract that carry one of ``keys``, with node locations.

    With ``areas`` closed ways and multipolygons also come as :class:`osmium.osm.Area`
    (pyosmium reads the file twice for that). pyosmium's errors become :class:`OsmError`.
    """
    path = check_extract(path)
    processor = osmium.FileProcessor(str(path)).with_locations()
    if areas:
        processor = processor.with_areas()
    processor = processor.with_filter(osmium.filter.KeyFilter(*keys))
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Node | osmium.osm.Way | osmium.osm.Area):
                yield obj
    except RuntimeError as exc:
        raise OsmError(f"{path}: cannot read the OSM extract ({exc})") from None


def read_streets(path: Path | str) -> OsmStreets:
    """The walking graph of an OSM extract (rule and cleaning in the module doc)."""
    collector = StreetCollector()
    for obj in scan(Path(path), keys=("highway",), areas=False):
        if isinstance(obj, osmium.osm.Way):
            collector.way(obj)
    return collector.result(str(path))


def xml_attr(value: str) -> str:
    """``value`` as a quoted, escaped XML attribute; characters XML 1.0 does not allow (control
    characters a ``.pbf`` may carry) are dropped, so the file always parses."""
    return quoteattr(_NOT_XML.sub("", value))


def street_file_text(streets: OsmStreets, outlines: Sequence[Outline] = ()) -> str:
    """OSM XML of the walkable ways and their nodes, plus building outlines (a derived, ODbL
    file: the scenario's ``osm_extract``, read for street distances and the map's base layer).

    Ways keep all their node refs; nodes outside the graph (clipped away, or in fragments) are
    left out, so reading it back with :func:`read_streets` gives the same graph (the ways break
    at the same places). ``outlines`` (:mod:`sampling.osm.outlines`) become closed ways tagged
    with their ``building`` value, with new ids above every node ref and way id of the streets
    (pyosmium's location index ignores negative ids, and an outline node must never give a
    street node a location): node ids count up over the distinct corners (in order of
    latitude, then longitude; corners shared by neighbouring buildings are one node), way ids
    in outline order. Coordinates are written with OSM's seven decimals, so the text (and the
    bz2 of it) is byte-identical per input.
    """
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<osm version="0.6" generator="natplan import-osm">',
        f"  <!-- {ATTRIBUTION}; walkable ways"
        + (" and building outlines" if outlines else "")
        + " only, derived by natplan -->",
    ]
    for node, lat, lon in zip(
        streets.node_id.tolist(), streets.lat.tolist(), streets.lon.tolist(), strict=True
    ):
        lines.append(f'  <node id="{node}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    first_node = max([0, *streets.node_id.tolist(), *(r for w in streets.ways for r in w.refs)])
    first_way = max([0, *(w.way_id for w in streets.ways)])
    outline_nodes, outline_ways = _outline_xml(outlines, first_node + 1, first_way + 1)
    lines.extend(outline_nodes)
    for way in sorted(streets.ways, key=lambda w: w.way_id):
        lines.append(f'  <way id="{way.way_id}">')
        lines.extend(f'    <nd ref="{n}"/>' for n in way.refs)
        lines.extend(f"    <tag k={xml_attr(k)} v={xml_attr(v)}/>" for k, v in way.tags)
        lines.append("  </way>")
    lines.extend(outline_ways)
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def _outline_xml(
    outlines: Sequence[Outline], first_node: int, first_way: int
) -> tuple[list[str], list[str]]:
    """OSM XML lines of the outlines' nodes and of their ways (ids as in
    :func:`street_file_text`)."""
    if not outlines:
        return [], []
    fixed = [
        np.column_stack((np.round(o.lat * FIXED), np.round(o.lon * FIXED))).astype(np.int64)
        for o in outlines
    ]
    corners, inverse = np.unique(np.vstack(fixed), axis=0, return_inverse=True)
    ids = inverse.ravel() + first_node
    nodes = [
        f'  <node id="{first_node + k}" lat="{a / FIXED:.7f}" lon="{b / FIXED:.7f}"/>'
        for k, (a, b) in enumerate(corners.tolist())
    ]
    ways: list[str] = []
    start = 0
    for k, (outline, points) in enumerate(zip(outlines, fixed, strict=True)):
        refs = ids[start : start + len(points)].tolist()
        start += len(points)
        ways.append(f'  <way id="{first_way + k}">')
        ways.extend(
            f'    <nd ref="{r}"/>' for i, r in enumerate(refs) if i == 0 or r != refs[i - 1]
        )
        ways.append(f'    <tag k="building" v={xml_attr(outline.building)}/>')
        ways.append("  </way>")
    return nodes, ways


def write_street_file(streets: OsmStreets, path: Path, outlines: Sequence[Outline] = ()) -> None:
    """Write :func:`street_file_text` to ``path`` (``.osm`` or bz2-compressed ``.osm.bz2``)."""
    data = street_file_text(streets, outlines).encode("utf-8")
    if path.name.endswith(".bz2"):
        data = bz2.compress(data, compresslevel=9)
    path.write_bytes(data)
