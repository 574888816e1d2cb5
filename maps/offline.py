"""Make folium HTML self-contained: inline vendored JS/CSS, embed images and fonts, verify.

Every CDN ``<script src>`` / ``<link href>`` that folium emits is looked up in
:data:`CDN_ASSETS` and replaced with the vendored file from ``maps/assets/`` (see
``maps/assets/README.md`` for names, versions and licences). Relative CSS ``url()``s are turned
into ``data:`` URIs. :func:`check_offline` raises :class:`ExternalResourceError` if anything
would still be fetched from the network.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib import resources
from pathlib import PurePosixPath

__all__ = [
    "CDN_ASSETS",
    "ExternalResourceError",
    "asset_bytes",
    "check_offline",
    "icon_default_js",
    "inline_assets",
    "inline_css",
]


class ExternalResourceError(RuntimeError):
    """The HTML still references a resource on the network (or an unknown CDN asset)."""


# Folium CDN URL (matched by the part after the host, version-insensitive) -> vendored file,
# or None when the stylesheet is deliberately dropped (documented in assets/README.md).
CDN_ASSETS: dict[str, str | None] = {
    "leaflet.js": "leaflet/leaflet.js",
    "leaflet.css": "leaflet/leaflet.css",
    "jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "jquery.min.js": "jquery/jquery.min.js",
    "bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
    "bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "all.min.css": "fontawesome-free/css/all.min.css",
    "leaflet.awesome-markers.js": "leaflet.awesome-markers/leaflet.awesome-markers.min.js",
    "leaflet.awesome-markers.min.js": "leaflet.awesome-markers/leaflet.awesome-markers.min.js",
    "leaflet.awesome-markers.css": "leaflet.awesome-markers/leaflet.awesome-markers.css",
    "leaflet_heat.min.js": "leaflet.heat/leaflet-heat.js",
    "leaflet-heat.js": "leaflet.heat/leaflet-heat.js",
    # Bootstrap 3 glyphicons (folium's legacy icon prefix) and folium's rotated-icon CSS are
    # not used by natplan maps; they are dropped instead of vendored.
    "bootstrap-glyphicons.css": None,
    "leaflet.awesome.rotate.min.css": None,
}

# Files substituted when a CSS url() names a file that is not vendored.
_URL_ALIASES = {
    "leaflet.awesome-markers/images/markers-soft@2x.png": (
        "leaflet.awesome-markers/images/markers-soft.png"
    ),
}

_MIME = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".gif": "image/gif",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
}

_SCRIPT_SRC = re.compile(r'<script\b[^>]*\bsrc\s*=\s*["\']([^"\']+)["\'][^>]*>\s*</script>', re.I)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*/?>", re.I)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)", re.I)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.I)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.I | re.S)
_EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)


def asset_bytes(rel: str) -> bytes:
    """Bytes of a vendored file, ``rel`` relative to ``maps/assets``."""
    return resources.files("maps").joinpath("assets", *rel.split("/")).read_bytes()


def _data_uri(rel: str) -> str:
    suffix = PurePosixPath(rel).suffix.lower()
    mime = _MIME.get(suffix)
    if mime is None:
        raise ExternalResourceError(f"cannot embed {rel!r}: unknown file type {suffix!r}")
    return f"data:{mime};base64," + base64.b64encode(asset_bytes(rel)).decode("ascii")


def _resolve(css_rel: str, url: str) -> str:
    """Path of ``url`` (relative to the CSS file ``css_rel``) inside maps/assets."""
    parts = list(PurePosixPath(css_rel).parent.parts)
    for part in PurePosixPath(url.split("?")[0].split("#")[0]).parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    rel = "/".join(parts)
    return _URL_ALIASES.get(rel, rel)


def _vendored(rel: str) -> bool:
    try:
        asset_bytes(rel)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return True


def _font_face(css_rel: str, block: str, seen: set[str]) -> str:
    """Keep only vendored woff2 sources of an @font-face rule; drop the rule if none remain.

    Each font file is embedded once: later rules reusing an embedded file (Font Awesome's
    v4/v5 compatibility families) are dropped, saving ~0.5 MB per map.
    """
    kept = []
    for src in re.findall(r"url\([^)]*\)\s*format\([^)]*\)", block):
        m = _CSS_URL.search(src)
        assert m is not None
        rel = _resolve(css_rel, m.group(2))
        if rel.endswith(".woff2") and rel not in seen and _vendored(rel):
            seen.add(rel)
            kept.append(f'url({_data_uri(rel)}) format("woff2")')
    if not kept:
        return ""
    return re.sub(r"src\s*:[^;}]*", "src:" + ",".join(kept), block, count=1)


@cache
def inline_css(css_rel: str) -> str:
    """Vendored stylesheet with its relative ``url()``s embedded as ``data:`` URIs."""
    css = asset_bytes(css_rel).decode("utf-8")
    seen: set[str] = set()
    css = _FONT_FACE.sub(lambda m: _font_face(css_rel, m.group(0), seen), css)

    def embed(m: re.Match[str]) -> str:
        url = m.group(2).strip()
        if url.startswith(("data:", "#")):
            return m.group(0)
        if _EXTERNAL.match(url):
            raise ExternalResourceError(f"{css_rel} references {url}")
        return f'url("{_data_uri(_resolve(css_rel, url))}")'

    return _CSS_URL.sub(embed, css)


@cache
def _inline_js(js_rel: str) -> str:
    js = asset_bytes(js_rel).decode("utf-8")
    # "</script" can only occur inside JS strings, regexes or comments, where "<\/" is the same.
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.I)


@cache
def icon_default_js() -> str:
    """JS pointing ``L.Icon.Default`` at data-URI images (no image path detection)."""
    urls = {
        "iconUrl": _data_uri("leaflet/images/marker-icon.png"),
        "iconRetinaUrl": _data_uri("leaflet/images/marker-icon-2x.png"),
        "shadowUrl": _data_uri("leaflet/images/marker-shadow.png"),
    }
    opts = ",".join(f'{k}:"{v}"' for k, v in urls.items())
    return (
        "if (window.L && L.Icon && L.Icon.Default) {"
        "delete L.Icon.Default.prototype._getIconUrl;"
        f"L.Icon.Default.mergeOptions({{{opts}}});}}"
    )


def _lookup(url: str) -> str | None:
    name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if name not in CDN_ASSETS:
        raise ExternalResourceError(
            f"no vendored copy of {url}; add it to maps/assets and maps.offline.CDN_ASSETS"
        )
    return CDN_ASSETS[name]


def inline_assets(html: str) -> str:
    """Replace CDN ``<script src>``/``<link href>`` tags with inline vendored content."""

    def script(m: re.Match[str]) -> str:
        url = m.group(1)
        if not _EXTERNAL.match(url):
            return m.group(0)
        rel = _lookup(url)
        if rel is None:
            return ""
        body = _inline_js(rel)
        if rel == "leaflet/leaflet.js":
            body += "\n" + icon_default_js()
        return f"<script>/* {rel} (vendored) */\n{body}\n</script>"

    def link(m: re.Match[str]) -> str:
        url = m.group(1)
        tag = m.group(0)
        if not _EXTERNAL.match(url) or not re.search(r"stylesheet", tag, re.I):
            return tag
        rel = _lookup(url)
        if rel is None:
            return ""
        return f"<style>/* {rel} (vendored) */\n{inline_css(rel)}\n</style>"

    return _LINK_HREF.sub(link, _SCRIPT_SRC.sub(script, html))


def check_offline(html: str, allowed: tuple[str, ...] = ()) -> None:
    """Raise :class:`ExternalResourceError` if the page would load anything over the network.

    Checks ``<script src>``, ``<link href>`` (any rel), ``<img src>``/``<iframe src>`` and CSS
    ``url()``/``@import`` in ``<style>`` blocks and ``style=`` attributes. ``allowed`` lists
    exact strings (a tile URL template) that may appear as a resource reference.
    """
    found: list[str] = []

    def bad(url: str) -> bool:
        return bool(_EXTERNAL.match(url)) and url not in allowed

    found += [
        u for u in re.findall(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)", html, re.I) if bad(u)
    ]
    found += [u for u in _LINK_HREF.findall(html) if bad(u)]
    found += [
        u
        for u in re.findall(
            r"<(?:img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)", html, re.I
        )
        if bad(u)
    ]
    styles = _STYLE_BLOCK.findall(html) + re.findall(r"\bstyle\s*=\s*\"([^\"]*)\"", html, re.I)
    for css in styles:
        found += [m.group(2) for m in _CSS_URL.finditer(css) if bad(m.group(2))]
        found += [
            u for u in re.findall(r"@import\s+(?:url\()?\s*['\"]?([^'\"\);\s]+)", css) if bad(u)
        ]
    if found:
        unique = sorted(set(found))
        raise ExternalResourceError(
            f"map HTML is not self-contained; external resources: {', '.join(unique[:10])}"
        )
