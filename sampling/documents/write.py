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
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sampling.documents.data import PlanData, load_plan_data
from sampling.documents.grids import grid_buildings, grid_documents
from sampling.documents.html import (
    bullets,
    esc,
    facts,
    fill,
    fmt_int,
    fmt_num,
    fmt_pct,
    header_context,
    link,
    named,
    page,
    table,
)
from sampling.documents.points import point_pages
from sampling.documents.teams import team_pages
from sampling.documents.xlsx import workbook_bytes
from sampling.i18n import kind_label, labels, status_label
from sampling.output.filenames import inside
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


def render_documents(out_dir: Path, scenario: Scenario, *, lang: str = "zh") -> dict[str, bytes]:
    """Every document of the plan in ``out_dir`` as relative path → file content (nothing written)."""
    lab = labels(lang)
    data = load_plan_data(Path(out_dir), scenario)
    buildings = grid_buildings(data, lab, lang)
    texts: dict[str, str] = {}
    texts.update(point_pages(data, lab, lang))
    texts.update(grid_documents(data, buildings, lab, lang))
    texts.update(team_pages(data, lab, lang))
    texts["index.html"] = _index(data, buildings, lab, lang, Path(out_dir))
    files: dict[str, bytes] = {
        path: text.encode(CSV_ENCODING if path.endswith(".csv") else "utf-8")
        for path, text in texts.items()
    }
    files["plan.xlsx"] = workbook_bytes(data.summary, data.raw)
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
    for folder in ("points", "grids", "teams"):
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


def _index(
    data: PlanData, buildings: pl.DataFrame, lab: Mapping[str, str], lang: str, out_dir: Path
) -> str:
    """The entry page: key figures, links to the map, files and every document."""
    s = data.summary
    context = header_context(data.scenario.header)
    kpis: list[tuple[str, object]] = [
        (lab["kpi_residents"], fmt_int(s.get("residents_total"))),
        (lab["kpi_coverage"], fmt_pct(s.get("coverage"))),
        (lab["kpi_unserved"], fmt_int(s.get("residents_unserved"))),
        (lab["kpi_points"], fmt_int(s.get("points_open"))),
        (lab["kpi_tables"], fmt_int(s.get("tables_used"))),
        (lab["kpi_finish"], s.get("finish_time", "")),
        (lab["kpi_finish_bound"], s.get("finish_lower_bound", "")),
        (lab["kpi_sim_finish"], s.get("sim_finish_time", "")),
        (lab["kpi_p95"], fmt_num(s.get("sim_p95_wait_max_min"))),
        (lab["kpi_staffing"], status_label(s.get("staffing_status"), lang)),
    ]
    if data.has_home_visits:
        kpis.append(
            (
                lab["kpi_households"],
                f"{fmt_int(s.get('households_served'))} / {fmt_int(s.get('households_total'))}",
            )
        )
        kpis.append((lab["kpi_latest_return"], s.get("home_visit_latest_return", "")))
    body = facts(kpis)

    files = [link("plan.xlsx", lab["link_xlsx"])]
    for name, key in (("map.html", "link_map"), ("summary.json", "link_summary")):
        if (out_dir / name).exists():
            files.insert(0 if name == "map.html" else len(files), link(name, lab[key]))
    body += f"<h2>{esc(lab['files'])}</h2><p>" + " · ".join(esc(f) for f in files) + "</p>"

    rows: list[tuple[object, ...]] = []
    for p in data.points.iter_rows(named=True):
        pid = str(p["point_id"])
        rows.append(
            (
                link(data.paths.point(pid), named(p["point_name"], pid)),
                kind_label(p.get("point_kind"), lang),
                p["tables"],
                fmt_int(p["load"]),
                f"{p.get('start') or ''}–{p.get('finish') or ''}",
                fmt_num(p.get("sim_p95_wait_min")),
            )
        )
    body += f"<h2>{esc(lab['index_points'])}</h2>" + table(
        (
            lab["point"],
            lab["kind"],
            lab["tables_open"],
            lab["residents"],
            lab["hours"],
            lab["sim_p95"],
        ),
        rows,
        numeric=(2, 3, 5),
        times=(4,),
    )

    per_grid = buildings.group_by("grid_id").agg(
        pl.len().alias("n"),
        pl.col("regular_called").sum().alias("called"),
        pl.col("escalate").sum().alias("escalate"),
    )
    grids = data.grids.join(per_grid, on="grid_id", how="inner").sort("grid_id")
    rows = []
    classes: list[str] = []
    for g in grids.iter_rows(named=True):
        gid = str(g["grid_id"])
        rows.append(
            (
                link(data.paths.grid(gid), named(g["grid_name"], gid)),
                link(data.paths.grid(gid, ".csv"), "CSV"),
                g.get("leader") or "",
                g["n"],
                fmt_int(g["called"]),
                g["escalate"] or "",
            )
        )
        classes.append("warn" if g["escalate"] else "")
    body += f"<h2>{esc(lab['index_grids'])}</h2>" + table(
        (lab["grid"], lab["csv"], lab["leader"], lab["buildings"], lab["residents_called"],
         lab["to_escalate"]),
        rows,
        numeric=(3, 4, 5),
        row_classes=classes,
    )  # fmt: skip

    if data.has_home_visits and data.routes is not None:
        rows = []
        for r in data.routes.sort("team_id").iter_rows(named=True):
            tid = str(r["team_id"])
            name = r.get("team_name") or tid
            rows.append(
                (
                    link(data.paths.team(tid), named(name, tid)),
                    r.get("stops"),
                    r.get("persons"),
                    f"{r.get('start') or ''}–{r.get('end') or ''}",
                    fmt_int(r.get("walk_m")),
                )
            )
        body += f"<h2>{esc(lab['index_teams'])}</h2>"
        body += table(
            (lab["team"], lab["households"], lab["persons"], lab["hours"], lab["walk_distance_m"]),
            rows,
            numeric=(1, 2, 4),
            times=(3,),
        )
        unserved = (
            0
            if data.home_visits is None
            else data.home_visits.filter(pl.col("team_id").is_null()).height
        )
        if unserved:
            body += bullets([fill(lab["hv_unserved_index"], {"n": unserved})])
    return page(
        title=fill(lab["index_title"], context),
        heading=fill(lab["index_title"], context),
        subtitle=fill(lab["subtitle"], context),
        body=body,
        lang=lang,
        footer=lab["footer"],
    )
