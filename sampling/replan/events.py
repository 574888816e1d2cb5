"""Events of the day (``--events``): what happened or is announced, read with every problem listed.

A CSV or Parquet table with columns ``time, kind, id, value``; one row per event. Rows are
numbered as a spreadsheet shows them (header row 1), so a problem reads
``events.csv:4:value: not a time of day (9.30) — HH:MM``, like the scenario loader's.

Kinds and their ``value``:

* ``point_closed`` — the point closes at ``time`` (no value);
* ``point_tables`` — the point's tables become ``value`` (a whole number ≥ 0; 0 closes it);
* ``team_late`` — the team arrives at ``value`` (``HH:MM``);
* ``team_absent`` — the team does not come (no value);
* ``team_added`` — a new team ``id`` of ``value`` samplers, available from ``time``;
* ``building_sealed`` — the building is sealed: its remaining residents are visited at home;
* ``household_added`` — a new home-visit household ``id`` in building ``value`` (one person);
* ``household_removed`` — the household needs no home visit any more (its persons walk in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import polars as pl

from sampling.clock import parse_clock
from sampling.errors import Problem, ScenarioError
from sampling.scenario.model import Scenario
from sampling.scenario.reading import read_text_columns

__all__ = ["Event", "EventKind", "read_events"]

COLUMNS = ("time", "kind", "id", "value")


class EventKind(StrEnum):
    """The kinds of event ``natplan replan`` understands."""

    POINT_CLOSED = "point_closed"
    POINT_TABLES = "point_tables"
    TEAM_LATE = "team_late"
    TEAM_ABSENT = "team_absent"
    TEAM_ADDED = "team_added"
    BUILDING_SEALED = "building_sealed"
    HOUSEHOLD_ADDED = "household_added"
    HOUSEHOLD_REMOVED = "household_removed"


@dataclass(frozen=True)
class Event:
    """One event: ``time`` in minutes since midnight, the kind, the id it concerns and its
    value (tables, arrival minute, samplers or building id; ``None`` when the kind has none).
    ``row`` is the spreadsheet row it came from."""

    time: int
    kind: EventKind
    id: str
    value: str | int | None
    row: int


def read_events(path: Path, scenario: Scenario) -> tuple[Event, ...]:
    """The events of ``path`` in time order (ties in file order).

    Raises :class:`~sampling.errors.ScenarioError` listing every problem: a missing column, an
    unknown kind, a time or value that does not parse, an id the scenario does not know (or,
    for ``team_added``/``household_added``, one it already has).
    """
    label = path.name
    frame, problems = read_text_columns(path, label)
    if frame is None:
        raise ScenarioError(problems)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ScenarioError(
            [*problems, *(Problem(label, "missing column", column=c) for c in missing)]
        )
    known = _Known.of(scenario)
    events: list[Event] = []
    for index, raw in enumerate(frame.select(COLUMNS).iter_rows()):
        row = index + 2
        event, found = _parse_row(label, row, raw, known)
        problems.extend(found)
        if event is not None:
            events.append(event)
    if problems:
        raise ScenarioError(problems)
    return tuple(sorted(events, key=lambda e: (e.time, e.row)))


@dataclass
class _Known:
    """Ids the events may refer to; added teams and households join as they are read."""

    points: set[str]
    teams: set[str]
    buildings: set[str]
    households: set[str]

    @classmethod
    def of(cls, scenario: Scenario) -> _Known:
        return cls(
            set(scenario.points["point_id"].to_list()),
            set(scenario.teams["team_id"].to_list()),
            set(scenario.buildings["building_id"].to_list()),
            set(scenario.home_visits["household_id"].to_list()),
        )


def _parse_row(
    label: str, row: int, raw: tuple[str | None, ...], known: _Known
) -> tuple[Event | None, list[Problem]]:
    """One event row, or the problems that stop it being one."""
    time_text, kind_text, ident, value_text = raw
    problems: list[Problem] = []

    def problem(column: str, message: str, value: str | None, expected: str | None) -> None:
        problems.append(Problem(label, message, row, column, value, expected))

    minute: int | None = None
    if time_text is None:
        problem("time", "missing value", None, "HH:MM")
    else:
        try:
            minute = parse_clock(time_text)
        except ValueError:
            problem("time", "not a time of day", time_text, "HH:MM, e.g. 09:30")
    kinds = ", ".join(k.value for k in EventKind)
    kind: EventKind | None = None
    if kind_text is None or kind_text not in {k.value for k in EventKind}:
        problem("kind", "unknown event kind", kind_text, f"one of {kinds}")
    else:
        kind = EventKind(kind_text)
    if ident is None:
        problem("id", "missing value", None, "the id of a point, team, building or household")
    if kind is None or ident is None or minute is None:
        return None, problems
    value = _value(kind, ident, value_text, known, problem)
    if problems:
        return None, problems
    return Event(minute, kind, ident, value, row), problems


def _value(
    kind: EventKind, ident: str, text: str | None, known: _Known, problem: _Report
) -> str | int | None:
    """Check ``ident`` against the scenario and parse the value ``kind`` needs."""
    if kind in (EventKind.POINT_CLOSED, EventKind.POINT_TABLES) and ident not in known.points:
        problem("id", "unknown point", ident, "a point_id of points")
    if kind in (EventKind.TEAM_LATE, EventKind.TEAM_ABSENT) and ident not in known.teams:
        problem("id", "unknown team", ident, "a team_id of teams")
    if kind is EventKind.BUILDING_SEALED and ident not in known.buildings:
        problem("id", "unknown building", ident, "a building_id of buildings")
    if kind is EventKind.HOUSEHOLD_REMOVED and ident not in known.households:
        problem("id", "unknown household", ident, "a household_id of home_visits")
    if kind is EventKind.TEAM_ADDED:
        if ident in known.teams:
            problem("id", "team already exists", ident, "a new team id")
        known.teams.add(ident)
    if kind is EventKind.HOUSEHOLD_ADDED:
        if ident in known.households:
            problem("id", "household already exists", ident, "a new household id")
        known.households.add(ident)
    if kind is EventKind.POINT_TABLES:
        return _count(text, 0, problem, "the number of tables, a whole number ≥ 0")
    if kind is EventKind.TEAM_ADDED:
        return _count(text, 1, problem, "the number of samplers, a whole number ≥ 1")
    if kind is EventKind.TEAM_LATE:
        if text is None:
            problem("value", "missing value", None, "the arrival time, HH:MM")
            return None
        try:
            return parse_clock(text)
        except ValueError:
            problem("value", "not a time of day", text, "the arrival time, HH:MM")
            return None
    if kind is EventKind.HOUSEHOLD_ADDED:
        if text is None or text not in known.buildings:
            problem("value", "unknown building", text, "the building_id of the new household")
        return text
    return None


class _Report(Protocol):
    """Signature of the problem callback (column, message, value, expected)."""

    def __call__(
        self, column: str, message: str, value: str | None, expected: str | None
    ) -> None: ...


def _count(text: str | None, least: int, problem: _Report, expected: str) -> int | None:
    """A whole number ≥ ``least`` from ``text``, or ``None`` with a problem."""
    try:
        number = int(text) if text is not None else None
    except ValueError:
        number = None
    if number is None or number < least or number > 1_000_000_000:
        problem(
            "value", "not a valid count" if text is not None else "missing value", text, expected
        )
        return None
    return number


def events_frame(events: tuple[Event, ...]) -> pl.DataFrame:
    """The events as a table (for the summary and the notices)."""
    return pl.DataFrame(
        {
            "time": [e.time for e in events],
            "kind": [e.kind.value for e in events],
            "id": [e.id for e in events],
            "value": [None if e.value is None else str(e.value) for e in events],
        },
        schema={"time": pl.Int32, "kind": pl.String, "id": pl.String, "value": pl.String},
    )
