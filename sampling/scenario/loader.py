"""``load_scenario``: read a scenario folder, validate everything, return a frozen Scenario.

Every check runs before anything is reported, so one :class:`ScenarioError` lists all
problems: header syntax and typos, missing files, columns and values, duplicate ids, and the
cross-table rules (grids, home visits against buildings, team hours, yellow-code counts).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ValidationError

from sampling.errors import Problem, ScenarioError
from sampling.scenario.header import Header, HeaderConflictError
from sampling.scenario.model import Scenario
from sampling.scenario.parsing import parse_table, row_problems
from sampling.scenario.reading import read_bounded, read_text_columns, regular_file_problem
from sampling.scenario.tables import OPTIONAL_TABLES, TABLE_NAMES, empty_table, table_schema

HEADER_FILE = "scenario.toml"

MAX_HEADER_BYTES = 1024**2
"""Largest ``scenario.toml`` read (1 MiB): a full header is about 2 kB, so only a wrong file
(or a device or pipe named like it) comes near; it is refused before it fills memory."""

MAX_SCENARIO_RESIDENTS = 50_000_000
"""Most residents one scenario may hold: twice the largest city round on record (Shanghai 2022,
25M). A district has up to a few million; the day's simulation keeps a few arrays per resident,
so far larger totals would only exhaust memory after the solve."""

MAX_EXTRACT_BYTES = 8 * 1024**3
"""Largest OSM extract accepted (8 GiB). The extract is streamed, so this only catches a
wrong path: all of China is about 1.3 GB as ``.osm.pbf``, a district a few MB."""


def load_scenario(
    path: str | Path,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """Load and validate the scenario folder at ``path`` (or its ``scenario.toml``).

    ``defaults`` and ``overrides`` are header values (nested like ``scenario.toml``) merged
    under and over the file's own before validation: a city's shared defaults, a what-if
    variant (see :func:`merge_header`). Raises :class:`ScenarioError` listing every problem.
    """
    root = Path(path)
    if root.is_file() and root.name == HEADER_FILE:
        root = root.parent
    if not root.exists():
        raise ScenarioError(
            [
                Problem(
                    str(root), "scenario folder not found", expected="a folder with scenario.toml"
                )
            ]
        )
    if not root.is_dir():
        raise ScenarioError(
            [Problem(str(root), "not a folder", expected="a folder with scenario.toml")]
        )
    header = load_header(root / HEADER_FILE, defaults=defaults, overrides=overrides)
    problems: list[Problem] = []
    frames: dict[str, pl.DataFrame | None] = {}
    for table in TABLE_NAMES:
        relative = getattr(header.tables, table)
        if relative is None:
            frames[table] = None
            continue
        file = relative
        text, found = read_text_columns(root / relative, file)
        problems.extend(found)
        if text is None:
            frames[table] = None
            continue
        schema = table_schema(table, header.coordinates)
        if table in OPTIONAL_TABLES and text.height == 0 and text.width > 0:
            frames[table] = empty_table(table, header.coordinates)
            continue
        frame, found = parse_table(file, text, schema)
        problems.extend(found)
        frames[table] = frame
    problems.extend(_cross_checks(header, frames))
    if header.distance == "street" and header.osm_extract:
        problems.extend(_check_extract(root / header.osm_extract, header.osm_extract))
    if problems:
        order = {name: k for k, name in enumerate(dict.fromkeys(p.file for p in problems))}
        raise ScenarioError(sorted(problems, key=lambda p: (order[p.file], p.row or 0)))
    home_visits = frames["home_visits"]
    buildings, points, teams = frames["buildings"], frames["points"], frames["teams"]
    assert buildings is not None and points is not None and teams is not None
    return Scenario(
        root=root,
        header=header,
        buildings=buildings,
        points=points,
        teams=teams,
        home_visits=home_visits
        if home_visits is not None
        else empty_table("home_visits", header.coordinates),
        grids=frames["grids"],
        labs=frames.get("labs"),
        vehicles=frames.get("vehicles"),
    )


def merge_header(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Header tables merged key by key, later layers winning (sections merged, not replaced)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge_header(merged[key], value)
            else:
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def load_header(
    path: Path,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Header:
    """Parse and validate ``scenario.toml`` (with ``defaults`` under and ``overrides`` over its
    values, see :func:`merge_header`); raises ScenarioError with line numbers."""
    file = path.name
    if not path.exists():
        raise ScenarioError(
            [Problem(file, "header file not found", expected=f"a scenario header at {path}")]
        )
    raw = read_bounded(path, file, MAX_HEADER_BYTES)
    if isinstance(raw, Problem):
        raise ScenarioError([raw])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError(
            [Problem(file, "cannot decode the header", expected="a UTF-8 text file")]
        ) from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError(
            [Problem(file, "malformed TOML: values nested too deeply", expected="valid TOML")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line_match = re.search(r"line (\d+)", message)
        row = int(line_match.group(1)) if line_match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ScenarioError(
            [Problem(file, f"malformed TOML: {reason}", row, expected="valid TOML")]
        ) from None
    if defaults or overrides:
        data = merge_header(defaults, data, overrides)
    try:
        return Header.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_header_problems(file, text, data, exc)) from None


def _header_problems(
    file: str, text: str, data: dict[str, Any], exc: ValidationError
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        conflict = (error.get("ctx") or {}).get("error")
        if isinstance(conflict, HeaderConflictError):  # a cross-key rule: it names the key to fix
            loc += conflict.loc
            key = ".".join(loc)
            shown = None if conflict.value is None else repr(conflict.value)
            line = _line_of(text, loc)
            problems.append(Problem(file, conflict.message, line, key, shown, conflict.expected))
            continue
        key = ".".join(loc) if loc else "(header)"
        value = error.get("input")
        shown = None if isinstance(value, dict) or error["type"] == "missing" else repr(value)
        if error["type"] == "extra_forbidden":
            problems.append(
                Problem(
                    file,
                    "unknown key (likely a typo)",
                    _line_of(text, loc),
                    key,
                    None,
                    _suggest(loc),
                )
            )
        elif error["type"] == "missing":
            problems.append(
                Problem(file, "missing", None, key, expected=f"required: add {key} = …")
            )
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(Problem(file, message, _line_of(text, loc), key, shown, _expected(loc)))
    return problems


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Header
    for part in loc[:-1]:
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _suggest(loc: list[str]) -> str:
    model = _model_at(loc)
    if model is None:
        return "remove it"
    valid = sorted(model.model_fields)
    close = difflib.get_close_matches(loc[-1], valid, n=1)
    if close:
        return f"did you mean '{close[0]}'? (valid keys here: {', '.join(valid)})"
    return f"valid keys here: {', '.join(valid)}"


def _expected(loc: list[str]) -> str | None:
    model = _model_at(loc)
    if model is None or not loc or loc[-1] not in model.model_fields:
        return None
    field = model.model_fields[loc[-1]]
    description = field.description or ""
    if field.is_required():  # its default is pydantic's "undefined" marker: never show that
        return f"{description + '; ' if description else ''}required (no default)"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel) or default is None:
        return description or None
    if loc[-1] in ("start", "end"):
        return "HH:MM"
    return f"{description + '; ' if description else ''}default {default!r}"


def _line_of(text: str, loc: list[str]) -> int | None:
    """Line number of the TOML key at ``loc`` (section header, then key), if findable."""
    if not loc:  # the header as a whole
        return None
    lines = text.splitlines()
    start = 0
    if len(loc) > 1:
        section = re.compile(r"^\s*\[\s*" + re.escape(".".join(loc[:-1])) + r"\s*\]")
        for number, line in enumerate(lines):
            if section.match(line):
                start = number + 1
                break
    key = re.compile(r"^\s*" + re.escape(loc[-1]) + r"\s*=")
    for number in range(start, len(lines)):
        if key.match(lines[number]):
            return number + 1
        if number > start and lines[number].lstrip().startswith("[") and len(loc) > 1:
            break
    return None


def _cross_checks(header: Header, frames: dict[str, pl.DataFrame | None]) -> list[Problem]:
    """Rules that span columns or tables."""
    problems: list[Problem] = []
    paths = header.tables
    buildings = frames.get("buildings")
    teams = frames.get("teams")
    home_visits = frames.get("home_visits")
    grids = frames.get("grids")
    points = frames.get("points")
    limit = header.sampling.max_open_points
    if points is not None and limit is not None and "status" in points.columns:
        required = int((points["status"] == "required").sum())
        if required > limit:
            problems.append(required_over_limit(paths.points, required, limit))
    if buildings is not None and buildings.height:
        total = int(buildings["residents"].cast(pl.Int64).sum())
        if total > MAX_SCENARIO_RESIDENTS:
            problems.append(
                Problem(
                    paths.buildings,
                    "more residents in all than one district plan can hold",
                    column="residents",
                    value=f"{total:,}",
                    expected=f"at most {MAX_SCENARIO_RESIDENTS:,}: split a city into districts",
                )
            )
        for column in ("yellow_code", "elderly"):
            bad = buildings[column] > buildings["residents"]
            problems += row_problems(
                paths.buildings,
                column,
                buildings,
                bad,
                "more than the building's residents",
                "at most the residents column",
            )
        if grids is not None and grids.height:
            unknown = buildings["grid_id"].is_not_null() & ~buildings["grid_id"].is_in(
                grids["grid_id"].implode()
            )
            problems += row_problems(
                paths.buildings,
                "grid_id",
                buildings,
                unknown,
                "unknown grid",
                f"a grid_id listed in {paths.grids}",
            )
    if teams is not None and teams.height:
        bad = teams["available_to"] <= teams["available_from"]
        problems += row_problems(
            paths.teams,
            "available_to",
            teams,
            bad,
            "not after available_from",
            "a time later than available_from",
        )
    if home_visits is not None and home_visits.height:
        hv_file = paths.home_visits or "home_visits"
        bad = home_visits["window_end"] <= home_visits["window_start"]
        problems += row_problems(
            hv_file,
            "window_end",
            home_visits,
            bad,
            "not after window_start",
            "a time later than window_start",
        )
        half = home_visits["window_start"].is_null() != home_visits["window_end"].is_null()
        problems += row_problems(
            hv_file,
            "window_end",
            home_visits,
            half,
            "only one end of the visit window given",
            "both window_start and window_end, or neither",
            value_column="window_start",
        )
        if buildings is not None and buildings.height:
            known = home_visits["building_id"].is_in(buildings["building_id"].implode())
            unknown = home_visits["building_id"].is_not_null() & ~known
            problems += row_problems(
                hv_file,
                "building_id",
                home_visits,
                unknown,
                "unknown building",
                f"a building_id listed in {paths.buildings}",
            )
            totals = (
                home_visits.filter(known)
                .group_by("building_id")
                .agg(pl.col("persons").sum().alias("persons"))
                .join(buildings.select("building_id", "residents"), on="building_id")
                .filter(pl.col("persons") > pl.col("residents"))
            )
            flagged = home_visits.with_columns(
                pl.col("building_id").is_in(totals["building_id"].implode()).alias("__over")
            )
            problems += row_problems(
                hv_file,
                "persons",
                flagged,
                flagged["__over"],
                "home-visit persons exceed the building's residents",
                f"the building's home-visit persons summed ≤ its residents in {paths.buildings}",
            )
    problems.extend(_transport_checks(header, frames))
    return problems


def _transport_checks(header: Header, frames: dict[str, pl.DataFrame | None]) -> list[Problem]:
    """Labs and vehicles (issue 16): hours in order, and both tables or neither."""
    problems: list[Problem] = []
    paths = header.tables
    labs, vehicles = frames.get("labs"), frames.get("vehicles")
    if labs is not None and labs.height:
        problems += row_problems(
            paths.labs or "labs",
            "open_to",
            labs,
            labs["open_to"] <= labs["open_from"],
            "not after open_from",
            "a time later than open_from",
        )
    if vehicles is not None and vehicles.height:
        problems += row_problems(
            paths.vehicles or "vehicles",
            "available_to",
            vehicles,
            vehicles["available_to"] <= vehicles["available_from"],
            "not after available_from",
            "a time later than available_from",
        )
    if (paths.labs is None) != (paths.vehicles is None):
        given, missing = ("labs", "vehicles") if paths.labs else ("vehicles", "labs")
        problems.append(
            Problem(
                "scenario.toml",
                f"a {given} table without a {missing} table",
                column=f"tables.{missing}",
                expected="both tables.labs and tables.vehicles (tubes need both), or neither",
            )
        )
    return problems


def _check_extract(path: Path, label: str) -> list[Problem]:
    """The street extract exists and holds a walkable street network."""
    from sampling.osm.extract import OsmError, read_streets

    if not path.exists():
        return [Problem(label, "street extract not found", expected=f"an OSM extract at {path}")]
    problem = regular_file_problem(path, label, MAX_EXTRACT_BYTES)
    if problem is not None:  # a pipe would block the reader, a device never end
        return [problem]
    try:
        read_streets(path)
    except OsmError as error:
        return [
            Problem(
                label,
                "unusable street extract",
                value=str(error),
                expected="an OSM extract with walkable streets",
            )
        ]
    return []


def required_over_limit(points_file: str, required: int, limit: int) -> Problem:
    """More points are ``required`` than ``[sampling] max_open_points`` lets open."""
    return Problem(
        "scenario.toml",
        f"no plan is possible: {required} points have status = required in {points_file}",
        column="sampling.max_open_points",
        value=str(limit),
        expected=f"at least {required}, or fewer required points",
    )
