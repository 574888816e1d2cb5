"""Progress reports (``--progress``) and the estimate of who has been swabbed by ``--at``.

Two forms, as points and the registration system report them:

* point level — ``point_id, time, sampled``: cumulative swabs at a point by a time;
* building level — ``building_id, sampled``: cumulative residents of a building swabbed.

**The estimate.** Each call of the saved timetable is *due* by ``--at`` in proportion to the
part of its slot that has passed (a call 09:45–10:00 is all due at 10:00, half due at 09:52):
that is the *expected* count. A point that reports is taken at its latest report at or before
``--at`` (later reports are ignored; an earlier one is not extrapolated: whoever is not yet
counted is still to come). Its swabs are given to its calls first-come first-served in call
order — earlier slots are served first, so buildings called in earlier slots are done and the
last ones called are partly waiting. A point without a report is assumed on plan (sampled =
expected). Building-level counts override the estimate for their buildings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sampling.clock import parse_clock
from sampling.errors import Problem, ScenarioError
from sampling.scenario.reading import read_text_columns

__all__ = ["Progress", "estimate_sampled", "read_progress"]


@dataclass(frozen=True)
class Progress:
    """Reports read from the progress files: ``points`` (``point_id``, ``time`` minutes,
    ``sampled``) and ``buildings`` (``building_id``, ``sampled``)."""

    points: pl.DataFrame
    buildings: pl.DataFrame

    @classmethod
    def empty(cls) -> Progress:
        """No reports: everything is assumed on plan."""
        return cls(
            pl.DataFrame(schema={"point_id": pl.String, "time": pl.Int32, "sampled": pl.Int64}),
            pl.DataFrame(schema={"building_id": pl.String, "sampled": pl.Int64}),
        )

    def merged(self, other: Progress) -> Progress:
        """Both files' reports (a building reported twice keeps the larger count)."""
        return Progress(
            pl.concat([self.points, other.points]),
            pl.concat([self.buildings, other.buildings])
            .group_by("building_id", maintain_order=True)
            .agg(pl.col("sampled").max()),
        )


def read_progress(path: Path, *, points: set[str], buildings: set[str]) -> Progress:
    """One progress file, point level (``point_id, time, sampled``) or building level
    (``building_id, sampled``); every problem listed with its row and column."""
    label = path.name
    frame, problems = read_text_columns(path, label)
    if frame is None:
        raise ScenarioError(problems)
    wanted: tuple[str, ...]
    if "building_id" in frame.columns:
        key, known, wanted = "building_id", buildings, ("building_id", "sampled")
    elif "point_id" in frame.columns:
        key, known, wanted = "point_id", points, ("point_id", "time", "sampled")
    else:
        raise ScenarioError(
            [
                *problems,
                Problem(
                    label,
                    "not a progress table",
                    expected="columns point_id, time, sampled or building_id, sampled",
                ),
            ]
        )
    problems += [Problem(label, "missing column", column=c) for c in wanted if c not in frame]
    if problems:
        raise ScenarioError(problems)
    ids: list[str] = []
    times: list[int] = []
    counts: list[int] = []
    for index, raw in enumerate(frame.select(wanted).iter_rows()):
        row = index + 2
        values = dict(zip(wanted, raw, strict=True))
        ident = values[key]
        if ident is None or ident not in known:
            problems.append(Problem(label, f"unknown {key[:-3]}", row, key, ident))
        if key == "point_id":
            text = values["time"]
            try:
                times.append(parse_clock(text or ""))
            except ValueError:
                problems.append(Problem(label, "not a time of day", row, "time", text, "HH:MM"))
        text = values["sampled"]
        try:
            count = int(text) if text is not None else -1
        except ValueError:
            count = -1
        if count < 0 or count > 1_000_000_000:
            problems.append(
                Problem(label, "not a valid count", row, "sampled", text, "a whole number ≥ 0")
            )
        ids.append(ident or "")
        counts.append(count)
    if problems:
        raise ScenarioError(problems)
    empty = Progress.empty()
    if key == "building_id":
        reported = pl.DataFrame(
            {"building_id": ids, "sampled": counts}, schema=empty.buildings.schema
        )
        return Progress(empty.points, empty.merged(Progress(empty.points, reported)).buildings)
    reported = pl.DataFrame(
        {"point_id": ids, "time": times, "sampled": counts}, schema=empty.points.schema
    )
    return Progress(reported, empty.buildings)


def due_share(start: pl.Expr, end: pl.Expr, at: int) -> pl.Expr:
    """Share of a call ``[start, end)`` that is due by ``at`` (0 before, 1 after)."""
    length = pl.max_horizontal(end - start, pl.lit(1))
    return ((pl.lit(at) - start) / length).clip(0.0, 1.0)


def estimate_sampled(
    timetable: pl.DataFrame, walk_in: pl.DataFrame, progress: Progress, at: int
) -> pl.DataFrame:
    """Per building: ``expected`` (residents due by ``at``) and ``sampled`` (the estimate).

    ``timetable``: the saved calls (``building_id``, ``point_id``, ``call_start_min``,
    ``call_end_min``, ``residents``); ``walk_in``: ``building_id``, ``walk_in`` (every building).
    ``sampled`` never exceeds ``walk_in``.
    """
    calls = (
        timetable.select("building_id", "point_id", "call_start_min", "call_end_min", "residents")
        .with_columns(
            (pl.col("residents") * due_share(pl.col("call_start_min"), pl.col("call_end_min"), at))
            .floor()
            .cast(pl.Int64)
            .alias("due")
        )
        .sort("point_id", "call_start_min", "call_end_min", "building_id", maintain_order=True)
    )
    latest = (
        progress.points.filter(pl.col("time") <= at)
        .sort("point_id", "time", maintain_order=True)
        .group_by("point_id", maintain_order=True)
        .agg(pl.col("sampled").last().alias("reported"))
    )
    calls = calls.join(latest, on="point_id", how="left", maintain_order="left").with_columns(
        (pl.col("residents").cum_sum().over("point_id") - pl.col("residents")).alias("before")
    )
    first_come = (pl.col("reported") - pl.col("before")).clip(lower_bound=0)
    calls = calls.with_columns(
        pl.when(pl.col("reported").is_null())
        .then(pl.col("due"))
        .otherwise(pl.min_horizontal(first_come, pl.col("residents")))
        .alias("served")
    )
    per_building = calls.group_by("building_id").agg(
        pl.col("due").sum().alias("expected"), pl.col("served").sum().alias("estimated")
    )
    out = (
        walk_in.select("building_id", "walk_in")
        .join(per_building, on="building_id", how="left", maintain_order="left")
        .join(
            progress.buildings.rename({"sampled": "reported"}),
            on="building_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("expected").fill_null(0), pl.col("estimated").fill_null(0))
        .with_columns(
            pl.min_horizontal(
                pl.coalesce(pl.col("reported"), pl.col("estimated")), pl.col("walk_in")
            )
            .cast(pl.Int64)
            .alias("sampled"),
            pl.min_horizontal(pl.col("expected"), pl.col("walk_in"))
            .cast(pl.Int64)
            .alias("expected"),
        )
    )
    return out.select("building_id", "expected", "sampled")
