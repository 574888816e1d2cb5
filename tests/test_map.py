"""Unit tests of the coverage map: layer data, colours, hulls, offline check, i18n, writing,
the base layer from an OSM extract, and the map of a real plan (links, KPIs that add up)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maps import ExternalResourceError, MapData, MapDataError, render_map, write_map
from maps.basemap import (
    KINDS,
    MAX_OUTLINE_VALUES,
    OUTLINE,
    SCALE,
    BaseMap,
    BaseMapError,
    limit_outlines,
    outline_areas_m2,
    read_basemap,
    simplify_lines,
)
from maps.i18n import format_kpi, labels
from maps.layers import (
    LATE,
    PALETTE,
    SHORT,
    build_payload,
    catchment_neighbours,
    hull_ring,
    point_colours,
    point_radius,
)
from maps.offline import check_offline, inline_assets
from maps.render import KPI_LEVELS
from maps.synthetic import synthetic_map_data
from sampling import load_scenario
from sampling.i18n import KPI, MAP_LABELS, reason_label
from sampling.output.mapping import (
    OSM_ATTRIBUTION,
    data_attribution,
    map_data,
    map_kpis,
    map_notes,
)

M_PER_DEG = 111_320.0


@pytest.fixture(scope="module")
def data() -> MapData:
    return synthetic_map_data(200, 12, 8, 2, 10)


@pytest.fixture(scope="module")
def html(data: MapData) -> str:
    return render_map(data)


def _metres(ring: list[list[float]], lat0: float, lon0: float) -> np.ndarray:
    a = np.asarray(ring)
    return np.column_stack(
        ((a[:, 1] - lon0) * M_PER_DEG * math.cos(math.radians(lat0)), (a[:, 0] - lat0) * M_PER_DEG)
    )


def _inside_convex(ring_xy: np.ndarray, pts_xy: np.ndarray, tol: float = 0.05) -> bool:
    """All points inside the counter-clockwise convex ring (tolerance in metres)."""
    for i in range(len(ring_xy)):
        a, b = ring_xy[i], ring_xy[(i + 1) % len(ring_xy)]
        edge = b - a
        if not np.any(edge):  # a closed ring repeats its first corner: no edge there
            continue
        cross = edge[0] * (pts_xy[:, 1] - a[1]) - edge[1] * (pts_xy[:, 0] - a[0])
        if np.any(cross / np.linalg.norm(edge) < -tol):
            return False
    return True


# --- hulls -------------------------------------------------------------------------------


def test_hull_single_building_is_octagon_around_it() -> None:
    ring = hull_ring([30.5], [114.3], pad_m=10)
    assert len(ring) == 8
    d = np.linalg.norm(_metres(ring, 30.5, 114.3), axis=1)
    assert np.allclose(d, 10, atol=0.2)


def test_hull_two_buildings_is_capsule_containing_both() -> None:
    lat, lon = [30.5, 30.501], [114.3, 114.302]
    ring = hull_ring(lat, lon, pad_m=10)
    assert 8 <= len(ring) <= 16
    xy = _metres(ring, 30.5, 114.3)
    pts = _metres([[a, b] for a, b in zip(lat, lon, strict=True)], 30.5, 114.3)
    assert _inside_convex(xy, pts)


def test_hull_collinear_and_duplicates_do_not_fail() -> None:
    lat = [30.5, 30.5005, 30.501, 30.501, 30.5015]
    lon = [114.3, 114.3005, 114.301, 114.301, 114.3015]
    ring = hull_ring(lat, lon)
    assert len(ring) >= 8
    assert hull_ring([30.5] * 4, [114.3] * 4) == hull_ring([30.5], [114.3])


def test_hull_square_keeps_corners_and_drops_interior() -> None:
    lat = [30.50, 30.50, 30.51, 30.51, 30.505]
    lon = [114.30, 114.31, 114.30, 114.31, 114.305]
    ring = hull_ring(lat, lon, pad_m=5)
    assert len(ring) == 4 * 2  # each corner grows into 2 vertices of its (22.5°-rotated) octagon
    lats = [p[0] for p in ring]
    assert max(lats) == pytest.approx(30.51 + 5 * math.cos(math.pi / 8) / M_PER_DEG, abs=2e-6)


def test_hull_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        hull_ring([], [])
    with pytest.raises(ValueError):
        hull_ring([1.0], [1.0], pad_m=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)), min_size=1, max_size=40))
def test_hull_contains_all_points(pts: list[tuple[float, float]]) -> None:
    lat = [30.5 + a for a, _ in pts]
    lon = [114.3 + b for _, b in pts]
    ring = hull_ring(lat, lon)
    assert len(ring) >= 3
    xy = _metres(ring, 30.5, 114.3)
    area2 = sum(
        xy[i, 0] * xy[(i + 1) % len(xy), 1] - xy[(i + 1) % len(xy), 0] * xy[i, 1]
        for i in range(len(xy))
    )
    assert area2 > 0  # counter-clockwise, non-degenerate
    p = _metres([[a, b] for a, b in zip(lat, lon, strict=True)], 30.5, 114.3)
    assert _inside_convex(xy, p, tol=0.2)


# --- colours -----------------------------------------------------------------------------


def test_neighbouring_catchments_get_different_colours(data: MapData) -> None:
    colours = point_colours(data)
    pairs = catchment_neighbours(data)
    assert len(pairs) >= int(data.points["open"].sum()) - 1  # the open points are connected
    assert all(colours[a] != colours[b] for a, b in pairs)
    assert set(colours.values()) <= set(PALETTE)
    # depends on the data, not on the order of its rows
    shuffled = MapData(
        data.buildings.sample(fraction=1.0, shuffle=True, seed=1),
        data.points.sample(fraction=1.0, shuffle=True, seed=2),
    )
    assert point_colours(shuffled) == colours


def test_many_points_still_differ_from_their_neighbours() -> None:
    big = synthetic_map_data(3000, 150, 120, 0, 0, seed=3)
    colours = point_colours(big)
    pairs = catchment_neighbours(big)
    assert len({colours[p] for p in big.points.filter(pl.col("open"))["point_id"]}) >= 6
    assert all(colours[a] != colours[b] for a, b in pairs)


def test_building_colour_is_its_points_colour(data: MapData) -> None:
    p = build_payload(data)
    b = p["buildings"]
    colours = point_colours(data)
    served = data.buildings.filter(pl.col("point_id").is_not_null())
    got = [b["ptColour"][i] for i in b["pt"]]
    assert got == [colours[pid] for pid in served["point_id"]]
    # the point's own marker has the same colour
    opened = data.points.filter(pl.col("open"))
    assert p["points"]["colour"] == [colours[pid] for pid in opened["point_id"]]


def test_marker_size_follows_load(data: MapData) -> None:
    assert point_radius(0, 1000) == 5.0 and point_radius(1000, 1000) == 16.0
    assert point_radius(250, 1000) < point_radius(1000, 1000)
    assert point_radius(None, 0) == 5.0
    p = build_payload(data)["points"]
    loads = data.points.filter(pl.col("open"))["load"].to_list()
    by_load = [r for _l, r in sorted(zip(loads, p["r"], strict=True))]
    assert by_load == sorted(by_load) and by_load[0] < by_load[-1]


def test_late_and_short_points_are_ringed(data: MapData) -> None:
    opened = data.points.filter(pl.col("open"))
    rings = build_payload(data)["points"]["ring"]
    assert [bool(r & LATE) for r in rings] == opened["late"].to_list()
    assert [bool(r & SHORT) for r in rings] == (opened["deficit"] > 0).to_list()
    assert any(rings) and not all(rings)
    popups = build_payload(data, "en")["points"]["popup"]
    lab = labels("en")
    assert all(
        (lab["late_ring"] in pp) == bool(r & LATE) for pp, r in zip(popups, rings, strict=True)
    )


# --- layer data --------------------------------------------------------------------------


def test_feature_counts(data: MapData) -> None:
    p = build_payload(data)
    b, pts = data.buildings, data.points
    n_open = int(pts["open"].sum())
    assert len(p["points"]["lat"]) == n_open
    assert len(p["closed"]["lat"]) == pts.height - n_open
    n_unserved = b["point_id"].null_count()
    assert len(p["buildings"]["lat"]) == b.height - n_unserved
    assert len(p["unserved"]["lat"]) == n_unserved
    assert len(p["catchments"]) == b["point_id"].drop_nulls().n_unique()
    assert len(p["grids"]) == b["grid_id"].n_unique()
    assert len(p["walk"]["lat"]) == n_open and p["walk"]["radius"] == data.walk_limit_m
    assert data.routes is not None
    assert len(p["routes"]) == data.routes["team_id"].n_unique()
    assert sum(len(r["stops"]) for r in p["routes"]) == data.routes.height
    assert len(p["heat"]["pts"]) == b.filter(pl.col("residents") > 0).height


def test_routes_ordered_by_seq_and_start_at_origin(data: MapData) -> None:
    assert data.routes is not None
    shuffled = data.routes.sample(fraction=1.0, shuffle=True, seed=3)
    p = build_payload(MapData(data.buildings, data.points, shuffled))
    for r in p["routes"]:
        seqs = [s[2] for s in r["stops"]]
        assert seqs == sorted(seqs) and seqs[0] == 0
        assert r["line"][0] == r["stops"][0][:2]


def test_unserved_buildings_highlighted_with_reason(data: MapData) -> None:
    b = data.buildings.with_columns(
        pl.when(pl.col("building_id") == "B00000")
        .then(None)
        .otherwise(pl.col("point_id"))
        .alias("point_id"),
        pl.when(pl.col("building_id") == "B00000")
        .then(pl.lit("桥<断>"))
        .otherwise(pl.col("unserved_reason"))
        .alias("unserved_reason"),
    )
    b = b.with_columns(
        pl.when(pl.col("building_id") == "B00001")
        .then(None)
        .otherwise(pl.col("point_id"))
        .alias("point_id"),
        pl.when(pl.col("building_id") == "B00001")
        .then(None)
        .otherwise(pl.col("unserved_reason"))
        .alias("unserved_reason"),
    )
    p = build_payload(MapData(b, data.points), "zh")
    tips = p["unserved"]["tip"]
    assert len(tips) == b["point_id"].null_count()
    assert any("桥&lt;断&gt;" in t for t in tips)
    assert any(labels("zh")["unserved_default"] in t and "B00001" in t for t in tips)
    assert all("B00000" not in i for i in p["buildings"]["id"])


def test_optional_point_columns_and_no_routes(data: MapData) -> None:
    pts = data.points.drop("finish", "staff", "yellow_channel")
    p = build_payload(MapData(data.buildings, pts, None))
    assert p["routes"] == [] and "base" not in p
    assert "黄码通道" not in p["points"]["popup"][0]
    html = render_map(MapData(data.buildings, pts, pl.DataFrame()))
    assert "natplan.make.routes(" not in html and "natplan.make.points(" in html


def test_mapdata_validation(data: MapData) -> None:
    with pytest.raises(MapDataError, match="lat"):
        MapData(data.buildings.drop("lat"), data.points)
    with pytest.raises(MapDataError, match="unique"):
        MapData(data.buildings, pl.concat([data.points, data.points.head(1)]))
    bad = data.buildings.with_columns(pl.lit("NOPE").alias("point_id"))
    with pytest.raises(MapDataError, match="unknown point_id"):
        build_payload(MapData(bad, data.points))


def test_coordinates_rounded_to_6_decimals(data: MapData) -> None:
    p = build_payload(data)
    for v in p["buildings"]["lat"][:50] + p["points"]["lon"] + p["catchments"][0]["ring"][0]:
        assert round(v, 6) == v


# --- rendered HTML -----------------------------------------------------------------------


def test_html_is_self_contained(html: str) -> None:
    check_offline(html)  # raises if not
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", html)
    assert "leaflet-heat" in html or "L.heatLayer" in html
    assert "data:font/woff2;base64," in html
    assert "data:image/png;base64," in html
    assert len(html) < 3_000_000


def test_check_offline_rejects_external_resources() -> None:
    with pytest.raises(ExternalResourceError):
        check_offline('<script src="https://cdn.example.com/x.js"></script>')
    with pytest.raises(ExternalResourceError):
        check_offline('<link rel="stylesheet" href="//cdn.example.com/x.css"/>')
    with pytest.raises(ExternalResourceError):
        check_offline("<style>a{background:url('http://x.org/a.png')}</style>")
    with pytest.raises(ExternalResourceError):
        check_offline("<style>@import 'https://x.org/a.css';</style>")
    with pytest.raises(ExternalResourceError, match="no vendored copy"):
        inline_assets('<script src="https://cdn.example.com/unknown.js"></script>')
    check_offline(
        "<style>a{background:url(\"data:image/svg+xml,<svg xmlns='http://www.w3.org"
        "/2000/svg'/>\")}</style>"
    )


def test_tile_url_only_when_asked(data: MapData) -> None:
    url = "http://tiles.office.local/{z}/{x}/{y}.png"
    html = render_map(data, tile_url=url, tile_attribution="(c) office")
    assert url in html and "(c) office" in html
    check_offline(html, allowed=(url,))
    assert "tiles.office.local" not in render_map(data)
    assert "openstreetmap" not in render_map(data).lower()


def test_lang_switch_changes_labels(data: MapData) -> None:
    zh = render_map(data, lang="zh")
    en_data = MapData(
        data.buildings,
        data.points.with_columns(pl.lit("P").alias("name")),
        data.routes,
        title="Demo district",
        kpis=data.kpis,
    )
    en = render_map(en_data, lang="en")
    for word in (
        "采样点",
        "楼栋",
        "服务范围",
        "步行圈",
        "网格",
        "上门采样路线",
        "人口密度",
        "覆盖率",
    ):
        assert json.dumps(word)[1:-1] in zh or word in zh
        assert word not in en
    for word in (
        "Sampling points",
        "Buildings",
        "Catchments",
        "Walking limit",
        "Grids",
        "Home-visit routes",
        "Resident density",
        "Coverage",
    ):
        assert word in en
    with pytest.raises(ValueError, match="lang"):
        render_map(data, lang="fr")


def test_untrusted_text_is_escaped(data: MapData) -> None:
    evil = "</script><script>alert(1)</script>"
    pts = data.points.with_columns(pl.lit(evil).alias("name"))
    html = render_map(MapData(data.buildings, pts, data.routes, title=evil, kpis={evil: evil}))
    assert "<script>alert(1)" not in html

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.bodies: list[str] = []

        def handle_data(self, text: str) -> None:
            if self.lasttag == "script":
                self.bodies.append(text)

    parser = Scripts()
    parser.feed(html)
    assert all(body.strip() != "alert(1)" for body in parser.bodies)
    assert any("natplan.finish" in body for body in parser.bodies)


def test_kpi_formatting() -> None:
    assert format_kpi("coverage", 0.9712, "zh") == ("覆盖率", "97.1%")
    assert format_kpi("residents", 1000000, "en") == ("Residents", "1,000,000")
    assert format_kpi("finish", "18:30", "en") == ("Finish time", "18:30")
    assert format_kpi("custom", 2.5, "zh") == ("custom", "2.5")


def test_write_map_is_atomic(tmp_path: Path, data: MapData) -> None:
    out = tmp_path / "map.html"
    write_map(data, out)
    first = out.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>")
    bad = MapData(data.buildings.with_columns(pl.lit("NOPE").alias("point_id")), data.points)
    with pytest.raises(MapDataError):
        write_map(bad, out)
    assert out.read_text(encoding="utf-8") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]
    assert out.stat().st_mode & 0o777 == 0o644


def test_write_map_failure_during_write_keeps_old_file(
    tmp_path: Path, data: MapData, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "map.html"
    out.write_text("old", encoding="utf-8")

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("maps.render.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_map(data, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]


def test_integer_ids_and_null_open_flags(data: MapData) -> None:
    mapping = {pid: i for i, pid in enumerate(data.points["point_id"])}
    pts = data.points.with_columns(
        pl.col("point_id").replace_strict(mapping, return_dtype=pl.Int64),
        pl.when(pl.col("open")).then(True).otherwise(None).alias("open"),
    )
    b = data.buildings.with_columns(
        pl.col("point_id").replace_strict(mapping, default=None, return_dtype=pl.Int64),
        pl.int_range(pl.len()).alias("building_id"),
        (pl.int_range(pl.len()) % 3).alias("grid_id"),
    )
    assert data.routes is not None
    routes = data.routes.with_columns(pl.col("team_id").str.slice(1).cast(pl.Int64))
    d = MapData(b, pts, routes)
    p = build_payload(d, "en")
    assert len(p["points"]["lat"]) == int(data.points["open"].sum())
    assert len(p["grids"]) == 3
    assert p["routes"][0]["team"] == "Team 0"
    check_offline(render_map(d, lang="en"))


def _strings(value: object) -> list[str]:
    """Every string inside a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def test_every_text_of_the_map_is_escaped(data: MapData) -> None:
    """Names, ids, reasons, team and household ids, title, KPI keys and the attribution."""
    evil = "<img src=x onerror=alert(1)>"
    b = data.buildings.with_columns(
        (pl.lit(evil) + pl.col("building_id")).alias("building_id"),
        (pl.lit(evil) + pl.col("grid_id").cast(pl.String)).alias("grid_id"),
        pl.when(pl.col("point_id").is_null()).then(pl.lit(evil)).alias("unserved_reason"),
    )
    assert data.routes is not None
    routes = data.routes.with_columns(
        (pl.lit(evil) + pl.col("team_id")).alias("team_id"),
        (pl.lit(evil) + pl.col("household_id").cast(pl.String)).alias("household_id"),
    )
    b = b.with_columns(
        pl.lit(evil).alias("name"), pl.lit(evil).alias("call"), pl.lit(evil).alias("grid_sheet")
    )
    routes = routes.with_columns(pl.lit(evil).alias("sheet"))
    pts = data.points.with_columns(
        pl.lit(evil).alias("name"), pl.lit(evil).alias("finish"), pl.lit(evil).alias("sheet")
    )
    evil_data = MapData(
        b,
        pts,
        routes,
        title=evil,
        kpis={evil: evil, "coverage": 0.5},
        attribution=evil,
        alerts=(evil,),
        notes=(evil,),
    )
    payload = build_payload(evil_data, "en")
    texts = _strings(payload)
    assert not [t for t in texts if "<img" in t]
    assert sum("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts) > 10
    html = render_map(evil_data, lang="en")
    assert evil not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.replace("\\u003c", "<")


def test_reasons_and_labels_come_from_the_label_table(data: MapData) -> None:
    b = data.buildings.with_columns(
        pl.when(pl.col("point_id").is_null()).then(pl.lit("capacity")).alias("unserved_reason")
    )
    tips = build_payload(MapData(b, data.points), "zh")["unserved"]["tip"]
    assert tips and all(reason_label("capacity", "zh") in t for t in tips)
    assert labels("en")["points"] == MAP_LABELS["en"]["points"]
    assert format_kpi("gap", 0.01, "zh") == (KPI["zh"]["gap"], "1.0%")


def test_attribution_in_the_corner(data: MapData) -> None:
    html = render_map(MapData(data.buildings, data.points, attribution="© OSM <ODbL>"))
    assert '"attributionHtml":"© OSM &lt;ODbL&gt;"' in html.replace("\\u003c", "<")


# --- base layer from an OSM extract -------------------------------------------------------

_OSM = """<?xml version="1.0"?><osm version="0.6">
<node id="1" lat="30.5800" lon="114.2800"/><node id="2" lat="30.5800" lon="114.2850"/>
<node id="3" lat="30.5800" lon="114.2900"/><node id="4" lat="30.5801" lon="114.2950"/>
<node id="5" lat="30.5810" lon="114.2860"/><node id="6" lat="30.5810" lon="114.2865"/>
<node id="7" lat="30.5815" lon="114.2865"/><node id="8" lat="30.5815" lon="114.2860"/>
<node id="9" lat="31.5000" lon="115.0000"/><node id="10" lat="31.5010" lon="115.0000"/>
<node id="11" lat="30.5790" lon="114.2870"/><node id="12" lat="30.5780" lon="114.2870"/>
<way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/>
  <tag k="highway" v="primary"/><tag k="name" v="Main &lt;Road&gt;"/></way>
<way id="101"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/>
  <tag k="building" v="residential"/></way>
<way id="102"><nd ref="9"/><nd ref="10"/><tag k="highway" v="residential"/></way>
<way id="103"><nd ref="11"/><nd ref="12"/><tag k="highway" v="footway"/></way>
<way id="104"><nd ref="11"/><nd ref="5"/><tag k="highway" v="construction"/></way>
</osm>"""
"""A main road (its middle vertex on the straight line), a building, a street far outside the
bounds, a footpath and a road under construction (not drawn)."""


def _decode(way: list[int]) -> list[tuple[float, float]]:
    lat, lon, out = way[1], way[2], [(way[1] / SCALE, way[2] / SCALE)]
    for k in range(3, len(way), 2):
        lat, lon = lat + way[k], lon + way[k + 1]
        out.append((lat / SCALE, lon / SCALE))
    return out


@pytest.fixture
def osm(tmp_path: Path) -> Path:
    path = tmp_path / "fixture.osm"
    path.write_text(_OSM, encoding="utf-8")
    return path


def test_basemap_reads_streets_and_outlines_inside_the_bounds(osm: Path) -> None:
    base = read_basemap(osm, (30.575, 114.275, 30.585, 114.300))
    kinds = [w[0] for w in base.ways]
    assert kinds == [KINDS.index("outline"), KINDS.index("footway"), KINDS.index("road_major")]
    assert (base.streets, base.outlines) == (2, 1)
    road = _decode(list(base.ways[2]))
    assert road == [(30.58, 114.28), (30.58, 114.29), (30.5801, 114.295)]  # 114.285 dropped
    outline = _decode(list(base.ways[0]))
    assert outline[0] == outline[-1] and len(outline) == 5
    assert read_basemap(osm, (0.0, 0.0, 0.1, 0.1)).empty
    with pytest.raises(BaseMapError):
        read_basemap(osm.with_name("missing.osm"), (0.0, 0.0, 1.0, 1.0))


def test_basemap_trims_a_way_to_the_frame(osm: Path) -> None:
    base = read_basemap(osm, (30.579, 114.279, 30.581, 114.281), margin_m=0)
    road = next(_decode(list(w)) for w in base.ways if w[0] == 0)
    assert road == [(30.58, 114.28), (30.58, 114.285)]  # the inside vertex and the next one


def _distance_to_polyline(pts: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest segment of ``line`` (numpy, independent of GEOS)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ap = pts[:, None, :] - a[None, :, :]
    den = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(
        np.divide(
            np.einsum("pij,ij->pi", ap, ab), den, out=np.zeros_like(ap[..., 0]), where=den > 0
        ),
        0.0,
        1.0,
    )
    nearest = a[None, :, :] + t[..., None] * ab[None, :, :]
    return np.hypot(*np.moveaxis(pts[:, None, :] - nearest, -1, 0)).min(axis=1)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500)), min_size=2, max_size=60),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_simplify_keeps_every_vertex_within_the_tolerance(
    lines: list[list[tuple[float, float]]], preserve_topology: bool
) -> None:
    xys = [np.asarray(pts, dtype=np.float64) for pts in lines]
    simple = simplify_lines(xys, 2.0, preserve_topology=preserve_topology)
    assert len(simple) == len(xys)
    for xy, out in zip(xys, simple, strict=True):
        assert 2 <= len(out) <= len(xy)
        assert np.array_equal(out[0], xy[0]) and np.array_equal(out[-1], xy[-1])  # ends kept
        assert {tuple(p) for p in out.tolist()} <= {tuple(p) for p in xy.tolist()}  # a subset
        assert np.all(_distance_to_polyline(xy, out) <= 2.0 + 1e-9)


def test_simplify_drops_vertices_of_a_straight_street() -> None:
    street = np.column_stack((np.linspace(0, 100, 11), np.zeros(11)))
    zigzag = np.array([[0.0, 0.0], [10.0, 5.0], [20.0, 0.0]])  # 5 m off the line: kept
    out = simplify_lines([street, zigzag], 2.0)
    assert out[0].tolist() == [[0.0, 0.0], [100.0, 0.0]]
    assert out[1].tolist() == zigzag.tolist()
    assert simplify_lines([], 2.0) == []


def test_base_layer_drawn_only_with_an_extract(data: MapData, osm: Path) -> None:
    base = read_basemap(osm, (30.5, 114.2, 30.7, 114.4))
    with_base = MapData(data.buildings, data.points, base=base)
    payload = build_payload(with_base)
    assert payload["base"]["ways"] == [list(w) for w in base.ways]
    html = render_map(with_base, lang="en")
    assert "natplan.make.base(" in html and labels("en")["road_major"] in html
    assert "natplan.make.base(" not in render_map(MapData(data.buildings, data.points))


def _json_size(ways: object) -> int:
    return len(json.dumps(ways, separators=(",", ":")))


def test_nanjing_scenario_gets_its_streets_and_attribution() -> None:
    from sampling.output.mapping import _basemap

    scenario = load_scenario(ROOT / "scenarios" / "nanjing-xinjiekou")
    b = scenario.buildings
    bounds = (b["lat"].min(), b["lon"].min(), b["lat"].max(), b["lon"].max())
    base = _basemap(scenario, bounds)  # type: ignore[arg-type]
    assert base is not None and base.streets > 250
    streets = [list(w) for w in base.ways if w[0] != OUTLINE]
    outlines = [list(w) for w in base.ways if w[0] == OUTLINE]
    assert _json_size(streets) < 40_000  # about 11 kB for 312 streets (2 m, 1e-5 degree)
    assert _json_size(outlines) <= 2 + 60 * len(outlines)  # ≈ 53 bytes an outline (import-osm)
    assert data_attribution(scenario, base) == scenario.header.attribution
    bare = dataclasses.replace(
        scenario, header=scenario.header.model_copy(update={"attribution": None})
    )
    assert data_attribution(bare, base) == OSM_ATTRIBUTION  # OSM data is always credited
    assert data_attribution(bare, None) == ""


def test_basemap_keeps_an_outline_whole_across_the_frame(osm: Path) -> None:
    base = read_basemap(osm, (30.5805, 114.2855, 30.5812, 114.2870), margin_m=0)
    (outline,) = (_decode(list(w)) for w in base.ways if w[0] == OUTLINE)
    assert len(outline) == 5 and max(lat for lat, _ in outline) == 30.5815  # corners outside


def _square_way(lat: int, lon: int, side: int) -> tuple[int, ...]:
    """An encoded closed square outline (1e-5 degree units)."""
    return (OUTLINE, lat, lon, 0, side, side, 0, 0, -side, -side, 0)


def test_outline_areas_are_shoelace_areas_in_metres() -> None:
    ways = [_square_way(3_200_000, 11_878_000, 10), _square_way(3_200_100, 11_878_100, 3)]
    ways.append((OUTLINE, 3_200_000, 11_878_000, 0, 20, 10, -20))  # an open triangle
    side = 10 / SCALE * M_PER_DEG
    kx = math.cos(math.radians(32.0))
    areas = outline_areas_m2(ways)
    expected = [side**2 * kx, (0.3 * side) ** 2 * kx, side**2 * kx]
    assert areas.tolist() == pytest.approx(expected, rel=1e-4)  # the 2nd is 0.001° further north
    assert outline_areas_m2([]).size == 0


def test_outline_budget_drops_the_smallest_first() -> None:
    street = (0, 3_200_000, 11_878_000, 50, 50)
    sides = [12, 3, 30, 7, 20]
    ways = (street, *(_square_way(3_200_000 + 100 * k, 11_878_000, s) for k, s in enumerate(sides)))
    base = BaseMap(ways, streets=1, outlines=len(sides))
    assert limit_outlines(base, 10_000) is base  # within the budget: nothing changes
    kept = limit_outlines(base, 3 * len(ways[1]))  # room for three outlines
    assert kept.ways == (street, ways[1], ways[3], ways[5])  # 30, 20, 12 kept, in their order
    assert (kept.streets, kept.outlines, kept.outlines_dropped) == (1, 3, 2)
    assert limit_outlines(base, 0).ways == (street,)  # streets are never dropped


def test_read_basemap_applies_the_outline_budget(osm: Path) -> None:
    base = read_basemap(osm, (30.5, 114.2, 30.7, 114.4), max_outline_values=5)
    assert (base.streets, base.outlines, base.outlines_dropped) == (2, 0, 1)
    assert all(w[0] != OUTLINE for w in base.ways)


def test_page_grows_no_more_than_the_outline_budget(data: MapData) -> None:
    """However many outlines a district has, they add at most their budget to the page."""
    ways = tuple(
        _square_way(3_058_000 + 40 * (k // 100), 11_428_000 + 40 * (k % 100), 5 + k % 23)
        for k in range(3_000)
    )
    budget = 6_000  # integers: room for 545 of the 3,000 outlines
    base = limit_outlines(BaseMap(ways, streets=0, outlines=len(ways)), budget)
    assert (base.outlines, base.outlines_dropped) == (545, 2_455)
    assert min(w[4] for w in base.ways) >= max(
        w[4] for w in set(ways) - set(base.ways)
    )  # the largest are kept
    bare = len(render_map(data).encode())
    drawn = len(render_map(dataclasses.replace(data, base=base)).encode())
    # all 3,000 would add ≈ 150 kB; small squares spend two 8-digit starts in 11 integers
    assert drawn - bare <= 5 * budget


GEO = Path(__file__).resolve().parents[2] / "shared" / "geo"
NANJING = GEO / "nanjing_xinjiekou_osm_bbox.osm.bz2"


@pytest.mark.skipif(not NANJING.exists(), reason="shared/geo extracts not beside repo")
def test_nanjing_outlines_fit_the_budget_at_a_million_residents() -> None:
    """Central Nanjing's outlines (60,000 residents) cost ≈ 53 bytes each; the 1.31 million
    residents of bench/map_scale.py (22 copies) stay within the outline budget."""
    base = read_basemap(NANJING, (-90.0, -180.0, 90.0, 180.0), margin_m=0)
    outlines = [list(w) for w in base.ways if w[0] == OUTLINE]
    assert base.outlines == len(outlines) > 1_200 and base.outlines_dropped == 0
    assert _json_size(outlines) <= 60 * len(outlines)
    values = sum(len(w) for w in outlines)
    assert 22 * values < MAX_OUTLINE_VALUES
    assert _json_size(outlines) / values <= 4.0  # bytes an integer, as the budget assumes


# --- the map of a real plan ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sampling.output.write import write_plan
    from sampling.stages.planning import plan_campaign

    scenario = load_scenario(ROOT / "scenarios" / "tiny")
    out = tmp_path_factory.mktemp("tiny") / "out"
    return write_plan(plan_campaign(scenario, time_limit=2.0), out)


def test_kpis_add_up(tiny_out: Path) -> None:
    summary = json.loads((tiny_out / "summary.json").read_text(encoding="utf-8"))
    k = map_data(tiny_out, "en").kpis
    n = {key: v for key, v in k.items() if isinstance(v, int)}
    assert n["residents"] == n["residents_walk_in"] + n["residents_home_visit"]
    assert n["residents_walk_in"] == n["residents_assigned"] + n["residents_unserved"]
    assert k["residents_unserved"] == summary["residents_unserved"] > 0  # tiny has one
    assert k["residents_home_visit"] == summary["residents_home_visit"] > 0
    assert list(k)[:5] == [
        "residents",
        "residents_walk_in",
        "residents_assigned",
        "residents_unserved",
        "residents_home_visit",
    ]
    assert KPI_LEVELS["residents_assigned"] == KPI_LEVELS["residents_walk_in"] + 1
    assert "gap" not in k
    html = (tiny_out / "map.html").read_text(encoding="utf-8")
    for jargon in (KPI["zh"]["gap"], "optimality", "最优性"):
        assert jargon not in html


def test_kpi_shares_and_counts_are_never_rounded_away() -> None:
    summary = {
        "residents_total": 100_000,
        "residents_walk_in": 99_000,
        "residents_assigned": 98_996,
        "residents_unserved": 4,
        "residents_home_visit": 1_000,
        "coverage": 98_996 / 99_000,
        "buildings_unserved": 1,
        "points_open": 3,
        "tables_used": 9,
        "residents_overtime": 3,
        "gap": 3.09,
    }
    k = map_kpis(summary, "en")
    assert format_kpi("coverage", k["coverage"], "en")[1] == "99.996%"
    assert (k["residents_unserved"], k["residents_overtime"]) == (4, 3)
    assert map_notes(summary, "en") == ()  # a 309 % gap proves nothing about the plan
    assert map_notes({**summary, "gap": 0.021}, "en") == (
        labels("en")["quality"].format(pct="2.1%"),
    )


def test_plan_map_links_to_the_documents(tiny_out: Path) -> None:
    d = map_data(tiny_out, "en")
    opened = d.points.filter(pl.col("open"))
    assert opened.height > 0 and all((tiny_out / s).is_file() for s in opened["sheet"])
    assert all((tiny_out / s).is_file() for s in d.buildings["grid_sheet"])
    assert d.routes is not None and all((tiny_out / s).is_file() for s in d.routes["sheet"])
    assert d.buildings["call"].drop_nulls().len() > 0
    assert d.attribution == "synthetic"  # the scenario's own attribution
    assert d.base is None  # tiny has no OSM extract
    p = build_payload(d, "en")
    for popup, sheet in zip(p["points"]["popup"], opened["sheet"], strict=True):
        assert f"href='{sheet}'" in popup
    assert set(p["buildings"]["gridSheet"]) == set(d.buildings["grid_sheet"])
    assert any("Building" not in n and n for n in p["buildings"]["name"])  # names, not ids
    assert "natplan.make.base(" not in (tiny_out / "map.html").read_text(encoding="utf-8")


def test_remap_without_the_scenario_folder_still_draws(
    tiny_out: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``natplan map`` after the scenario moved: ids instead of names, said in the log."""
    import shutil

    moved = tmp_path / "out"
    shutil.copytree(tiny_out, moved)
    summary = json.loads((moved / "summary.json").read_text(encoding="utf-8"))
    summary["scenario_dir"] = str(tmp_path / "gone")
    (moved / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with caplog.at_level("WARNING"):
        d = map_data(moved, "en")
    assert "scenario folder" in caplog.text
    assert "name" not in d.buildings.columns and d.attribution == ""
    assert all((moved / s).is_file() for s in d.points.filter(pl.col("open"))["sheet"])
    check_offline(render_map(d, lang="en"))


# --- transport (issue 16) and a re-plan's changes (issue 15) ------------------------------


def _transport(data: MapData) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three trips of two vehicles through the open points, and two labs (one unused)."""
    pts = data.points.filter(pl.col("open"))
    lab = [30.60, 114.40]
    stops = [[float(a), float(b)] for a, b in zip(pts["lat"], pts["lon"], strict=True)]
    trips = pl.DataFrame(
        {
            "vehicle_id": ["V01", "V01", "V02"],
            "trip": [1, 3, 1],
            "tubes": [100, 500, 250],
            "start": ["07:10", "08:24", "07:30"],
            "end": ["08:00", "09:25", "08:40"],
            "path": [[*stops[:2], lab], [lab, *stops[2:4], lab], [*stops[4:6], lab]],
            "sheet": ["vehicles/V01.html", "vehicles/V01.html", "vehicles/V02.html"],
        }
    )
    labs = pl.DataFrame(
        {
            "lab_id": ["L01", "L02"],
            "lat": [lab[0], None],
            "lon": [lab[1], None],
            "tubes_per_hour": [400, 300],
            "tubes_received": [850, 0],
            "peak_backlog": [476, 0],
            "peak_hour": [11, 6],
            "last_result": ["17:43", None],
        }
    )
    return trips, labs


def test_transport_layer_draws_trips_by_vehicle_and_labs(data: MapData) -> None:
    trips, labs = _transport(data)
    d = dataclasses.replace(data, trips=trips, labs=labs)
    t = build_payload(d, "en")["transport"]
    assert len(t["trips"]) == trips.height
    first, third, other = t["trips"]  # sorted by vehicle, then trip
    assert first["colour"] == third["colour"] != other["colour"]  # coloured by vehicle
    assert first["w"] < other["w"] < third["w"] == 6.0  # thicker with more tubes
    assert third["tip"] == "V01 trip 3 08:24–09:25, 500 tubes"
    assert third["line"][0] == third["line"][-1] == [30.6, 114.4]  # from the lab, back to it
    assert "href='vehicles/V01.html'" in third["popup"]
    assert labels("en")["open_vehicle_sheet"] in third["popup"]
    assert t["labs"]["tip"] == ["Lab L01"]  # the lab that received nothing has no place
    popup = t["labs"]["popup"][0]
    for text in ("400 tubes/h", "850 tubes", "476 tubes at 11:00", "17:43"):
        assert text in popup, text
    zh = build_payload(d, "zh")["transport"]
    assert zh["trips"][1]["tip"] == "V01 第 3 趟 08:24–09:25，500 管"
    assert "11:00 积压 476 管" in zh["labs"]["popup"][0]
    for lang in ("zh", "en"):
        html = render_map(d, lang=lang)
        lab = labels(lang)
        assert "natplan.make.transport(" in html
        for key in ("transport", "trip_legend", "lab_legend"):
            assert lab[key] in html, (lang, key)
        check_offline(html)
    assert labels("zh")["transport"] != labels("en")["transport"]


def test_no_transport_no_layer(data: MapData) -> None:
    assert "transport" not in build_payload(data)
    assert "natplan.make.transport(" not in render_map(data, lang="en")
    empty = dataclasses.replace(data, trips=_transport(data)[0].clear())
    assert "transport" not in build_payload(empty)
    with pytest.raises(MapDataError, match="trips"):
        MapData(data.buildings, data.points, trips=_transport(data)[0].drop("path"))


def _changes(data: MapData) -> pl.DataFrame:
    """A moved building, a moved call, an unserved one and a sealed one off the map."""
    b = data.buildings
    served = b.filter(pl.col("point_id").is_not_null())
    unserved = b.filter(pl.col("point_id").is_null())
    rows = [
        ("building_moved", served["building_id"][0], "P01", "P03", "09:10", "10:40"),
        ("call_moved", served["building_id"][1], "P02", "P02", "09:10", "10:40"),
        ("building_unserved", unserved["building_id"][0], "P04", None, "11:00", None),
        ("building_sealed", "SEALED", "P05", None, None, None),
    ]
    frame = pl.DataFrame(
        rows,
        schema=["kind", "building_id", "old_point_id", "new_point_id", "old_time", "new_time"],
        orient="row",
    )
    return frame.with_columns(pl.lit(30.58).alias("lat"), pl.lit(114.3).alias("lon"))


def test_replan_changes_ring_their_buildings_and_say_what_changed(data: MapData) -> None:
    changes = _changes(data)
    d = dataclasses.replace(data, changes=changes)
    p = build_payload(d, "en")
    assert len(p["changes"]["lat"]) == changes["building_id"].n_unique() == 4
    served = data.buildings.filter(pl.col("point_id").is_not_null())
    chg = dict(zip(served["building_id"], p["buildings"]["chg"], strict=True))
    moved, called = served["building_id"][0], served["building_id"][1]
    assert chg[moved] == "moved from P01 to P03 · call 09:10 → 10:40"
    assert chg[called] == "call 09:10 → 10:40"
    assert sum(bool(v) for v in chg.values()) == 2  # the others are unchanged
    unserved = data.buildings.filter(pl.col("point_id").is_null())["building_id"][0]
    tip = next(t for t in p["unserved"]["tip"] if f"<td>{unserved}</td>" in t)
    assert "no sampling point any more (was P04)" in tip
    sealed = next(t for t in p["changes"]["tip"] if "SEALED" in t)
    assert "sealed: swabbed at home" in sealed
    zh = build_payload(d, "zh")
    assert "由 P01 改至 P03" in zh["buildings"]["chg"][0]
    for lang in ("zh", "en"):
        html = render_map(d, lang=lang)
        assert "natplan.make.changes(" in html and labels(lang)["change_legend"] in html
    plain = build_payload(data, "en")
    assert "changes" not in plain and "chg" not in plain["buildings"]


def test_transport_and_change_ids_are_escaped(data: MapData) -> None:
    evil = "<img src=x onerror=alert(1)>"
    trips, labs = _transport(data)
    trips = trips.with_columns(
        (pl.lit(evil) + pl.col("vehicle_id")).alias("vehicle_id"),
        pl.lit(evil).alias("start"),
        pl.lit(evil).alias("sheet"),
    )
    labs = labs.with_columns(pl.lit(evil).alias("lab_id"), pl.lit(evil).alias("last_result"))
    changes = _changes(data).with_columns(
        pl.lit(evil).alias("old_point_id"),
        pl.lit(evil).alias("new_time"),
        pl.when(pl.col("kind") == "building_sealed")
        .then(pl.lit(evil))
        .otherwise(pl.col("building_id"))
        .alias("building_id"),
    )
    d = dataclasses.replace(data, trips=trips, labs=labs, changes=changes)
    texts = _strings(build_payload(d, "en"))
    assert not [t for t in texts if "<img" in t]
    assert sum("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts) > 8
    assert evil not in render_map(d, lang="en")


def test_transport_and_replan_kpis_only_when_present() -> None:
    base = {
        "residents_total": 10,
        "residents_assigned": 10,
        "residents_unserved": 0,
        "coverage": 1.0,
        "buildings_unserved": 0,
        "points_open": 1,
        "tables_used": 2,
    }
    plain = map_kpis(base, "en")
    extra = {
        "tubes_total": 3838,
        "tubes_late": 12,
        "latest_result_time": "18:13",
        "vehicle_hours": 18.39,
        "replan_at": "09:30",
        "changes_total": 45,
        "changes": {"building_moved": 27, "call_moved": 17, "team_moved": 1, "team_added": 0},
    }
    k = map_kpis({**base, **extra}, "en")
    assert set(k) - set(plain) == {
        "tubes_total",
        "tubes_late",
        "latest_result_time",
        "vehicle_hours",
        "replan_at",
        "changes_total",
        "changes_building_moved",
        "changes_call_moved",
        "changes_team_moved",
    }
    assert list(k)[:2] == ["replan_at", "changes_total"]  # a re-plan says so first
    parts = sum(v for key, v in k.items() if key.startswith("changes_") and key != "changes_total")
    assert parts == k["changes_total"]  # the kinds add up to the total
    assert all(
        KPI_LEVELS[key] == 1 for key in k if key.startswith("changes_") and key != "changes_total"
    )
    assert KPI_LEVELS["tubes_late"] == 1
    for lang in ("zh", "en"):
        shown = dict(format_kpi(key, v, lang) for key, v in k.items())
        assert len(shown) == len(k)  # every key has its own label
        for key in set(k) - set(plain):
            assert KPI[lang].get(key), (lang, key)  # a label, not the raw key
        html = render_map(
            MapData(
                synthetic_map_data(30, 3, 2, 0, 0).buildings,
                synthetic_map_data(30, 3, 2, 0, 0).points,
                kpis=k,
            ),
            lang=lang,
        )
        assert KPI[lang]["replan_at"] in html and "09:30" in html
    assert format_kpi("vehicle_hours", 18.39, "en") == ("Vehicle hours", "18.39")
    assert KPI["zh"]["tubes_total"] != KPI["en"]["tubes_total"]


@pytest.fixture(scope="module")
def transport_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated district with labs and vehicles, planned and saved."""
    from sampling.generate import generate_district
    from sampling.output.write import write_plan
    from sampling.stages.planning import plan_campaign

    base = tmp_path_factory.mktemp("transport")
    generate_district(4000, 7, base / "district")
    plan = plan_campaign(load_scenario(base / "district"), time_limit=3.0, seed=0)
    return write_plan(plan, base / "out", lang="en")


def test_plan_map_draws_the_saved_transport(transport_out: Path) -> None:
    from sampling.stages.transport import transport_layer

    layer = transport_layer(transport_out)
    assert layer is not None and layer["trips"]
    d = map_data(transport_out, "en")
    assert d.trips is not None and d.labs is not None
    assert d.trips.height == len(layer["trips"])
    assert d.trips["path"].to_list() == [t["path"] for t in layer["trips"]]
    assert d.labs["lab_id"].to_list() == [lab["lab_id"] for lab in layer["labs"]]
    assert all((transport_out / s).is_file() for s in d.trips["sheet"])  # the vehicle sheets
    summary = json.loads((transport_out / "summary.json").read_text(encoding="utf-8"))
    for key in ("tubes_total", "tubes_late", "latest_result_time", "vehicle_hours"):
        assert d.kpis[key] == summary[key], key
    html = (transport_out / "map.html").read_text(encoding="utf-8")
    assert "natplan.make.transport(" in html and "natplan.make.changes(" not in html


def test_replan_map_highlights_the_changed_buildings(transport_out: Path, tmp_path: Path) -> None:
    from sampling.cli import main

    points = pl.read_parquet(transport_out / "points.parquet").filter(pl.col("open"))
    closed = str(points.sort("load", descending=True)["point_id"][0])
    events = tmp_path / "events.csv"
    events.write_text(f"time,kind,id,value\n09:00,point_closed,{closed},\n", encoding="utf-8")
    new = tmp_path / "new"
    argv = ["replan", str(transport_out), "--at", "09:30", "--events", str(events)]
    assert main([*argv, "--out", str(new), "--lang", "en", "--time-limit", "3"]) == 0
    changes = pl.read_parquet(new / "changes.parquet")
    ringed = changes.filter(
        pl.col("kind").str.starts_with("building_") | (pl.col("kind") == "call_moved")
    )
    moved = ringed.filter(pl.col("kind") == "building_moved")
    assert moved.height > 0 and (moved["old_point_id"] == closed).all()
    d = map_data(new, "en")
    assert d.changes is not None
    assert set(d.changes["building_id"]) == set(ringed["building_id"])
    p = build_payload(d, "en")
    assert len(p["changes"]["lat"]) == ringed["building_id"].n_unique()
    first = moved.row(0, named=True)
    text = f"moved from {closed} to {first['new_point_id']}"
    assert any(text in t for t in p["changes"]["tip"])
    served = d.buildings.filter(pl.col("point_id").is_not_null())
    chg = dict(zip(served["building_id"].cast(pl.String), p["buildings"]["chg"], strict=True))
    assert text in chg[first["building_id"]]
    summary = json.loads((new / "summary.json").read_text(encoding="utf-8"))
    assert d.kpis["replan_at"] == "09:30" and d.kpis["changes_total"] == summary["changes_total"]
    html = (new / "map.html").read_text(encoding="utf-8")  # as `natplan replan` wrote it
    assert "natplan.make.changes(" in html and "Re-planned at" in html
