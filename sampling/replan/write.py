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

from pathlib import Path
from typing import Any

import polars as pl

from sampling.documents.grids import csv_text, spreadsheet_text
from sampling.documents.write import CSV_ENCODING, write_documents
from sampling.files.atomic import atomic_dir
from sampling.files.names import file_stems
from sampling.i18n import labels
from sampling.output.mapping import render_plan_map
from sampling.output.schemas import OUTPUT_TABLES
from sampling.output.write import plan_inputs, write_json
from sampling.replan.pages import CATCHUP_HEADER, catchup_page, notices_page
from sampling.scenario.model import Scenario

__all__ = ["write_replan"]


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
        write_json(staging / "summary.json", summary)
        changes.write_parquet(staging / "changes.parquet")
        catchup.write_parquet(staging / "catchup.parquet")
        lab = labels(lang)
        (staging / "changes.html").write_text(
            notices_page(changes, scenario, summary, lab, lang), encoding="utf-8"
        )
        _catchup_files(staging / "catchup", catchup, scenario, summary, lab, lang)
        render_plan_map(staging, lang=lang)
        write_documents(staging, scenario, lang=lang)  # its index links the notices above
    return Path(out_dir)


def _catchup_files(
    folder: Path,
    catchup: pl.DataFrame,
    scenario: Scenario,
    summary: dict[str, Any],
    lab: dict[str, str],
    lang: str,
) -> None:
    """``catchup/<grid>.csv`` and ``.html`` for every grid with residents to catch up."""
    folder.mkdir()
    stems = file_stems(catchup["grid_id"].drop_nulls().unique().to_list())
    header = [lab[f"replan_catchup_{c}"] for c in CATCHUP_HEADER]
    for (gid,), rows in catchup.group_by("grid_id", maintain_order=True):
        if gid is None:
            continue
        safe = rows.with_columns(
            pl.col("new_point_id").fill_null(lab["replan_catchup_no_point"])
        ).with_columns(
            spreadsheet_text(pl.col(c)).alias(c)
            for c in ("grid_id", "building_id", "point_id", "new_point_id", "new_call")
        )
        stem = stems[str(gid)]
        (folder / f"{stem}.csv").write_text(
            csv_text(header, list(safe.iter_rows())), encoding=CSV_ENCODING
        )
        html = catchup_page(str(gid), rows, scenario, summary, lab, lang)
        (folder / f"{stem}.html").write_text(html, encoding="utf-8")
