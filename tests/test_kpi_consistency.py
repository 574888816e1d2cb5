"""The same figures everywhere: summary.json, the console, index.html and the map panel.

A small planar district is built so that its plan has a few residents without a point (one
building out of walking reach) and a few assigned but not called (the only team arrives at
09:00, so the staffed tables swab less in the window than the assignment planned, and
``overflow = "unserved"`` calls nobody after it). The plan is run through the command line
in English and Chinese; every count and share the console prints, the index shows and the
map panel carries is checked against ``summary.json``, and no part is printed as 100 %.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest

from maps.i18n import format_kpi
from sampling.cli import main
from sampling.documents.html import fmt_int
from sampling.output.mapping import map_kpis
from sampling.report import percent

SCENARIO = """name = "kpi-check"
date = "2022-04-28"
coordinates = "planar"

[window]
start = "07:00"
end = "14:00"

[assignment]
overflow = "unserved"
"""


def _district(root: Path) -> Path:
    """Two points, eight buildings of 150 in reach, one of 40 out of reach, one late team."""
    root.mkdir()
    (root / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    (root / "points.csv").write_text("point_id,x,y,max_tables\nP1,0,0,4\nP2,400,0,4\n", "utf-8")
    (root / "teams.csv").write_text(
        "team_id,samplers,available_from,available_to,x,y\nT1,4,09:00,14:00,0,0\n", "utf-8"
    )
    rows = [f"B{i},G{(i + 1) // 2},{i * 50},100,150,0" for i in range(1, 9)]
    rows.append("B9,G9,9000,9000,40,0")
    (root / "buildings.csv").write_text(
        "building_id,grid_id,x,y,residents,yellow_code\n" + "\n".join(rows) + "\n", "utf-8"
    )
    return root


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The plan in both languages: its folder and what ``natplan plan`` printed on stdout."""
    base = tmp_path_factory.mktemp("kpi")
    scenario = _district(base / "district")
    out: dict[str, tuple[Path, str]] = {}
    for lang in ("en", "zh"):
        folder = base / f"out-{lang}"
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(
                ["plan", str(scenario), "--out", str(folder), "--time-limit", "2", "--lang", lang]
            )
        assert code == 0
        out[lang] = (folder, buffer.getvalue())
    return out


def _summary(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "summary.json").read_text("utf-8"))
    return data


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _text(page: str) -> str:
    """The visible text of an HTML page, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_district_has_unserved_and_not_called_residents(
    planned: dict[str, tuple[Path, str]],
) -> None:
    folder, _ = planned["en"]
    s = _summary(folder)
    unserved, not_called = _int(s["residents_unserved"]), _int(s["residents_not_called"])
    assert 0 < unserved < _int(s["residents_walk_in"]) // 10
    assert 0 < not_called < _int(s["residents_walk_in"]) // 2
    # the summary's own identities
    assert _int(s["residents_assigned"]) + unserved == _int(s["residents_walk_in"])
    assert s["coverage"] == _int(s["residents_within_limit"]) / _int(s["residents_walk_in"])
    # the counts behind them are the tables' counts
    a = pl.read_parquet(folder / "assignments.parquet")
    assert int(a.filter(pl.col("point_id").is_null())["walk_in"].sum()) == unserved
    nc = pl.read_parquet(folder / "not_called.parquet")
    assert int(nc["not_called"].sum()) == not_called
    calls = pl.read_parquet(folder / "timetable.parquet")
    assert int(calls["residents"].sum()) == _int(s["residents_assigned"]) - not_called
    codes = {str(x["code"]): x["count"] for x in s["alerts"]}  # type: ignore[attr-defined]
    assert codes["unserved"] == unserved and codes["not_called"] == not_called


def test_console_says_what_the_summary_says(planned: dict[str, tuple[Path, str]]) -> None:
    for folder, console in planned.values():
        s = _summary(folder)
        walk_in, assigned = _int(s["residents_walk_in"]), _int(s["residents_assigned"])
        not_called, unserved = _int(s["residents_not_called"]), _int(s["residents_unserved"])
        first = console.splitlines()[0]
        assert (
            f"{assigned - not_called:,} of {walk_in:,} walk-in residents have a call"
            f" ({assigned:,} assigned to a point, {not_called:,} of them not called,"
        ) in first
        assert f"{unserved:,} without a point" in first
        assert f"warning: {unserved:,} residents in " in console
        assert f"warning: {not_called:,} assigned residents in " in console
        # the simulated p95 is over runs of the one day, not over days
        runs = _int(s["sim_replications"])
        assert f"simulated p95 {s['sim_finish_p95']} over {runs} simulated runs of the day" in (
            console
        )
        assert " days)" not in console and "100.0%" not in console


def test_index_says_what_the_summary_says(planned: dict[str, tuple[Path, str]]) -> None:
    for lang, (folder, _) in planned.items():
        s = _summary(folder)
        page = _text((folder / "index.html").read_text("utf-8"))
        coverage = s["coverage"]
        assert isinstance(coverage, float) and 0.0 < coverage < 1.0
        shown = percent(coverage)
        assert shown in page and not shown.startswith("100")
        within, walk_in = _int(s["residents_within_limit"]), _int(s["residents_walk_in"])
        of = "of" if lang == "en" else "/"
        assert f"{fmt_int(within)} {of} {fmt_int(walk_in)}" in page
        # the key figures name the residents without a call, as the map panel does
        label = "Assigned but not called" if lang == "en" else "已分配但未安排呼叫"
        assert f"{label} {fmt_int(s['residents_not_called'])}" in page
        # the alert box names the same counts as the summary's alerts
        for alert in s["alerts"]:  # type: ignore[attr-defined]
            if alert["code"] in ("unserved", "not_called", "deficit"):
                assert fmt_int(alert["count"]) in page
        assert "100.0%" not in page and "100.0 %" not in page
        if lang == "en":
            assert "simulated runs of the day" in page or "late_points" not in str(s["alerts"])


def test_map_panel_says_what_the_summary_says(planned: dict[str, tuple[Path, str]]) -> None:
    for lang, (folder, _) in planned.items():
        s = _summary(folder)
        kpis = map_kpis(s, lang)
        assert kpis["residents_walk_in"] == s["residents_walk_in"]
        assert kpis["residents_assigned"] == s["residents_assigned"]
        assert kpis["residents_unserved"] == s["residents_unserved"]
        assert kpis["residents_not_called"] == s["residents_not_called"]
        _, shown = format_kpi("coverage", s["coverage"], lang)  # type: ignore[arg-type]
        assert shown == percent(s["coverage"]) and not shown.startswith("100")
        page = (folder / "map.html").read_text("utf-8")
        assert shown in page
