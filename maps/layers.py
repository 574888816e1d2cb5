"""Pure functions turning :class:`~maps.model.MapData` into the per-layer data the browser draws.

Everything returned here is plain JSON-able data (lists, dicts, numbers, *HTML-escaped*
strings); ``maps/assets/natplan/natplan.js`` turns it into Leaflet layers, whose popups and
tooltips are HTML. Every text — names and ids from the scenario, labels, reasons — is escaped
here: markup is built only by :func:`html_fill`, which escapes every value it inserts (except
markup it built itself, :class:`~markupsafe.Markup`), so the browser never reads scenario text
as markup. Coordinates are rounded to 6 decimals (~0.1 m).
"""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from markupsafe import Markup
from scipy.spatial import ConvexHull, QhullError

from maps.i18n import labels, reason, share
from maps.model import MapData, MapDataError

__all__ = [
    "FINISH_COLOURS",
    "PALETTE",
    "UNSERVED_COLOUR",
    "UTILISATION_BINS",
    "build_payload",
    "finish_colours",
    "html_fill",
    "hull_ring",
    "point_colours",
    "point_radius",
    "utilisation_colour",
]

# Categorical palette for "building belongs to point i" (no pure red/black: those mark unserved).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#6baed6",
    "#fd8d3c",
    "#74c476",
)
UNSERVED_COLOUR = "#d62728"
UNSERVED_FILL = "#000000"
CLOSED_COLOUR = "#9e9e9e"
# (upper bound, colour, zh label, en label); utilisation above the last bound -> overloaded.
UTILISATION_BINS = (
    (0.6, "#1a9850", "≤ 60%", "≤ 60%"),
    (0.9, "#91cf60", "60–90%", "60–90%"),
    (1.0, "#fc8d59", "90–100%", "90–100%"),
    (math.inf, "#b2182b", "> 100%", "> 100%"),
)
FINISH_COLOURS = ("#1a9850", "#91cf60", "#fc8d59", "#b2182b")
_EARTH_M_PER_DEG = 111_320.0
_HULL_PAD_M = 12.0


def _r6(x: float) -> float:
    return round(float(x), 6)


def _esc(value: object) -> str:
    """``value`` as HTML-escaped text (``None`` → empty; markup from :func:`html_fill` as it
    is)."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    return html.escape(str(value), quote=True)


def html_fill(template: str, *values: object) -> Markup:
    """Trusted ``template`` markup with its ``{}`` fields filled by HTML-escaped ``values``."""
    return Markup(template.format(*map(_esc, values)))


_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))
"""What :func:`html.escape` replaces, ``&`` first."""


def _esc_column(column: pl.Series) -> list[str]:
    """A whole column as HTML-escaped text (nulls → empty), escaped by polars at once."""
    text = column.cast(pl.String).fill_null("")
    for char, entity in _ENTITIES:
        text = text.str.replace_all(char, entity, literal=True)
    return text.to_list()


def point_colours(point_ids: Sequence[object]) -> dict[object, str]:
    """Stable categorical colour per point: palette[index of the id in sorted order].

    Depends only on the *set* of candidate ids (not row order, nor which points are open).
    """
    ordered = sorted(set(point_ids), key=lambda v: (str(type(v)), v))  # type: ignore[arg-type]
    return {pid: PALETTE[i % len(PALETTE)] for i, pid in enumerate(ordered)}


def point_radius(tables: float | None) -> float:
    """Marker radius in pixels growing with the square root of the number of tables."""
    t = max(0.0, float(tables or 0))
    return round(min(18.0, 4.0 + 2.2 * math.sqrt(t)), 1)


def utilisation_colour(u: float | None) -> str:
    """Colour of a point by utilisation (load / capacity)."""
    if u is None or not math.isfinite(u):
        return CLOSED_COLOUR
    for bound, colour, _zh, _en in UTILISATION_BINS:
        if u <= bound:
            return colour
    return UTILISATION_BINS[-1][1]


def _minutes(hhmm: str | None) -> int | None:
    if hhmm is None:
        return None
    try:
        h, m = str(hhmm).strip().split(":")[:2]
        return int(h) * 60 + int(m)
    except ValueError:
        return None


def _hhmm(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def finish_colours(
    finish: Sequence[str | None], deadline: str | None, lang: str = "zh"
) -> tuple[list[str], list[tuple[str, str]]]:
    """Colours of points by finish time, plus legend entries ``(colour, label)``.

    With a deadline: ≥ 60 min early / within 60 min / late. Without: four equal time bins
    between the earliest and the latest finish. Missing finish -> grey.
    """
    lab = labels(lang)
    mins = [_minutes(f) for f in finish]
    known = [m for m in mins if m is not None]
    dl = _minutes(deadline)
    if dl is not None:
        g, y, r = FINISH_COLOURS[0], FINISH_COLOURS[2], FINISH_COLOURS[3]
        cols = [
            CLOSED_COLOUR if m is None else g if m <= dl - 60 else y if m <= dl else r for m in mins
        ]
        legend = [(g, lab["on_time"]), (y, lab["tight"]), (r, f"{lab['late']} {deadline}")]
        return cols, legend
    if not known:
        return [CLOSED_COLOUR] * len(mins), []
    lo, hi = min(known), max(known)
    step = max(1.0, (hi - lo) / 4)
    edges = [lo + step * (i + 1) for i in range(4)]
    cols = []
    for m in mins:
        if m is None:
            cols.append(CLOSED_COLOUR)
            continue
        i = min(3, int((m - lo) / step)) if hi > lo else 0
        cols.append(FINISH_COLOURS[i])
    legend = [
        (FINISH_COLOURS[i], f"≤ {_hhmm(edges[i])}" if i < 3 else f"> {_hhmm(edges[2])}")
        for i in range(4 if hi > lo else 1)
    ]
    return cols, legend


def hull_ring(
    lat: npt.ArrayLike, lon: npt.ArrayLike, pad_m: float = _HULL_PAD_M
) -> list[list[float]]:
    """Convex hull ``[[lat, lon], ...]`` (counter-clockwise, open ring) around the points.

    The hull is grown by ``pad_m`` metres (an octagon around each hull vertex), so one
    building gives an octagon, two buildings a capsule, and collinear/duplicate points never
    produce a degenerate polygon.
    """
    la = np.asarray(lat, dtype=np.float64).ravel()
    lo = np.asarray(lon, dtype=np.float64).ravel()
    if la.size == 0 or la.size != lo.size:
        raise ValueError("hull_ring needs the same, non-zero number of lats and lons")
    if pad_m <= 0:
        raise ValueError("pad_m must be > 0")
    lat0, lon0 = float(la.mean()), float(lo.mean())
    kx = _EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    ky = _EARTH_M_PER_DEG
    xy = np.column_stack(((lo - lon0) * kx, (la - lat0) * ky))
    xy = np.unique(np.round(xy, 3), axis=0)
    if xy.shape[0] >= 3:
        # collinear points make Qhull fail: keep them all, the padding below fixes it
        with contextlib.suppress(QhullError):
            xy = xy[ConvexHull(xy).vertices]
    ang = np.arange(8) * (np.pi / 4) + np.pi / 8
    octagon = np.column_stack((np.cos(ang), np.sin(ang))) * pad_m
    grown = (xy[:, None, :] + octagon[None, :, :]).reshape(-1, 2)
    ring = grown[ConvexHull(grown).vertices]
    return [[_r6(lat0 + y / ky), _r6(lon0 + x / kx)] for x, y in ring]


_UNSERVED_TIP = "<b>{} {}</b> · {} {} · {} {}<br><span class='np-reason'>{}: {}</span>"


def _popup(rows: list[tuple[str, object]], title: object) -> str:
    """A popup: bold title and a table of (label, value) rows, every text escaped."""
    body = Markup("".join(html_fill("<tr><th>{}</th><td>{}</td></tr>", k, v) for k, v in rows))
    return str(html_fill("<b>{}</b><table class='np-tbl'>{}</table>", title, body))


def _fmt_num(v: object) -> str:
    """A number as text (thousands separators), ``–`` when missing; other values as text."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() or abs(v) >= 100 else f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _points_payload(
    data: MapData, lang: str, colours: dict[object, str]
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]], str]:
    lab = labels(lang)
    pts = data.points
    has_finish = "finish" in pts.columns and pts["finish"].drop_nulls().len() > 0
    opened = pts.filter(pl.col("open").fill_null(False))
    closed = pts.filter(~pl.col("open").fill_null(False))
    rows = opened.to_dicts()
    if has_finish:
        fills, legend = finish_colours([r.get("finish") for r in rows], data.finish_deadline, lang)
        mode = "finish"
    else:
        fills = [utilisation_colour(r["utilisation"]) for r in rows]
        legend = [(c, zh if lang == "zh" else en) for _b, c, zh, en in UTILISATION_BINS]
        mode = "utilisation"
    popups, tips = [], []
    for r in rows:
        title = r["name"] if r["name"] is not None else r["point_id"]
        util = r["utilisation"]
        info: list[tuple[str, object]] = [
            (lab["point"], r["point_id"]),
            (lab["tables"], f"{_fmt_num(r['tables'])} / {_fmt_num(r['max_tables'])}"),
            (lab["load"], f"{_fmt_num(r['load'])} / {_fmt_num(r['capacity'])}"),
            (lab["utilisation"], "–" if util is None else share(util)),
        ]
        if "finish" in r:
            info.append((lab["finish"], r["finish"] or "–"))
        if "staff" in r:
            info.append((lab["staff"], _fmt_num(r["staff"])))
        if "yellow_channel" in r:
            yc = r["yellow_channel"]
            info.append((lab["yellow"], "–" if yc is None else lab["yes"] if yc else lab["no"]))
        popups.append(_popup(info, title))
        tips.append(_esc(title))
    open_payload = {
        "lat": [_r6(r["lat"]) for r in rows],
        "lon": [_r6(r["lon"]) for r in rows],
        "r": [point_radius(r["tables"]) for r in rows],
        "fill": fills,
        "edge": [colours[r["point_id"]] for r in rows],
        "popup": popups,
        "tip": tips,
    }
    closed_payload = {
        "lat": [_r6(v) for v in closed["lat"]],
        "lon": [_r6(v) for v in closed["lon"]],
        "tip": [
            _esc(n if n is not None else p)
            for n, p in zip(closed["name"], closed["point_id"], strict=True)
        ],
    }
    return open_payload, closed_payload, legend, mode


def _buildings_payload(
    data: MapData, lang: str, colours: dict[object, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    lab = labels(lang)
    b = data.buildings
    served = b.filter(pl.col("point_id").is_not_null())
    unserved = b.filter(pl.col("point_id").is_null())
    unknown = set(served["point_id"].unique().to_list()) - set(colours)
    if unknown:
        raise MapDataError(
            f"buildings reference {len(unknown)} unknown point_id(s), e.g. {sorted(unknown)[:3]}"
        )
    names = dict(zip(data.points["point_id"], data.points["name"], strict=True))
    ids = sorted(colours, key=lambda v: (str(type(v)), v))  # type: ignore[arg-type]
    index = {pid: i for i, pid in enumerate(ids)}
    served_payload = {
        "lat": [_r6(v) for v in served["lat"]],
        "lon": [_r6(v) for v in served["lon"]],
        "pt": [index[p] for p in served["point_id"]],
        "id": _esc_column(served["building_id"]),
        "grid": _esc_column(served["grid_id"]),
        "res": [int(v or 0) for v in served["residents"]],
        "walk": [None if v is None else round(float(v)) for v in served["walk_m"]],
        "ptColour": [colours[p] for p in ids],
        "ptName": [_esc(names[p] if names[p] is not None else p) for p in ids],
    }
    tips = []
    for r in unserved.iter_rows(named=True):
        reason_text = reason(r["unserved_reason"], lang) or lab["unserved_default"]
        tip = html_fill(
            _UNSERVED_TIP,
            lab["building"], r["building_id"], lab["grid"], r["grid_id"],
            lab["residents"], _fmt_num(r["residents"]), lab["reason"], reason_text,
        )  # fmt: skip
        tips.append(str(tip))
    unserved_payload = {
        "lat": [_r6(v) for v in unserved["lat"]],
        "lon": [_r6(v) for v in unserved["lon"]],
        "tip": tips,
    }
    return served_payload, unserved_payload


def _catchments(data: MapData, lang: str, colours: dict[object, str]) -> list[dict[str, Any]]:
    lab = labels(lang)
    open_ids = set(data.points.filter(pl.col("open").fill_null(False))["point_id"].to_list())
    names = dict(zip(data.points["point_id"], data.points["name"], strict=True))
    served = data.buildings.filter(pl.col("point_id").is_in(list(open_ids)))
    out = []
    for (pid,), grp in sorted(served.group_by("point_id"), key=lambda kv: str(kv[0][0])):
        title = names[pid] if names[pid] is not None else pid
        residents = _fmt_num(int(grp["residents"].fill_null(0).sum()))
        tip = f"{lab['catchments']}: {title} · {grp.height} {lab['buildings']} · "
        tip += f"{residents} {lab['residents']}"
        out.append(
            {
                "ring": hull_ring(grp["lat"].to_numpy(), grp["lon"].to_numpy()),
                "colour": colours[pid],
                "tip": _esc(tip),
            }
        )
    return out


def _grids(data: MapData, lang: str) -> list[dict[str, Any]]:
    lab = labels(lang)
    out = []
    for (gid,), grp in sorted(data.buildings.group_by("grid_id"), key=lambda kv: str(kv[0][0])):
        residents = _fmt_num(int(grp["residents"].fill_null(0).sum()))
        tip = f"{lab['grid']} {gid} · {grp.height} {lab['buildings']} · {residents} "
        tip += lab["residents"]
        out.append(
            {
                "ring": hull_ring(grp["lat"].to_numpy(), grp["lon"].to_numpy()),
                "tip": _esc(tip),
            }
        )
    return out


def _routes(data: MapData, lang: str) -> list[dict[str, Any]]:
    if data.routes is None or data.routes.height == 0:
        return []
    lab = labels(lang)
    out = []
    groups = sorted(data.routes.group_by("team_id"), key=lambda kv: str(kv[0][0]))
    for i, ((team,), grp) in enumerate(groups):
        grp = grp.sort("seq")
        stops = [
            [_r6(r["lat"]), _r6(r["lon"]), int(r["seq"]), _esc(r["household_id"])]
            for r in grp.iter_rows(named=True)
        ]
        out.append(
            {
                "team": _esc(f"{lab['team']} {team}"),
                "colour": PALETTE[i % len(PALETTE)],
                "line": [[s[0], s[1]] for s in stops],
                "stops": stops,
            }
        )
    return out


def _heat(data: MapData) -> dict[str, Any]:
    b = data.buildings.filter(pl.col("residents").fill_null(0) > 0)
    res = b["residents"].cast(pl.Float64).to_numpy()
    hi = float(np.percentile(res, 95)) if res.size else 1.0
    pts = [
        [_r6(la), _r6(lo), round(float(w), 1)]
        for la, lo, w in zip(b["lat"], b["lon"], res, strict=True)
    ]
    # leaflet.heat sums overlapping buildings; scale so a dense block, not one building, is red.
    return {"pts": pts, "max": max(4.0 * hi, 1.0)}


def build_payload(data: MapData, lang: str = "zh") -> dict[str, Any]:
    """All layer data for the browser, keyed by layer (see module docstring)."""
    lab = labels(lang)
    colours = point_colours(data.points["point_id"].to_list())
    points, closed, legend, mode = _points_payload(data, lang, colours)
    buildings, unserved = _buildings_payload(data, lang, colours)
    open_pts = data.points.filter(pl.col("open").fill_null(False))
    return {
        "labels": {
            k: _esc(lab[k])
            for k in (
                "building",
                "grid",
                "residents",
                "point",
                "walk_m",
                "metres",
                "team",
                "stop",
                "origin",
                "household",
            )
        },
        "points": points,
        "closed": closed,
        "buildings": buildings,
        "unserved": unserved,
        "catchments": _catchments(data, lang, colours),
        "walk": {
            "lat": [_r6(v) for v in open_pts["lat"]],
            "lon": [_r6(v) for v in open_pts["lon"]],
            "radius": float(data.walk_limit_m),
        },
        "grids": _grids(data, lang),
        "routes": _routes(data, lang),
        "heat": _heat(data),
        "legend": {"points": legend, "mode": mode},
    }
