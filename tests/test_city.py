"""City runs and sweeps on a real Dask LocalCluster (2 worker processes), and their parts."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import numpy as np
import polars as pl
import pytest
import shapely
from distributed import LocalCluster
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from maps.offline import check_offline
from sampling.city.charts import line_chart, nice_ticks
from sampling.city.citymap import outline
from sampling.city.folder import check_run_folder
from sampling.city.generate import generate_city
from sampling.city.jobs import Job, district_seed
from sampling.city.outputs import (
    ADDITIVE,
    alert_lines,
    alerts_text,
    parse_alerts,
    render_index,
)
from sampling.city.plan import plan_city
from sampling.city.sweep import SweepRun, render_sweep, sweep, variants
from sampling.city.task import run_job
from sampling.city.variants import header_overrides, parse_vary, with_staff_ratio
from sampling.cli import main
from sampling.errors import ScenarioError
from sampling.files.ownership import OutputFolderError
from sampling.generate import samplers_needed
from sampling.i18n import CITY, MAP_LABELS
from sampling.output.write import write_plan
from sampling.report import ALERT_CODES
from sampling.scenario.loader import load_scenario, merge_header
from sampling.stages.planning import plan_campaign
from tests.test_map_browser import browser

__all__ = ["browser"]  # the Chromium fixture, shared with the map's browser tests

TIME_LIMIT = 15.0
ODD = '二区<b>&"x'
"""A district folder name with markup characters: every page must escape it."""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small generated districts (one renamed to ``ODD``) and one broken copy."""
    root = tmp_path_factory.mktemp("city") / "city"
    layout = generate_city(4_500, 3, 7, root)
    assert [d.name for d in layout] == ["district-01", "district-02", "district-03"]
    (root / "district-02").rename(root / ODD)
    broken = root / "district-04"
    shutil.copytree(root / "district-01", broken)
    header = broken / "scenario.toml"
    header.write_text("windoww_end = 1\n" + header.read_text(encoding="utf-8"), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-process LocalCluster started as a remote one would be (workers not daemonic),
    used through its scheduler address."""
    with (
        dask.config.set({"distributed.worker.daemon": False}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as c,
    ):
        yield str(c.scheduler_address)


@pytest.fixture(scope="module")
def first_run(city: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The city planned on an embedded LocalCluster of 2 workers: OUT and the progress lines."""
    out = tmp_path_factory.mktemp("run") / "out"
    lines: list[str] = []
    plan_city(city, out, workers=2, time_limit=TIME_LIMIT, lang="en", echo=lines.append)
    return out, lines


def _tables(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def test_city_totals_are_the_sums_of_the_districts(first_run: tuple[Path, list[str]]) -> None:
    out, lines = first_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["districts_total"] == 4
    assert summary["districts_planned"] == 3 and summary["districts_failed"] == 1
    planned = ["district-01", ODD, "district-03"]
    districts = [json.loads((out / d / "summary.json").read_text("utf-8")) for d in planned]
    for key in ADDITIVE:
        assert summary["totals"][key] == sum(int(d[key]) for d in districts), key
    assert summary["totals"]["residents_total"] == 4_500
    walk_in = sum(d["residents_walk_in"] for d in districts)
    within = sum(d["residents_within_limit"] for d in districts)
    assert summary["totals"]["coverage"] == pytest.approx(within / walk_in)
    table = pl.read_parquet(out / "districts.parquet")
    assert table["district"].to_list() == sorted(["district-01", ODD, "district-03", "district-04"])
    assert table.filter(pl.col("status") == "planned")["residents_total"].sum() == 4_500
    assert len([line for line in lines if line.startswith("[")]) == 4


def test_city_coverage_and_walk_without_walk_in_residents_are_the_districts() -> None:
    """A district with no walk-in resident has coverage 1.0 in its own summary (nobody is
    left uncovered); a city of such districts says the same, a city with walk-in residents
    the share of the summed counts, and a city with nothing planned has none."""
    from sampling.city.jobs import JobResult
    from sampling.city.outputs import DistrictOutcome, city_totals

    folder = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
    tiny = load_scenario(folder)
    nobody = tiny.buildings.with_columns(pl.col("residents", "yellow_code", "elderly") * 0)
    empty = plan_campaign(tiny.replace(buildings=nobody), time_limit=2, seed=0).summary()
    full = plan_campaign(tiny, time_limit=2, seed=0).summary()
    assert empty["residents_walk_in"] == 0 and empty["coverage"] == 1.0
    assert full["residents_walk_in"] > 0

    def outcome(name: str, summary: dict[str, Any] | None, error: str = "") -> DistrictOutcome:
        job = Job(name, str(folder), name, seed=0, time_limit=2)
        result = JobResult(name, error_kind="internal" if error else "", error=error)
        return DistrictOutcome(job, result, summary)

    assert city_totals([outcome("a", empty)])["coverage"] == empty["coverage"]
    assert city_totals([outcome("a", empty), outcome("b", empty)])["coverage"] == 1.0
    both = city_totals([outcome("a", empty), outcome("b", full)])
    assert both["coverage"] == pytest.approx(full["coverage"])  # the empty one adds nobody
    assert city_totals([])["coverage"] is None
    assert city_totals([outcome("a", None, error="worker died")])["coverage"] is None
    # the mean walk follows the same rule: a district where nobody walks says 0.0
    assert empty["walk_m_mean"] == 0.0
    assert city_totals([outcome("a", empty)])["walk_m_mean"] == empty["walk_m_mean"]
    assert both["walk_m_mean"] == pytest.approx(full["walk_m_mean"])
    assert city_totals([])["walk_m_mean"] is None


def test_broken_district_is_reported_and_the_others_written(
    first_run: tuple[Path, list[str]],
) -> None:
    out, lines = first_run
    assert not (out / "district-04").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (failed,) = summary["failed"]
    assert failed["district"] == "district-04" and failed["error_kind"] == "input"
    assert "windoww_end" in failed["error"] and "unknown key" in failed["error"]
    assert any("district-04: FAILED (input)" in line for line in lines)
    for name in ("district-01", ODD, "district-03"):
        assert (out / name / "index.html").is_file() and (out / name / "map.html").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "windoww_end" in index and 'data-failed="district-04"' in index
    for page in ("index.html", "map.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert "<b>&" not in text and "二区&lt;b&gt;&amp;" in text, page
    check_offline((out / "map.html").read_text(encoding="utf-8"))


def test_district_plans_equal_planning_each_alone(
    first_run: tuple[Path, list[str]], city: Path, tmp_path: Path
) -> None:
    out, _ = first_run
    for name in ("district-01", ODD):
        scenario = load_scenario(city / name)
        plan = plan_campaign(scenario, time_limit=TIME_LIMIT, seed=district_seed(name))
        alone = write_plan(plan, tmp_path / f"alone-{len(name)}", lang="en")
        city_tables, alone_tables = _tables(out / name), _tables(alone)
        assert len(city_tables) >= 8
        assert city_tables == alone_tables, name


def test_rerun_keeps_finished_districts_and_replans_changed_ones(
    first_run: tuple[Path, list[str]], city: Path, cluster: str
) -> None:
    out, _ = first_run
    before = {n: (out / n / "summary.json").stat().st_mtime_ns for n in ("district-01", ODD)}
    edited = city / "district-03" / "scenario.toml"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    lines: list[str] = []
    run = plan_city(
        city, out, scheduler=cluster, time_limit=TIME_LIMIT, lang="en", echo=lines.append
    )
    status = {o.job.name: o.status for o in run.outcomes}
    assert status == {
        "district-01": "up_to_date",
        ODD: "up_to_date",
        "district-03": "planned",
        "district-04": "failed",
    }
    after = {n: (out / n / "summary.json").stat().st_mtime_ns for n in ("district-01", ODD)}
    assert after == before
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["totals"]["residents_total"] == 4_500


def test_cli_exit_code_and_refusals(
    first_run: tuple[Path, list[str]], city: Path, cluster: str, tmp_path: Path
) -> None:
    out, _ = first_run
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputFolderError, match=r"notes\.txt"):
        check_run_folder(out, kind="city", jobs=["district-01"])
    (out / "notes.txt").unlink()
    with pytest.raises(OutputFolderError):
        check_run_folder(out, kind="sweep", jobs=[])  # a city folder is not a sweep folder
    with pytest.raises(OutputFolderError, match="input"):
        check_run_folder(city / "out", kind="city", jobs=[], protected=(city,))
    only_good = tmp_path / "good"
    only_good.mkdir()
    shutil.copytree(city / "district-01", only_good / "district-01")
    code = main(
        [
            "plan-city",
            str(only_good),
            "--out",
            str(tmp_path / "o"),
            "--scheduler",
            cluster,
            "--time-limit",
            str(TIME_LIMIT),
        ]
    )
    assert code == 0
    assert (
        main(
            [
                "plan-city",
                str(city),
                "--out",
                str(out),
                "--scheduler",
                cluster,
                "--time-limit",
                str(TIME_LIMIT),
                "--lang",
                "en",
            ]
        )
        == 2
    )


SWEEP = ["window.end=13:00,15:00", "staff_ratio=0.8,1.2"]


@pytest.fixture(scope="module")
def swept(city: Path, cluster: str, tmp_path_factory: pytest.TempPathFactory) -> SweepRun:
    """District 01 swept over two windows and two staff ratios (English pages)."""
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    return sweep(
        city / "district-01",
        SWEEP,
        out,
        scheduler=cluster,
        time_limit=TIME_LIMIT,
        lang="en",
        echo=lambda _: None,
    )


def test_sweep_writes_a_row_per_combination(swept: SweepRun) -> None:
    out, run = swept.out, swept
    frame = pl.read_parquet(out / "sweep.parquet")
    assert frame.equals(run.frame)
    assert frame.height == 4
    assert frame.select("window.end", "staff_ratio").rows() == [
        ("13:00", "0.8"),
        ("13:00", "1.2"),
        ("15:00", "0.8"),
        ("15:00", "1.2"),
    ]
    assert frame["status"].to_list() == ["planned"] * 4
    assert frame["window_end"].to_list() == ["13:00", "13:00", "15:00", "15:00"]
    for row in frame.iter_rows(named=True):
        summary = json.loads((out / row["variant"] / "summary.json").read_text("utf-8"))
        teams = pl.read_parquet(out / row["variant"] / "shifts.parquet")
        assert summary["window_end"] == row["window.end"]
        assert teams.height > 0
    low, high = (
        json.loads((out / v / "summary.json").read_text("utf-8")) for v in frame["variant"][:2]
    )
    assert low["samplers_available"] < high["samplers_available"]
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 8  # four figures against each of two variables
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


# --------------------------------------------------------------------------- parts


def test_vary_options_and_header_layers() -> None:
    assert parse_vary("window.end=13:00,14:00") == ("window.end", ["13:00", "14:00"])
    assert header_overrides([("sampling.pool_size", "5"), ("window.end", "13:00")]) == {
        "sampling": {"pool_size": 5},
        "window": {"end": "13:00"},
    }
    for bad in ("window.end", "=1", "staff_ratio=0", "staff_ratio=abc", "a=1,1", "x-y=1"):
        with pytest.raises(ScenarioError):
            parse_vary(bad)
    keys, found = variants(["a.b=1,2", "staff_ratio=0.5,1,2"])
    assert keys == ["a.b", "staff_ratio"] and len(found) == 6
    assert len({v.name for v in found}) == 6
    merged = merge_header(
        {"window": {"start": "06:00"}, "date": "2022-01-01"}, {"window": {"end": "13:00"}}
    )
    assert merged == {"window": {"start": "06:00", "end": "13:00"}, "date": "2022-01-01"}


def test_staff_ratio_rescales_medical_teams_on_a_copy(city: Path) -> None:
    scenario = load_scenario(city / "district-01")
    for ratio in (0.5, 1.0, 1.7):
        scaled = with_staff_ratio(scenario, ratio)
        medical = scaled.teams.filter(~pl.col("home_visit"))
        assert medical["samplers"].sum() == max(
            1, -(-samplers_needed(scenario.residents) * ratio // 1)
        )
        home = scaled.teams.filter(pl.col("home_visit"))
        assert home.equals(scenario.teams.filter(pl.col("home_visit")))
    assert load_scenario(city / "district-01").teams.equals(scenario.teams)


def test_seeds_charts_and_outlines() -> None:
    assert district_seed("district-01") == district_seed("district-01")
    assert district_seed("district-01") != district_seed("district-02")
    ticks = nice_ticks(3.0, 97.0)
    assert ticks[0] <= 3.0 and ticks[-1] >= 97.0
    chart = line_chart("t", ["a", "b"], [("s", [1.0, None]), ("u", [2.0, 4.0])], str)
    assert len(chart.series[0].points) == 1 and len(chart.series[1].points) == 2
    assert chart.series[1].points[0][1] > chart.series[1].points[1][1]  # higher value, higher up
    assert len(outline(np.array([1.0]), np.array([2.0]))) == 4
    assert len(outline(np.zeros(3), np.array([0.0, 0.001, 0.002]))) == 4  # on a line: a box


def test_district_outline_follows_an_l_shaped_district() -> None:
    """Buildings every 20 m on an L (a 10 × 10 grid less its 6 × 6 corner): the outline holds
    every building (within the 5 m simplification), leaves the empty corner out (a convex hull
    would cover it) and is a valid polygon."""
    grid = np.array([(i, j) for i in range(10) for j in range(10) if i < 4 or j < 4], float)
    kx = 111_320.0 * np.cos(np.radians(30.0))
    lat, lon = 30.0 + grid[:, 0] * 20 / 111_320.0, 114.0 + grid[:, 1] * 20 / kx
    corners = outline(lat, lon)
    polygon = shapely.Polygon([((x - 114.0) * kx, (y - 30.0) * 111_320.0) for y, x in corners])
    assert polygon.is_valid and len(corners) <= 12
    buildings = shapely.points(grid[:, ::-1] * 20)
    assert float(np.max(shapely.distance(polygon, buildings))) <= 5.0 + 1e-6
    assert not polygon.contains(shapely.Point(140.0, 140.0))  # the empty corner
    assert polygon.area < 0.85 * shapely.multipoints(grid * 20).convex_hull.area


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(ALERT_CODES), st.integers(0, 10**9), max_size=6))
def test_alert_codes_read_back_and_are_worded_in_each_language(counts: dict[str, int]) -> None:
    assert parse_alerts(alerts_text(counts)) == counts
    for lang in ("zh", "en"):
        lines = alert_lines(counts, lang)
        assert len(lines) == len(counts)
        for (code, count), line in zip(counts.items(), lines, strict=True):
            assert line == MAP_LABELS[lang][f"alert_{code}"].format(count=f"{count:,}")
    assert parse_alerts(None) == {} and parse_alerts("garbage · x") == {}


def _alert_cells(html: str) -> list[str]:
    return re.findall(r'<td class="alerts"[^>]*><small>([^<]*)</small></td>', html)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_city_pages_word_alerts_in_the_page_language(
    first_run: tuple[Path, list[str]], swept: SweepRun, lang: str
) -> None:
    """Alerts on the city index (its alert box, table and map) and the sweep table are the
    district map's words in the page's language, never the bare codes of the tables."""
    out, _ = first_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    index = render_index(summary, lang)
    assert summary["totals"]["alerts"], "the small city is expected to raise alerts"
    for alert in summary["totals"]["alerts"]:
        code = alert["code"]
        (line,) = alert_lines({code: alert["count"]}, lang)
        key = "alert_districts_minutes" if code == "finish_after_window" else "alert_districts"
        text = CITY[lang][key].format(alert=line, districts=alert["districts"])
        assert f'<li data-alert="{code}">{escape(text)}</li>' in index
    cells = [c for c in _alert_cells(index) if c]
    assert len(cells) == sum(bool(r["alerts"]) for r in summary["districts"])
    keys, found = variants(SWEEP)
    page = render_sweep("district-01", keys, found, swept.frame, lang)
    cells += [c for c in _alert_cells(page) if c]
    for cell in cells:
        assert not re.search(r"\b(" + "|".join(ALERT_CODES) + r")\b", cell), cell
        if lang == "zh":
            assert re.search(r"[\u4e00-\u9fff]", cell), cell


@pytest.mark.browser
def test_city_pages_fit_a_phone_in_each_language(
    browser: Any,
    first_run: tuple[Path, list[str]],
    swept: SweepRun,
    tmp_path: Path,
) -> None:
    """At 390 × 844 the city index and the sweep page do not scroll sideways, nor does any
    table cell run past the screen (rows are labelled cards), and the alerts are shown in the
    page's language."""
    out, _ = first_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    keys, found = variants(SWEEP)
    ctx = browser.new_context(offline=True, viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        for lang in ("zh", "en"):
            pages = {
                "index": render_index(summary, lang),
                "sweep": render_sweep("district-01", keys, found, swept.frame, lang),
            }
            for kind, html in pages.items():
                path = tmp_path / f"{kind}-{lang}.html"
                path.write_text(html, encoding="utf-8")
                page.goto(path.as_uri(), wait_until="load")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (kind, lang, width)
                cut = page.evaluate(  # cells running past the screen (a box scrolled sideways)
                    "[...document.querySelectorAll('td')]"
                    ".filter((td) => td.getBoundingClientRect().right > innerWidth + 0.5)"
                    ".map((td) => td.innerText)"
                )
                assert not cut, (kind, lang, cut[:3])
                shown = page.evaluate(
                    "[...document.querySelectorAll('li[data-alert], td.alerts')]"
                    ".map((e) => e.innerText.trim()).filter((t) => t)"
                )
                assert shown, (kind, lang)
                wanted = {
                    MAP_LABELS[lang][f"alert_{c}"].split("{count}")[0].strip()
                    or MAP_LABELS[lang][f"alert_{c}"].split("{count}")[-1].strip()
                    for c in ALERT_CODES
                }
                assert all(any(w in text for w in wanted) for text in shown), (kind, lang)
    finally:
        ctx.close()


def test_a_daemonic_worker_is_refused_with_what_to_do(city: Path, tmp_path: Path) -> None:
    """Planning starts child processes (routing engines); a daemonic worker cannot, so the
    job says how to start the workers instead of failing inside the routing."""
    job = Job("district-01", str(city / "district-01"), str(tmp_path / "o"), 1, TIME_LIMIT)
    with multiprocessing.get_context("fork").Pool(1) as pool:  # pool workers are daemonic
        result = pool.apply(run_job, (job,))
    assert result.error_kind == "input" and "DASK_DISTRIBUTED__WORKER__DAEMON=False" in result.error
    assert not (tmp_path / "o").exists()


def test_embedded_cluster_serves_its_dashboard() -> None:
    """The embedded LocalCluster's dashboard link opens a page (bokeh is installed)."""
    import urllib.request

    from sampling.city.cluster import dashboard_link, dask_client, has_bokeh

    assert has_bokeh()
    with dask_client(workers=1) as client:
        link = dashboard_link(client)
        assert link is not None and link.startswith("http://")
        with urllib.request.urlopen(link, timeout=30) as page:
            assert page.status == 200 and b"Dask" in page.read()


def test_ctrl_c_stops_a_city_run_and_leaves_nothing_running(tmp_path: Path) -> None:
    """Ctrl-C during ``plan-city`` exits 130 within seconds, kills every worker process it
    started, writes no district, and a rerun then plans the whole city."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    city, out = tmp_path / "city", tmp_path / "out"
    generate_city(120_000, 2, 3, city)
    natplan = [sys.executable, "-c", "import sys; from sampling.cli import main; sys.exit(main())"]
    run = subprocess.Popen(
        [*natplan, "plan-city", str(city), "--out", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    for line in run.stdout:  # the districts are submitted once this line is printed
        if "districts →" in line:
            break
    started = time.monotonic()
    seen: set[int] = set()
    while time.monotonic() - started < 3.0:  # districts are planning now
        seen |= {child.pid for child in psutil.Process(run.pid).children(recursive=True)}
        time.sleep(0.2)
    assert seen, "the city run started no worker processes"
    run.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err[-2000:]
    assert time.monotonic() - stopped < 30
    assert "interrupted" in err
    time.sleep(1.0)
    alive = [
        pid
        for pid in seen
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []
    assert not [p for p in out.iterdir() if p.is_dir()]  # no district half-written
    rerun = ["plan-city", str(city), "--out", str(out), "--workers", "2", "--time-limit", "2"]
    assert main(rerun) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["district-01", "district-02"]
