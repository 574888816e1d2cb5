"""Input of the map renderer: :class:`MapData` (plain polars frames, no solver types)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["BUILDING_COLUMNS", "POINT_COLUMNS", "ROUTE_COLUMNS", "MapData", "MapDataError"]

BUILDING_COLUMNS = (
    "building_id",
    "grid_id",
    "lat",
    "lon",
    "residents",
    "point_id",
    "walk_m",
    "unserved_reason",
)
POINT_COLUMNS = (
    "point_id",
    "name",
    "lat",
    "lon",
    "open",
    "tables",
    "max_tables",
    "capacity",
    "load",
    "utilisation",
)
ROUTE_COLUMNS = ("team_id", "seq", "household_id", "lat", "lon")


class MapDataError(ValueError):
    """MapData is missing a column or holds values the renderer cannot draw."""


@dataclass(frozen=True)
class MapData:
    """Everything the coverage map shows. All coordinates are WGS84 degrees.

    ``buildings`` (one row per building):
        ``building_id`` (str|int), ``grid_id`` (str|int), ``lat``, ``lon`` (float),
        ``residents`` (int), ``point_id`` (same type as points.point_id; null = unserved),
        ``walk_m`` (float, nullable), ``unserved_reason`` (str, nullable; shown in a tooltip).
    ``points`` (one row per candidate sampling point, open or not):
        ``point_id``, ``name`` (str, nullable), ``lat``, ``lon``, ``open`` (bool),
        ``tables``, ``max_tables`` (int), ``capacity``, ``load`` (residents, number),
        ``utilisation`` (load / capacity, 0..1+); optional ``finish`` (str "HH:MM", nullable),
        ``staff`` (int), ``yellow_channel`` (bool).
    ``routes`` (optional; home-visit stops in visiting order):
        ``team_id``, ``seq`` (int; 0 = the team's origin, drawn but not numbered),
        ``household_id``, ``lat``, ``lon``.
    ``walk_limit_m``: radius of the walking-limit circles (straight-line reach), metres.
    ``kpis``: shown in the KPI panel; known keys (the ``[kpi]`` labels of :mod:`sampling.i18n`)
        get translated labels and formats (``coverage`` in 0..1 is shown as a percentage), others
        are shown as given.
    ``finish_deadline``: optional "HH:MM"; when points carry ``finish``, markers are coloured
        by slack to this deadline (else by equal time bins between earliest and latest finish).
    ``alerts``: sentences shown in red under the KPI panel's figures (the plan's alerts, e.g.
        a capacity deficit or points that finish late in simulation).
    ``attribution``: optional credit for the data (e.g. the ODbL notice of OpenStreetMap-derived
        buildings), shown as text in the map's attribution corner.
    """

    buildings: pl.DataFrame
    points: pl.DataFrame
    routes: pl.DataFrame | None = None
    walk_limit_m: float = 500.0
    title: str = ""
    kpis: dict[str, float | int | str] = field(default_factory=dict)
    finish_deadline: str | None = None
    attribution: str = ""
    alerts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self.buildings, BUILDING_COLUMNS, "buildings")
        _require(self.points, POINT_COLUMNS, "points")
        if self.routes is not None and self.routes.height > 0:
            _require(self.routes, ROUTE_COLUMNS, "routes")
        if not self.walk_limit_m >= 0:
            raise MapDataError(f"walk_limit_m must be >= 0, got {self.walk_limit_m!r}")
        for name, frame in (("buildings", self.buildings), ("points", self.points)):
            bad = frame.filter(
                pl.col("lat").is_null()
                | pl.col("lon").is_null()
                | ~pl.col("lat").is_between(-90, 90)
                | ~pl.col("lon").is_between(-180, 180)
            )
            if bad.height:
                raise MapDataError(f"{name}: {bad.height} rows with missing/invalid lat/lon")
        if self.points["point_id"].n_unique() != self.points.height:
            raise MapDataError("points: point_id values are not unique")

    @property
    def has_routes(self) -> bool:
        """True when there is at least one route stop."""
        return self.routes is not None and self.routes.height > 0


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MapDataError(f"{what}: missing column(s) {', '.join(missing)}")
