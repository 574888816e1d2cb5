"""Writing a CampaignPlan to its output folder, all at once or not at all."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sampling.documents.write import write_documents
from sampling.files.atomic import atomic_dir
from sampling.files.ownership import check_output_folder
from sampling.output.mapping import render_plan_map
from sampling.output.schemas import OUTPUT_TABLES
from sampling.progress import Progress, stage
from sampling.scenario.model import Scenario
from sampling.stages.planning import CampaignPlan

log = logging.getLogger(__name__)


def plan_inputs(scenario: Scenario) -> tuple[Path, ...]:
    """Files and folders a plan of ``scenario`` reads: its output may not replace them."""
    inputs = [scenario.root]
    if scenario.header.osm_extract:
        inputs.append(scenario.root / scenario.header.osm_extract)
    return tuple(inputs)


def check_plan_folder(out_dir: Path, scenario: Scenario) -> None:
    """Raise OutputFolderError (exit 2) unless ``out_dir`` may receive a plan of ``scenario``.

    Run before solving, so a wrong ``--out`` costs nothing; :func:`write_plan` checks again.
    """
    check_output_folder(Path(out_dir), kind="plan", protected=plan_inputs(scenario))


def plan_tables(plan: CampaignPlan) -> dict[str, pl.DataFrame]:
    """Every output table of ``plan`` by name (see :data:`~sampling.output.schemas.OUTPUT_TABLES`)."""
    day, visits = plan.day, plan.home_visits
    transport = {}
    if plan.transport is not None:  # tubes to the labs (issue 16), only with labs and vehicles
        transport = {
            "transport_trips": plan.transport.trips,
            "transport_tubes": plan.transport.tubes,
            "lab_load": plan.transport.lab_load,
            "results": plan.transport.results,
        }
    return {
        "assignments": plan.assignment.assignments,
        "points": plan.points_table(),
        "shifts": day.shifts,
        "timetable": day.timetable,
        "shortfall": day.shortfall,
        "capacity_plan": day.capacity_plan,
        "not_called": day.not_called,
        "home_visits": visits.visits,
        "routes": visits.routes,
        "route_stops": visits.route_stops,
        **transport,
    }


def write_plan(
    plan: CampaignPlan,
    out_dir: Path,
    *,
    lang: str = "zh",
    extra_seconds: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write ``plan`` into ``out_dir`` atomically: an earlier folder survives a failure.

    ``out_dir`` must be new, empty or an earlier natplan plan with nothing else in it
    (:func:`check_plan_folder`); it never is the scenario folder or one of its parents.

    Files: ``assignments.parquet``, ``points.parquet``, ``shifts.parquet``,
    ``timetable.parquet``, ``shortfall.parquet``, ``capacity_plan.parquet``,
    ``not_called.parquet``, ``home_visits.parquet``, ``routes.parquet``, ``route_stops.parquet``,
    ``summary.json``, ``map.html``, and the documents: ``index.html``, ``points/<id>.html``,
    ``grids/<id>.csv|.html``, ``teams/<id>.html``, ``plan.xlsx``, and natplan's marker
    ``.natplan.json`` listing them.
    The map is rendered from the staged files, so it shows exactly what the tables say.
    ``progress`` is told when each step starts and ends (``tables``, ``map``, ``documents``).
    """
    started = time.perf_counter()
    with atomic_dir(Path(out_dir), kind="plan", protected=plan_inputs(plan.scenario)) as staging:
        with stage(progress, "tables") as figures:
            tables = plan_tables(plan)
            for name, frame in tables.items():
                OUTPUT_TABLES[name].conform(frame).write_parquet(staging / f"{name}.parquet")
            summary = plan.summary()
            seconds: dict[str, Any] = dict(summary["seconds"])  # type: ignore[call-overload]
            seconds.update({k: round(v, 3) for k, v in (extra_seconds or {}).items()})
            summary["seconds"] = seconds
            write_json(staging / "summary.json", summary)
            figures["tables"] = len(tables)
        log.info("writing tables, map and documents to %s", out_dir)
        map_started = time.perf_counter()
        with stage(progress, "map"):
            render_plan_map(staging, lang=lang, scenario=plan.scenario)
        seconds["map"] = round(time.perf_counter() - map_started, 3)
        docs_started = time.perf_counter()
        with stage(progress, "documents") as figures:
            docs = write_documents(staging, plan.scenario, lang=lang)
            figures.update(point_pages=docs.point_pages, grid_lists=docs.grid_lists)
            figures.update(team_pages=docs.team_pages, files=len(docs.files))
        seconds["documents"] = round(time.perf_counter() - docs_started, 3)
        seconds["write"] = round(time.perf_counter() - started, 3)
        write_json(staging / "summary.json", summary)
    return Path(out_dir)


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has neither).

    A figure that does not exist (the gap of a plan without a bound, the objective when no plan
    was found) is ``null``; the plan's ``status`` and ``status_reason`` say why.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def json_text(data: Mapping[str, Any]) -> str:
    """``data`` as standard JSON text (no ``NaN``/``Infinity``: :func:`strict_json`), readable
    by any parser; every summary natplan writes goes through here."""
    return json.dumps(strict_json(dict(data)), ensure_ascii=False, indent=2, allow_nan=False)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write :func:`json_text` of ``data`` to ``path`` (inside a staging folder)."""
    path.write_text(json_text(data), encoding="utf-8")
