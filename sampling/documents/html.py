"""Rendering of the printable pages: the Jinja2 environment, number formats, page frame values.

Markup lives only in the templates of ``sampling/templates/`` (a base layout extended by the
index, point, grid and team pages); Python prepares plain values (text, numbers, lists, tuples).
Every value a template prints is HTML-escaped (``autoescape`` on for every template, ``None``
printed as nothing), and a misspelt variable is an error (``StrictUndefined``), so no text
from a scenario can become markup. Pages are self-contained (inline CSS, no scripts, no fonts
or images from the network) so they open and print on an office PC with no internet.

One stylesheet (``print.css``) serves three readers: on a phone (screens up to 760 px) every
table row becomes a card whose cells carry their column header (``data-label``), so nothing
scrolls sideways; at a desk and on paper tables stay tables. Printed A4 pages carry a running
header (the page's heading, scenario and date) and ``page / pages`` in ``@page`` margin boxes,
whose text :func:`css_string` writes into the page's ``<style>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from types import SimpleNamespace
from typing import Any

import jinja2
from markupsafe import Markup

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
    env.filters.update(
        fmt_int=fmt_int,
        fmt_num=fmt_num,
        fmt_pct=fmt_pct,
        href=href,
        fill=fill,
        css_string=css_string,
    )
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
    """Values of the base layout: language, title, heading, subtitle, footer, attribution, and
    the running header of printed pages (the heading left, scenario and date right)."""
    return {
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "title": title,
        "heading": heading,
        "subtitle": fill(lab["subtitle"], header_context(header)),
        "running_left": heading,
        "running_right": f"{header.name} · {header.date.isoformat()}",
        "footer": lab["footer"],
        "attribution": (
            fill(lab["footer_attribution"], attribution=header.attribution)
            if header.attribution
            else ""
        ),
    }


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string for a ``<style>`` element (the running header of
    printed pages). Every ASCII character other than a letter, digit or space, and every
    unprintable one, becomes a CSS hex escape, so no text can end the string, the rule or the
    element (no quote, backslash, brace, ``<`` or ``&`` is left); other letters (Chinese)
    stay as they are. The result is markup: HTML escaping inside ``<style>`` would show
    ``&amp;`` literally."""
    text = "" if value is None else str(value)
    safe = (
        ch if ch == " " or (ch.isalnum() and ch.isprintable()) else f"\\{ord(ch):x} " for ch in text
    )
    return Markup('"' + "".join(safe) + '"')


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
