"""The coverage map in a real (headless, offline) Chromium: no requests, no errors, all layers;
folded controls on a phone, open ones at a desk; popups that link to the documents.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``); Playwright
drives it through ``executable_path`` (no ``playwright install``). Skipped when chromium is
missing, unless the CI environment variable is set.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from maps import MapData, write_map
from maps.basemap import read_basemap
from maps.i18n import labels
from maps.render import LAYER_KEYS, SMALL_SCREEN_PX
from maps.synthetic import synthetic_map_data
from tests.test_map import _OSM, _changes, _transport

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


_ONLY_WITH = {"base", "changes", "transport"}
"""Layers drawn only when the map has their data (an OSM extract, a re-plan, transport)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "/usr/bin/chromium is missing: .ci/run must install chromium "
                "(apt-get install -y chromium) before the browser tests"
            )
        pytest.skip("/usr/bin/chromium not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def demo() -> MapData:
    return synthetic_map_data(200, 12, 8, 2, 10)


def _open(
    browser: Any, path: Path, width: int = 1280, height: int = 860
) -> tuple[Any, Any, list[str], list[str]]:
    ctx = browser.new_context(offline=True, viewport={"width": width, "height": height})
    page = ctx.new_page()
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith(("file:", "data:", "about:")) else external.append(r.url)
        ),
    )
    page.goto(path.resolve().as_uri(), wait_until="load", timeout=30_000)
    page.wait_for_function("window.natplan && window.natplan.ready === true", timeout=30_000)
    page.wait_for_timeout(300)  # let canvas layers paint
    return ctx, page, errors, external


def _png_colours(page: Any, png: bytes) -> int:
    """Distinct colours of a PNG, counted by the (offline) browser itself via a canvas."""
    return int(
        page.evaluate(
            """async (b64) => {
        const img = new Image();
        img.src = 'data:image/png;base64,' + b64;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size;
    }""",
            base64.b64encode(png).decode("ascii"),
        )
    )


def test_demo_map_offline_complete_and_drawn(browser: Any, demo: MapData, tmp_path: Path) -> None:
    path = tmp_path / "demo.html"
    write_map(demo, path)
    ctx, page, errors, external = _open(browser, path)
    try:
        assert external == [], f"external requests: {external}"
        assert errors == [], f"console errors: {errors}"

        b, pts = demo.buildings, demo.points
        assert demo.routes is not None
        n_open = int(pts["open"].sum())
        counts = page.evaluate("window.natplan.counts()")
        assert counts["points"] == n_open
        assert counts["closed"] == pts.height - n_open
        assert counts["buildings"] + counts["unserved"] == b.height
        assert counts["unserved"] == b["point_id"].null_count()
        assert counts["routes"] == demo.routes["team_id"].n_unique()
        assert counts["stops"] == demo.routes.height
        assert counts["grids"] == b["grid_id"].n_unique()
        assert counts["walk"] == n_open
        assert counts["heat"] == b.filter(pl.col("residents") > 0).height

        # SVG layers are real DOM paths; buildings/stops are on one canvas.
        dom = page.evaluate("""() => ({
            points: document.querySelectorAll('path.np-point').length,
            unserved: document.querySelectorAll('path.np-unserved').length,
            routes: document.querySelectorAll('path.np-route').length,
            catchments: document.querySelectorAll('path.np-catchment').length,
            canvases: document.querySelectorAll('.leaflet-overlay-pane canvas').length,
            onMap: Object.keys(natplan.layers).filter(k => natplan.map.hasLayer(natplan.layers[k])),
            control: Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
                .map(l => l.textContent.trim()),
            kpi: document.querySelector('.np-kpi').textContent,
            legend: document.querySelector('.np-legend').textContent,
        })""")
        assert dom["points"] == n_open
        assert dom["unserved"] == counts["unserved"]
        assert dom["routes"] == 0  # home-visit routes are off until asked for
        assert dom["catchments"] == counts["catchments"] > 0
        assert dom["canvases"] >= 1
        present = [k for k, _show in LAYER_KEYS if k not in _ONLY_WITH]  # none of them here
        shown = {k for k, show in LAYER_KEYS if show and k in present}
        assert set(dom["onMap"]) == shown
        assert "routes" not in shown and {"buildings", "unserved", "points"} <= shown

        lab = labels("zh")
        assert dom["control"] == [lab[k] for k in present]
        assert "覆盖率" in dom["kpi"] and "%" in dom["kpi"]
        assert lab["legend"] in dom["legend"]

        # toggling a hidden layer on works without errors
        page.evaluate(
            "natplan.map.addLayer(natplan.layers.heat); "
            "natplan.map.addLayer(natplan.layers.walk); "
            "natplan.map.addLayer(natplan.layers.routes); null"
        )
        assert (
            page.evaluate("document.querySelectorAll('path.np-route').length") == counts["routes"]
        )
        page.evaluate("natplan.map.setZoom(17, {animate: false}); null")
        page.wait_for_timeout(200)
        assert errors == []
        page.evaluate(
            "natplan.map.removeLayer(natplan.layers.heat); "
            "natplan.map.removeLayer(natplan.layers.walk); "
            "natplan.map.fitBounds(natplan.layers.buildings.getBounds(), {animate: false}); null"
        )
        page.wait_for_timeout(300)

        png = page.screenshot()
        if os.environ.get("NATPLAN_SCREENSHOT"):
            Path(os.environ["NATPLAN_SCREENSHOT"]).write_bytes(png)
        assert _png_colours(page, png) > 40, "screenshot looks blank"
    finally:
        ctx.close()


def test_english_map_labels(browser: Any, demo: MapData, tmp_path: Path) -> None:
    path = tmp_path / "demo_en.html"
    write_map(demo, path, lang="en")
    ctx, page, errors, external = _open(browser, path)
    try:
        assert external == [] and errors == []
        control = page.evaluate("""Array.from(document.querySelectorAll(
            '.leaflet-control-layers-overlays label')).map(l => l.textContent.trim())""")
        assert control == [labels("en")[k] for k, _show in LAYER_KEYS if k not in _ONLY_WITH]
    finally:
        ctx.close()


_PANELS = """() => {
    const ctl = document.querySelector('.leaflet-control-layers');
    const kpi = document.querySelector('details.np-kpi');
    const legend = document.querySelector('details.np-legend');
    const rect = kpi.getBoundingClientRect();
    return {
        collapsed: !ctl.classList.contains('leaflet-control-layers-expanded'),
        toggle: getComputedStyle(ctl.querySelector('.leaflet-control-layers-toggle')).display,
        kpiOpen: kpi.open, legendOpen: legend.open,
        kpiArea: rect.width * rect.height,
        scrollWidth: document.documentElement.scrollWidth,
        summary: kpi.querySelector('summary').textContent,
    };
}"""


def test_phone_folds_the_controls_and_a_desk_opens_them(
    browser: Any, demo: MapData, tmp_path: Path
) -> None:
    path = tmp_path / "phone.html"
    write_map(demo, path, lang="en")
    assert SMALL_SCREEN_PX > 390
    ctx, page, errors, external = _open(browser, path, 390, 844)
    try:
        assert external == [] and errors == []
        phone = page.evaluate(_PANELS)
        assert phone["collapsed"] and phone["toggle"] != "none"
        assert not phone["kpiOpen"] and not phone["legendOpen"]
        assert phone["kpiArea"] < 0.1 * 390 * 844  # a folded panel is one line
        assert phone["scrollWidth"] <= 390
        assert demo.title in phone["summary"]
        page.click("details.np-kpi > summary")  # one tap unfolds the figures
        assert page.evaluate("document.querySelector('details.np-kpi').open")
        assert "Coverage" in page.inner_text("details.np-kpi")
        box = page.locator(".leaflet-control-layers-toggle").bounding_box()
        assert box is not None and box["width"] > 0
        # Leaflet expands it on touch or hover (and the list then hides the toggle)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert page.evaluate(
            "document.querySelector('.leaflet-control-layers')"
            ".classList.contains('leaflet-control-layers-expanded')"
        )
        assert errors == []
    finally:
        ctx.close()
    ctx, page, errors, _external = _open(browser, path, 1280, 860)
    try:
        desk = page.evaluate(_PANELS)
        assert not desk["collapsed"] and desk["kpiOpen"] and desk["legendOpen"]
        page.click("details.np-legend > summary")  # foldable at a desk too
        assert not page.evaluate("document.querySelector('details.np-legend').open")
        assert errors == []
    finally:
        ctx.close()


def test_base_layer_from_an_extract_is_drawn(browser: Any, demo: MapData, tmp_path: Path) -> None:
    osm = tmp_path / "streets.osm"
    osm.write_text(_OSM, encoding="utf-8")
    base = read_basemap(osm, (30.5, 114.2, 30.7, 114.4))
    path = tmp_path / "base.html"
    write_map(MapData(demo.buildings, demo.points, base=base, attribution="© OSM"), path)
    ctx, page, errors, external = _open(browser, path)
    try:
        assert external == [] and errors == []
        assert page.evaluate("natplan.counts().base") == len(base.ways) == 3
        assert page.evaluate("natplan.map.hasLayer(natplan.layers.base)")
        assert page.evaluate("document.querySelectorAll('.leaflet-npBase-pane canvas').length") == 1
        assert "© OSM" in page.inner_text(".leaflet-control-attribution")
    finally:
        ctx.close()


def test_popups_open(browser: Any, demo: MapData, tmp_path: Path) -> None:
    path = tmp_path / "popups.html"
    write_map(demo, path)
    ctx, page, errors, _external = _open(browser, path)
    try:
        text = page.evaluate("""() => {
            const m = natplan.layers.points.getLayers().filter(l => l.getPopup())[0];
            m.openPopup();
            const last = () => Array.from(document.querySelectorAll('.leaflet-popup-content'))
                .map(e => e.textContent).pop();
            const a = last();
            natplan.map.closePopup();
            const b = natplan.layers.buildings.getLayers()[0];
            natplan.layers.buildings.fire('click', {layer: b, latlng: b.getLatLng()});
            const c = last();
            return [a, c];
        }""")
        assert "采样台" in text[0] and "利用率" in text[0] and "负荷" in text[0]
        assert "楼栋" in text[1] and "步行距离" in text[1]
        assert errors == []
    finally:
        ctx.close()


def test_demo_plan_map_from_the_pipeline(browser: Any, tmp_path: Path) -> None:
    """The map `make demo` produces (yuci-street): offline, error-free, every feature drawn."""
    from sampling import load_scenario
    from sampling.output.write import write_plan
    from sampling.stages.planning import plan_campaign

    root = Path(__file__).resolve().parents[1] / "scenarios" / "yuci-street"
    out = write_plan(plan_campaign(load_scenario(root), time_limit=3.0), tmp_path / "out")
    points = pl.read_parquet(out / "points.parquet")
    buildings = pl.read_parquet(out / "assignments.parquet").filter(pl.col("walk_in") > 0)
    routes = pl.read_parquet(out / "routes.parquet")
    ctx, page, errors, external = _open(browser, out / "map.html")
    try:
        assert external == [], f"external requests: {external}"
        assert errors == [], f"console errors: {errors}"
        counts = page.evaluate("window.natplan.counts()")
        assert counts["points"] == int(points["open"].sum())
        assert counts["buildings"] + counts["unserved"] == buildings.height
        assert counts["routes"] == routes.height > 0
        assert counts["stops"] == int(routes["stops"].sum()) + routes.height  # + origins
        control = page.evaluate("""Array.from(document.querySelectorAll(
            '.leaflet-control-layers-overlays label')).map(l => l.textContent.trim())""")
        drawn = [k for k, _show in LAYER_KEYS if k not in {"base", "changes"}]  # transport: yes
        assert control == [labels("zh")[k] for k in drawn]
        trips = pl.read_parquet(out / "transport_trips.parquet")
        assert counts["transport"] == trips.select("vehicle_id", "trip").n_unique() > 0
        assert counts["labs"] == trips.filter(pl.col("kind") == "unload")["lab_id"].n_unique()
        assert _png_colours(page, page.screenshot()) > 40, "screenshot looks blank"
        links = page.evaluate("""() => {
            const last = () => Array.from(
                document.querySelectorAll('.leaflet-popup-content')).pop();
            const hrefs = () => Array.from(last().querySelectorAll('a'))
                .map(a => a.getAttribute('href'));
            natplan.layers.points.getLayers().filter(l => l.getPopup())[0].openPopup();
            const point = hrefs();
            natplan.map.closePopup();
            const b = natplan.layers.buildings.getLayers()[0];
            natplan.layers.buildings.fire('click', {layer: b, latlng: b.getLatLng()});
            const building = hrefs();
            return {point, building, text: last().textContent};
        }""")
        assert [h.split("/")[0] for h in links["point"]] == ["points"]
        assert sorted(h.split("/")[0] for h in links["building"]) == ["grids", "points"]
        for href in links["point"] + links["building"]:
            assert (out / href).is_file(), href
        assert "呼叫时间" in links["text"] and "号楼" in links["text"]  # call time, name
    finally:
        ctx.close()


_TOGGLE = """(name) => {
    const label = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
        .find(l => l.textContent.trim() === name);
    label.querySelector('input').click();
    return natplan.map.hasLayer(natplan.layers.transport);
}"""


def test_transport_layer_and_changes_drawn_and_toggled(
    browser: Any, demo: MapData, tmp_path: Path
) -> None:
    """Changed buildings are drawn; the transport layer starts off (like the home-visit routes),
    its checkbox in the layer control draws the trips and labs and takes them away again."""
    trips, labs = _transport(demo)
    data = dataclasses.replace(demo, trips=trips, labs=labs, changes=_changes(demo))
    path = tmp_path / "transport.html"
    write_map(data, path, lang="en")
    name = labels("en")["transport"]
    ctx, page, errors, external = _open(browser, path)
    try:
        assert external == [] and errors == []
        counts = page.evaluate("natplan.counts()")
        assert counts["transport"] == trips.height and counts["labs"] == 1
        assert counts["changes"] == 4
        assert page.evaluate("document.querySelectorAll('path.np-trip').length") == 0
        assert page.evaluate(_TOGGLE, name) is True  # ticked: drawn
        dom = page.evaluate("""() => ({
            trips: document.querySelectorAll('path.np-trip').length,
            labs: document.querySelectorAll('.np-lab-icon .np-lab').length,
            changed: document.querySelectorAll('path.np-changed').length,
            legend: document.querySelector('.np-legend').textContent,
        })""")
        assert (dom["trips"], dom["labs"], dom["changed"]) == (trips.height, 1, 4)
        for key in ("trip_legend", "lab_legend", "change_legend"):
            assert labels("en")[key] in dom["legend"]
        page.evaluate(
            "natplan.layers.transport.getLayers().filter(l => l.getIcon)[0].openPopup(); null"
        )
        popup = page.inner_text(".leaflet-popup-content")
        assert "Lab L01" in popup and "476 tubes at 11:00" in popup
        moved = page.evaluate("""() => {
            const g = natplan.layers.buildings;
            const b = g.getLayers().find(l => l._npIndex === 0);
            g.fire('click', {layer: b, latlng: b.getLatLng()});
            return Array.from(document.querySelectorAll('.leaflet-popup-content')).pop().innerText;
        }""")
        assert "Change: moved from P01 to P03 · call 09:10 → 10:40" in moved
        assert page.evaluate(_TOGGLE, name) is False  # unticked: gone again
        dom = page.evaluate("""() => [document.querySelectorAll('path.np-trip').length,
            document.querySelectorAll('.np-lab-icon').length]""")
        assert dom == [0, 0]
        assert errors == []
    finally:
        ctx.close()
    ctx, page, errors, _external = _open(browser, path, 390, 844)
    try:
        assert not page.evaluate("natplan.map.hasLayer(natplan.layers.transport)")
        assert page.evaluate("natplan.map.hasLayer(natplan.layers.changes)")
        assert page.evaluate(_TOGGLE, name) is True  # one tap away on a phone
        assert errors == []
    finally:
        ctx.close()
