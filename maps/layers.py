"""Pure functions turning :class:`~maps.model.MapData` into the per-layer data the browser draws.

Everything returned here is plain JSON-able data (lists, dicts, numbers, *HTML-escaped*
strings); ``maps/assets/natplan/natplan.js`` turns it into Leaflet layers, whose popups and
tooltips are HTML. Every text — names and ids from the scenario, labels, reasons, link
targets — is escaped here: markup is built only by :func:`html_fill`, which escapes every value
it inserts (except markup it built itself, :class:`~markupsafe.Markup`), so the browser never
reads scenario text as markup. Coordinates are rounded to 6 decimals (~0.1 m).

What the map shows by colour and size: a building has its point's colour (the catchment), and
neighbouring catchments get different colours (:func:`point_colours`); a point's marker area
grows with the residents assigned to it (:func:`point_radius`); a red ring marks a point that
finishes late in simulation, a dashed dark-red ring one with residents it cannot swab in the
window (:data:`LATE`, :data:`SHORT`). A vehicle trip has its vehicle's colour and grows thicker
with the tubes it carries (:func:`trip_weight`); a lab is a dark diamond (:data:`LAB_COLOUR`).
A building a re-plan changed gets a dashed dark ring (:data:`CHANGE_COLOUR`) and its change in
its popup (:func:`change_text`).
"""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import shapely
from markupsafe import Markup
from scipy.spatial import Delaunay, QhullError, cKDTree

from maps.i18n import labels, reason, share
from maps.model import MapData, MapDataError

__all__ = [
    "CHANGE_COLOUR",
    "LAB_COLOUR",
    "LATE",
    "PALETTE",
    "SHORT",
    "UNSERVED_COLOUR",
    "build_payload",
    "catchment_neighbours",
    "change_text",
    "html_fill",
    "hull_ring",
    "point_colours",
    "point_radius",
    "trip_weight",
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
LAB_COLOUR = "#3f007d"
"""Fill of a lab's diamond marker (no catchment or vehicle colour is this dark purple)."""
CHANGE_COLOUR = "#111111"
"""Dashed ring around a building the re-plan changed."""
LATE = 1
"""Bit of a point's ``ring``: it finishes late in simulation (solid red ring)."""
SHORT = 2
"""Bit of a point's ``ring``: residents it cannot swab in the window (dashed dark-red ring)."""
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


def _id_key(value: object) -> tuple[str, Any]:
    """Sort key of an id of any type (ids of one map share a type)."""
    return (str(type(value)), value)


def _project(lat: npt.ArrayLike, lon: npt.ArrayLike, lat0: float) -> npt.NDArray[np.float64]:
    """Planar metres (equirectangular around ``lat0``): enough for finding neighbours."""
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    kx = _EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    return np.column_stack((lo * kx, la * _EARTH_M_PER_DEG))


def catchment_neighbours(data: MapData, k: int = 6) -> set[tuple[object, object]]:
    """Pairs ``(a, b)`` (``a`` sorts first) of point ids whose catchments touch: Delaunay
    neighbours among the open points, and points serving buildings among one another's ``k``
    nearest buildings."""
    pts = data.points.filter(pl.col("open").fill_null(False))
    pts = pts[sorted(range(pts.height), key=lambda i: _id_key(pts["point_id"][i]))]
    served = data.buildings.filter(pl.col("point_id").is_not_null())
    lats = pl.concat([pts["lat"], served["lat"]])
    lat0 = float(lats.mean()) if lats.len() else 0.0  # type: ignore[arg-type]
    pairs: set[tuple[object, object]] = set()

    def add(a: object, b: object) -> None:
        if a != b:
            pairs.add((a, b) if _id_key(a) < _id_key(b) else (b, a))

    ids = pts["point_id"].to_list()
    if len(ids) >= 3:
        with contextlib.suppress(QhullError):  # all collinear or equal: no triangles
            for simplex in Delaunay(_project(pts["lat"], pts["lon"], lat0)).simplices:
                a, b, c = (ids[int(i)] for i in simplex)
                add(a, b)
                add(b, c)
                add(a, c)
    elif len(ids) == 2:
        add(ids[0], ids[1])
    if served.height >= 2:
        xy = _project(served["lat"], served["lon"], lat0)
        _dist, nn = cKDTree(xy).query(xy, k=min(k + 1, served.height))
        raw = served["point_id"].to_list()
        _uniq, first, codes = np.unique(
            served["point_id"].cast(pl.String).to_numpy(), return_index=True, return_inverse=True
        )
        rows, cols = np.nonzero(codes[nn[:, 1:]] != codes[:, None])
        touching = set(zip(codes[rows].tolist(), codes[nn[rows, cols + 1]].tolist(), strict=True))
        for a, b in touching:
            add(raw[int(first[a])], raw[int(first[b])])
    return pairs


def point_colours(data: MapData) -> dict[object, str]:
    """A palette colour per point id, different from those of its neighbouring catchments.

    Greedy colouring of :func:`catchment_neighbours` (most neighbours first, ties by id):
    each point takes, among the colours its coloured neighbours do not use, the one used
    least so far (then the earliest), so colours spread over the palette. Depends on the data,
    not on row order. Points without neighbours (closed ones) get the first colour.
    """
    ids = sorted(set(data.points["point_id"].to_list()), key=_id_key)
    neighbours: dict[object, set[object]] = {pid: set() for pid in ids}
    for a, b in catchment_neighbours(data):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    rank = {pid: i for i, pid in enumerate(ids)}
    order = sorted(
        (pid for pid in ids if neighbours[pid]), key=lambda pid: (-len(neighbours[pid]), rank[pid])
    )
    used = [0] * len(PALETTE)
    chosen: dict[object, int] = {}
    for pid in order:
        taken = {chosen[n] for n in neighbours[pid] if n in chosen}
        best = min(range(len(PALETTE)), key=lambda c: (c in taken, used[c], c))
        chosen[pid] = best
        used[best] += 1
    return {pid: PALETTE[chosen.get(pid, 0)] for pid in ids}


def point_radius(load: float | None, max_load: float) -> float:
    """Marker radius in pixels: 5 px, growing to 16 px (area ∝ residents assigned) at the
    largest load of the map."""
    part = max(0.0, float(load or 0)) / max_load if max_load > 0 else 0.0
    return round(5.0 + 11.0 * math.sqrt(min(1.0, part)), 1)


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
    # shapely's hull of one point is a point, of collinear points a line: the octagons
    # around its vertices make each a polygon (the hull of the grown hull vertices)
    hull = shapely.get_coordinates(shapely.convex_hull(shapely.multipoints(xy)))
    ang = np.arange(8) * (np.pi / 4) + np.pi / 8
    octagon = np.column_stack((np.cos(ang), np.sin(ang))) * pad_m
    grown = (hull[:, None, :] + octagon).reshape(-1, 2)
    # the ring's corners as the page stores them (6 decimals), hulled again after rounding:
    # corners of nearly coincident buildings would otherwise leave a kink of a few
    # centimetres whose direction the rounding decides (a ring that is not convex)
    lon_lat = np.unique(
        np.column_stack(
            [np.round(lon0 + grown[:, 0] / kx, 6), np.round(lat0 + grown[:, 1] / ky, 6)]
        ),
        axis=0,
    )
    outline = shapely.orient_polygons(shapely.convex_hull(shapely.multipoints(lon_lat)))
    ring = shapely.get_coordinates(outline)[:-1]  # open, anticlockwise (lon = x, lat = y)
    return [[_r6(y), _r6(x)] for x, y in ring]


_UNSERVED_TIP = (
    "<b>{}</b><table class='np-tbl'><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>"
    "<tr><th>{}</th><td>{}</td></tr></table><span class='np-reason'>{}: {}</span>{}"
)
_LINK = "<div class='np-link'><a href='{}'>{} ›</a></div>"


def _link(target: object, text: str) -> Markup:
    """A link to a document of the plan (``target`` relative to the map), or nothing."""
    return html_fill(_LINK, target, text) if target else Markup("")


def _popup(rows: list[tuple[str, object]], title: object, extra: Markup | None = None) -> str:
    """A popup: bold title, a table of (label, value) rows and ``extra``; every text escaped."""
    body = Markup("".join(html_fill("<tr><th>{}</th><td>{}</td></tr>", k, v) for k, v in rows))
    return str(html_fill("<b>{}</b><table class='np-tbl'>{}</table>{}", title, body, extra or ""))


def _fmt_num(v: object) -> str:
    """A number as text (thousands separators), ``–`` when missing; other values as text."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() or abs(v) >= 100 else f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _title(name: object, pid: object) -> object:
    return name if name not in (None, "") else pid


def _ring(row: dict[str, Any]) -> int:
    """:data:`LATE` / :data:`SHORT` bits of a point row (optional columns, see MapData)."""
    ring = LATE if row.get("late") else 0
    short = sum(int(row.get(c) or 0) for c in ("deficit", "overtime_residents", "not_called"))
    return ring | (SHORT if short > 0 else 0)


def _points_payload(
    data: MapData, lang: str, colours: dict[object, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    lab = labels(lang)
    pts = data.points
    opened = pts.filter(pl.col("open").fill_null(False))
    closed = pts.filter(~pl.col("open").fill_null(False))
    rows = opened.to_dicts()
    max_load = max([float(r["load"] or 0) for r in rows], default=0.0)
    popups, tips, rings = [], [], []
    for r in rows:
        title = _title(r["name"], r["point_id"])
        util = r["utilisation"]
        info: list[tuple[str, object]] = [
            (lab["point"], r["point_id"]),
            (lab["load"], f"{_fmt_num(r['load'])} {lab['residents_unit']}"),
            (lab["tables"], f"{_fmt_num(r['tables'])} / {_fmt_num(r['max_tables'])}"),
            (lab["utilisation"], "–" if util is None else share(util)),
        ]
        if "finish" in r:
            info.append((lab["finish"], r["finish"] or "–"))
        if r.get("sim_finish_p95"):
            info.append((lab["sim_finish"], r["sim_finish_p95"]))
        if "staff" in r:
            info.append((lab["staff"], _fmt_num(r["staff"])))
        if "yellow_channel" in r:
            yc = r["yellow_channel"]
            info.append((lab["yellow"], "–" if yc is None else lab["yes"] if yc else lab["no"]))
        ring = _ring(r)
        notes = [lab[k] for bit, k in ((LATE, "late_ring"), (SHORT, "deficit_ring")) if ring & bit]
        extra = Markup("").join(html_fill("<div class='np-reason'>{}</div>", n) for n in notes)
        extra += _link(r.get("sheet"), lab["open_point_sheet"])
        popups.append(_popup(info, title, extra))
        tips.append(_esc(title))
        rings.append(ring)
    open_payload = {
        "lat": [_r6(r["lat"]) for r in rows],
        "lon": [_r6(r["lon"]) for r in rows],
        "r": [point_radius(r["load"], max_load) for r in rows],
        "colour": [colours[r["point_id"]] for r in rows],
        "ring": rings,
        "popup": popups,
        "tip": tips,
    }
    closed_payload = {
        "lat": [_r6(v) for v in closed["lat"]],
        "lon": [_r6(v) for v in closed["lon"]],
        "tip": [
            _esc(_title(n, p)) for n, p in zip(closed["name"], closed["point_id"], strict=True)
        ],
    }
    return open_payload, closed_payload


def _optional(frame: pl.DataFrame, column: str) -> pl.Series:
    """``column`` as text (nulls kept), or all nulls when the optional column is absent."""
    if column in frame.columns:
        return frame[column].cast(pl.String)
    return pl.Series(column, [None] * frame.height, dtype=pl.String)


def _buildings_payload(
    data: MapData, lang: str, colours: dict[object, str], changed: dict[str, str]
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
    pts = data.points
    names = dict(zip(pts["point_id"], pts["name"], strict=True))
    sheets = dict(zip(pts["point_id"], _optional(pts, "sheet"), strict=True))
    ids = sorted(colours, key=_id_key)
    index = {pid: i for i, pid in enumerate(ids)}
    grid_ids = sorted(set(served["grid_id"].to_list()), key=_id_key)
    grid_index = {g: i for i, g in enumerate(grid_ids)}
    grid_sheet = dict(zip(served["grid_id"], _optional(served, "grid_sheet"), strict=True))
    given = _optional(served, "name")
    same = given == served["building_id"].cast(pl.String)
    name = pl.select(pl.when(same).then(None).otherwise(given)).to_series()
    served_payload = {
        "lat": [_r6(v) for v in served["lat"]],
        "lon": [_r6(v) for v in served["lon"]],
        "pt": [index[p] for p in served["point_id"]],
        "id": _esc_column(served["building_id"]),
        "name": _esc_column(name),
        "g": [grid_index[g] for g in served["grid_id"]],
        "res": [int(v or 0) for v in served["residents"]],
        "walk": [None if v is None else round(float(v)) for v in served["walk_m"]],
        "call": _esc_column(_optional(served, "call")),
        "gridId": [_esc(g) for g in grid_ids],
        "gridSheet": [_esc(grid_sheet[g] or "") for g in grid_ids],
        "ptColour": [colours[p] for p in ids],
        "ptName": [_esc(_title(names[p], p)) for p in ids],
        "ptSheet": [_esc(sheets[p] or "") for p in ids],
    }
    if changed:  # what the re-plan changed, in the building's popup
        served_payload["chg"] = [changed.get(str(v), "") for v in served["building_id"]]
    tips = []
    rows = unserved.with_columns(
        _optional(unserved, "name").alias("_name"),
        _optional(unserved, "grid_sheet").alias("_sheet"),
    )
    for r in rows.iter_rows(named=True):
        reason_text = reason(r["unserved_reason"], lang) or lab["unserved_default"]
        title = r["_name"] or r["building_id"]
        tip = html_fill(
            _UNSERVED_TIP, title,
            lab["building"], r["building_id"], lab["grid"], r["grid_id"],
            lab["residents"], _fmt_num(r["residents"]), lab["reason"], reason_text,
            _link(r["_sheet"], lab["open_grid_sheet"]),
        )  # fmt: skip
        change = changed.get(str(r["building_id"]))
        if change:
            tip += html_fill("<div class='np-change'>{}: {}</div>", lab["change"], Markup(change))
        tips.append(str(tip))
    unserved_payload: dict[str, Any] = {
        "lat": [_r6(v) for v in unserved["lat"]],
        "lon": [_r6(v) for v in unserved["lon"]],
        "tip": tips,
    }
    sug = data.suggested
    if sug is not None and sug.height:
        # only the buildings the suggestions reach (a district's own can be many thousands)
        listed = sug["building_ids"].explode().drop_nulls().unique().to_list()
        reached = data.buildings.filter(pl.col("building_id").cast(pl.String).is_in(listed))
        building_names = dict(
            zip(
                reached["building_id"].cast(pl.String),
                _optional(reached, "name").cast(pl.String),
                strict=True,
            )
        )
        unserved_payload["sug"] = {
            "lat": [_r6(v) for v in sug["lat"]],
            "lon": [_r6(v) for v in sug["lon"]],
            "ring": _suggested_rings(reached, sug),
            "tip": [
                _esc(
                    lab["suggested_tip"].format(
                        buildings=_fmt_num(r["buildings"]),
                        residents=_fmt_num(r["residents"]),
                        tables=_fmt_num(r["tables"]),
                        points=_fmt_num(r["points"]),
                        building=r["near_building_id"],
                    )
                )
                + _reached_list(r["building_ids"], building_names, lab)
                for r in sug.iter_rows(named=True)
            ],
        }
    return served_payload, unserved_payload


def _suggested_rings(buildings: pl.DataFrame, sug: pl.DataFrame) -> list[list[list[float]]]:
    """Per suggested point, the outline (:func:`hull_ring`) of the point and the buildings it
    reaches first (``building_ids``; those the map does not hold are left out): what the
    point's walking reach covers by the plan's distance model, streets included, which a
    circle would not show."""
    at = {
        str(b): (la, lo)
        for b, la, lo in zip(
            buildings["building_id"].cast(pl.String),
            buildings["lat"],
            buildings["lon"],
            strict=True,
        )
    }
    rings = []
    for r in sug.iter_rows(named=True):
        spots = [(r["lat"], r["lon"])] + [at[b] for b in r["building_ids"] or () if b in at]
        rings.append(hull_ring([p[0] for p in spots], [p[1] for p in spots]))
    return rings


_REACHED_SHOWN = 10
"""Buildings named in a suggested point's popup; the rest are counted."""


def _reached_list(
    ids: list[str] | None, names: dict[str, str | None], lab: Mapping[str, str]
) -> str:
    """The popup's list of the buildings a suggested point reaches (name and id, escaped):
    the first :data:`_REACHED_SHOWN`, then how many more."""
    shown = [
        b if not names.get(b) or names[b] == b else f"{names[b]} ({b})"
        for b in (ids or [])[:_REACHED_SHOWN]
    ]
    if not shown:
        return ""
    more = len(ids or []) - len(shown)
    text = ", ".join(shown) + (" " + lab["suggested_more"].format(n=_fmt_num(more)) if more else "")
    return str(html_fill("<div class='np-reached'>{}: {}</div>", lab["suggested_reaches"], text))


def _catchments(data: MapData, lang: str, colours: dict[object, str]) -> list[dict[str, Any]]:
    lab = labels(lang)
    open_ids = set(data.points.filter(pl.col("open").fill_null(False))["point_id"].to_list())
    names = dict(zip(data.points["point_id"], data.points["name"], strict=True))
    served = data.buildings.filter(pl.col("point_id").is_in(list(open_ids)))
    out = []
    for (pid,), grp in sorted(served.group_by("point_id"), key=lambda kv: _id_key(kv[0][0])):
        residents = _fmt_num(int(grp["residents"].fill_null(0).sum()))
        tip = f"{_title(names[pid], pid)} · {grp.height} {lab['buildings']} · "
        tip += f"{residents} {lab['residents_unit']}"
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
    for (gid,), grp in sorted(data.buildings.group_by("grid_id"), key=lambda kv: _id_key(kv[0][0])):
        residents = _fmt_num(int(grp["residents"].fill_null(0).sum()))
        tip = f"{lab['grid']} {gid} · {grp.height} {lab['buildings']} · {residents} "
        tip += lab["residents_unit"]
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
    groups = sorted(data.routes.group_by("team_id"), key=lambda kv: _id_key(kv[0][0]))
    for i, ((team,), grp) in enumerate(groups):
        grp = grp.sort("seq")
        stops = [
            [_r6(r["lat"]), _r6(r["lon"]), int(r["seq"]), _esc(r["household_id"])]
            for r in grp.iter_rows(named=True)
        ]
        sheet = _optional(grp, "sheet").drop_nulls()
        title = f"{lab['team']} {team}"
        out.append(
            {
                "team": _esc(title),
                "popup": str(
                    html_fill(
                        "<b>{}</b><div>{} {}</div>{}",
                        title,
                        int((grp["seq"] > 0).sum()),
                        lab["households_unit"],
                        _link(sheet[0] if sheet.len() else None, lab["open_team_sheet"]),
                    )
                ),
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


def trip_weight(tubes: float | None, max_tubes: float) -> float:
    """Line width in pixels of a vehicle trip: 1.5 px, growing to 6 px (in proportion to the
    tubes it carries) at the fullest trip of the map."""
    part = max(0.0, float(tubes or 0)) / max_tubes if max_tubes > 0 else 0.0
    return round(1.5 + 4.5 * min(1.0, part), 1)


def _transport(data: MapData, lang: str) -> dict[str, Any]:
    """Vehicle trips (a line each, coloured by vehicle) and labs (a diamond each)."""
    lab = labels(lang)
    trips = data.trips if data.trips is not None else pl.DataFrame()
    vehicles = sorted(set(trips["vehicle_id"].to_list()), key=_id_key) if trips.height else []
    colour = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(vehicles)}
    rows = trips.to_dicts()
    max_tubes = max([float(r["tubes"] or 0) for r in rows], default=0.0)
    lines = []
    for r in sorted(rows, key=lambda r: (_id_key(r["vehicle_id"]), r["trip"])):
        tip = lab["trip_tip"].format(
            vehicle=r["vehicle_id"],
            trip=r["trip"],
            start=r["start"] or "–",
            end=r["end"] or "–",
            tubes=_fmt_num(r["tubes"]),
        )
        info: list[tuple[str, object]] = [
            (lab["trip"], r["trip"]),
            (lab["trip_time"], f"{r['start'] or '–'}–{r['end'] or '–'}"),
            (lab["tubes"], _fmt_num(r["tubes"])),
        ]
        lines.append(
            {
                "line": [[_r6(la), _r6(lo)] for la, lo in (r["path"] or [])],
                "colour": colour[r["vehicle_id"]],
                "w": trip_weight(r["tubes"], max_tubes),
                "tip": _esc(tip),
                "popup": _popup(
                    info,
                    f"{lab['vehicle']} {r['vehicle_id']}",
                    _link(r.get("sheet"), lab["open_vehicle_sheet"]),
                ),
            }
        )
    labs = data.labs if data.labs is not None else pl.DataFrame()
    placed = (
        labs.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
        if labs.height
        else labs
    )
    lab_rows = sorted(placed.to_dicts(), key=lambda r: _id_key(r["lab_id"]))
    popups = []
    for r in lab_rows:
        peak = lab["peak_at"].format(
            tubes=_fmt_num(r["peak_backlog"]), hour=f"{int(r['peak_hour']):02d}"
        )
        info = [
            (lab["lab_rate"], f"{_fmt_num(r['tubes_per_hour'])} {lab['tubes_per_hour_unit']}"),
            (lab["tubes_received"], f"{_fmt_num(r['tubes_received'])} {lab['tubes_unit']}"),
            (lab["peak_backlog"], peak),
            (lab["last_result"], r["last_result"] or "–"),
        ]
        popups.append(_popup(info, f"{lab['lab']} {r['lab_id']}"))
    return {
        "trips": lines,
        "labs": {
            "lat": [_r6(r["lat"]) for r in lab_rows],
            "lon": [_r6(r["lon"]) for r in lab_rows],
            "tip": [_esc(f"{lab['lab']} {r['lab_id']}") for r in lab_rows],
            "popup": popups,
        },
    }


def change_text(row: dict[str, Any], lang: str) -> str:
    """What a re-plan changed for one building, in plain words (not escaped): "moved from P01
    to P03 · call 09:10 → 10:40", "call 09:10 → 10:40", "no point any more (was P02)"…"""
    lab = labels(lang)
    kind, old, new = row.get("kind"), row.get("old_point_id"), row.get("new_point_id")
    call = lab["change_call"].format(old=row.get("old_time") or "–", new=row.get("new_time") or "–")
    timed = row.get("new_time") is not None and row.get("old_time") != row.get("new_time")
    if kind == "building_moved":
        where = (
            lab["change_moved"].format(old=old, new=new)
            if old is not None
            else lab["change_assigned"].format(new=new)
        )
        return f"{where} · {call}" if timed else where
    if kind == "building_unserved":
        return lab["change_unserved"].format(old=old if old is not None else "–")
    if kind == "building_sealed":
        return lab["change_sealed"]
    if kind == "call_moved":
        return call
    return str(kind)


def _changes(data: MapData, lang: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The re-plan's changed buildings (a ring each) and building id (as text) → escaped
    change text."""
    lab = labels(lang)
    if data.changes is None or data.changes.height == 0:
        return {"lat": [], "lon": [], "tip": [], "popup": []}, {}
    rows = data.changes.sort("building_id", "kind").to_dicts()
    by_id: dict[str, list[str]] = {}
    first: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = str(r["building_id"])
        by_id.setdefault(key, []).append(change_text(r, lang))
        first.setdefault(key, r)
    text = {b: "; ".join(t) for b, t in by_id.items()}
    ids = sorted(first)
    return {
        "lat": [_r6(first[b]["lat"]) for b in ids],
        "lon": [_r6(first[b]["lon"]) for b in ids],
        "tip": [_esc(f"{lab['building']} {b} · {text[b]}") for b in ids],
        "popup": [
            _popup([(lab["building"], b), (lab["change"], text[b])], lab["changes"]) for b in ids
        ],
    }, {b: _esc(t) for b, t in text.items()}


def build_payload(data: MapData, lang: str = "zh") -> dict[str, Any]:
    """All layer data for the browser, keyed by layer (see module docstring)."""
    lab = labels(lang)
    colours = point_colours(data)
    points, closed = _points_payload(data, lang, colours)
    changes, changed = _changes(data, lang)
    buildings, unserved = _buildings_payload(data, lang, colours, changed)
    open_pts = data.points.filter(pl.col("open").fill_null(False))
    payload: dict[str, Any] = {
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
                "call",
                "open_point_sheet",
                "open_grid_sheet",
                "change",
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
    }
    if data.has_transport:
        payload["transport"] = _transport(data, lang)
    if data.has_changes:
        payload["changes"] = changes
    if data.base is not None and not data.base.empty:
        payload["base"] = {"ways": [list(w) for w in data.base.ways]}
    return payload
