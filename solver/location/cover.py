"""Where new sampling points would reach the buildings no candidate point reaches.

A building beyond the walking limit of every candidate point gets no point at all (reason
``out_of_reach``). The planner's remedy is a temporary point near it; which ones is a maximum
coverage question: place as few points as possible so that every such building is within
reach of one. :func:`suggest_sites` answers it greedily (each pick reaches the most residents
not yet reached, the classic ``1 − 1/e`` approximation of maximum coverage), with the sites
restricted to the buildings themselves (a temporary point goes up at a building's door), so
every suggestion is a place that exists, and every building ends within reach of one
(a building always reaches its own door).

:func:`cover_sites` takes the reach as pairs (a site at building ``i`` reaches building ``j``),
so it answers for any distance model: the caller gives the pairs within the walking limit as
the candidates measure it — straight line over the detour factor (:func:`suggest_sites`,
:func:`straight_reach`) or walks on the street network (:func:`solver.streets.street_pairs`
with the buildings as both ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

__all__ = ["SiteCover", "cover_sites", "straight_reach", "suggest_sites"]


@dataclass(frozen=True)
class SiteCover:
    """Suggested sites, in the order picked (most residents reached first).

    ``site``: index of the building each site stands at; ``covered_by``: per building, the
    rank (index into ``site``) of the site that reaches it first; ``weight``: residents each
    site reaches that no earlier site did; ``count``: those buildings.
    """

    site: NDArray[np.int64]
    covered_by: NDArray[np.int64]
    weight: NDArray[np.int64]
    count: NDArray[np.int64]


def straight_reach(
    xy: NDArray[np.float64], reach_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs ``(site, building)`` of buildings at planar ``xy`` (metres) within ``reach_m`` of
    each other in a straight line, both ways (a building's own door is added by
    :func:`cover_sites`)."""
    if not (reach_m >= 0 and np.isfinite(reach_m)):
        raise ValueError(f"reach_m must be finite and ≥ 0, got {reach_m}")
    pairs = cKDTree(xy).query_pairs(reach_m, output_type="ndarray").astype(np.int64)
    pairs = pairs.reshape(-1, 2)
    return (
        np.concatenate([pairs[:, 0], pairs[:, 1]]),
        np.concatenate([pairs[:, 1], pairs[:, 0]]),
    )


def suggest_sites(xy: NDArray[np.float64], weight: NDArray[np.int64], reach_m: float) -> SiteCover:
    """Greedy cover (:func:`cover_sites`) of the buildings at planar ``xy`` (metres) by sites
    at buildings, each reaching the buildings within ``reach_m`` in a straight line."""
    n = int(np.asarray(xy).shape[0])
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SiteCover(empty, empty, empty, empty)
    site, building = straight_reach(xy, reach_m)
    return cover_sites(n, site, building, weight)


def cover_sites(
    n: int, site: NDArray[np.int64], building: NDArray[np.int64], weight: NDArray[np.int64]
) -> SiteCover:
    """Greedy cover of ``n`` buildings by sites at buildings, where a site at building
    ``site[k]`` reaches building ``building[k]`` (and every building its own door):
    repeatedly the site reaching the most not yet reached ``weight`` (ties: most buildings,
    then the lowest index), until every building is reached. Buildings of weight 0 are
    covered too (they still need a point). The pairs need not be symmetric (street walks
    measured from either end may differ by the snapping); duplicates count once.
    """
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return SiteCover(empty, empty, empty, empty)
    own = np.arange(n, dtype=np.int64)  # a building always reaches its own door
    rows = np.concatenate([np.asarray(site, dtype=np.int64), own])
    cols = np.concatenate([np.asarray(building, dtype=np.int64), own])
    # reach[i, j] = 1: a site at building i reaches building j (duplicates summed, then 1)
    reach = csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n, n))
    reach.sum_duplicates()
    reach.data[:] = 1.0
    # reached_by[j, i] = 1: building j is reached by a site at i (the rows to update)
    reached_by = reach.T.tocsr()
    sizes = np.diff(reach.indptr).astype(np.int64)
    w = np.asarray(weight, dtype=np.int64)
    gain_w = np.asarray(reach @ w, dtype=np.int64)
    gain_n = sizes.copy()
    covered_by = np.full(n, -1, dtype=np.int64)
    sites: list[int] = []
    got_w: list[int] = []
    got_n: list[int] = []
    order = np.arange(n)
    while (covered_by < 0).any():
        best = int(np.lexsort((order, -gain_n, -gain_w))[0])
        new = reach.indices[reach.indptr[best] : reach.indptr[best + 1]]
        new = new[covered_by[new] < 0]
        covered_by[new] = len(sites)
        sites.append(best)
        got_w.append(int(w[new].sum()))
        got_n.append(int(new.shape[0]))
        # the newly reached buildings no longer count for any site that reaches them
        lost = reached_by[new]  # row j: the sites reaching building j
        gain_w -= np.asarray(lost.T @ w[new], dtype=np.int64)
        gain_n -= np.asarray(lost.sum(axis=0), dtype=np.int64).ravel()
    return SiteCover(
        site=np.asarray(sites, dtype=np.int64),
        covered_by=covered_by,
        weight=np.asarray(got_w, dtype=np.int64),
        count=np.asarray(got_n, dtype=np.int64),
    )
