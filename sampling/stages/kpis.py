"""Headline figures of a plan (``summary.json``): coverage, walking, points, bound and gap.

Shares are plain ratios of counts (0–1) with both counts beside them, computed here once;
:func:`sampling.report.percent` is the one place that turns a share into text.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from sampling.scenario.header import Header
from sampling.stages.assignment import AssignmentPlan, UnservedReason


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value with at least share ``q`` of the total weight at or below it."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if len(values) == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    return float(values[order][min(index, len(values) - 1)])


def coverage_share(within_limit: int, walk_in: int) -> float:
    """Share of the walk-in residents assigned within the walking limit; 1.0 when there is no
    walk-in resident (nobody is left uncovered). One rule for a district's summary and the
    city's totals."""
    return within_limit / walk_in if walk_in else 1.0


def assignment_kpis(plan: AssignmentPlan, header: Header) -> dict[str, float | int | str]:
    """Resident totals (conserved: walk-in + home-visit = total), walking and capacity figures."""
    walk_limit_m = header.walking.limit_m
    a = plan.assignments
    served = a.filter(pl.col("point_id").is_not_null())
    unserved = a.filter(pl.col("point_id").is_null() & (pl.col("walk_in") > 0))
    walk_in_total = int(a["walk_in"].sum())
    assigned = int(served["walk_in"].sum())
    within = int(
        served.filter(~pl.col("beyond_limit") & (pl.col("walk_m") <= walk_limit_m + 1e-6))[
            "walk_in"
        ].sum()
    )
    walk = served["walk_m"].to_numpy().astype(float)
    weight = served["walk_in"].to_numpy().astype(float)
    total_weight = weight.sum()
    grids_used = served.group_by("grid_id").agg(pl.col("point_id").n_unique().alias("n"))
    opened = plan.points.filter(pl.col("open"))
    return {
        "residents_total": int(a["residents"].sum()),
        "residents_home_visit": int(a["home_visit_persons"].sum()),
        "residents_walk_in": walk_in_total,
        "residents_assigned": assigned,
        "residents_unserved": int(unserved["walk_in"].sum()),
        # beyond the walking limit of every candidate point, and the temporary points that
        # would reach them (summary's suggested_points)
        "residents_out_of_reach": int(
            unserved.filter(pl.col("unserved_reason") == UnservedReason.OUT_OF_REACH.value)[
                "walk_in"
            ].sum()
        ),
        "points_to_add_for_reach": int(plan.suggested_points["points"].sum()),
        "residents_unserved_capacity": int(
            unserved.filter(pl.col("unserved_reason") == UnservedReason.CAPACITY.value)[
                "walk_in"
            ].sum()
        ),
        "residents_within_limit": within,
        "residents_beyond_limit": int(served.filter(pl.col("beyond_limit"))["walk_in"].sum()),
        "buildings_total": a.height,
        "buildings_unserved": unserved.height,
        "coverage": coverage_share(within, walk_in_total),
        "walk_m_mean": float((walk * weight).sum() / total_weight) if total_weight else 0.0,
        "walk_m_p95": weighted_quantile(walk, weight, 0.95),
        "walk_m_max": float(walk.max()) if len(walk) else 0.0,
        "points_open": opened.height,
        "tables_used": int(opened["tables"].sum()),
        "tables_staffable": plan.staffable_tables,
        "target_utilisation": header.sampling.target_utilisation,
        "target_utilisation_effective": round(plan.target_utilisation, 4),
        "residents_overflow": int(plan.overflow["walk_in"].sum()),
        "grids_split": int((grids_used["n"] > 1).sum()),
        "walk_resident_m": float((walk * weight).sum()),
        "objective": plan.objective,
        "lower_bound": plan.lower_bound,
        "gap": plan.gap,
        "status": plan.status.value,
        "status_reason": plan.reason,
        # walking + unserved against the same bound (which ignores the grid-split penalty)
        "gap_without_grid_penalty": plan.stats.gap_without_group_penalty,
        "grid_penalty": plan.stats.group_penalty,
        # 1 when the wall clock, not the solver's work budget, ended the search: the plan
        # may then differ from another run of the same scenario and seed (see solver.location.work)
        "solver_wall_clock_bound": int(plan.stats.wall_clock_bound),
        **(
            {k: round(v, 3) for k, v in plan.stats.street.as_dict().items()}
            if plan.stats.street is not None
            else {}
        ),
    }
