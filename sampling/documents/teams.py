"""Home-visit team itineraries (``teams/<team_id>.html``), one per team with a route.

The two-person team's day in visiting order: household, building and address, persons, the
expected arrival, start and end of the visit, the household's time window and the note, then
the team's start, return, walking distance and the supplies to carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import (
    Markup,
    bullets,
    esc,
    facts,
    fill,
    fmt_int,
    header_context,
    named,
    page,
    table,
)
from sampling.documents.supplies import SPARE_SHARE


def team_pages(data: PlanData, lab: Mapping[str, str], lang: str) -> dict[str, str]:
    """``teams/<team_id>.html`` → page text for every team that has at least one stop."""
    hv, routes = data.home_visits, data.routes
    if hv is None or routes is None or routes.height == 0:
        return {}
    served = hv.filter(pl.col("team_id").is_not_null())
    stops = {str(k[0]): v for k, v in served.partition_by("team_id", as_dict=True).items()}
    context = header_context(data.scenario.header)
    pages: dict[str, str] = {}
    for route in routes.sort("team_id").iter_rows(named=True):
        tid = str(route["team_id"])
        name = route.get("team_name") or tid
        team_stops = stops.get(tid)
        body = _summary(route, team_stops, lab) + _itinerary(team_stops, lab)
        body += '<div class="sign"><span>' + esc(lab["sign_team"]) + "</span><span>"
        body += esc(lab["sign_date"]) + "</span></div>"
        pages[data.paths.team(tid)] = page(
            title=named(name, tid),
            heading=fill(lab["team_heading"], {"name": named(name, tid)}),
            subtitle=fill(lab["subtitle"], context),
            body=body,
            lang=lang,
            footer=lab["footer"],
        )
    return pages


def _summary(route: Mapping[str, Any], stops: pl.DataFrame | None, lab: Mapping[str, str]) -> str:
    households = 0 if stops is None else stops.height
    persons = 0 if stops is None else int(stops["persons"].sum())
    walk_m = route.get("walk_m")
    items: list[tuple[str, object]] = [
        (lab["team_start"], route.get("start")),
        (lab["team_end"], route.get("end")),
        (lab["households"], fmt_int(households)),
        (lab["persons"], fmt_int(persons)),
        (lab["walk_distance"], f"{fmt_int(walk_m)} m" if walk_m is not None else ""),
    ]
    swabs_spare = math.ceil(persons * SPARE_SHARE)
    supplies = fill(
        lab["team_supplies"],
        {
            "swabs": persons + swabs_spare,
            "persons": persons,
            "tubes": households,
            "suits": 2 * households,
            "pct": f"{SPARE_SHARE * 100:g}%",
        },
    )
    return facts(items) + bullets([supplies, lab["team_note"]])


def _itinerary(stops: pl.DataFrame | None, lab: Mapping[str, str]) -> str:
    title = f"<h2>{esc(lab['itinerary'])}</h2>"
    if stops is None or stops.height == 0:
        return title + f"<p>{esc(lab['no_stops'])}</p>"
    headers = (lab["seq"], lab["household"], lab["address"], lab["persons"], lab["arrive"],
               lab["visit"], lab["visit_window"], lab["note"])  # fmt: skip
    rows: list[tuple[object, ...]] = []
    for r in stops.sort("seq").iter_rows(named=True):
        name = str(r.get("building_name") or r["building_id"])
        compound = r.get("compound")
        if compound and not name.startswith(str(compound)):
            name = f"{compound} {name}"
        address = Markup(
            f"{esc(name)}<br><small>{esc(r['building_id'])} · {esc(r.get('coord'))}</small>"
        )
        window = (
            f"{r['window_start_text']}–{r['window_end_text']}" if r.get("window_start_text") else ""
        )
        rows.append(
            (
                r["seq"],
                r["household_id"],
                address,
                r["persons"],
                r["arrive"],
                f"{r['start']}–{r['end']}",
                window,
                r.get("note") or "",
            )
        )
    total = (lab["total"], fmt_int(stops.height), "", fmt_int(int(stops["persons"].sum())),
             "", "", "", "")  # fmt: skip
    return title + table(headers, rows, numeric=(0, 3), times=(1, 4, 5, 6), total=total)
