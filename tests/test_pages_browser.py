"""The printable pages in a real (headless, offline) Chromium: on a phone, at a desk, on A4.

``scenarios/tiny`` (which has an unreachable building, so a grid list with a status) and
``yuci-street`` (short time limit) are planned once for the module, with documents in Chinese
and English. On a 390×844 phone screen the index, a point sheet, a grid call list and a team
itinerary must not scroll sideways, the columns their readers need (yellow code, home visits and
status for the grid leader; visit window and note for the home-visit team) must be on screen,
names must not wrap one character per line and the point sheet's call timetable must start on
the first screen. At a desk and on paper tables stay tables. Printed to PDF, every page carries
the running header (page heading, scenario and date) and ``page / pages``.

Needs Debian's chromium (see ``tests/test_map_browser.py``) and ``pypdf`` (dev extra) for the
PDF text.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from sampling import load_scenario
from sampling.documents.write import write_documents
from sampling.i18n import labels
from sampling.output.write import write_plan
from sampling.stages.planning import plan_campaign
from tests.test_map_browser import browser

__all__ = ["browser"]  # the Chromium fixture, shared with the map's browser tests

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
A4_WIDTH_PX = 711
"""Width of the A4 text area (210 mm less 2 × 11 mm margins) in CSS pixels."""
SCENARIOS = ("tiny", "yuci-street")
LANGS = ("zh", "en")


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """(scenario, lang) → plan folder with documents; each scenario planned once."""
    out: dict[tuple[str, str], Path] = {}
    for name in SCENARIOS:
        scenario = load_scenario(ROOT / "scenarios" / name)
        plan = tmp_path_factory.mktemp(name) / "plan"
        write_plan(plan_campaign(scenario, time_limit=2), plan)
        for lang in LANGS:
            folder = plan.parent / lang
            shutil.copytree(plan, folder)
            write_documents(folder, scenario, lang=lang)
            out[name, lang] = folder
    return out


def _filled(path: Path, label: str) -> int:
    """Cells labelled ``label`` with text in them (as written, before any CSS)."""
    pattern = re.compile(r'<td[^>]*data-label="' + re.escape(label) + r'">[^<]')
    return len(pattern.findall(path.read_text(encoding="utf-8")))


def _pick(folder: Path, wanted: list[str]) -> Path:
    """The page of ``folder`` with the most of the ``wanted`` columns filled in somewhere
    (ties: the first by name), so the check sees as many of them as the plan has."""
    pages = sorted(folder.glob("*.html"))
    assert pages, folder
    return max(pages, key=lambda p: (sum(_filled(p, w) > 0 for w in wanted), -pages.index(p)))


def _pages(folder: Path, lang: str) -> dict[str, tuple[Path, list[str]]]:
    """Page kind → (the page checked, labels of the columns its reader needs on screen)."""
    lab = labels(lang)
    grid_keys = [lab["col_yellow_call_times"], lab["yellow_called"], lab["hv_short"], lab["status"]]
    team_keys = [lab["visit_window"], lab["note"]]
    pages = {
        "index": (folder / "index.html", [lab["point"], lab["residents"]]),
        "point": (sorted((folder / "points").glob("*.html"))[0], [lab["slot"], lab["residents"]]),
        "grid": (_pick(folder / "grids", grid_keys), grid_keys),
        "team": (_pick(folder / "teams", team_keys), team_keys),
    }
    if (folder / "vehicles").is_dir():  # a plan with transport (yuci-street has labs)
        vehicle_keys = [lab["vehicle_time"], lab["vehicle_place"]]
        pages["vehicle"] = (_pick(folder / "vehicles", vehicle_keys), vehicle_keys)
    return pages


_LAYOUT = """(keys) => {
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return getComputedStyle(el).display !== 'none' && r.width > 0 && r.left >= 0
      && r.right <= document.documentElement.clientWidth;
  };
  const cells = {};
  for (const key of keys) {
    const filled = [...document.querySelectorAll('td')].filter(
      (td) => td.dataset.label === key && td.textContent.trim() !== '');
    cells[key] = [filled.length, filled.filter(inView).length];
  }
  // squeezed text: a cell's text broken into more lines than a third of its characters (a
  // Chinese name one or two characters per line)
  const squeezed = [];
  for (const td of document.querySelectorAll('td')) {
    if (getComputedStyle(td).display === 'none') continue;
    for (const node of td.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      const text = node.textContent.trim();
      if (text.length < 4) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      if (lines > Math.max(1, text.length / 3)) squeezed.push(text + ' → ' + lines + ' lines');
    }
  }
  const th = document.querySelector('thead th');
  return {
    scrollWidth: document.documentElement.scrollWidth,
    cells,
    squeezed,
    headerShown: th !== null && getComputedStyle(th).display !== 'none'
      && th.getBoundingClientRect().height > 0,
  };
}"""


def _layout(page: Any, path: Path, keys: list[str]) -> dict[str, Any]:
    page.goto(path.resolve().as_uri(), wait_until="load")
    result: dict[str, Any] = page.evaluate(_LAYOUT, keys)
    return result


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", SCENARIOS)
def test_phone_pages_fit_390_px_with_key_columns_on_screen(
    browser: Any, docs: dict[tuple[str, str], Path], name: str, lang: str
) -> None:
    ctx = browser.new_context(offline=True, viewport=PHONE)
    try:
        page = ctx.new_page()
        pages = _pages(docs[name, lang], lang)
        assert name != "yuci-street" or "vehicle" in pages, "yuci-street has labs and vehicles"
        for kind, (path, keys) in pages.items():
            got = _layout(page, path, keys)
            where = f"{name}/{lang}/{kind}: {path.name}"
            assert got["scrollWidth"] <= PHONE["width"], (where, got["scrollWidth"])
            assert not got["headerShown"], f"{where}: a table header row on a phone (not cards)"
            assert not got["squeezed"], (where, got["squeezed"][:5])
            for key, (filled, visible) in got["cells"].items():
                assert visible == filled, f"{where}: {key} {visible}/{filled} cells on screen"
            # the columns are in the plan: tiny has an unreachable building (status), yellow-code
            # calls and home visits, both have visit windows and notes; yuci-street may have no
            # grid with a status
            if kind != "grid" or name == "tiny":
                assert all(filled for filled, _ in got["cells"].values()), (where, got["cells"])
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", LANGS)
def test_point_sheet_leads_with_the_call_timetable(
    browser: Any, docs: dict[tuple[str, str], Path], lang: str
) -> None:
    """On a phone the timetable's first call is on the first screen, the roster follows it and
    key figures come after both."""
    lab = labels(lang)
    path = sorted((docs["yuci-street", lang] / "points").glob("*.html"))[0]
    ctx = browser.new_context(offline=True, viewport=PHONE)
    try:
        page = ctx.new_page()
        page.goto(path.resolve().as_uri(), wait_until="load")
        tops = page.evaluate(
            """(slot) => ({
              call: document.querySelector(`td[data-label="${slot}"]`).getBoundingClientRect().top,
              roster: document.getElementById('roster').getBoundingClientRect().top,
              figures: document.getElementById('figures').getBoundingClientRect().top,
            })""",
            lab["slot"],
        )
    finally:
        ctx.close()
    assert tops["call"] < PHONE["height"], tops
    assert tops["call"] < tops["roster"] < tops["figures"], tops


@pytest.mark.parametrize("lang", LANGS)
def test_desk_and_paper_show_full_tables(
    browser: Any, docs: dict[tuple[str, str], Path], lang: str
) -> None:
    """At a desk (1,280 px) and in print media at the A4 text width the tables are tables
    (header rows shown) and fit without sideways scrolling."""
    for media, viewport in (("screen", DESK), ("print", {"width": A4_WIDTH_PX, "height": 1000})):
        ctx = browser.new_context(offline=True, viewport=viewport)
        try:
            page = ctx.new_page()
            page.emulate_media(media=media)
            for name in SCENARIOS:
                for kind, (path, keys) in _pages(docs[name, lang], lang).items():
                    got = _layout(page, path, keys)
                    where = f"{media}: {name}/{lang}/{kind}: {path.name}"
                    assert got["headerShown"], where
                    assert got["scrollWidth"] <= viewport["width"], (where, got["scrollWidth"])
                    assert not got["squeezed"], (where, got["squeezed"][:5])
        finally:
            ctx.close()


@pytest.mark.parametrize("lang", LANGS)
def test_printed_pages_carry_running_header_and_page_numbers(
    browser: Any, docs: dict[tuple[str, str], Path], lang: str
) -> None:
    """A4 PDFs of a point sheet and a team itinerary: every page shows the page heading's id,
    the scenario and date, and ``n / N``."""
    if os.environ.get("CI"):
        import pypdf  # a dev dependency: CI must have it
    else:
        pypdf = pytest.importorskip("pypdf")
    folder = docs["yuci-street", lang]
    scenario = load_scenario(ROOT / "scenarios" / "yuci-street").header
    stamp = f"{scenario.name} · {scenario.date.isoformat()}"
    ctx = browser.new_context(offline=True)
    try:
        page = ctx.new_page()
        for path in (folder / "points" / "P01.html", folder / "teams" / "HT001.html"):
            page.goto(path.resolve().as_uri(), wait_until="load")
            reader = pypdf.PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
            n = len(reader.pages)
            assert n >= 2, f"{path.name}: {n} page(s); the check needs a second page"
            width_mm = float(reader.pages[0].mediabox.width) / 72 * 25.4
            assert abs(width_mm - 210) < 1, width_mm  # A4 from the page's own @page rule
            for i, pdf_page in enumerate(reader.pages, start=1):
                text = pdf_page.extract_text()
                assert f"({path.stem})" in text, (path.name, i)
                assert stamp in text, (path.name, i)
                assert f"{i} / {n}" in text, (path.name, i)
    finally:
        ctx.close()


# -- the re-plan's pages: changes.html and catchup/<grid>.html --------------------------------

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(1)>"
"""Markup put into ids and names of the re-planned scenario: it must show as text."""
EVIL = {"grid": f"{PAYLOAD}#G1", "point": f"{PAYLOAD}#PA", "team": f"{PAYLOAD}#T1"}


def _evil_tiny(folder: Path) -> Path:
    """``scenarios/tiny`` with the payload in grid G1's id and leader, point PA's id and name
    and team T1's id (every file that names them)."""
    import polars as pl

    shutil.copytree(ROOT / "scenarios" / "tiny", folder)

    def edit(table: str, columns: dict[str, dict[str, str]]) -> None:
        frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
        frame = frame.with_columns(pl.col(c).replace(m) for c, m in columns.items())
        frame.write_csv(folder / f"{table}.csv")

    edit("grids", {"grid_id": {"G1": EVIL["grid"]}, "leader": {"王某某": f"{PAYLOAD}#leader"}})
    edit("buildings", {"grid_id": {"G1": EVIL["grid"]}})
    edit("points", {"point_id": {"PA": EVIL["point"]}, "name": {"西院活动场": f"{PAYLOAD}#pn"}})
    edit("teams", {"team_id": {"T1": EVIL["team"]}})
    return folder


@pytest.fixture(scope="module")
def replanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """lang → NEW folder of tiny (with the payload) re-planned at 10:00 after its point PA
    closed at 09:50 having swabbed only 10 (so its grid G1 has residents to catch up)."""
    import polars as pl

    from sampling.replan.events import Event, EventKind
    from sampling.replan.pipeline import run_replan
    from sampling.replan.progress import Progress
    from sampling.replan.saved import read_saved_plan
    from sampling.replan.write import write_replan

    base = tmp_path_factory.mktemp("replan")
    scenario = load_scenario(_evil_tiny(base / "tiny"))
    plan = base / "plan"
    write_plan(plan_campaign(scenario, time_limit=2, seed=0), plan)
    closed = Event(590, EventKind.POINT_CLOSED, EVIL["point"], None, 2)
    empty = Progress.empty()
    swabbed = pl.DataFrame(
        {"point_id": [EVIL["point"]], "time": [590], "sampled": [10]}, schema=empty.points.schema
    )
    progress = Progress(swabbed, empty.buildings)
    result = run_replan(
        read_saved_plan(plan), scenario, 600, progress, (closed,), time_limit=2, seed=0
    )
    assert result.changes.height and result.catchup.height  # pages with rows to check
    out: dict[str, Path] = {}
    for lang in LANGS:
        out[lang] = write_replan(
            base / lang,
            result.plan.scenario,
            result.plan.tables,
            result.summary,
            result.changes,
            result.catchup,
            lang=lang,
        )
    return out


def _replan_pages(folder: Path, lang: str) -> dict[str, tuple[Path, list[str]]]:
    """changes.html and the evil grid's catch-up list, with the columns their readers need."""
    lab = labels(lang)
    catchup = [p for p in (folder / "catchup").glob("*.html") if "#G1" in p.read_text("utf-8")]
    assert len(catchup) == 1, sorted((folder / "catchup").glob("*.html"))
    return {
        "changes": (folder / "changes.html", [lab["replan_col_kind"], lab["replan_col_new"]]),
        "catchup": (
            catchup[0],
            [lab["replan_catchup_building"], lab["replan_catchup_missing"]],
        ),
    }


_MARKUP = """() => ({
  injected: document.querySelectorAll('script, img, [onerror]').length,
  text: document.body.innerText,
  cards: [...document.querySelectorAll('tbody td')].every((td) => td.dataset.label),
})"""


@pytest.mark.parametrize("lang", LANGS)
def test_replan_pages_fit_a_phone_and_show_ids_as_text(
    browser: Any, replanned: dict[str, Path], lang: str
) -> None:
    """At 390×844 the notices and a catch-up list are cards that do not scroll sideways, with
    the columns their readers need on screen; ids and names with markup show as text (no
    script, image or handler reaches the page)."""
    ctx = browser.new_context(offline=True, viewport=PHONE)
    dialogs: list[str] = []
    try:
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for kind, (path, keys) in _replan_pages(replanned[lang], lang).items():
            got = _layout(page, path, keys)
            where = f"replan/{lang}/{kind}: {path.name}"
            assert got["scrollWidth"] <= PHONE["width"], (where, got["scrollWidth"])
            assert not got["headerShown"], f"{where}: a table header row on a phone (not cards)"
            assert not got["squeezed"], (where, got["squeezed"][:5])
            for key, (filled, visible) in got["cells"].items():
                assert filled and visible == filled, f"{where}: {key} {visible}/{filled} on screen"
            markup = page.evaluate(_MARKUP)
            assert markup["injected"] == 0 and markup["cards"], (where, markup["injected"])
            shown = [EVIL["grid"], EVIL["point"]] + (
                [EVIL["team"], f"{PAYLOAD}#leader"] if kind == "changes" else []
            )
            for text in shown:
                assert text in markup["text"], (where, text)
    finally:
        ctx.close()
    assert dialogs == []


@pytest.mark.parametrize("lang", LANGS)
def test_replan_notices_print_one_per_page(
    browser: Any, replanned: dict[str, Path], lang: str
) -> None:
    """Printed to A4, each notice of changes.html starts its own page (its heading is the
    first notice heading on that page), and every page carries the running header and
    ``page / pages``."""
    pypdf = pytest.importorskip("pypdf")
    import polars as pl

    lab = labels(lang)
    folder = replanned[lang]
    changes = pl.read_parquet(folder / "changes.parquet")
    grids = changes["grid_id"].drop_nulls().unique(maintain_order=True).to_list()
    teams = changes["team_id"].drop_nulls().unique(maintain_order=True).to_list()
    headings = [lab["replan_notice_grid"].format(grid=g) for g in grids] + [
        lab["replan_notice_team"].format(team=t) for t in teams
    ]
    assert len(headings) >= 2, headings
    ctx = browser.new_context(offline=True)
    try:
        page = ctx.new_page()
        page.goto((folder / "changes.html").resolve().as_uri(), wait_until="load")
        reader = pypdf.PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
    finally:
        ctx.close()
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) >= len(headings), (len(texts), headings)
    starts = [i for i, text in enumerate(texts) for h in headings if h in text]
    # every heading is printed once, no two on one page, in the order of the notices
    assert len(starts) == len(headings) and starts == sorted(set(starts)), starts
    for i, text in enumerate(texts, start=1):
        assert f"{i} / {len(texts)}" in text, i


@pytest.mark.parametrize("lang", LANGS)
def test_replan_pages_are_tables_at_a_desk_and_on_paper(
    browser: Any, replanned: dict[str, Path], lang: str
) -> None:
    """At a desk and in print media at the A4 text width the re-plan's tables stay tables and
    fit without sideways scrolling, names not squeezed."""
    for media, viewport in (("screen", DESK), ("print", {"width": A4_WIDTH_PX, "height": 1000})):
        ctx = browser.new_context(offline=True, viewport=viewport)
        try:
            page = ctx.new_page()
            page.emulate_media(media=media)
            for kind, (path, keys) in _replan_pages(replanned[lang], lang).items():
                got = _layout(page, path, keys)
                where = f"{media}: replan/{lang}/{kind}"
                assert got["headerShown"], where
                assert got["scrollWidth"] <= viewport["width"], (where, got["scrollWidth"])
                assert not got["squeezed"], (where, got["squeezed"][:5])
        finally:
            ctx.close()
