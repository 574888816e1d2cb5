"""Home-visit team itineraries (``teams/<team_id>.html``), one per team with a route.

The two-person team's day in visiting order: household, building and address, persons, the
expected arrival, start and end of the visit, the household's time window and the note, then
the team's start, return, walking distance and the supplies to carry. Stops are grouped by team
in one pass; ``sampling/templates/team.html`` lays them out (every value escaped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import fill, label_namespace, named, page_context, template
from sampling.documents.supplies import SPARE_SHARE

_STOP_COLUMNS = (
    "seq",
    "household_id",
    "building_name",
    "building_id",
    "compound",
    "coord",
    "persons",
    "arrive",
    "start",
    "end",
    "window_start_text",
    "window_end_text",
    "note",
)

Row = tuple[object, ...]


def team_pages(data: PlanData, lab: Mapping[str, str], lang: str) -> dict[str, str]:
    """``teams/<team_id>.html`` → page text for every team that has at least one stop."""
    hv, routes = data.home_visits, data.routes
    if hv is None or routes is None or routes.height == 0:
        return {}
    stops = _stops_by_team(hv.filter(pl.col("team_id").is_not_null()))
    page = template("team.html")
    names = label_namespace(lab)
    header = data.scenario.header
    pages: dict[str, str] = {}
    for route in routes.sort("team_id").iter_rows(named=True):
        tid = str(route["team_id"])
        name = named(route.get("team_name") or tid, tid)
        team_stops, persons = stops.get(tid, ([], 0))
        pages[data.paths.team(tid)] = page.render(
            page_context(
                header, lab, lang, title=name, heading=fill(lab["team_heading"], name=name)
            ),
            lab=names,
            spare_pct=f"{SPARE_SHARE * 100:g}%",
            t=_figures(route, len(team_stops), persons),
            stops=team_stops,
        )
    return pages


def _figures(route: Mapping[str, Any], households: int, persons: int) -> dict[str, Any]:
    """Start, return, households, persons, walking metres and swabs to carry (with spares)."""
    return {
        "start": route.get("start"),
        "end": route.get("end"),
        "households": households,
        "persons": persons,
        "walk_m": route.get("walk_m"),
        "swabs": persons + math.ceil(persons * SPARE_SHARE),
    }


def _stops_by_team(served: pl.DataFrame) -> dict[str, tuple[list[Row], int]]:
    """Per team: itinerary rows in visiting order (seq, household, address as building name,
    id and coordinates, persons, arrival, visit, window, note) and the persons visited."""
    frame = served.sort("team_id", "seq", maintain_order=True).select("team_id", *_STOP_COLUMNS)
    rows: dict[str, list[Row]] = {}
    persons: dict[str, int] = {}
    for (tid, seq, household, bname, bid, compound, coord, n, arrive, start, end, window_start,
         window_end, note) in frame.iter_rows():  # fmt: skip
        name = str(bname or bid)
        if compound and not name.startswith(str(compound)):
            name = f"{compound} {name}"
        window = f"{window_start}–{window_end}" if window_start else ""
        team = str(tid)
        rows.setdefault(team, []).append(
            (seq, household, name, bid, coord, n, arrive, f"{start}–{end}", window, note or "")
        )
        persons[team] = persons.get(team, 0) + int(n)
    return {team: (team_rows, persons[team]) for team, team_rows in rows.items()}
