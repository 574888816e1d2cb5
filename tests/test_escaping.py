"""No script, markup or formula from scenario text: every page, the map, the CSVs and plan.xlsx.

The tiny scenario is planned with a payload in every name and text field (and in a few ids):
a script element, an image with an ``onerror`` handler and an Excel formula. Every HTML file of
the plan must show it as text (no ``<script>`` element holds it, no element has ``onerror``,
map data carries it escaped), opening the pages in Chromium must raise no dialog, grid CSV
cells that a spreadsheet would evaluate start with an apostrophe, and ``plan.xlsx`` holds only
strings, never a formula.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tomllib
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl
import pytest
import tomli_w

from sampling.cli import main
from sampling.documents.grids import spreadsheet_text
from tests.test_map_browser import browser

__all__ = ["browser"]  # the Chromium fixture, shared with the map's browser tests

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://x","y")'
PAYLOAD = f"{FORMULA}{SCRIPT}{IMG}"
"""Starts with ``=`` (a formula to a spreadsheet) and holds both kinds of markup."""
PREFIXES = ("", "+", "-", "@", "\t")
"""Other starts a spreadsheet reads as a formula (the payload itself starts with ``=``)."""
KEPT = PREFIXES[:-1]
"""The prefixes that reach the outputs: the loader trims leading whitespace (the tab)."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")


def _evil(i: int, tag: str) -> str:
    """The payload after one of the formula prefixes, tagged to stay unique."""
    return f"{PREFIXES[i % len(PREFIXES)]}{PAYLOAD}{tag}"


def _ids(frame: pl.DataFrame, column: str, mapping: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).replace(mapping))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny with the payload in every name and text field, and in some ids."""
    folder = tmp_path_factory.mktemp("evil") / "tiny"
    shutil.copytree(TINY, folder)

    def read(name: str) -> pl.DataFrame:
        return pl.read_csv(folder / f"{name}.csv", infer_schema=False)

    grid_ids = {"G1": _evil(0, "#G1")}
    building_ids = {"B1": _evil(1, "#B1"), "B6": _evil(2, "#B6")}
    point_ids = {"PA": _evil(3, "#PA")}
    team_ids = {"T3": _evil(4, "#T3")}
    household_ids = {"H1": _evil(0, "#H1")}

    b = read("buildings")
    b = _ids(_ids(b, "building_id", building_ids), "grid_id", grid_ids)
    b = b.with_columns(
        pl.Series("name", [_evil(i, f"#bn{i}") for i in range(b.height)]),
        pl.Series("compound", [_evil(i + 1, f"#bc{i}") for i in range(b.height)]),
    )
    p = _ids(read("points"), "point_id", point_ids)
    p = p.with_columns(pl.Series("name", [_evil(i, f"#pn{i}") for i in range(p.height)]))
    g = _ids(read("grids"), "grid_id", grid_ids)
    g = g.with_columns(
        pl.Series("name", [_evil(i, f"#gn{i}") for i in range(g.height)]),
        pl.Series("leader", [_evil(i + 2, f"#gl{i}") for i in range(g.height)]),
    )
    t = _ids(read("teams"), "team_id", team_ids)
    t = t.with_columns(pl.Series("name", [_evil(i, f"#tn{i}") for i in range(t.height)]))
    h = _ids(_ids(read("home_visits"), "household_id", household_ids), "building_id", building_ids)
    h = h.with_columns(pl.Series("note", [_evil(i + 3, f"#hn{i}") for i in range(h.height)]))
    for name, frame in (("buildings", b), ("points", p), ("grids", g), ("teams", t),
                        ("home_visits", h)):  # fmt: skip
        frame.write_csv(folder / f"{name}.csv")

    header = tomllib.loads((folder / "scenario.toml").read_text("utf-8"))
    header.update(name=_evil(0, "#name"), description=_evil(1, "#desc"))
    header["attribution"] = _evil(2, "#attr")
    (folder / "scenario.toml").write_text(tomli_w.dumps(header), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def out(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("evil_out") / "out"
    assert main(["plan", str(scenario), "--out", str(target), "--time-limit", "2"]) == 0
    return target


class _Page(HTMLParser):
    """Script bodies, attributes and text of one HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value) for name, value in attrs)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text("utf-8"))
    page.close()
    return page


def _html_files(out: Path) -> Iterator[Path]:
    yield out / "index.html"
    yield out / "map.html"
    for folder in ("points", "grids", "teams"):
        yield from sorted((out / folder).glob("*.html"))


def _js_strings(script: str) -> str:
    """A script with JSON's escapes of ``<``, ``>``, ``&`` and quotes undone."""
    for escaped, plain in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&"), ('\\"', '"')):
        script = script.replace(escaped, plain)
    return script


def test_every_page_shows_the_payload_as_text(out: Path) -> None:
    files = list(_html_files(out))
    assert len(files) >= 7 and all(p.is_file() for p in files)
    assert any((out / "teams").glob("*.html"))
    for path in files:
        page = _parse(path)
        onerror = [a for a in page.attributes if a[1].lower().startswith("on")]
        assert onerror == [], (path.name, onerror)
        assert "img" not in page.tags, path.name
        for script in page.scripts:
            # no script holds the payload, and the data a script inserts as HTML is escaped
            assert SCRIPT not in script and IMG not in script, path.name
            assert "<script>alert" not in _js_strings(script), path.name
            assert "<img src=x" not in _js_strings(script), path.name
    # the payload is shown, as text, where the fields are printed
    index = "".join(_parse(out / "index.html").text)
    assert f"{PAYLOAD}#name" in index and f"+{PAYLOAD}#gn1" in index
    assert f"-{PAYLOAD}#attr" in index  # the attribution in the footer
    for folder, tags in (
        ("points", ("#pn0", "#bn0")),
        ("grids", ("#gn0", "#gl0", "#bc0", "#hn0", "#H1")),
        ("teams", ("#tn2", "#hn1", "#B6")),
    ):
        text = "".join("".join(_parse(p).text) for p in (out / folder).glob("*.html"))
        for tag in tags:
            assert f"{PAYLOAD}{tag}" in text, (folder, tag)
    map_scripts = "".join(_parse(out / "map.html").scripts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;#pn0" in (
        _js_strings(map_scripts)
    )


def test_grid_csv_cells_never_start_a_formula(out: Path) -> None:
    cells = 0
    texts: list[str] = []
    for path in sorted((out / "grids").glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
        for row in rows[1:]:
            for cell in row:
                cells += 1
                texts.append(cell)
                if cell.startswith(FORMULA_START):
                    assert NUMBER.match(cell), (path.name, cell)
                if PAYLOAD in cell and cell.split(PAYLOAD)[0][:1] in ("", *FORMULA_START):
                    assert cell.startswith("'"), (path.name, cell)
    assert cells > 0
    for start in KEPT:
        assert any(c.startswith(f"'{start}{PAYLOAD}") for c in texts), repr(start)


def test_spreadsheet_text_rule() -> None:
    """Every formula start gets the apostrophe (tab and CR too, which the loader trims)."""
    cells = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "a=1", " =1", "'=1", "", None]
    got = pl.select(spreadsheet_text(pl.lit(pl.Series(cells, dtype=pl.String))))
    assert got.to_series().to_list() == [
        "'=1+1", "'+1", "'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1", "a=1", " =1", "'=1", "", None,
    ]  # fmt: skip


SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def test_workbook_holds_text_never_formulas(out: Path) -> None:
    with zipfile.ZipFile(out / "plan.xlsx") as book:
        names = [n for n in book.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n)]
        shared = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        sheets = {n: ElementTree.fromstring(book.read(n)) for n in names}
    strings = ["".join(t.text or "" for t in si.iter(f"{SHEET}t")) for si in shared]
    assert len(sheets) >= 10  # summary and every table
    cells = 0
    for name, sheet in sheets.items():
        for cell in sheet.iter(f"{SHEET}c"):
            cells += 1
            assert cell.find(f"{SHEET}f") is None, (name, cell.attrib)
            kind = cell.get("t", "n")
            assert kind in ("s", "inlineStr", "b", "e", "n"), (name, cell.attrib)
            value = cell.find(f"{SHEET}v")
            if kind == "n" and value is not None:
                float(value.text or "")  # a number, not a formula's cached text
    assert cells > 0
    for start in KEPT:  # the payload is stored as text, exactly as typed
        assert any(s.startswith(f"{start}{PAYLOAD}#") for s in strings), repr(start)
    assert f"{PAYLOAD}#name" in strings  # the scenario name on the summary sheet


# -- in a browser --------------------------------------------------------------------------


def _dialogs(browser: Any, path: Path, *, is_map: bool) -> tuple[list[str], int]:
    """Dialogs raised while opening ``path`` (and, on the map, every popup and tooltip), and
    the number of elements with an ``onerror`` attribute afterwards."""
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=30_000)
        if is_map:
            page.wait_for_function("window.natplan && window.natplan.ready === true")
            page.evaluate("""() => {
                for (const key of Object.keys(natplan.layers)) {
                    const layer = natplan.layers[key];
                    if (!natplan.map.hasLayer(layer)) natplan.map.addLayer(layer);
                    if (!layer.eachLayer) continue;
                    layer.eachLayer(l => {
                        if (l.getTooltip && l.getTooltip()) { l.openTooltip(); l.closeTooltip(); }
                        if (l.getPopup && l.getPopup()) { l.openPopup(); l.closePopup(); }
                    });
                }
                const b = natplan.layers.buildings.getLayers()[0];
                natplan.layers.buildings.fire('click', {layer: b, latlng: b.getLatLng()});
            }""")
        page.wait_for_timeout(300)  # let any image error handler fire
        onerror = int(page.evaluate("document.querySelectorAll('[onerror]').length"))
        return dialogs, onerror
    finally:
        ctx.close()


@pytest.mark.browser
def test_no_dialog_in_a_browser(browser: Any, out: Path) -> None:
    point = next(p for p in (out / "points").glob("*.html") if "#pn0" in p.read_text("utf-8"))
    for path, is_map in ((out / "index.html", False), (point, False), (out / "map.html", True)):
        dialogs, onerror = _dialogs(browser, path, is_map=is_map)
        assert dialogs == [] and onerror == 0, (path.name, dialogs, onerror)
