"""Header values: whatever passes ``load_scenario`` must plan; anything else is a located problem.

The project's rule is that ``natplan validate`` and ``natplan plan`` agree: a header that loads
never crashes the planner (exit 1), and a wrong one is an input error (exit 2) naming its key.
One test per defect found by the header audit, with the audit's exact value, then a fuzz test
that writes random (well- and ill-typed) header values over a copy of ``scenarios/tiny``.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sampling import ScenarioError, load_scenario
from sampling.cli import main
from sampling.scenario.header import SHIFT_BLOCK_MIN, Header
from sampling.scenario.model import Scenario
from sampling.stages.planning import CampaignPlan, plan_campaign
from solver.day.staffing import StaffingProblem
from solver.day.timetable import TimetableProblem, build_timetable, constant_tables

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
TIME_LIMIT = 1.0

TOP = 'name = "tiny"\ndate = 2022-04-28\ncoordinates = "planar"\n'
TABLES = {
    name: f'"{name}.csv"' for name in ("buildings", "points", "teams", "home_visits", "grids")
}


def tiny_with(folder: Path, top: str = "", **sections: dict[str, str]) -> Path:
    """A copy of ``scenarios/tiny`` whose header has extra ``top`` lines and ``sections``.

    Section values are raw TOML text (``{"end": '"07:05"'}``), so a test shows the exact value
    a planner would type.
    """
    root = folder / "scenario"
    shutil.copytree(TINY, root)
    parts = [TOP + top]
    sections["tables"] = {**TABLES, **sections.get("tables", {})}
    for section, keys in sections.items():
        parts.append(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    (root / "scenario.toml").write_text("\n".join(parts), encoding="utf-8")
    return root


def rejected(root: Path, key: str) -> str:
    """Loading fails with a ScenarioError whose problem names ``key``; returns its text."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(root)
    found = [p for p in caught.value.problems if p.column == key]
    assert found, [str(p) for p in caught.value.problems]
    assert all(p.file == "scenario.toml" for p in found)
    return str(found[0])


def minutes(text: object) -> int:
    """``"HH:MM"`` → minutes; a finish in overtime may pass midnight (``"27:00"``)."""
    hours, mins = str(text).split(":")
    return int(hours) * 60 + int(mins)


def check_plan(scenario: Scenario, plan: CampaignPlan) -> None:
    """True properties of any plan: nobody lost, finishes never before their lower bounds."""
    a = plan.assignment.assignments
    assert a.height == scenario.buildings.height
    # every building has a point or a reason, never both
    has_point = a["point_id"].is_not_null()
    has_reason = a["unserved_reason"].is_not_null()
    assert (has_point ^ has_reason).all()
    # every resident: walk-in (assigned or unserved) or visited at home
    walk_in = int(a["walk_in"].sum())
    assigned = int(a.filter(has_point)["walk_in"].sum())
    unserved = int(a.filter(has_reason)["walk_in"].sum())
    assert assigned + unserved == walk_in
    assert walk_in + int(a["home_visit_persons"].sum()) == scenario.residents
    # every household is served by a team or listed with a reason
    visits = plan.home_visits.visits
    assert visits.height == scenario.home_visits.height
    assert (visits["team_id"].is_not_null() ^ visits["unserved_reason"].is_not_null()).all()
    # called + not called = walk-in of every building at an open point
    day = plan.day
    called = day.timetable.group_by("building_id").agg(pl.col("residents").sum().alias("called"))
    served = (
        a.filter(has_point)
        .join(called, on="building_id", how="left")
        .join(day.not_called.select("building_id", "not_called"), on="building_id", how="left")
        .with_columns(pl.col("called").fill_null(0), pl.col("not_called").fill_null(0))
    )
    assert (served["called"] + served["not_called"] == served["walk_in"]).all()
    # a lower bound never exceeds what it bounds, per point and for the day
    points = day.points
    assert (points["finish_min"] >= points["finish_lower_bound_min"]).all()
    kpis = day.kpis
    # no swab, no finish time (null), else the finish is at or after its bound
    assert (kpis["finish_time"] is None) == (kpis["residents_called"] == 0)
    if kpis["finish_time"] is not None:
        assert minutes(kpis["finish_time"]) >= minutes(kpis["finish_lower_bound"])
    assert float(kpis["finish_gap_pct"]) >= 0.0
    # a point that cannot call everyone in the window says it finishes after the window,
    # or that residents are left whom no table will ever swab (no table after the window)
    over = points.filter(pl.col("over_capacity"))
    assert ((over["finish_min"] > scenario.header.window.end) | (over["stranded"] > 0)).all()
    assert (points["stranded"] <= points["not_called"]).all()
    assert int(points["stranded"].sum()) == kpis["residents_stranded"]
    assert (kpis["window_extension_min"] is None) == (kpis["residents_stranded"] > 0)


def plan_ok(root: Path) -> CampaignPlan:
    """Load and plan ``root``; the plan must complete and satisfy :func:`check_plan`."""
    scenario = load_scenario(root)
    plan = plan_campaign(scenario, time_limit=TIME_LIMIT)
    check_plan(scenario, plan)
    return plan


# --- defect 1: a window shorter than a call slot -------------------------------------------


def test_window_shorter_than_half_a_slot_is_rejected(tmp_path: Path) -> None:
    text = rejected(tiny_with(tmp_path, window={"end": '"07:05"'}), "window.end")
    assert "shorter than one call slot" in text and "timetable.slot_min = 15" in text


def test_slot_longer_than_the_window_is_rejected(tmp_path: Path) -> None:
    root = tiny_with(tmp_path, window={"end": '"08:00"'}, timetable={"slot_min": "120"})
    text = rejected(root, "timetable.slot_min")
    assert "(120)" in text and "60 minutes" in text


@pytest.mark.parametrize(
    ("end", "slot"), [("07:15", "15"), ("07:05", "5"), ("08:00", "60"), ("07:45", "45")]
)
def test_window_of_one_slot_plans(tmp_path: Path, end: str, slot: str) -> None:
    """The shortest window allowed (one slot, shorter than a staffing block) still plans."""
    plan_ok(tiny_with(tmp_path, window={"end": f'"{end}"'}, timetable={"slot_min": slot}))


def test_rate_too_low_for_one_resident_is_rejected(tmp_path: Path) -> None:
    root = tiny_with(tmp_path, sampling={"swabs_per_table_per_hour": "0.001"})
    assert "less than one resident" in rejected(root, "sampling.swabs_per_table_per_hour")


# --- defect 2: a shift shorter than one staffing block --------------------------------------


def test_shift_shorter_than_a_staffing_block_is_rejected(tmp_path: Path) -> None:
    root = tiny_with(tmp_path, staffing={"max_shift_min": "10"})
    assert "(10)" in rejected(root, "staffing.max_shift_min")


def test_shortest_shift_plans(tmp_path: Path) -> None:
    assert StaffingProblem.__dataclass_fields__["block_min"].default == SHIFT_BLOCK_MIN
    plan_ok(tiny_with(tmp_path, staffing={"max_shift_min": str(SHIFT_BLOCK_MIN)}))


# --- defect 3: infinity and NaN --------------------------------------------------------------


def _float_keys() -> list[str]:
    """Every float key of the header, as ``section.key``."""
    keys = []
    for section, field in Header.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, sub in model.model_fields.items():
                if sub.annotation in (float, float | None):
                    keys.append(f"{section}.{name}")
    return keys


FLOAT_KEYS = _float_keys()


def test_audit_grid_split_penalty_inf_is_rejected(tmp_path: Path) -> None:
    root = tiny_with(tmp_path, assignment={"grid_split_penalty": "inf"})
    assert "finite" in rejected(root, "assignment.grid_split_penalty")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_no_float_key_takes_non_finite_values(tmp_path: Path, key: str, value: str) -> None:
    section, name = key.split(".")
    rejected(tiny_with(tmp_path, **{section: {name: value}}), key)


# --- defect 4: huge integers ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e20", "100000000000000000000"])
@pytest.mark.parametrize("key", ["sampling.max_open_points", "home_visits.max_stops"])
def test_huge_counts_are_rejected(tmp_path: Path, key: str, value: str) -> None:
    section, name = key.split(".")
    rejected(tiny_with(tmp_path, **{section: {name: value}}), key)


def test_largest_counts_plan(tmp_path: Path) -> None:
    root = tiny_with(
        tmp_path, sampling={"max_open_points": "100000"}, home_visits={"max_stops": "10000"}
    )
    plan_ok(root)


# --- defect 5: street distances without an extract ------------------------------------------


def test_street_without_extract_is_a_clean_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tiny_with(tmp_path, top='distance = "street"\n')
    assert "needs an OSM extract" in rejected(root, "osm_extract")
    assert main(["validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "osm_extract" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ['"a\\u0000.osm"', '""', '"x\\n"'])
def test_unusable_file_names_are_rejected(tmp_path: Path, value: str) -> None:
    rejected(tiny_with(tmp_path, top=f"osm_extract = {value}\n"), "osm_extract")
    shutil.rmtree(tmp_path / "scenario")
    rejected(tiny_with(tmp_path, tables={"grids": value}), "tables.grids")


# --- defect 6: wrong types read as something else -------------------------------------------


def test_audit_int_start_is_not_a_time(tmp_path: Path) -> None:
    assert "time of day" in rejected(tiny_with(tmp_path, window={"start": "7"}), "window.start")


def test_audit_bool_limit_is_not_a_number(tmp_path: Path) -> None:
    rejected(tiny_with(tmp_path, walking={"limit_min": "true"}), "walking.limit_min")


def _number_keys() -> list[str]:
    """Every int and float key of the header, as ``section.key``."""
    keys = []
    for section, field in Header.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, sub in model.model_fields.items():
                if sub.annotation in (float, float | None, int, int | None):
                    keys.append(f"{section}.{name}")
    return keys


NUMBER_KEYS = _number_keys()


@pytest.mark.parametrize("value", ["true", "false", '"15"'])
@pytest.mark.parametrize("key", NUMBER_KEYS)
def test_numbers_must_be_numbers(tmp_path: Path, key: str, value: str) -> None:
    section, name = key.split(".")
    rejected(tiny_with(tmp_path, **{section: {name: value}}), key)


@pytest.mark.parametrize("value", ["7", "7.5", "true", "420", '"7"', '"7am"'])
@pytest.mark.parametrize("key", ["start", "end"])
def test_times_of_day_must_be_clock_times(tmp_path: Path, key: str, value: str) -> None:
    rejected(tiny_with(tmp_path, window={key: value}), f"window.{key}")


@pytest.mark.parametrize("value", ["20220428", "true", '"28.4.2022"', "2022-04-28T07:00:00"])
def test_date_must_be_a_date(tmp_path: Path, value: str) -> None:
    root = tiny_with(tmp_path)
    text = (root / "scenario.toml").read_text(encoding="utf-8")
    (root / "scenario.toml").write_text(text.replace("2022-04-28", value), encoding="utf-8")
    rejected(root, "date")


@pytest.mark.parametrize("key", ["assignment.allow_beyond_limit", "timetable.elderly_first"])
def test_switches_must_be_booleans(tmp_path: Path, key: str) -> None:
    section, name = key.split(".")
    rejected(tiny_with(tmp_path, **{section: {name: "1"}}), key)


def test_what_is_still_accepted(tmp_path: Path) -> None:
    """Integers for fractions, TOML times, a date as text: nothing a planner would misread."""
    root = tiny_with(
        tmp_path,
        window={"start": "07:30:00", "end": '"14:00"'},
        walking={"limit_min": "15", "speed_m_per_min": "75.0"},
        staffing={"max_shift_min": "240"},
    )
    header = load_scenario(root).header
    assert header.window.start == 450 and header.walking.limit_min == 15.0
    assert isinstance(header.walking.limit_min, float)
    assert header.max_shift_min == 240.0
    assert load_scenario(TINY).header.date == dt.date(2022, 4, 28)  # date = "2022-04-28"


# --- defect 7: the finish and its lower bound -----------------------------------------------


def test_late_teams_finish_after_the_window_never_before_the_bound(tmp_path: Path) -> None:
    """Window from 05:00, teams from 09:30: the points cannot call everyone in the window.

    The assignment sizes tables for the whole window, so the staffed day is too short; the
    finish must then say the points run past the window, never sit before its lower bound.
    """
    root = tiny_with(tmp_path, window={"start": '"05:00"'})
    teams = root / "teams.csv"
    teams.write_text(teams.read_text(encoding="utf-8").replace("06:30", "09:30"), "utf-8")
    plan = plan_ok(root)
    kpis = plan.day.kpis
    assert int(kpis["points_over_capacity"]) > 0
    assert minutes(kpis["finish_time"]) > minutes("14:00")


def test_timetable_over_capacity_finish_is_bounded() -> None:
    """Solver level: 2,000 residents (400 yellow-code) on two tables for 07:00–14:00."""
    edges, tables = constant_tables(np.array([2]), 420, 840)
    problem = TimetableProblem(
        building_point=np.zeros(5, np.int64),
        residents=np.full(5, 400, np.int64),
        yellow=np.array([0, 0, 0, 0, 400], np.int64),
        elderly=np.zeros(5, np.int64),
        grid=np.zeros(5, np.int64),
        n_points=1,
        table_edges=edges,
        tables=tables,
    )
    for mode in ("channel", "end_slot"):
        tt = build_timetable(replace(problem, yellow_mode=mode))
        assert tt.point_channel[0] == (mode == "channel")
        assert tt.point_over_capacity[0]
        # 2,000 residents at 200 an hour: ten hours from 07:00
        assert tt.point_lower_bound[0] == 17 * 60
        assert tt.point_finish[0] >= tt.point_lower_bound[0]
        assert tt.stats.finish >= tt.stats.lower_bound and tt.stats.gap_pct >= 0


# --- fuzz: random header values -------------------------------------------------------------


def _clock_text(minutes: int) -> str:
    """Minutes → ``HH:MM`` (24:00 included)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats in ``[lo, hi]`` with the bounds themselves likely."""
    return st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi, allow_nan=False))


def _clock(minutes: int, as_time: bool) -> str | dt.time:
    """``HH:MM`` text, or a TOML time where one exists (not 24:00)."""
    if as_time and minutes < 24 * 60:
        return dt.time(minutes // 60, minutes % 60)
    return _clock_text(minutes)


CLOCK = st.builds(_clock, st.integers(0, 24 * 60), st.booleans())
VALID: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(min_size=1, max_size=8),
    "date": st.dates(),
    "coordinates": st.sampled_from(["planar", "wgs84"]),
    "distance": st.sampled_from(["straight", "street"]),
    "osm_extract": st.sampled_from(["streets.osm", "buildings.csv", "."]),
    "description": st.text(max_size=8),
    "window.start": CLOCK,
    "window.end": CLOCK,
    "walking.limit_min": _floats(1e-3, 120),
    "walking.speed_m_per_min": _floats(1, 200),
    "walking.detour_factor": _floats(1, 3),
    "sampling.swabs_per_table_per_hour": _floats(1e-3, 1000),
    "sampling.pool_size": st.integers(1, 50),
    "sampling.yellow_pool_size": st.integers(1, 50),
    "sampling.queue_wait_limit_min": _floats(1e-6, 600),
    "sampling.max_open_points": st.integers(1, 100_000),
    "sampling.target_utilisation": _floats(0.5, 1.0),
    "assignment.grid_split_penalty": _floats(0, 1e12),
    "assignment.allow_beyond_limit": st.booleans(),
    "assignment.overflow": st.sampled_from(["overtime", "unserved"]),
    "staffing.max_shift_min": st.one_of(_floats(30, 1440), st.integers(30, 1440)),
    "timetable.slot_min": st.integers(5, 120),
    "timetable.yellow_mode": st.sampled_from(["channel", "end_slot"]),
    "timetable.elderly_first": st.booleans(),
    "simulation.service_cv": _floats(0, 3),
    "simulation.late_share": _floats(0, 1),
    "simulation.late_mean_min": _floats(0, 240),
    "simulation.replications": st.integers(1, 5),
    "simulation.late_tolerance_min": _floats(0, 240),
    "home_visits.setup_min": _floats(0, 120),
    "home_visits.swab_min_per_person": _floats(1e-6, 60),
    "home_visits.travel": st.sampled_from(["walk", "drive"]),
    "home_visits.drive_speed_km_h": _floats(1, 120),
    "home_visits.start_at": st.sampled_from(["origin", "point"]),
    "home_visits.max_stops": st.integers(1, 10_000),
    "home_visits.after_queues": st.booleans(),
    "home_visits.search_iterations": st.integers(10, 300),
    "map.tile_url": st.text(max_size=8),
}
INVALID = st.sampled_from(
    [
        True,
        False,
        "15",
        "07:00",
        "",
        "a\x00b",
        7,
        0,
        -1,
        -1e-9,
        10**20,
        1e20,
        math.inf,
        -math.inf,
        math.nan,
        dt.time(7, 30),
        dt.date(2022, 4, 28),
        [1, 2],
        {"x": 1},
    ]
)


@st.composite
def header_edits(draw: st.DrawFn) -> dict[str, Any]:
    """A few header keys set to random values, mostly of the right type and range.

    Half the time the window is ordered (start before end, often short), so most examples
    get past loading and exercise the planner.
    """
    keys = draw(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=5, unique=True))
    edits = {k: draw(INVALID) if draw(st.integers(0, 5)) == 0 else draw(VALID[k]) for k in keys}
    if draw(st.booleans()):
        start = draw(st.integers(0, 24 * 60 - 5))
        end = draw(st.integers(start + 5, min(start + 180, 24 * 60)) | st.just(24 * 60))
        edits["window.start"] = _clock(start, draw(st.booleans()))
        edits["window.end"] = _clock(end, draw(st.booleans()))
    return edits


def _header_toml(edits: dict[str, Any]) -> str:
    header: dict[str, Any] = {
        "name": "tiny",
        "date": dt.date(2022, 4, 28),
        "coordinates": "planar",
        "tables": {
            "buildings": "buildings.csv",
            "points": "points.csv",
            "teams": "teams.csv",
            "home_visits": "home_visits.csv",
            "grids": "grids.csv",
        },
    }
    for key, value in edits.items():
        if "." in key:
            section, name = key.split(".")
            header.setdefault(section, {})[name] = value
        else:
            header[key] = value
    return tomli_w.dumps(header)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=header_edits())
def test_fuzzed_header_loads_cleanly_or_plans(
    tmp_path_factory: pytest.TempPathFactory, edits: dict[str, Any]
) -> None:
    """Random header values: a located ScenarioError, or a plan with every true property."""
    root = tmp_path_factory.mktemp("fuzz") / "scenario"
    shutil.copytree(TINY, root)
    (root / "scenario.toml").write_text(_header_toml(edits), encoding="utf-8")
    try:
        scenario = load_scenario(root)
    except ScenarioError as error:
        event("rejected")
        assert error.problems and all(p.file for p in error.problems)
    else:
        event("planned")
        check_plan(scenario, plan_campaign(scenario, time_limit=TIME_LIMIT))
    shutil.rmtree(root)
