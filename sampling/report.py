"""What ``natplan plan`` says on the console: the plan in plain words, then every warning.

Built from ``summary.json`` only, so the console, the index and the map can never disagree
with the saved figures. Two things live here because every reader of a plan needs them the
same way:

* :func:`alerts` — the problems a planner must act on, as ``{"code", "count"}`` pairs computed
  from the summary's figures. ``summary.json`` stores them (``alerts``); the console prints one
  ``warning:`` line per alert, the index an alert box and the map its KPI panel rows, all by
  these codes.
* :func:`percent` — the one way a share becomes text: a part is never rounded up to the whole
  or down to nothing (a coverage of 99.96 % never prints as 100.0 %), and counts are printed
  beside shares ("1,750 of 1,777") rather than instead of them.
* :func:`fleet_remedy` — what more vehicles would do for the tubes late for the fleet (from
  ``tubes_late_reasons`` and ``extra_vehicles_needed``): the console's ``late_tubes`` warning
  says it in English, the index alert box and the map panel in their labels
  (:func:`fleet_remedy_text`); :func:`lab_hours_remedy` the same for longer lab hours
  (``extra_lab_hours``), and :func:`late_tubes_remedy_text` both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

ALERT_CODES = (
    "no_plan",
    "unserved",
    "deficit",
    "overtime",
    "not_called",
    "finish_after_window",
    "late_points",
    "late_arrivals",
    "queue_wait",
    "staffing_shortfall",
    "households_unserved",
    "late_tubes",
    "wall_clock",
)
"""Every alert code, in the order alerts are listed. Labels: ``alert_<code>`` in the
``[documents]`` section of ``sampling/labels/<lang>.toml``."""

_WALL_CLOCK_KEYS = {
    "solver_wall_clock_bound": "assignment",
    "home_visits_wall_clock_bound": "home-visit routing",
    "transport_wall_clock_bound": "transport",
}
"""Summary keys counting stages the wall clock cut short, and how the console names them."""

_MORE_DIGITS = 6  # at most this many extra decimals to keep a part from reading as 0 or 100 %


def _int(summary: Mapping[str, Any], key: str) -> int:
    """``summary[key]`` as a whole number (0 when missing or not finite)."""
    return _as_int(summary.get(key))


def _ceil(summary: Mapping[str, Any], key: str) -> int:
    """An expected count from the simulation, rounded up (a fraction of a person still counts)."""
    value = summary.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return math.ceil(value) if math.isfinite(value) else 0


def _clock_minutes(text: object) -> int | None:
    """Minutes of an ``HH:MM`` text (hours may pass 24), or None."""
    if not isinstance(text, str) or ":" not in text:
        return None
    hours, minutes = text.split(":", 1)
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    return int(hours) * 60 + int(minutes)


def percent(share: object, digits: int = 1) -> str:
    """A share (1 = 100 %) as a percentage with ``digits`` decimals; empty when missing.

    A share strictly between 0 and 1 never prints as ``0.0%`` or ``100.0%``: more decimals
    are shown until it does not (``0.99996`` → ``99.996%``).
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share):
        return ""
    value = float(share) * 100.0
    for extra in range(_MORE_DIGITS + 1):
        text = f"{value:,.{digits + extra}f}"
        shown = float(text.replace(",", ""))
        if not 0.0 < share < 1.0 or 0.0 < shown < 100.0:
            return f"{text}%"
    return f"{'<' if share < 0.5 else '>'}{100.0 if share > 0.5 else 0.0:.{digits}f}%"


def count_of(part: object, whole: object) -> str:
    """``"1,750 of 1,777"``."""
    return f"{_as_int(part):,} of {_as_int(whole):,}"


def _as_int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def alerts(summary: Mapping[str, Any]) -> list[dict[str, object]]:
    """The plan's alerts: ``{"code": …, "count": …}`` for every problem a planner must act on.

    ``no_plan`` (count 1): the assignment found no plan; its ``status_reason`` says why.
    Counts: residents (``unserved``, ``deficit``, ``overtime``, ``not_called``), minutes after
    the window end (``finish_after_window``, the planned last swab), points (``late_points``:
    simulated p95 finish past the window end plus the tolerance; ``late_arrivals``: residents
    the simulation expects after their point closed, rounded up; ``queue_wait``: simulated p95
    wait over the limit), samplers (``staffing_shortfall``: more samplers the shortfall needs),
    households (``households_unserved``), tubes (``late_tubes``: tubes that reach no lab within
    the age limit or are not tested, the transport summary's ``tubes_late``) and stages
    (``wall_clock``: solvers cut short by the wall clock, so a rerun may differ). Empty when the
    plan holds.
    """
    end = _clock_minutes(summary.get("window_end"))
    finish = _clock_minutes(summary.get("finish_time"))
    after = finish - end if end is not None and finish is not None and finish > end else 0
    shortfall = 0
    if summary.get("staffing_status") == "shortfall" or _int(summary, "shortfall_sampler_blocks"):
        key = (
            "extra_samplers_shortfall"
            if "extra_samplers_shortfall" in summary
            else "capacity_plan_extra_samplers"
        )
        shortfall = max(_int(summary, key), 1)
    counts = {
        "no_plan": int(summary.get("status") == "no_plan_found"),
        "unserved": _int(summary, "residents_unserved"),
        "deficit": _int(summary, "capacity_deficit_residents"),
        "overtime": _int(summary, "residents_overtime"),
        "not_called": _int(summary, "residents_not_called"),
        "finish_after_window": after,
        "late_points": _int(summary, "late_points"),
        "late_arrivals": _ceil(summary, "sim_after_close_residents"),
        "queue_wait": _int(summary, "points_p95_over_limit"),
        "staffing_shortfall": shortfall,
        "households_unserved": _int(summary, "households_unserved"),
        "late_tubes": _int(summary, "tubes_late"),
        "wall_clock": sum(_int(summary, key) for key in _WALL_CLOCK_KEYS),
    }
    return [{"code": code, "count": counts[code]} for code in ALERT_CODES if counts[code] > 0]


def assignment_line(summary: Mapping[str, Any]) -> str:
    """Status of the assignment: the gap to its lower bound, or why there is no plan."""
    status = summary.get("status")
    if status in ("optimal", "feasible"):
        return f"assignment {_assignment_status(summary)}"
    return f"assignment: {_assignment_status(summary)}"


def _assignment_status(summary: Mapping[str, Any]) -> str:
    """``optimal (gap 0.00% to the lower bound): 2 points, …`` or ``no plan found — why``."""
    status = summary.get("status")
    gap = summary.get("gap")
    if status in ("optimal", "feasible"):
        gap_text = f"gap {percent(gap, 2)} to the lower bound" if percent(gap) else "no bound"
        return (
            f"{status} ({gap_text}): {counted(_int(summary, 'points_open'), 'point')},"
            f" {counted(_int(summary, 'tables_used'), 'table')}, mean walk"
            f" {float(summary.get('walk_m_mean') or 0):.0f} m"
        )
    reason = summary.get("status_reason") or "no reason given"
    return f"{str(status).replace('_', ' ')} — {reason}"


STAGE_NAMES = {
    "load": "scenario",
    "assignment": "assignment",
    "day": "day",
    "home_visits": "home visits",
    "transport": "transport",
    "tables": "tables",
    "map": "map",
    "documents": "documents",
}
"""How the console names each stage of :data:`sampling.progress.STAGES`."""

_CUT = "; cut short by the wall clock (--wall-limit): a rerun may differ"


def stage_line(stage: str, seconds: float, figures: Mapping[str, Any]) -> str:
    """The console line of a finished stage: its name, wall-clock seconds and what it did.

    ``figures`` are the stage's own ``summary.json`` figures (the progress event's), so the
    line says the same as the saved summary.
    """
    name = STAGE_NAMES.get(stage, stage.replace("_", " "))
    return f"{name:<12}{seconds:>7.1f} s  {stage_text(stage, figures)}".rstrip()


def stage_text(stage: str, f: Mapping[str, Any]) -> str:
    """What a finished stage did, in a few words (empty for an unknown stage)."""
    if stage == "load":
        households = _int(f, "households")
        return (
            f"{f.get('scenario', '')}: {_int(f, 'buildings'):,} buildings,"
            f" {_int(f, 'residents'):,} residents, {_int(f, 'points'):,} candidate points,"
            f" {_int(f, 'teams'):,} teams"
            + (f", {households:,} households to visit at home" if households else "")
        )
    if stage == "assignment":
        unserved = _int(f, "residents_unserved")
        return (
            _assignment_status(f)
            + (f"; {unserved:,} residents without a point" if unserved else "")
            + (_CUT if _int(f, "solver_wall_clock_bound") else "")
        )
    if stage == "day":
        return (
            f"{_last_swab(f)}; {_staffing_words(f.get('staffing_status'))}, {_int(f, 'samplers_used'):,} of"
            f" {_int(f, 'samplers_available'):,} available samplers on duty"
            + (f", {extra:,} more needed" if (extra := _int(f, "extra_samplers_shortfall")) else "")
        )
    if stage == "home_visits":
        total = _int(f, "households_total")
        if not total:
            return "no households to visit"
        return (
            f"{_int(f, 'households_served'):,} of {total:,} households on"
            f" {counted(_int(f, 'home_visit_routes'), 'route')}, last team back"
            f" {f.get('home_visit_latest_return') or '?'}"
            + (_CUT if _int(f, "home_visits_wall_clock_bound") else "")
        )
    if stage == "transport":
        late = _int(f, "tubes_late")
        return (
            f"{counted(_int(f, 'tubes_total'), 'tube')} to the labs on"
            f" {counted(_int(f, 'vehicle_trips'), 'trip')}, last result"
            f" {f.get('latest_result_time') or '?'}"
            + (f"; {late:,} tubes late" if late else "")
            + (_CUT if _int(f, "transport_wall_clock_bound") else "")
        )
    if stage == "tables":
        return f"{_int(f, 'tables')} tables (parquet) and summary.json"
    if stage == "map":
        return "map.html"
    if stage == "documents":
        return (
            f"{counted(_int(f, 'point_pages'), 'point sheet')},"
            f" {counted(_int(f, 'grid_lists'), 'grid call list')},"
            f" {counted(_int(f, 'team_pages'), 'team itinerary', 'team itineraries')},"
            " plan.xlsx, index.html"
        )
    return ""


def _late_remedy(summary: Mapping[str, Any], reason: str, figure: str) -> int | None:
    """The summary's remedy ``figure`` for the tubes late for ``reason``: its positive count,
    0 when it is ``None`` (no re-plan tried made it), ``None`` when no tube is late for that
    reason, the figure is missing (a summary of an older natplan) or it is 0."""
    reasons = summary.get("tubes_late_reasons")
    if not isinstance(reasons, Mapping) or not _int(reasons, reason) or figure not in summary:
        return None
    value = summary[figure]
    if value is None:
        return 0
    return _as_int(value) if _as_int(value) > 0 else None


FleetRemedy = tuple[Literal["more_vehicles", "beyond_double"], int]
"""``("more_vehicles", n)``: with n more vehicles no tube is late for the fleet (tubes late
for other reasons may stay late); ``("beyond_double", 0)``: even twice the fleet leaves some
tubes late for the fleet."""


def fleet_remedy(summary: Mapping[str, Any]) -> FleetRemedy | None:
    """What more vehicles would do for the tubes late for the fleet (``tubes_late_reasons``
    ``fleet``): the summary's ``extra_vehicles_needed`` when it is a positive count, or
    ``beyond_double`` when it is ``None`` (no re-plan with up to twice the vehicles made it);
    ``None`` when no tube is late for the fleet or the figure is missing."""
    found = _late_remedy(summary, "fleet", "extra_vehicles_needed")
    if found is None:
        return None
    return ("more_vehicles", found) if found > 0 else ("beyond_double", 0)


def fleet_remedy_text(summary: Mapping[str, Any], lab: Mapping[str, str]) -> str:
    """:func:`fleet_remedy` in the words of a label table (the ``[documents]`` or ``[map]``
    section: ``late_tubes_more_vehicles``, ``late_tubes_one_more_vehicle``,
    ``late_tubes_beyond_double``), to append to the ``late_tubes`` alert; empty when none."""
    remedy = fleet_remedy(summary)
    if remedy is None:
        return ""
    kind, count = remedy
    key = "one_more_vehicle" if kind == "more_vehicles" and count == 1 else kind
    return lab[f"late_tubes_{key}"].format(count=f"{count:,}")


LabHoursRemedy = tuple[Literal["lab_hours", "lab_hours_beyond"], int]
"""``("lab_hours", n)``: with every lab opening n hours earlier and closing n hours later no
tube is late for the labs' hours; ``("lab_hours_beyond", 0)``: none of the widenings tried
(up to twice the estimate) makes it."""


def lab_hours_remedy(summary: Mapping[str, Any]) -> LabHoursRemedy | None:
    """What longer lab hours would do for the tubes late for the labs' hours
    (``tubes_late_reasons`` ``lab_hours``), from the summary's ``extra_lab_hours`` (a count of
    hours, or ``None`` when no widening tried made it); ``None`` when no tube is late for the
    labs' hours or the figure is missing."""
    found = _late_remedy(summary, "lab_hours", "extra_lab_hours")
    if found is None:
        return None
    return ("lab_hours", found) if found > 0 else ("lab_hours_beyond", 0)


def late_tubes_remedy_text(summary: Mapping[str, Any], lab: Mapping[str, str]) -> str:
    """The ``late_tubes`` alert's remedies in a label table's words: more vehicles
    (:func:`fleet_remedy_text`) and longer lab hours (``late_tubes_lab_hours``,
    ``late_tubes_lab_hours_beyond``); empty when neither applies."""
    text = fleet_remedy_text(summary, lab)
    remedy = lab_hours_remedy(summary)
    if remedy is not None:
        kind, count = remedy
        text += lab[f"late_tubes_{kind}"].format(count=f"{count:,}")
    return text


def reach_remedy(summary: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """The ``unserved`` alert's remedy for the residents beyond the walking limit of every
    candidate point: ``(residents_out_of_reach, points_to_add_for_reach, tables)`` — the
    temporary points of the summary's ``suggested_points`` would reach them all, with that
    many tables in all; ``None`` when no resident is out of reach (or the summary predates
    these figures)."""
    residents = _int(summary, "residents_out_of_reach")
    points = _int(summary, "points_to_add_for_reach")
    found = summary.get("suggested_points")
    rows = found if isinstance(found, list) else []
    tables = sum(_as_int(r.get("tables")) for r in rows if isinstance(r, Mapping))
    return (residents, points, tables) if residents > 0 and points > 0 else None


def shortfall_where(summary: Mapping[str, Any]) -> tuple[int, str, str] | None:
    """Where and when the staffing shortfall leaves tables without a sampler:
    ``(shortfall_points, shortfall_from, shortfall_to)``; ``None`` without a shortfall (or
    for a summary that predates these figures)."""
    points = _int(summary, "shortfall_points")
    start, end = summary.get("shortfall_from"), summary.get("shortfall_to")
    if points <= 0 or not isinstance(start, str) or not isinstance(end, str) or not start:
        return None
    return points, start, end


def shortfall_where_text(summary: Mapping[str, Any], lab: Mapping[str, str]) -> str:
    """:func:`shortfall_where` in the words of a label table (``shortfall_where``, or
    ``shortfall_where_one`` for one point), to append to the ``staffing_shortfall`` alert."""
    where = shortfall_where(summary)
    if where is None:
        return ""
    points, start, end = where
    return _label_for(lab, "shortfall_where", points, points=f"{points:,}", start=start, end=end)


def _label_for(lab: Mapping[str, str], key: str, n: int, **values: str) -> str:
    """Label ``key`` (``key_one`` when ``n`` is 1) filled with ``values``."""
    return lab[f"{key}_one" if n == 1 else key].format(**values)


def unserved_remedy_text(summary: Mapping[str, Any], lab: Mapping[str, str]) -> str:
    """:func:`reach_remedy` in the words of a label table (``unserved_out_of_reach``, or
    ``unserved_out_of_reach_one`` for one point), to append to the ``unserved`` alert."""
    remedy = reach_remedy(summary)
    if remedy is None:
        return ""
    residents, points, tables = remedy
    return _label_for(
        lab,
        "unserved_out_of_reach",
        points,
        residents=f"{residents:,}",
        points=f"{points:,}",
        tables=f"{tables:,}",
        limit=f"{_as_float(summary.get('walk_limit_min')):g}",
    )


def alert_remedy_text(code: str, summary: Mapping[str, Any], lab: Mapping[str, str]) -> str:
    """What a page appends to alert ``code`` in the words of a label table: the fleet and lab
    hours for ``late_tubes``, the temporary points for ``unserved``, where and when for
    ``staffing_shortfall``; empty for the other codes. The index and the map share it."""
    remedy = _REMEDIES.get(code)
    return remedy(summary, lab) if remedy is not None else ""


def _late_tubes_remedy(summary: Mapping[str, Any]) -> str:
    """:func:`fleet_remedy` and :func:`lab_hours_remedy` in the console's words."""
    text = ""
    remedy = fleet_remedy(summary)
    if remedy is not None:
        kind, count = remedy
        if kind == "beyond_double":
            text += (
                "; even twice the vehicles would leave some late for the fleet: add vehicles and"
                " check the pickup rounds by hand"
            )
        else:
            text += f"; {counted(count, 'more vehicle')} would leave no tube late for the fleet"
    hours = lab_hours_remedy(summary)
    if hours is not None:
        kind_h, n = hours
        if kind_h == "lab_hours_beyond":
            text += (
                "; even much longer lab hours would leave some late for the labs' hours: check"
                " the labs' hours and the rides by hand"
            )
        else:
            text += (
                f"; every lab opening {n} h earlier and closing {n} h later would leave no tube"
                " late for the labs' hours"
            )
    return text


_REMEDIES = {
    "late_tubes": late_tubes_remedy_text,
    "unserved": unserved_remedy_text,
    "staffing_shortfall": shortfall_where_text,
}


def _runs(summary: Mapping[str, Any]) -> str:
    """``20 simulated runs of the day``: the simulation replays the one planned day
    ``sim_replications`` times with different random draws (it is not 20 days)."""
    n = _int(summary, "sim_replications") or 1
    return f"{counted(n, 'simulated run')} of the day"


def counted(n: int, one: str, many: str | None = None) -> str:
    """``1 route``, ``2 routes`` (``many`` for an irregular plural)."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _verb(n: int, one: str, many: str) -> str:
    """The verb agreeing with a count: ``one`` for exactly 1, else ``many``."""
    return one if n == 1 else many


def _last_swab(summary: Mapping[str, Any], window_end: str | None = None) -> str:
    """``last swab HH:MM [for a window ending HH:MM] (simulated p95 HH:MM over N runs)``, or
    that no one is swabbed at a point and why (no resident has a point, or no table is
    staffed: the finish figures then stay at the window start, which is not a swab)."""
    if "residents_called" not in summary or _int(summary, "residents_called") > 0:
        sim = summary.get("sim_finish_p95", summary.get("sim_finish_time", "?"))
        return (
            f"last swab {summary.get('finish_time', '?')}"
            + (f" for a window ending {window_end}" if window_end is not None else "")
            + f" (simulated p95 {sim} over {_runs(summary)})"
        )
    if _int(summary, "residents_not_called") > 0:
        return "no one is swabbed at a point (no call: no table is staffed)"
    return "no one is swabbed at a point (no resident has one)"


def plan_lines(summary: Mapping[str, Any]) -> list[str]:
    """The console report: three lines of figures, then one ``warning:`` line per alert."""
    name = summary.get("scenario", "")
    walk_in = _int(summary, "residents_walk_in")
    assigned = _int(summary, "residents_assigned")
    not_called = _int(summary, "residents_not_called")
    overtime = _int(summary, "residents_overtime")
    called = assigned - not_called
    lines = [
        f"{name}: {called:,} of {walk_in:,} walk-in residents have a call"
        f" ({assigned:,} assigned to a point, {not_called:,} of them not called,"
        f" {overtime:,} called after the window end;"
        f" {_int(summary, 'residents_unserved'):,} without a point);"
        f" {_int(summary, 'home_visit_persons_served'):,} of"
        f" {_int(summary, 'residents_home_visit'):,} home-visit residents served",
        assignment_line(summary),
        f"day: {_last_swab(summary, summary.get('window_end', '?'))};"
        f" {_staffing_words(summary.get('staffing_status'))}",
    ]
    return lines + [f"warning: {w}" for w in plan_warnings(summary)]


def _staffing_words(status: object) -> str:
    """``staffing_status`` in plain words: ``covered`` only says the tables the plan opened
    have a sampler in every block, not that the staff swab everyone in the window (the
    deficit has its own warning), so the console says exactly that."""
    if status == "covered":
        return "every opened table staffed"
    if status == "shortfall":
        return "staffing shortfall"
    return f"staffing {status or '?'}"


def plan_warnings(summary: Mapping[str, Any]) -> list[str]:
    """One line in plain words per alert (empty when the plan holds)."""
    found = summary.get("alerts")
    listed = found if isinstance(found, list) else alerts(summary)
    out: list[str] = []
    for alert in listed:
        code = alert.get("code") if isinstance(alert, Mapping) else None
        count = _as_int(alert.get("count")) if isinstance(alert, Mapping) else 0
        out.extend(_warning(str(code), count, summary))
    return out


def _reasons(found: object) -> str:
    """``too_far 3, fleet 12`` from the summary's ``tubes_late_reasons`` (a code → count map)."""
    if not isinstance(found, Mapping) or not found:
        return "reasons not given"
    return ", ".join(f"{code} {_as_int(n):,}" for code, n in found.items() if _as_int(n))


def _warning(code: str, n: int, s: Mapping[str, Any]) -> list[str]:
    """The console line(s) of one alert."""
    end = s.get("window_end", "?")
    if code == "no_plan":
        return [
            f"no assignment plan was found ({s.get('status_reason') or 'no reason given'}):"
            " every walk-in resident is unserved; plan again with more time (--time-limit)"
        ]
    if code == "unserved":
        line = (
            f"{counted(n, 'resident')} in {counted(_int(s, 'buildings_unserved'), 'building')}"
            f" {_verb(n, 'has', 'have')} no sampling point (assignments.parquet, unserved_reason)"
        )
        remedy = reach_remedy(s)
        if remedy is not None:
            far, points, tables = remedy
            line += (
                f"; {far:,} of them {_verb(far, 'lives', 'live')} beyond the"
                f" {_as_float(s.get('walk_limit_min')):g}-min"
                f" walk of every candidate point: {counted(points, 'temporary point')}"
                f" ({counted(tables, 'table')} in all) would reach them (summary.json,"
                " suggested_points; the map)"
            )
        return [line]
    if code == "deficit":
        stranded = _int(s, "residents_stranded")
        extra = counted(_int(s, "extra_samplers_for_window"), "more sampler")
        with_staff = (
            f"never ends: {counted(stranded, 'resident')} {_verb(stranded, 'is', 'are')} at"
            f" points where no table stays after the window; {extra} would finish it"
            if stranded
            else f"needs {_int(s, 'window_extension_min'):,} min after {end}, or {extra} to finish"
        )
        return [
            f"capacity deficit: {counted(n, 'walk-in resident')} {_verb(n, 'is', 'are')} beyond"
            f" what the staffed tables can swab in the window; with today's staff the round"
            f" {with_staff} in the window (capacity_plan.parquet)"
        ]
    if code == "overtime":
        past = _int(s, "samplers_overtime_past_availability")
        samplers = _int(s, "samplers_overtime")
        return [
            f"{counted(n, 'resident')} {_verb(n, 'is', 'are')} called after the window ends"
            f" ({end}) at {counted(_int(s, 'points_overtime'), 'point')};"
            f" {counted(samplers, 'sampler')} {_verb(samplers, 'stays', 'stay')} on in overtime"
            " (shifts.parquet, overtime)"
            + (f", {past:,} of them past their team's hours" if past else "")
        ]
    if code == "not_called":
        return [
            f"{counted(n, 'assigned resident')} in"
            f" {counted(_int(s, 'buildings_not_called'), 'building')}"
            f" {_verb(n, 'gets', 'get')} no call in the window (not_called.parquet)"
        ]
    if code == "finish_after_window":
        return [
            f"the planned last swab is {s.get('finish_time')}, {n} min after the window ends ({end})"
        ]
    if code == "late_points":
        return [
            f"{counted(n, 'point')} {_verb(n, 'finishes', 'finish')} late in simulation"
            f" (p95 over {_runs(s)}"
            f" past {end} + {s.get('late_tolerance_min', 0):g} min; the day's last swab"
            f" p95 {s.get('sim_finish_p95', '?')}; points.parquet, late)"
        ]
    if code == "late_arrivals":
        return [
            f"in simulation about {counted(n, 'resident')} {_verb(n, 'arrives', 'arrive')}"
            " after their point has closed"
            " (points.parquet, sim_after_close): keep catch-up sampling ready"
        ]
    if code == "queue_wait":
        return [
            f"{counted(n, 'point')} {_verb(n, 'has', 'have')} simulated p95 queue waits over"
            " the limit"
        ]
    if code == "staffing_shortfall":
        where = shortfall_where(s)
        if where is None:
            return [
                f"staffing shortfall: {counted(n, 'more sampler')} needed (capacity_plan.parquet)"
            ]
        points, start, end = where
        return [
            f"staffing shortfall: {counted(points, 'point')} {_verb(points, 'has', 'have')}"
            f" tables without a sampler between {start} and {end} (the call times already allow"
            f" for it); {counted(n, 'more sampler')} would staff every planned table"
            " (shortfall.parquet, capacity_plan.parquet)"
        ]
    if code == "households_unserved":
        return [
            f"{counted(n, 'home-visit household')} {_verb(n, 'has', 'have')} no team"
            " (home_visits.parquet)"
        ]
    if code == "late_tubes":
        return [
            f"{n:,} of {counted(_int(s, 'tubes_total'), 'tube')}"
            f" {_verb(n, 'reaches', 'reach')} no lab in time or {_verb(n, 'is', 'are')} not tested"
            f" ({_reasons(s.get('tubes_late_reasons'))}; transport_tubes.parquet, late_reason)"
            + _late_tubes_remedy(s)
        ]
    if code == "wall_clock":
        stages = [stage for key, stage in _WALL_CLOCK_KEYS.items() if _int(s, key)] or ["solver"]
        return [
            f"the wall-clock safety stop (--wall-limit) cut the {' and the '.join(stages)} short:"
            " a rerun may differ; raise --wall-limit or use a less busy machine"
        ]
    return [f"{code}: {n:,}"]
