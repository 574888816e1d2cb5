"""The SCIP work model (:mod:`solver.location.work`): what a call is charged and what its
limits afford agree, and an LP iteration is charged by the model's sites, not its size."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from solver.location import work

SITES = st.integers(min_value=1, max_value=5_000)
COLUMNS = st.integers(min_value=1, max_value=200_000)


@given(
    sites=SITES,
    nonzeros=st.integers(min_value=1, max_value=400_000),
    more=st.integers(min_value=1, max_value=400_000),
    iterations=st.integers(min_value=0, max_value=100_000),
)
def test_an_lp_iteration_costs_the_same_at_any_model_size(
    sites: int, nonzeros: int, more: int, iterations: int
) -> None:
    """Two calls on models of the same sites differ in their LP-iteration charge only by their
    iterations: the coefficients are charged by the build and the nodes, not per iteration
    (measured: at the same coefficients an iteration costs 4 × more with 150 sites than with
    14)."""
    a = work.mip_work(nonzeros, 1, iterations, sites) - work.mip_work(nonzeros, 1, 0, sites)
    b = work.mip_work(nonzeros + more, 1, iterations, sites)
    b -= work.mip_work(nonzeros + more, 1, 0, sites)
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(a, iterations * work.mip_iteration_work(sites), rel_tol=1e-9)


@given(sites=SITES, more=st.integers(min_value=1, max_value=5_000))
def test_more_sites_make_an_iteration_dearer(sites: int, more: int) -> None:
    """The charge per LP iteration grows with the model's sites (its capacity rows)."""
    assert work.mip_iteration_work(sites + more) > work.mip_iteration_work(sites)


@given(
    allowance=st.floats(min_value=1e-4, max_value=100.0),
    columns=COLUMNS,
    per_column=st.floats(min_value=2.0, max_value=8.0),
    sites=SITES,
    root=st.sampled_from(
        [work.MIP_ROOT_ITERATIONS, work.MIP_FIXED_ROOT_ITERATIONS, work.MIP_WHOLE_ROOT_ITERATIONS]
    ),
)
def test_the_node_limit_affords_what_the_charge_counts(
    allowance: float, columns: int, per_column: float, sites: int, root: float
) -> None:
    """A call that takes all the nodes its allowance affords, the root and every further node
    at their estimated LP iterations, is charged no more than the allowance; one node more
    would be charged more."""
    nonzeros = int(per_column * columns)
    nodes = work.mip_node_limit(allowance, columns, nonzeros, sites, root)
    root_iterations = math.ceil(root * columns)
    if nodes == 0:
        assert work.mip_root_work(columns, nonzeros, sites, root) > allowance
        return

    def charged(n: int) -> float:
        iterations = root_iterations + (n - 1) * work.MIP_NODE_ITERATIONS * columns
        return (
            work.MIP_CALL
            + work.mip_build_work(nonzeros)
            + work.mip_iteration_work(sites) * iterations
            + work.MIP_PER_NODE * n * nonzeros
        )

    assert charged(nodes) <= allowance * (1 + 1e-9)
    assert charged(nodes + 1) > allowance * (1 - 1e-9)
