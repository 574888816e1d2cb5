"""The coverage map in a real (headless, offline) Chromium: no requests, no errors, all layers.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``); Playwright
drives it through ``executable_path`` (no ``playwright install``). Skipped when chromium is
missing, unless the CI environment variable is set.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from maps import MapData, write_map
from maps.i18n import labels
from maps.render import LAYER_KEYS
from maps.synthetic import synthetic_map_data

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


def _open(browser: Any, path: Path) -> tuple[Any, Any, list[str], list[str]]:
    ctx = browser.new_context(offline=True, viewport={"width": 1280, "height": 860})
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
        assert dom["routes"] == counts["routes"]
        assert dom["catchments"] == counts["catchments"] > 0
        assert dom["canvases"] >= 1
        shown = {k for k, show in LAYER_KEYS if show}
        assert set(dom["onMap"]) == shown

        lab = labels("zh")
        assert dom["control"] == [lab[k] for k, _show in LAYER_KEYS]
        assert "覆盖率" in dom["kpi"] and "%" in dom["kpi"]
        assert lab["legend"] in dom["legend"]

        # toggling a hidden layer on works without errors
        page.evaluate(
            "natplan.map.addLayer(natplan.layers.heat); "
            "natplan.map.addLayer(natplan.layers.walk); null"
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
        assert control == [labels("en")[k] for k, _show in LAYER_KEYS]
    finally:
        ctx.close()


def test_popups_open(browser: Any, demo: MapData, tmp_path: Path) -> None:
    path = tmp_path / "popups.html"
    write_map(demo, path)
    ctx, page, errors, _external = _open(browser, path)
    try:
        text = page.evaluate("""() => {
            const m = natplan.layers.points.getLayers()[0];
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
        assert "采样台" in text[0] and "利用率" in text[0]
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
        assert control == [labels("zh")[k] for k, _show in LAYER_KEYS]
        assert _png_colours(page, page.screenshot()) > 40, "screenshot looks blank"
    finally:
        ctx.close()
