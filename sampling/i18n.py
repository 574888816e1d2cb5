"""Every human label of natplan, in Chinese (default) and English: documents, map, KPIs.

The labels live in one TOML file per language, ``sampling/labels/<lang>.toml``, read once at
import. Each file has the same sections and keys (a test checks it):

* ``[documents]`` — the printable pages, the grid CSV headers (:func:`labels`);
* ``[map]`` — the coverage map's layers, popups and legend (:func:`map_labels`);
* ``[kpi]`` — the map's KPI panel, by ``summary.json`` key (:func:`kpi_label`);
* ``[kinds]``, ``[reasons]``, ``[statuses]`` — point kinds and the planner's reason and status
  codes (:func:`kind_label`, :func:`reason_label`, :func:`status_label`).

The output tables and ``summary.json`` hold only the codes (the ``StrEnum`` codes of the stages:
``UnservedReason``, ``VisitReason``, ``NotCalledReason``, ``CapacityReason``, the statuses);
the text comes from here when a page is rendered. A reason label may name a figure of the
plan's header, filled in then: ``{limit}`` (``out_of_reach``) is the walking limit in minutes.

Labels may hold ``str.format`` fields (``{name}``); values are escaped by the renderer (Jinja2
autoescape, or ``markupsafe`` in the map), never here. Unknown kinds, reasons and statuses
(e.g. from a plan folder of an older natplan) are shown as they are.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "KINDS",
    "KPI",
    "LABELS",
    "LANGS",
    "MAP_LABELS",
    "REASONS",
    "STATUSES",
    "kind_label",
    "kpi_label",
    "labels",
    "map_labels",
    "reason_label",
    "reason_labels",
    "status_label",
]

LANGS = ("zh", "en")
SECTIONS = ("documents", "map", "kpi", "kinds", "reasons", "statuses", "city")
"""Sections every ``labels/<lang>.toml`` has, each a flat table of text."""


def _load(lang: str) -> dict[str, dict[str, str]]:
    """``labels/<lang>.toml`` as section → key → text, checked to hold only text."""
    text = resources.files("sampling").joinpath("labels", f"{lang}.toml").read_text("utf-8")
    raw: dict[str, Any] = tomllib.loads(text)
    if set(raw) != set(SECTIONS):
        raise ValueError(f"labels/{lang}.toml: sections {sorted(raw)}, expected {SECTIONS}")
    out: dict[str, dict[str, str]] = {}
    for section in SECTIONS:
        table = raw[section]
        bad = [k for k, v in table.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"labels/{lang}.toml [{section}]: not text: {bad}")
        out[section] = dict(table)
    return out


_TABLES: dict[str, dict[str, dict[str, str]]] = {lang: _load(lang) for lang in LANGS}

LABELS: dict[str, dict[str, str]] = {lang: t["documents"] for lang, t in _TABLES.items()}
"""Document labels per language (read-only by convention; :func:`labels` returns a copy)."""
MAP_LABELS: dict[str, dict[str, str]] = {lang: t["map"] for lang, t in _TABLES.items()}
KPI: dict[str, dict[str, str]] = {lang: t["kpi"] for lang, t in _TABLES.items()}
KINDS: dict[str, dict[str, str]] = {lang: t["kinds"] for lang, t in _TABLES.items()}
REASONS: dict[str, dict[str, str]] = {lang: t["reasons"] for lang, t in _TABLES.items()}
STATUSES: dict[str, dict[str, str]] = {lang: t["statuses"] for lang, t in _TABLES.items()}
CITY: dict[str, dict[str, str]] = {lang: t["city"] for lang, t in _TABLES.items()}
"""Labels of the city and sweep pages (``natplan plan-city``, ``natplan sweep``)."""


def _check(lang: str) -> None:
    if lang not in _TABLES:
        raise ValueError(f"unsupported lang {lang!r}; use one of {', '.join(LANGS)}")


def labels(lang: str) -> dict[str, str]:
    """Document labels for ``lang`` (``"zh"`` or ``"en"``); a copy, safe to change."""
    _check(lang)
    return dict(LABELS[lang])


def map_labels(lang: str) -> MappingProxyType[str, str]:
    """The coverage map's labels for ``lang`` (read-only view)."""
    _check(lang)
    return MappingProxyType(MAP_LABELS[lang])


def kpi_label(key: str, lang: str) -> str:
    """The label of a KPI (``summary.json`` key) in ``lang``; unknown keys as they are."""
    _check(lang)
    return KPI[lang].get(key, key)


def kind_label(kind: object, lang: str) -> str:
    """A point ``kind`` in ``lang``; unknown kinds as they are, missing as empty."""
    _check(lang)
    if kind is None:
        return ""
    return KINDS[lang].get(str(kind), str(kind))


def status_label(status: object, lang: str) -> str:
    """A status code (``covered``, ``shortfall``) in ``lang`` (unknown: as it is)."""
    _check(lang)
    if status is None:
        return ""
    return STATUSES[lang].get(str(status), str(status))


def label_fields(text: str) -> set[str]:
    """The ``{name}`` fields of a label."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def reason_label(reason: object, lang: str, *, walk_limit_min: float | None = None) -> str:
    """A reason code (``unserved_reason``, ``not_called``/``capacity_plan`` ``reason``) in
    ``lang``; unknown codes as they are, missing as empty.

    ``walk_limit_min`` is the plan's walking limit, named by ``out_of_reach``; without it such
    a label shows ``?`` for the number (every natplan page passes it; a test checks they do)
    rather than failing the whole plan's writing over one tooltip.
    """
    _check(lang)
    if reason is None:
        return ""
    text = str(reason)
    label = REASONS[lang].get(text)
    if label is None:
        return text
    if "limit" not in label_fields(label):
        return label
    return label.format(limit="?" if walk_limit_min is None else f"{walk_limit_min:g}")


def reason_labels(
    reasons: Iterable[object], lang: str, *, walk_limit_min: float | None = None
) -> dict[str, str]:
    """Code → text of the distinct non-null ``reasons`` (see :func:`reason_label`), e.g. for
    ``polars.Expr.replace`` over a whole column."""
    return {
        str(r): reason_label(r, lang, walk_limit_min=walk_limit_min)
        for r in dict.fromkeys(reasons)
        if r is not None
    }
