"""Every human label of natplan, in Chinese (default) and English: documents, map, KPIs.

The labels live in one TOML file per language, ``sampling/labels/<lang>.toml``, read once at
import. Each file has the same sections and keys (a test checks it):

* ``[documents]`` — the printable pages, the grid CSV headers (:func:`labels`);
* ``[map]`` — the coverage map's layers, popups and legend (:func:`map_labels`);
* ``[kpi]`` — the map's KPI panel, by ``summary.json`` key (:func:`kpi_label`);
* ``[kinds]``, ``[reasons]``, ``[statuses]`` — point kinds and the planner's reason and status
  codes (:func:`kind_label`, :func:`reason_label`, :func:`status_label`).

Labels may hold ``str.format`` fields (``{name}``); values are escaped by the renderer (Jinja2
autoescape, or ``markupsafe`` in the map), never here. Unknown kinds, reasons and statuses are
shown as they are.
"""

from __future__ import annotations

import re
import tomllib
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
    "REASON_NO_WALK_IN",
    "STATUSES",
    "kind_label",
    "kpi_label",
    "labels",
    "map_labels",
    "reason_label",
    "status_label",
]

LANGS = ("zh", "en")
SECTIONS = ("documents", "map", "kpi", "kinds", "reasons", "statuses")
"""Sections every ``labels/<lang>.toml`` has, each a flat table of text."""

REASON_NO_WALK_IN = "no walk-in residents"
"""Assignment reason of a building whose residents are all visited at home (nothing to escalate)."""


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

_WITHIN = re.compile(r"^no point within (?P<limit>[0-9.]+) min$")


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


def reason_label(reason: object, lang: str) -> str:
    """An ``unserved_reason``/``not_called`` reason code in ``lang`` (unknown: as it is)."""
    _check(lang)
    if reason is None:
        return ""
    text = str(reason)
    table = REASONS[lang]
    if text in table:
        return table[text]
    match = _WITHIN.match(text)
    if match:
        return table["no point within {limit} min"].format(limit=match["limit"])
    return text
