"""Scale benchmark of the coverage map: a ~1,000,000-resident district.

Builds synthetic MapData (12,000 buildings, 1,200 candidate points of which 400 open,
200 home-visit routes with 7,000 stops), renders it, and prints the HTML size, the build time
and — when /usr/bin/chromium and Playwright are available — the load time in headless
Chromium (offline context; until ``window.natplan.ready``), the console errors and any external
requests. Exit status 1 if a target is missed (≤ 15 MB, build ≤ 10 s, load ≤ 5 s, no errors).

With ``--base EXTRACT`` the map also carries a base layer of streets and building outlines
read from that OSM extract (:func:`maps.basemap.read_basemap`), laid out in as many copies as
the district needs: one copy per ``--base-residents`` residents (60,000 for central Nanjing,
``../shared/geo/nanjing_xinjiekou_osm_bbox.osm.bz2``: 384 streets, 1,270 outlines drawn from
the raw extract; the ``streets.osm.bz2`` of its ``natplan import-osm`` scenario: 312 walkable
streets, 1,277 outlines), so the size is measured at the real density of a Chinese city
centre, not guessed. The map's outline budget (:func:`maps.basemap.limit_outlines`) applies to
the whole tiled layer, as it would to one large extract; a smaller ``--base-residents`` (say
5,000: a district of houses) shows it at work.

    .venv/bin/python bench/map_scale.py [--buildings N] [--out PATH]
    .venv/bin/python bench/map_scale.py --base ../shared/geo/nanjing_xinjiekou_osm_bbox.osm.bz2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from maps import MapData, write_map
from maps.basemap import OUTLINE, BaseMap, limit_outlines, read_basemap
from maps.synthetic import synthetic_map_data

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def load_seconds(path: Path) -> tuple[float, list[str], list[str], dict[str, int]]:
    """(seconds to natplan.ready, console errors, external requests, layer counts)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(
                offline=True, viewport={"width": 1400, "height": 900}
            ).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(("file:", "data:", "about:"))
                    else external.append(r.url)
                ),
            )
            t0 = time.perf_counter()
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=60_000)
            page.wait_for_function(
                "window.natplan && window.natplan.ready === true", timeout=60_000
            )
            seconds = time.perf_counter() - t0
            counts = page.evaluate("window.natplan.counts()")
        finally:
            browser.close()
    return seconds, errors, external, counts


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=12_000)
    ap.add_argument("--candidates", type=int, default=1_200)
    ap.add_argument("--open", type=int, default=400)
    ap.add_argument("--teams", type=int, default=200)
    ap.add_argument("--stops", type=int, default=35, help="stops per team")
    ap.add_argument("--out", type=Path, default=None, help="keep the HTML here")
    ap.add_argument("--base", type=Path, default=None, help="OSM extract for the base layer")
    ap.add_argument(
        "--base-residents", type=int, default=60_000, help="residents one copy of it holds"
    )
    a = ap.parse_args()

    data = synthetic_map_data(
        a.buildings,
        a.candidates,
        a.open,
        a.teams,
        a.stops,
        n_grids=max(4, a.buildings // 30),
        seed=1,
    )
    residents = int(data.buildings["residents"].sum())
    if a.base is not None:
        copies = math.ceil(residents / a.base_residents)
        data = dataclasses.replace(data, base=tiled_base(a.base, copies, data))
        assert data.base is not None
        size = len(json.dumps([list(w) for w in data.base.ways], separators=(",", ":")))
        outlines = [list(w) for w in data.base.ways if w[0] == OUTLINE]
        outline_size = len(json.dumps(outlines, separators=(",", ":")))
        print(
            f"base: {copies} copies of {a.base.name} ({a.base_residents:,} residents each): "
            f"{data.base.streets:,} streets, {data.base.outlines:,} outlines "
            f"({data.base.outlines_dropped:,} left out by the size budget), "
            f"{size / 1e6:.2f} MB of layer data ({outline_size / 1e6:.2f} MB outlines)"
        )
    with tempfile.TemporaryDirectory(prefix="natplan-map-") as tmp:
        return _run(a, data, residents, a.out or Path(tmp) / "map.html")


def tiled_base(path: Path, copies: int, data: MapData) -> BaseMap:
    """``copies`` copies of the extract's base layer side by side, centred on the district."""
    one = read_basemap(path, (-90.0, -180.0, 90.0, 180.0), margin_m=0)
    lat = [w[1] for w in one.ways]
    lon = [w[2] for w in one.ways]
    height, width = max(lat) - min(lat), max(lon) - min(lon)  # 1e-5 degree units
    side = math.ceil(math.sqrt(copies))
    centre = data.buildings.select("lat", "lon").mean().row(0)
    lat0 = round(centre[0] * 1e5 - side * height / 2 - min(lat))
    lon0 = round(centre[1] * 1e5 - side * width / 2 - min(lon))
    ways = []
    for k in range(copies):
        dy, dx = lat0 + (k // side) * height, lon0 + (k % side) * width
        ways += [(w[0], w[1] + dy, w[2] + dx, *w[3:]) for w in one.ways]
    ways.sort(key=lambda w: -w[0])  # outlines first, main roads last, as read_basemap orders
    return limit_outlines(BaseMap(tuple(ways), one.streets * copies, one.outlines * copies))


def _run(a: argparse.Namespace, data: MapData, residents: int, out: Path) -> int:
    t0 = time.perf_counter()
    write_map(data, out)
    build = time.perf_counter() - t0
    size_mb = out.stat().st_size / 1e6
    print(
        f"buildings={a.buildings} residents={residents:,} candidates={a.candidates} "
        f"open={a.open} routes={a.teams} stops={a.teams * a.stops}"
    )
    print(f"html_mb={size_mb:.2f} build_s={build:.2f}" + (f" path={out}" if a.out else ""))
    ok = size_mb <= 15 and build <= 10
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM):
        load, errors, external, counts = load_seconds(out)
        print(f"load_s={load:.2f} console_errors={len(errors)} external_requests={len(external)}")
        print(f"counts={counts}")
        for e in errors[:5]:
            print("  error:", e)
        ok = ok and load <= 5 and not errors and not external
    else:
        print("load_s=n/a (no /usr/bin/chromium)")
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
