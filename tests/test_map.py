"""Unit tests of the coverage map: layer data, colours, hulls, offline check, i18n, writing."""

from __future__ import annotations

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
from maps.i18n import format_kpi, labels
from maps.layers import (
    PALETTE,
    build_payload,
    finish_colours,
    hull_ring,
    point_colours,
    point_radius,
    utilisation_colour,
)
from maps.offline import check_offline, inline_assets
from maps.synthetic import synthetic_map_data
from sampling.i18n import KPI, MAP_LABELS, reason_label

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


def test_point_colours_stable_under_reordering() -> None:
    ids = [f"P{i}" for i in range(30)]
    a = point_colours(ids)
    b = point_colours(list(reversed(ids)))
    assert a == b
    assert a["P0"] == PALETTE[0]
    assert set(a.values()) <= set(PALETTE)
    assert len(set(point_colours(ids[: len(PALETTE)]).values())) == len(PALETTE)


def test_building_colour_is_its_points_colour(data: MapData) -> None:
    p = build_payload(data)
    b = p["buildings"]
    colours = point_colours(data.points["point_id"].to_list())
    served = data.buildings.filter(pl.col("point_id").is_not_null())
    got = [b["ptColour"][i] for i in b["pt"]]
    assert got == [colours[pid] for pid in served["point_id"]]
    # the point's own marker is outlined with the same colour
    opened = data.points.filter(pl.col("open"))
    assert p["points"]["edge"] == [colours[pid] for pid in opened["point_id"]]


def test_utilisation_and_size_scales() -> None:
    assert utilisation_colour(0.3) != utilisation_colour(1.2)
    assert utilisation_colour(1.0) == utilisation_colour(0.95)
    assert point_radius(1) < point_radius(8) <= 18
    assert point_radius(None) == 4.0


def test_finish_colours_with_and_without_deadline() -> None:
    cols, legend = finish_colours(["16:00", "17:30", "18:30", None], "18:00")
    assert cols[0] != cols[1] != cols[2]
    assert cols[3] == "#9e9e9e"
    assert len(legend) == 3 and "18:00" in legend[2][1]
    cols, legend = finish_colours(["09:00", "12:00", "15:00"], None, "en")
    assert cols[0] != cols[2] and len(legend) == 4


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
    assert p["routes"] == [] and p["legend"]["mode"] == "utilisation"
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
    pts = data.points.with_columns(pl.lit(evil).alias("name"), pl.lit(evil).alias("finish"))
    evil_data = MapData(
        b, pts, routes, title=evil, kpis={evil: evil, "coverage": 0.5}, attribution=evil
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
