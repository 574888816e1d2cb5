"""The walking part's gap (``gap_without_group_penalty``) never contradicts the full gap."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from solver.location.engine import solve
from solver.location.model import gap_without_group_penalty
from tests.test_location import TL, WALL, random_problem

amounts = st.integers(0, 10**9).map(float)  # costs: residents × metres
shares = st.one_of(st.just(0.0), st.floats(1e-6, 1.0))


@given(walking=amounts, penalty=amounts, slack=amounts, lag_share=shares)
def test_its_absolute_gap_is_at_most_the_full_one(
    walking: float, penalty: float, slack: float, lag_share: float
) -> None:
    """Bounds as the engine has them (the full bound below the objective, the Lagrangian
    below the walking part): the walking part's gap in cost units is at most the full gap's."""
    objective = walking + penalty
    bound = max(objective - slack, 0.0)
    lagrangian = lag_share * walking
    gap = gap_without_group_penalty(objective, penalty, bound, lagrangian)
    walking_bound = max(lagrangian, bound - penalty)
    if walking_bound <= 0:
        assert gap is None
        return
    assert gap is not None and gap >= 0.0
    share_of = max(bound, walking_bound)  # the full gap's denominator
    assert gap * share_of <= (objective - bound) + 1e-9 * max(objective, 1.0)
    # against the Lagrangian alone it is never larger (up to the rounding of walking + penalty)
    if lagrangian > 0:
        assert gap * share_of <= max(0.0, walking - lagrangian) + 1e-9 * max(objective, 1.0)
    # and as a percentage it never reads above the full gap (same denominator)
    if bound > 0:
        assert gap <= (objective - bound) / bound + 1e-9


def test_a_proven_plan_has_no_walking_gap() -> None:
    """A MIP bound on the full objective proves the walking part too: 0 % is not reported
    as the Lagrangian's gap."""
    assert gap_without_group_penalty(100.0, 0.0, 100.0, 90.0) == 0.0
    assert gap_without_group_penalty(100.0, 10.0, 100.0, 80.0) == 0.0
    # walking 90 against its bound 85: 5 cost units, a share of the full bound 95 like the
    # full gap (5 / 95), not 5 / 85 — which read above the full gap
    assert gap_without_group_penalty(100.0, 10.0, 95.0, 80.0) == pytest.approx(5 / 95)
    assert gap_without_group_penalty(100.0, 10.0, 0.0, 0.0) is None


@pytest.mark.parametrize("seed", range(12))
def test_the_engine_reports_them_consistently(seed: int) -> None:
    """Random grid instances: the engine's walking gap, in cost units and as a percentage, is
    at most its full gap, and a plan proven optimal has none."""
    p = random_problem(seed, 18, 6)
    rng = np.random.default_rng(seed)
    p = dataclasses.replace(
        p, group=rng.integers(0, 5, size=18).astype(np.int32), group_split_penalty=40.0
    )
    r = solve(p, time_limit=WALL, work_budget=TL, seed=seed)
    if r.status not in ("optimal", "feasible"):
        return
    walking_gap = r.stats.get("gap_without_group_penalty")
    assert walking_gap is not None and walking_gap >= 0.0
    walking = r.objective - r.stats["group_penalty"]
    walking_bound = max(r.stats["lagrangian_bound"], r.lower_bound - r.stats["group_penalty"])
    share_of = max(r.lower_bound, walking_bound)
    assert walking_gap * share_of <= r.objective - r.lower_bound + 1e-6 * r.objective
    assert walking - walking_gap * share_of == pytest.approx(min(walking, walking_bound))
    assert walking_gap <= r.gap + 1e-9  # the percentages agree too
    if r.status == "optimal":
        assert walking_gap <= 1e-6
