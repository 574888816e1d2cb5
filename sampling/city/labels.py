"""Labels of the city and sweep pages, in Chinese (default) and English.

The text lives in the one label table, ``sampling/labels/{zh,en}.toml`` section ``[city]``;
values are escaped by the templates.
"""

from __future__ import annotations

from types import SimpleNamespace

from sampling.i18n import CITY, LANGS

CITY_LABELS = CITY
"""City page labels per language (section ``[city]`` of the label files)."""


def city_labels(lang: str) -> SimpleNamespace:
    """The city pages' labels for ``lang`` as attributes (``lab.district`` in a template)."""
    if lang not in CITY_LABELS:
        raise ValueError(f"unsupported lang {lang!r}; use one of {', '.join(LANGS)}")
    return SimpleNamespace(**CITY_LABELS[lang])
