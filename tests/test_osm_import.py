"""``import_osm``: a plannable, deterministic scenario from an OpenStreetMap extract."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import osmium
import osmium.filter
import osmium.osm
import polars as pl
import pytest

from sampling.cli import main
from sampling.files.ownership import OutputFolderError
from sampling.osm.extract import OsmError, read_streets, scenario_streets, write_street_file
from sampling.osm.features import NON_RESIDENTIAL_KEYS, RESIDENTIAL_BUILDINGS, Footprint
from sampling.osm.importer import ImportSummary, import_osm
from sampling.osm.outlines import building_outlines
from sampling.scenario.loader import load_scenario
from solver.streets import street_pairs

GEO = Path(__file__).resolve().parents[2] / "shared" / "geo"
NANJING = GEO / "nanjing_xinjiekou_osm_bbox.osm.bz2"
needs_geo = pytest.mark.skipif(not NANJING.exists(), reason="shared/geo extracts not beside repo")
TOTAL = 60_000
_REF = re.compile(r"OSM ([wr]\d+)\)?$")


@pytest.fixture(scope="module")
def nanjing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImportSummary]:
    out = tmp_path_factory.mktemp("a") / "nanjing"
    return out, import_osm(NANJING, out, residents_total=TOTAL, seed=3)


@needs_geo
def test_import_is_deterministic(nanjing: tuple[Path, ImportSummary], tmp_path: Path) -> None:
    first, _ = nanjing
    again = tmp_path / "nanjing"
    import_osm(NANJING, again, residents_total=TOTAL, seed=3)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert "streets.osm.bz2" in names and "README.md" in names
    for name in names:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


@needs_geo
def test_residents_total_is_conserved(nanjing: tuple[Path, ImportSummary], tmp_path: Path) -> None:
    out, summary = nanjing
    buildings = pl.read_csv(out / "buildings.csv")
    assert int(buildings["residents"].sum()) == TOTAL == summary.residents
    assert (buildings["residents"] > 0).all()
    odd = import_osm(NANJING, tmp_path / "odd", residents_total=12_345, seed=3)
    assert int(pl.read_csv(tmp_path / "odd" / "buildings.csv")["residents"].sum()) == 12_345
    assert odd.residents == 12_345


def _non_residential_refs(extract: Path) -> set[str]:
    """Building areas the README's rule excludes, read independently of the importer."""
    refs = set()
    processor = osmium.FileProcessor(str(extract)).with_areas()
    for obj in processor:
        if not isinstance(obj, osmium.osm.Area) or "building" not in obj.tags:
            continue
        value = obj.tags["building"]
        tagged = any(key in obj.tags for key in NON_RESIDENTIAL_KEYS)
        if (value not in RESIDENTIAL_BUILDINGS and value != "yes") or (value == "yes" and tagged):
            refs.add(f"{'w' if obj.from_way() else 'r'}{obj.orig_id()}")
    return refs


@needs_geo
def test_no_non_residential_building_is_imported(nanjing: tuple[Path, ImportSummary]) -> None:
    out, summary = nanjing
    buildings = pl.read_csv(out / "buildings.csv")
    refs = set()
    for name in buildings["name"]:
        match = _REF.search(name)
        assert match, name
        refs.add(match.group(1))
    assert len(refs) == buildings.height
    excluded = _non_residential_refs(NANJING)
    assert len(excluded) > 100  # the extract has offices, schools, malls …
    assert not refs & excluded
    assert summary.skipped_tag == len(excluded)
    skipped = summary.skipped_tag + summary.skipped_site + summary.skipped_small
    assert summary.buildings + skipped + summary.skipped_empty == summary.buildings_seen


@needs_geo
def test_points_have_names_kinds_and_tables(nanjing: tuple[Path, ImportSummary]) -> None:
    out, _ = nanjing
    points = pl.read_csv(out / "points.csv")
    assert points.height > 10
    assert points["kind"].is_not_null().all() and points["name"].is_not_null().all()
    assert points["max_tables"].is_between(2, 10).all()
    assert set(points["kind"]) <= {
        "school",
        "campus",
        "playground",
        "square",
        "park",
        "pitch",
        "parking",
        "community_centre",
        "green",
    }
    assert "新街口广场" in set(points["name"])


@needs_geo
def test_output_loads_and_has_street_distances(nanjing: tuple[Path, ImportSummary]) -> None:
    out, summary = nanjing
    scenario = load_scenario(out)
    header = scenario.header
    assert header.distance == "street" and header.osm_extract == "streets.osm.bz2"
    assert header.coordinates == "wgs84"
    assert header.attribution is not None and "OpenStreetMap" in header.attribution
    assert scenario.residents == TOTAL
    assert scenario.grids is not None and scenario.grids.height == summary.grids
    households = scenario.buildings["residents"].sum() / 2.8
    assert 150 < households / scenario.grids.height < 600  # a few hundred households each
    assert scenario.home_visits.height == summary.home_visit_households > 0
    assert scenario.teams.filter(pl.col("home_visit")).height == summary.home_visit_teams
    assert all("synthetic" in name for name in scenario.teams["name"])
    samplers = scenario.teams.filter(~pl.col("home_visit"))["samplers"].sum()
    assert samplers >= TOTAL / 360

    graph = scenario_streets(scenario)
    assert graph.nodes == summary.street_nodes == len(read_streets(NANJING).node_id)
    bx, by = scenario.xy(scenario.buildings)
    px, py = scenario.xy(scenario.points)
    pairs, report = street_pairs(
        graph,
        np.column_stack([bx, by]),
        np.column_stack([px, py]),
        walk_limit_m=header.walking.limit_m,
    )
    assert len(np.unique(pairs.building)) == scenario.buildings.height
    assert np.all(pairs.walk_m >= pairs.straight_m)
    assert 1.0 < report.detour_median < 2.5
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in readme and "ODbL" in readme


_STREETS = (
    '<node id="1" lat="32.0000" lon="118.7800"/><node id="2" lat="32.0000" lon="118.7900"/>'
    '<node id="3" lat="32.0050" lon="118.7900"/>'
    '<way id="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>'
)


def _square(way: int, first: int, lat: float, lon: float, side: float, tags: str) -> str:
    """A closed square way of ``side`` degrees at (lat, lon) with its four nodes."""
    corners = [(lat, lon), (lat, lon + side), (lat + side, lon + side), (lat + side, lon)]
    nodes = "".join(
        f'<node id="{first + k}" lat="{a:.7f}" lon="{b:.7f}"/>' for k, (a, b) in enumerate(corners)
    )
    refs = "".join(f'<nd ref="{first + k}"/>' for k in (0, 1, 2, 3, 0))
    return f'{nodes}<way id="{way}">{refs}{tags}</way>'


def _extract(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tiny.osm"
    path.write_text(f'<?xml version="1.0"?><osm version="0.6">{body}</osm>', encoding="utf-8")
    return path


def test_tag_rules_on_a_tiny_extract(tmp_path: Path) -> None:
    tag = '<tag k="{}" v="{}"/>'.format
    body = _STREETS + "".join(
        [
            _square(10, 100, 32.0010, 118.7810, 0.0003, tag("building", "residential")),
            _square(11, 110, 32.0010, 118.7820, 0.0003, tag("building", "yes")),
            _square(12, 120, 32.0010, 118.7830, 0.0003, tag("building", "office")),
            _square(
                13, 130, 32.0010, 118.7840, 0.0003, tag("building", "yes") + tag("shop", "mall")
            ),
            _square(14, 140, 32.0010, 118.7850, 0.00004, tag("building", "yes")),  # ≈ 16 m²
            _square(
                15, 150, 32.0020, 118.7860, 0.0010, tag("amenity", "school") + tag("name", "小学")
            ),
            _square(16, 160, 32.0023, 118.7863, 0.0002, tag("building", "yes")),  # inside school
            _square(17, 170, 32.0010, 118.7880, 0.0004, tag("leisure", "playground")),
            _square(
                18,
                180,
                32.0010,
                118.7890,
                0.0003,
                tag("building", "yes") + tag("building:levels", "12"),
            ),
        ]
    )
    summary = import_osm(_extract(tmp_path, body), tmp_path / "out")
    buildings = pl.read_csv(tmp_path / "out" / "buildings.csv")
    refs = {_REF.search(n).group(1) for n in buildings["name"]}  # type: ignore[union-attr]
    assert refs == {"w10", "w11", "w18"}
    assert (summary.skipped_tag, summary.skipped_site, summary.skipped_small) == (2, 1, 1)
    by_ref = dict(zip(sorted(refs), buildings.sort("name")["residents"], strict=True))
    assert by_ref["w18"] == pytest.approx(2 * by_ref["w11"], rel=0.02)  # 12 levels vs default 6
    area = 0.0003 * 111_195 * 0.0003 * 111_195 * np.cos(np.radians(32.0025))
    assert by_ref["w10"] == pytest.approx(area * 6 / 36.5, abs=1)
    points = pl.read_csv(tmp_path / "out" / "points.csv")
    assert sorted(points["kind"]) == ["playground", "school"]
    assert "小学" in set(points["name"])


def test_bad_extracts_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OsmError, match="not found"):
        import_osm(tmp_path / "missing.osm.pbf", tmp_path / "a")
    empty = tmp_path / "empty.osm.bz2"
    empty.write_bytes(b"")
    with pytest.raises(OsmError, match="empty"):
        import_osm(empty, tmp_path / "b")
    with pytest.raises(OsmError, match="no walkable streets"):
        import_osm(_extract(tmp_path, ""), tmp_path / "c")
    with pytest.raises(OsmError, match="no residential buildings"):
        import_osm(_extract(tmp_path, _STREETS), tmp_path / "d")
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_cli_reports_a_bad_extract_as_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import-osm", str(tmp_path / "nothing.osm"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "OSM extract not found" in capsys.readouterr().err


@needs_geo
def test_refuses_to_overwrite(nanjing: tuple[Path, ImportSummary]) -> None:
    out, _ = nanjing
    with pytest.raises(OutputFolderError):
        import_osm(NANJING, out, residents_total=TOTAL, seed=3)


# --- building outlines for the map's base layer ----------------------------------------------


def _outline_ways(street_file: Path) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """The ways tagged ``building`` of a street file: tags and (lat, lon) of their nodes."""
    out = []
    processor = osmium.FileProcessor(str(street_file)).with_locations()
    for obj in processor.with_filter(osmium.filter.KeyFilter("building")):
        if isinstance(obj, osmium.osm.Way):
            tags = {t.k: t.v for t in obj.tags}
            out.append((tags, [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]))
    return out


def _source_outer_rings(extract: Path) -> list[tuple[str, list[tuple[float, float]]]]:
    """Every outer ring of every building area of ``extract``, read independently."""
    rings = []
    for obj in osmium.FileProcessor(str(extract)).with_areas():
        if isinstance(obj, osmium.osm.Area) and obj.tags.get("building", "no") != "no":
            rings.extend(
                (obj.tags["building"], [(n.lat, n.lon) for n in ring]) for ring in obj.outer_rings()
            )
    return rings


@needs_geo
def test_outlines_survive_import_scenario_and_map(nanjing: tuple[Path, ImportSummary]) -> None:
    """Every building of the extract (homes or not) reaches the map as one outline, simplified
    (a subset of its corners, fewer in all), while the street graph stays the extract's."""
    from maps import MapData, render_map
    from maps.basemap import OUTLINE
    from maps.layers import build_payload
    from maps.offline import check_offline
    from sampling.output.mapping import _basemap

    out, summary = nanjing
    written = _outline_ways(out / "streets.osm.bz2")
    source = _source_outer_rings(NANJING)
    assert summary.outlines == len(written) == len(source) > summary.buildings
    assert sorted(t["building"] for t, _ in written) == sorted(b for b, _ in source)
    corners = {(round(a, 7), round(b, 7)) for _, ring in source for a, b in ring}
    for _tags, ring in written:
        assert ring[0] == ring[-1] and len(set(ring)) >= 3  # closed, three corners at least
        assert {(round(a, 7), round(b, 7)) for a, b in ring} <= corners  # the source's corners
    assert sum(len(r) for _, r in written) < sum(len(r) for _, r in source)  # some dropped

    streets, again = read_streets(NANJING), read_streets(out / "streets.osm.bz2")
    for field in ("node_id", "lat", "lon", "u", "v", "length_m"):
        assert np.array_equal(getattr(streets, field), getattr(again, field)), field

    scenario = load_scenario(out)
    b = pl.concat([scenario.buildings.select("lat", "lon"), scenario.points.select("lat", "lon")])
    bounds = (b["lat"].min(), b["lon"].min(), b["lat"].max(), b["lon"].max())
    base = _basemap(scenario, bounds)  # type: ignore[arg-type]  # as the plan's map reads it
    assert base is not None and base.outlines == summary.outlines and base.outlines_dropped == 0
    unplanned = scenario.buildings.with_columns(  # the map of a scenario not yet planned
        pl.lit(None, pl.String).alias("point_id"),
        pl.lit(None, pl.Float64).alias("walk_m"),
        pl.lit("not_planned").alias("unserved_reason"),
    )
    points = scenario.points.with_columns(
        pl.lit(False).alias("open"),
        *(pl.lit(0).alias(c) for c in ("tables", "capacity", "load", "utilisation")),
    )
    data = MapData(unplanned, points)
    payload = build_payload(dataclasses.replace(data, base=base))
    drawn = [w for w in payload["base"]["ways"] if w[0] == OUTLINE]
    assert len(drawn) == summary.outlines
    html = render_map(dataclasses.replace(data, base=base))
    check_offline(html)  # one self-contained file
    bare = render_map(data)
    assert len(html) - len(bare) < 60 * (summary.outlines + base.streets)  # ≈ 55 bytes a way


def _footprint(ring: list[tuple[float, float]], building: str = "yes") -> Footprint:
    """A footprint with one outer ring (closed here)."""
    closed = np.asarray([*ring, ring[0]], dtype=np.float64)
    return Footprint("w1", 100.0, 0.0, 0.0, 6.0, "default", "yes", None, building, (closed,))


def test_outlines_are_simplified_within_a_metre() -> None:
    """A corner 0.3 m off a straight wall goes, a 3 m bay stays; the outline stays valid and
    within the tolerance of the footprint."""
    import shapely

    from sampling.scenario.model import project

    d = 1 / 111_195.0  # a metre of latitude, in degrees
    k = d / math.cos(math.radians(32.0))  # a metre of longitude
    ring = [(32.0, 118.78), (32.0, 118.78 + 10 * k), (32.0 + 0.3 * d, 118.78 + 20 * k)]
    ring += [(32.0, 118.78 + 30 * k), (32.0 + 20 * d, 118.78 + 30 * k)]
    ring += [(32.0 + 20 * d, 118.78 + 15 * k), (32.0 + 23 * d, 118.78 + 10 * k)]
    ring += [(32.0 + 20 * d, 118.78)]
    (outline,) = building_outlines([_footprint(ring, building="apartments")])
    assert outline.building == "apartments"
    kept = set(zip(np.round(outline.lat, 9), np.round(outline.lon, 9), strict=True))
    assert (round(32.0 + 0.3 * d, 9), round(118.78 + 20 * k, 9)) not in kept  # 0.3 m: dropped
    assert (round(32.0 + 23 * d, 9), round(118.78 + 10 * k, 9)) in kept  # the bay: kept
    assert len(outline.lat) == 7 and outline.lat[0] == outline.lat[-1]

    def polygon(lat: np.ndarray, lon: np.ndarray) -> shapely.Polygon:
        return shapely.Polygon(np.column_stack(project(lat, lon, 32.0, 118.78)))

    source = np.asarray([*ring, ring[0]])
    before, after = polygon(source[:, 0], source[:, 1]), polygon(outline.lat, outline.lon)
    assert after.is_valid and shapely.hausdorff_distance(before, after) <= 1.0 + 1e-6
    sliver = [(32.0, 118.78), (32.0 + 0.2 * d, 118.78 + 5 * k), (32.0, 118.78 + 10 * k)]
    assert len(building_outlines([_footprint(sliver)])) == 1  # never collapses to a line
    assert building_outlines([]) == ()


def test_outlines_reach_the_plan_map_with_names_escaped(tmp_path: Path) -> None:
    """A tiny extract through import, plan and map: every building (the office and the shed
    too) is drawn, the map is one offline file, and a name with markup stays text."""
    from maps.basemap import OUTLINE
    from maps.offline import check_offline
    from sampling.output.mapping import map_data
    from sampling.output.write import write_plan
    from sampling.stages.planning import plan_campaign

    evil = "<script>alert('x')</script> & \"楼\""
    tag = '<tag k="{}" v="{}"/>'.format
    name = tag("name", evil.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;"))
    body = _STREETS + "".join(
        [
            _square(10, 100, 32.0010, 118.7810, 0.0003, tag("building", "residential") + name),
            _square(11, 110, 32.0010, 118.7820, 0.0003, tag("building", "yes")),
            _square(12, 120, 32.0010, 118.7830, 0.0003, tag("building", "office")),
            _square(14, 140, 32.0010, 118.7850, 0.00004, tag("building", "shed")),
            _square(17, 170, 32.0010, 118.7880, 0.0004, tag("leisure", "playground")),
        ]
    )
    summary = import_osm(_extract(tmp_path, body), tmp_path / "s")
    assert summary.outlines == 4 and summary.buildings == 2
    written = _outline_ways(tmp_path / "s" / "streets.osm.bz2")
    assert sorted(t["building"] for t, _ in written) == ["office", "residential", "shed", "yes"]
    assert all(set(t) == {"building"} for t, _ in written)  # names stay in buildings.csv

    out = write_plan(plan_campaign(load_scenario(tmp_path / "s"), time_limit=2.0), tmp_path / "o")
    data = map_data(out, "en")
    assert data.base is not None and data.base.outlines == summary.outlines
    html = (out / "map.html").read_text(encoding="utf-8")
    check_offline(html)
    payload = json.loads(re.search(r"natplan\.make\.base\((\{.*?\})\)", html).group(1))  # type: ignore[union-attr]
    assert sum(w[0] == OUTLINE for w in payload["ways"]) == summary.outlines
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;楼&quot;" in html


def test_street_file_escapes_tags_and_drops_what_xml_cannot_hold(tmp_path: Path) -> None:
    """A tag from a ``.pbf`` may hold markup and control characters XML 1.0 cannot: the markup
    is escaped, the control characters dropped, so the street file always reads back."""
    extract = _extract(tmp_path, _STREETS)
    ring = [(32.001, 118.781), (32.001, 118.782), (32.002, 118.782)]
    outline = building_outlines([_footprint(ring, building="A\x01<B>\x0b&\"C'")])
    target = tmp_path / "streets.osm"
    write_street_file(read_streets(extract), target, outline)
    ((tags, corners),) = _outline_ways(target)
    assert tags == {"building": "A<B>&\"C'"} and len(corners) == 4
    assert np.array_equal(read_streets(target).node_id, read_streets(extract).node_id)
