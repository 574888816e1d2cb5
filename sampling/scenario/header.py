"""The scenario header (``scenario.toml``): campaign-wide settings as a pydantic model.

Unknown keys are rejected (they are usually typos, and a silently ignored ``walk_limit``
would plan with the wrong circle). Defaults follow ``shared/domain.md``: a 07:00–14:00 window,
the 15-minute sampling circle at 75 m/min with straight line × 1.3, 100 swabs per table per
hour, pools of 10 (yellow code 1), and a 30-minute queue wait limit.

Values are read strictly, because a lenient reading silently plans something else: a number
must be a TOML number (``true`` is not 1 minute, ``"15"`` is not 15), a whole number a TOML
integer (an integer is fine where a fraction is allowed), a time of day ``"HH:MM"`` or a TOML
time (``7`` is not 00:07), and infinity or NaN is never a value. Rules that tie keys together
(the window holds a call slot, a table swabs someone) raise :class:`HeaderConflictError`, which
names the key to fix so the loader can point at its line.
"""

from __future__ import annotations

import datetime as dt
import math
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

SHIFT_BLOCK_MIN = 30
"""Staffing plans shifts in blocks of this many minutes (``solver.day.staffing`` ``block_min``)."""


class HeaderConflictError(ValueError):
    """A header value that is wrong only together with others; ``loc`` names the key to fix.

    ``loc`` is relative to the model that raises it (pydantic prefixes the section), ``value``
    is the offending value as shown to the planner and ``expected`` what would be accepted.
    """

    def __init__(self, loc: tuple[str, ...], message: str, value: object, expected: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.value = value
        self.expected = expected


def _clock_in(value: object) -> object:
    """``"HH:MM"`` text or a TOML time → minutes; a number is refused (``7`` is not 00:07)."""
    if isinstance(value, str):
        return parse_clock(value)
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    raise ValueError('expected a time of day as a string, e.g. "07:30"')


def _date_in(value: object) -> object:
    """A TOML date or ``"YYYY-MM-DD"`` text; a number or a date with a time is refused."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("expected a date, e.g. 2022-04-28") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("expected a date, e.g. 2022-04-28")


Clock = Annotated[
    int,
    BeforeValidator(_clock_in),
    Field(ge=0, le=24 * 60),
    PlainSerializer(format_clock, return_type=str),
]
"""A time of day held as minutes since midnight, written as ``HH:MM``."""


def _file_in(value: object) -> object:
    """A file name: not blank, and no NUL or other control character (none can name a file)."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("empty file name")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("control character in a file name")
    return value


FileName = Annotated[str, BeforeValidator(_file_in)]
"""A file path relative to the scenario folder, e.g. ``"buildings.csv"``."""

Day = Annotated[dt.date, BeforeValidator(_date_in)]
"""The day of the round: a TOML date or ``"YYYY-MM-DD"``."""


class _Section(BaseModel):
    # strict: no bool → number, text → number or float → int coercion; no inf / NaN
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Window(_Section):
    """The sampling window on the day."""

    start: Clock = 7 * 60
    end: Clock = 14 * 60

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise HeaderConflictError(
                ("end",),
                "not after window.start",
                format_clock(self.end),
                f"a time later than window.start ({format_clock(self.start)})",
            )
        return self

    @property
    def hours(self) -> float:
        """Length of the window in hours."""
        return (self.end - self.start) / 60.0


class Walking(_Section):
    """How far residents may walk and how walking distance is estimated."""

    limit_min: float = Field(15.0, gt=0, le=120)
    speed_m_per_min: float = Field(
        75.0, ge=1, le=200, description="walking speed, 1–200 m/min (also home visits on foot)"
    )
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
    max_open_points: int | None = Field(
        None, ge=1, le=100_000, description="limit on open sampling points (1–100,000)"
    )
    target_utilisation: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="share of a table's capacity in the window that the plan fills where the "
        "staff allows (0.5–1.0); the rest is slack for late residents and slow swabs",
    )


class Assignment(_Section):
    """Knobs of the building → point assignment."""

    grid_split_penalty: float = Field(
        20_000.0,
        ge=0,
        le=1e12,  # beyond it the solver's penalty sums overflow; 1e12 already means "never"
        description="resident-metres charged per extra point a grid is split over (0–1e12)",
    )
    allow_beyond_limit: bool = Field(
        False,
        description="send buildings no point can take within the limit to the nearest point, flagged",
    )
    overflow: Literal["overtime", "unserved"] = Field(
        "overtime",
        description="residents beyond what the staffed tables can swab in the window: called "
        'after the window end while samplers stay on ("overtime"), or left without a point '
        'or a call ("unserved")',
    )


class Staffing(_Section):
    """Shift rules for medical teams."""

    max_shift_min: float | None = Field(
        None,
        ge=SHIFT_BLOCK_MIN,
        le=24 * 60,
        description="longest shift a sampler works, at least 30 min (shifts are planned in "
        "30-minute blocks); default half the window (two shifts)",
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
    replications: int = Field(
        20,
        ge=1,
        le=200,
        description="simulated days with different random streams (p95 finish over them)",
    )
    late_tolerance_min: float = Field(
        15.0,
        ge=0,
        le=240,
        description="a point is late when its simulated p95 finish is past the window end "
        "plus this many minutes",
    )


class HomeVisits(_Section):
    """Home-visit teams (上门采样) for residents who cannot come down."""

    setup_min: float = Field(
        5.0, ge=0, le=120, description="per household: protective equipment, registration"
    )
    swab_min_per_person: float = Field(2.0, gt=0, le=60)
    travel: Literal["walk", "drive"] = "walk"
    drive_speed_km_h: float = Field(20.0, ge=1, le=120, description="1–120 km/h")
    start_at: Literal["origin", "point"] = Field(
        "origin", description="teams start and end at their origin or at the nearest open point"
    )
    max_stops: int | None = Field(
        None, ge=1, le=10_000, description="households per team at most (1–10,000)"
    )
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


class Transport(_Section):
    """Tubes to the labs (used only when the scenario has ``labs`` and ``vehicles`` tables)."""

    max_tube_age_min: float = Field(
        240.0, gt=0, le=24 * 60, description="longest time from swab to lab arrival, minutes"
    )
    pickup_interval_max_min: float = Field(
        120.0,
        gt=0,
        le=24 * 60,
        description="longest a sealed tube waits at its point for a pickup, minutes",
    )
    drive_speed_km_h: float = Field(30.0, ge=1, le=120, description="1–120 km/h")
    stop_min: float = Field(5.0, ge=0, le=120, description="handover at a point, minutes")
    unload_min: float = Field(10.0, ge=0, le=240, description="unloading at a lab, minutes")
    search_iterations: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="routing solutions per dispatch round (fixed, so runs repeat exactly); "
        "default by size",
    )


class MapSettings(_Section):
    """Optional basemap for offices that run their own tile server."""

    tile_url: str | None = None
    tile_attribution: str | None = None


class TablePaths(_Section):
    """Where each table lives, relative to the scenario folder."""

    buildings: FileName = "buildings.csv"
    points: FileName = "points.csv"
    teams: FileName = "teams.csv"
    home_visits: FileName | None = None
    grids: FileName | None = None
    labs: FileName | None = None
    vehicles: FileName | None = None


class Header(_Section):
    """Everything in ``scenario.toml``."""

    name: str = Field(min_length=1, description='the round\'s name, e.g. "yuci-street"')
    date: Day = Field(description="the day of the round, e.g. 2022-04-28")
    coordinates: Literal["wgs84", "planar"] = "wgs84"
    distance: Literal["straight", "street"] = "straight"
    osm_extract: FileName | None = Field(
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
    transport: Transport = Transport()
    map: MapSettings = MapSettings()
    tables: TablePaths = TablePaths()

    @model_validator(mode="after")
    def _street_needs_extract(self) -> Header:
        if self.distance == "street" and not self.osm_extract:
            raise HeaderConflictError(
                ("osm_extract",),
                'distance = "street" needs an OSM extract',
                self.osm_extract,
                'osm_extract = "<file>" (.osm, .osm.bz2, .osm.pbf) next to scenario.toml',
            )
        return self

    @model_validator(mode="after")
    def _window_holds_the_day(self) -> Header:
        """The window holds one call slot, and a table swabs at least one resident in it.

        Both feed one table's capacity (window less half a slot): a shorter window makes it
        negative, a rate too low for one resident makes it zero, and nothing can be planned.
        """
        length = self.window.end - self.window.start
        slot = self.timetable.slot_min
        if slot > length:
            if "slot_min" in self.timetable.model_fields_set:
                raise HeaderConflictError(
                    ("timetable", "slot_min"),
                    "call slot longer than the window",
                    slot,
                    f"at most the window's {length} minutes",
                )
            raise HeaderConflictError(
                ("window", "end"),
                "window shorter than one call slot",
                format_clock(self.window.end),
                f"at least timetable.slot_min = {slot} minutes after window.start "
                f"({format_clock(self.window.start)})",
            )
        if self.table_capacity < 1.0:
            rate = self.sampling.swabs_per_table_per_hour
            raise HeaderConflictError(
                ("sampling", "swabs_per_table_per_hour"),
                "a table swabs less than one resident in the window",
                rate,
                f"at least {math.ceil(rate / self.table_capacity * 1000) / 1000:g} "
                "for this window and call slot",
            )
        return self

    @property
    def max_shift_min(self) -> float:
        """Longest shift in minutes (half the window unless the header says otherwise).

        The default is at least one staffing block (or the whole window if shorter), so a
        short window still gets a shift the staffing can plan.
        """
        if self.staffing.max_shift_min is not None:
            return self.staffing.max_shift_min
        length = self.window.end - self.window.start
        return max(length / 2.0, float(min(SHIFT_BLOCK_MIN, length)))

    @property
    def table_capacity(self) -> float:
        """Residents one table can swab in the window, as the call timetable can realise it.

        Residents of the first call slot arrive spread over that slot, so about half a slot
        of each table's time is lost at opening; the rest of the window runs at the full rate.
        """
        usable_min = (self.window.end - self.window.start) - self.timetable.slot_min / 2.0
        return self.sampling.swabs_per_table_per_hour * usable_min / 60.0
