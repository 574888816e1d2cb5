"""``natplan sweep``: every combination of header variations of one scenario, planned on Dask.

``--vary KEY=V1,V2,…`` (repeatable) names a header value by its dotted key
(``window.end``, ``sampling.pool_size``) or ``staff_ratio`` (see :mod:`sampling.city.variants`).
Every combination is one variant, planned with the same seed (so variants differ only by the
variables) into ``OUT/<NN>_<key=value…>/`` as ``natplan plan`` writes it; ``OUT/sweep.parquet``
has a row per variant with the varied values and the plan's headline figures, and
``OUT/sweep.html`` the table and one chart per figure and variable: the what-if table HQ asks
for before announcing the round.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sampling.city.charts import CLOCK_STEPS, Chart, line_chart
from sampling.city.cluster import dask_client
from sampling.city.folder import check_run_folder
from sampling.city.jobs import Job, JobResult
from sampling.city.labels import city_labels
from sampling.city.outputs import (
    alert_counts,
    alert_lines,
    alerts_text,
    page_frame,
    parse_alerts,
    read_summary,
    write_html,
    write_parquet,
)
from sampling.city.plan import Echo, describe_cluster, progress_line
from sampling.city.runner import run_jobs
from sampling.city.variants import describe, header_overrides, parse_vary, staff_ratio_of
from sampling.documents.html import fill, fmt_int, template
from sampling.errors import ScenarioError
from sampling.files.lock import folder_lock
from sampling.scenario.loader import HEADER_FILE

METRICS = (
    "finish_min",
    "capacity_deficit_residents",
    "walk_m_mean",
    "extra_samplers_for_window",
)
"""Figures charted against each variable: the last swab (minutes of the day), the deficit,
the mean walk and the extra samplers that would finish in the window."""

FIGURES: dict[str, pl.DataType] = {
    "status": pl.String(),
    "error_kind": pl.String(),
    "error": pl.String(),
    "finish_time": pl.String(),
    "finish_min": pl.Int64(),
    "sim_finish_p95": pl.String(),
    "window_end": pl.String(),
    "coverage": pl.Float64(),
    "residents_unserved": pl.Int64(),
    "capacity_deficit_residents": pl.Int64(),
    "residents_overtime": pl.Int64(),
    "window_extension_min": pl.Int64(),
    "extra_samplers_for_window": pl.Int64(),
    "walk_m_mean": pl.Float64(),
    "points_open": pl.Int64(),
    "tables_used": pl.Int64(),
    "samplers_used": pl.Int64(),
    "alerts": pl.String(),
    "index": pl.String(),
    "map": pl.String(),
}
"""Columns of ``sweep.parquet`` after ``variant`` and one text column per varied key."""


@dataclass(frozen=True)
class Variant:
    """One combination: its folder name and the value (as given) of each varied key."""

    name: str
    values: dict[str, str]


def variants(options: Sequence[str]) -> tuple[list[str], list[Variant]]:
    """The varied keys (in order) and every combination of their values."""
    if not options:
        raise ScenarioError.single("--vary", "give at least one --vary KEY=V1,V2,…")
    parsed = [parse_vary(option) for option in options]
    keys = [k for k, _ in parsed]
    if len(set(keys)) != len(keys):
        raise ScenarioError.single("--vary", "a key is varied twice", ", ".join(keys))
    out = []
    for i, combo in enumerate(itertools.product(*(values for _, values in parsed))):
        values = dict(zip(keys, combo, strict=True))
        slug = "_".join(f"{k}={v}" for k, v in values.items())
        slug = re.sub(r"[^A-Za-z0-9._=+-]", "-", slug)[:100]
        out.append(Variant(f"{i + 1:02d}_{slug}", values))
    return keys, out


def _clock(text: object) -> int | None:
    if not isinstance(text, str) or ":" not in text:
        return None
    hours, minutes = text.split(":", 1)
    return int(hours) * 60 + int(minutes) if hours.isdigit() and minutes.isdigit() else None


def variant_row(
    variant: Variant, result: JobResult, summary: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The variant's row of ``sweep.parquet``."""
    row: dict[str, Any] = {"variant": variant.name, **variant.values, **dict.fromkeys(FIGURES)}
    row["status"] = "failed" if not result.ok else "up_to_date" if result.skipped else "planned"
    row["error_kind"] = result.error_kind or None
    row["error"] = result.error or None
    if summary is None or not result.ok:
        return row
    for key, dtype in FIGURES.items():
        if key in summary and key not in ("status", "error_kind", "error"):
            value = summary[key]
            if (
                dtype == pl.Int64()
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                value = round(value)
            row[key] = value
    row["finish_min"] = _clock(summary.get("finish_time"))
    row["alerts"] = alerts_text(alert_counts(summary))
    row["index"] = f"{variant.name}/index.html"
    row["map"] = f"{variant.name}/map.html"
    return row


def sweep_frame(keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows with fixed columns: ``variant``, the varied keys (text as given), the figures."""
    schema: dict[str, pl.DataType] = {"variant": pl.String(), **{k: pl.String() for k in keys}}
    schema.update(FIGURES)
    return pl.DataFrame([dict(r) for r in rows], schema=schema, orient="row")


def _metric_format(metric: str) -> Any:
    if metric == "finish_min":
        return lambda v: f"{int(v) // 60:02d}:{int(v) % 60:02d}"
    return lambda v: fmt_int(v)


def charts(
    keys: Sequence[str], variant_list: Sequence[Variant], frame: pl.DataFrame, lang: str
) -> list[Chart]:
    """One chart per metric and varied key; the other keys' combinations are the lines."""
    lab = city_labels(lang)
    by_name = {r["variant"]: r for r in frame.iter_rows(named=True)}
    out = []
    for key in keys:
        categories = list(dict.fromkeys(v.values[key] for v in variant_list))
        others = [k for k in keys if k != key]
        groups = list(dict.fromkeys(tuple(v.values[k] for k in others) for v in variant_list))
        for metric in METRICS:
            lines = []
            for group in groups:
                ys: list[float | None] = []
                for category in categories:
                    match = next(
                        v
                        for v in variant_list
                        if v.values[key] == category and tuple(v.values[k] for k in others) == group
                    )
                    value = by_name[match.name].get(metric)
                    ys.append(None if value is None else float(value))
                label = ", ".join(f"{k}={g}" for k, g in zip(others, group, strict=True)) or key
                lines.append((label, ys))
            title = fill(lab.chart_title, metric=getattr(lab, metric), key=key)
            steps = CLOCK_STEPS if metric == "finish_min" else None
            out.append(line_chart(title, categories, lines, _metric_format(metric), steps=steps))
    return out


def render_sweep(
    scenario: str,
    keys: Sequence[str],
    variant_list: Sequence[Variant],
    frame: pl.DataFrame,
    lang: str,
) -> str:
    """``sweep.html``: the what-if table (linking to each variant's plan) and the charts."""
    lab = city_labels(lang)
    title = fill(lab.sweep_title, scenario=scenario)
    subtitle = fill(
        lab.sweep_subtitle, scenario=scenario, count=len(variant_list), keys=", ".join(keys)
    )
    return template("city_sweep.html").render(
        **page_frame(lang, title, subtitle),
        lab=lab,
        keys=keys,
        rows=[
            {**r, "alert_lines": alert_lines(parse_alerts(r["alerts"]), lang)}
            for r in frame.iter_rows(named=True)
        ],
        charts=charts(keys, variant_list, frame, lang),
    )


@dataclass(frozen=True)
class SweepRun:
    """The outcome of a sweep: the table written to ``OUT/sweep.parquet``."""

    out: Path
    frame: pl.DataFrame

    @property
    def failed(self) -> pl.DataFrame:
        """Variants that could not be planned."""
        return self.frame.filter(pl.col("status") == "failed")


def sweep(
    scenario_dir: Path,
    options: Sequence[str],
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
    lang: str = "zh",
    echo: Echo = print,
) -> SweepRun:
    """Plan every variant of ``scenario_dir`` and write ``sweep.parquet`` and ``sweep.html``."""
    keys, variant_list = variants(options)
    root = Path(scenario_dir)
    if not (root / HEADER_FILE).is_file():
        raise ScenarioError.single(str(root), f"not a scenario folder (no {HEADER_FILE})")
    out = Path(out).absolute()
    jobs = [
        Job(
            name=v.name,
            scenario_dir=str(root.absolute()),
            out_dir=str(out / v.name),
            seed=seed,
            time_limit=time_limit,
            wall_limit=wall_limit,
            lang=lang,
            overrides=header_overrides(list(v.values.items())),
            staff_ratio=staff_ratio_of(list(v.values.items())),
        )
        for v in variant_list
    ]
    names = [j.name for j in jobs]
    check_run_folder(out, kind="sweep", jobs=names, protected=(root,))
    started = time.perf_counter()
    with folder_lock(out):
        state = check_run_folder(out, kind="sweep", jobs=names, protected=(root,))
        summaries: dict[str, dict[str, Any] | None] = {}
        labels = {v.name: describe(v.values) for v in variant_list}

        def report(result: JobResult, done: int, total: int) -> None:
            summary = read_summary(out / result.name) if result.ok else None
            summaries[result.name] = summary
            echo(progress_line(result, done, total, summary) + f" [{labels[result.name]}]")

        with dask_client(scheduler, workers) as client:
            describe_cluster(client, echo)
            echo(f"{root.name}: {len(jobs)} variants → {out}")
            results = run_jobs(client, jobs, out, kind="sweep", state=state, progress=report)
        rows = [variant_row(v, results[v.name], summaries.get(v.name)) for v in variant_list]
        frame = sweep_frame(keys, rows)
        write_parquet(out / "sweep.parquet", frame)
        write_html(
            out / "sweep.html", render_sweep(root.resolve().name, keys, variant_list, frame, lang)
        )
    echo(f"sweep: {frame.height} variants in {time.perf_counter() - started:.1f} s")
    return SweepRun(out, frame)
