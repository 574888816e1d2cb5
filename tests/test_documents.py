"""Human-facing documents: point sheets, grid lists, team itineraries, workbook, index."""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import polars as pl
import pytest

from sampling import load_scenario
from sampling.documents.html import css_string, environment, label_namespace, template
from sampling.documents.supplies import SPARE_SHARE
from sampling.documents.write import DocumentsSummary, write_documents
from sampling.i18n import (
    KINDS,
    KPI,
    LABELS,
    MAP_LABELS,
    REASONS,
    STATUSES,
    kind_label,
    labels,
    reason_label,
    status_label,
)
from sampling.output.write import write_plan
from sampling.scenario.model import Scenario
from sampling.stages.assignment import UnservedReason
from sampling.stages.planning import plan_campaign

ROOT = Path(__file__).resolve().parents[1]
SHEETS = [
    "summary",
    "points",
    "assignments",
    "shifts",
    "timetable",
    "shortfall",
    "capacity_plan",
    "not_called",
    "home_visits",
    "routes",
    "transport_trips",  # yuci-street has labs and vehicles
    "transport_tubes",
    "lab_load",
    "results",
]
SPAN = re.compile(r"(\d\d:\d\d)–(\d\d:\d\d)")


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cell texts (thead, tbody and tfoot rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(path: Path) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def number(text: str) -> int:
    return int(text.replace(",", "")) if text else 0


def tags_of(path: Path) -> list[str]:
    """The page's tag sequence (structure without text)."""
    return re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)", path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "yuci-street")


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario) -> Path:
    """yuci-street planned and written once (no documents yet)."""
    out = tmp_path_factory.mktemp("plan") / "yuci"
    write_plan(plan_campaign(scenario, time_limit=3), out)
    return out


def _with_docs(src: Path, dst: Path, scenario: Scenario, lang: str) -> DocumentsSummary:
    shutil.copytree(src, dst)
    return write_documents(dst, scenario, lang=lang)


@pytest.fixture(scope="module")
def zh(tmp_path_factory: pytest.TempPathFactory, plan_dir: Path, scenario: Scenario) -> Path:
    out = tmp_path_factory.mktemp("zh") / "out"
    _with_docs(plan_dir, out, scenario, "zh")
    return out


@pytest.fixture(scope="module")
def en(tmp_path_factory: pytest.TempPathFactory, plan_dir: Path, scenario: Scenario) -> Path:
    out = tmp_path_factory.mktemp("en") / "out"
    _with_docs(plan_dir, out, scenario, "en")
    return out


def _read(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / f"{name}.parquet")


def _grid_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _html_files(out: Path) -> Iterator[Path]:
    yield out / "index.html"
    for folder in ("points", "grids", "teams"):
        yield from sorted((out / folder).glob("*.html"))


def test_one_point_page_per_open_point(zh: Path) -> None:
    points = _read(zh, "points")
    open_ids = set(points.filter(pl.col("open"))["point_id"].to_list())
    assert {p.stem for p in (zh / "points").glob("*.html")} == open_ids


def test_one_grid_list_per_grid(zh: Path) -> None:
    grids = set(_read(zh, "assignments")["grid_id"].unique().to_list())
    assert {p.stem for p in (zh / "grids").glob("*.csv")} == grids
    assert {p.stem for p in (zh / "grids").glob("*.html")} == grids


def test_served_buildings_listed_once_in_their_grid_with_call_times(zh: Path) -> None:
    lab = labels("zh")
    assignments = _read(zh, "assignments")
    timetable = _read(zh, "timetable").sort("call_start_min")
    seen: dict[str, str] = {}
    rows_by_building: dict[str, dict[str, str]] = {}
    for path in (zh / "grids").glob("*.csv"):
        for row in _grid_csv(path):
            bid = row[lab["col_building_id"]]
            assert bid not in seen, f"{bid} listed in {seen.get(bid)} and {path.stem}"
            seen[bid] = path.stem
            rows_by_building[bid] = row
    for b in assignments.filter(pl.col("point_id").is_not_null()).iter_rows(named=True):
        bid = b["building_id"]
        assert seen[bid] == b["grid_id"]
        row = rows_by_building[bid]
        calls = timetable.filter(pl.col("building_id") == bid)
        for yellow, key in ((False, "col_call_times"), (True, "col_yellow_call_times")):
            expected = [
                (r["call_start"], r["call_end"])
                for r in calls.filter(pl.col("yellow_code") == yellow).iter_rows(named=True)
            ]
            assert SPAN.findall(row[lab[key]]) == expected, bid
        regular = int(calls.filter(~pl.col("yellow_code"))["residents"].sum())
        assert number(row[lab["col_residents_called"]]) == regular
        assert row[lab["col_point_id"]] == b["point_id"]


def test_point_timetable_adds_up_to_its_load(zh: Path) -> None:
    points = _read(zh, "points").filter(pl.col("open"))
    for p in points.iter_rows(named=True):
        timetable = tables_of(zh / "points" / f"{p['point_id']}.html")[0]  # leads the sheet
        assert timetable[0][0] == labels("zh")["slot"]
        header, body, total = timetable[0], timetable[1:-1], timetable[-1]
        col = header.index(labels("zh")["residents"])
        called = sum(number(r[col]) for r in body)
        assert called == p["load"] - p["not_called"]
        assert number(total[col]) == called
        yellow = [r for r in body if labels("zh")["call_yellow"] in r[-1]]
        tt = _read(zh, "timetable").filter(pl.col("point_id") == p["point_id"])
        assert len(yellow) == tt.filter(pl.col("yellow_code")).height


def test_supplies_arithmetic(zh: Path, scenario: Scenario) -> None:
    lab = labels("zh")
    pool = scenario.header.sampling.pool_size
    ypool = scenario.header.sampling.yellow_pool_size
    timetable = _read(zh, "timetable")
    shifts = _read(zh, "shifts")
    for pid in _read(zh, "points").filter(pl.col("open"))["point_id"].to_list():
        tt = timetable.filter(pl.col("point_id") == pid)
        regular = int(tt.filter(~pl.col("yellow_code"))["residents"].sum())
        yellow = int(tt.filter(pl.col("yellow_code"))["residents"].sum())
        sampler_shifts = int(shifts.filter(pl.col("point_id") == pid)["tables"].sum())
        tubes = math.ceil(regular / pool) + math.ceil(yellow / ypool)
        expected = {
            lab["swabs"]: (regular + yellow, math.ceil((regular + yellow) * SPARE_SHARE)),
            lab["tubes"]: (tubes, math.ceil(tubes * SPARE_SHARE)),
            lab["suits"]: (sampler_shifts, math.ceil(sampler_shifts * SPARE_SHARE)),
        }
        supplies = next(
            t for t in tables_of(zh / "points" / f"{pid}.html") if t[0][0] == lab["item"]
        )
        rows = {r[0]: r for r in supplies[1:]}
        for item, (need, spare) in expected.items():
            _, got_need, got_spare, got_total, _rule = rows[item]
            assert (number(got_need), number(got_spare)) == (need, spare), (pid, item)
            assert number(got_total) == need + spare
        assert number(rows[lab["registrars"]][1]) == sampler_shifts


def test_workbook_sheets_header_and_clocks(zh: Path) -> None:
    lab = labels("zh")  # sheet names in the plan's language (English: the table names)
    with zipfile.ZipFile(zh / "plan.xlsx") as book:
        workbook = book.read("xl/workbook.xml").decode("utf-8")
        sheets = re.findall(r'<sheet name="([^"]+)"', workbook)
        assert sheets == [lab[f"xlsx_sheet_{s}"] for s in SHEETS]
        strings = book.read("xl/sharedStrings.xml").decode("utf-8")
        assert "<t>07:00</t>" not in strings  # clocks are Excel times (tests/test_xlsx.py)
        sheet = book.read("xl/worksheets/sheet2.xml").decode("utf-8")  # points
        assert 'ySplit="1"' in sheet and 'state="frozen"' in sheet
        styles = book.read("xl/styles.xml").decode("utf-8")
        assert "<b/>" in styles and 'formatCode="[hh]:mm"' in styles


def test_team_pages_follow_routes(zh: Path) -> None:
    routes = _read(zh, "routes")
    visits = _read(zh, "home_visits")
    assert {p.stem for p in (zh / "teams").glob("*.html")} == set(routes["team_id"].to_list())
    for r in routes.iter_rows(named=True):
        itinerary = tables_of(zh / "teams" / f"{r['team_id']}.html")[-1]
        body = itinerary[1:-1]
        expected = visits.filter(pl.col("team_id") == r["team_id"]).sort("seq")
        assert [row[1] for row in body] == expected["household_id"].to_list()
        assert [row[4] for row in body] == expected["arrive"].to_list()


def test_grid_lists_show_home_visits(zh: Path) -> None:
    lab = labels("zh")
    visits = _read(zh, "home_visits").join(
        _read(zh, "assignments").select("building_id", "grid_id"), on="building_id"
    )
    for (gid,), part in visits.group_by("grid_id"):
        rows = _grid_csv(zh / "grids" / f"{gid}.csv")
        listed = sum(number(r[lab["col_hv_households"]]) for r in rows)
        assert listed == part.height
        text = (zh / "grids" / f"{gid}.html").read_text(encoding="utf-8")
        for household in part["household_id"].to_list():
            assert household in text


def test_zh_and_en_differ_in_labels_not_structure(zh: Path, en: Path) -> None:
    zh_files = sorted(p.relative_to(zh) for p in zh.rglob("*") if p.is_file())
    en_files = sorted(p.relative_to(en) for p in en.rglob("*") if p.is_file())
    assert zh_files == en_files
    for rel in ("index.html", "points/P01.html", "grids/G01.html", "teams/HT001.html"):
        assert tags_of(zh / rel) == tags_of(en / rel), rel
        assert (zh / rel).read_text(encoding="utf-8") != (en / rel).read_text(encoding="utf-8")
    assert labels("zh")["supplies"] in (zh / "points" / "P01.html").read_text(encoding="utf-8")
    assert labels("en")["supplies"] in (en / "points" / "P01.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in (zh / "index.html").read_text(encoding="utf-8")


def test_pages_are_self_contained(zh: Path) -> None:
    for path in _html_files(zh):
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path
        assert "<script" not in text, path
    index = (zh / "index.html").read_text(encoding="utf-8")
    for target in ("map.html", "summary.json", "plan.xlsx", "points/P01.html", "grids/G01.csv"):
        assert f'href="{target}"' in index


def test_values_are_escaped(plan_dir: Path, scenario: Scenario, tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    buildings = scenario.buildings.with_columns(
        pl.when(pl.col("building_id") == "B0001")
        .then(pl.lit(evil))
        .otherwise(pl.col("name"))
        .alias("name")
    )
    assert scenario.grids is not None
    grids = scenario.grids.with_columns(
        pl.when(pl.col("grid_id") == "G01")
        .then(pl.lit('=HYPERLINK("x") & <b>'))
        .otherwise(pl.col("name"))
        .alias("name")
    )
    hacked = scenario.replace(buildings=buildings, grids=grids)
    _with_docs(plan_dir, tmp_path / "out", hacked, "zh")
    out = tmp_path / "out"
    for path in _html_files(out):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text and "<b>" not in text, path
    grid = (out / "grids" / "G01.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in grid  # markupsafe's entities
    assert "&amp; &lt;b&gt;" in grid
    style = grid.split("<style>", 1)[1].split("</style>", 1)[0]  # running header of print
    assert "<" not in style and "&" not in style and "\\3c b\\3e" in style
    point = _read(out, "assignments").filter(pl.col("building_id") == "B0001")["point_id"][0]
    assert "&lt;script&gt;" in (out / "points" / f"{point}.html").read_text(encoding="utf-8")
    rows = _grid_csv(out / "grids" / "G01.csv")
    name = next(r for r in rows if r[labels("zh")["col_building_id"]] == "B0001")
    assert name[labels("zh")["col_building_name"]] == evil  # CSV keeps the raw text


def _css_unescape(text: str) -> str:
    """A CSS string's value: hex escapes decoded, quotes dropped."""
    assert text[0] == text[-1] == '"'
    return re.sub(r"\\([0-9a-f]{1,6}) ?", lambda m: chr(int(m.group(1), 16)), text[1:-1])


def test_css_string_holds_any_text_safely() -> None:
    """The running header's text in a <style> element: nothing can end the string, the rule or
    the element, and the browser reads back exactly the text."""
    for text in ['a"b\\c}</style><script>x</script>', "东关小学 (P01) · 2026-05-01", "x\n\ty", ""]:
        quoted = str(css_string(text))
        inner = quoted[1:-1]
        assert not set(inner) & set("\"'<>&{};\n\t"), quoted  # letters, digits, hex escapes
        assert _css_unescape(quoted) == text
    assert str(css_string("a b")) == '"a b"'  # plain text stays readable


def _cell_labels(path: Path) -> list[tuple[list[str], list[list[str | None]]]]:
    """Per table: header texts and, per body/foot row, each cell's data-label (None: none)."""

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables: list[tuple[list[str], list[list[str | None]]]] = []
            self.th: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.tables.append(([], []))
            elif tag == "tr":
                self.tables[-1][1].append([])
            elif tag == "th":
                self.th = []
            elif tag == "td":
                self.tables[-1][1][-1].append(dict(attrs).get("data-label"))

        def handle_endtag(self, tag: str) -> None:
            if tag == "th" and self.th is not None:
                self.tables[-1][0].append("".join(self.th).strip())
                self.th = None

        def handle_data(self, data: str) -> None:
            if self.th is not None:
                self.th.append(data)

    parser = Parser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_cell_carries_its_column_header(lang: str, request: pytest.FixtureRequest) -> None:
    """On a phone each table row becomes a card whose cells show ``data-label``: it must be
    the column's header, on every cell of every table (a total row's first cell, which says
    "total", may go without)."""
    out: Path = request.getfixturevalue(lang)
    tables = 0
    for path in _html_files(out):
        for header, rows in _cell_labels(path):
            tables += 1
            assert header, path
            for row in rows:
                if not row:  # the header row
                    continue
                assert len(row) == len(header), (path, header, row)
                for i, (label, th) in enumerate(zip(row, header, strict=True)):
                    if label is None and i == 0 and row is rows[-1]:
                        continue
                    if label != th:  # a total cell may name what it counts
                        assert row is rows[-1] and label, (path.name, i, label, th)
    assert tables > 10


def test_without_home_visit_stage(plan_dir: Path, scenario: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(plan_dir, out)
    for name in ("home_visits", "routes", "route_stops"):
        (out / f"{name}.parquet").unlink()
    shutil.rmtree(out / "teams", ignore_errors=True)  # rendered by the plan run itself
    summary = write_documents(out, scenario, lang="en")
    assert summary.team_pages == 0 and not (out / "teams").exists()
    header = next(csv.reader(io.StringIO((out / "grids" / "G01.csv").read_text("utf-8-sig"))))
    assert labels("en")["col_hv_households"] not in header
    with zipfile.ZipFile(out / "plan.xlsx") as book:
        sheets = re.findall(r'<sheet name="([^"]+)"', book.read("xl/workbook.xml").decode())
    assert sheets == [s for s in SHEETS if s not in ("home_visits", "routes")]


def test_nothing_written_when_rendering_fails(
    plan_dir: Path, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(plan_dir, out)
    before = sorted(p.name for p in out.iterdir())

    def boom(*_: object, **__: object) -> bytes:
        raise RuntimeError("disk says no")

    monkeypatch.setattr("sampling.documents.write.workbook_bytes", boom)
    with pytest.raises(RuntimeError):
        write_documents(out, scenario)
    assert sorted(p.name for p in out.iterdir()) == before


def test_summary_counts(zh: Path, plan_dir: Path, scenario: Scenario, tmp_path: Path) -> None:
    summary = _with_docs(plan_dir, tmp_path / "out", scenario, "zh")
    assert summary.point_pages == _read(zh, "points").filter(pl.col("open")).height
    assert summary.grid_lists == len(list((zh / "grids").glob("*.csv")))
    assert summary.team_pages == _read(zh, "routes").height
    assert summary.index.exists()
    assert summary.bytes == sum((summary.out_dir / f).stat().st_size for f in summary.files)


def test_unserved_buildings_are_escalated(tmp_path: Path) -> None:
    """tiny (planar) has a building out of reach: its grid list says so, with the reason."""
    scenario = load_scenario(ROOT / "scenarios" / "tiny")
    out = tmp_path / "tiny"
    write_plan(plan_campaign(scenario, time_limit=3), out)
    write_documents(out, scenario, lang="en")
    lab = labels("en")
    unserved = _read(out, "assignments").filter(
        pl.col("point_id").is_null() & (pl.col("walk_in") > 0)
    )
    assert unserved.height > 0
    for b in unserved.iter_rows(named=True):
        rows = _grid_csv(out / "grids" / f"{b['grid_id']}.csv")
        row = next(r for r in rows if r[lab["col_building_id"]] == b["building_id"])
        assert row[lab["col_escalate"]] == lab["yes"]
        limit = scenario.header.walking.limit_min
        text = reason_label(b["unserved_reason"], "en", walk_limit_min=limit)
        assert text in row[lab["col_status"]]
        if b["unserved_reason"] == UnservedReason.OUT_OF_REACH:
            assert f"within {limit:g} min" in row[lab["col_status"]]
        page = tables_of(out / "grids" / f"{b['grid_id']}.html")
        escalated = next(t for t in page if t[0][0] == lab["building"])
        assert any(b["building_id"] in r[0] for r in escalated[1:])
    point = next((out / "points").glob("*.html")).read_text(encoding="utf-8")
    assert " m, y " in point  # planar coordinates shown in metres


def test_label_tables_have_the_same_keys() -> None:
    for table in (LABELS, MAP_LABELS, KPI, KINDS, REASONS, STATUSES):
        assert set(table) == {"zh", "en"}
        assert set(table["zh"]) == set(table["en"])
    for lang in ("zh", "en"):  # the same {fields} in both languages
        for table in (LABELS, MAP_LABELS, REASONS):
            for key, text in table[lang].items():
                other = table["en" if lang == "zh" else "zh"][key]
                assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", other))
    with pytest.raises(ValueError):
        labels("fr")
    assert reason_label("out_of_reach", "zh", walk_limit_min=15.0) == "15 分钟步行范围内无采样点"
    assert (
        reason_label("out_of_reach", "en", walk_limit_min=12.5) == "no point within 12.5 min walk"
    )
    assert reason_label("something new", "en") == "something new"
    assert reason_label(None, "zh") == ""
    assert status_label("shortfall", "zh") == "有缺口" and status_label("new", "en") == "new"
    assert kind_label("school", "en") == "school ground" and kind_label(None, "zh") == ""
    for lookup in (reason_label, status_label, kind_label):
        with pytest.raises(ValueError):
            lookup("capacity", "fr")


def test_templates_escape_everything_and_refuse_unknown_names() -> None:
    env = environment()
    names = env.list_templates()
    assert {"base.html", "index.html", "point.html", "grid.html", "team.html"} <= set(names)
    assert callable(env.autoescape)
    assert all(env.autoescape(n) for n in [*names, "x.css", "x.txt", None])
    assert env.from_string("{{ x }}|{{ y }}").render(x="<b>&", y=None) == "&lt;b&gt;&amp;|"
    with pytest.raises(jinja2.UndefinedError):
        template("team.html").render(lab=label_namespace(labels("en")))
