"""Human-facing documents of a plan: point sheets, grid call lists, team itineraries, workbook.

:func:`write_documents` reads a plan folder (as written by ``sampling.output.write.write_plan``) and
writes, in the plan's language (Chinese by default, English with ``lang="en"``):

* ``points/<point_id>.html`` — printable A4 work sheet per open point (modules
  :mod:`sampling.documents.points`, supplies rules in :mod:`sampling.documents.supplies`);
* ``grids/<grid_id>.csv`` (UTF-8 with BOM for Excel) and ``.html`` — call list per grid for
  the grid leader (:mod:`sampling.documents.grids`);
* ``teams/<team_id>.html`` — itinerary per home-visit team, when the plan has home visits
  (:mod:`sampling.documents.teams`);
* ``plan.xlsx`` — every table as a sheet (:mod:`sampling.documents.xlsx`);
* ``index.html`` — links to all of the above, ``map.html`` and ``summary.json``.

Everything is rendered in memory first and written only when complete, so an exception leaves
no half-written document behind. Pages are self-contained: no scripts, no network resources.
Pages come from the Jinja2 templates of ``sampling/templates/`` with every value escaped
(:mod:`sampling.documents.html`); this module prepares the index's rows.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sampling.documents.data import PlanData, load_plan_data
from sampling.documents.grids import grid_buildings, grid_documents
from sampling.documents.html import (
    fill,
    fmt_int,
    fmt_num,
    header_context,
    label_namespace,
    named,
    page_context,
    template,
)
from sampling.documents.points import point_pages
from sampling.documents.teams import team_pages
from sampling.documents.vehicles import vehicle_links, vehicle_pages
from sampling.documents.xlsx import workbook_bytes
from sampling.files.names import file_stems, inside
from sampling.i18n import kind_label, labels, status_label
from sampling.report import alert_remedy_text, alerts
from sampling.scenario.model import Scenario

__all__ = ["DocumentsSummary", "write_documents"]

CSV_ENCODING = "utf-8-sig"
"""Grid CSVs carry a BOM so Chinese Excel detects UTF-8."""


@dataclass(frozen=True)
class DocumentsSummary:
    """What :func:`write_documents` wrote: counts, relative paths, total bytes and seconds."""

    out_dir: Path
    lang: str
    point_pages: int
    grid_lists: int
    team_pages: int
    files: tuple[str, ...]
    bytes: int
    seconds: float

    @property
    def index(self) -> Path:
        """The entry page linking every document."""
        return self.out_dir / "index.html"


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (then restore it as it was).

    Rendering allocates hundreds of thousands of short-lived rows, strings and workbook cells,
    all freed by reference counting; the collector's passes over the whole heap that these
    allocations trigger find nothing and cost about a fifth of the stage on a large district.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render_documents(out_dir: Path, scenario: Scenario, *, lang: str = "zh") -> dict[str, bytes]:
    """Every document of the plan in ``out_dir`` as relative path → file content (nothing written)."""
    lab = labels(lang)
    with _collector_paused():
        data = load_plan_data(Path(out_dir), scenario)
        buildings = grid_buildings(data, lab, lang)
        texts: dict[str, str] = {}
        texts.update(point_pages(data, lab, lang))
        texts.update(grid_documents(data, buildings, lab, lang))
        texts.update(team_pages(data, lab, lang))
        texts.update(vehicle_pages(Path(out_dir), scenario, lab, lang))  # with transport only
        texts["index.html"] = _index(data, buildings, lab, lang, Path(out_dir))
        files: dict[str, bytes] = {
            path: text.encode(CSV_ENCODING if path.endswith(".csv") else "utf-8")
            for path, text in texts.items()
        }
        files["plan.xlsx"] = workbook_bytes(
            data.summary, data.raw, lang=lang, walk_limit_min=scenario.header.walking.limit_min
        )
    return files


def write_documents(out_dir: Path, scenario: Scenario, *, lang: str = "zh") -> DocumentsSummary:
    """Write point sheets, grid lists, team itineraries, ``plan.xlsx`` and ``index.html``.

    ``out_dir`` is a plan folder (``assignments.parquet`` … ``summary.json``); ``scenario`` the
    scenario it was planned from (names, grids, pool sizes). Everything is rendered before the
    first file is written. Raises ``ValueError`` for an unsupported ``lang``.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    files = render_documents(out_dir, scenario, lang=lang)
    for folder in ("points", "grids", "teams", "vehicles"):
        if any(p.startswith(f"{folder}/") for p in files):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        inside(out_dir, path).write_bytes(content)
    names = tuple(sorted(files))
    return DocumentsSummary(
        out_dir=out_dir,
        lang=lang,
        point_pages=sum(p.startswith("points/") for p in names),
        grid_lists=sum(p.startswith("grids/") and p.endswith(".csv") for p in names),
        team_pages=sum(p.startswith("teams/") for p in names),
        files=names,
        bytes=sum(len(c) for c in files.values()),
        seconds=round(time.perf_counter() - started, 3),
    )


def alert_texts(summary: Mapping[str, Any], lab: Mapping[str, str]) -> list[tuple[str, str]]:
    """(code, sentence) of every alert of the plan, in the order of
    :data:`sampling.report.ALERT_CODES` (the same codes the console and the map use);
    ``late_tubes`` ends with what more vehicles would do, as the console and the map say."""
    listed = summary.get("alerts")
    found = listed if isinstance(listed, list) else alerts(summary)
    deadline = summary.get("window_end", "")
    tolerance = summary.get("late_tolerance_min")
    if isinstance(tolerance, (int, float)) and tolerance:
        deadline = f"{deadline} + {tolerance:g} min"
    values = {
        "extension": fmt_int(summary.get("window_extension_min")),
        "stranded": fmt_int(summary.get("residents_stranded")),
        "extra": fmt_int(summary.get("extra_samplers_for_window")),
        "points": fmt_int(summary.get("points_overtime")),
        "samplers": fmt_int(summary.get("samplers_overtime")),
        "finish": summary.get("finish_time", ""),
        "replications": fmt_int(summary.get("sim_replications")),
        "deadline": deadline,
        "sim_finish": summary.get("sim_finish_p95", ""),
        "reason": summary.get("status_reason") or "",  # no_plan: why the engine found none
        "tubes": fmt_int(summary.get("tubes_total")),  # late_tubes: of how many tubes
    }
    out: list[tuple[str, str]] = []
    for alert in found:
        code = str(alert.get("code"))
        stranded = code == "deficit" and bool(summary.get("residents_stranded"))
        text = lab.get(f"alert_{code}_stranded" if stranded else f"alert_{code}")
        if text is None:  # an alert of a newer natplan: show its code and count
            out.append((code, f"{code}: {fmt_int(alert.get('count'))}"))
        else:
            sentence = fill(text, values, count=fmt_int(alert.get("count")))
            out.append((code, sentence + alert_remedy_text(code, summary, lab)))
    return out


def replan_notice(
    summary: Mapping[str, Any], out_dir: Path, lab: Mapping[str, str]
) -> tuple[str, list[tuple[str, str]]] | None:
    """A re-plan's notice for the top of its index: ``re-planned at HH:MM: N changes, M
    residents to catch up`` and links to ``changes.html`` and each ``catchup/<grid>.html``
    present in ``out_dir``; ``None`` for a plan that is not a re-plan."""
    at = summary.get("replan_at")
    if not at:
        return None
    text = fill(
        lab["replan_index_notice"],
        at=at,
        changes=fmt_int(summary.get("changes_total")),
        catchup=fmt_int(summary.get("residents_catchup")),
    )
    links: list[tuple[str, str]] = []
    if (out_dir / "changes.html").exists():
        links.append(("changes.html", lab["replan_index_changes"]))
    table = out_dir / "catchup.parquet"
    if table.exists():
        grids = pl.read_parquet(table, columns=["grid_id"])["grid_id"].drop_nulls()
        for grid, stem in sorted(file_stems(str(g) for g in grids.to_list()).items()):
            path = f"catchup/{stem}.html"
            if (out_dir / path).exists():
                links.append((path, fill(lab["replan_index_catchup"], grid=grid)))
    return text, links


def _index(
    data: PlanData, buildings: pl.DataFrame, lab: Mapping[str, str], lang: str, out_dir: Path
) -> str:
    """The entry page: key figures, links to the map, files and every document."""
    files = [("plan.xlsx", lab["link_xlsx"])]
    if (out_dir / "map.html").exists():
        files.insert(0, ("map.html", lab["link_map"]))
    if (out_dir / "summary.json").exists():
        files.append(("summary.json", lab["link_summary"]))
    files.extend(vehicle_links(out_dir, data.scenario, lab))  # vehicle sheets (transport)

    points = [
        (
            data.paths.point(str(p["point_id"])),
            named(p["point_name"], p["point_id"]),
            kind_label(p.get("point_kind"), lang),
            p["tables"],
            fmt_int(p["load"]),
            f"{p.get('start') or ''}–{p.get('finish') or ''}",
            fmt_num(p.get("sim_p95_wait_min")),
        )
        for p in data.points.iter_rows(named=True)
    ]

    per_grid = buildings.group_by("grid_id").agg(
        pl.len().alias("n"),
        pl.col("regular_called").sum().alias("called"),
        pl.col("escalate").sum().alias("escalate"),
    )
    grids = [
        (
            data.paths.grid(str(g["grid_id"])),
            data.paths.grid(str(g["grid_id"]), ".csv"),
            named(g["grid_name"], g["grid_id"]),
            g["leader"] or "",
            g["n"],
            fmt_int(g["called"]),
            g["escalate"],
        )
        for g in data.grids.join(per_grid, on="grid_id", how="inner")
        .sort("grid_id")
        .iter_rows(named=True)
    ]

    teams: list[tuple[object, ...]] | None = None
    hv_unserved = 0
    if data.has_home_visits and data.routes is not None:
        teams = [
            (
                data.paths.team(str(r["team_id"])),
                named(r.get("team_name") or r["team_id"], r["team_id"]),
                r.get("stops"),
                r.get("persons"),
                f"{r.get('start') or ''}–{r.get('end') or ''}",
                fmt_int(r.get("walk_m")),
            )
            for r in data.routes.sort("team_id").iter_rows(named=True)
        ]
        if data.home_visits is not None:
            hv_unserved = data.home_visits.filter(pl.col("team_id").is_null()).height

    header = data.scenario.header
    title = fill(lab["index_title"], header_context(header))
    summary = data.summary
    return template("index.html").render(
        page_context(header, lab, lang, title=title, heading=title),
        lab=label_namespace(lab),
        s=summary,
        alerts=alert_texts(summary, lab),
        replan=replan_notice(summary, out_dir, lab),
        coverage_count=fill(
            lab["count_of"],
            part=fmt_int(summary.get("residents_within_limit", summary.get("residents_assigned"))),
            whole=fmt_int(summary.get("residents_walk_in")),
        ),
        staffing=status_label(data.summary.get("staffing_status"), lang),
        has_home_visits=data.has_home_visits,
        files=files,
        points=points,
        grids=grids,
        teams=teams,
        hv_unserved=hv_unserved,
    )
