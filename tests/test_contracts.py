"""Statuses and reports that tell the truth: proofs for 'infeasible', strict JSON, plain warnings."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest

from sampling.cli import main
from sampling.errors import ScenarioError
from sampling.output.schemas import OUTPUT_TABLES, OutputSchemaError
from sampling.output.write import strict_json
from sampling.report import alerts, plan_lines, plan_warnings, stage_line
from sampling.scenario.loader import load_scenario
from sampling.stages.assignment import assign

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


def _contradicting(tmp_path: Path) -> Path:
    """The tiny scenario with both usable points required but only one allowed to open."""
    root = tmp_path / "tiny"
    shutil.copytree(TINY, root)
    points = root / "points.csv"
    points.write_text(points.read_text("utf-8").replace(",candidate,", ",required,"), "utf-8")
    header = root / "scenario.toml"
    text = header.read_text("utf-8").replace(
        "queue_wait_limit_min = 30\n", "queue_wait_limit_min = 30\nmax_open_points = 1\n"
    )
    header.write_text(text, "utf-8")
    return root


def test_contradicting_limits_are_an_input_error_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _contradicting(tmp_path)
    assert main(["validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "sampling.max_open_points" in err and "2 points have status = required" in err
    out = tmp_path / "out"
    assert main(["plan", str(root), "--out", str(out), "--time-limit", "2"]) == 2
    assert not out.exists()


def test_a_proven_infeasible_assignment_is_reported_not_planned(tmp_path: Path) -> None:
    scenario = load_scenario(TINY)
    header = scenario.header.model_copy(
        update={"sampling": scenario.header.sampling.model_copy(update={"max_open_points": 1})}
    )
    points = scenario.points.with_columns(
        scenario.points["status"].replace({"candidate": "required"})
    )
    with pytest.raises(ScenarioError, match="max_open_points"):
        assign(scenario.replace(header=header, points=points), time_limit=2)


def test_summary_json_is_strict() -> None:
    data = {"gap": math.inf, "nested": {"x": math.nan, "ok": 1.5}, "list": [1.0, -math.inf]}
    clean = strict_json(data)
    assert clean == {"gap": None, "nested": {"x": None, "ok": 1.5}, "list": [1.0, None]}
    json.dumps(clean, allow_nan=False)


def test_written_summary_parses_strictly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["plan", str(TINY), "--out", str(out), "--time-limit", "2"]) == 0

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    summary = json.loads((out / "summary.json").read_text("utf-8"), parse_constant=refuse)
    assert summary["status"] in ("optimal", "feasible") and summary["status_reason"] == ""


def test_console_names_every_problem() -> None:
    summary = {
        "scenario": "d",
        "residents_walk_in": 1000,
        "residents_assigned": 950,
        "residents_unserved": 50,
        "buildings_unserved": 2,
        "residents_not_called": 30,
        "buildings_not_called": 1,
        "residents_home_visit": 10,
        "home_visit_persons_served": 8,
        "households_unserved": 1,
        "status": "feasible",
        "gap": 0.0123,
        "window_end": "14:00",
        "finish_time": "14:20",
        "sim_finish_p95": "15:05",
        "sim_replications": 20,
        "late_tolerance_min": 15.0,
        "late_points": 2,
        "staffing_status": "shortfall",
        "shortfall_sampler_blocks": 30,
        "extra_samplers_shortfall": 12,
        "capacity_plan_extra_samplers": 12,
        "solver_wall_clock_bound": 1,
    }
    lines = plan_lines(summary)
    assert lines[0].startswith("d: 920 of 1,000 walk-in residents have a call")
    assert "gap 1.23%" in lines[1]
    warnings = plan_warnings(summary)
    text = "\n".join(warnings)
    assert "50 residents in 2 buildings have no sampling point" in text
    assert "30 assigned residents in 1 building get no call" in text
    assert "planned last swab is 14:20, 20 min after" in text
    assert "2 points finish late in simulation" in text and "p95 15:05" in text
    assert "12 more samplers" in text and "1 home-visit household has no team" in text
    assert "wall-clock safety stop" in text
    # the day's stage line: samplers on duty of those available, and what the shortfall needs
    summary |= {"samplers_used": 194, "samplers_available": 195}
    day = stage_line("day", 1.0, summary)
    assert "194 of 195 available samplers on duty, 12 more needed" in day
    # one line per alert, and the alerts are the same codes the index and the map show
    codes = [a["code"] for a in alerts(summary)]
    assert codes == [
        "unserved",
        "not_called",
        "finish_after_window",
        "late_points",
        "staffing_shortfall",
        "households_unserved",
        "wall_clock",
    ]
    assert len(warnings) == len(codes)


def test_console_without_a_plan_says_why() -> None:
    summary = {"status": "no_plan_found", "gap": None, "status_reason": "the search ended"}
    assert plan_lines(summary)[1] == "assignment: no plan found — the search ended"


@pytest.mark.parametrize("scenario", ["tiny", "yuci-street"])
def test_every_output_table_has_its_declared_schema(tmp_path: Path, scenario: str) -> None:
    out = tmp_path / "out"
    folder = TINY.parent / scenario
    assert main(["plan", str(folder), "--out", str(out), "--time-limit", "3"]) == 0
    for name, table in OUTPUT_TABLES.items():
        if table.optional and not (out / f"{name}.parquet").exists():
            continue  # e.g. transport tables of a scenario without labs
        assert pl.read_parquet(out / f"{name}.parquet").schema == table.schema, name
    if scenario == "yuci-street":  # it has labs and vehicles: the transport tables too
        assert all((out / f"{t.name}.parquet").exists() for t in OUTPUT_TABLES.values())


def test_a_stage_that_breaks_the_contract_is_caught() -> None:
    table = OUTPUT_TABLES["routes"]
    frame = pl.DataFrame({c: [] for c in table.columns}, schema=table.schema)
    with pytest.raises(OutputSchemaError, match="missing columns"):
        table.conform(frame.drop("walk_m"))
    with pytest.raises(OutputSchemaError, match="undeclared"):
        table.conform(frame.with_columns(pl.lit(1).alias("surprise")))
    text_walk = frame.with_columns(pl.Series("walk_m", [], pl.String))
    assert table.conform(text_walk).schema == table.schema  # empty: casts
    with pytest.raises(OutputSchemaError):
        table.conform(pl.DataFrame({c: ["x"] for c in table.columns}))


def test_late_arrivals_after_closing_are_an_alert() -> None:
    from sampling.report import alerts

    summary = {"window_end": "14:00", "sim_after_close_residents": 2.3}
    assert alerts(summary) == [{"code": "late_arrivals", "count": 3}]  # rounded up, never away
    assert "about 3 residents arrive after their point has closed" in plan_warnings(summary)[0]
    assert alerts({"sim_after_close_residents": 0.0}) == []
