"""What ``natplan`` says on the console: version, help with defaults, a line per stage, quiet.

The planning stages report through a progress callback (:mod:`sampling.progress`); the
console (:mod:`sampling.console`) prints a line per finished stage on stderr, with live bars
only on a terminal, and the library itself prints nothing.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import polars as pl
import pytest

from sampling import __version__, load_scenario
from sampling.cli import main
from sampling.console import ConsoleLogHandler, StageConsole
from sampling.progress import STAGES, StageEvent, stage
from sampling.report import STAGE_NAMES, plan_warnings, stage_line, stage_text
from sampling.stages.limits import wall_safety
from sampling.stages.planning import plan_campaign

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
LINE = re.compile(r"^(?P<name>[a-z ]+?) +(?P<seconds>\d+\.\d) s  (?P<text>\S.*)$")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"natplan {__version__}"


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # help wraps lines
    assert "--time-limit S" in text and "(default: 30.0)" in text
    assert "document language (default: zh)" in text
    assert "random seed (default: 0)" in text
    assert "--quiet" in text and "--verbose" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: csv)" in text and "(default: 0)" in text


def test_plan_prints_one_line_per_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "plan", str(TINY), "--out", str(out), "--time-limit", "5")
    assert code == 0
    assert "\x1b" not in stderr  # not a terminal: no bars, no control codes
    lines = stderr.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    names = [m["name"] for m in matches if m]
    assert names == [STAGE_NAMES[s] for s in STAGES if s != "transport"]  # tiny has no labs
    texts = dict(zip(names, (m["text"] for m in matches if m), strict=True))
    assert texts["assignment"].startswith("optimal (gap 0.00% to the lower bound): 2 points")
    assert "27 residents without a point" in texts["assignment"]
    assert texts["home visits"].startswith("2 of 2 households on 1 route,")
    assert texts["documents"].startswith("2 point sheets,")
    report = stdout.splitlines()
    assert report[-1] == f"wrote {out}"
    assert any(line.startswith("warning: 27 residents in 1 building have") for line in report)


def test_quiet_prints_only_the_final_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "plan", str(TINY), "--out", str(out), "--quiet")
    assert (code, stdout, stderr) == (0, f"wrote {out}\n", "")
    code, stdout, stderr = _run(capsys, "-q", "validate", str(TINY))
    assert (code, stdout, stderr) == (0, "ok: the scenario is valid\n", "")


def test_quiet_still_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = _run(
        capsys, "plan", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "-q"
    )
    assert code == 2 and stdout == "" and "missing" in stderr


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["-q", "plan", str(TINY), "--out", "x", "-v"])
    assert stop.value.code == 2
    assert "--quiet and --verbose" in capsys.readouterr().err


def test_planning_itself_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = load_scenario(TINY)
    events: list[StageEvent] = []
    plan_campaign(scenario, time_limit=5, progress=events.append)
    assert capsys.readouterr() == ("", "")  # progress only through the callback
    assert [(e.stage, e.done) for e in events] == [
        (s, done) for s in ("assignment", "day", "home_visits") for done in (False, True)
    ]
    ends = [e for e in events if e.done]
    assert ends[0].figures["status"] == "optimal"
    assert ends[0].budget_s == 5  # the bar fills towards the work budget …
    assert ends[0].limit_s == wall_safety(5)  # … and names the safety stop
    assert ends[2].budget_s is None  # routing has an iteration budget, not seconds of work
    assert ends[1].figures["finish_time"] == "13:30"
    assert ends[2].figures["households_served"] == 2
    assert all(e.seconds >= 0 for e in ends)


def test_stage_without_callback_is_silent() -> None:
    with stage(None, "map") as figures:
        figures["x"] = 1  # still usable, nothing reported


def test_a_failing_stage_sends_no_end_event() -> None:
    events: list[StageEvent] = []
    with pytest.raises(RuntimeError), stage(events.append, "map"):
        raise RuntimeError("boom")
    assert [(e.stage, e.done) for e in events] == [("map", False)]


def test_wall_clock_cuts_are_said_at_the_stage_and_in_the_warnings() -> None:
    figures = {"status": "feasible", "gap": 0.02, "points_open": 3, "solver_wall_clock_bound": 1}
    assert "cut short by the wall clock" in stage_text("assignment", figures)
    assert "cut short by the wall clock" not in stage_text(
        "assignment", {**figures, "solver_wall_clock_bound": 0}
    )
    routes = {"households_total": 5, "households_served": 5, "home_visits_wall_clock_bound": 1}
    assert "cut short by the wall clock" in stage_text("home_visits", routes)
    summary = {"solver_wall_clock_bound": 1, "home_visits_wall_clock_bound": 1}
    assert plan_warnings(summary) == [  # one line per alert, naming every stage cut
        "the wall-clock safety stop (--wall-limit) cut the assignment and the home-visit routing short:"
        " a rerun may differ; raise --wall-limit or use a less busy machine"
    ]
    assert "cut the assignment short" in plan_warnings({"solver_wall_clock_bound": 1})[0]


def test_plain_console_prints_lines_only() -> None:
    stream = io.StringIO()
    with StageConsole(stream) as console:  # a StringIO is not a terminal
        assert not console.live
        console(StageEvent("map", done=False))
        console(StageEvent("map", done=True, seconds=1.25))
    assert stream.getvalue() == stage_line("map", 1.25, {}) + "\n"
    assert stream.getvalue().startswith("map") and "1.2 s" in stream.getvalue()


def test_live_console_draws_a_bar_and_prints_the_line() -> None:
    stream = io.StringIO()
    with StageConsole(stream, live=True) as console:
        console(StageEvent("assignment", done=False, limit_s=120, budget_s=30))
        assert StageConsole.active() is console
        console(StageEvent("assignment", done=True, seconds=2.0, figures={"status": "optimal"}))
    assert StageConsole.active() is None
    text = stream.getvalue()
    assert "\x1b" in text  # drawn for a terminal
    assert stage_line("assignment", 2.0, {"status": "optimal"}) in text
    assert console.lines == [stage_line("assignment", 2.0, {"status": "optimal"})]


def test_bar_fills_towards_the_work_budget_not_the_safety_stop() -> None:
    """A stage with a work budget fills its bar towards it and pulses once past it (a busy
    machine); one without pulses; the text names both figures it has."""
    from sampling.console import bar_total, limit_text

    assert bar_total(30, 0.0) == 30 and bar_total(30, 29.9) == 30
    assert bar_total(30, 30.0) is None and bar_total(30, 95.0) is None
    assert bar_total(None, 1.0) is None and bar_total(0, 1.0) is None
    assert limit_text(30, 120) == "work 30 s · stop 120 s"
    assert limit_text(None, 120) == "stop 120 s"
    assert limit_text(None, None) == ""


def test_quiet_console_prints_nothing() -> None:
    stream = io.StringIO()
    with StageConsole(stream, quiet=True, live=True) as console:
        assert not console.live
        console(StageEvent("map", done=False))
        console(StageEvent("map", done=True, seconds=1.0))
    assert stream.getvalue() == ""


def test_stage_texts_of_the_other_stages() -> None:
    transport = {"tubes_total": 120, "vehicle_trips": 1, "latest_result_time": "18:00"}
    assert stage_text("transport", {**transport, "tubes_late": 2}) == (
        "120 tubes to the labs on 1 trip, last result 18:00; 2 tubes late"
    )
    assert stage_text("home_visits", {"households_total": 0}) == "no households to visit"
    assert stage_text("documents", {"point_pages": 1, "grid_lists": 2, "team_pages": 2}) == (
        "1 point sheet, 2 grid call lists, 2 team itineraries, plan.xlsx, index.html"
    )
    assert stage_line("unknown_stage", 0.04, {}) == "unknown stage    0.0 s"


def test_log_records_print_above_running_bars() -> None:
    direct, bars = io.StringIO(), io.StringIO()
    handler = ConsoleLogHandler(direct)
    record = logging.LogRecord("sampling.x", logging.WARNING, __file__, 1, "careful", None, None)
    with StageConsole(bars, live=True) as console:
        console(StageEvent("assignment", done=False, limit_s=5))
        handler.emit(record)
    assert "careful" in bars.getvalue() and direct.getvalue() == ""
    handler.emit(record)  # no live console: straight to its stream
    assert direct.getvalue() == "careful\n"


def test_late_tubes_are_an_alert_in_the_summary_console_index_and_map(tmp_path: Path) -> None:
    """One vehicle for three hours cannot take a district's tubes: the summary's
    ``tubes_late`` is the ``late_tubes`` alert, said by the console, the index and the map,
    each with what more vehicles would do (escaped in the written index and map)."""
    from markupsafe import escape

    from sampling.documents.write import alert_texts
    from sampling.generate import generate_district
    from sampling.i18n import labels, map_labels
    from sampling.output.mapping import map_alerts
    from sampling.output.write import write_plan
    from sampling.report import alerts, fleet_remedy_text, late_tubes_remedy_text, plan_lines

    generate_district(4000, 7, tmp_path / "d")
    scenario = load_scenario(tmp_path / "d")
    assert scenario.vehicles is not None
    ends = scenario.header.window.start + 180  # three hours of a district's day
    one = scenario.vehicles.head(1).with_columns(pl.lit(ends, pl.Int32).alias("available_to"))
    plan = plan_campaign(scenario.replace(vehicles=one), time_limit=3, seed=0)
    summary = plan.summary()
    late = summary["tubes_late"]
    assert 0 < late < summary["tubes_total"]
    assert {"code": "late_tubes", "count": late} in summary["alerts"]
    reasons = ", ".join(f"{c} {n:,}" for c, n in summary["tubes_late_reasons"].items() if n)
    assert summary["tubes_late_reasons"]["fleet"] > 0  # the short fleet is why
    extra = summary["extra_vehicles_needed"]
    remedy = (
        "; even twice the vehicles would leave some late for the fleet: add vehicles and check"
        " the pickup rounds by hand"
        if extra is None
        else f"; {extra} more vehicle{'s' if extra != 1 else ''} would leave no tube late for the"
        " fleet"
    )
    assert [w for w in plan_lines(summary) if "tubes reach no lab" in w] == [
        f"warning: {late:,} of {summary['tubes_total']:,} tubes reach no lab in time or are not"
        f" tested ({reasons}; transport_tubes.parquet, late_reason)" + remedy
    ]
    for lang in ("zh", "en"):
        index = dict(alert_texts(summary, labels(lang)))["late_tubes"]
        assert f"{late:,}" in index and f"{summary['tubes_total']:,}" in index
        assert fleet_remedy_text(summary, labels(lang))
        index_remedy = late_tubes_remedy_text(summary, labels(lang))
        assert index_remedy.startswith(fleet_remedy_text(summary, labels(lang)))
        assert index.endswith(index_remedy)
        map_remedy = late_tubes_remedy_text(summary, map_labels(lang))
        (line,) = [line for line in map_alerts(summary, lang) if f"{late:,}" in line]
        assert map_remedy and line.endswith(map_remedy) and "late_tubes" not in line
        out = write_plan(plan, tmp_path / f"out_{lang}", lang=lang)
        assert str(escape(index)) in (out / "index.html").read_text(encoding="utf-8")
        assert str(escape(line)) in (out / "map.html").read_text(encoding="utf-8")
    assert alerts({**summary, "tubes_late": 0}) == [
        a for a in summary["alerts"] if a["code"] != "late_tubes"
    ]


@pytest.mark.parametrize(
    ("extra", "console", "words"),
    [
        (
            3,
            "; 3 more vehicles would leave no tube late for the fleet",
            {
                "en": ("3 more vehicles would leave no tube late", "3 more vehicles: none late"),
                "zh": ("增派 3 辆车即可不再有样本管因运力不足超时", "增派 3 辆车可消除"),
            },
        ),
        (
            1,
            "; 1 more vehicle would leave no tube late for the fleet",
            {
                "en": ("1 more vehicle would leave no tube late", "1 more vehicle: none late"),
                "zh": ("增派 1 辆车即可不再有样本管因运力不足超时", "增派 1 辆车可消除"),
            },
        ),
        (
            None,
            "; even twice the vehicles would leave some late for the fleet: add vehicles and"
            " check the pickup rounds by hand",
            {
                "en": ("Even twice the vehicles would leave some", "even twice the vehicles"),
                "zh": ("即使车辆增加一倍", "车辆加倍仍有运力不足超时"),
            },
        ),
    ],
)
def test_late_tubes_remedy_is_said_alike_by_the_console_index_and_map(
    extra: int | None, console: str, words: dict[str, tuple[str, str]]
) -> None:
    """The fleet remedy of ``late_tubes`` (``extra_vehicles_needed``: a count, or ``None``
    when even twice the fleet leaves tubes late) ends the console line, the index sentence and
    the map line, in each language, and claims no more than the fleet's tubes (here some are
    late for the labs' hours); tubes late for other reasons only get none."""
    from sampling.documents.write import alert_texts
    from sampling.i18n import labels, map_labels
    from sampling.output.mapping import map_alerts

    summary: dict[str, object] = {
        "tubes_total": 1_200,
        "tubes_late": 40,
        "tubes_late_reasons": {"too_far": 0, "fleet": 30, "lab_hours": 10},
        "extra_vehicles_needed": extra,
    }
    assert plan_warnings(summary) == [
        "40 of 1,200 tubes reach no lab in time or are not tested (fleet 30, lab_hours 10;"
        " transport_tubes.parquet, late_reason)" + console
    ]
    for lang, (index_words, map_words) in words.items():
        index = dict(alert_texts(summary, labels(lang)))["late_tubes"]
        bare = labels(lang)["alert_late_tubes"].format(count="40", tubes="1,200")
        assert index.startswith(bare) and index_words in index.removeprefix(bare)
        (shown,) = map_alerts(summary, lang)
        bare = map_labels(lang)["alert_late_tubes"].format(count="40")
        assert shown.startswith(bare) and map_words in shown.removeprefix(bare)
    # no remedy when no tube is late for the fleet, or no vehicle count is known
    for other in (
        {**summary, "tubes_late_reasons": {"too_far": 0, "fleet": 0, "lab_hours": 40}},
        {k: v for k, v in summary.items() if k != "extra_vehicles_needed"},
        {**summary, "extra_vehicles_needed": 0},
    ):
        (warning,) = plan_warnings(other)
        assert warning.endswith("transport_tubes.parquet, late_reason)")
        for lang in ("zh", "en"):
            assert dict(alert_texts(other, labels(lang)))["late_tubes"] == labels(lang)[
                "alert_late_tubes"
            ].format(count="40", tubes="1,200")
            assert map_alerts(other, lang) == (
                map_labels(lang)["alert_late_tubes"].format(count="40"),
            )


@pytest.mark.parametrize(
    ("hours", "console", "words"),
    [
        (
            2,
            "; every lab opening 2 h earlier and closing 2 h later would leave no tube late for"
            " the labs' hours",
            {
                "en": ("opening 2 h earlier and closing 2 h later", "labs 2 h longer"),
                "zh": ("提前 2 小时开门、推迟 2 小时关门", "各延长 2 小时"),
            },
        ),
        (
            None,
            "; even much longer lab hours would leave some late for the labs' hours: check the"
            " labs' hours and the rides by hand",
            {
                "en": ("Even much longer lab hours", "longer lab hours still leave"),
                "zh": ("即使大幅延长实验室工作时间", "延长实验室工作时间仍有超时"),
            },
        ),
    ],
)
def test_lab_hours_remedy_follows_the_fleet_remedy(
    hours: int | None, console: str, words: dict[str, tuple[str, str]]
) -> None:
    """Tubes late for the labs' hours get the remedy of ``extra_lab_hours`` (hours every lab
    would open earlier and close later, or ``None`` when no widening tried made it), after the
    fleet's, alike in the console, the index and the map; none without such tubes or figure."""
    from sampling.documents.write import alert_texts
    from sampling.i18n import labels, map_labels
    from sampling.output.mapping import map_alerts

    summary: dict[str, object] = {
        "tubes_total": 1_200,
        "tubes_late": 40,
        "tubes_late_reasons": {"too_far": 0, "fleet": 30, "lab_hours": 10},
        "extra_vehicles_needed": 3,
        "extra_lab_hours": hours,
    }
    fleet = "; 3 more vehicles would leave no tube late for the fleet"
    (warning,) = plan_warnings(summary)
    assert warning.endswith(fleet + console)
    for lang, (index_words, map_words) in words.items():
        index = dict(alert_texts(summary, labels(lang)))["late_tubes"]
        fleet_words = labels(lang)["late_tubes_more_vehicles"].format(count="3")
        assert index.index(fleet_words) < index.index(index_words)  # fleet first, then labs
        (shown,) = map_alerts(summary, lang)
        map_fleet = map_labels(lang)["late_tubes_more_vehicles"].format(count="3")
        assert shown.index(map_fleet) < shown.index(map_words)
    for other in (
        {**summary, "tubes_late_reasons": {"too_far": 0, "fleet": 30, "lab_hours": 0}},
        {k: v for k, v in summary.items() if k != "extra_lab_hours"},
        {**summary, "extra_lab_hours": 0},
    ):
        (warning,) = plan_warnings(other)
        assert warning.endswith(fleet)
        for lang, (index_words, map_words) in words.items():
            assert index_words not in dict(alert_texts(other, labels(lang)))["late_tubes"]
            assert map_words not in map_alerts(other, lang)[0]


def test_transport_cut_by_the_wall_clock_counts_and_is_named() -> None:
    from sampling.report import alerts

    summary = {"transport_wall_clock_bound": 1, "solver_wall_clock_bound": 1}
    assert alerts(summary) == [{"code": "wall_clock", "count": 2}]
    assert plan_warnings(summary) == [
        "the wall-clock safety stop (--wall-limit) cut the assignment and the transport short:"
        " a rerun may differ; raise --wall-limit or use a less busy machine"
    ]
    assert "cut short by the wall clock" in stage_text(
        "transport", {"tubes_total": 9, "transport_wall_clock_bound": 1}
    )


def test_day_line_says_what_covered_staffing_means() -> None:
    """``staffing_status = covered`` next to a deficit must not read as "everyone is swabbed":
    the plan line says the opened tables are staffed, and the deficit warning stays."""
    from sampling.report import plan_lines

    summary = {
        "staffing_status": "covered",
        "capacity_deficit_residents": 500,
        "alerts": [{"code": "deficit", "count": 500}],
    }
    lines = plan_lines(summary)
    day = next(line for line in lines if line.startswith("day:"))
    assert day.endswith("every opened table staffed")
    assert "covered" not in day
    assert any("500" in line for line in lines if line.startswith("warning:"))
    short = next(
        line for line in plan_lines({"staffing_status": "shortfall"}) if line.startswith("day:")
    )
    assert short.endswith("staffing shortfall")
