"""Sparse building → point pairs inside the walking limit.

Only pairs a resident may walk exist in the assignment model, which is what makes district
scale tractable (design.md: "sparsify first"). Pairs come from two KD-trees
(``scipy.spatial.cKDTree.sparse_distance_matrix`` with a distance cap), so the work is
proportional to the number of pairs, never buildings × points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Pairs:
    """Building–point pairs within reach, sorted by building then distance.

    ``straight_m`` is the straight-line distance; ``walk_m`` the estimated walking distance
    (straight line × detour factor, or a street distance once available).
    """

    building: NDArray[np.int32]
    point: NDArray[np.int32]
    straight_m: NDArray[np.float64]
    walk_m: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.building.shape[0])


def pairs_within(
    building_xy: NDArray[np.float64],
    point_xy: NDArray[np.float64],
    *,
    walk_limit_m: float,
    detour_factor: float,
) -> Pairs:
    """All pairs whose walking distance (straight × detour) is at most ``walk_limit_m``.

    ``building_xy`` and ``point_xy`` are ``(n, 2)`` planar metres.
    """
    reach = walk_limit_m / detour_factor
    if len(building_xy) == 0 or len(point_xy) == 0:
        empty_i = np.zeros(0, dtype=np.int32)
        empty_f = np.zeros(0, dtype=np.float64)
        return Pairs(empty_i, empty_i, empty_f, empty_f)
    buildings = cKDTree(building_xy)
    points = cKDTree(point_xy)
    matrix = buildings.sparse_distance_matrix(points, reach, output_type="coo_matrix")
    building = matrix.row.astype(np.int32)
    point = matrix.col.astype(np.int32)
    straight = matrix.data.astype(np.float64)
    # sparse_distance_matrix drops exact zeros (a point at a building's door): add them back.
    near_b, near_p = _zero_distance_pairs(buildings, points)
    if len(near_b):
        building = np.concatenate([building, near_b])
        point = np.concatenate([point, near_p])
        straight = np.concatenate([straight, np.zeros(len(near_b))])
    order = np.lexsort((point, straight, building))
    building, point, straight = building[order], point[order], straight[order]
    keep = np.ones(len(building), dtype=bool)
    if len(building) > 1:  # drop duplicates of zero-distance pairs found twice
        keep[1:] = (building[1:] != building[:-1]) | (point[1:] != point[:-1])
    building, point, straight = building[keep], point[keep], straight[keep]
    return Pairs(building, point, straight, straight * detour_factor)


def _zero_distance_pairs(
    buildings: cKDTree, points: cKDTree
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    found = buildings.query_ball_tree(points, r=1e-9)
    counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    if counts.sum() == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    rows = np.repeat(np.arange(len(found), dtype=np.int32), counts)
    cols = np.fromiter((j for f in found for j in f), dtype=np.int32, count=int(counts.sum()))
    return rows, cols


def nearest(
    building_xy: NDArray[np.float64], point_xy: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """Each building's nearest point and the straight-line distance to it."""
    if len(point_xy) == 0:
        return np.full(len(building_xy), -1, dtype=np.int32), np.full(len(building_xy), np.inf)
    distance, index = cKDTree(point_xy).query(building_xy, k=1)
    return np.asarray(index, dtype=np.int32), np.asarray(distance, dtype=np.float64)
