"""Read back a ``plan.xlsx`` with the standard library: sheets, typed cells, number formats.

The tests check what a spreadsheet program would show (a cell's type and its number format),
so they read the workbook's XML themselves: no spreadsheet library is a natplan dependency.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
BUILTIN_FORMATS = {0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%"}


@dataclass(frozen=True)
class Cell:
    """One cell: its value (text, number or bool), XML type, number format, and formula."""

    value: str | float | bool | None
    kind: str
    number_format: str
    formula: str | None


def _column_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters is not None, ref
    index = 0
    for ch in letters.group(0):
        index = index * 26 + ord(ch) - 64
    return index - 1


def read_workbook(path: Path) -> dict[str, list[list[Cell | None]]]:
    """Sheet name → rows of cells (None for an empty cell), in the workbook's order."""
    with zipfile.ZipFile(path) as book:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        strings: list[str] = []
        if "xl/sharedStrings.xml" in book.namelist():
            shared = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            strings = ["".join(t.text or "" for t in si.iter(f"{NS}t")) for si in shared]
        styles = ElementTree.fromstring(book.read("xl/styles.xml"))
        custom = {
            int(f.get("numFmtId", "0")): f.get("formatCode", "") for f in styles.iter(f"{NS}numFmt")
        }
        xfs = styles.find(f"{NS}cellXfs")
        assert xfs is not None
        formats = []
        for xf in xfs:
            fid = int(xf.get("numFmtId", "0"))
            formats.append(custom.get(fid, BUILTIN_FORMATS.get(fid, f"builtin {fid}")))
        out: dict[str, list[list[Cell | None]]] = {}
        for sheet in workbook.iter(f"{NS}sheet"):
            target = targets[sheet.get(f"{REL}id")]
            assert target is not None
            xml = ElementTree.fromstring(book.read(f"xl/{target.removeprefix('/xl/')}"))
            rows: list[list[Cell | None]] = []
            for row in xml.iter(f"{NS}row"):
                cells: list[Cell | None] = []
                for c in row.iter(f"{NS}c"):
                    index = _column_index(c.get("r", "A"))
                    cells.extend([None] * (index - len(cells)))
                    kind = c.get("t", "n")
                    v = c.find(f"{NS}v")
                    f = c.find(f"{NS}f")
                    text = v.text if v is not None else None
                    value: str | float | bool | None
                    if text is None:
                        value = None
                    elif kind == "s":
                        value = strings[int(text)]
                    elif kind == "b":
                        value = text == "1"
                    elif kind == "n":
                        value = float(text)
                    else:
                        value = text
                    fmt = formats[int(c.get("s", "0"))]
                    cells.append(Cell(value, kind, fmt, f.text if f is not None else None))
                rows.append(cells)
            out[str(sheet.get("name"))] = rows
        return out
