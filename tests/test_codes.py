"""Reason and status codes: declared once (StrEnums), stored as codes, labelled only in i18n."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sampling.cli import main
from sampling.documents.write import alert_texts
from sampling.i18n import LANGS, REASONS, STATUSES, labels, map_labels, reason_label, reason_labels
from sampling.output.schemas import OUTPUT_TABLES, OutputSchemaError
from sampling.report import alerts, plan_lines, plan_warnings, shortfall_where_text
from sampling.stages import assignment as assignment_stage
from sampling.stages.assignment import STATUS_CODE, AssignmentStatus, UnservedReason
from sampling.stages.day import CapacityReason, NotCalledReason
from sampling.stages.home_visits import HomeVisitStatus
from solver.day.staffing import StaffingStatus
from solver.location.problem import LocationProblem, LocationResult
from solver.routing.result import RoutingStatus, VisitReason

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
REASON_ENUMS: tuple[type[StrEnum], ...] = (
    UnservedReason,
    NotCalledReason,
    CapacityReason,
    VisitReason,
)
STATUS_ENUMS: tuple[type[StrEnum], ...] = (
    AssignmentStatus,
    StaffingStatus,
    RoutingStatus,
    HomeVisitStatus,
)
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# code columns of the output tables and the enum whose codes they hold
CODE_COLUMNS: dict[tuple[str, str], type[StrEnum]] = {
    ("assignments", "unserved_reason"): UnservedReason,
    ("not_called", "reason"): NotCalledReason,
    ("capacity_plan", "reason"): CapacityReason,
    ("home_visits", "unserved_reason"): VisitReason,
}


def _codes(kind: type[StrEnum]) -> set[str]:
    return {member.value for member in kind}


@pytest.mark.parametrize("kind", REASON_ENUMS + STATUS_ENUMS, ids=lambda k: k.__name__)
def test_every_code_is_short_snake_case_with_a_label_in_every_language(
    kind: type[StrEnum],
) -> None:
    table = REASONS if kind in REASON_ENUMS else STATUSES
    for code in _codes(kind):
        assert SNAKE.match(code) and len(code) <= 20, code
        for lang in LANGS:
            assert table[lang].get(code), f"{kind.__name__}.{code}: no {lang} label"
        assert table["zh"][code] != code  # text for people, not the code again


def test_point_statuses_have_labels() -> None:
    """``points.parquet`` ``status`` holds the scenario's point status codes, labelled too."""
    assert OUTPUT_TABLES["points"].codes["status"] == set(STATUS_CODE)
    for code in STATUS_CODE:
        assert all(STATUSES[lang].get(code) for lang in LANGS), code


def test_codes_that_share_a_label_table_mean_one_thing() -> None:
    """Enums sharing a code share its label: only where the meaning is the same."""
    assert _codes(UnservedReason) & _codes(VisitReason) == set()
    assert _codes(UnservedReason) & _codes(NotCalledReason) == {"capacity"}
    assert _codes(CapacityReason) & _codes(UnservedReason) == set()


def test_the_schemas_declare_exactly_the_enum_codes() -> None:
    for (table, column), kind in CODE_COLUMNS.items():
        assert OUTPUT_TABLES[table].codes[column] == _codes(kind), (table, column)


def test_labels_render_with_the_walking_limit() -> None:
    assert reason_label("out_of_reach", "en", walk_limit_min=12.5) == (
        "no point within 12.5 min walk"
    )
    assert reason_label(UnservedReason.OUT_OF_REACH, "zh", walk_limit_min=15.0).startswith("15 ")
    assert reason_label("out_of_reach", "en") == "no point within ? min walk"  # never "{limit}"
    # labels without the limit ignore it; unknown codes (older plan folders) as they are
    assert reason_label("capacity", "en") == REASONS["en"]["capacity"]
    assert reason_label("no point within 15 min", "en") == "no point within 15 min"
    got = reason_labels(["capacity", None, "capacity", "no_walk_in"], "zh", walk_limit_min=15)
    assert got == {"capacity": REASONS["zh"]["capacity"], "no_walk_in": REASONS["zh"]["no_walk_in"]}


def test_conform_rejects_an_undeclared_code() -> None:
    table = OUTPUT_TABLES["not_called"]
    row = {c: [None] for c in table.columns} | {"building_id": ["B1"], "not_called": [3]}
    frame = pl.DataFrame(row, schema=table.schema)
    ok = frame.with_columns(pl.lit(NotCalledReason.YELLOW_SLOT.value).alias("reason"))
    assert table.conform(ok)["reason"].to_list() == ["yellow_slot"]
    for stale in ("yellow slot", "no point within 15 min", "Capacity"):
        with pytest.raises(OutputSchemaError, match="undeclared codes"):
            table.conform(frame.with_columns(pl.lit(stale).alias("reason")))


@pytest.fixture(scope="module", params=["tiny", "yuci-street"])
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(request.param) / "out"
    code = main(["plan", str(SCENARIOS / request.param), "--out", str(out), "--time-limit", "3"])
    assert code == 0
    return out


def test_planned_tables_hold_only_declared_codes(planned: Path) -> None:
    """Read back from parquet, every code is a member of its enum (the round trip)."""
    for (table, column), kind in CODE_COLUMNS.items():
        values = pl.read_parquet(planned / f"{table}.parquet")[column].drop_nulls().to_list()
        assert all(kind(v).value == v for v in values), (table, column, set(values))
    a = pl.read_parquet(planned / "assignments.parquet")
    unserved = a.filter(pl.col("point_id").is_null())
    assert unserved["unserved_reason"].null_count() == 0  # every unserved building says why
    assert a.filter(pl.col("point_id").is_not_null())[
        "unserved_reason"
    ].null_count() == a.height - (unserved.height)
    summary = json.loads((planned / "summary.json").read_text("utf-8"))
    assert AssignmentStatus(summary["status"]) in (
        AssignmentStatus.OPTIMAL,
        AssignmentStatus.FEASIBLE,
    )
    StaffingStatus(summary["staffing_status"])
    HomeVisitStatus(summary["home_visit_status"])
    assert summary["walk_limit_min"] > 0


def test_pages_show_labels_never_codes(planned: Path) -> None:
    """The grid lists and the map show each reason's text (with the limit), not its code."""
    summary = json.loads((planned / "summary.json").read_text("utf-8"))
    limit = summary["walk_limit_min"]
    a = pl.read_parquet(planned / "assignments.parquet")
    shown = a.filter(pl.col("point_id").is_null() & (pl.col("walk_in") > 0))
    page_map = (planned / "map.html").read_text("utf-8")
    for b in shown.iter_rows(named=True):
        text = reason_label(b["unserved_reason"], "zh", walk_limit_min=limit)
        grid = (planned / "grids" / f"{b['grid_id']}.csv").read_text("utf-8-sig")
        line = next(row for row in grid.splitlines() if b["building_id"] in row)
        assert text in line and b["unserved_reason"] not in line
        assert text in page_map
    if "out_of_reach" in shown["unserved_reason"].to_list():
        assert f"{limit:g} 分钟" in page_map


def _no_plan(problem: LocationProblem, **_: object) -> LocationResult:
    """The engine's answer when its search ends without any plan (nothing proven)."""
    n, m = problem.demand.shape[0], problem.capacity.shape[0]
    return LocationResult(
        site_of_client=np.full(n, -1, dtype=np.int32),
        open_sites=np.zeros(m, dtype=np.bool_),
        units=np.zeros(m, dtype=np.int64),
        load=np.zeros(m, dtype=np.int64),
        objective=float("inf"),
        assignment_cost=float("inf"),
        lower_bound=0.0,
        gap=float("inf"),
        status="no_plan_found",
        reason="the construction and the MIP found no plan in 0.1 s",
    )


def test_no_plan_reason_reaches_summary_console_and_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(assignment_stage, "solve", _no_plan)
    out = tmp_path / "out"
    assert main(["plan", str(SCENARIOS / "tiny"), "--out", str(out), "--time-limit", "2"]) == 0
    why = "the construction and the MIP found no plan in 0.1 s"
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["status"] == AssignmentStatus.NO_PLAN and summary["status_reason"] == why
    assert summary["alerts"][0] == {"code": "no_plan", "count": 1}
    console = capsys.readouterr().out
    assert f"assignment: no plan found — {why}" in console
    assert console.count(why) == 2  # the status line and its warning
    index = (out / "index.html").read_text("utf-8")
    assert why in index and 'data-alert="no_plan"' in index
    reasons = set(pl.read_parquet(out / "assignments.parquet")["unserved_reason"].to_list())
    assert UnservedReason.NO_PLAN in reasons
    assert reasons <= {
        UnservedReason.NO_PLAN,
        UnservedReason.OUT_OF_REACH,
        UnservedReason.NO_WALK_IN,
    }


def test_alerts_read_the_status_codes() -> None:
    no_plan = {"status": AssignmentStatus.NO_PLAN.value, "status_reason": "why"}
    assert alerts(no_plan) == [{"code": "no_plan", "count": 1}]
    assert plan_lines(no_plan)[1] == "assignment: no plan found — why"
    for lang in LANGS:
        assert "why" in dict(alert_texts(no_plan, labels(lang)))["no_plan"]
    short = {"staffing_status": StaffingStatus.SHORTFALL.value, "extra_samplers_shortfall": 4}
    assert alerts(short) == [{"code": "staffing_shortfall", "count": 4}]
    # where and when, in every place the alert is read
    where = short | {"shortfall_points": 3, "shortfall_from": "07:00", "shortfall_to": "07:30"}
    line = next(w for w in plan_warnings(where) if "staffing shortfall" in w)
    assert "3 points have tables without a sampler between 07:00 and 07:30" in line
    assert "4 more samplers would staff every planned table" in line
    one = where | {"shortfall_points": 1}
    assert "1 point has tables" in next(w for w in plan_warnings(one) if "shortfall" in w)
    for lang in LANGS:
        lab = labels(lang)
        page = dict(alert_texts(where, lab))["staffing_shortfall"]
        assert "07:00" in page and "07:30" in page and "3" in page
        assert "07:00" in shortfall_where_text(where, map_labels(lang))
        assert shortfall_where_text(short, lab) == ""  # a summary without the span
    assert alerts({"staffing_status": StaffingStatus.COVERED.value, "status": "optimal"}) == []
