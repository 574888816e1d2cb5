"""The engine says ``infeasible`` only with a proof, and finds a plan whenever one exists.

Tiny random instances are checked against brute-force enumeration: no plan ⇒ ``infeasible``
with a reason (proven by the MIP over all arcs or the counting checks), a plan ⇒ ``optimal``
or ``feasible``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from solver.location.engine import LocationProblem, solve
from tests.test_location import brute_force, check_feasible, random_problem

TL = 2.0  # work budget (estimated seconds, solver.location.work): what ends the search
WALL = 60.0  # wall-clock safety stop only, generous so that a loaded machine gives the same plan


def test_tiny_instance_without_plan_is_proven_infeasible() -> None:
    """max_open = 1, client 1 reaches only site 0, clients 0 and 2 only sites 1 and 2."""
    p = random_problem(21, 3, 3)
    assert math.isinf(brute_force(p))
    r = solve(p, time_limit=WALL, work_budget=TL, seed=1)
    assert r.status == "infeasible"
    assert "all" in r.reason and "arcs" in r.reason
    assert math.isinf(r.objective) and np.all(r.site_of_client == -1)


def _cases() -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(2026)
    return [(s, int(rng.integers(1, 8)), int(rng.integers(1, 5))) for s in range(60)]


@pytest.mark.parametrize(("seed", "n", "m"), _cases())
def test_status_matches_brute_force(seed: int, n: int, m: int) -> None:
    p = random_problem(seed, n, m)
    opt = brute_force(p)
    r = solve(p, time_limit=WALL, work_budget=TL, seed=0)
    if math.isinf(opt):
        assert r.status == "infeasible", r.reason
        assert r.reason
        return
    assert r.status in ("optimal", "feasible"), r.reason
    check_feasible(p, r)
    assert r.objective <= opt + 1e-6 * max(1.0, opt)


def test_both_outcomes_are_covered() -> None:
    """The random cases above hold infeasible and feasible instances."""
    kinds = {math.isinf(brute_force(random_problem(s, n, m))) for s, n, m in _cases()}
    assert kinds == {True, False}


def test_trivial_plan_when_nothing_can_be_served() -> None:
    """No table may be used at all, every client may stay unserved: the plan serves nobody."""
    n, m = 4, 3
    cli, site = np.nonzero(np.ones((n, m), dtype=bool))
    p = LocationProblem(
        demand=np.full(n, 2, dtype=np.int64),
        capacity=np.full(m, 10, dtype=np.int64),
        arc_client=cli.astype(np.int32),
        arc_site=site.astype(np.int32),
        arc_cost=np.ones(cli.shape[0]),
        site_status=np.array([1, 0, 0], dtype=np.int8),
        max_open=2,
        exact_open=True,
        unserved_cost=np.full(n, 50.0),
        unit_capacity=5,
        max_units_total=0,
    )
    r = solve(p, time_limit=WALL, work_budget=TL)
    assert r.status in ("optimal", "feasible")
    assert np.all(r.site_of_client == -1)
    assert int(r.open_sites.sum()) == 2 and r.open_sites[0]
    assert r.objective == pytest.approx(200.0)
