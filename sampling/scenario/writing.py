"""Writing a Scenario back to a folder (CSV or Parquet), e.g. after edits or conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
import tomli_w

from sampling.files.atomic import atomic_dir
from sampling.scenario.header import Header
from sampling.scenario.model import Scenario
from sampling.scenario.parsing import clock_text
from sampling.scenario.tables import TABLE_NAMES, TableName, table_schema

Format = Literal["csv", "parquet"]


def header_toml(header: Header) -> str:
    """The header as TOML text (``None`` fields omitted, times as HH:MM)."""
    return tomli_w.dumps(header.model_dump(mode="json", exclude_none=True))


def table_for_csv(frame: pl.DataFrame, table: TableName, header: Header) -> pl.DataFrame:
    """Clock columns back to ``HH:MM`` text, as a planner reads them (CSV and Parquet)."""
    schema = table_schema(table, header.coordinates)
    clocks = [c.name for c in schema.columns if c.kind == "clock" and c.name in frame.columns]
    return frame.with_columns(clock_text(name) for name in clocks)


def write_scenario(
    scenario: Scenario, out_dir: Path, *, fmt: Format = "csv", overwrite: bool = False
) -> Path:
    """Write ``scenario`` as a folder with tables in ``fmt``; atomic, returns the folder."""
    frames: dict[TableName, pl.DataFrame | None] = {
        "buildings": scenario.buildings,
        "points": scenario.points,
        "teams": scenario.teams,
        "home_visits": scenario.home_visits if scenario.home_visits.height else None,
        "grids": scenario.grids,
        "labs": scenario.labs,
        "vehicles": scenario.vehicles,
    }
    paths: dict[str, str | None] = {
        name: f"{name}.{fmt}" if frames[name] is not None else None for name in TABLE_NAMES
    }
    header = scenario.header.model_copy(
        update={"tables": scenario.header.tables.model_copy(update=paths)}
    )
    with atomic_dir(Path(out_dir), kind="scenario", overwrite=overwrite) as staging:
        (staging / "scenario.toml").write_text(header_toml(header), encoding="utf-8")
        for name, frame in frames.items():
            if frame is None:
                continue
            target = staging / f"{name}.{fmt}"
            text_clocks = table_for_csv(frame, name, header)  # HH:MM in both formats
            if fmt == "csv":
                text_clocks.write_csv(target)
            else:
                text_clocks.write_parquet(target)
    return Path(out_dir)
