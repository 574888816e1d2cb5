"""Printable HTML building blocks shared by natplan's documents: page shell, tables, numbers.

Pages are self-contained (inline CSS, no scripts, no fonts or images from the network) so they
open and print on an office PC with no internet. Every value goes through :func:`esc`; callers
pass raw values, never pre-built markup, except through :class:`Markup`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sampling.clock import format_clock
from sampling.output.filenames import href
from sampling.scenario.header import Header

CSS = """
@page { size: A4; margin: 12mm 11mm 14mm 11mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
  "WenQuanYi Micro Hei", "SimHei", "Helvetica Neue", Arial, sans-serif; font-size: 10.5pt;
  color: #111; margin: 0 auto; max-width: 190mm; padding: 6mm 0; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 1mm 0; }
h2 { font-size: 12.5pt; margin: 5mm 0 1.5mm 0; border-bottom: 1.5px solid #333;
  padding-bottom: 0.5mm; break-after: avoid; page-break-after: avoid; }
.sub { color: #444; margin: 0 0 3mm 0; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm 0; }
th, td { border: 1px solid #999; padding: 1.1mm 1.6mm; text-align: left; vertical-align: top; }
th { background: #e8e8e8; font-weight: 600; }
thead { display: table-header-group; }
tfoot { display: table-row-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.t { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 700; background: #f4f4f4; }
tr.yellow td { background: #fff3b0; }
tr.warn td { background: #fde2e2; }
.mark { font-weight: 700; }
small { color: #555; font-size: 8.5pt; }
.facts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 0; margin: 1mm 0 2mm 0;
  border: 1px solid #999; border-width: 1px 0 0 1px; }
.facts div { border: 1px solid #999; border-width: 0 1px 1px 0; padding: 1mm 1.6mm; }
.facts .k { display: block; color: #555; font-size: 8.5pt; }
.facts .v { font-size: 11.5pt; font-weight: 600; }
.box { break-inside: avoid; page-break-inside: avoid; }
.note { font-size: 8.8pt; color: #333; margin: 0.5mm 0 2mm 0; }
.note li { margin: 0.3mm 0; }
.alert { border: 2px solid #b00020; padding: 1.5mm 2.5mm; margin: 2mm 0; }
.alert h2 { color: #b00020; border-color: #b00020; margin-top: 0; }
.sign { margin-top: 6mm; display: flex; gap: 12mm; font-size: 9.5pt; }
.sign span { flex: 1; border-bottom: 1px solid #333; padding-bottom: 6mm; }
a { color: #0645ad; text-decoration: none; }
footer { margin-top: 4mm; font-size: 8pt; color: #666; }
@media print {
  body { max-width: none; padding: 0; }
  a { color: inherit; }
  .noprint { display: none; }
}
"""


@dataclass(frozen=True)
class Markup:
    """Already-escaped HTML, passed through :func:`esc` unchanged (built only in this package)."""

    text: str


Cell = object
"""A table cell: a raw value (escaped when rendered) or :class:`Markup`."""


def esc(value: object) -> str:
    """HTML-escape any value (``None`` → empty); :class:`Markup` passes through."""
    if isinstance(value, Markup):
        return value.text
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def fmt_int(value: object) -> str:
    """Whole number with thousands separators; empty for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float)):
        return f"{round(value):,}"
    return str(value)


def fmt_num(value: object, digits: int = 1) -> str:
    """Number rounded to ``digits`` decimals; empty for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def fmt_pct(value: object) -> str:
    """Share (0–1) as a percentage with one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    return str(value)


def header_context(header: Header) -> dict[str, str]:
    """Scenario name, date and sampling window for document subtitles."""
    return {
        "scenario": header.name,
        "date": header.date.isoformat(),
        "window": span(format_clock(header.window.start), format_clock(header.window.end)),
    }


def span(start: object, end: object) -> str:
    """``HH:MM–HH:MM`` (either side may be missing)."""
    if start is None and end is None:
        return ""
    return f"{start or ''}–{end or ''}"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Iterable[int] = (),
    times: Iterable[int] = (),
    row_classes: Iterable[str] | None = None,
    total: Sequence[Cell] | None = None,
) -> str:
    """A ``<table>`` with a repeating header; columns in ``numeric`` are right-aligned."""
    num = set(numeric)
    tim = set(times)

    def cls(j: int) -> str:
        if j in num:
            return ' class="n"'
        if j in tim:
            return ' class="t"'
        return ""

    head = "".join(f"<th{cls(j)}>{esc(h)}</th>" for j, h in enumerate(headers))
    classes = iter(row_classes) if row_classes is not None else None
    body: list[str] = []
    for row in rows:
        rc = next(classes, "") if classes is not None else ""
        attr = f' class="{esc(rc)}"' if rc else ""
        cells = "".join(f"<td{cls(j)}>{esc(v)}</td>" for j, v in enumerate(row))
        body.append(f"<tr{attr}>{cells}</tr>")
    foot = ""
    if total is not None:
        cells = "".join(f"<td{cls(j)}>{esc(v)}</td>" for j, v in enumerate(total))
        foot = f'<tfoot><tr class="total">{cells}</tr></tfoot>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>{foot}</table>"


def facts(items: Iterable[tuple[str, object]]) -> str:
    """A grid of labelled key figures (label above, value below)."""
    cells = "".join(
        f'<div><span class="k">{esc(k)}</span><span class="v">{esc(v)}</span></div>'
        for k, v in items
    )
    return f'<div class="facts">{cells}</div>'


def bullets(items: Iterable[str]) -> str:
    """A small-print list of notes (assumptions, how to read the page)."""
    return '<ul class="note">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def named(name: object, ident: object) -> str:
    """``name (id)``, or just the id when there is no distinct name."""
    if name is None or str(name) == str(ident) or str(name) == "":
        return str(ident)
    return f"{name} ({ident})"


def link(target: str, text: object) -> Markup:
    """A relative link to ``target`` (percent-encoded, then escaped as an attribute)."""
    return Markup(f'<a href="{esc(href(target))}">{esc(text)}</a>')


def page(*, title: str, heading: str, subtitle: str, body: str, lang: str, footer: str) -> str:
    """A complete printable HTML document."""
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(heading)}</h1><p class="sub">{esc(subtitle)}</p>{body}'
        f"<footer>{esc(footer)}</footer></body></html>\n"
    )


def fill(template: str, values: Mapping[str, object]) -> str:
    """``template.format(**values)`` for label templates (values are formatted, not escaped)."""
    return template.format(**values)
