"""Per-point work sheets (``points/<point_id>.html``) for the medical team and point leader.

One printable A4 page set per open point: where it is, key figures (tables, residents, start,
finish and its capacity lower bound, queue and waits planned and simulated), supplies with the
rules used, the staff roster by shift, any staffing shortfall, and the call timetable
(yellow-code calls marked). Frames are split once with ``partition_by``; only the rendering of
one point's rows loops in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import (
    bullets,
    esc,
    facts,
    fill,
    fmt_int,
    fmt_num,
    fmt_pct,
    header_context,
    named,
    page,
    span,
    table,
)
from sampling.documents.supplies import SupplyRules, point_supplies
from sampling.i18n import kind_label

_TIMETABLE_COLUMNS = (
    "call_start",
    "call_end",
    "building_id",
    "building_name",
    "grid_name",
    "residents",
    "yellow_code",
    "channel",
)
_SHIFT_COLUMNS = ("start", "end", "team_id", "team_name", "tables")
_GAP_COLUMNS = ("start", "end")


def supply_rules(data: PlanData) -> SupplyRules:
    """Pool sizes of the plan's scenario."""
    sampling = data.scenario.header.sampling
    return SupplyRules(pool_size=sampling.pool_size, yellow_pool_size=sampling.yellow_pool_size)


def _parts(frame: pl.DataFrame | None, columns: tuple[str, ...]) -> dict[str, pl.DataFrame]:
    """``frame`` split by ``point_id`` (only the given columns kept)."""
    if frame is None or frame.height == 0:
        return {}
    cols = [c for c in columns if c in frame.columns]
    parts = frame.select("point_id", *cols).partition_by("point_id", as_dict=True)
    return {str(k[0]): v for k, v in parts.items()}


def point_pages(data: PlanData, lab: Mapping[str, str], lang: str) -> dict[str, str]:
    """``points/<point_id>.html`` → page text, one per open point."""
    rules = supply_rules(data)
    supplies = {
        str(r["point_id"]): r
        for r in point_supplies(data.timetable, data.shifts, rules).iter_rows(named=True)
    }
    calls = _parts(data.timetable, _TIMETABLE_COLUMNS)
    shifts = _parts(data.shifts, _SHIFT_COLUMNS)
    shortfall = _parts(data.shortfall, (*_GAP_COLUMNS, "start_min", "missing_samplers"))
    extra = _parts(data.capacity_plan, (*_GAP_COLUMNS, "start_min", "extra_samplers"))
    context = header_context(data.scenario.header)
    pages: dict[str, str] = {}
    for point in data.points.iter_rows(named=True):
        pid = str(point["point_id"])
        body = "".join(
            (
                _facts_section(point, lab, lang),
                _supplies_section(supplies.get(pid), rules, lab),
                _roster_section(shifts.get(pid), lab),
                _gap_section(shortfall.get(pid), extra.get(pid), lab),
                _timetable_section(calls.get(pid), point, lab),
                '<div class="sign"><span>'
                + esc(lab["sign_leader"])
                + "</span><span>"
                + esc(lab["sign_date"])
                + "</span></div>",
            )
        )
        heading = fill(lab["point_heading"], {"name": named(point["point_name"], pid)})
        pages[data.paths.point(pid)] = page(
            title=named(point["point_name"], pid),
            heading=heading,
            subtitle=fill(lab["subtitle"], context),
            body=body,
            lang=lang,
            footer=lab["footer"],
        )
    return pages


def _facts_section(p: Mapping[str, Any], lab: Mapping[str, str], lang: str) -> str:
    yellow = lab["yes"] if p.get("yellow_channel") else lab["no"]
    items: list[tuple[str, object]] = [
        (lab["kind"], kind_label(p.get("point_kind"), lang)),
        (lab["location"], p.get("coord")),
        (lab["tables"], f"{fmt_int(p.get('tables'))} / {fmt_int(p.get('max_tables'))}"),
        (lab["residents_assigned"], fmt_int(p.get("load"))),
        (lab["capacity_window"], fmt_int(p.get("capacity"))),
        (lab["utilisation"], fmt_pct(p.get("utilisation"))),
        (lab["expected_start"], p.get("start")),
        (lab["expected_finish"], p.get("finish")),
        (lab["finish_lower_bound"], p.get("finish_lower_bound")),
        (lab["sim_finish"], p.get("sim_finish")),
        (lab["staff"], fmt_int(p.get("staff"))),
        (lab["yellow_channel"], yellow),
        (
            lab["peak_queue"],
            f"{fmt_int(p.get('expected_peak_queue'))} / {fmt_int(p.get('sim_peak_queue'))}",
        ),
        (lab["max_wait_planned"], fmt_num(p.get("expected_max_wait_min"))),
        (
            lab["sim_wait"],
            f"{fmt_num(p.get('sim_p50_wait_min'))} / {fmt_num(p.get('sim_p95_wait_min'))}",
        ),
    ]
    warn = ""
    if p.get("over_capacity"):
        warn += f'<p class="alert">{esc(lab["over_capacity_warn"])}</p>'
    if (p.get("not_called") or 0) > 0:
        warn += '<p class="alert">' + esc(fill(lab["not_called_warn"], {"n": p["not_called"]}))
        warn += "</p>"
    return (
        f"<h2>{esc(lab['key_figures'])}</h2>" + facts(items) + bullets([lab["facts_note"]]) + warn
    )


def _supplies_section(
    s: Mapping[str, Any] | None, rules: SupplyRules, lab: Mapping[str, str]
) -> str:
    if s is None:
        return ""
    pct = f"{rules.spare_share * 100:g}%"
    rows = [
        (lab["swabs"], fmt_int(s["swabs"]), fmt_int(s["swabs_spare"]), fmt_int(s["swabs_total"]),
         fill(lab["rule_swabs"], {"regular": s["regular"], "yellow": s["yellow"]})),
        (lab["tubes"], fmt_int(s["tubes"]), fmt_int(s["tubes_spare"]), fmt_int(s["tubes_total"]),
         fill(lab["rule_tubes"], {
             "regular": s["regular"], "pool": rules.pool_size, "tr": s["tubes_regular"],
             "yellow": s["yellow"], "ypool": rules.yellow_pool_size, "ty": s["tubes_yellow"],
         })),
        (lab["suits"], fmt_int(s["suits"]), fmt_int(s["suits_spare"]), fmt_int(s["suits_total"]),
         fill(lab["rule_suits"], {"n": s["sampler_shifts"]})),
        (lab["registrars"], fmt_int(s["registrar_shifts"]), "", fmt_int(s["registrar_shifts"]),
         lab["rule_registrars"]),
    ]  # fmt: skip
    headers = (
        lab["item"],
        lab["need"],
        fill(lab["spare"], {"pct": pct}),
        lab["total"],
        lab["rule"],
    )
    return (
        f'<div class="box"><h2>{esc(lab["supplies"])}</h2>'
        + table(headers, rows, numeric=(1, 2, 3))
        + bullets(
            [
                fill(lab["supplies_note_pool"], {"pool": rules.pool_size,
                                               "ypool": rules.yellow_pool_size}),
                fill(lab["supplies_note_spare"], {"pct": pct}),
                lab["supplies_note_heat"],
            ]
        )
        + "</div>"
    )  # fmt: skip


def _roster_section(shifts: pl.DataFrame | None, lab: Mapping[str, str]) -> str:
    headers = (lab["shift"], lab["team"], lab["samplers"], lab["registrars_needed"])
    if shifts is None or shifts.height == 0:
        return f"<h2>{esc(lab['roster'])}</h2><p>{esc(lab['no_shifts'])}</p>"
    rows = [
        (span(r["start"], r["end"]), _team(r["team_name"], r["team_id"]), r["tables"], r["tables"])
        for r in shifts.iter_rows(named=True)
    ]
    return (
        f'<div class="box"><h2>{esc(lab["roster"])}</h2>'
        + table(headers, rows, numeric=(2, 3), times=(0,))
        + bullets([lab["roster_note"]])
        + "</div>"
    )


def _team(name: object, team_id: object) -> str:
    if name is None or name == team_id:
        return str(team_id)
    return f"{name} ({team_id})"


def _gap_section(
    shortfall: pl.DataFrame | None, extra: pl.DataFrame | None, lab: Mapping[str, str]
) -> str:
    if shortfall is None or shortfall.height == 0:
        return ""
    rows = [
        (span(r["start"], r["end"]), r["missing_samplers"])
        for r in shortfall.sort("start_min").iter_rows(named=True)
    ]
    out = f'<div class="alert box"><h2>{esc(lab["shortfall"])}</h2>' + table(
        (lab["time"], lab["missing_samplers"]), rows, numeric=(1,), times=(0,)
    )
    if extra is not None and extra.height:
        rows = [
            (span(r["start"], r["end"]), r["extra_samplers"])
            for r in extra.sort("start_min").iter_rows(named=True)
        ]
        out += table((lab["time"], lab["extra_samplers"]), rows, numeric=(1,), times=(0,))
    return out + bullets([lab["shortfall_note"]]) + "</div>"


def _timetable_section(
    calls: pl.DataFrame | None, point: Mapping[str, Any], lab: Mapping[str, str]
) -> str:
    title = f"<h2>{esc(lab['timetable'])}</h2>"
    if calls is None or calls.height == 0:
        return title + f"<p>{esc(lab['no_calls'])}</p>"
    headers = (lab["slot"], lab["building"], lab["grid"], lab["residents"], lab["call_kind"])
    rows: list[tuple[object, ...]] = []
    classes: list[str] = []
    for r in calls.iter_rows(named=True):
        yellow = bool(r["yellow_code"])
        kind = lab["call_yellow"] if yellow else lab["call_regular"]
        if r["channel"] == "yellow":
            kind += " · " + lab["channel_yellow"]
        building = r["building_name"]
        if building != r["building_id"]:
            building = f"{building} ({r['building_id']})"
        rows.append(
            (span(r["call_start"], r["call_end"]), building, r["grid_name"], r["residents"], kind)
        )
        classes.append("yellow" if yellow else "")
    total_residents = int(calls["residents"].sum())
    total = (
        lab["total"],
        fill(lab["calls_n"], {"n": calls.height}),
        "",
        fmt_int(total_residents),
        "",
    )
    notes = [lab["timetable_note"]]
    if point.get("yellow_channel"):
        notes.append(lab["yellow_channel_note"])
    return (
        title
        + table(headers, rows, numeric=(3,), times=(0,), row_classes=classes, total=total)
        + bullets(notes)
    )
