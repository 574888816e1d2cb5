"""Street distances: exact against networkx, never shorter than the straight line, limited."""

from __future__ import annotations

import bz2
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.spatial import Delaunay

from sampling.osm.extract import (
    OsmError,
    haversine_m,
    is_walkable,
    read_streets,
    street_file_text,
    write_street_file,
)
from solver.streets import (
    Snap,
    StreetGraph,
    collapse_edges,
    snap_to_edges,
    street_pairs,
)

GEO = Path(__file__).resolve().parents[2] / "shared" / "geo"
OAKLAND = GEO / "osmnx_West-Oakland.osm.bz2"
NANJING = GEO / "nanjing_xinjiekou_osm_bbox.osm.bz2"
needs_geo = pytest.mark.skipif(not OAKLAND.exists(), reason="shared/geo extracts not beside repo")


def _reference(
    graph: StreetGraph,
    b_snap: Snap,
    p_snap: Snap,
    building_xy: NDArray[np.float64],
    point_xy: NDArray[np.float64],
) -> NDArray[np.float64]:
    """snap + shortest path + snap for every pair, via networkx on the split graph."""
    g = nx.Graph()
    for a, b, w in zip(graph.u.tolist(), graph.v.tolist(), graph.length_m.tolist(), strict=True):
        g.add_edge(a, b, weight=w)
    out = np.full((len(building_xy), len(point_xy)), np.inf)
    for j in range(len(point_xy)):
        pe, pt = int(p_snap.edge[j]), float(p_snap.t[j])
        h = g.copy()
        source = ("p", j)
        plen = float(graph.length_m[pe])
        h.add_edge(source, int(graph.u[pe]), weight=pt * plen)
        h.add_edge(source, int(graph.v[pe]), weight=(1 - pt) * plen)
        dist = nx.single_source_dijkstra_path_length(h, source, weight="weight")
        for i in range(len(building_xy)):
            be, bt = int(b_snap.edge[i]), float(b_snap.t[i])
            blen = float(graph.length_m[be])
            best = min(
                dist.get(int(graph.u[be]), np.inf) + bt * blen,
                dist.get(int(graph.v[be]), np.inf) + (1 - bt) * blen,
            )
            if be == pe:
                best = min(best, abs(bt - pt) * blen)
            out[i, j] = best + b_snap.distance_m[i] + p_snap.distance_m[j]
    return out


def _check_against_reference(
    graph: StreetGraph,
    building_xy: NDArray[np.float64],
    point_xy: NDArray[np.float64],
    limit: float,
) -> int:
    pairs, report = street_pairs(graph, building_xy, point_xy, walk_limit_m=limit)
    b_snap, p_snap = snap_to_edges(graph, building_xy), snap_to_edges(graph, point_xy)
    reference = _reference(graph, b_snap, p_snap, building_xy, point_xy)
    straight = np.hypot(
        building_xy[:, None, 0] - point_xy[None, :, 0],
        building_xy[:, None, 1] - point_xy[None, :, 1],
    )
    expected = np.maximum(reference, straight)
    want = np.argwhere(expected <= limit)
    got = {
        (int(b), int(p)): w
        for b, p, w in zip(pairs.building, pairs.point, pairs.walk_m, strict=True)
    }
    close = np.abs(expected - limit) < 1e-6  # at the limit itself either answer is fine
    assert {(int(b), int(p)) for b, p in want if not close[b, p]} <= set(got)
    for (b, p), walk in got.items():
        assert walk == pytest.approx(expected[b, p], abs=1e-6)
        assert walk <= limit
        assert walk >= straight[b, p]
    assert pairs.straight_m == pytest.approx(straight[pairs.building, pairs.point], abs=1e-6)
    assert report.pairs == len(pairs)
    return len(pairs)


@needs_geo
def test_oakland_street_distances_equal_networkx() -> None:
    streets = read_streets(OAKLAND)
    lat0, lon0 = float(streets.lat.mean()), float(streets.lon.mean())
    graph = streets.graph(lat0, lon0)
    rng = np.random.default_rng(7)
    low = np.array([graph.x.min(), graph.y.min()])
    high = np.array([graph.x.max(), graph.y.max()])
    buildings = rng.uniform(low, high, (60, 2))
    points = rng.uniform(low, high, (6, 2))
    assert _check_against_reference(graph, buildings, points, limit=600.0) > 0


@needs_geo
def test_oakland_graph_edges_are_haversine_and_walkable() -> None:
    streets = read_streets(OAKLAND)
    assert len(streets.node_id) > 40
    assert np.all(streets.u < streets.v)
    assert len(np.unique(streets.u * len(streets.node_id) + streets.v)) == len(streets.u)
    expected = haversine_m(
        streets.lat[streets.u],
        streets.lon[streets.u],
        streets.lat[streets.v],
        streets.lon[streets.v],
    )
    assert streets.length_m == pytest.approx(expected)
    for way in streets.ways:
        assert is_walkable(dict(way.tags))


@needs_geo
@pytest.mark.parametrize("extract", [OAKLAND, NANJING])
def test_derived_street_file_reads_back_identically(extract: Path, tmp_path: Path) -> None:
    streets = read_streets(extract)
    target = tmp_path / "streets.osm.bz2"
    write_street_file(streets, target)
    again = read_streets(target)
    for field in ("node_id", "lat", "lon", "u", "v", "length_m"):
        assert np.array_equal(getattr(streets, field), getattr(again, field)), field
    assert bz2.decompress(target.read_bytes()).decode() == street_file_text(again)


def test_walkability_rule() -> None:
    assert is_walkable({"highway": "footway"})
    assert is_walkable({"highway": "primary"})
    assert is_walkable({"highway": "trunk"})
    assert is_walkable({"highway": "service", "access": "private", "foot": "yes"})
    assert not is_walkable({"highway": "motorway"})
    assert not is_walkable({"highway": "motorway_link"})
    assert not is_walkable({"highway": "construction"})
    assert not is_walkable({"highway": "proposed"})
    assert not is_walkable({"highway": "trunk", "motorroad": "yes"})
    assert not is_walkable({"highway": "residential", "foot": "no"})
    assert not is_walkable({"highway": "service", "access": "private"})
    assert not is_walkable({"building": "yes"})


def test_collapse_keeps_shortest_parallel_edge() -> None:
    u = np.array([0, 1, 0, 2, 2], dtype=np.int64)
    v = np.array([1, 0, 1, 2, 1], dtype=np.int64)
    w = np.array([5.0, 3.0, 4.0, 1.0, 2.0])
    a, b, length = collapse_edges(u, v, w)
    assert a.tolist() == [0, 1] and b.tolist() == [1, 2]
    assert length.tolist() == [3.0, 2.0]


def test_pairs_beyond_the_limit_are_absent() -> None:
    # a straight street 0–2000 m; buildings and one point on it
    x = np.arange(0.0, 2001.0, 100.0)
    graph = StreetGraph(
        x,
        np.zeros_like(x),
        np.arange(len(x) - 1, dtype=np.int64),
        np.arange(1, len(x), dtype=np.int64),
        np.full(len(x) - 1, 100.0),
    )
    buildings = np.column_stack([np.arange(0.0, 2001.0, 50.0), np.full(41, 10.0)])
    point = np.array([[0.0, -5.0]])
    pairs, report = street_pairs(graph, buildings, point, walk_limit_m=1000.0)
    walk = 10.0 + buildings[:, 0] + 5.0
    assert pairs.building.tolist() == np.flatnonzero(walk <= 1000.0).tolist()
    assert pairs.walk_m == pytest.approx(walk[walk <= 1000.0])
    assert report.building_snap_max_m == pytest.approx(10.0)
    assert report.point_snap_max_m == pytest.approx(5.0)


def test_detour_forces_a_longer_walk_than_straight() -> None:
    # a U-shaped street: building and point face each other across a gap
    x = np.array([0.0, 0.0, 300.0, 300.0])
    y = np.array([200.0, 0.0, 0.0, 200.0])
    graph = StreetGraph(
        x, y, np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([200.0, 300.0, 200.0])
    )
    pairs, report = street_pairs(
        graph, np.array([[10.0, 200.0]]), np.array([[290.0, 200.0]]), walk_limit_m=2000.0
    )
    assert pairs.walk_m[0] == pytest.approx(10.0 + 700.0 + 10.0)
    assert pairs.straight_m[0] == pytest.approx(280.0)
    assert report.detour_median == pytest.approx(720.0 / 280.0)


def test_snap_report_flags_far_buildings() -> None:
    graph = StreetGraph(
        np.array([0.0, 100.0]),
        np.array([0.0, 0.0]),
        np.array([0]),
        np.array([1]),
        np.array([100.0]),
    )
    buildings = np.array([[50.0, 10.0], [50.0, 200.0]])
    _, report = street_pairs(
        graph, buildings, np.array([[0.0, 0.0]]), walk_limit_m=1000.0, snap_warn_m=150.0
    )
    assert report.buildings_far.tolist() == [1]
    assert report.points_far.tolist() == []
    assert report.building_snap_max_m == pytest.approx(200.0)


@st.composite
def planar_graphs(draw: st.DrawFn) -> tuple[StreetGraph, NDArray[np.float64], NDArray[np.float64]]:
    """A random planar street graph (a Delaunay triangulation, some edges dropped)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(4, 30))
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 1500.0, (n, 2))
    triangles = Delaunay(xy).simplices
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]])
    keep = rng.random(len(edges)) < draw(st.floats(0.4, 1.0))
    keep[0] = True
    edges = edges[keep]
    stretch = rng.uniform(1.0, 1.5, len(edges))  # curvy streets: longer than the chord
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T) * stretch
    u, v, length = collapse_edges(edges[:, 0], edges[:, 1], length)
    graph = StreetGraph(xy[:, 0].copy(), xy[:, 1].copy(), u, v, length)
    buildings = rng.uniform(-100.0, 1600.0, (draw(st.integers(1, 25)), 2))
    points = rng.uniform(-100.0, 1600.0, (draw(st.integers(1, 5)), 2))
    return graph, buildings, points


@settings(max_examples=40, deadline=None)
@given(planar_graphs(), st.floats(200.0, 2500.0))
def test_random_planar_graphs_match_networkx(
    case: tuple[StreetGraph, NDArray[np.float64], NDArray[np.float64]], limit: float
) -> None:
    graph, buildings, points = case
    _check_against_reference(graph, buildings, points, limit)


@settings(max_examples=40, deadline=None)
@given(planar_graphs())
def test_snap_is_the_nearest_segment_point(
    case: tuple[StreetGraph, NDArray[np.float64], NDArray[np.float64]],
) -> None:
    graph, buildings, _ = case
    snap = snap_to_edges(graph, buildings)
    x0, y0 = graph.x[graph.u], graph.y[graph.u]
    dx, dy = graph.x[graph.v] - x0, graph.y[graph.v] - y0
    seg2 = dx**2 + dy**2
    px = buildings[:, None, 0] - x0[None, :]
    py = buildings[:, None, 1] - y0[None, :]
    t = np.clip((px * dx + py * dy) / np.where(seg2 > 0, seg2, 1.0), 0.0, 1.0)
    brute = np.hypot(px - t * dx, py - t * dy).min(axis=1)
    assert snap.distance_m == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"garbage<<<", "cannot read"),
        (b'<?xml version="1.0"?><osm version="0.6"></osm>', "no walkable streets"),
        (
            b'<?xml version="1.0"?><osm version="0.6">'
            b'<node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.001"/>'
            b'<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="motorway"/></way></osm>',
            "no walkable streets",
        ),
    ],
)
def test_bad_extracts_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "extract.osm"
    path.write_bytes(content)
    with pytest.raises(OsmError, match=message):
        read_streets(path)


def test_missing_or_unknown_extract(tmp_path: Path) -> None:
    with pytest.raises(OsmError, match="not found"):
        read_streets(tmp_path / "nothing.osm.pbf")
    other = tmp_path / "streets.txt"
    other.write_text("x")
    with pytest.raises(OsmError, match="not an OSM extract"):
        read_streets(other)
    with pytest.raises(ValueError):  # OsmError is a ValueError
        read_streets(tmp_path)
