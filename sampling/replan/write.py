"""Writing a re-plan: a complete plan folder (as ``natplan plan`` writes it) plus what changed.

The folder is built and swapped in at once by :func:`sampling.files.atomic.atomic_dir`, with
natplan's marker and the one-run lock, exactly like ``write_plan``: the same tables in their
declared schemas, ``summary.json``, the map and every document, then ``changes.parquet``,
``changes.html`` (one printable notice per grid leader and per team), ``catchup.parquet`` and
``catchup/<grid>.csv|.html`` (written before the documents, so the index's re-plan notice
links them). An optional table (transport) is written only when the re-plan has it: a saved
plan with transport gets it re-planned from ``--at`` (:mod:`sampling.replan.transport`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from sampling.documents.grids import spreadsheet_text
from sampling.documents.write import CSV_ENCODING, write_documents
from sampling.files.atomic import atomic_dir
from sampling.files.names import file_stems
from sampling.i18n import labels
from sampling.output.mapping import render_plan_map
from sampling.output.schemas import OUTPUT_TABLES
from sampling.output.write import plan_inputs, strict_json
from sampling.scenario.model import Scenario

__all__ = ["write_replan"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("sampling.replan", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    finalize=lambda v: "" if v is None else v,
    trim_blocks=True,
    lstrip_blocks=True,
)

CHANGE_HEADER = (
    "kind",
    "building",
    "team",
    "household",
    "old",
    "new",
    "old_time",
    "new_time",
    "residents",
)


def write_replan(
    out_dir: Path,
    scenario: Scenario,
    tables: dict[str, pl.DataFrame],
    summary: dict[str, Any],
    changes: pl.DataFrame,
    catchup: pl.DataFrame,
    *,
    lang: str = "zh",
) -> Path:
    """Write the re-plan into ``out_dir`` atomically (see the module docstring)."""
    with atomic_dir(Path(out_dir), kind="plan", protected=plan_inputs(scenario)) as staging:
        for name, table in OUTPUT_TABLES.items():
            frame = tables.get(name)
            if frame is None and table.optional:
                continue  # e.g. transport, for a plan without labs and vehicles
            if frame is None:
                frame = pl.DataFrame(schema=table.schema)
            table.conform(frame).write_parquet(staging / f"{name}.parquet")
        _json(staging / "summary.json", summary)
        changes.write_parquet(staging / "changes.parquet")
        catchup.write_parquet(staging / "catchup.parquet")
        lab = labels(lang)
        (staging / "changes.html").write_text(
            _notices(changes, scenario, summary, lab, lang), encoding="utf-8"
        )
        _catchup_files(staging / "catchup", catchup, summary, lab, lang)
        render_plan_map(staging, lang=lang)
        write_documents(staging, scenario, lang=lang)  # its index links the notices above
    return Path(out_dir)


def _json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(strict_json(data), ensure_ascii=False, indent=2, allow_nan=False)
    path.write_text(text, encoding="utf-8")


def _row(r: dict[str, Any], lab: dict[str, str]) -> tuple[object, ...]:
    return (
        lab.get(f"replan_kind_{r['kind']}", r["kind"]),
        r["building_id"],
        r["team_id"],
        r["household_id"],
        r["old_point_id"],
        r["new_point_id"],
        r["old_time"],
        r["new_time"],
        r["residents"],
    )


def _notices(
    changes: pl.DataFrame,
    scenario: Scenario,
    summary: dict[str, Any],
    lab: dict[str, str],
    lang: str,
) -> str:
    """One notice per grid leader (their buildings and households) and per team."""
    leaders: dict[str, str] = {}
    if scenario.grids is not None and "leader" in scenario.grids.columns:
        leaders = {
            g: str(leader or "")
            for g, leader in scenario.grids.select("grid_id", "leader").iter_rows()
        }
    notices: list[dict[str, Any]] = []
    grids = changes.filter(pl.col("grid_id").is_not_null())
    for (gid,), rows in grids.group_by("grid_id", maintain_order=True):
        notices.append(
            {
                "heading": lab["replan_notice_grid"].format(grid=gid),
                "leader": leaders.get(str(gid), ""),
                "rows": [_row(r, lab) for r in rows.iter_rows(named=True)],
            }
        )
    teams = changes.filter(pl.col("team_id").is_not_null())
    for (tid,), rows in teams.group_by("team_id", maintain_order=True):
        notices.append(
            {
                "heading": lab["replan_notice_team"].format(team=tid),
                "leader": "",
                "rows": [_row(r, lab) for r in rows.iter_rows(named=True)],
            }
        )
    return _ENV.get_template("notices.html").render(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=lab["replan_changes_title"].format(scenario=summary.get("scenario", "")),
        intro=lab["replan_changes_intro"].format(at=summary.get("replan_at", "")),
        header=[lab[f"replan_col_{c}"] for c in CHANGE_HEADER],
        notices=notices,
        lab=lab,
    )


CATCHUP_HEADER = (
    "grid",
    "building",
    "point",
    "expected",
    "sampled",
    "missing",
    "new_point",
    "new_call",
)


def _catchup_files(
    folder: Path, catchup: pl.DataFrame, summary: dict[str, Any], lab: dict[str, str], lang: str
) -> None:
    """``catchup/<grid>.csv`` and ``.html`` for every grid with residents to catch up."""
    folder.mkdir()
    stems = file_stems(catchup["grid_id"].drop_nulls().unique().to_list())
    header = [lab[f"replan_catchup_{c}"] for c in CATCHUP_HEADER]
    for (gid,), rows in catchup.group_by("grid_id", maintain_order=True):
        if gid is None:
            continue
        safe = rows.with_columns(
            spreadsheet_text(pl.col(c)).alias(c)
            for c in ("grid_id", "building_id", "point_id", "new_point_id", "new_call")
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(safe.iter_rows())
        stem = stems[str(gid)]
        (folder / f"{stem}.csv").write_text(buffer.getvalue(), encoding=CSV_ENCODING)
        html = _ENV.get_template("catchup.html").render(
            html_lang="zh-CN" if lang == "zh" else "en",
            title=lab["replan_catchup_title"].format(grid=gid),
            intro=lab["replan_catchup_intro"].format(at=summary.get("replan_at", "")),
            header=header,
            rows=list(rows.iter_rows()),
        )
        (folder / f"{stem}.html").write_text(html, encoding="utf-8")
