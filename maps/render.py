"""Render :class:`~maps.model.MapData` to one self-contained (offline) HTML file with folium."""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template
from folium.utilities import JsCode
from markupsafe import Markup

from maps.basemap import KINDS
from maps.i18n import format_kpi, labels
from maps.layers import (
    CHANGE_COLOUR,
    LAB_COLOUR,
    PALETTE,
    UNSERVED_COLOUR,
    build_payload,
    html_fill,
)
from maps.model import MapData
from maps.offline import check_offline, inline_assets

__all__ = ["KPI_LEVELS", "LAYER_KEYS", "SMALL_SCREEN_PX", "render_map", "write_map"]

# Layer keys in drawing order, and whether each is shown when the page opens: the catchments
# (buildings in their point's colour, hull outlines), the points and what needs attention
# (unserved buildings; late points are ringed). Routes, density, grids, walking circles and
# unused candidates are a click away in the layer control. A re-plan's changed buildings are
# shown when the plan has them; the transport of tubes (vehicle trips, labs) is a click away like
# the home-visit routes: a district's hundreds of trips would hide its catchments.
LAYER_KEYS: tuple[tuple[str, bool], ...] = (
    ("base", True),
    ("heat", False),
    ("grids", False),
    ("walk", False),
    ("catchments", True),
    ("closed", False),
    ("buildings", True),
    ("unserved", True),
    ("changes", True),
    ("routes", False),
    ("transport", False),
    ("points", True),
)
SMALL_SCREEN_PX = 700
"""Below this window width the layer control starts collapsed and the panels folded."""
KPI_LEVELS: dict[str, int] = {
    "residents_walk_in": 1,
    "residents_assigned": 2,
    "residents_unserved": 2,
    "residents_home_visit": 1,
    "tubes_late": 1,
    **{
        f"changes_{kind}": 1
        for kind in (
            "building_moved",
            "building_unserved",
            "building_sealed",
            "call_moved",
            "team_moved",
            "team_shift",
            "team_removed",
            "team_added",
            "household_moved",
            "household_added",
            "household_removed",
        )
    },
}
"""KPI rows shown indented as parts of the row above (the parts add up to it)."""
_BASE_STYLE = (  # legend swatches of the base kinds, as natplan.js draws them
    "height:3px;background:#b3ab9b",
    "height:2px;background:#cbc4b6",
    "height:0;border-top:1px dashed #b9b2a4",
    "background:#e4dfd5;border:1px solid #c9c2b4",
)
_HEAT_CDN = "https://cdn.jsdelivr.net/npm/leaflet.heat@0.2.0/dist/leaflet-heat.js"


def _js_json(value: Any) -> str:
    """JSON safe to embed in a <script> (no '<', so no '</script>' or '<!--')."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class _DataLayer(JSCSSMixin, Layer):  # type: ignore[misc]
    """An overlay built in the browser by ``natplan.make[kind](data)`` (see natplan.js)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = natplan.make.{{ this.kind }}({{ this.data }});
        natplan.register({{ this.kind|tojson }}, {{ this.get_name() }}, {{ this.layer_name|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, kind: str, data: Any, name: str, show: bool) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "NatplanLayer"
        self.kind = kind
        self.data = _js_json(data)
        self.default_js = [("leaflet-heat.js", _HEAT_CDN)] if kind == "heat" else []
        self.default_css = []


class _Script(MacroElement):  # type: ignore[misc]
    """A raw script snippet placed in the map's script section, in insertion order."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "NatplanScript"
        self.code = code


def _runtime_js() -> str:
    js_file = resources.files("maps").joinpath("assets", "natplan", "natplan.js")
    js = js_file.read_text(encoding="utf-8")
    return js.replace("</script", "<\\/script")


_CSS = """
.leaflet-container { background: #f4f3ef; font-family: system-ui, "PingFang SC",
  "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
.np-panel { background: rgba(255,255,255,.94); padding: 6px 10px; border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0,0,0,.35); font-size: 12px; line-height: 1.45; color: #222;
  max-width: min(300px, calc(100vw - 80px)); }
.np-panel > summary { cursor: pointer; font-size: 14px; font-weight: 600; padding: 2px 0;
  list-style-position: inside; }
.np-panel:not([open]) { padding: 4px 8px; }
.np-badge { color: #fff; background: #b2182b; border-radius: 8px; padding: 0 6px;
  font-size: 12px; margin-left: 4px; }
.np-body { max-height: 50vh; overflow-y: auto; }
.np-legend .np-body { max-height: 38vh; }
.np-kpi .np-l1 th { padding-left: 12px; }
.np-kpi .np-l2 th { padding-left: 24px; }
.np-note { margin: 4px 0 0; color: #444; max-width: 280px; }
.np-link { margin-top: 4px; }
.np-link a { font-weight: 600; }
.leaflet-tooltip.np-point-label { padding: 0 3px; font-size: 11px; font-weight: 600;
  background: rgba(255,255,255,.85); border: 0; box-shadow: none; }
.leaflet-tooltip.np-point-label:before { display: none; }
.np-panel h5 { margin: 6px 0 2px; font-size: 12px; font-weight: 600; color: #444; }
.np-kpi table { border-collapse: collapse; }
.np-kpi th { text-align: left; font-weight: normal; color: #555; padding: 1px 10px 1px 0; }
.np-kpi td { text-align: right; font-weight: 600; padding: 1px 0; }
.np-legend .np-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.np-sw { display: inline-block; width: 12px; height: 12px; flex: none; }
.np-dot { border-radius: 50%; border: 2px solid #555; }
.np-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 4px; vertical-align: middle; }
.leaflet-popup-content { font-size: 13px; line-height: 1.4; margin: 10px 14px; }
.np-tbl th { text-align: left; font-weight: normal; color: #555; padding-right: 10px; }
.np-tbl td { font-weight: 600; }
.np-reason { color: #b2182b; }
.np-alert { color: #b2182b; }
ul.np-alert { margin: 0 0 4px; padding-left: 16px; max-width: 280px; font-weight: 600; }
.leaflet-tooltip.np-stop-label { padding: 0 2px; font-size: 10px; font-weight: 600;
  background: rgba(255,255,255,.8); border: 0; box-shadow: none; }
.leaflet-tooltip.np-stop-label:before { display: none; }
.np-lab { width: 12px; height: 12px; margin: 2px; background: LABC; border: 2px solid #fff;
  box-shadow: 0 0 0 1px LABC; transform: rotate(45deg); box-sizing: border-box; }
.np-sw.np-lab { width: 11px; height: 11px; margin: 0 1px; }
.np-change { color: #111; font-weight: 600; margin-top: 2px; }
.np-heat { width: 60px; height: 10px;
  background: linear-gradient(to right, blue, cyan, lime, yellow, red); }
""".replace("LABC", LAB_COLOUR)


def _join(parts: list[Markup]) -> Markup:
    """Markup pieces (each from :func:`html_fill`) as one."""
    return Markup("".join(parts))


def _kpi_html(data: MapData, lang: str) -> tuple[str, str]:
    """The KPI panel: its summary line (title, number of alerts) and its body (the alerts in
    red, the figures in plain words with their parts indented, then the notes)."""
    lab = labels(lang)
    summary = html_fill("{}", data.title or lab["kpis"])
    if data.alerts:
        summary += html_fill(
            "<span class='np-badge' title='{}'>⚠ {}</span>", lab["alerts"], len(data.alerts)
        )
    parts: list[Markup] = []
    if data.alerts:
        items = _join([html_fill("<li>{}</li>", text) for text in data.alerts])
        parts.append(html_fill("<ul class='np-alert' title='{}'>{}</ul>", lab["alerts"], items))
    rows = _join(
        [
            html_fill(
                "<tr class='np-l{}'><th>{}</th><td>{}</td></tr>",
                KPI_LEVELS.get(key, 0),
                *format_kpi(key, value, lang),
            )
            for key, value in data.kpis.items()
        ]
    )
    parts.append(html_fill("<table>{}</table>", rows))
    parts += [html_fill("<p class='np-note'>{}</p>", note) for note in data.notes]
    return str(summary), str(_join(parts))


def _legend_html(payload: dict[str, Any], lang: str, names: dict[str, str]) -> str:
    """The legend: every symbol the map draws, by layer."""
    lab = labels(lang)
    row = "<div class='np-row'>{}{}</div>"
    dot = "<span class='np-sw np-dot' style='background:{};border-color:#fff;{}'></span>"
    line = "<span class='np-sw' style='{}'></span>"
    outline = "<span class='np-sw' style='border:2px {} {};{}'></span>"
    ring = "<span class='np-sw np-dot' style='background:{};border:{}'></span>"
    small = "<span class='np-sw np-dot' style='background:{};border:0;width:9px;height:9px'></span>"
    closed = "<span class='np-sw np-dot' style='background:#fff;border:1px solid #9e9e9e'></span>"
    parts = [
        html_fill("<h5>{}</h5>", names["points"]),
        html_fill(row, html_fill(dot, PALETTE[0], ""), lab["building_note"]),
        html_fill(row, html_fill(dot, PALETTE[2], "width:16px;height:16px"), lab["size_note"]),
        html_fill(row, html_fill(ring, PALETTE[0], "3px solid #d62728"), lab["late_ring"]),
        html_fill(row, html_fill(ring, PALETTE[0], "2px dashed #67000d"), lab["deficit_ring"]),
        html_fill(row, Markup(closed), lab["closed_legend"]),
        html_fill("<h5>{}</h5>", names["buildings"]),
        html_fill(row, _join([html_fill(small, c) for c in PALETTE[:6]]), ""),
        html_fill(
            row,
            html_fill(ring, "#000", f"2px solid {UNSERVED_COLOUR}"),
            names["unserved"],
        ),
        html_fill(row, html_fill(outline, "solid", PALETTE[0], ""), names["catchments"]),
    ]
    if "sug" in payload["unserved"]:
        parts.append(
            html_fill(
                row,
                html_fill(ring, "#fff", f"3px solid {UNSERVED_COLOUR}"),
                lab["suggested_legend"],
            )
        )
    if "changes" in payload:
        parts.append(html_fill("<h5>{}</h5>", names["changes"]))
        parts.append(
            html_fill(
                row,
                html_fill(ring, "transparent", f"2px dashed {CHANGE_COLOUR}"),
                lab["change_legend"],
            )
        )
    parts += [
        html_fill("<h5>{}</h5>", names["routes"]),
        html_fill(row, html_fill(line, f"height:3px;background:{PALETTE[3]}"), names["routes"]),
        html_fill(row, html_fill(ring, "#fff", f"2px solid {PALETTE[3]}"), lab["stop_legend"]),
        html_fill(
            row, html_fill(ring, PALETTE[3], f"2px solid {PALETTE[3]}"), lab["origin_legend"]
        ),
    ]
    if "transport" in payload:
        trip = "<span class='np-sw' style='height:{}px;background:{};opacity:.75'></span>"
        widths = _join(
            [html_fill(trip, w, c) for w, c in zip((1.5, 3, 4.5, 6), PALETTE[:4], strict=True)]
        )
        parts += [
            html_fill("<h5>{}</h5>", names["transport"]),
            html_fill(row, widths, lab["trip_legend"]),
            html_fill(row, Markup("<span class='np-sw np-lab'></span>"), lab["lab_legend"]),
        ]
    parts += [
        html_fill("<h5>&nbsp;</h5>"),
        html_fill(row, html_fill(outline, "dashed", "#2166ac", "border-radius:50%"), names["walk"]),
        html_fill(row, html_fill(outline, "dashed", "#444", ""), names["grids"]),
        html_fill(row, Markup("<span class='np-sw np-heat'></span>"), names["heat"]),
    ]
    if "base" in payload:
        parts.append(html_fill("<h5>{}</h5>", names["base"]))
        parts += [
            html_fill(row, html_fill(line, style), lab[kind])
            for kind, style in zip(KINDS, _BASE_STYLE, strict=True)
        ]
    return str(_join(parts))


def _bounds(data: MapData) -> list[list[float]]:
    lats = data.buildings["lat"].to_list() + data.points["lat"].to_list()
    lons = data.buildings["lon"].to_list() + data.points["lon"].to_list()
    if not lats:
        return [[0.0, 0.0], [0.0, 0.0]]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def render_map(
    data: MapData,
    *,
    lang: str = "zh",
    tile_url: str | None = None,
    tile_attribution: str | None = None,
) -> str:
    """Full, self-contained HTML of the coverage map.

    No network access is needed to open it unless ``tile_url`` (an XYZ template such as an
    office tile server's ``http://tiles.local/{z}/{x}/{y}.png``) is given. Raises
    :class:`maps.offline.ExternalResourceError` if anything else external remains.
    """
    lab = labels(lang)
    payload = build_payload(data, lang)
    names = {key: lab[key] for key, _show in LAYER_KEYS}

    bounds = _bounds(data)
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = folium.Map(
        location=centre, zoom_start=13, tiles=None, max_zoom=19, control_scale=True, zoom_snap=0.25
    )
    root: Any = m.get_root()  # branca Figure (untyped); its template does not escape
    if data.title:
        root.title = html_fill("{}", data.title)
    root.header.add_child(Element(f"<script>{_runtime_js()}</script>"), name="natplan_js")
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=html_fill("{}", tile_attribution) if tile_attribution else " ",  # Leaflet: HTML
            name="tiles",
            max_zoom=19,
            overlay=False,
            control=False,
        ).add_to(m)
    init = f"natplan.init({m.get_name()}, {_js_json(payload['labels'])}, {SMALL_SCREEN_PX});"
    m.add_child(_Script(init))
    for key, show in LAYER_KEYS:
        if key not in payload or (key == "routes" and not payload["routes"]):
            continue
        # the layer control shows names as HTML
        if key == "base" and tile_url:
            show = False  # the office's tiles already show the streets
        m.add_child(_DataLayer(key, payload[key], html_fill("{}", names[key]), show))
    folium.LayerControl(
        collapsed=JsCode(f"window.innerWidth < {SMALL_SCREEN_PX}"),  # type: ignore[arg-type]
        position="topright",
    ).add_to(m)
    kpi_summary, kpi_body = _kpi_html(data, lang)
    opts = {
        "kpiSummary": kpi_summary,
        "kpiHtml": kpi_body,
        "legendSummary": html_fill("{}", lab["legend"]),
        "legendHtml": _legend_html(payload, lang, names),
        "attributionHtml": html_fill("{}", data.attribution),
        "smallPx": SMALL_SCREEN_PX,
        "bounds": bounds,
        "pad": [250, 230],  # the KPI panel's and the legend's width
    }
    m.add_child(_Script(f"natplan.finish({m.get_name()}, {_js_json(opts)});"))

    html = inline_assets(m.get_root().render())
    # natplan's CSS goes last in <head> so it overrides the vendored stylesheets.
    head_end = html.index("</head>")
    html = f"{html[:head_end]}<style>/* natplan */{_CSS}</style>\n{html[head_end:]}"
    check_offline(html, allowed=(tile_url,) if tile_url else ())
    return html


def write_map(data: MapData, path: Path, **kw: Any) -> None:
    """Render and write atomically: a temp file in the same folder, then ``os.replace``.

    If rendering or writing fails, an existing file at ``path`` is left untouched. A new file
    gets mode 0644; a replaced file keeps its mode. ``kw`` are :func:`render_map`'s options.
    """
    path = Path(path)
    html = render_map(data, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates 0600; keep an existing file's mode, else make it readable (0644).
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
