"""Per-point work sheets (``points/<point_id>.html``) for the medical team and point leader.

One printable A4 page set per open point, leading with what the team needs first: its warnings,
the call timetable (yellow-code calls marked), the staff roster by shift and any staffing
shortfall; then where it is, key figures (tables, residents, start, finish and its capacity
lower bound, queue and waits planned and simulated) and supplies with the rules used. Each table is grouped by point in one pass into plain row tuples;
``sampling/templates/point.html`` lays them out (every value escaped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.data import PlanData
from sampling.documents.html import (
    fill,
    fmt_int,
    fmt_num,
    fmt_pct,
    label_namespace,
    named,
    page_context,
    span,
    template,
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
_SHIFT_COLUMNS = ("start", "end", "team_id", "team_name", "tables", "overtime")
_GAP_COLUMNS = ("start", "end")

Row = tuple[object, ...]


def supply_rules(data: PlanData) -> SupplyRules:
    """Pool sizes of the plan's scenario."""
    sampling = data.scenario.header.sampling
    return SupplyRules(pool_size=sampling.pool_size, yellow_pool_size=sampling.yellow_pool_size)


def _by_point(
    frame: pl.DataFrame | None, columns: tuple[str, ...], *, by: str | None = None
) -> dict[str, list[Row]]:
    """Rows of ``frame`` (the given columns, as tuples) by ``point_id``, in frame order or
    sorted by ``by`` within each point; one pass over the frame."""
    if frame is None or frame.height == 0:
        return {}
    if by is not None:
        frame = frame.sort("point_id", by, maintain_order=True)
    out: dict[str, list[Row]] = {}
    for pid, *row in frame.select("point_id", *columns).iter_rows():
        out.setdefault(str(pid), []).append(tuple(row))
    return out


def point_pages(data: PlanData, lab: Mapping[str, str], lang: str) -> dict[str, str]:
    """``points/<point_id>.html`` → page text, one per open point."""
    rules = supply_rules(data)
    supplies = {
        str(r["point_id"]): r
        # overtime rows are the same samplers staying on: no new suits or registrars
        for r in point_supplies(data.timetable, _regular_shifts(data.shifts), rules).iter_rows(
            named=True
        )
    }
    calls = _by_point(data.timetable, _TIMETABLE_COLUMNS)
    shifts = _by_point(data.shifts, _SHIFT_COLUMNS)
    shortfall = _by_point(data.shortfall, (*_GAP_COLUMNS, "missing_samplers"), by="start_min")
    extra = _by_point(data.capacity_plan, (*_GAP_COLUMNS, "extra_samplers"), by="start_min")
    page = template("point.html")
    names = label_namespace(lab)
    header = data.scenario.header
    summary = data.summary
    window_end = str(summary.get("window_end") or "")
    tolerance = summary.get("late_tolerance_min", header.simulation.late_tolerance_min)
    shared = {
        "lab": names,
        "spare_pct": f"{rules.spare_share * 100:g}%",
        "pool": rules.pool_size,
        "ypool": rules.yellow_pool_size,
    }
    pages: dict[str, str] = {}
    for point in data.points.iter_rows(named=True):
        pid = str(point["point_id"])
        name = named(point["point_name"], pid)
        timetable, called = _calls(calls.get(pid, []))
        pages[data.paths.point(pid)] = page.render(
            page_context(
                header, lab, lang, title=name, heading=fill(lab["point_heading"], name=name)
            ),
            **shared,
            p=_figures(point, lang),
            warnings=_warnings(point, lab, window_end, tolerance),
            supplies=_supplies(supplies.get(pid), rules, lab),
            roster=_roster(shifts.get(pid, []), lab),
            shortfall=_gaps(shortfall.get(pid, [])),
            extra=_gaps(extra.get(pid, [])),
            calls=timetable,
            calls_residents=fmt_int(called),
        )
    return pages


def _regular_shifts(shifts: pl.DataFrame) -> pl.DataFrame:
    """Shift rows without the overtime rows (a plan saved before overtime has none)."""
    if "overtime" not in shifts.columns:
        return shifts
    return shifts.filter(~pl.col("overtime"))


def _figures(p: Mapping[str, Any], lang: str) -> dict[str, object]:
    """The point's key figures as text (missing values empty), and its warning flags."""
    return {
        "kind": kind_label(p.get("point_kind"), lang),
        "coord": p.get("coord"),
        "tables": f"{fmt_int(p.get('tables'))} / {fmt_int(p.get('max_tables'))}",
        "load": fmt_int(p.get("load")),
        "capacity": fmt_int(p.get("capacity")),
        "utilisation": fmt_pct(p.get("utilisation")),
        "start": p.get("start"),
        "finish": p.get("finish"),
        "finish_lower_bound": p.get("finish_lower_bound"),
        "sim_finish": p.get("sim_finish"),
        "staff": fmt_int(p.get("staff")),
        "yellow_channel": bool(p.get("yellow_channel")),
        "peak_queue": (
            f"{fmt_int(p.get('expected_peak_queue'))} / {fmt_int(p.get('sim_peak_queue'))}"
        ),
        "max_wait": fmt_num(p.get("expected_max_wait_min")),
        "sim_wait": f"{fmt_num(p.get('sim_p50_wait_min'))} / {fmt_num(p.get('sim_p95_wait_min'))}",
        "over_capacity": bool(p.get("over_capacity")),
        "not_called": p.get("not_called") or 0,
        "overtime": fmt_int(p.get("overtime_residents") or 0),
        "deficit": fmt_int(p.get("deficit") or 0),
        "sim_finish_p95": p.get("sim_finish_p95"),
        "late_min": fmt_int(p.get("late_min") or 0),
        "after_close": fmt_num(p.get("sim_after_close")),
    }


def _warnings(
    p: Mapping[str, Any], lab: Mapping[str, str], window_end: str, tolerance: object
) -> list[str]:
    """The point's overtime and lateness in plain words (empty when it finishes in time)."""
    out: list[str] = []
    overtime = int(p.get("overtime_residents") or 0)
    if overtime:
        out.append(
            fill(lab["overtime_warn"], n=fmt_int(overtime), end=window_end, finish=p.get("finish"))
        )
    if p.get("late"):
        tol = f"{tolerance:g}" if isinstance(tolerance, (int, float)) else str(tolerance)
        out.append(
            fill(
                lab["late_warn"],
                finish=p.get("sim_finish_p95"),
                late=fmt_int(p.get("late_min")),
                tol=tol,
            )
        )
    return out


def _supplies(
    s: Mapping[str, Any] | None, rules: SupplyRules, lab: Mapping[str, str]
) -> list[Row] | None:
    """Supply rows (item, need, spare, total, rule), or ``None`` for a point without calls or
    shifts."""
    if s is None:
        return None
    return [
        (lab["swabs"], fmt_int(s["swabs"]), fmt_int(s["swabs_spare"]), fmt_int(s["swabs_total"]),
         fill(lab["rule_swabs"], regular=s["regular"], yellow=s["yellow"])),
        (lab["tubes"], fmt_int(s["tubes"]), fmt_int(s["tubes_spare"]), fmt_int(s["tubes_total"]),
         fill(lab["rule_tubes"], regular=s["regular"], pool=rules.pool_size, tr=s["tubes_regular"],
              yellow=s["yellow"], ypool=rules.yellow_pool_size, ty=s["tubes_yellow"])),
        (lab["suits"], fmt_int(s["suits"]), fmt_int(s["suits_spare"]), fmt_int(s["suits_total"]),
         fill(lab["rule_suits"], n=s["sampler_shifts"])),
        (lab["registrars"], fmt_int(s["registrar_shifts"]), "", fmt_int(s["registrar_shifts"]),
         lab["rule_registrars"]),
    ]  # fmt: skip


def _roster(shifts: list[Row], lab: Mapping[str, str]) -> list[Row]:
    """Shift rows (shift, team, samplers); registrars needed equal the samplers. Samplers who
    stay after the window are marked as overtime."""
    return [
        (
            span(start, end) + (f" ({lab['shift_overtime']})" if overtime else ""),
            _team(team_name, team_id),
            tables,
        )
        for start, end, team_id, team_name, tables, overtime in shifts
    ]


def _team(name: object, team_id: object) -> str:
    if name is None or name == team_id:
        return str(team_id)
    return f"{name} ({team_id})"


def _gaps(rows: list[Row]) -> list[Row]:
    """(time, samplers) rows of a shortfall or capacity-plan part."""
    return [(span(start, end), samplers) for start, end, samplers in rows]


def _calls(calls: list[Row]) -> tuple[list[Row], int]:
    """Call rows (slot, building, grid, residents, yellow code, yellow channel) and the
    residents they call."""
    rows: list[Row] = []
    total = 0
    for start, end, bid, bname, grid, residents, yellow, channel in calls:
        building = bname if bname == bid else f"{bname} ({bid})"
        rows.append(
            (span(start, end), building, grid, residents, bool(yellow), channel == "yellow")
        )
        total += int(residents or 0)  # type: ignore[call-overload]
    return rows, total
