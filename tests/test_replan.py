"""``natplan replan``: the rest of the day re-planned from a saved plan, progress and events.

Properties checked on ``scenarios/tiny`` (hand-checkable) and on a generated 20,000-resident
district: residents conserved (swabbed + called-not-come + not yet called + now at home = the
day's residents), no call before ``--at`` nor at a closed point, a closed point moves only its
own buildings, a sealed building's residents only in home visits, an absent team off duty,
``changes.parquet`` lists exactly the differences, no event → no change, same inputs → same
plan; the events and progress readers list every problem with its row and column.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampling import load_scenario
from sampling.cli import main
from sampling.errors import ScenarioError
from sampling.generate import generate_district
from sampling.output import write_plan
from sampling.replan.costs import ChangeCosts
from sampling.replan.events import Event, EventKind, read_events
from sampling.replan.pipeline import ReplanResult, run_replan
from sampling.replan.progress import Progress, read_progress
from sampling.replan.reassign import _revert
from sampling.replan.saved import read_saved_plan
from sampling.replan.write import write_replan
from sampling.stages.planning import plan_campaign
from sampling.stages.transport import check_saved_transport

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
TEN = 600  # 10:00


@functools.cache
def _planned(kind: str, folder: str) -> tuple[Path, Path]:
    """A saved plan (scenario folder, plan folder) made once per test session."""
    base = Path(folder)
    if kind == "tiny":
        scenario_dir = TINY
    else:
        scenario_dir = base / "district"
        generate_district(20_000, 3, scenario_dir)
    scenario = load_scenario(scenario_dir)
    out = base / f"{kind}-plan"
    write_plan(plan_campaign(scenario, time_limit=3.0, seed=0), out, lang="en")
    return scenario_dir, out


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _planned("tiny", str(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="session")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _planned("district", str(tmp_path_factory.mktemp("district")))


def _replan(
    where: tuple[Path, Path],
    at: int = TEN,
    events: tuple[Event, ...] = (),
    progress: Progress | None = None,
    costs: ChangeCosts | None = None,
) -> ReplanResult:
    scenario_dir, out = where
    scenario = load_scenario(scenario_dir)
    saved = read_saved_plan(out)
    return run_replan(
        saved,
        scenario,
        at,
        progress or Progress.empty(),
        events,
        time_limit=3.0,
        seed=0,
        costs=costs,
    )


def _event(kind: EventKind, ident: str, value: str | int | None = None, time: int = TEN) -> Event:
    return Event(time, kind, ident, value, 2)


def _check_conservation(result: ReplanResult) -> None:
    """Swabbed + catch-up + later + now at home = each building's walk-in; every walk-in
    resident still to come has a call after ``--at``, or is listed (not called, unserved)."""
    b = result.situation.buildings
    total = b["sampled"] + b["catchup"] + b["later"] + b["to_home"]
    assert (total == b["walk_in"]).all()
    assert (b["sampled"] >= 0).all() and (b["catchup"] >= 0).all() and (b["later"] >= 0).all()
    summary = result.summary
    assert (
        summary["residents_sampled"] + summary["residents_remaining"]
        == summary["residents_day_total"]
    )
    t = result.plan.tables
    a = t["assignments"]
    assert int(a["walk_in"].sum()) == int(b["catchup"].sum()) + int(b["later"].sum())
    called = t["timetable"].group_by("building_id").agg(pl.col("residents").sum().alias("c"))
    listed = t["not_called"].group_by("building_id").agg(pl.col("not_called").sum().alias("n"))
    per = (
        a.join(called, on="building_id", how="left")
        .join(listed, on="building_id", how="left")
        .with_columns(pl.col("c").fill_null(0), pl.col("n").fill_null(0))
    )
    served = per.filter(pl.col("point_id").is_not_null())
    assert (served["c"] + served["n"] == served["walk_in"]).all()
    unserved = per.filter(pl.col("point_id").is_null() & (pl.col("walk_in") > 0))
    assert unserved["unserved_reason"].is_not_null().all()
    assert (unserved["c"] == 0).all()
    assert (t["timetable"]["call_start_min"] >= result.situation.at).all()
    assert (t["shifts"]["start_min"] >= result.situation.at).all()


def _diff_buildings(result: ReplanResult) -> set[str]:
    """Buildings with residents still to come whose point differs (computed independently)."""
    old = result.saved.tables["assignments"].select("building_id", pl.col("point_id").alias("o"))
    new = result.plan.tables["assignments"].select("building_id", "point_id", "walk_in")
    j = old.join(new, on="building_id").filter(pl.col("walk_in") > 0)
    differs = j.filter(
        (pl.col("o").is_null() != pl.col("point_id").is_null())
        | (pl.col("o") != pl.col("point_id")).fill_null(False)
    )
    return set(differs["building_id"].to_list())


def _listed(result: ReplanResult, *kinds: str) -> set[str]:
    c = result.changes.filter(pl.col("kind").is_in(list(kinds)))
    return set(c["building_id"].drop_nulls().to_list())


@pytest.mark.parametrize("which", ["tiny", "district"])
def test_no_event_no_change(which: str, request: pytest.FixtureRequest) -> None:
    where = request.getfixturevalue(which)
    result = _replan(where)
    assert result.changes.height == 0
    old = result.saved.tables
    new = result.plan.tables
    assert old["assignments"]["point_id"].equals(new["assignments"]["point_id"])
    later_calls = old["timetable"].filter(pl.col("call_start_min") >= TEN)
    kept = new["timetable"].filter(pl.col("call_start_min") >= TEN + 15)
    # every call after --at keeps its time and point
    key = ["building_id", "point_id", "call_start_min", "call_end_min", "residents"]
    assert (
        kept.select(key)
        .sort(key)
        .equals(later_calls.filter(pl.col("call_start_min") >= TEN + 15).select(key).sort(key))
    )
    assert result.summary["changes_total"] == 0
    _check_conservation(result)
    # the temporary points for the residents out of reach are recomputed for the re-plan's
    # buildings: nothing changed, so they are the plan's (tiny has a building out of reach)
    for key in ("residents_out_of_reach", "points_to_add_for_reach", "suggested_points"):
        assert result.summary[key] == result.saved.summary[key]
    assert result.summary["points_to_add_for_reach"] > 0 or which != "tiny"


def test_point_closed_moves_only_its_buildings(district: tuple[Path, Path]) -> None:
    saved = read_saved_plan(district[1])
    points = saved.tables["points"].filter(pl.col("open")).sort("load", descending=True)
    closed = points["point_id"][0]
    result = _replan(district, events=(_event(EventKind.POINT_CLOSED, closed),))
    own = set(
        saved.tables["assignments"].filter(pl.col("point_id") == closed)["building_id"].to_list()
    )
    moved = _diff_buildings(result)
    remaining = set(
        result.situation.buildings.filter(
            (pl.col("old_point") == closed) & (pl.col("remaining") > 0)
        )["building_id"].to_list()
    )
    assert moved and moved <= own
    assert moved == remaining  # every building of the closed point still to come moves
    t = result.plan.tables
    assert closed not in t["timetable"]["point_id"].to_list()
    assert closed not in t["shifts"]["point_id"].to_list()
    assert not t["points"].filter(pl.col("point_id") == closed)["open"].any()
    assert _listed(result, "building_moved", "building_unserved") == moved
    _check_conservation(result)


def test_sealed_building_only_in_home_visits(tiny: tuple[Path, Path]) -> None:
    result = _replan(tiny, events=(_event(EventKind.BUILDING_SEALED, "B5"),))
    b = result.situation.buildings.filter(pl.col("building_id") == "B5").row(0, named=True)
    assert b["to_home"] > 0 and b["remaining"] == 0
    t = result.plan.tables
    assert "B5" not in t["timetable"]["building_id"].to_list()
    row = t["assignments"].filter(pl.col("building_id") == "B5").row(0, named=True)
    assert row["point_id"] is None and row["walk_in"] == 0
    visits = t["home_visits"].filter(pl.col("building_id") == "B5")
    assert visits["persons"].sum() == b["to_home"] + 0  # one tube per household
    assert (visits["persons"] <= 3).all()
    assert _listed(result, "building_sealed") == {"B5"}
    _check_conservation(result)


def test_team_absent_is_off_duty(district: tuple[Path, Path]) -> None:
    saved = read_saved_plan(district[1])
    shifts = saved.tables["shifts"].filter(pl.col("end_min") > TEN)
    team = shifts.sort("team_id")["team_id"][0]
    result = _replan(district, events=(_event(EventKind.TEAM_ABSENT, team, time=TEN - 30),))
    assert team not in result.plan.tables["shifts"]["team_id"].to_list()
    removed = result.changes.filter(pl.col("kind") == "team_removed")["team_id"].to_list()
    assert team in removed
    assert not _diff_buildings(result)  # no building moves for a missing team
    _check_conservation(result)


def test_team_added_and_late(tiny: tuple[Path, Path]) -> None:
    events = (
        _event(EventKind.POINT_TABLES, "PB", 1),
        _event(EventKind.TEAM_ADDED, "TX", 4, time=TEN + 30),
        _event(EventKind.TEAM_LATE, "T2", TEN + 60),
    )
    result = _replan(tiny, events=events)
    shifts = result.plan.tables["shifts"]
    late = shifts.filter((pl.col("team_id") == "T2") & ~pl.col("overtime"))
    assert (late["start_min"] >= TEN + 60).all()
    added = shifts.filter(pl.col("team_id") == "TX")
    assert (added["start_min"] >= TEN + 30).all()
    pb = result.plan.tables["points"].filter(pl.col("point_id") == "PB").row(0, named=True)
    assert pb["tables"] <= 1
    _check_conservation(result)


@functools.cache
def _tiny_due(plan: str) -> pl.DataFrame:
    return read_saved_plan(Path(plan)).tables["timetable"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=st.integers(min_value=8 * 60, max_value=13 * 60),
    factors=st.lists(st.floats(min_value=0.3, max_value=1.3), min_size=2, max_size=2),
    close=st.booleans(),
)
def test_generated_progress_properties(
    tiny: tuple[Path, Path], at: int, factors: list[float], close: bool
) -> None:
    calls = _tiny_due(str(tiny[1]))
    rows = []
    for factor, pid in zip(factors, ["PA", "PB"], strict=True):
        due = calls.filter((pl.col("point_id") == pid) & (pl.col("call_end_min") <= at))
        rows.append(
            {"point_id": pid, "time": at, "sampled": int(int(due["residents"].sum()) * factor)}
        )
    progress = Progress(
        pl.DataFrame(rows, schema=Progress.empty().points.schema), Progress.empty().buildings
    )
    events = (_event(EventKind.POINT_CLOSED, "PA", time=at),) if close else ()
    result = _replan(tiny, at=at, events=events, progress=progress)
    _check_conservation(result)
    if close:
        assert "PA" not in result.plan.tables["timetable"]["point_id"].to_list()
    assert _listed(result, "building_moved", "building_unserved") == _diff_buildings(result)


def test_point_progress_first_come_first_served(tiny: tuple[Path, Path]) -> None:
    calls = _tiny_due(str(tiny[1])).filter(pl.col("point_id") == "PA")
    first = calls.sort("call_start_min")["building_id"][0]
    progress = Progress(
        pl.DataFrame(
            {"point_id": ["PA", "PA"], "time": [TEN - 60, TEN + 30], "sampled": [40, 999]},
            schema=Progress.empty().points.schema,
        ),
        Progress.empty().buildings,
    )
    result = _replan(tiny, progress=progress)
    b = result.situation.buildings
    pa = b.filter(pl.col("old_point") == "PA")
    assert pa["sampled"].sum() == 40  # the report after --at is ignored
    assert b.filter(pl.col("building_id") == first)["sampled"].item() == 40
    override = Progress(
        Progress.empty().points,
        pl.DataFrame(
            {"building_id": [first], "sampled": [7]}, schema=Progress.empty().buildings.schema
        ),
    )
    result = _replan(tiny, progress=progress.merged(override))
    assert result.situation.buildings.filter(pl.col("building_id") == first)["sampled"].item() == 7


def test_same_inputs_same_plan(district: tuple[Path, Path]) -> None:
    saved = read_saved_plan(district[1])
    closed = saved.tables["points"].filter(pl.col("open"))["point_id"][1]
    events = (_event(EventKind.POINT_CLOSED, closed),)
    first, second = _replan(district, events=events), _replan(district, events=events)
    for name, frame in first.plan.tables.items():
        assert frame.equals(second.plan.tables[name]), name
    assert first.changes.equals(second.changes)


def test_catchup_session_after_window(tiny: tuple[Path, Path]) -> None:
    progress = Progress(
        pl.DataFrame(
            {"point_id": ["PB"], "time": [14 * 60], "sampled": [600]},
            schema=Progress.empty().points.schema,
        ),
        Progress.empty().buildings,
    )
    result = _replan(tiny, at=14 * 60, progress=progress)
    s = result.summary
    assert s["catchup_session"] is True
    assert s["window_start"] == "14:00" and s["window_end"] == "16:00"
    assert result.catchup["missing"].sum() == s["residents_catchup"] > 0
    assert s["points_open"] >= 1
    _check_conservation(result)


def test_events_problems_have_row_and_column(tmp_path: Path) -> None:
    scenario = load_scenario(TINY)
    path = tmp_path / "events.csv"
    path.write_text(
        "time,kind,id,value\n"
        "09:30,point_closed,PZ,\n"
        "9.30,team_late,T1,10:00\n"
        "10:00,team_late,T1,soon\n"
        "10:00,rain,PA,\n"
        "10:00,point_tables,PA,-1\n"
        "10:00,household_added,H9,B99\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        read_events(path, scenario)
    text = caught.value.report()
    for where in (
        "events.csv:2:id",
        "events.csv:3:time",
        "events.csv:4:value",
        "events.csv:5:kind",
        "events.csv:6:value",
        "events.csv:7:value",
    ):
        assert where in text
    path.write_text("time,kind,id,value\n10:00,team_added,TX,3\n", encoding="utf-8")
    (event,) = read_events(path, scenario)
    assert event.kind is EventKind.TEAM_ADDED and event.value == 3


def test_progress_problems(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    path.write_text("point_id,time,sampled\nPA,10:00,-3\nPQ,25:00,4\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        read_progress(path, points={"PA"}, buildings=set())
    text = caught.value.report()
    assert "progress.csv:2:sampled" in text
    assert "progress.csv:3:point_id" in text and "progress.csv:3:time" in text


def test_cli_writes_a_full_plan_with_changes(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    scenario_dir, out = tiny
    events = tmp_path / "events.csv"
    events.write_text(
        "time,kind,id,value\n09:50,point_closed,PA,\n09:55,building_sealed,B7,\n",
        encoding="utf-8",
    )
    progress = tmp_path / "progress.csv"
    progress.write_text("point_id,time,sampled\nPB,10:00,100\n", encoding="utf-8")
    new = tmp_path / "new"
    argv = [
        "replan",
        str(out),
        "--at",
        "10:00",
        "--events",
        str(events),
        "--progress",
        str(progress),
        "--out",
        str(new),
        "--scenario",
        str(scenario_dir),
        "--lang",
        "en",
        "--time-limit",
        "3",
    ]
    assert main(argv) == 0
    for name in (
        "summary.json",
        "map.html",
        "index.html",
        "plan.xlsx",
        "changes.html",
        "changes.parquet",
        "catchup.parquet",
        ".natplan.json",
        "assignments.parquet",
    ):
        assert (new / name).exists(), name
    summary = json.loads((new / "summary.json").read_text(encoding="utf-8"))
    assert summary["replan_at"] == "10:00" and summary["window_start"] == "10:00"
    changes = pl.read_parquet(new / "changes.parquet")
    assert {"building_sealed", "building_unserved"} <= set(changes["kind"].to_list())
    html = (new / "changes.html").read_text(encoding="utf-8")
    assert "Grid G1" in html and "B7" in html
    assert list((new / "catchup").glob("*.csv"))
    # no transport in the saved plan: none in NEW either (no empty tables, no vehicle sheets)
    for name in ("transport_trips", "transport_tubes", "lab_load", "results"):
        assert not (new / f"{name}.parquet").exists(), name
    assert not (new / "vehicles").exists() and "tubes_total" not in summary
    _check_index_links(new, summary)
    # the same command again replaces NEW (natplan's own folder); the saved plan is never NEW
    assert main(argv) == 0
    at_out = argv.index("--out")
    assert main([*argv[:at_out], "--out", str(out), *argv[at_out + 2 :]]) == 2
    assert (out / "summary.json").exists()
    assert main([*argv[:2], "--at", "25:00", *argv[4:]]) == 2


def _check_index_links(new: Path, summary: dict[str, object]) -> None:
    """NEW's index opens with the re-plan notice, linking changes.html and every catch-up
    list, and every link of the index resolves to a file of NEW."""
    index = (new / "index.html").read_text(encoding="utf-8")
    notice = index[index.index('class="alert box replan"') :]
    notice = notice[: notice.index("</div>")]
    assert f"Re-planned at {summary['replan_at']}: {summary['changes_total']:,} changes," in notice
    assert f"{summary['residents_catchup']:,} residents to catch up" in notice
    targets = re.findall(r'href="([^"#]+)"', notice)
    catchup = sorted(f"catchup/{p.name}" for p in (new / "catchup").glob("*.html"))
    assert targets == ["changes.html", *catchup]
    for target in re.findall(r'href="([^"#:]+)"', index):
        assert (new / unquote(target)).is_file(), target


def test_replan_replans_transport_from_at(tmp_path: Path) -> None:
    """A saved plan with transport (yuci-street): NEW's trips start at --at or later, carry
    the tubes sealed before --at still at their points plus the new calls' tubes, pass the
    independent check, and the summary's transport figures are NEW's."""
    scenario_dir = ROOT / "scenarios" / "yuci-street"
    scenario = load_scenario(scenario_dir)
    out, new = tmp_path / "plan", tmp_path / "new"
    write_plan(plan_campaign(scenario, time_limit=3.0, seed=0), out, lang="en")
    at = 630  # 10:30
    saved = read_saved_plan(out)
    result = run_replan(saved, scenario, at, Progress.empty(), ())
    tables = result.plan.tables
    trips, tubes = tables["transport_trips"], tables["transport_tubes"]
    assert trips.height and (trips["arrive_s"] >= at * 60).all()
    old_trips = pl.read_parquet(out / "transport_trips.parquet")
    old_tubes = pl.read_parquet(out / "transport_tubes.parquet")
    begun = (
        old_trips.group_by("vehicle_id", "trip")
        .agg(pl.col("arrive_s").min())
        .filter(pl.col("arrive_s") < at * 60)
    )
    assert begun.height  # some trips were under way: their tubes stay out of NEW
    waiting = old_tubes.filter(pl.col("ready_s") <= at * 60).join(
        begun.select("vehicle_id", "trip"), on=["vehicle_id", "trip"], how="anti"
    )
    early = tubes.filter(pl.col("ready_s") <= at * 60)
    assert int(early["tubes"].sum()) == int(waiting["tubes"].sum())
    pool = scenario.header.sampling.pool_size
    called = int(tables["timetable"]["residents"].sum())
    later = int(tubes.filter(pl.col("ready_s") > at * 60)["tubes"].sum())
    assert later >= called // max(pool, scenario.header.sampling.yellow_pool_size)
    summary = result.summary
    assert summary["tubes_total"] == int(tubes["tubes"].sum())
    assert summary["tubes_late"] == int(tubes.filter(pl.col("late"))["tubes"].sum())
    assert summary["transport_replanned_from"] == "10:30"
    assert summary["vehicle_trips"] == trips.filter(pl.col("kind") == "unload").height
    write_replan(
        new,
        result.plan.scenario,
        tables,
        summary,
        result.changes,
        result.catchup,
        lang="en",
    )
    report = check_saved_transport(new, scenario)
    assert report.ok, report.violations[:5]
    assert report.tubes_delivered + report.tubes_late == summary["tubes_total"]
    assert {p.name for p in (new / "vehicles").glob("*.html")} == {
        f"{v}.html" for v in scenario.vehicles["vehicle_id"].to_list()
    }
    _check_index_links(new, summary)


def test_html_escapes_ids() -> None:
    """Ids in the notices and a catch-up page are escaped text, never markup; both pages
    extend the documents' base layout (phone cards: every cell has its column header)."""
    from sampling.i18n import labels
    from sampling.replan.pages import catchup_page, notices_page

    evil = "<script>alert(1)</script>"
    changes = pl.DataFrame(
        {
            "kind": ["building_moved", "team_moved"],
            "grid_id": [evil, None],
            "building_id": ["B&1", None],
            "team_id": [None, 'T"<b>'],
            "household_id": [None, None],
            "old_point_id": ["P1", "P1"],
            "new_point_id": ["P2", "P<i>2"],
            "old_time": ["10:00", "09:00–12:00"],
            "new_time": ["11:00", "10:00–12:00"],
            "residents": [3, None],
        },
        schema_overrides={"team_id": pl.String, "household_id": pl.String},
    )
    scenario = load_scenario(TINY)
    summary = {"scenario": "x & y", "replan_at": "10:00"}
    lab = labels("en")
    page = notices_page(changes, scenario, summary, lab, "en")
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "B&amp;1" in page
    assert "<b>" not in page and "<i>" not in page and "P&lt;i&gt;2" in page
    assert page.count('<section class="notice') == 2 and "newpage" in page
    assert "x &amp; y" in page and '<meta name="viewport"' in page
    catchup = pl.DataFrame(
        {
            "grid_id": [evil],
            "building_id": ["B&1"],
            "point_id": ["<u>P1"],
            "expected": [5],
            "sampled": [2],
            "missing": [3],
            "new_point_id": [None],
            "new_call": [None],
        },
        schema_overrides={"new_point_id": pl.String, "new_call": pl.String},
    )
    for html in (page, catchup_page(evil, catchup, scenario, summary, lab, "en")):
        assert "<script>alert" not in html and "<u>" not in html
        cells = re.findall(r"<td[^>]*>", html.split("<tfoot>")[0])
        assert cells and all("data-label=" in td for td in cells), cells[:3]


def test_households_added_and_removed(tiny: tuple[Path, Path]) -> None:
    at = 8 * 60
    events = (
        _event(EventKind.HOUSEHOLD_REMOVED, "H2", time=at),
        _event(EventKind.HOUSEHOLD_ADDED, "HN", "B3", time=at),
    )
    result = _replan(tiny, at=at, events=events)
    visits = result.plan.tables["home_visits"]["household_id"].to_list()
    assert "HN" in visits and "H2" not in visits
    kinds = dict(
        result.changes.filter(pl.col("household_id").is_not_null())
        .select("household_id", "kind")
        .iter_rows()
    )
    assert kinds["H2"] == "household_removed" and kinds["HN"] == "household_added"
    b6 = result.situation.buildings.filter(pl.col("building_id") == "B6").row(0, named=True)
    saved = result.saved.tables["assignments"].filter(pl.col("building_id") == "B6")
    assert b6["walk_in"] == saved["walk_in"].item() + 1  # H2's person walks in now
    _check_conservation(result)


def test_simulate_progress(district: tuple[Path, Path], tmp_path: Path) -> None:
    from sampling.replan.simulate import simulate_progress

    scenario_dir, out = district
    saved = read_saved_plan(out)
    header = load_scenario(scenario_dir).header
    first = simulate_progress(saved, header, TEN, seed=1)
    assert first.equals(simulate_progress(saved, header, TEN, seed=1))
    point = str(first["point_id"][0])
    slow = simulate_progress(saved, header, TEN, seed=1, slowdown={point: 2.0})
    at_ten = first.filter(pl.col("time") == "10:00")
    slow_ten = slow.filter(pl.col("time") == "10:00")
    assert slow_ten.filter(pl.col("point_id") == point)["sampled"].item() < (
        at_ten.filter(pl.col("point_id") == point)["sampled"].item()
    )
    rising = first.group_by("point_id").agg((pl.col("sampled").diff().drop_nulls() >= 0).all())
    assert rising["sampled"].all()
    # a point never swabs more than it called by then
    called = saved.tables["timetable"].group_by("point_id").agg(pl.col("residents").sum())
    over = at_ten.join(called, on="point_id").filter(pl.col("sampled") > pl.col("residents"))
    assert over.height == 0
    target = tmp_path / "progress.csv"
    argv = ["simulate-progress", str(out), "--at", "10:00", "--out", str(target)]
    assert main(argv) == 0 and target.exists()
    assert main(argv) == 2  # never overwrites
    progress = read_progress(target, points=set(first["point_id"].to_list()), buildings=set())
    result = _replan(district, progress=progress)
    _check_conservation(result)
    assert result.summary["residents_catchup"] > 0  # the simulated day runs behind the calls


def _two_points(folder: Path, max_a: int) -> Path:
    """Points PA (0,0) with ``max_a`` tables and PB (600,0) with two; B1, B2 and B4 at PA, B3
    at PB (planar metres; walk = straight line × 1.3)."""
    folder.mkdir()
    (folder / "scenario.toml").write_text(
        'name = "two"\ndate = "2022-04-28"\ncoordinates = "planar"\n', encoding="utf-8"
    )
    (folder / "buildings.csv").write_text(
        "building_id,grid_id,x,y,residents\n"
        "B1,G1,0,100,80\nB2,G2,100,0,60\nB3,G3,600,100,50\nB4,G4,350,0,10\n",
        encoding="utf-8",
    )
    (folder / "points.csv").write_text(
        f"point_id,x,y,max_tables\nPA,0,0,{max_a}\nPB,600,0,2\n", encoding="utf-8"
    )
    (folder / "teams.csv").write_text(
        "team_id,samplers,available_from,available_to,x,y\nT1,8,07:00,14:00,0,0\n",
        encoding="utf-8",
    )
    return folder


def _placed(folder: Path, building_move_min: float) -> tuple[dict[str, str | None], int]:
    """The cost model's points for the buildings of :func:`_two_points` (one table = 100
    residents in the rest of the window), and how many moved although their point was usable."""
    import math

    from sampling.replan.costs import ChangeCosts
    from sampling.replan.reassign import reassign

    scenario = load_scenario(folder)
    old = {"B1": "PA", "B2": "PA", "B3": "PB", "B4": "PA"}
    xy = {"B1": (0, 100), "B2": (100, 0), "B3": (600, 100), "B4": (350, 0)}
    pxy = {"PA": (0, 0), "PB": (600, 0)}
    saved = pl.DataFrame(
        {
            "building_id": list(old),
            "point_id": list(old.values()),
            "walk_m": [1.3 * math.dist(xy[b], pxy[p]) for b, p in old.items()],
            "beyond_limit": [False] * 4,
        }
    )
    remaining = scenario.buildings.select("building_id", pl.col("residents").alias("remaining"))
    placed = reassign(
        scenario,
        saved,
        remaining,
        frozenset({"PA", "PB"}),
        100,
        ChangeCosts(building_move_min=building_move_min),
        catchup=False,
        time_limit=2.0,
        seed=0,
    )
    rows = placed.buildings.select("building_id", "point_id").iter_rows()
    return dict(rows), int(placed.figures["buildings_moved_by_cost"])


def test_cost_model_moves_a_building_where_it_relieves_a_full_point(tmp_path: Path) -> None:
    """PA holds 100 residents but 150 are to come: the building whose move costs least (B2:
    fewer residents, nearer PB) moves to PB; nobody else changes."""
    points, moved = _placed(_two_points(tmp_path / "full", 1), 10.0)
    assert points == {"B1": "PA", "B2": "PB", "B3": "PB", "B4": "PA"}
    assert moved == 1


def test_cost_model_keeps_buildings_where_a_move_does_not_pay(tmp_path: Path) -> None:
    """PA has room: nobody moves, although B4 walks 130 m less to PB (10 minutes' walk per
    resident outweighs it); when a change costs only one minute (75 m) per resident, B4 moves."""
    folder = _two_points(tmp_path / "room", 2)
    points, moved = _placed(folder, 10.0)
    assert points == {"B1": "PA", "B2": "PA", "B3": "PB", "B4": "PA"}
    assert moved == 0
    cheap, moved = _placed(folder, 1.0)
    assert cheap == {"B1": "PA", "B2": "PA", "B3": "PB", "B4": "PB"}
    assert moved == 1


def test_event_without_pressure_moves_nothing(district: tuple[Path, Path]) -> None:
    """A late team makes the cost model run over every building still to come, but nothing
    forces a move: no building changes point."""
    saved = read_saved_plan(district[1])
    team = saved.tables["shifts"].filter(pl.col("end_min") > TEN).sort("team_id")["team_id"][-1]
    result = _replan(district, events=(_event(EventKind.TEAM_LATE, team, TEN + 30),))
    assert result.plan.figures["clients"] > 0  # the model ran
    assert not _diff_buildings(result)
    assert result.plan.figures["buildings_moved_by_cost"] == 0
    _check_conservation(result)


def test_team_moves_listed_with_travel(district: tuple[Path, Path]) -> None:
    """With a point closed and a team absent, every team whose points after ``--at`` changed
    is listed (``team_moved``, with its drive in minutes), and no other team is."""
    saved = read_saved_plan(district[1])
    shifts = saved.tables["shifts"].filter(pl.col("end_min") > TEN)
    points = saved.tables["points"].filter(pl.col("open")).sort("load", descending=True)
    team = shifts.group_by("team_id").agg(pl.col("tables").sum()).sort("tables", "team_id")
    events = (
        _event(EventKind.POINT_CLOSED, points["point_id"][0]),
        _event(EventKind.TEAM_ABSENT, team["team_id"][-1], time=TEN - 30),
    )
    result = _replan(district, events=events)

    def duty(frame: pl.DataFrame) -> dict[str, set[str]]:
        rows = frame.filter(pl.col("end_min") > TEN).group_by("team_id").agg("point_id")
        return {t: set(p) for t, p in rows.iter_rows()}

    before, after = duty(saved.tables["shifts"]), duty(result.plan.tables["shifts"])
    moved = {t for t in before.keys() & after.keys() if before[t] != after[t]}
    rows = result.changes.filter(pl.col("kind") == "team_moved")
    assert set(rows["team_id"].to_list()) == moved
    assert rows["travel_min"].is_not_null().all() and (rows["travel_min"] >= 0).all()
    others = result.changes.filter(pl.col("kind") != "team_moved")
    assert others["travel_min"].is_null().all()
    _check_conservation(result)


def test_catchup_says_no_point(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """A building with residents to catch up that the re-plan leaves without a point (sealed:
    visited at home) shows "no point" in its grid's catch-up CSV and page, never an empty cell."""
    at = 13 * 60
    calls = _tiny_due(str(tiny[1]))
    due = calls.filter(pl.col("call_end_min") <= at).group_by("building_id").len()
    building = due.sort("building_id")["building_id"][0]
    progress = Progress(
        Progress.empty().points,
        pl.DataFrame(
            {"building_id": [building], "sampled": [0]}, schema=Progress.empty().buildings.schema
        ),
    )
    events = (_event(EventKind.BUILDING_SEALED, building, time=at),)
    result = _replan(tiny, at=at, events=events, progress=progress)
    row = result.catchup.filter(pl.col("building_id") == building)
    assert row.height == 1 and row["new_point_id"].is_null().all()
    new = tmp_path / "new"
    write_replan(
        new,
        result.plan.scenario,
        result.plan.tables,
        result.summary,
        result.changes,
        result.catchup,
        lang="en",
    )
    grid = str(row["grid_id"][0])
    csv = next((new / "catchup").glob(f"{grid}*.csv")).read_text(encoding="utf-8-sig")
    line = next(x for x in csv.splitlines() if building in x)
    assert line.split(",")[6] == "no point"
    html = next((new / "catchup").glob(f"{grid}*.html")).read_text(encoding="utf-8")
    assert ">no point<" in html


def test_staff_rebalance_weighs_the_calls_it_moves(district: tuple[Path, Path]) -> None:
    """The staff re-balance re-times the calls of the points it takes samplers from: it is kept
    when the waiting it saves exceeds what those call moves cost, and dropped when a call move
    costs more (the donor points then keep their saved calls)."""
    saved = read_saved_plan(district[1])
    shifts = saved.tables["shifts"].filter(pl.col("end_min") > TEN)
    team = shifts.group_by("team_id").agg(pl.col("tables").sum()).sort("tables", "team_id")
    events = (_event(EventKind.TEAM_ABSENT, team["team_id"][-1], time=TEN - 30),)  # the largest
    free = _replan(district, events=events, costs=ChangeCosts(call_move_min=0.0))
    day = free.plan.figures["day"]
    tried = set(day["rebalance_tried"])
    assert tried, "the events leave points short of samplers, so donors are tried"
    relief = day["rebalance_relief_resident_min"]
    assert relief > 0 and day["rebalance_call_moves_residents"] >= 0
    assert tried <= free.plan.touched  # free call moves: the re-balance is kept
    dear = _replan(
        district,
        events=events,
        costs=ChangeCosts(call_move_min=relief / max(day["rebalance_call_moves_residents"], 1)),
    )
    assert day["rebalance_call_moves_residents"] > 0  # this re-balance does move calls
    assert not (tried & dear.plan.touched)  # the same relief no longer pays for the moves
    moved = dear.changes.filter(
        (pl.col("kind") == "call_moved") & pl.col("new_point_id").is_in(sorted(tried))
    )
    assert moved.height == 0
    assert (
        free.changes.filter(
            (pl.col("kind") == "call_moved") & pl.col("new_point_id").is_in(sorted(tried))
        ).height
        > 0
    )
    _check_conservation(dear)


def _revert_case(grid: list[int]) -> tuple[int, list[int]]:
    """Two buildings of 10 residents, both at point 0 in the morning; the engine moved both
    to point 1 (1 m walk at point 0, 5 m at point 1), and point 0 now has room for one."""
    site = np.array([1, 1], dtype=np.int64)
    reverted = _revert(
        site,
        old=np.array([0, 0], dtype=np.int64),
        demand=np.array([10, 10], dtype=np.int64),
        cost=np.array([1.0, 5.0, 1.0, 5.0]),
        arc_of=lambda i, j: i * 2 + j,
        capacity=np.array([10, 100], dtype=np.int64),
        opened=np.array([True, True]),
        grid=np.array(grid, dtype=np.int32),
    )
    return reverted, site.tolist()


def test_revert_never_splits_a_grid_the_engine_kept_together() -> None:
    """One grid: sending one building back would put it at two points where the morning plan
    and the engine's plan both used one, so nothing goes back. Two grids: each is at one point
    either way, and the building with room goes back."""
    assert _revert_case([0, 0]) == (0, [1, 1])
    assert _revert_case([0, 1]) == (1, [0, 1])
