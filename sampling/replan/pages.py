"""The re-plan's printable pages: ``changes.html`` (notices) and ``catchup/<grid>.html``.

Both extend the documents' base layout (``sampling/templates/base.html``, its ``print.css``):
cards on a phone, full tables at a desk and on paper, A4 with a running header and page
numbers, and every value escaped by the documents' Jinja2 environment. Python only prepares
plain values here; the markup is in ``replan_notices.html`` and ``replan_catchup.html``.
Each notice (one per grid leader, one per team) starts its own printed page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from sampling.documents.html import fill, label_namespace, page_context, template
from sampling.scenario.model import Scenario

__all__ = ["CATCHUP_HEADER", "CHANGE_HEADER", "catchup_page", "notices_page"]

CHANGE_HEADER = (
    "kind",
    "building",
    "team",
    "household",
    "old",
    "new",
    "old_time",
    "new_time",
    "residents",
    "travel",
)
"""Columns of a notice (label keys ``replan_col_*``), in the order of :func:`_row`."""

_CHANGE_CLASS = ("text", "name", "name", "name", "name", "name", "t", "t", "n", "n")
"""Cell class of each notice column (print.css: names never squeezed, times on one line)."""

CATCHUP_HEADER = (
    "grid",
    "building",
    "point",
    "expected",
    "sampled",
    "missing",
    "new_point",
    "new_call",
)
"""Columns of ``catchup.parquet`` and ``catchup/<grid>.csv`` (label keys ``replan_catchup_*``)."""


def _row(r: Mapping[str, Any], lab: Mapping[str, str]) -> tuple[object, ...]:
    return (
        lab.get(f"replan_kind_{r['kind']}", r["kind"]),
        r["building_id"],
        r["team_id"],
        r["household_id"],
        r["old_point_id"],
        r["new_point_id"],
        r["old_time"],
        r["new_time"],
        r["residents"],
        r.get("travel_min"),
    )


def _notice(
    heading: str, grid: bool, leader: str, rows: pl.DataFrame, lab: Mapping[str, str]
) -> dict[str, Any]:
    """One notice (``grid``: a grid leader's, else a team's): only the columns with a value in some row (a grid's building moves need no
    team or household column), each cell as (label, class, value)."""
    full = [_row(r, lab) for r in rows.iter_rows(named=True)]
    used = [i for i in range(len(CHANGE_HEADER)) if any(row[i] not in (None, "") for row in full)]
    columns = [(lab[f"replan_col_{CHANGE_HEADER[i]}"], _CHANGE_CLASS[i]) for i in used]
    return {
        "heading": heading,
        "grid": grid,
        "leader": leader,
        "columns": columns,
        "rows": [[(*columns[k], row[i]) for k, i in enumerate(used)] for row in full],
    }


def notices_page(
    changes: pl.DataFrame,
    scenario: Scenario,
    summary: Mapping[str, Any],
    lab: Mapping[str, str],
    lang: str,
) -> str:
    """``changes.html``: one notice per grid leader (their buildings and households) and one
    per team, in the order of ``changes`` (see :mod:`sampling.replan.changes`)."""
    leaders: dict[str, str] = {}
    if scenario.grids is not None and "leader" in scenario.grids.columns:
        leaders = {
            str(g): str(leader or "")
            for g, leader in scenario.grids.select("grid_id", "leader").iter_rows()
        }
    notices: list[dict[str, Any]] = []
    grids = changes.filter(pl.col("grid_id").is_not_null())
    for (gid,), rows in grids.group_by("grid_id", maintain_order=True):
        heading = fill(lab["replan_notice_grid"], grid=gid)
        notices.append(_notice(heading, True, leaders.get(str(gid), ""), rows, lab))
    teams = changes.filter(pl.col("team_id").is_not_null())
    for (tid,), rows in teams.group_by("team_id", maintain_order=True):
        notices.append(_notice(fill(lab["replan_notice_team"], team=tid), False, "", rows, lab))
    title = fill(lab["replan_changes_title"], scenario=summary.get("scenario", ""))
    return template("replan_notices.html").render(
        page_context(scenario.header, lab, lang, title=title, heading=title),
        lab=label_namespace(lab),
        intro=fill(lab["replan_changes_intro"], at=summary.get("replan_at", "")),
        notices=notices,
    )


def catchup_page(
    gid: str,
    rows: pl.DataFrame,
    scenario: Scenario,
    summary: Mapping[str, Any],
    lab: Mapping[str, str],
    lang: str,
) -> str:
    """``catchup/<grid>.html``: the grid's buildings with residents to catch up (the rows of
    ``catchup.parquet`` for ``gid``), with the grid's totals; the grid is in the heading, so
    the page has no grid column. A building the re-plan leaves without a point says so
    (``replan_catchup_no_point``) instead of an empty cell."""
    leader = ""
    if scenario.grids is not None and "leader" in scenario.grids.columns:
        found = scenario.grids.filter(pl.col("grid_id") == gid)["leader"].drop_nulls()
        leader = str(found[0]) if found.len() else ""
    title = fill(lab["replan_catchup_title"], grid=gid)
    body = rows.select(
        "building_id",
        "point_id",
        "expected",
        "sampled",
        "missing",
        pl.col("new_point_id").fill_null(lab["replan_catchup_no_point"]),
        "new_call",
    )
    return template("replan_catchup.html").render(
        page_context(scenario.header, lab, lang, title=title, heading=title),
        lab=label_namespace(lab),
        intro=fill(lab["replan_catchup_intro"], at=summary.get("replan_at", "")),
        leader=leader,
        rows=list(body.iter_rows()),
        total={c: int(rows[c].sum()) for c in ("expected", "sampled", "missing")},
    )
