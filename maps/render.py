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
from markupsafe import Markup

from maps.i18n import format_kpi, labels
from maps.layers import PALETTE, UNSERVED_COLOUR, build_payload, html_fill
from maps.model import MapData
from maps.offline import check_offline, inline_assets

__all__ = ["LAYER_KEYS", "render_map", "write_map"]

# Layer keys in drawing order, and whether each is shown when the page opens.
LAYER_KEYS: tuple[tuple[str, bool], ...] = (
    ("heat", False),
    ("grids", False),
    ("walk", False),
    ("catchments", True),
    ("closed", False),
    ("buildings", True),
    ("unserved", True),
    ("routes", True),
    ("points", True),
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
.np-panel { background: rgba(255,255,255,.94); padding: 8px 10px; border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0,0,0,.35); font-size: 12px; line-height: 1.45; color: #222;
  max-width: 300px; }
.np-panel h4 { margin: 0 0 4px; font-size: 14px; font-weight: 600; }
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
.np-kpi { max-height: 40vh; overflow-y: auto; }
.leaflet-tooltip.np-stop-label { padding: 0 2px; font-size: 10px; font-weight: 600;
  background: rgba(255,255,255,.8); border: 0; box-shadow: none; }
.leaflet-tooltip.np-stop-label:before { display: none; }
.np-heat { width: 60px; height: 10px;
  background: linear-gradient(to right, blue, cyan, lime, yellow, red); }
"""


def _join(parts: list[Markup]) -> Markup:
    """Markup pieces (each from :func:`html_fill`) as one."""
    return Markup("".join(parts))


def _kpi_html(data: MapData, lang: str) -> str:
    """The KPI panel: the map's title (or "Key figures"), the plan's alerts in red, then a
    table of labelled figures."""
    lab = labels(lang)
    rows = _join(
        [
            html_fill("<tr><th>{}</th><td>{}</td></tr>", *format_kpi(key, value, lang))
            for key, value in data.kpis.items()
        ]
    )
    parts = [html_fill("<h4>{}</h4>", data.title or lab["kpis"])]
    if data.alerts:
        items = _join([html_fill("<li>{}</li>", text) for text in data.alerts])
        parts.append(html_fill("<ul class='np-alert' title='{}'>{}</ul>", lab["alerts"], items))
    parts.append(html_fill("<table>{}</table>", rows))
    return str(_join(parts))


def _legend_html(payload: dict[str, Any], lang: str, names: dict[str, str]) -> str:
    """The legend panel: point colours and sizes, buildings, outlines of the other layers."""
    lab = labels(lang)
    mode = payload["legend"]["mode"]
    row = "<div class='np-row'>{}{}</div>"
    dot = "<span class='np-sw np-dot' style='background:{}'></span>"
    outline = "<span class='np-sw' style='border:2px {} {};{}'></span>"
    parts = [
        html_fill("<h4>{}</h4><h5>{}</h5>", lab["legend"], names["points"]),
        html_fill(row, "", lab["by_util" if mode == "utilisation" else "by_finish"]),
    ]
    parts += [html_fill(row, html_fill(dot, c), text) for c, text in payload["legend"]["points"]]
    closed = "<span class='np-sw np-dot' style='background:#fff;border-color:#9e9e9e;"
    closed += "border-width:1px'></span>"
    small = "<span class='np-sw np-dot' style='background:{};border:0;width:9px;height:9px'></span>"
    unserved = "<span class='np-sw np-dot' style='background:#000;border-color:{}'></span>"
    parts += [
        html_fill(row, "", lab["size_note"]),
        html_fill(row, Markup(closed), lab["closed_legend"]),
        html_fill("<h5>{}</h5>", names["buildings"]),
        html_fill(row, _join([html_fill(small, c) for c in PALETTE[:6]]), ""),
        html_fill(row, "", lab["building_note"]),
        html_fill(row, html_fill(unserved, UNSERVED_COLOUR), names["unserved"]),
        Markup("<h5>&nbsp;</h5>"),
        html_fill(row, html_fill(outline, "solid", PALETTE[0], ""), names["catchments"]),
        html_fill(row, html_fill(outline, "dashed", "#2166ac", "border-radius:50%"), names["walk"]),
        html_fill(row, html_fill(outline, "dashed", "#444", ""), names["grids"]),
        html_fill(
            row,
            html_fill("<span class='np-sw' style='height:3px;background:{}'></span>", PALETTE[3]),
            names["routes"],
        ),
        html_fill(row, Markup("<span class='np-sw np-heat'></span>"), names["heat"]),
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
    m = folium.Map(location=centre, zoom_start=13, tiles=None, max_zoom=19, control_scale=True)
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
    m.add_child(_Script(f"natplan.init({m.get_name()}, {_js_json(payload['labels'])});"))
    for key, show in LAYER_KEYS:
        if key == "routes" and not payload["routes"]:
            continue
        # the layer control shows names as HTML
        m.add_child(_DataLayer(key, payload[key], html_fill("{}", names[key]), show))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    opts = {
        "kpiHtml": _kpi_html(data, lang),
        "legendHtml": _legend_html(payload, lang, names),
        "attributionHtml": html_fill("{}", data.attribution),
    }
    m.add_child(_Script(f"natplan.finish({m.get_name()}, {_js_json(opts)});"))
    m.fit_bounds(bounds, padding_top_left=(180, 20), padding_bottom_right=(20, 20))

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
