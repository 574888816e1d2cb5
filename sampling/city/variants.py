"""What-if variants of a scenario: header values by dotted key, and ``staff_ratio``.

Both are applied on a copy when a worker loads the scenario; the scenario's files are never
changed. Header values (``window.end=13:00``, ``sampling.pool_size=5``) are merged over the
file's own before the header is validated, so a wrong key or value is reported like a typo in
``scenario.toml``. ``staff_ratio=R`` is not a header key: it rescales the medical (not
home-visit) teams' samplers to ``ceil(R × residents ÷ 360)`` in all (the norm's samplers
needed, as ``natplan generate --staff-ratio`` does), in proportion to each team's own samplers
(largest remainder); a team left with no sampler does not come.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from sampling.errors import ScenarioError
from sampling.generate import samplers_needed
from sampling.scenario.loader import merge_header
from sampling.scenario.model import Scenario

STAFF_RATIO = "staff_ratio"
"""The one variable that is not a header key (see the module docstring)."""


def parse_value(text: str) -> Any:
    """A command-line value as TOML reads it (``10`` → int, ``0.8`` → float, ``true`` → bool),
    otherwise the text itself (``13:00``, ``overtime``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_vary(option: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,…`` → ``(KEY, [V1, V2, …])``; raises ScenarioError (exit 2) when malformed."""
    key, sep, values = option.partition("=")
    key = key.strip()
    texts = [v.strip() for v in values.split(",")]
    parts = key.split(".")
    if not sep or not key or any(not p.isidentifier() for p in parts) or not all(texts):
        raise ScenarioError.single(
            "--vary", "not KEY=V1,V2,… (e.g. window.end=13:00,14:00 or staff_ratio=0.8,1)", option
        )
    if len(set(texts)) != len(texts):
        raise ScenarioError.single("--vary", "a value is repeated", option)
    if key == STAFF_RATIO:
        for text in texts:
            ratio = parse_value(text)
            if not _valid_ratio(ratio):
                raise ScenarioError.single("--vary", "staff_ratio must be in (0, 10]", text)
    return key, texts


def _valid_ratio(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 < float(value) <= 10.0
    )


def header_overrides(assignments: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Nested header values from ``(dotted key, text)`` pairs (``staff_ratio`` left out)."""
    layers: list[dict[str, Any]] = []
    for key, text in assignments:
        if key == STAFF_RATIO:
            continue
        value: Any = parse_value(text)
        for part in reversed(key.split(".")):
            value = {part: value}
        layers.append(value)
    return merge_header(*layers)


def staff_ratio_of(assignments: Sequence[tuple[str, str]]) -> float | None:
    """The ``staff_ratio`` among ``assignments`` (None when not varied)."""
    for key, text in assignments:
        if key == STAFF_RATIO:
            return float(parse_value(text))
    return None


def with_staff_ratio(scenario: Scenario, ratio: float) -> Scenario:
    """A copy of ``scenario`` whose medical teams have ``ceil(ratio × residents ÷ 360)``
    samplers in all, split in proportion to their own (see the module docstring)."""
    teams = scenario.teams
    medical = ~teams["home_visit"].fill_null(False)
    current = teams["samplers"].filter(medical).to_numpy().astype(np.float64)
    target = max(1, math.ceil(samplers_needed(scenario.residents) * ratio - 1e-9))
    weights = current if current.sum() > 0 else np.ones_like(current)
    quota = weights / weights.sum() * target if len(weights) else weights
    split = np.floor(quota).astype(np.int64)
    left = int(target - split.sum()) if len(split) else 0
    if left > 0:
        split[np.argsort(-(quota - split), kind="stable")[:left]] += 1
    values = teams["samplers"].to_numpy().copy()
    values[np.flatnonzero(medical.to_numpy())] = split
    scaled = teams.with_columns(pl.Series("samplers", values, dtype=teams["samplers"].dtype))
    return scenario.replace(teams=scaled.filter(pl.col("samplers") > 0))


def describe(assignments: Mapping[str, str]) -> str:
    """``window.end=13:00, staff_ratio=0.8``: a variant in words."""
    return ", ".join(f"{k}={v}" for k, v in assignments.items())
