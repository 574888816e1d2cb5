"""Same scenario, seed and effort → byte-identical plan files, even on a busy machine.

Every solver stops on a count that does not depend on the machine (the assignment's work
clock, the routing's iteration budget); the wall clock is only a safety stop, reported in
``summary.json`` when it cuts a solver. These tests plan twice while another process keeps a
core busy and compare the written tables byte for byte. The assignment gets a small work
budget (``time_limit``) under a generous wall-clock safety stop (``wall_limit``), so the budget,
never the clock, ends every search even on a slow machine; the routing runs its default budget
(fixed by the number of households).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampling import load_scenario
from sampling.cli import main
from sampling.generate import generate_district
from sampling.output import write_plan
from sampling.stages.limits import WALL_SAFETY_FACTOR, wall_safety
from sampling.stages.planning import plan_campaign

ROOT = Path(__file__).resolve().parents[1]
TABLES = (
    "assignments",
    "points",
    "timetable",
    "shifts",
    "home_visits",
    "routes",
    "route_stops",
)
#: Wall-clock limit per solver stage: only a safety stop, far above what the budgets need.
WALL_LIMIT = 120.0
#: Estimated seconds of assignment work: what ends the assignment search.
WORK_BUDGET = 1.0


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process spinning on a core for the duration of the test."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def plan_twice(scenario_dir: Path, out: Path) -> tuple[Path, Path]:
    """Plan the scenario twice with the same seed and write both plans."""
    scenario = load_scenario(scenario_dir)
    outs = []
    for run in ("a", "b"):
        plan = plan_campaign(scenario, time_limit=WORK_BUDGET, wall_limit=WALL_LIMIT, seed=7)
        outs.append(write_plan(plan, out / run, lang="en"))
    return outs[0], outs[1]


def assert_same_files(a: Path, b: Path) -> dict[str, object]:
    """The tables are byte-identical and no solver was cut by the wall clock."""
    for name in TABLES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name
    summary: dict[str, object] = json.loads((a / "summary.json").read_text())
    assert summary["solver_wall_clock_bound"] == 0
    assert summary["home_visits_wall_clock_bound"] == 0
    assert summary["time_limit_s"] == WORK_BUDGET and summary["wall_limit_s"] == WALL_LIMIT
    return summary


@pytest.mark.usefixtures("busy_core")
def test_tiny_plans_repeat_byte_for_byte(tmp_path: Path) -> None:
    a, b = plan_twice(ROOT / "scenarios" / "tiny", tmp_path)
    assert_same_files(a, b)


@pytest.mark.usefixtures("busy_core")
def test_generated_district_with_home_visits_repeats(tmp_path: Path) -> None:
    """A generated district (grids, split grids, home-visit routes) repeats exactly."""
    generate_district(6000, 11, tmp_path / "district")
    a, b = plan_twice(tmp_path / "district", tmp_path)
    summary = assert_same_files(a, b)
    assert int(summary["households_total"]) > 0  # type: ignore[call-overload]
    assert int(summary["home_visit_routes"]) > 0  # type: ignore[call-overload]


def test_wall_safety_defaults_to_a_multiple_of_the_budget() -> None:
    """The safety stop is the given wall limit, else WALL_SAFETY_FACTOR × the work budget."""
    assert wall_safety(30.0) == WALL_SAFETY_FACTOR * 30.0
    assert wall_safety(30.0, 45.0) == 45.0
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            wall_safety(bad)
        with pytest.raises(ValueError):
            wall_safety(30.0, bad)


@pytest.mark.parametrize("flag", ["--time-limit", "--wall-limit"])
def test_limits_must_be_positive(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zero or negative budget or safety stop is an input error (exit 2) naming the option."""
    scenario = ROOT / "scenarios" / "tiny"
    assert main(["plan", str(scenario), "--out", str(tmp_path / "out"), flag, "0"]) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
