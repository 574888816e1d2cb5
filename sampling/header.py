"""The scenario header (``scenario.toml``): campaign-wide settings as a pydantic model.

Unknown keys are rejected (they are usually typos, and a silently ignored ``walk_limit``
would plan with the wrong circle). Defaults follow ``shared/domain.md``: a 07:00–14:00 window,
the 15-minute sampling circle at 75 m/min with straight line × 1.3, 100 swabs per table per
hour, pools of 10 (yellow code 1), and a 30-minute queue wait limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from sampling.clock import format_clock, parse_clock


def _clock_in(value: object) -> object:
    if isinstance(value, str):
        return parse_clock(value)
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError('expected a time of day as a string, e.g. "07:30"')


Clock = Annotated[
    int,
    BeforeValidator(_clock_in),
    Field(ge=0, le=24 * 60),
    PlainSerializer(format_clock, return_type=str),
]
"""A time of day held as minutes since midnight, written as ``HH:MM``."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Section):
    """The sampling window on the day."""

    start: Clock = 7 * 60
    end: Clock = 14 * 60

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window.end must be after window.start")
        return self

    @property
    def hours(self) -> float:
        """Length of the window in hours."""
        return (self.end - self.start) / 60.0


class Walking(_Section):
    """How far residents may walk and how walking distance is estimated."""

    limit_min: float = Field(15.0, gt=0, le=120)
    speed_m_per_min: float = Field(75.0, gt=0, le=200)
    detour_factor: float = Field(1.3, ge=1.0, le=3.0)

    @property
    def limit_m(self) -> float:
        """Walking limit as a street distance in metres."""
        return self.limit_min * self.speed_m_per_min

    @property
    def straight_reach_m(self) -> float:
        """Largest straight-line distance that stays inside the walking limit."""
        return self.limit_m / self.detour_factor


class Sampling(_Section):
    """Throughput, pooling and queue rules at the sampling points."""

    swabs_per_table_per_hour: float = Field(100.0, gt=0, le=1000)
    pool_size: int = Field(10, ge=1, le=50)
    yellow_pool_size: int = Field(1, ge=1, le=50)
    queue_wait_limit_min: float = Field(30.0, gt=0, le=600)
    max_open_points: int | None = Field(None, ge=1)


class Assignment(_Section):
    """Knobs of the building → point assignment."""

    grid_split_penalty: float = Field(
        20_000.0,
        ge=0,
        description="resident-metres charged per extra point a grid is split over",
    )
    allow_beyond_limit: bool = Field(
        False,
        description="send buildings no point can take within the limit to the nearest point, flagged",
    )


class Staffing(_Section):
    """Shift rules for medical teams."""

    max_shift_min: float | None = Field(
        None,
        gt=0,
        le=24 * 60,
        description="longest shift a sampler works; default half the window (two shifts)",
    )


class Timetable(_Section):
    """How residents are called down (分楼栋、分时段)."""

    slot_min: int = Field(15, ge=5, le=120, description="length of a call slot in minutes")
    yellow_mode: Literal["channel", "end_slot"] = Field(
        "channel",
        description="yellow-code residents: a separate table at the point, or the last slots",
    )
    elderly_first: bool = Field(True, description="call buildings with many elderly earlier")


class Simulation(_Section):
    """How the queue simulation perturbs the plan (residents late, swab times varying)."""

    service_cv: float = Field(0.4, ge=0, le=3, description="swab time coefficient of variation")
    late_share: float = Field(0.1, ge=0, le=1, description="share of residents who come late")
    late_mean_min: float = Field(10.0, ge=0, le=240, description="mean lateness of those")


class HomeVisits(_Section):
    """Home-visit teams (上门采样) for residents who cannot come down."""

    setup_min: float = Field(
        5.0, ge=0, le=120, description="per household: protective equipment, registration"
    )
    swab_min_per_person: float = Field(2.0, gt=0, le=60)
    travel: Literal["walk", "drive"] = "walk"
    drive_speed_km_h: float = Field(20.0, gt=0, le=120)
    start_at: Literal["origin", "point"] = Field(
        "origin", description="teams start and end at their origin or at the nearest open point"
    )
    max_stops: int | None = Field(None, ge=1, description="households per team at most")
    after_queues: bool = Field(
        False,
        description="visit households without a window of their own only after their "
        "building's sampling point is expected to finish",
    )
    search_iterations: int | None = Field(
        None,
        ge=10,
        description="routing search effort (fixed, so runs repeat exactly); default by size",
    )


class MapSettings(_Section):
    """Optional basemap for offices that run their own tile server."""

    tile_url: str | None = None
    tile_attribution: str | None = None


class TablePaths(_Section):
    """Where each table lives, relative to the scenario folder."""

    buildings: str = "buildings.csv"
    points: str = "points.csv"
    teams: str = "teams.csv"
    home_visits: str | None = None
    grids: str | None = None


class Header(_Section):
    """Everything in ``scenario.toml``."""

    name: str = Field(min_length=1)
    date: dt.date
    coordinates: Literal["wgs84", "planar"] = "wgs84"
    distance: Literal["straight", "street"] = "straight"
    osm_extract: str | None = Field(
        None, description='street network for distance = "street" (.osm, .osm.bz2, .osm.pbf)'
    )
    description: str | None = None
    attribution: str | None = None
    window: Window = Window()
    walking: Walking = Walking()
    sampling: Sampling = Sampling()
    assignment: Assignment = Assignment()
    staffing: Staffing = Staffing()
    timetable: Timetable = Timetable()
    simulation: Simulation = Simulation()
    home_visits: HomeVisits = HomeVisits()
    map: MapSettings = MapSettings()
    tables: TablePaths = TablePaths()

    @model_validator(mode="after")
    def _street_needs_extract(self) -> Header:
        if self.distance == "street" and not self.osm_extract:
            raise ValueError('distance = "street" needs osm_extract = "<file>" (an OSM extract)')
        return self

    @property
    def max_shift_min(self) -> float:
        """Longest shift in minutes (half the window unless the header says otherwise)."""
        if self.staffing.max_shift_min is not None:
            return self.staffing.max_shift_min
        return (self.window.end - self.window.start) / 2.0

    @property
    def table_capacity(self) -> float:
        """Residents one table can swab in the window, as the call timetable can realise it.

        Residents of the first call slot arrive spread over that slot, so about half a slot
        of each table's time is lost at opening; the rest of the window runs at the full rate.
        """
        usable_min = (self.window.end - self.window.start) - self.timetable.slot_min / 2.0
        return self.sampling.swabs_per_table_per_hour * usable_min / 60.0
