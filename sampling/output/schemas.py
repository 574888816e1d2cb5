"""The declared columns and types of every table a plan folder holds (the output contract).

:mod:`sampling.scenario.tables` declares what natplan reads; this module declares what it
writes. :func:`~sampling.output.write.write_plan` passes every table through
:meth:`OutputTable.conform`, so a stage that renames, drops or retypes a column fails loudly
(a bug) instead of handing the documents, the map or another program a different file.
Readers can rely on these names and types for every plan of this version.

Reason and status columns hold codes only (the stages' ``StrEnum`` codes); each such column
declares its codes here (``codes``), and :meth:`OutputTable.conform` rejects any other value.
Their text is in ``sampling/labels`` (:func:`sampling.i18n.reason_label`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import polars as pl

from sampling.errors import ScenarioError
from sampling.stages.assignment import STATUS_CODE, UnservedReason
from sampling.stages.day import CapacityReason, Channel, NotCalledReason
from solver.routing.result import VisitReason
from solver.transport.solve import REASONS as TRANSPORT_REASONS

__all__ = ["OUTPUT_TABLES", "OutputSchemaError", "OutputTable", "read_output"]

_S, _I64, _I32, _F64, _B = pl.String, pl.Int64, pl.Int32, pl.Float64, pl.Boolean


class OutputSchemaError(RuntimeError):
    """A stage produced a table that does not match its declared schema (a bug in natplan)."""


@dataclass(frozen=True)
class OutputTable:
    """One output table: its file stem, columns in order with their types, and what it holds.

    ``codes``: for each code column, the only values it may hold (besides null).
    """

    name: str
    columns: Mapping[str, pl.DataType | type[pl.DataType]]
    description: str
    codes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    optional: bool = False  # written only by some plans (transport: with labs and vehicles)

    @property
    def schema(self) -> pl.Schema:
        """The columns as a polars schema."""
        return pl.Schema(dict(self.columns))

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with exactly the declared columns, in order, cast to the declared types.

        Raises :class:`OutputSchemaError` for a missing or an undeclared column, a value
        that does not fit its declared type, or a code column value that is not a declared code.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in self.columns]
        if missing or extra:
            raise OutputSchemaError(
                f"{self.name}.parquet: missing columns {missing}, undeclared columns {extra}"
            )
        try:
            out = frame.select(pl.col(c).cast(t, strict=True) for c, t in self.columns.items())
        except pl.exceptions.PolarsError as error:
            raise OutputSchemaError(f"{self.name}.parquet: {error}") from error
        for column, allowed in self.codes.items():
            found = set(out[column].drop_nulls().unique().to_list())
            if found - allowed:
                raise OutputSchemaError(
                    f"{self.name}.parquet: {column} holds undeclared codes"
                    f" {sorted(found - allowed)} (allowed: {sorted(allowed)})"
                )
        return out


def _table(
    name: str,
    description: str,
    /,
    codes: Mapping[str, Iterable[str]] | None = None,
    **columns: pl.DataType | type[pl.DataType],
) -> OutputTable:
    declared = {c: frozenset(str(v) for v in values) for c, values in (codes or {}).items()}
    unknown = set(declared) - set(columns)
    if unknown:
        raise ValueError(f"{name}: codes for undeclared columns {sorted(unknown)}")
    return OutputTable(name, columns, description, declared)


def _values(kind: type[StrEnum]) -> frozenset[str]:
    """Every code of a ``StrEnum``."""
    return frozenset(member.value for member in kind)


_TABLES = (
    _table(
        "assignments",
        "one row per building: its point (null if unserved) and walk, or the reason",
        {"unserved_reason": _values(UnservedReason)},
        building_id=_S,
        grid_id=_S,
        point_id=_S,
        residents=_I64,
        home_visit_persons=_I64,
        walk_in=_I64,
        yellow_code=_I64,
        elderly=_I64,
        walk_m=_F64,
        walk_min=_F64,
        beyond_limit=_B,
        unserved_reason=_S,
        lat=_F64,
        lon=_F64,
    ),
    _table(
        "points",
        "one row per candidate point: opening, tables, load and the day's figures",
        {"status": frozenset(STATUS_CODE)},
        point_id=_S,
        name=_S,
        kind=_S,
        status=_S,
        lat=_F64,
        lon=_F64,
        open=_B,
        tables=_I64,
        max_tables=_I64,
        capacity=_I64,
        capacity_max=_I64,
        load=_I64,
        utilisation=_F64,
        finish=_S,
        finish_lower_bound=_S,
        sim_finish=_S,
        start=_S,
        staff=_I64,
        teams=_I64,
        yellow_channel=_B,
        expected_peak_queue=_F64,
        expected_max_wait_min=_F64,
        sim_p50_wait_min=_F64,
        sim_p95_wait_min=_F64,
        sim_peak_queue=_I64,
        sim_finish_p95=_S,
        late_min=_I64,
        late=_B,
        sim_after_close=_F64,
        over_capacity=_B,
        not_called=_I64,
        stranded=_I64,
        overtime_residents=_I64,
        deficit=_I64,
    ),
    _table(
        "shifts",
        "medical teams to points and shifts",
        team_id=_S,
        team_name=_S,
        point_id=_S,
        start=_S,
        end=_S,
        tables=_I64,
        overtime=_B,
        start_min=_I32,
        end_min=_I32,
    ),
    _table(
        "timetable",
        "call slots: which building comes to which point when",
        {"channel": _values(Channel)},
        building_id=_S,
        grid_id=_S,
        point_id=_S,
        call_start=_S,
        call_end=_S,
        residents=_I64,
        yellow_code=_B,
        channel=_S,
        call_start_min=_I32,
        call_end_min=_I32,
    ),
    _table(
        "shortfall",
        "samplers missing by point and time",
        point_id=_S,
        start_min=_I32,
        end_min=_I32,
        missing_samplers=_I64,
        start=_S,
        end=_S,
    ),
    _table(
        "capacity_plan",
        "extra samplers that would cover the shortfall and the deficit (reason)",
        {"reason": _values(CapacityReason)},
        point_id=_S,
        start_min=_I32,
        end_min=_I32,
        extra_samplers=_I64,
        reason=_S,
        start=_S,
        end=_S,
    ),
    _table(
        "not_called",
        "buildings with residents left without a call, with the reason",
        {"reason": _values(NotCalledReason)},
        building_id=_S,
        grid_id=_S,
        point_id=_S,
        walk_in=_I64,
        regular_not_called=_I64,
        yellow_not_called=_I64,
        not_called=_I64,
        reason=_S,
    ),
    _table(
        "home_visits",
        "each immobile household's team, order and times, or the reason it has none",
        {"unserved_reason": _values(VisitReason)},
        household_id=_S,
        building_id=_S,
        persons=_I64,
        team_id=_S,
        seq=_I64,
        arrive=_S,
        start=_S,
        end=_S,
        unserved_reason=_S,
        note=_S,
        arrive_s=_I64,
        start_s=_I64,
        end_s=_I64,
    ),
    _table(
        "routes",
        "one row per home-visit team route",
        team_id=_S,
        team_name=_S,
        stops=_I64,
        persons=_I64,
        walk_m=_I64,
        start=_S,
        end=_S,
        start_s=_I64,
        end_s=_I64,
    ),
    _table(
        "route_stops",
        "the map's route lines: each team's stops in order",
        team_id=_S,
        seq=_I64,
        household_id=_S,
        lat=_F64,
        lon=_F64,
    ),
)

_TRANSPORT_TABLES = (  # tubes to the labs (issue 16): written only when the scenario has labs
    _table(
        "transport_trips",
        "each vehicle's trips in order: pickups at points, then one unloading at a lab",
        codes={"kind": ("pickup", "unload")},
        vehicle_id=_S,
        trip=_I64,
        seq=_I64,
        kind=_S,
        point_id=_S,
        lab_id=_S,
        arrive=_S,
        depart=_S,
        tubes=_I64,
        load=_I64,
        capacity=_I64,
        lat=_F64,
        lon=_F64,
        arrive_s=_I64,
        depart_s=_I64,
        oldest_swab_s=_I64,
    ),
    _table(
        "transport_tubes",
        "tubes moved together (one batch on one trip): pickup, lab, age, result or late reason",
        codes={"source": ("walk_in", "yellow", "home_visit"), "late_reason": TRANSPORT_REASONS},
        point_id=_S,
        source=_S,
        tubes=_I64,
        vehicle_id=_S,
        trip=_I64,
        lab_id=_S,
        age_min=_F64,
        result=_S,
        late=_B,
        late_reason=_S,
        swab_s=_I64,
        ready_s=_I64,
        pickup_s=_I64,
        lab_arrive_s=_I64,
        result_s=_I64,
        batch=_I64,
    ),
    _table(
        "lab_load",
        "per lab and hour of the day: tubes arrived, tested, and the backlog at the hour's end",
        lab_id=_S,
        hour=_I64,
        tubes_arrived=_I64,
        tubes_tested=_I64,
        backlog=_I64,
        tubes_per_hour=_I64,
    ),
    _table(
        "results",
        "per point and grid: last swab, last tube tested, when all results are known",
        codes={"level": ("point", "grid")},
        level=_S,
        id=_S,
        tubes=_I64,
        tubes_late=_I64,
        last_swab=_S,
        last_tested=_S,
        results_time=_S,
        last_swab_s=_I64,
        last_tested_s=_I64,
        results_s=_I64,
        max_pickup_gap_min=_F64,
    ),
)

OUTPUT_TABLES: dict[str, OutputTable] = {
    t.name: t for t in _TABLES + tuple(replace(t, optional=True) for t in _TRANSPORT_TABLES)
}
"""Every table of a plan folder by file stem (``<name>.parquet``), in writing order."""


def read_output(out_dir: Path, name: str, *, required: bool = True) -> pl.DataFrame | None:
    """``out_dir/<name>.parquet`` checked against its declared schema (:meth:`OutputTable.conform`).

    Every reader of a plan folder (documents, map, vehicle sheets, re-planning) goes through
    here, so a folder whose tables do not match the schema fails loudly instead of rendering
    wrong pages. A missing table raises ``FileNotFoundError`` when ``required``, else gives
    ``None``. A table that does not match raises :class:`~sampling.errors.ScenarioError`
    (exit 2, a message for the planner).
    """
    path = Path(out_dir) / f"{name}.parquet"
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path}: the plan folder has no {name} table")
        return None
    try:
        return OUTPUT_TABLES[name].conform(pl.read_parquet(path))
    except OutputSchemaError as error:
        # a saved folder (not this run's: those conform when written) from another natplan
        # version, or edited by hand: the planner's to fix, not a crash
        raise ScenarioError.single(
            str(path),
            "does not match the tables of this natplan version (written by another version,"
            " or edited); plan the scenario again with this one",
            str(error),
        ) from error
