"""The city's own outputs: ``summary.json``, ``districts.parquet`` and ``index.html``.

Every figure is read from the districts' saved ``summary.json`` files (the same files their
own pages show), so the city page can never disagree with a district's. City totals are sums
of district figures; the coverage and mean walk are recomputed from the summed counts, the
latest finish is the latest district's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sampling.city.jobs import Job, JobResult
from sampling.city.labels import city_labels
from sampling.documents.html import fill, template
from sampling.files.atomic import atomic_file
from sampling.output.mapping import map_alerts
from sampling.output.write import json_text
from sampling.report import ALERT_CODES
from sampling.stages.kpis import coverage_share

ADDITIVE = (
    "residents_total",
    "residents_walk_in",
    "residents_home_visit",
    "residents_assigned",
    "residents_within_limit",
    "residents_unserved",
    "residents_not_called",
    "residents_overtime",
    "capacity_deficit_residents",
    "buildings_total",
    "buildings_unserved",
    "points_open",
    "tables_used",
    "samplers_available",
    "samplers_used",
    "extra_samplers_for_window",
    "late_points",
    "households_total",
    "households_served",
    "households_unserved",
)
"""District figures that add up to the city's (counts of residents, points, samplers…)."""

ROW_SCHEMA: dict[str, pl.DataType] = {
    "district": pl.String(),
    "status": pl.String(),
    "error_kind": pl.String(),
    "error": pl.String(),
    "seed": pl.Int64(),
    "seconds": pl.Float64(),
    "worker": pl.String(),
    "peak_rss_mib": pl.Float64(),
    **{key: pl.Int64() for key in ADDITIVE},
    "coverage": pl.Float64(),
    "walk_m_mean": pl.Float64(),
    "gap": pl.Float64(),
    "assignment_status": pl.String(),
    "window_end": pl.String(),
    "finish_time": pl.String(),
    "finish_after_window_min": pl.Int64(),
    "sim_finish_p95": pl.String(),
    "window_extension_min": pl.Int64(),
    "wall_clock_bound": pl.Int64(),
    "alerts": pl.String(),
    "alert_count": pl.Int64(),
    "plan_seconds": pl.Float64(),
    "index": pl.String(),
    "map": pl.String(),
}
"""Columns of ``districts.parquet`` (one row per district; figures null for failed ones)."""


@dataclass(frozen=True)
class DistrictOutcome:
    """One district of a run: its job, what the worker said, and its saved summary."""

    job: Job
    result: JobResult
    summary: Mapping[str, Any] | None

    @property
    def status(self) -> str:
        """``planned``, ``up_to_date`` (skipped: its folder was already planned) or ``failed``."""
        if not self.result.ok:
            return "failed"
        return "up_to_date" if self.result.skipped else "planned"


def read_summary(out_dir: Path) -> dict[str, Any] | None:
    """A plan folder's ``summary.json`` (None when missing or unreadable)."""
    try:
        data: Any = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _whole(value: object) -> int | None:
    number = _number(value)
    return None if number is None else round(number)


def alert_counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """The summary's alerts as code → count."""
    out: dict[str, int] = {}
    for alert in summary.get("alerts") or []:
        if isinstance(alert, Mapping) and isinstance(alert.get("code"), str):
            out[str(alert["code"])] = _whole(alert.get("count")) or 0
    return out


def alerts_text(counts: Mapping[str, int]) -> str:
    """``deficit 1,234 · late_points 3`` (empty when none): the tables keep alert codes, the
    same in every language; the pages word them with :func:`alert_lines`."""
    return " · ".join(f"{code} {count:,}" for code, count in counts.items())


_ALERT_ITEM = re.compile(r"([A-Za-z0-9_]+) (-?[0-9][0-9,]*)")


def parse_alerts(text: str | None) -> dict[str, int]:
    """Code → count of an :func:`alerts_text` string (its inverse; other text is skipped)."""
    out: dict[str, int] = {}
    for item in (text or "").split(" · "):
        match = _ALERT_ITEM.fullmatch(item.strip())
        if match:
            out[match[1]] = int(match[2].replace(",", ""))
    return out


def alert_lines(counts: Mapping[str, int], lang: str) -> list[str]:
    """The alerts in ``lang``, worded as the district's own map words them (``[map]``
    ``alert_<code>``, by :func:`sampling.output.mapping.map_alerts`)."""
    listed = [{"code": code, "count": count} for code, count in counts.items()]
    return list(map_alerts({"alerts": listed}, lang))


def city_alert_lines(alerts: Sequence[Mapping[str, Any]], lang: str) -> list[tuple[str, str]]:
    """(code, text) of the city's alerts (:func:`city_totals`): each worded as in
    :func:`alert_lines` with the city count, and how many districts have it."""
    lab = city_labels(lang)
    out = []
    for alert in alerts:
        code = str(alert["code"])
        (line,) = alert_lines({code: int(alert["count"])}, lang)
        text = lab.alert_districts_minutes if code == "finish_after_window" else lab.alert_districts
        out.append((code, fill(text, alert=line, districts=alert["districts"])))
    return out


def outcome_row(outcome: DistrictOutcome) -> dict[str, Any]:
    """The district's row of ``districts.parquet`` (figures from its ``summary.json``)."""
    job, result, s = outcome.job, outcome.result, outcome.summary
    row: dict[str, Any] = dict.fromkeys(ROW_SCHEMA)
    row.update(
        district=job.name,
        status=outcome.status,
        error_kind=result.error_kind or None,
        error=result.error or None,
        seed=job.seed,
        seconds=result.seconds if not result.skipped else None,
        worker=result.worker or None,
        peak_rss_mib=result.peak_rss_mib if not result.skipped else None,
    )
    if s is None or not result.ok:
        return row
    counts = alert_counts(s)
    seconds = s.get("seconds") if isinstance(s.get("seconds"), Mapping) else {}
    row.update({key: _whole(s.get(key)) for key in ADDITIVE})
    row.update(
        coverage=_number(s.get("coverage")),
        walk_m_mean=_number(s.get("walk_m_mean")),
        gap=_number(s.get("gap")),
        assignment_status=s.get("status"),
        window_end=s.get("window_end"),
        finish_time=s.get("finish_time"),
        finish_after_window_min=counts.get("finish_after_window", 0),
        sim_finish_p95=s.get("sim_finish_p95"),
        window_extension_min=_whole(s.get("window_extension_min")),
        wall_clock_bound=counts.get("wall_clock", 0),
        alerts=alerts_text(counts),
        alert_count=len(counts),
        plan_seconds=_number(seconds.get("plan_total")) if seconds else None,
        index=f"{job.name}/index.html",
        map=f"{job.name}/map.html",
    )
    return row


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows in :data:`ROW_SCHEMA` (column order and types fixed, even with no rows)."""
    return pl.DataFrame([dict(r) for r in rows], schema=ROW_SCHEMA, orient="row")


def _clock(text: object) -> int | None:
    if not isinstance(text, str) or ":" not in text:
        return None
    hours, minutes = text.split(":", 1)
    return int(hours) * 60 + int(minutes) if hours.isdigit() and minutes.isdigit() else None


def city_totals(outcomes: Sequence[DistrictOutcome]) -> dict[str, Any]:
    """Sums over the planned districts, and the figures recomputed from them."""
    planned = [o for o in outcomes if o.result.ok and o.summary is not None]
    totals: dict[str, Any] = {
        key: sum(_whole(o.summary.get(key)) or 0 for o in planned if o.summary) for key in ADDITIVE
    }
    within, walk_in = totals["residents_within_limit"], totals["residents_walk_in"]
    totals["coverage"] = coverage_share(within, walk_in) if planned else None  # as a district's
    weighted = sum(
        (_number(o.summary.get("walk_m_mean")) or 0.0)
        * (_whole(o.summary.get("residents_assigned")) or 0)
        for o in planned
        if o.summary
    )
    assigned = totals["residents_assigned"]
    # as a district: 0.0 when nobody walks; None only when no district was planned
    totals["walk_m_mean"] = weighted / assigned if assigned else (0.0 if planned else None)
    latest = max(
        planned,
        key=lambda o: _clock(o.summary.get("finish_time") if o.summary else None) or -1,
        default=None,
    )
    totals["finish_time_latest"] = (
        latest.summary.get("finish_time") if latest and latest.summary else None
    )
    totals["finish_time_latest_district"] = latest.job.name if latest else None
    alerts: list[dict[str, Any]] = []
    for code in ALERT_CODES:
        counts = [alert_counts(o.summary).get(code, 0) for o in planned if o.summary]
        hit = [c for c in counts if c > 0]
        if hit:  # minutes after the window do not add up: the worst district's
            count = max(hit) if code == "finish_after_window" else sum(hit)
            alerts.append({"code": code, "count": count, "districts": len(hit)})
    totals["alerts"] = alerts
    return totals


def city_summary(
    name: str, date: str | None, outcomes: Sequence[DistrictOutcome], wall_seconds: float
) -> dict[str, Any]:
    """``summary.json`` of the city: counts of districts, totals, failures, a row per district."""
    failed = [o for o in outcomes if not o.result.ok]
    return {
        "city": name,
        "date": date,
        "districts_total": len(outcomes),
        "districts_planned": sum(o.status == "planned" for o in outcomes),
        "districts_up_to_date": sum(o.status == "up_to_date" for o in outcomes),
        "districts_failed": len(failed),
        "totals": city_totals(outcomes),
        "failed": [
            {"district": o.job.name, "error_kind": o.result.error_kind, "error": o.result.error}
            for o in failed
        ],
        "wall_seconds": round(wall_seconds, 3),
        "districts": [outcome_row(o) for o in outcomes],
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Standard JSON (no NaN), written atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(json_text(data), encoding="utf-8")


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    """A table written atomically."""
    with atomic_file(path) as temporary:
        frame.write_parquet(temporary)


def write_html(path: Path, html: str) -> None:
    """A page written atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(html, encoding="utf-8")


def page_frame(lang: str, title: str, subtitle: str) -> dict[str, Any]:
    """Values of ``base.html`` for a city page."""
    lab = city_labels(lang)
    return {
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "title": title,
        "heading": title,
        "subtitle": subtitle,
        "running_left": title,
        "running_right": subtitle,
        "footer": lab.footer,
        "attribution": "",
    }


def render_index(summary: Mapping[str, Any], lang: str) -> str:
    """``index.html``: totals, alerts, failed districts and the table of districts."""
    lab = city_labels(lang)
    rows = summary["districts"]
    title = fill(lab.city_title, city=summary["city"])
    subtitle = fill(
        lab.city_subtitle,
        date=summary.get("date") or "",
        planned=summary["districts_total"] - summary["districts_failed"],
        total=summary["districts_total"],
    )
    return template("city_index.html").render(
        **page_frame(lang, title, subtitle),
        lab=lab,
        s=summary,
        t=summary["totals"],
        alerts=city_alert_lines(summary["totals"]["alerts"], lang),
        rows=[{**r, "alert_lines": alert_lines(parse_alerts(r["alerts"]), lang)} for r in rows],
    )


def write_city_outputs(
    out: Path,
    name: str,
    date: str | None,
    outcomes: Sequence[DistrictOutcome],
    *,
    lang: str,
    wall_seconds: float,
) -> dict[str, Any]:
    """Write ``summary.json``, ``districts.parquet`` and ``index.html``; return the summary."""
    summary = city_summary(name, date, outcomes, wall_seconds)
    write_json(out / "summary.json", summary)
    write_parquet(out / "districts.parquet", rows_frame(summary["districts"]))
    write_html(out / "index.html", render_index(summary, lang))
    return summary
