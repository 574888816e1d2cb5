"""``map.html`` of a city: one offline map with each district's outline, coloured by its
coverage, its last swab after the window, or its deficit, and linking to its own map.

The outline is the concave hull of the district's buildings (``assignments.parquet``;
shapely's ``concave_hull``, simplified to a few metres), so neighbouring districts keep their
own shapes instead of overlapping as convex hulls do. Three exclusive layers colour the same
outlines by one figure each; a click opens a popup with the district's figures (alerts worded
as on the district's map) and links to its ``map.html`` and ``index.html``. The page
is made self-contained with the vendored assets of :mod:`maps.offline` (no CDN, no tiles
unless the districts name an office tile server); every text is escaped before it reaches
Leaflet, which shows popups and tooltips as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import numpy as np
import polars as pl
import shapely
from branca.element import Element
from markupsafe import escape

from maps.offline import check_offline, inline_assets
from sampling.city.labels import city_labels
from sampling.city.outputs import alert_lines, parse_alerts
from sampling.documents.html import environment, fmt_int, fmt_pct
from sampling.files.names import href

GREEN, YELLOW, ORANGE, RED, GREY = "#1a9850", "#d9c621", "#f46d43", "#b2182b", "#8c8c8c"

COVERAGE_STEPS = ((0.995, GREEN), (0.98, YELLOW), (0.95, ORANGE))
"""Coverage at or above each share gets its colour; below the last, red."""
FINISH_STEPS = ((0, GREEN), (30, YELLOW), (90, ORANGE))
"""Minutes of the last swab after the window end, at most each value; beyond, red."""
DEFICIT_STEPS = ((0.0, GREEN), (0.01, YELLOW), (0.05, ORANGE))
"""Deficit as a share of walk-in residents, at most each value; beyond, red."""

LAYERS = ("coverage", "finish", "deficit")

_POPUP = environment().from_string(
    "<b>{{ name }}</b><br>{{ lab.coverage }}: {{ coverage }}<br>{{ lab.finish }}: {{ finish }}"
    "<br>{{ lab.deficit }}: {{ deficit }}<br>{{ lab.alerts }}: {{ alerts or lab.none }}"
    '<br><a href="{{ map_href }}" target="_blank">{{ lab.open_map }}</a>'
    ' · <a href="{{ index_href }}" target="_blank">{{ lab.open_index }}</a>'
)
_LEGEND = environment().from_string(
    '<div style="position:fixed;top:84px;left:10px;z-index:1000;background:#fff;'
    'padding:6px 9px;border:1px solid #999;font:12px sans-serif;max-width:60vw">'
    "<b>{{ lab.legend_title }}</b>{% for title, items in layers %}<div><i>{{ title }}</i>"
    '{% for colour, text in items %}<br><span style="display:inline-block;width:10px;'
    'height:10px;background:{{ colour }}"></span> {{ text }}{% endfor %}</div>{% endfor %}'
    "</div>"
)


HULL_RATIO = 0.3
"""``concave_hull`` ratio: 1 is the convex hull, 0 the tightest. With 0.3, the Nanjing
scenario's buildings split in two along a wavy border give outlines overlapping by 1.2 % of
the smaller one (convex hulls: 39 %), with about 25 corners each."""
SIMPLIFY_M = 5.0
"""Outline simplification tolerance (metres): a few vertices per street front."""
_M_PER_DEG = 111_320.0


def outline(lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any]) -> list[tuple[float, float]]:
    """The concave hull of the buildings as (lat, lon) corners; a small box around one place
    or a line of buildings. The hull is taken in metres (longitude scaled by the cosine of the
    latitude) so its ratio means the same at every latitude."""
    if len(lat) == 0:
        return []
    lat0, lon0 = float(np.mean(lat)), float(lon[0])
    kx = _M_PER_DEG * max(0.1, float(np.cos(np.radians(lat0))))
    xy = np.column_stack([(np.asarray(lon) - lon0) * kx, (np.asarray(lat) - lat0) * _M_PER_DEG])
    hull = shapely.concave_hull(shapely.multipoints(xy), ratio=HULL_RATIO)
    if isinstance(hull, shapely.Polygon) and hull.area > 0:
        ring = shapely.get_coordinates(hull.exterior.simplify(SIMPLIFY_M))[:-1]
    else:  # one building, or all on a line
        pad = 0.001 * _M_PER_DEG
        lo, hi = xy.min(axis=0) - pad, xy.max(axis=0) + pad
        ring = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    return [(y / _M_PER_DEG + lat0, x / kx + lon0) for x, y in ring.tolist()]


def coverage_colour(coverage: float | None) -> str:
    """Colour of a district's coverage (grey when unknown)."""
    if coverage is None:
        return GREY
    return next((c for limit, c in COVERAGE_STEPS if coverage >= limit), RED)


def finish_colour(minutes_after: int | None) -> str:
    """Colour of a district's last swab, in minutes after the window end."""
    if minutes_after is None:
        return GREY
    return next((c for limit, c in FINISH_STEPS if minutes_after <= limit), RED)


def deficit_colour(deficit: int | None, walk_in: int | None) -> str:
    """Colour of a district's deficit as a share of its walk-in residents."""
    if deficit is None or not walk_in:
        return GREY
    share = deficit / walk_in
    return next((c for limit, c in DEFICIT_STEPS if share <= limit), RED)


def _legend(lang: str) -> list[tuple[str, list[tuple[str, str]]]]:
    lab = city_labels(lang)
    return [
        (
            lab.layer_coverage,
            [(c, f"≥ {limit * 100:g}%") for limit, c in COVERAGE_STEPS]
            + [(RED, f"< {COVERAGE_STEPS[-1][0] * 100:g}%")],
        ),
        (
            lab.layer_finish,
            [(c, f"≤ {limit} min") for limit, c in FINISH_STEPS]
            + [(RED, f"> {FINISH_STEPS[-1][0]} min")],
        ),
        (
            lab.layer_deficit,
            [(c, f"≤ {limit * 100:g}%") for limit, c in DEFICIT_STEPS]
            + [(RED, f"> {DEFICIT_STEPS[-1][0] * 100:g}%")],
        ),
    ]


def render_city_map(
    out: Path, rows: Sequence[Mapping[str, Any]], *, lang: str, tile_url: str | None = None
) -> str:
    """The city map's HTML from the planned districts' rows (``districts.parquet``)."""
    lab = city_labels(lang)
    shapes: list[tuple[Mapping[str, Any], list[tuple[float, float]]]] = []
    for row in rows:
        if row.get("status") == "failed" or not row.get("index"):
            continue
        table = out / str(row["district"]) / "assignments.parquet"
        coords = pl.read_parquet(table, columns=["lat", "lon"]).drop_nulls()
        corners = outline(coords["lat"].to_numpy(), coords["lon"].to_numpy())
        if corners:
            shapes.append((row, corners))
    all_corners = [c for _, corners in shapes for c in corners] or [(0.0, 0.0)]
    lats = [c[0] for c in all_corners]
    lons = [c[1] for c in all_corners]
    m = folium.Map(
        location=[(min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2],
        zoom_start=11,
        tiles=None,
        max_zoom=19,
        control_scale=True,
    )
    if tile_url:
        folium.TileLayer(
            tiles=tile_url, attr=" ", name="tiles", overlay=False, control=False
        ).add_to(m)
    titles = {
        "coverage": lab.layer_coverage,
        "finish": lab.layer_finish,
        "deficit": lab.layer_deficit,
    }
    for k, layer in enumerate(LAYERS):
        group = folium.FeatureGroup(name=str(escape(titles[layer])), overlay=False, show=k == 0)
        for row, corners in shapes:
            colour = {
                "coverage": coverage_colour(row.get("coverage")),
                "finish": finish_colour(row.get("finish_after_window_min")),
                "deficit": deficit_colour(
                    row.get("capacity_deficit_residents"), row.get("residents_walk_in")
                ),
            }[layer]
            popup = _POPUP.render(
                lab=lab,
                name=row["district"],
                coverage=fmt_pct(row.get("coverage")),
                finish=row.get("finish_time") or "",
                deficit=fmt_int(row.get("capacity_deficit_residents")),
                alerts=" · ".join(alert_lines(parse_alerts(row.get("alerts")), lang)),
                map_href=href(str(row["map"])),
                index_href=href(str(row["index"])),
            )
            folium.Polygon(
                locations=corners,
                color=colour,
                weight=2,
                fill=True,
                fill_color=colour,
                fill_opacity=0.45,
                tooltip=folium.Tooltip(str(escape(row["district"]))),
                popup=folium.Popup(popup, max_width=320),
            ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    root: Any = m.get_root()
    root.html.add_child(Element(str(_LEGEND.render(lab=lab, layers=_legend(lang)))))
    root.title = str(escape(lab.city_map))
    m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    html = inline_assets(root.render())
    check_offline(html, allowed=(tile_url,) if tile_url else ())
    return html
