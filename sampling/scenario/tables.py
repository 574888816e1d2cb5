"""What each scenario table must contain: column names, kinds and fixed dtypes.

The schema is data, not code, so the loader, the writer, the README's format reference and the
tests all read the same definition. Coordinates are ``lat``/``lon`` (WGS-84) or ``x``/``y``
(metres) depending on the header's ``coordinates``; clock times are held as whole minutes since
midnight (``Int32``) and written back as ``HH:MM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Kind = Literal[
    "id", "text", "count", "positive", "real", "lat", "lon", "planar", "clock", "bool", "status"
]
Coordinates = Literal["wgs84", "planar"]
TableName = Literal["buildings", "points", "teams", "home_visits", "grids", "labs", "vehicles"]

TABLE_NAMES: tuple[TableName, ...] = (
    "buildings",
    "points",
    "teams",
    "home_visits",
    "grids",
    "labs",
    "vehicles",
)
OPTIONAL_TABLES: frozenset[str] = frozenset({"home_visits", "grids", "labs", "vehicles"})
POINT_STATUSES: tuple[str, ...] = ("candidate", "required", "closed")

DTYPES: dict[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "count": pl.Int64(),
    "positive": pl.Int64(),
    "real": pl.Float64(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "planar": pl.Float64(),
    "clock": pl.Int32(),
    "bool": pl.Boolean(),
    "status": pl.String(),
}


@dataclass(frozen=True)
class Column:
    """One expected column: its name, kind, whether it must exist, and its default if not."""

    name: str
    kind: Kind
    required: bool = True
    default: object = None
    doc: str = ""

    @property
    def dtype(self) -> pl.DataType:
        """The polars dtype the loaded column has."""
        return DTYPES[self.kind]


@dataclass(frozen=True)
class TableSchema:
    """Expected columns of one table; ``key`` is its id column, unique within the table."""

    name: TableName
    key: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)

    @property
    def dtypes(self) -> dict[str, pl.DataType]:
        """Column name → dtype, in schema order."""
        return {c.name: c.dtype for c in self.columns}


def _coordinates(coordinates: Coordinates, what: str) -> tuple[Column, ...]:
    if coordinates == "planar":
        return (
            Column("x", "planar", doc=f"{what} east coordinate, metres"),
            Column("y", "planar", doc=f"{what} north coordinate, metres"),
        )
    return (
        Column("lat", "lat", doc=f"{what} latitude, WGS-84 degrees"),
        Column("lon", "lon", doc=f"{what} longitude, WGS-84 degrees"),
    )


def table_schema(table: TableName, coordinates: Coordinates) -> TableSchema:
    """The schema of ``table`` for a scenario using ``coordinates``."""
    if table == "buildings":
        return TableSchema(
            "buildings",
            "building_id",
            (
                Column("building_id", "id", doc="unique building id"),
                Column("grid_id", "id", doc="grid (网格) the building belongs to"),
                *_coordinates(coordinates, "building"),
                Column("residents", "count", doc="residents to swab, whole number ≥ 0"),
                Column(
                    "yellow_code",
                    "count",
                    False,
                    0,
                    "residents who must use the yellow-code channel",
                ),
                Column("elderly", "count", False, 0, "residents who are slow or need priority"),
                Column("name", "text", False, doc="building name or address"),
                Column("compound", "text", False, doc="residential compound (小区)"),
            ),
        )
    if table == "points":
        return TableSchema(
            "points",
            "point_id",
            (
                Column("point_id", "id", doc="unique sampling point id"),
                *_coordinates(coordinates, "point"),
                Column("max_tables", "positive", doc="sampling tables the site can hold, ≥ 1"),
                Column("status", "status", False, "candidate", "candidate | required | closed"),
                Column("name", "text", False, doc="site name"),
                Column("kind", "text", False, doc="playground, square, school, …"),
            ),
        )
    if table == "teams":
        return TableSchema(
            "teams",
            "team_id",
            (
                Column("team_id", "id", doc="unique team id"),
                Column("samplers", "positive", doc="samplers in the team, ≥ 1"),
                Column("available_from", "clock", doc="arrival, HH:MM"),
                Column("available_to", "clock", doc="end of duty, HH:MM, after available_from"),
                *_coordinates(coordinates, "team origin"),
                Column("home_visit", "bool", False, False, "true for a home-visit team"),
                Column("name", "text", False, doc="team name, e.g. the county it comes from"),
            ),
        )
    if table == "home_visits":
        return TableSchema(
            "home_visits",
            "household_id",
            (
                Column("household_id", "id", doc="unique household id"),
                Column("building_id", "id", doc="building the household lives in"),
                Column("persons", "positive", doc="persons to swab at home, ≥ 1"),
                Column("window_start", "clock", False, doc="earliest visit, HH:MM"),
                Column("window_end", "clock", False, doc="latest visit start, HH:MM"),
                Column("note", "text", False, doc="free text for the team"),
            ),
        )
    if table == "labs":  # tubes to the labs (issue 16)
        return TableSchema(
            "labs",
            "lab_id",
            (
                Column("lab_id", "id", doc="unique lab id"),
                *_coordinates(coordinates, "lab"),
                Column("tubes_per_hour", "positive", doc="tubes the lab tests per hour, ≥ 1"),
                Column("open_from", "clock", False, 0, "receives and tests from, HH:MM"),
                Column("open_to", "clock", False, 24 * 60, "until, HH:MM, after open_from"),
                Column("name", "text", False, doc="lab name"),
            ),
        )
    if table == "vehicles":
        return TableSchema(
            "vehicles",
            "vehicle_id",
            (
                Column("vehicle_id", "id", doc="unique vehicle id"),
                *_coordinates(coordinates, "vehicle depot"),
                Column("capacity_tubes", "positive", doc="tubes the vehicle carries, ≥ 1"),
                Column("available_from", "clock", doc="leaves its depot from, HH:MM"),
                Column("available_to", "clock", doc="last unloading done by, HH:MM"),
                Column("name", "text", False, doc="vehicle or driver"),
            ),
        )
    return TableSchema(
        "grids",
        "grid_id",
        (
            Column("grid_id", "id", doc="unique grid id"),
            Column("name", "text", False, doc="grid name"),
            Column("leader", "text", False, doc="grid leader (网格长)"),
        ),
    )


def empty_table(table: TableName, coordinates: Coordinates) -> pl.DataFrame:
    """A zero-row frame with the table's schema (for optional tables a scenario omits)."""
    return pl.DataFrame(schema=table_schema(table, coordinates).dtypes)
