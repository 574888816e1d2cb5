"""A plan folder written by ``natplan plan`` (or an earlier ``replan``), read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import polars as pl

from sampling.errors import ScenarioError
from sampling.output.schemas import OUTPUT_TABLES, read_output

__all__ = ["NEEDED", "SavedPlan", "read_saved_plan"]

NEEDED = tuple(name for name, table in OUTPUT_TABLES.items() if not table.optional)
"""The tables a re-plan reads: every table each plan folder holds (transport is optional)."""


@dataclass(frozen=True)
class SavedPlan:
    """The saved plan's ``summary.json`` and every output table by name."""

    folder: Path
    summary: dict[str, Any]
    tables: dict[str, pl.DataFrame]

    @property
    def scenario_dir(self) -> Path:
        """The scenario the plan was made for (``summary.json`` ``scenario_dir``)."""
        return Path(str(self.summary["scenario_dir"]))


def read_saved_plan(folder: Path) -> SavedPlan:
    """Read ``folder``; a folder that is not a plan is an input error (exit 2)."""
    folder = Path(folder)
    missing = [
        name
        for name in ("summary.json", *(f"{t}.parquet" for t in NEEDED))
        if not (folder / name).is_file()
    ]
    if missing:
        raise ScenarioError.single(
            str(folder), "not a plan output folder", f"missing {', '.join(missing[:4])}"
        )
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    if "scenario_dir" not in summary:
        raise ScenarioError.single(str(folder / "summary.json"), "no scenario_dir in the summary")
    tables = {name: cast(pl.DataFrame, read_output(folder, name)) for name in NEEDED}
    return SavedPlan(folder, summary, tables)
