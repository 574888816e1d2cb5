"""Rendering of the printable pages: the Jinja2 environment, number formats, page frame values.

Markup lives only in the templates of ``sampling/templates/`` (a base layout extended by the
index, point, grid and team pages); Python prepares plain values (text, numbers, lists, tuples).
Every value a template prints is HTML-escaped (``autoescape`` on for every template, ``None``
printed as nothing), and a misspelt variable is an error (``StrictUndefined``), so no text
from a scenario can become markup. Pages are self-contained (inline CSS, no scripts, no fonts
or images from the network) so they open and print on an office PC with no internet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from types import SimpleNamespace
from typing import Any

import jinja2

from sampling.clock import format_clock
from sampling.files.names import href
from sampling.report import percent
from sampling.scenario.header import Header

TEMPLATES = "templates"
"""Folder of the page templates inside the ``sampling`` package."""


def _finalize(value: object) -> object:
    """What ``{{ value }}`` prints: missing values (``None``, NaN) as nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def fill(template: str, values: Mapping[str, object] | None = None, **more: object) -> str:
    """``template.format(**values)`` for label templates (values are formatted, not escaped:
    the template escapes the result)."""
    return template.format(**(values or {}), **more)


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment of the documents (built once, each template compiled once)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sampling", TEMPLATES),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt_int=fmt_int, fmt_num=fmt_num, fmt_pct=fmt_pct, href=href, fill=fill)
    return env


def template(name: str) -> jinja2.Template:
    """The compiled template ``name`` of ``sampling/templates/``."""
    return environment().get_template(name)


def label_namespace(lab: Mapping[str, str]) -> SimpleNamespace:
    """Labels as attributes (``lab.total`` in a template, a plain attribute look-up)."""
    return SimpleNamespace(**lab)


def page_context(
    header: Header, lab: Mapping[str, str], lang: str, *, title: str, heading: str
) -> dict[str, Any]:
    """Values of the base layout: language, title, heading, subtitle, footer, attribution."""
    return {
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "title": title,
        "heading": heading,
        "subtitle": fill(lab["subtitle"], header_context(header)),
        "footer": lab["footer"],
        "attribution": (
            fill(lab["footer_attribution"], attribution=header.attribution)
            if header.attribution
            else ""
        ),
    }


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
    """Share (0–1) as a percentage with one decimal, by :func:`sampling.report.percent` (a
    part never reads as 0 % or 100 %); empty for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float)):
        return percent(value)
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


def named(name: object, ident: object) -> str:
    """``name (id)``, or just the id when there is no distinct name."""
    if name is None or str(name) == str(ident) or str(name) == "":
        return str(ident)
    return f"{name} ({ident})"
