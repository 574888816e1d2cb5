"""A scenario's size and how it compares with the national norms (shared/domain.md).

Norm checks are warnings, not errors: a planner may knowingly run points above 3,000
residents, but should see it before the day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from sampling.clock import format_clock
from sampling.report import counted, percent
from sampling.scenario.model import Scenario

RESIDENTS_PER_POINT = (2_000, 3_000)
RESIDENTS_PER_TABLE = (600, 800)
RESIDENTS_PER_SAMPLER = 360
"""Residents per sampler in the norm "samplers needed = population ÷ 360" (3rd edition);
``natplan generate --staff-ratio R`` makes R × this many samplers."""

RESIDENTS_PER_BUILDING_MAX = 20_000
"""More residents than this in one building is implausible: a 33-floor high-rise holds about
700, and the largest residential buildings known (Regent International, Hangzhou) about
20,000. Above it the row is most likely a typo or a whole compound entered as one building."""

_LISTED_BUILDINGS = 3
"""Implausible buildings named in the warning (the rest are counted)."""


@dataclass(frozen=True)
class ScenarioSummary:
    """Counts, capacities and norm warnings of a loaded scenario."""

    name: str
    buildings: int
    grids: int
    residents: int
    yellow_code: int
    elderly: int
    points_usable: int
    points_required: int
    points_closed: int
    tables_max: int
    teams: int
    samplers: int
    home_visit_teams: int
    home_visit_households: int
    home_visit_persons: int
    table_capacity_in_window: float
    residents_within_limit: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """A short human-readable summary."""
        covered = self.residents_within_limit / self.residents if self.residents else 1.0
        return [
            f"scenario {self.name}",
            f"  buildings {self.buildings:,} in {self.grids:,} grids; residents {self.residents:,}"
            f" (yellow code {self.yellow_code:,}, elderly {self.elderly:,})",
            f"  points {self.points_usable:,} usable ({self.points_required} required,"
            f" {self.points_closed} closed); tables up to {self.tables_max:,}",
            f"  teams {self.teams:,} with {counted(self.samplers, 'sampler')};"
            f" home-visit teams {self.home_visit_teams:,}",
            f"  home visits {self.home_visit_households:,} households,"
            f" {self.home_visit_persons:,} persons",
            f"  table capacity in the window {self.table_capacity_in_window:,.0f} swabs",
            f"  residents within the walking limit of a usable point {percent(covered, 2)}"
            f" ({self.residents_within_limit:,} of {self.residents:,})",
        ]


def _building_warnings(buildings: pl.DataFrame) -> list[str]:
    """A warning naming buildings with more residents than any real building holds."""
    large = buildings.filter(pl.col("residents") > RESIDENTS_PER_BUILDING_MAX).sort(
        "residents", descending=True
    )
    if large.height == 0:
        return []
    named = ", ".join(
        f"{building} ({residents:,})"
        for building, residents in large.select("building_id", "residents")
        .head(_LISTED_BUILDINGS)
        .iter_rows()
    )
    more = (
        f" and {large.height - _LISTED_BUILDINGS:,} more"
        if large.height > _LISTED_BUILDINGS
        else ""
    )
    return [
        f"{large.height:,} building{'s' if large.height != 1 else ''} with more than"
        f" {RESIDENTS_PER_BUILDING_MAX:,} residents: {named}{more} — implausible for one"
        " building; check for a typo or a whole compound entered as one building"
    ]


def summarise(scenario: Scenario) -> ScenarioSummary:
    """Size the scenario and check it against the norms."""
    from sampling.stages.assignment import candidate_pairs, sampler_minutes, staffable_tables

    header = scenario.header
    buildings, points, teams = scenario.buildings, scenario.points, scenario.teams
    usable = points.filter(pl.col("status") != "closed")
    medical = teams.filter(~pl.col("home_visit"))
    home_teams = teams.filter(pl.col("home_visit"))
    residents = scenario.residents
    samplers = int(medical["samplers"].sum())
    tables_max = int(usable["max_tables"].sum())
    max_open = header.sampling.max_open_points
    points_usable = usable.height if max_open is None else min(usable.height, max_open)
    staffed_tables = min(tables_max, staffable_tables(scenario))
    capacity = staffed_tables * header.table_capacity

    bx, by = scenario.xy(buildings)
    px, py = scenario.xy(usable)
    pairs, _facts = candidate_pairs(
        scenario,
        np.column_stack([bx, by]),
        np.column_stack([px, py]),
        buildings["residents"].to_numpy().astype(np.int64),
    )
    reachable = np.zeros(buildings.height, dtype=bool)
    reachable[pairs.building] = True
    within = int(buildings["residents"].to_numpy()[reachable].sum())

    warnings = _building_warnings(buildings)
    if points_usable:
        per_point = residents / points_usable
        low, high = RESIDENTS_PER_POINT
        if not low <= per_point <= high:
            warnings.append(
                f"{per_point:,.0f} residents per point (over {points_usable} points)"
                f" — the norm is {low:,}–{high:,}"
            )
    if staffed_tables:
        per_table = residents / staffed_tables
        low, high = RESIDENTS_PER_TABLE
        if not low <= per_table <= high:
            warnings.append(
                f"{per_table:,.0f} residents per staffed table ({staffed_tables} tables)"
                f" — the norm is {low}–{high}"
            )
    needed = residents / RESIDENTS_PER_SAMPLER
    if samplers < needed:
        warnings.append(
            f"{counted(samplers, 'sampler')} at points, fewer than residents ÷"
            f" {RESIDENTS_PER_SAMPLER}"
            f" = {needed:,.0f}"
        )
    window_text = f"{format_clock(header.window.start)}–{format_clock(header.window.end)}"
    if staffed_tables == 0 and residents > 0 and sampler_minutes(scenario) == 0:
        warnings.append(
            f"no walk-in team works in the window ({window_text}; check the teams'"
            " available_from, available_to and home_visit): the plan calls no one at a point"
            " and asks for the samplers its tables need (capacity_plan.parquet)"
        )
    elif staffed_tables == 0 and residents > 0:
        hours = sampler_minutes(scenario) / 60.0
        warnings.append(
            f"the walk-in teams can staff less than one table through the window ({window_text}:"
            f" {hours:,.1f} sampler-hours): the plan sizes its tables to the residents, calls"
            " whom those hours allow and asks for the rest (capacity_plan.parquet)"
        )
    elif capacity < residents:
        warnings.append(
            f"table capacity in the window ({staffed_tables} staffed tables ×"
            f" {header.table_capacity:,.0f} = {capacity:,.0f}) is below the {residents:,}"
            " residents: the round cannot finish in the window"
            + (
                ' (the plan calls the rest after it: overflow = "overtime")'
                if header.assignment.overflow == "overtime"
                else ' (the rest stay without a point or a call: overflow = "unserved")'
            )
        )
    if within < residents:
        far = int((~reachable).sum())
        warnings.append(
            f"{residents - within:,} residents in {far:,} building{'s' if far != 1 else ''}"
            f" {'have' if far != 1 else 'has'} no usable point within"
            f" {header.walking.limit_min:g} min"
        )
    return ScenarioSummary(
        name=header.name,
        buildings=buildings.height,
        grids=int(buildings["grid_id"].n_unique()),
        residents=residents,
        yellow_code=int(buildings["yellow_code"].sum()),
        elderly=int(buildings["elderly"].sum()),
        points_usable=usable.height,
        points_required=int((points["status"] == "required").sum()),
        points_closed=int((points["status"] == "closed").sum()),
        tables_max=tables_max,
        teams=medical.height,
        samplers=samplers,
        home_visit_teams=home_teams.height,
        home_visit_households=scenario.home_visits.height,
        home_visit_persons=int(scenario.home_visits["persons"].sum()),
        table_capacity_in_window=capacity,
        residents_within_limit=within,
        warnings=tuple(warnings),
    )
