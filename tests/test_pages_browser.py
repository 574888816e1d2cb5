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
    return {
        "index": (folder / "index.html", [lab["point"], lab["residents"]]),
        "point": (sorted((folder / "points").glob("*.html"))[0], [lab["slot"], lab["residents"]]),
        "grid": (_pick(folder / "grids", grid_keys), grid_keys),
        "team": (_pick(folder / "teams", team_keys), team_keys),
    }


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
        for kind, (path, keys) in _pages(docs[name, lang], lang).items():
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
