"""Walking distances on a street graph: snap to the nearest street, then Dijkstra with a limit.

Pure arrays, no I/O (``sampling.osm.extract`` reads OpenStreetMap extracts into a :class:`StreetGraph`).
A building's or point's position is *snapped* to the nearest point on any street segment (not
just the nearest node), and the walking distance of a pair is

    snap(building) + network distance between the two snapped positions + snap(point),

never less than the straight line (it is clamped up to it: equirectangular coordinates and
haversine edge lengths can differ by centimetres). The network part runs one
``scipy.sparse.csgraph.dijkstra`` per *point* (points are fewer than buildings) with
``limit=walk_limit_m``, in chunks of nearby points, each on the subgraph within straight-line
reach of the chunk, so the dense distance rows stay small and the work grows with the number
of points, not points × city. Only building–point pairs whose
straight line is inside the limit are looked at at all (a KD-tree pass first).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from solver.location.candidates import Pairs, pairs_within

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SNAP_STEP_M = 25.0
"""Spacing of the sample points laid along streets for the snapping KD-tree (exactness below)."""
DETOUR_MIN_STRAIGHT_M = 100.0
"""Pairs closer than this are left out of the observed detour factor (snapping dominates them)."""
_CHUNK_CELLS = 8_000_000
"""Most dense Dijkstra cells (points × nodes) per chunk: 64 MB of float64."""
_POINTS_PER_CHUNK = 32
"""Nearby points searched together (one subgraph, one Dijkstra call)."""


@dataclass(frozen=True)
class StreetGraph:
    """An undirected walking graph in planar metres (the scenario's projection).

    ``u``/``v`` index the nodes; ``length_m`` is each edge's walking length (≥ 0). Edges
    should be simple (see :func:`collapse_edges`); node coordinates place the edges on the map
    for snapping, each edge being the straight segment between its two nodes.
    """

    x: FloatArray
    y: FloatArray
    u: IntArray
    v: IntArray
    length_m: FloatArray

    def __post_init__(self) -> None:
        n, m = len(self.x), len(self.u)
        if len(self.y) != n or len(self.v) != m or len(self.length_m) != m:
            raise ValueError("street graph arrays have inconsistent lengths")
        if m and (min(self.u.min(), self.v.min()) < 0 or max(self.u.max(), self.v.max()) >= n):
            raise ValueError("street graph edges refer to missing nodes")
        if m and not np.all(np.isfinite(self.length_m) & (self.length_m >= 0)):
            raise ValueError("street graph edge lengths must be finite and ≥ 0")

    @property
    def nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def edges(self) -> int:
        """Number of edges."""
        return len(self.u)


@dataclass(frozen=True)
class Snap:
    """Where positions meet the street graph: edge, fraction ``t`` from its ``u``, distance."""

    edge: IntArray
    t: FloatArray
    distance_m: FloatArray


@dataclass(frozen=True)
class SnapReport:
    """How well buildings and points sit on the street graph, and the detour it implies.

    ``*_far`` are indices of buildings / points snapped farther than ``snap_warn_m`` (a missing
    street or a misplaced building). ``detour_median``/``detour_mean`` are street ÷ straight
    over the pairs found (straight ≥ 100 m), weighted by the buildings' weights (residents),
    NaN when no pair qualifies.
    """

    snap_warn_m: float
    building_snap_max_m: float
    building_snap_mean_m: float
    point_snap_max_m: float
    point_snap_mean_m: float
    buildings_far: NDArray[np.int32]
    points_far: NDArray[np.int32]
    detour_median: float
    detour_mean: float
    pairs: int
    graph_nodes: int
    graph_edges: int
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable summary lines (for the CLI and logs)."""
        return [
            f"street graph {self.graph_nodes:,} nodes, {self.graph_edges:,} edges;"
            f" {self.pairs:,} building–point pairs within the walk",
            f"snap to street: buildings max {self.building_snap_max_m:.0f} m,"
            f" mean {self.building_snap_mean_m:.1f} m; points max {self.point_snap_max_m:.0f} m,"
            f" mean {self.point_snap_mean_m:.1f} m",
            f"over {self.snap_warn_m:.0f} m from a street: {len(self.buildings_far):,}"
            f" buildings, {len(self.points_far):,} points",
            f"observed detour factor (street ÷ straight, resident-weighted):"
            f" median {self.detour_median:.2f}, mean {self.detour_mean:.2f}",
        ]


def collapse_edges(
    u: IntArray, v: IntArray, length_m: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Simple undirected edges: ``u < v``, self-loops dropped, parallel edges → the shortest.

    Output is sorted by (u, v), so the same input edges in any order give the same arrays.
    """
    a = np.minimum(u, v).astype(np.int64)
    b = np.maximum(u, v).astype(np.int64)
    keep = a != b
    a, b, w = a[keep], b[keep], np.asarray(length_m, dtype=np.float64)[keep]
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], w[first]


def largest_component(n_nodes: int, u: IntArray, v: IntArray) -> NDArray[np.bool_]:
    """Mask of the nodes in the largest connected component (ties: the lowest label).

    Clipped extracts leave street fragments at their edges; a building snapped onto one would
    reach no point, so readers keep only the main network.
    """
    if n_nodes == 0:
        return np.zeros(0, dtype=bool)
    adjacency = coo_matrix((np.ones(len(u)), (u, v)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(adjacency, directed=False)
    sizes = np.bincount(labels)
    mask: NDArray[np.bool_] = labels == int(np.argmax(sizes))
    return mask


def snap_to_edges(graph: StreetGraph, xy: FloatArray, *, step_m: float = SNAP_STEP_M) -> Snap:
    """The nearest point on any edge segment for each row of ``xy`` (exact, vectorised).

    Samples are laid along every edge at most ``step_m`` apart (both ends included) into a
    KD-tree. If the nearest sample is ``D`` away, the true nearest segment point is at most
    ``D`` away and some sample of that segment lies within ``D + step_m / 2``; so projecting
    onto every edge with a sample in that ball finds the exact nearest segment point.
    """
    if graph.edges == 0:
        raise ValueError("the street graph has no edges to snap to")
    n = len(xy)
    if n == 0:
        return Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    x0, y0 = graph.x[graph.u], graph.y[graph.u]
    dx, dy = graph.x[graph.v] - x0, graph.y[graph.v] - y0
    seg = np.hypot(dx, dy)
    pieces = np.maximum(np.ceil(seg / step_m), 1).astype(np.int64)
    count = pieces + 1
    edge_of = np.repeat(np.arange(graph.edges, dtype=np.int64), count)
    start = np.cumsum(count) - count
    frac = (np.arange(len(edge_of)) - np.repeat(start, count)) / np.repeat(pieces, count)
    samples = np.column_stack([x0[edge_of] + frac * dx[edge_of], y0[edge_of] + frac * dy[edge_of]])
    tree = cKDTree(samples)
    nearest, _ = tree.query(xy, k=1)
    radius = np.asarray(nearest, dtype=np.float64) + step_m / 2.0 + 1e-6
    found = tree.query_ball_point(xy, r=radius)
    sizes = np.fromiter((len(f) for f in found), dtype=np.int64, count=n)
    sample = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=sizes.sum())
    query = np.repeat(np.arange(n, dtype=np.int64), sizes)
    edge = edge_of[sample]
    key = np.unique(query * graph.edges + edge)  # one candidate per (query, edge)
    query, edge = key // graph.edges, key % graph.edges
    seg2 = seg[edge] ** 2
    px, py = xy[query, 0] - x0[edge], xy[query, 1] - y0[edge]
    t = np.divide(px * dx[edge] + py * dy[edge], seg2, out=np.zeros(len(edge)), where=seg2 > 0)
    t = np.clip(t, 0.0, 1.0)
    dist = np.hypot(px - t * dx[edge], py - t * dy[edge])
    order = np.lexsort((edge, dist, query))  # per query: nearest, ties → lowest edge
    query, edge, t, dist = query[order], edge[order], t[order], dist[order]
    first = np.ones(len(query), dtype=bool)
    first[1:] = query[1:] != query[:-1]
    return Snap(edge[first], t[first], dist[first])


def street_pairs(
    graph: StreetGraph,
    building_xy: FloatArray,
    point_xy: FloatArray,
    *,
    walk_limit_m: float,
    snap_warn_m: float = 150.0,
    building_weight: FloatArray | None = None,
) -> tuple[Pairs, SnapReport]:
    """Building–point pairs whose street walking distance is at most ``walk_limit_m``.

    ``building_xy``/``point_xy`` are ``(n, 2)`` planar metres in the graph's projection.
    ``walk_m`` = snap(building) + network + snap(point), at least ``straight_m``; pairs are
    sorted by building, then walking distance, then point. ``building_weight`` (residents)
    weights the observed detour factor in the report.
    """
    clock = time.perf_counter()
    building_xy = np.asarray(building_xy, dtype=np.float64).reshape(-1, 2)
    point_xy = np.asarray(point_xy, dtype=np.float64).reshape(-1, 2)
    n_b, n_p = len(building_xy), len(point_xy)
    b_snap = snap_to_edges(graph, building_xy)
    p_snap = snap_to_edges(graph, point_xy)
    seconds = {"snap": time.perf_counter() - clock}

    clock = time.perf_counter()
    near = pairs_within(building_xy, point_xy, walk_limit_m=walk_limit_m, detour_factor=1.0)
    near = _reachable_by_snap(near, b_snap, p_snap, walk_limit_m)
    walk = _network_walk(graph, b_snap, p_snap, near, walk_limit_m)
    walk = np.maximum(walk, near.straight_m)
    keep = walk <= walk_limit_m
    building, point = near.building[keep], near.point[keep]
    straight, walk = near.straight_m[keep], walk[keep]
    order = np.lexsort((point, walk, building))
    pairs = Pairs(building[order], point[order], straight[order], walk[order])
    seconds["network"] = time.perf_counter() - clock

    weight = np.ones(n_b) if building_weight is None else np.asarray(building_weight, np.float64)
    median, mean = _detour(pairs, weight)
    report = SnapReport(
        snap_warn_m=snap_warn_m,
        building_snap_max_m=float(b_snap.distance_m.max()) if n_b else 0.0,
        building_snap_mean_m=float(b_snap.distance_m.mean()) if n_b else 0.0,
        point_snap_max_m=float(p_snap.distance_m.max()) if n_p else 0.0,
        point_snap_mean_m=float(p_snap.distance_m.mean()) if n_p else 0.0,
        buildings_far=np.flatnonzero(b_snap.distance_m > snap_warn_m).astype(np.int32),
        points_far=np.flatnonzero(p_snap.distance_m > snap_warn_m).astype(np.int32),
        detour_median=median,
        detour_mean=mean,
        pairs=len(pairs),
        graph_nodes=graph.nodes,
        graph_edges=graph.edges,
        seconds=seconds,
    )
    return pairs, report


def _reachable_by_snap(near: Pairs, b_snap: Snap, p_snap: Snap, limit: float) -> Pairs:
    """Drop pairs whose two snap distances alone exceed the limit."""
    keep = b_snap.distance_m[near.building] + p_snap.distance_m[near.point] <= limit
    return Pairs(near.building[keep], near.point[keep], near.straight_m[keep], near.walk_m[keep])


def _network_walk(
    graph: StreetGraph, b_snap: Snap, p_snap: Snap, near: Pairs, limit: float
) -> FloatArray:
    """Snap + network + snap distance for each candidate pair (``inf`` beyond ``limit``).

    Each point becomes a virtual node joined to both ends of its snapped edge; Dijkstra runs
    from the virtual nodes in chunks of nearby points (Hilbert order), each on the subgraph
    of nodes within reach of the chunk (see :func:`_euclidean_reach`), so a city-sized graph
    costs no more per point than the streets around it. A building's distance is the better
    of reaching its edge's two ends (plus the way along its edge), or the direct way when
    both share an edge.
    """
    walk = np.full(len(near), np.inf)
    if len(near) == 0:
        return walk
    x, y, u, v, length = graph.x, graph.y, graph.u, graph.v, graph.length_m
    pe, pt = p_snap.edge, p_snap.t
    sx = x[u[pe]] + pt * (x[v[pe]] - x[u[pe]])  # snapped point positions
    sy = y[u[pe]] + pt * (y[v[pe]] - y[u[pe]])
    reach = _euclidean_reach(graph, limit)

    be = b_snap.edge[near.building]
    b_u, b_v = u[be], v[be]
    to_u = b_snap.t[near.building] * length[be]
    to_v = (1.0 - b_snap.t[near.building]) * length[be]
    direct = np.where(
        be == pe[near.point],
        np.abs(b_snap.t[near.building] - pt[near.point]) * length[be],
        np.inf,
    )
    offsets = b_snap.distance_m[near.building] + p_snap.distance_m[near.point]

    used = np.unique(near.point)
    used = used[np.argsort(hilbert_index(sx[used], sy[used]), kind="stable")]
    rank = np.zeros(len(pe), dtype=np.int64)
    rank[used] = np.arange(len(used))
    pair_rank = rank[near.point]
    by_rank = np.argsort(pair_rank, kind="stable")
    sorted_rank = pair_rank[by_rank]
    lo = 0
    while lo < len(used):
        k = min(_POINTS_PER_CHUNK, len(used) - lo)
        while True:
            sources = used[lo : lo + k]
            if reach is None:
                mask = np.ones(graph.nodes, dtype=bool)
            else:
                mask = (
                    (x >= sx[sources].min() - reach)
                    & (x <= sx[sources].max() + reach)
                    & (y >= sy[sources].min() - reach)
                    & (y <= sy[sources].max() + reach)
                )
            n_local = int(mask.sum())
            if k == 1 or k * (n_local + k) <= _CHUNK_CELLS:
                break
            k //= 2
        local = np.cumsum(mask) - 1
        inside = mask[u] & mask[v]
        eu, ev = mask[u[pe[sources]]], mask[v[pe[sources]]]
        virtual = n_local + np.arange(k, dtype=np.int64)
        rows = np.concatenate([local[u[inside]], virtual[eu], virtual[ev]])
        cols = np.concatenate(
            [local[v[inside]], local[u[pe[sources]]][eu], local[v[pe[sources]]][ev]]
        )
        weights = np.concatenate(
            [
                length[inside],
                (pt * length[pe])[sources][eu],
                ((1.0 - pt) * length[pe])[sources][ev],
            ]
        )
        size = n_local + k
        matrix: csr_matrix = coo_matrix((weights, (rows, cols)), shape=(size, size)).tocsr()
        dist = dijkstra(matrix, directed=False, indices=virtual, limit=limit)

        first = np.searchsorted(sorted_rank, lo, side="left")
        last = np.searchsorted(sorted_rank, lo + k, side="left")
        idx = by_rank[first:last]
        row = pair_rank[idx] - lo
        cu, cv = b_u[idx], b_v[idx]
        du = np.where(mask[cu], dist[row, local[cu]], np.inf)  # outside: beyond the limit
        dv = np.where(mask[cv], dist[row, local[cv]], np.inf)
        network = np.minimum(du + to_u[idx], dv + to_v[idx])
        walk[idx] = np.minimum(network, direct[idx]) + offsets[idx]
        lo += k
    return walk


def _euclidean_reach(graph: StreetGraph, limit: float) -> float | None:
    """How far (straight line) a walk of ``limit`` can get, or None if it cannot be bounded.

    If every edge is at least ``r`` times its straight chord, a walk of ``limit`` stays within
    ``limit / r`` of its start, so the subgraph of nodes that close gives exact distances.
    Street lengths are ≥ the chord (r ≈ 1, up to projection error); a graph whose lengths
    undercut the chords by more than half gets no subgraph (the whole graph is searched).
    """
    chord = np.hypot(graph.x[graph.u] - graph.x[graph.v], graph.y[graph.u] - graph.y[graph.v])
    moving = chord > 0
    if not moving.any():
        return None
    ratio = float((graph.length_m[moving] / chord[moving]).min())
    if ratio < 0.5:
        return None
    return limit / min(ratio, 1.0) * (1.0 + 1e-9) + 1e-6


def hilbert_index(x: FloatArray, y: FloatArray, bits: int = 16) -> IntArray:
    """Position of each (x, y) along a Hilbert curve over their bounding square (vectorised).

    Sorting by it keeps neighbours together (chunks of nearby points, compact grids).
    """
    n = 1 << bits
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
    xi = np.minimum(((x - x.min()) / span * (n - 1)).astype(np.int64), n - 1)
    yi = np.minimum(((y - y.min()) / span * (n - 1)).astype(np.int64), n - 1)
    d = np.zeros(len(x), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = ((xi & s) > 0).astype(np.int64)
        ry = ((yi & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        flip = (ry == 0) & (rx == 1)
        xi = np.where(flip, n - 1 - xi, xi)
        yi = np.where(flip, n - 1 - yi, yi)
        swap = ry == 0
        xi, yi = np.where(swap, yi, xi), np.where(swap, xi, yi)
        s >>= 1
    return d


def _detour(pairs: Pairs, weight: FloatArray) -> tuple[float, float]:
    """Weighted median and mean of walk ÷ straight over pairs at least 100 m apart."""
    keep = pairs.straight_m >= DETOUR_MIN_STRAIGHT_M
    if not keep.any():
        return float("nan"), float("nan")
    ratio = pairs.walk_m[keep] / pairs.straight_m[keep]
    w = weight[pairs.building[keep]]
    if w.sum() <= 0:
        w = np.ones(len(ratio))
    order = np.argsort(ratio, kind="stable")
    ratio, w = ratio[order], w[order]
    cumulative = np.cumsum(w)
    median = float(ratio[np.searchsorted(cumulative, 0.5 * cumulative[-1])])
    return median, float(np.average(ratio, weights=w))
