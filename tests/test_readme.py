"""The README documents every scenario column and header key a planner can use."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from sampling.scenario.header import Header
from sampling.scenario.tables import TABLE_NAMES, table_schema

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_column_is_documented() -> None:
    for coordinates in ("wgs84", "planar"):
        for table in TABLE_NAMES:
            for column in table_schema(table, coordinates).columns:
                assert f"`{column.name}`" in README, (table, column.name)


def _keys(model: type[BaseModel]) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.append(f"[{name}]")
            keys.extend(_keys(annotation))
        else:
            keys.append(f"{name} =")
    return keys


def test_every_header_key_is_documented() -> None:
    for key in _keys(Header):
        assert key in README, key
