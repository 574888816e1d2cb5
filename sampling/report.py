"""What ``natplan plan`` says on the console: the plan in plain words, then every warning.

Built from ``summary.json`` only, so the console, the index and the map can never disagree
with the saved figures. A count is never rounded away: "1,750 of 1,777" rather than "98 %".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _int(summary: Mapping[str, Any], key: str) -> int:
    value = summary.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def _clock_minutes(text: object) -> int | None:
    """Minutes of an ``HH:MM`` text (hours may pass 24), or None."""
    if not isinstance(text, str) or ":" not in text:
        return None
    hours, minutes = text.split(":", 1)
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    return int(hours) * 60 + int(minutes)


def assignment_line(summary: Mapping[str, Any]) -> str:
    """Status of the assignment: the gap to its lower bound, or why there is no plan."""
    status = summary.get("status")
    gap = summary.get("gap")
    if status in ("optimal", "feasible"):
        gap_text = f"gap {gap:.2%} to the lower bound" if isinstance(gap, float) else "no bound"
        return (
            f"assignment {status} ({gap_text}): {_int(summary, 'points_open')} points,"
            f" {_int(summary, 'tables_used')} tables, mean walk"
            f" {float(summary.get('walk_m_mean') or 0):.0f} m"
        )
    reason = summary.get("status_reason") or "no reason given"
    return f"assignment: {str(status).replace('_', ' ')} — {reason}"


def plan_lines(summary: Mapping[str, Any]) -> list[str]:
    """The console report: three lines of figures, then one ``warning:`` line per problem."""
    name = summary.get("scenario", "")
    walk_in = _int(summary, "residents_walk_in")
    assigned = _int(summary, "residents_assigned")
    not_called = _int(summary, "residents_not_called")
    called = assigned - not_called
    lines = [
        f"{name}: {called:,} of {walk_in:,} walk-in residents have a call"
        f" ({assigned:,} assigned to a point, {not_called:,} of them not called;"
        f" {_int(summary, 'residents_unserved'):,} without a point);"
        f" {_int(summary, 'home_visit_persons_served'):,} of"
        f" {_int(summary, 'residents_home_visit'):,} home-visit residents served",
        assignment_line(summary),
        f"day: last swab {summary.get('finish_time', '?')} for a window ending"
        f" {summary.get('window_end', '?')} (simulated {summary.get('sim_finish_time', '?')});"
        f" staffing {summary.get('staffing_status', '?')}",
    ]
    return lines + [f"warning: {w}" for w in plan_warnings(summary)]


def plan_warnings(summary: Mapping[str, Any]) -> list[str]:
    """Everything a planner must act on, in plain words (empty when the plan holds)."""
    out: list[str] = []
    unserved = _int(summary, "residents_unserved")
    if unserved:
        out.append(
            f"{unserved:,} residents in {_int(summary, 'buildings_unserved'):,} buildings have"
            " no sampling point (assignments.parquet, unserved_reason)"
        )
    not_called = _int(summary, "residents_not_called")
    if not_called:
        out.append(
            f"{not_called:,} assigned residents in {_int(summary, 'buildings_not_called'):,}"
            " buildings get no call in the window (not_called.parquet)"
        )
    end = _clock_minutes(summary.get("window_end"))
    for key, what in (("finish_time", "planned"), ("sim_finish_time", "simulated")):
        finish = _clock_minutes(summary.get(key))
        if end is not None and finish is not None and finish > end:
            out.append(
                f"the {what} last swab is {summary[key]}, {finish - end} min after the window"
                f" ends ({summary['window_end']})"
            )
    over = _int(summary, "points_p95_over_limit")
    if over:
        out.append(f"{over} points have simulated p95 queue waits over the limit")
    extra = _int(summary, "capacity_plan_extra_samplers")
    if summary.get("staffing_status") == "shortfall" or extra:
        out.append(f"staffing shortfall: {extra:,} more samplers needed (capacity_plan.parquet)")
    households = _int(summary, "households_unserved")
    if households:
        out.append(f"{households:,} home-visit households have no team (home_visits.parquet)")
    for key, stage in (
        ("solver_wall_clock_bound", "assignment"),
        ("home_visits_wall_clock_bound", "home-visit routing"),
    ):
        if _int(summary, key):
            out.append(
                f"the wall clock (--time-limit) cut the {stage} short: a rerun may differ;"
                " allow more time"
            )
    return out
