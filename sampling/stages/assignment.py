"""Assignment stage: every building to one sampling point, or unserved with a reason.

Turns a Scenario into the array model of :mod:`solver.location.engine` and its result back into
tables. Demand at a point is the building's *walk-in* residents: residents minus those swabbed
at home (``home_visits``). Walking distance is straight line × detour factor; only pairs inside
the walking limit exist, so a plan can never quietly send anyone too far. With
``allow_beyond_limit`` a building no point reaches gets an arc to its nearest usable point,
flagged ``beyond_limit``.

Point capacity = ``max_tables`` × one table's capacity (swabs per hour × the window less half
a call slot lost at opening, see ``Header.table_capacity``); tables at a point
= ceil(load ÷ one table's capacity); total tables ≤ what the medical teams can staff
(sampler-hours available inside the window ÷ window hours). The engine plans at full
capacity; the target utilisation is reached afterwards (:mod:`sampling.stages.overflow`),
which on generated districts gave lower cost than planning the engine at the target capacity
(too tight to pack well in its time budget).

After the engine, :mod:`sampling.stages.overflow` plans tables to the target utilisation
(``[sampling] target_utilisation``, where the staff allows) and places the residents the
staffed tables cannot take in the window: with ``[assignment] overflow = "overtime"`` at a
reachable point, called after the window; with ``"unserved"`` they stay unserved
(``capacity``) and the placement only sizes the deficit and the capacity plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

import numpy as np
import polars as pl
from numpy.typing import NDArray

from sampling.errors import Problem, ScenarioError
from sampling.scenario.loader import required_over_limit
from sampling.scenario.model import Scenario
from sampling.stages.limits import wall_safety
from sampling.stages.overflow import Arcs, Levelled, level
from solver.location.candidates import Pairs, nearest, pairs_within
from solver.location.cover import cover_sites, straight_reach
from solver.location.engine import LocationProblem, LocationResult, solve
from solver.location.model import gap_without_group_penalty

STATUS_CODE = {"candidate": 0, "required": 1, "closed": -1}
UNSERVED_COST_FACTOR = 10.0  # an unserved resident costs 10 × the walking limit in metres


class UnservedReason(StrEnum):
    """Why a building has no point (``assignments.parquet``, ``unserved_reason``).

    Codes only; the text is in ``sampling/labels`` (``[reasons]``), where ``out_of_reach``
    names the header's walking limit when it is shown.
    """

    OUT_OF_REACH = "out_of_reach"
    """No usable point within the walking limit."""
    CAPACITY = "capacity"
    """Points are in reach, but none has room for it in the window (it has an overflow point)."""
    NO_OPEN_POINT = "no_open_point"
    """No open point with tables is in its reach (the open-point limit or the staff)."""
    NO_WALK_IN = "no_walk_in"
    """Nobody walks from it: empty, or all its residents are visited at home."""
    NO_PLAN = "no_plan_found"
    """The engine found no plan at all (see the plan's ``status_reason``)."""


class AssignmentStatus(StrEnum):
    """The assignment's status, as the location engine reports it (``summary.json`` ``status``)."""

    OPTIMAL = "optimal"
    """The gap to the lower bound is closed."""
    FEASIBLE = "feasible"
    """A plan with a gap to the lower bound."""
    INFEASIBLE = "infeasible"
    """Proven: the limits contradict each other (raised as an input error, never planned)."""
    NO_PLAN = "no_plan_found"
    """The search ended without a plan; nothing is proven (``reason`` says what was tried)."""


@dataclass(frozen=True)
class StreetFacts:
    """Facts about street-network distances (``distance = "street"`` only)."""

    detour_median: float
    """Street walk ÷ straight line over the pairs found (straight ≥ 100 m), resident-weighted
    median; NaN when no pair qualifies (``null`` in ``summary.json``)."""
    detour_mean: float
    """The same ratio's weighted mean."""
    building_snap_max_m: float
    """Farthest a building is from the street it was snapped to."""
    point_snap_max_m: float
    """Farthest a point is from the street it was snapped to."""
    buildings_far: int
    """Buildings farther from a street than the snapping warning distance."""
    points_far: int
    """Points farther from a street than the snapping warning distance."""

    def as_dict(self) -> dict[str, float]:
        """The ``street_*`` figures of ``summary.json``."""
        return {
            "street_detour_median": self.detour_median,
            "street_detour_mean": self.detour_mean,
            "street_snap_building_max_m": self.building_snap_max_m,
            "street_snap_point_max_m": self.point_snap_max_m,
            "street_buildings_far": float(self.buildings_far),
            "street_points_far": float(self.points_far),
        }


@dataclass(frozen=True)
class LevellingFacts:
    """What levelling to the target utilisation changed (:mod:`sampling.stages.overflow`)."""

    filled: int
    """Buildings the engine left unserved that got a point in reach (pass 1)."""
    moved: int
    """Buildings moved off points above the target (pass 2)."""
    tables_added: int
    tables_released: int
    """Tables no longer needed at the effective target (pass 3)."""
    overtime_moves: int
    """Buildings moved to shorten the longest overtime (pass 5, overtime mode only)."""


@dataclass(frozen=True)
class AssignmentStats:
    """How the assignment stage ran and what its engine reported.

    ``engine`` is the location engine's own figures as it reports them
    (:attr:`~solver.location.engine.LocationResult.stats`, keys vary with the path it took),
    with ``group_penalty`` and ``gap_without_group_penalty`` updated for the levelled plan.
    """

    candidates_seconds: float
    """Building–point pairs and the model, wall clock."""
    assignment_seconds: float
    """The location engine, wall clock."""
    levelling_seconds: float
    arcs: int
    """Building–point pairs in the model (beyond-limit arcs included)."""
    group_penalty: float
    """Grid-split penalty of the final plan (0 without grid penalties)."""
    gap_without_group_penalty: float
    """Walking + unserved cost against the bound (which ignores the grid-split penalty)."""
    wall_clock_bound: bool
    """The wall clock, not the engine's work budget, ended the search (a rerun may differ)."""
    engine: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    street: StreetFacts | None = None
    levelling: LevellingFacts | None = None

    def as_dict(self) -> dict[str, float]:
        """Every figure as one flat dict (``solver_*`` for the engine's; for benchmarks)."""
        out = {
            "candidates_seconds": self.candidates_seconds,
            "assignment_seconds": self.assignment_seconds,
            "levelling_seconds": self.levelling_seconds,
            "arcs": float(self.arcs),
            **(self.street.as_dict() if self.street is not None else {}),
            **{f"solver_{k}": float(v) for k, v in self.engine.items()},
            "solver_group_penalty": self.group_penalty,
            "solver_gap_without_group_penalty": self.gap_without_group_penalty,
            "solver_wall_clock_bound": float(self.wall_clock_bound),
        }
        if self.levelling is not None:
            out |= {
                "levelling_filled": float(self.levelling.filled),
                "levelling_moved": float(self.levelling.moved),
                "levelling_tables_added": float(self.levelling.tables_added),
                "levelling_tables_released": float(self.levelling.tables_released),
                "levelling_overtime_moves": float(self.levelling.overtime_moves),
            }
        return out


@dataclass(frozen=True)
class AssignmentPlan:
    """Result of the assignment stage.

    ``assignments``: one row per building — ``building_id``, ``grid_id``, ``point_id`` (null
    if unserved), ``residents``, ``home_visit_persons``, ``walk_in`` (residents coming to a
    point), ``yellow_code``, ``elderly``, ``walk_m``, ``walk_min``, ``beyond_limit``,
    ``unserved_reason`` (a :class:`UnservedReason` code). ``points``: one row per point — ``point_id``, ``status``, ``open``,
    ``tables``, ``max_tables``, ``capacity``, ``load``, ``utilisation``.
    """

    assignments: pl.DataFrame
    points: pl.DataFrame
    objective: float
    lower_bound: float
    gap: float
    status: AssignmentStatus
    staffable_tables: int
    stats: AssignmentStats
    reason: str = ""
    """Why there is no plan (``status`` = ``no_plan_found``): the engine's account of what it
    tried, reaching ``summary.json`` (``status_reason``), the console and the index; empty
    otherwise."""
    overflow: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"building_id": pl.String, "point_id": pl.String, "walk_in": pl.Int64}
        )
    )
    """Buildings placed beyond what the staffed tables can swab in the window, at the point
    they would use: assigned there and called in overtime (``overflow = "overtime"``), or only
    for the deficit and the capacity plan (``"unserved"``; they stay unserved, ``capacity``)."""
    target_utilisation: float = 1.0
    """The utilisation the tables were planned to (the header's target where staff allows)."""
    suggested_points: pl.DataFrame = field(default_factory=lambda: _no_suggestions())
    """Where temporary points would reach the buildings beyond the walking limit of every
    candidate point (:func:`reach_suggestions`), most residents first."""


def staffable_tables(scenario: Scenario) -> int:
    """Tables the medical teams can keep staffed over the window, on average.

    Each sampler works one shift of at most ``max_shift_min`` inside both the window and their
    availability; one table needs one sampler at a time, so the tables staffable all day are
    the sampler-minutes over the window length. With the default two shifts this is about half
    the samplers (the norm: population ÷ 360 samplers for population ÷ 700 tables). Staffing
    (shifts, relief) is planned later; this is the cap the assignment may not exceed.
    """
    window = scenario.header.window
    return math.floor(sampler_minutes(scenario) / (window.end - window.start) + 1e-9)


def sampler_minutes(scenario: Scenario) -> int:
    """Minutes the walk-in teams' samplers can work inside the window (one shift of at most
    ``max_shift_min`` each, within their availability)."""
    header = scenario.header
    window = header.window
    teams = scenario.teams.filter(~pl.col("home_visit"))
    overlap = (
        (
            pl.min_horizontal(pl.col("available_to"), pl.lit(window.end))
            - pl.max_horizontal(pl.col("available_from"), pl.lit(window.start))
        )
        .clip(lower_bound=0)
        .clip(upper_bound=header.max_shift_min)
    )
    return int(teams.select((overlap * pl.col("samplers")).sum()).item() or 0)


def tables_without_staff(scenario: Scenario, residents_in_reach: int, unit: int) -> int:
    """The table cap when no walk-in team can staff a table in the window
    (:func:`staffable_tables` is 0): the tables the residents within reach of a point need
    at the target utilisation. Capping at 0 would leave every resident without a point and
    the plan without a statement of what is missing; planned to this, the points and tables
    stand ready, the timetable calls nobody (no table is staffed), and the staffing shortfall
    and the capacity plan ask for the samplers every table needs, by point and hour."""
    if residents_in_reach <= 0 or unit <= 0:
        return 0
    target = scenario.header.sampling.target_utilisation
    return max(1, math.ceil(residents_in_reach / (unit * target) - 1e-9))


def walk_in_residents(scenario: Scenario) -> NDArray[np.int64]:
    """Residents per building who come to a point (residents − home-visit persons)."""
    home = (
        scenario.home_visits.group_by("building_id")
        .agg(pl.col("persons").sum().alias("home"))
        .with_columns(pl.col("home").cast(pl.Int64))
    )
    joined = scenario.buildings.select("building_id", "residents").join(
        home, on="building_id", how="left", maintain_order="left"
    )
    home_persons = joined["home"].fill_null(0).to_numpy()
    walk_in: NDArray[np.int64] = np.maximum(joined["residents"].to_numpy() - home_persons, 0)
    return walk_in.astype(np.int64)


def candidate_pairs(
    scenario: Scenario,
    building_xy: NDArray[np.float64],
    point_xy: NDArray[np.float64],
    demand: NDArray[np.int64],
) -> tuple[Pairs, StreetFacts | None]:
    """Building–point pairs inside the walking limit, by the header's distance model.

    ``straight``: straight line × detour factor. ``street``: shortest walks on the street
    network of ``osm_extract`` (snapped at both ends), never shorter than the straight line.
    Also returns facts about street distances (snapping, the observed detour factor), or None
    for straight-line distances.
    """
    walking = scenario.header.walking
    if scenario.header.distance == "street":
        from sampling.osm.extract import scenario_streets
        from solver.streets import street_pairs

        pairs, report = street_pairs(
            scenario_streets(scenario),
            building_xy,
            point_xy,
            walk_limit_m=walking.limit_m,
            building_weight=demand.astype(np.float64),
        )
        return pairs, StreetFacts(
            detour_median=report.detour_median,
            detour_mean=report.detour_mean,
            building_snap_max_m=report.building_snap_max_m,
            point_snap_max_m=report.point_snap_max_m,
            buildings_far=len(report.buildings_far),
            points_far=len(report.points_far),
        )
    straight = pairs_within(
        building_xy, point_xy, walk_limit_m=walking.limit_m, detour_factor=walking.detour_factor
    )
    return straight, None


def build_problem(
    scenario: Scenario,
) -> tuple[LocationProblem, Pairs, NDArray[np.bool_], StreetFacts | None]:
    """The location model of ``scenario``, its pairs, a flag per arc beyond the limit, and
    facts about the distances (see :func:`candidate_pairs`)."""
    header = scenario.header
    buildings, points = scenario.buildings, scenario.points
    bx, by = scenario.xy(buildings)
    px, py = scenario.xy(points)
    building_xy, point_xy = np.column_stack([bx, by]), np.column_stack([px, py])
    status = points["status"].replace_strict(STATUS_CODE, return_dtype=pl.Int8).to_numpy()
    usable = status >= 0
    usable_index = np.flatnonzero(usable).astype(np.int32)
    demand = walk_in_residents(scenario)
    found, distance_facts = candidate_pairs(scenario, building_xy, point_xy[usable], demand)
    pairs = Pairs(found.building, usable_index[found.point], found.straight_m, found.walk_m)
    beyond = np.zeros(len(pairs), dtype=bool)
    if header.assignment.allow_beyond_limit and usable.any():
        reached = np.zeros(buildings.height, dtype=bool)
        reached[pairs.building] = True
        lonely = np.flatnonzero(~reached).astype(np.int32)
        if len(lonely):
            index, straight = nearest(building_xy[lonely], point_xy[usable])
            extra = Pairs(
                lonely, usable_index[index], straight, straight * header.walking.detour_factor
            )
            pairs = Pairs(
                np.concatenate([pairs.building, extra.building]),
                np.concatenate([pairs.point, extra.point]),
                np.concatenate([pairs.straight_m, extra.straight_m]),
                np.concatenate([pairs.walk_m, extra.walk_m]),
            )
            beyond = np.concatenate([beyond, np.ones(len(lonely), dtype=bool)])
    unit = math.floor(header.table_capacity)
    tables_cap = staffable_tables(scenario) or tables_without_staff(
        scenario, int(demand[np.unique(pairs.building)].sum()), unit
    )
    grid_codes = buildings["grid_id"].cast(pl.Categorical).to_physical().to_numpy()
    limit_cost = UNSERVED_COST_FACTOR * header.walking.limit_m
    problem = LocationProblem(
        demand=demand,
        capacity=points["max_tables"].to_numpy().astype(np.int64) * unit,
        arc_client=pairs.building.astype(np.int32),
        arc_site=pairs.point.astype(np.int32),
        arc_cost=demand[pairs.building].astype(np.float64) * pairs.walk_m,
        site_status=status.astype(np.int8),
        max_open=header.sampling.max_open_points,
        unserved_cost=np.maximum(demand, 1).astype(np.float64) * limit_cost,
        unit_capacity=unit,
        max_units_total=tables_cap,
        group=grid_codes.astype(np.int32),
        group_split_penalty=header.assignment.grid_split_penalty,
    )
    return problem, pairs, beyond, distance_facts


def assign(
    scenario: Scenario,
    *,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
) -> AssignmentPlan:
    """Assign every building to a point (or unserved with a reason).

    ``time_limit`` is the engine's work budget (seconds of work, machine-independent);
    ``wall_limit`` its wall-clock safety stop (default
    :func:`sampling.stages.limits.wall_safety`), reported in ``stats.wall_clock_bound``.
    """
    started = time.perf_counter()
    problem, pairs, beyond, distance_facts = build_problem(scenario)
    built = time.perf_counter()
    wall = wall_safety(time_limit, wall_limit)
    result = solve(problem, time_limit=wall, work_budget=time_limit, seed=seed)
    solved = time.perf_counter()
    status = AssignmentStatus(result.status)
    if status == AssignmentStatus.INFEASIBLE:
        raise contradiction(scenario, result.reason)
    engine = {k: float(v) for k, v in result.stats.items()}
    levelled: Levelled | None = None
    if status in (AssignmentStatus.OPTIMAL, AssignmentStatus.FEASIBLE):
        levelled = _level(scenario, problem, pairs, result)
        result, engine = _levelled_result(problem, result, levelled, engine)
        status = AssignmentStatus(result.status)
    levelled_at = time.perf_counter()
    plan = _tables(scenario, problem, pairs, beyond, result, levelled)
    stats = AssignmentStats(
        candidates_seconds=built - started,
        assignment_seconds=solved - built,
        levelling_seconds=levelled_at - solved,
        arcs=len(pairs),
        group_penalty=engine.get("group_penalty", 0.0),
        gap_without_group_penalty=engine.get("gap_without_group_penalty", result.gap),
        wall_clock_bound=bool(engine.get("wall_clock_bound", 0.0)),
        engine=MappingProxyType(engine),
        street=distance_facts,
        levelling=None
        if levelled is None
        else LevellingFacts(
            filled=int(levelled.filled),
            moved=int(levelled.moved),
            tables_added=int(levelled.tables_added),
            tables_released=int(levelled.tables_released),
            overtime_moves=int(levelled.balanced),
        ),
    )
    overflow = _overflow_frame(scenario, problem, levelled)
    suggested = reach_suggestions(scenario, plan[0])
    return AssignmentPlan(
        assignments=plan[0],
        points=plan[1],
        objective=result.objective,
        lower_bound=result.lower_bound,
        gap=result.gap,
        status=status,
        staffable_tables=staffable_tables(scenario),
        stats=stats,
        reason=result.reason,
        overflow=overflow,
        target_utilisation=levelled.target if levelled is not None else 1.0,
        suggested_points=suggested,
    )


SUGGESTION_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "near_building_id": pl.String,
    "grid_id": pl.String,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "buildings": pl.Int64,
    "residents": pl.Int64,
    "tables": pl.Int64,
    "points": pl.Int64,
    "building_ids": pl.List(pl.String),
}
"""Columns of a plan's suggested points (``AssignmentPlan.suggested_points``)."""


def _no_suggestions() -> pl.DataFrame:
    return pl.DataFrame(schema=SUGGESTION_SCHEMA)


def suggestion_rows(suggested: pl.DataFrame) -> list[dict[str, object]]:
    """``suggested`` (:func:`reach_suggestions`) as ``summary.json``'s ``suggested_points``."""
    return [
        {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
        for row in suggested.iter_rows(named=True)
    ]


def building_xy(scenario: Scenario, building_ids: pl.Series) -> NDArray[np.float64]:
    """Planar metres (:meth:`Scenario.xy`) of the scenario's buildings with ``building_ids``,
    in that order (ids compared as text; every id must be one of the scenario's)."""
    ids = scenario.buildings["building_id"].cast(pl.String)
    index = pl.DataFrame({"building_id": ids, "row": np.arange(ids.len())})
    rows = (
        pl.DataFrame({"building_id": building_ids.cast(pl.String)})
        .join(index, on="building_id", how="left", maintain_order="left")["row"]
        .to_numpy()
    )
    bx, by = scenario.xy(scenario.buildings)
    return np.asarray(np.column_stack([bx, by])[rows], dtype=np.float64)


def reach_suggestions(scenario: Scenario, assignments: pl.DataFrame) -> pl.DataFrame:
    """Temporary points that would bring every ``out_of_reach`` building with walk-in residents
    within the walking limit: a greedy cover by sites at those buildings
    (:func:`solver.location.cover.cover_sites`), one row per site — the building it stands at
    (``near_building_id``, its grid, ``lat``/``lon``), the ``buildings`` and walk-in
    ``residents`` it reaches that no earlier row does (their ids in ``building_ids``), and the
    ``tables`` they need (at the header's target utilisation of a table's capacity in the
    window, at least one), split over ``points`` temporary points there, each no larger than
    the scenario's largest point (its ``max_tables``). Reach is measured as the candidates'
    is (:func:`reach_pairs`), so with street distances every building is within a street
    walk of its suggestion.
    """
    far = (
        (assignments["unserved_reason"] == UnservedReason.OUT_OF_REACH.value)
        & (assignments["walk_in"] > 0)
    ).fill_null(False)
    if not far.any():
        return _no_suggestions()
    rows = np.flatnonzero(far.to_numpy())
    ids = assignments["building_id"].gather(rows).cast(pl.String)
    walk_in = assignments["walk_in"].to_numpy().astype(np.int64)[rows]
    site, building = reach_pairs(scenario, building_xy(scenario, ids), walk_in)
    cover = cover_sites(rows.shape[0], site, building, walk_in)
    at = assignments[rows[cover.site].tolist()]
    header = scenario.header
    per_table = header.table_capacity * header.sampling.target_utilisation
    tables = np.maximum(1, np.ceil(cover.weight / per_table)).astype(np.int64)
    # no temporary point larger than the district's largest point: more tables, more points
    sizes = scenario.points["max_tables"].cast(pl.Int64).fill_null(0).to_numpy()
    limit = int(sizes.max()) if sizes.size else 0
    points = np.ceil(tables / limit).astype(np.int64) if limit > 0 else np.ones_like(tables)
    order = np.argsort(cover.covered_by, kind="stable")
    reached = np.split(ids.gather(order).to_numpy(), np.cumsum(cover.count)[:-1])
    return pl.DataFrame(
        {
            "near_building_id": at["building_id"].cast(pl.String),
            "grid_id": at["grid_id"].cast(pl.String),
            "lat": at["lat"],
            "lon": at["lon"],
            "buildings": cover.count,
            "residents": cover.weight,
            "tables": tables,
            "points": points,
            "building_ids": [list(r) for r in reached],
        },
        schema=SUGGESTION_SCHEMA,
    )


def reach_pairs(
    scenario: Scenario, xy: NDArray[np.float64], walk_in: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs ``(site, building)`` of the buildings at planar ``xy``: a temporary point at
    building ``site`` would be within the walking limit of building ``building``, by the
    header's distance model — straight line over the detour factor, or walks on the street
    network of ``osm_extract`` (:func:`solver.streets.street_pairs`, the buildings at both
    ends), the measure the candidate points' reach was taken with."""
    header = scenario.header
    if header.distance == "street":
        from sampling.osm.extract import scenario_streets
        from solver.streets import street_pairs

        pairs, _ = street_pairs(
            scenario_streets(scenario),
            xy,
            xy,
            walk_limit_m=header.walking.limit_m,
            building_weight=walk_in.astype(np.float64),
        )
        return pairs.point.astype(np.int64), pairs.building.astype(np.int64)
    return straight_reach(xy, header.walking.straight_reach_m)


def _level(
    scenario: Scenario, problem: LocationProblem, pairs: Pairs, result: LocationResult
) -> Levelled:
    """Tables to the target utilisation and the residents beyond capacity (see
    :mod:`sampling.stages.overflow`)."""
    header = scenario.header
    n = problem.demand.shape[0]
    unit = float(math.floor(header.table_capacity))  # a table's full capacity in the window
    return level(
        demand=problem.demand.astype(np.int64),
        site=result.site_of_client.astype(np.int64),
        tables=result.units.astype(np.int64),
        open_=result.open_sites.astype(bool),
        usable=problem.site_status >= 0,
        max_tables=scenario.points["max_tables"].to_numpy().astype(np.int64),
        max_open=header.sampling.max_open_points,
        arcs=Arcs.of(
            n,
            pairs.building.astype(np.int64),
            pairs.point.astype(np.int64),
            pairs.walk_m.astype(np.float64),
        ),
        unit=unit,
        table_cap=int(problem.max_units_total or 0),
        target=header.sampling.target_utilisation,
        group=(problem.group if problem.group is not None else np.zeros(n, np.int32)).astype(
            np.int64
        ),
        group_penalty=problem.group_split_penalty,
        unserved_cost=(
            problem.unserved_cost
            if problem.unserved_cost is not None
            else np.zeros(n, dtype=np.float64)
        ),
        apply_overflow=header.assignment.overflow == "overtime",
    )


def _levelled_result(
    problem: LocationProblem,
    result: LocationResult,
    levelled: Levelled,
    stats: dict[str, float],
) -> tuple[LocationResult, dict[str, float]]:
    """The engine's result with the levelled plan, its objective and gaps updated, and the
    engine's figures (``group_penalty``, ``gap_without_group_penalty``) updated to match.

    The objective is the engine's cost of the in-window plan (residents placed in overtime
    are still charged as unserved: the engine's model has no overtime), so it stays an upper
    bound against the same lower bound; a plan the passes changed is no longer proven optimal.
    """
    objective = result.objective
    stats = dict(stats)
    if levelled.changed:
        objective = (
            result.objective + levelled.delta_walk + levelled.delta_unserved + levelled.delta_grid
        )
        grid = stats.get("group_penalty", 0.0) + levelled.delta_grid
        stats["group_penalty"] = grid
        walking_gap = gap_without_group_penalty(
            objective, grid, result.lower_bound, stats.get("lagrangian_bound", -math.inf)
        )
        if walking_gap is not None:
            stats["gap_without_group_penalty"] = walking_gap
    bound = result.lower_bound
    gap = result.gap
    if levelled.changed and math.isfinite(bound) and bound > 0:
        gap = max(0.0, (objective - bound) / bound)
    status = result.status
    if levelled.changed and status == "optimal" and gap > 1e-9:
        status = "feasible"
    updated = replace(
        result,
        site_of_client=levelled.site.astype(np.int32),
        open_sites=levelled.open,
        units=levelled.tables,
        load=levelled.load,
        objective=objective,
        gap=gap,
        status=status,
    )
    return updated, stats


def _overflow_frame(
    scenario: Scenario, problem: LocationProblem, levelled: Levelled | None
) -> pl.DataFrame:
    """Buildings placed beyond the window's capacity, with their point and walk-in residents."""
    if levelled is None:
        index = np.zeros(0, dtype=np.int64)
        point = np.zeros(0, dtype=np.int64)
    else:
        index = np.flatnonzero(levelled.overflow_point >= 0)
        point = levelled.overflow_point[index]
    return pl.DataFrame(
        {
            "building_id": scenario.buildings["building_id"].gather(index),
            "point_id": scenario.points["point_id"].gather(point),
            "walk_in": pl.Series(problem.demand[index], dtype=pl.Int64),
        }
    )


def contradiction(scenario: Scenario, proof: str) -> ScenarioError:
    """The input error behind a proven-infeasible assignment, with the limits named.

    Every building may stay unserved (with a reason), so only the header's and the points'
    limits can contradict each other; the loader catches the known cases before planning.
    """
    header = scenario.header
    required = int((scenario.points["status"] == "required").sum())
    limit = header.sampling.max_open_points
    if limit is not None and required > limit:
        return ScenarioError([required_over_limit(header.tables.points, required, limit)])
    return ScenarioError([Problem("scenario.toml", f"no plan is possible: {proof}")])


def _tables(
    scenario: Scenario,
    problem: LocationProblem,
    pairs: Pairs,
    beyond: NDArray[np.bool_],
    result: LocationResult,
    levelled: Levelled | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    header = scenario.header
    buildings, points = scenario.buildings, scenario.points
    site = result.site_of_client.astype(np.int64)
    n = buildings.height
    # The arc each building uses: pairs are unique per (building, point).
    key_pairs = pairs.building.astype(np.int64) * (points.height + 1) + pairs.point
    key_chosen = np.arange(n, dtype=np.int64) * (points.height + 1) + np.maximum(site, 0)
    order = np.argsort(key_pairs)
    position = np.searchsorted(key_pairs[order], key_chosen)
    position = np.clip(position, 0, max(len(order) - 1, 0))
    served = site >= 0
    arc = order[position] if len(order) else np.zeros(n, dtype=np.int64)
    walk_m = np.where(served, pairs.walk_m[arc] if len(order) else 0.0, np.nan)
    flagged = np.where(served, beyond[arc] if len(order) else False, False)
    has_arc = np.zeros(n, dtype=bool)
    has_arc[pairs.building] = True
    out_of_reach = UnservedReason.OUT_OF_REACH.value
    # Without a plan, "capacity" would be a guess: say that the engine found none. With one, a
    # building in reach is beyond capacity when it has an overflow point (unserved mode), else
    # no open point with tables is in its reach (the open-point limit or the staff).
    if result.status == AssignmentStatus.NO_PLAN:
        in_reach = np.full(n, UnservedReason.NO_PLAN.value, dtype=object)
    elif levelled is not None:
        in_reach = np.where(
            levelled.overflow_point >= 0,
            UnservedReason.CAPACITY.value,
            UnservedReason.NO_OPEN_POINT.value,
        )
    else:
        in_reach = np.full(n, UnservedReason.CAPACITY.value, dtype=object)
    reason = pl.select(
        pl.when(pl.lit(pl.Series(served)))
        .then(None)
        .when(pl.lit(pl.Series(has_arc)))
        .then(pl.lit(pl.Series(in_reach.astype(str), dtype=pl.String)))
        .otherwise(pl.lit(out_of_reach))
    ).to_series()
    point_ids = points["point_id"].gather(np.maximum(site, 0))
    point_of = pl.select(pl.when(pl.lit(pl.Series(served))).then(point_ids)).to_series()
    demand = problem.demand
    assignments = buildings.select(
        "building_id", "grid_id", "residents", "yellow_code", "elderly"
    ).with_columns(
        point_of.rename("point_id"),
        pl.Series("home_visit_persons", buildings["residents"].to_numpy() - demand, pl.Int64).clip(
            lower_bound=0
        ),
        pl.Series("walk_in", demand, pl.Int64),
        pl.Series("walk_m", walk_m, pl.Float64).fill_nan(None),
        pl.Series("beyond_limit", flagged, pl.Boolean),
        reason.rename("unserved_reason"),
    )
    b_lat, b_lon = scenario.latlon(buildings)
    assignments = assignments.with_columns(
        (pl.col("walk_m") / header.walking.speed_m_per_min).alias("walk_min"),
        pl.Series("lat", b_lat, pl.Float64),
        pl.Series("lon", b_lon, pl.Float64),
    ).select(
        "building_id",
        "grid_id",
        "point_id",
        "residents",
        "home_visit_persons",
        "walk_in",
        "yellow_code",
        "elderly",
        "walk_m",
        "walk_min",
        "beyond_limit",
        "unserved_reason",
        "lat",
        "lon",
    )
    full_unit = math.floor(header.table_capacity)  # capacity is reported at full rate
    p_lat, p_lon = scenario.latlon(points)
    point_table = points.select("point_id", "name", "kind", "status", "max_tables").with_columns(
        pl.Series("lat", p_lat, pl.Float64),
        pl.Series("lon", p_lon, pl.Float64),
        pl.Series("open", result.open_sites, pl.Boolean),
        pl.Series("tables", result.units, pl.Int64),
        pl.Series(
            "capacity",
            np.where(result.open_sites, result.units * full_unit, 0),
            pl.Int64,
        ),
        pl.Series("capacity_max", points["max_tables"].to_numpy() * full_unit, pl.Int64),
        pl.Series("load", result.load, pl.Int64),
    )
    # A building nobody walks from (empty, or all its residents visited at home) needs no
    # point; saying so keeps it off the open points' lists.
    assignments = assignments.with_columns(
        pl.when(pl.col("walk_in") > 0).then(pl.col("point_id")).alias("point_id"),
        pl.when(pl.col("walk_in") > 0)
        .then(pl.col("unserved_reason"))
        .otherwise(pl.lit(UnservedReason.NO_WALK_IN.value))
        .alias("unserved_reason"),
        pl.when(pl.col("walk_in") > 0).then(pl.col("walk_m")).alias("walk_m"),
        pl.when(pl.col("walk_in") > 0).then(pl.col("walk_min")).alias("walk_min"),
    )
    # A candidate with nothing assigned is not opened (no tables, no staff).
    point_table = point_table.with_columns(
        (pl.col("open") & ((pl.col("load") > 0) | (pl.col("status") == "required"))).alias("open")
    )
    point_table = point_table.with_columns(
        pl.when(pl.col("capacity") > 0)
        .then(pl.col("load") / pl.col("capacity"))
        .otherwise(0.0)
        .alias("utilisation")
    ).select(
        "point_id",
        "name",
        "kind",
        "status",
        "lat",
        "lon",
        "open",
        "tables",
        "max_tables",
        "capacity",
        "capacity_max",
        "load",
        "utilisation",
    )
    return assignments, point_table
