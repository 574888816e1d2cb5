"""The whole-district engine's construction (:func:`solver.location.engine._district`).

Whole districts (grids, beyond ``SMALL_ARCS`` arcs) skip the drop heuristic and plan no
relaxation sets while refining the bound; other instances keep the general construction.
``SMALL_ARCS`` is lowered so that small instances take the large path.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from solver.location import engine
from solver.location.engine import solve
from tests.test_location import check_feasible
from tests.test_location_decompose import local_problem

BUDGET = 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_whole_district_skips_drop_and_refine_plans(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    p = local_problem(seed, 120, 30, options=2)
    assert p.group is not None
    res = solve(p, time_limit=60.0, work_budget=BUDGET, seed=seed, decompose=False)
    assert res.status in ("optimal", "feasible")
    check_feasible(p, res)
    assert not res.stats.get("wall_clock_bound")
    assert "work_drop" not in res.stats
    assert "lagrangian_heuristic_calls" not in res.stats
    assert res.stats["pmedian_rounds"] >= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_grids_the_general_construction_runs(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SMALL_ARCS", 0)
    p = replace(local_problem(seed, 120, 30, options=1), group=None, group_split_penalty=0.0)
    res = solve(p, time_limit=60.0, work_budget=BUDGET, seed=seed, decompose=False)
    assert res.status in ("optimal", "feasible")
    check_feasible(p, res)
    assert res.stats["work_drop"] > 0
    assert res.stats["lagrangian_heuristic_calls"] >= 1
