"""Map labels in Chinese (default) and English, and KPI formatting.

The text itself lives in natplan's one label table (``[map]``, ``[kpi]`` and ``[reasons]`` of
``sampling/labels/<lang>.toml``, see :mod:`sampling.i18n`); this module only looks it up. It
imports :mod:`sampling.i18n` when first asked, not at import time: ``sampling`` imports
``maps`` to draw a plan's map, so an import-time dependency back would be circular.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["LANGS", "format_kpi", "labels", "reason", "share"]

LANGS = ("zh", "en")

_PERCENT_KEYS = frozenset({"coverage", "gap"})


def _table() -> ModuleType:
    """:mod:`sampling.i18n`, imported on first use."""
    from sampling import i18n

    return i18n


def labels(lang: str) -> dict[str, str]:
    """UI labels for ``lang`` ("zh" or "en"); a copy, safe to change."""
    return dict(_table().map_labels(lang))


def reason(code: object, lang: str) -> str:
    """An ``unserved_reason`` code in ``lang`` (unknown codes as they are, missing as empty)."""
    return str(_table().reason_label(code, lang))


def share(value: float) -> str:
    """A share (1 = 100 %) as text, by natplan's one formatter (:func:`sampling.report.percent`)."""
    from sampling.report import percent

    return percent(value)


def format_kpi(key: str, value: float | int | str, lang: str) -> tuple[str, str]:
    """(label, formatted value) of one KPI; keys without a label are shown as they are.

    Shares (``coverage``, ``gap``) are percentages by :func:`sampling.report.percent`, the
    one formatter of every natplan page (a part never reads as 0 % or 100 %).
    """
    from sampling.report import percent

    label = str(_table().kpi_label(key, lang))
    if isinstance(value, (bool, str)):
        return label, str(value)
    if key in _PERCENT_KEYS and isinstance(value, (int, float)):
        return label, percent(value)
    if isinstance(value, int):
        return label, f"{value:,}"
    return label, f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
