"""Input of the map renderer: :class:`MapData` (plain polars frames, no solver types)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from maps.basemap import BaseMap

__all__ = [
    "BUILDING_COLUMNS",
    "CHANGE_COLUMNS",
    "LAB_COLUMNS",
    "POINT_COLUMNS",
    "ROUTE_COLUMNS",
    "TRIP_COLUMNS",
    "MapData",
    "MapDataError",
]

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
TRIP_COLUMNS = ("vehicle_id", "trip", "tubes", "start", "end", "path")
LAB_COLUMNS = (
    "lab_id",
    "lat",
    "lon",
    "tubes_per_hour",
    "tubes_received",
    "peak_backlog",
    "peak_hour",
    "last_result",
)
CHANGE_COLUMNS = (
    "building_id",
    "kind",
    "lat",
    "lon",
    "old_point_id",
    "new_point_id",
    "old_time",
    "new_time",
)


SUGGESTED_COLUMNS = (
    "near_building_id",
    "lat",
    "lon",
    "buildings",
    "residents",
    "tables",
    "points",
    "building_ids",
)


class MapDataError(ValueError):
    """MapData is missing a column or holds values the renderer cannot draw."""


@dataclass(frozen=True)
class MapData:
    """Everything the coverage map shows. All coordinates are WGS84 degrees.

    ``buildings`` (one row per building):
        ``building_id`` (str|int), ``grid_id`` (str|int), ``lat``, ``lon`` (float),
        ``residents`` (int), ``point_id`` (same type as points.point_id; null = unserved),
        ``walk_m`` (float, nullable), ``unserved_reason`` (reason code, nullable); optional
        ``name`` (str), ``call`` (str, the call time, e.g. "07:15–07:45"), ``grid_sheet``
        (str, link to the grid's call list, relative to the map file).
    ``points`` (one row per candidate sampling point, open or not):
        ``point_id``, ``name`` (str, nullable), ``lat``, ``lon``, ``open`` (bool),
        ``tables``, ``max_tables`` (int), ``capacity``, ``load`` (residents assigned, number),
        ``utilisation`` (load / capacity, 0..1+); optional ``finish``, ``sim_finish_p95``
        (str "HH:MM", nullable), ``staff`` (int), ``yellow_channel`` (bool), ``late`` (bool:
        late in simulation), ``deficit``, ``overtime_residents``, ``not_called`` (int:
        residents it cannot swab in the window), ``sheet`` (str, link to its point sheet).
    ``routes`` (optional; home-visit stops in visiting order):
        ``team_id``, ``seq`` (int; 0 = the team's origin, drawn but not numbered),
        ``household_id``, ``lat``, ``lon``; optional ``sheet`` (link to the team itinerary).
    ``trips`` (optional; the transport of tubes to the labs, one row per vehicle trip):
        ``vehicle_id`` (str), ``trip`` (int, 1 = first), ``tubes`` (int, unloaded at the lab),
        ``start``, ``end`` (str "HH:MM"), ``path`` (list of ``[lat, lon]``: pickups, then the
        lab); optional ``sheet`` (link to the vehicle sheet).
    ``labs`` (optional; one row per lab): ``lab_id``, ``lat``, ``lon`` (null: the lab received
        nothing and is not drawn), ``tubes_per_hour``, ``tubes_received``, ``peak_backlog``
        (int), ``peak_hour`` (int, the hour whose end has the largest backlog),
        ``last_result`` (str "HH:MM", nullable).
    ``changes`` (optional; what a re-plan changed, one row per changed building):
        ``building_id``, ``kind`` (``building_moved``, ``building_unserved``,
        ``building_sealed`` or ``call_moved``), ``lat``, ``lon``, ``old_point_id``,
        ``new_point_id``, ``old_time``, ``new_time`` (first call "HH:MM"; all nullable text).
    ``suggested`` (optional; temporary points that would reach the buildings beyond the
        walking limit of every candidate point, most residents first): ``near_building_id``,
        ``lat``, ``lon``, ``buildings``, ``residents`` (int: what each reaches that no earlier
        one does), ``tables`` (int: what those residents need), ``points`` (int: how many
        temporary points share those tables), ``building_ids`` (list of
        text: those buildings, drawn as the dashed outline of what the point reaches).
    ``walk_limit_m``: radius of the walking-limit circles (straight-line reach), metres.
    ``kpis``: shown in the KPI panel in this order; known keys (the ``[kpi]`` labels of
        :mod:`sampling.i18n`) get translated labels and formats (``coverage`` in 0..1 is shown
        as a percentage), others are shown as given; see :data:`maps.render.KPI_LEVELS` for
        the rows shown as parts of the row above.
    ``alerts``: sentences shown in red at the top of the KPI panel (the plan's alerts, e.g.
        a capacity deficit or points that finish late in simulation).
    ``notes``: plain sentences under the KPI figures (e.g. how close the plan is to the best).
    ``attribution``: optional credit for the data (e.g. the ODbL notice of OpenStreetMap-derived
        buildings), shown as text in the map's attribution corner.
    ``base``: optional streets and building outlines (:func:`maps.basemap.read_basemap`),
        drawn under everything as the base layer.
    """

    buildings: pl.DataFrame
    points: pl.DataFrame
    routes: pl.DataFrame | None = None
    walk_limit_m: float = 500.0
    title: str = ""
    kpis: dict[str, float | int | str] = field(default_factory=dict)
    attribution: str = ""
    alerts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    base: BaseMap | None = None
    trips: pl.DataFrame | None = None
    labs: pl.DataFrame | None = None
    changes: pl.DataFrame | None = None
    suggested: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        _require(self.buildings, BUILDING_COLUMNS, "buildings")
        _require(self.points, POINT_COLUMNS, "points")
        for what, frame, columns in (
            ("routes", self.routes, ROUTE_COLUMNS),
            ("trips", self.trips, TRIP_COLUMNS),
            ("labs", self.labs, LAB_COLUMNS),
            ("changes", self.changes, CHANGE_COLUMNS),
            ("suggested", self.suggested, SUGGESTED_COLUMNS),
        ):
            if frame is not None and frame.height > 0:
                _require(frame, columns, what)
        if not self.walk_limit_m >= 0:
            raise MapDataError(f"walk_limit_m must be >= 0, got {self.walk_limit_m!r}")
        located = [("buildings", self.buildings), ("points", self.points)]
        if self.has_changes:
            located.append(("changes", self.changes))  # type: ignore[arg-type]
        for name, frame in located:
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

    @property
    def has_transport(self) -> bool:
        """True when there is at least one vehicle trip."""
        return self.trips is not None and self.trips.height > 0

    @property
    def has_changes(self) -> bool:
        """True when a re-plan changed at least one building."""
        return self.changes is not None and self.changes.height > 0


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MapDataError(f"{what}: missing column(s) {', '.join(missing)}")
