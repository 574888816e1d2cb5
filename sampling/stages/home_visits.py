"""Home-visit stage: routes for two-person teams to every immobile household.

Each household in ``home_visits`` is a stop at its building; service = a per-household setup
(protective equipment, registration) + persons × swab time; its window is the household's own
or, without one, any time its team works. Teams (``teams.home_visit``) start and end at their
origin or at the nearest open sampling point, work within their availability, walk (or drive)
and may have a limit on stops. Every household has a drop penalty, so a plan always exists; a
household that cannot be served is listed with a reason, never dropped (:mod:`solver.routing`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import polars as pl

from sampling.clock import clock_expr, format_clock
from sampling.scenario.model import Scenario
from sampling.stages.assignment import AssignmentPlan
from solver.location.candidates import nearest
from solver.routing.problem import UNLIMITED, RoutingProblem
from solver.routing.result import RoutingStatus, VisitReason
from solver.routing.solve import solve

SECONDS_PER_MINUTE = 60


class HomeVisitStatus(StrEnum):
    """The home-visit stage's status (``summary.json`` ``home_visit_status``): the routing's
    (:class:`~solver.routing.result.RoutingStatus`), or why there was nothing to route."""

    FEASIBLE = RoutingStatus.FEASIBLE.value
    INCOMPLETE = RoutingStatus.INCOMPLETE.value
    NO_HOUSEHOLDS = "no_households"
    """The scenario lists no household to visit."""
    NO_TEAMS = "no_teams"
    """Households, but no home-visit team: every household is unserved."""


@dataclass(frozen=True)
class HomeVisitStats:
    """How the home-visit stage ran."""

    seconds: float
    """Routing and tables, wall clock."""
    iterations: int
    """The routing search's iteration budget over all regions (0 without routing)."""
    wall_clock_bound: bool
    """The wall clock (the time limit), not the iteration budget, ended some search."""


@dataclass(frozen=True)
class HomeVisitPlan:
    """Result of the home-visit stage; clock columns are ``HH:MM`` plus exact ``*_s`` seconds.

    ``visits``: one row per household — ``household_id``, ``building_id``, ``persons``,
    ``team_id`` (null if unserved), ``seq``, ``arrive``, ``start``, ``end``,
    ``unserved_reason`` (a :class:`~solver.routing.result.VisitReason` code). ``routes``: one row per team with at least one stop — ``team_id``,
    ``team_name``, ``stops``, ``persons``, ``walk_m``, ``start``, ``end``. ``route_stops``:
    the map's polylines (``team_id``, ``seq`` with 0 = origin, ``household_id``, ``lat``,
    ``lon``).
    """

    visits: pl.DataFrame
    routes: pl.DataFrame
    route_stops: pl.DataFrame
    kpis: dict[str, float | int | str]
    stats: HomeVisitStats


def _clock_s(column: str) -> pl.Expr:
    """``HH:MM`` of a ``<column>_s`` seconds-of-day column; null where it is −1 (unserved)."""
    seconds = pl.col(f"{column}_s")
    return pl.when(seconds >= 0).then(clock_expr(seconds // SECONDS_PER_MINUTE)).alias(column)


def plan_home_visits(
    scenario: Scenario,
    assignment: AssignmentPlan,
    *,
    point_finish: pl.DataFrame | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
) -> HomeVisitPlan:
    """Route the home-visit teams; every household served once or listed with a reason.

    ``point_finish`` (``point_id``, ``finish_min``) from the day stage is used with the
    header's ``after_queues``: a household without a window of its own is then visited only
    after its building's point is expected to finish.

    Routing effort is an iteration count, never the clock, so the same scenario and seed give
    the same routes on any machine: the header's ``search_iterations`` (per model, i.e. per
    region of a large district) or by default a budget fixed by the number of households
    (:mod:`solver.routing.effort`). ``time_limit`` is a safety stop; when it cuts the search,
    ``home_visits_wall_clock_bound`` is 1 in the KPIs and a rerun may differ.
    """
    started = time.perf_counter()
    header = scenario.header
    settings = header.home_visits
    households = scenario.home_visits
    teams = scenario.teams.filter(pl.col("home_visit"))
    buildings = scenario.buildings
    located = households.join(
        buildings.select(
            "building_id", *(["x", "y"] if header.coordinates == "planar" else ["lat", "lon"])
        ),
        on="building_id",
        how="left",
        maintain_order="left",
    )
    hx, hy = scenario.xy(located)
    tx, ty = scenario.xy(teams)
    start_xy = np.column_stack([tx, ty]) if teams.height else np.zeros((0, 2))
    if settings.start_at == "point" and teams.height:
        opened = assignment.points.filter(pl.col("open"))
        chosen = scenario.points.filter(pl.col("point_id").is_in(opened["point_id"].implode()))
        if chosen.height:
            px, py = scenario.xy(chosen)
            index, _ = nearest(start_xy, np.column_stack([px, py]))
            start_xy = np.column_stack([px[index], py[index]])
    speed = (
        header.walking.speed_m_per_min
        if settings.travel == "walk"
        else settings.drive_speed_km_h * 1000.0 / 60.0
    )
    persons = households["persons"].to_numpy().astype(np.int64)
    service = np.rint(
        (settings.setup_min + persons * settings.swab_min_per_person) * SECONDS_PER_MINUTE
    ).astype(np.int64)
    has_window = households["window_start"].is_not_null().to_numpy()
    team_from = teams["available_from"].to_numpy().astype(np.int64)
    team_to = teams["available_to"].to_numpy().astype(np.int64)
    day_start = int(team_from.min()) * 60 if teams.height else 0
    day_end = int(team_to.max()) * 60 if teams.height else 24 * 3600
    tw_early = np.where(
        has_window, households["window_start"].fill_null(0).to_numpy() * 60, day_start
    )
    tw_late = np.where(has_window, households["window_end"].fill_null(0).to_numpy() * 60, day_end)
    if settings.after_queues and point_finish is not None and households.height:
        finish_s = (
            households.select("building_id")
            .join(
                assignment.assignments.select("building_id", "point_id"),
                on="building_id",
                how="left",
                maintain_order="left",
            )
            .join(point_finish, on="point_id", how="left", maintain_order="left")["finish_min"]
            .fill_null(0)
            .to_numpy()
            .astype(np.int64)
            * 60
        )
        tw_early = np.where(has_window, tw_early, np.maximum(tw_early, finish_s))
        tw_late = np.maximum(tw_late, tw_early)

    if households.height == 0 or teams.height == 0:
        result = None
    else:
        problem = RoutingProblem.planar(
            np.column_stack([hx, hy]),
            service,
            start_xy,
            team_from * 60,
            team_to * 60,
            tw_early=tw_early.astype(np.int64),
            tw_late=tw_late.astype(np.int64),
            demand=persons,
            max_stops=settings.max_stops if settings.max_stops is not None else UNLIMITED,
            speed=speed,
            detour=header.walking.detour_factor,
        )
        result = solve(
            problem,
            time_limit=time_limit,
            seed=seed,
            max_iterations=settings.search_iterations,
        )
    solved = time.perf_counter()

    n = households.height
    if result is None:
        vehicle = np.full(n, -1, dtype=np.int64)
        sequence = arrival = start = end = np.full(n, -1, dtype=np.int64)
        reasons: list[str | None] = [VisitReason.NO_TEAM_IN_WINDOW.value] * n
    else:
        vehicle, sequence = result.vehicle, result.sequence
        arrival, start, end = result.arrival, result.start, result.end
        reasons = [
            r.value if r is not None and v < 0 else None
            for r, v in zip(result.reason, vehicle, strict=True)
        ]
    team_ids = teams["team_id"]
    served = vehicle >= 0
    visits = (
        households.select("household_id", "building_id", "persons", "note")
        .with_columns(
            pl.Series(
                "team_id",
                team_ids.gather(np.maximum(vehicle, 0)) if teams.height else [None] * n,
                pl.String,
            ),
            pl.Series("seq", np.where(served, sequence + 1, -1), pl.Int64),
            pl.Series("arrive_s", arrival, pl.Int64),
            pl.Series("start_s", start, pl.Int64),
            pl.Series("end_s", end, pl.Int64),
            pl.Series("unserved_reason", reasons, pl.String),
            pl.Series("served", served, pl.Boolean),
        )
        .with_columns(
            pl.when(pl.col("served")).then(pl.col("team_id")).alias("team_id"),
            pl.when(pl.col("served")).then(pl.col("seq")).alias("seq"),
        )
        .with_columns(_clock_s("arrive"), _clock_s("start"), _clock_s("end"))
        .select(
            "household_id",
            "building_id",
            "persons",
            "team_id",
            "seq",
            "arrive",
            "start",
            "end",
            "unserved_reason",
            "note",
            "arrive_s",
            "start_s",
            "end_s",
        )
    )
    lat, lon = scenario.latlon(located)
    route_rows: list[dict[str, object]] = []
    stop_rows: list[dict[str, object]] = []
    if result is not None:
        o_lat, o_lon = scenario.latlon(teams)
        household_ids = households["household_id"].to_list()
        for route in result.routes:
            if not route.stops:
                continue
            k = route.vehicle
            route_rows.append(
                {
                    "team_id": team_ids[k],
                    "team_name": teams["name"][k],
                    "stops": len(route.stops),
                    "persons": int(persons[list(route.stops)].sum()),
                    "walk_m": int(route.distance),
                    "start_s": int(route.start),
                    "end_s": int(route.end),
                }
            )
            stop_rows.append(
                {
                    "team_id": team_ids[k],
                    "seq": 0,
                    "household_id": None,
                    "lat": float(o_lat[k]),
                    "lon": float(o_lon[k]),
                }
            )
            stop_rows.extend(
                {
                    "team_id": team_ids[k],
                    "seq": i + 1,
                    "household_id": household_ids[s],
                    "lat": float(lat[s]),
                    "lon": float(lon[s]),
                }
                for i, s in enumerate(route.stops)
            )
    route_schema = {
        "team_id": pl.String,
        "team_name": pl.String,
        "stops": pl.Int64,
        "persons": pl.Int64,
        "walk_m": pl.Int64,
        "start_s": pl.Int64,
        "end_s": pl.Int64,
    }
    routes = (
        pl.DataFrame(route_rows, schema=route_schema)
        .with_columns(_clock_s("start"), _clock_s("end"))
        .select(
            "team_id", "team_name", "stops", "persons", "walk_m", "start", "end", "start_s", "end_s"
        )
    )
    route_stops = pl.DataFrame(
        stop_rows,
        schema={
            "team_id": pl.String,
            "seq": pl.Int64,
            "household_id": pl.String,
            "lat": pl.Float64,
            "lon": pl.Float64,
        },
    )
    latest = int(routes["end_s"].to_numpy().max()) if routes.height else -1
    kpis: dict[str, float | int | str] = {
        "households_total": n,
        "households_served": int(served.sum()),
        "households_unserved": int(n - served.sum()),
        "home_visit_persons": int(persons.sum()),
        "home_visit_persons_served": int(persons[served].sum()),
        "home_visit_teams": teams.height,
        "home_visit_routes": routes.height,
        "home_visit_walk_m": int(routes["walk_m"].sum()) if routes.height else 0,
        "home_visit_latest_return": format_clock(latest / 60) if latest >= 0 else "",
        "home_visit_status": _status(result.status if result is not None else None, n).value,
        # 1 when the wall clock (the time limit), not the iteration budget, ended the routing
        # search: the routes may then differ from another run of the same scenario and seed
        "home_visits_wall_clock_bound": int(result is not None and result.stats.wall_clock_bound),
    }
    stats = HomeVisitStats(
        seconds=solved - started,
        iterations=result.stats.iterations if result is not None else 0,
        wall_clock_bound=result is not None and result.stats.wall_clock_bound,
    )
    return HomeVisitPlan(visits, routes, route_stops, kpis, stats)


def _status(routing: RoutingStatus | None, households: int) -> HomeVisitStatus:
    """The stage's status from the routing's, or why nothing was routed."""
    if routing is not None:
        return HomeVisitStatus(routing.value)
    return HomeVisitStatus.NO_HOUSEHOLDS if households == 0 else HomeVisitStatus.NO_TEAMS
