"""Staffing: which medical team works at which sampling point, in which shift.

Model. The window ``[window_start, window_end)`` is cut into blocks of ``block_min`` minutes
(the last one may be shorter). Point ``j`` has ``tables[j]`` *lanes* (one per table); every lane
needs one sampler in every block. A sampler works **at most one shift**, a contiguous run of
blocks no longer than ``max_shift_min`` (default ``ceil(window / 2)``: the two-shift rota,
两班倒) and inside his team's availability ``[available_from, available_to]`` — a second shift
after a break is not modelled, so planners can count one person per lane-shift. Relief comes
from the same or any other team.

Solver. Time-stepped min-cost flow, exact per step. Blocks are visited in order; at block ``b``
every lane whose sampler has just left (or never came) asks for a new one, and the requests are
matched to the free samplers of teams available at ``b`` by a min-cost flow (OR-tools
``SimpleMinCostFlow``): a sampler starting at ``b`` works the longest allowed shift from ``b``, so
lanes are relieved exactly when needed (optimal for interval covering). Arc costs are travel
distance (metres, origin → point) plus ``split_penalty_m`` when the team already works at
another point (keeps teams together or at nearby points; a basic flow solution also splits few
teams), a large charge per block a shift falls short of the full length (a team leaving early),
and a small earliest-deadline tie-break that spends soon-leaving teams first. Each request also
has a *slack* arc at a prohibitive cost, so a plan is always returned: lane-blocks left on slack
are the **shortfall**. The **capacity plan** covers the shortfall with the fewest hypothetical
samplers (greedy left-to-right interval cover per point, optimal for the given real plan), and
``extra_lower_bound`` bounds the extra samplers any plan needs (per-block head count and
sampler-block totals), so its gap is reported.

Team moves (re-planning during the day). ``team_point`` says where each team is on duty when
the plan starts (−1: not on duty); an arc to any other point then costs ``move_penalty_m``
more (metres, like travel): a team move is a change someone must be told about, so a team on
duty moves only where no sampler that is not on duty can cover the lane more cheaply, and
never for a few metres. Uncovered lanes still cost far more, so a move that covers one
happens.

Effort is counted, not timed: every min-cost flow is charged its arcs, and once the charged
arcs pass the work cap (``work_limit``, default ``time_limit`` × :data:`ARCS_PER_SECOND`)
steps skip their re-solve with every arc; ``StaffingStats.work_capped`` then says so. The
same problem therefore gives the same plan on any machine.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]


class StaffingStatus(StrEnum):
    """Whether the staffing plan covers every table in every block (``staffing_status``)."""

    COVERED = "covered"
    """Every table has a sampler in every block."""
    SHORTFALL = "shortfall"
    """Some lane-blocks have no sampler; the shortfall rows and the capacity plan say where."""


_SLACK_COST = 10**12  # cost of one uncovered lane at one block
_SHORT_COST = 10**8  # per block a shift is shorter than it could be
_EDF_COST = 50  # per block a team stays available after the shift (keep long-stayers)
_ALL_ARCS_BELOW = 64  # use every team→point arc when this few teams are usable
ARCS_PER_SECOND = 1_000_000
"""Flow arcs one second of work buys (min-cost flows of the staffing steps on the reference
machine); converts ``time_limit`` into the deterministic work cap."""


@dataclass(frozen=True)
class StaffingProblem:
    """Immutable staffing input. Times are minutes since midnight, coordinates metres.

    ``point_xy`` (P, 2), ``tables`` (P,) tables to staff at each point for the whole window;
    ``team_samplers``, ``team_from``, ``team_to`` (K,) and ``team_xy`` (K, 2) the teams.
    ``travel_delays_start``: a team cannot start at a point before ``available_from`` plus the
    travel time from its origin at ``speed_m_per_min`` (otherwise ``available_from`` is taken as
    the arrival time on site and travel is only a cost).
    ``team_point`` (K,): the point each team is on duty at when the plan starts (−1: none;
    ``team_xy`` is then where it travels from), and ``move_penalty_m`` the cost of moving it
    to any other point (see the module docstring).
    """

    point_xy: F64
    tables: I64
    team_samplers: I64
    team_from: I64
    team_to: I64
    team_xy: F64
    window_start: int = 7 * 60
    window_end: int = 14 * 60
    block_min: int = 30
    max_shift_min: int | None = None
    speed_m_per_min: float = 500.0
    split_penalty_m: float = 3000.0
    travel_delays_start: bool = False
    team_point: I64 | None = None
    move_penalty_m: float = 0.0

    def __post_init__(self) -> None:
        p = self.tables.shape[0]
        k = self.team_samplers.shape[0]
        if self.point_xy.shape != (p, 2) or self.team_xy.shape != (k, 2):
            raise ValueError("point_xy must be (P, 2) and team_xy (K, 2)")
        if self.team_from.shape != (k,) or self.team_to.shape != (k,):
            raise ValueError("team_from and team_to must be (K,)")
        if self.window_end <= self.window_start or self.block_min <= 0:
            raise ValueError("need window_start < window_end and block_min > 0")
        if p and int(self.tables.min()) < 0:
            raise ValueError("tables must be >= 0")
        if k and int(self.team_samplers.min()) < 0:
            raise ValueError("team_samplers must be >= 0")
        # a shift must cover one block (the whole window if it is shorter than a block)
        one_block = min(self.block_min, self.window_end - self.window_start)
        if self.max_shift_min is not None and self.max_shift_min < one_block:
            raise ValueError("max_shift_min must be at least one block (or the whole window)")
        if self.speed_m_per_min <= 0:
            raise ValueError("speed_m_per_min must be > 0")
        if self.team_point is not None:
            tp = np.asarray(self.team_point)
            if tp.shape != (k,) or (k and (int(tp.min()) < -1 or int(tp.max()) >= p)):
                raise ValueError("team_point must be (K,) point indices or -1")
        if not math.isfinite(self.move_penalty_m) or self.move_penalty_m < 0:
            raise ValueError("move_penalty_m must be finite and >= 0")

    def current_point(self) -> I64:
        """``team_point`` as an array (−1 for every team when not given)."""
        if self.team_point is None:
            return np.full(self.n_teams, -1, dtype=np.int64)
        return np.asarray(self.team_point, dtype=np.int64)

    @property
    def n_points(self) -> int:
        """Number of points P."""
        return int(self.tables.shape[0])

    @property
    def n_teams(self) -> int:
        """Number of teams K."""
        return int(self.team_samplers.shape[0])

    @property
    def shift_limit(self) -> int:
        """Longest shift in minutes (default: half the window, rounded up)."""
        if self.max_shift_min is not None:
            return int(self.max_shift_min)
        return math.ceil((self.window_end - self.window_start) / 2)

    def edges(self) -> I64:
        """Block edges in minutes, ``window_start`` … ``window_end`` (B + 1 values)."""
        e = np.arange(self.window_start, self.window_end, self.block_min, dtype=np.int64)
        return np.append(e, np.int64(self.window_end))


@dataclass(frozen=True, eq=False)
class _Ctx:
    """Precomputed arrays shared by the passes."""

    nb: int
    dist_i: I64  # (K, P) metres
    first: I64  # first block each team may start
    last: I64  # last edge index each team may work until
    end_blk: I64  # (K, B) end block of a shift starting at b
    full_end: I64  # (B,) end block of a full-length shift starting at b
    first_kj: NDArray[np.int64]  # (K, P) first block team k may start at point j
    nearest: I64  # (K, P) team ids by distance, per point
    team_point: I64  # (K,) point a team is on duty at when the plan starts, -1 none
    move_penalty: int  # cost of an arc to another point for such a team


@dataclass(frozen=True)
class StaffingStats:
    """How the plan was obtained and what it costs."""

    seconds: float
    blocks: int
    flows_solved: int
    work_arcs: int  # flow arcs solved: the deterministic effort count
    resolves_skipped: int  # steps whose re-solve with every arc the work cap skipped
    work_capped: bool  # the work cap skipped a re-solve (a larger cap may plan better)
    team_moves: int  # teams on duty at a point (``team_point``) now working elsewhere
    samplers_used: int
    team_point_pairs: int
    split_teams: int
    travel_m: float  # sum over (team, point) pairs used of origin → point distance
    sampler_travel_m: float  # the same weighted by samplers
    shortfall_lane_blocks: int
    extra_samplers: int  # capacity plan size
    extra_lower_bound: int  # no plan needs fewer extra samplers than this


@dataclass(frozen=True, eq=False)
class StaffingResult:
    """Plan rows, shortfall rows, capacity plan rows, coverage and statistics.

    Plan rows (one per team, point and shift): ``team``, ``point``, ``start``, ``end``
    (minutes), ``samplers``. Shortfall rows (one per point and block with missing samplers):
    ``short_point``, ``short_start``, ``short_end``, ``short_missing``. Capacity plan rows
    (hypothetical extra samplers that would cover the shortfall): ``extra_point``,
    ``extra_start``, ``extra_end``, ``extra_samplers``. ``coverage`` (P, B) samplers on duty per
    block, ``edges`` (B + 1) block edges. ``status``: :class:`StaffingStatus`.

    The capacity plan goes with this plan's team rows, unless ``replan`` is set: then it goes
    with ``replan``'s team rows (a plan made knowing the extras, which needs fewer of them);
    ``replan.shortfall`` is what remains without the extras. In both cases team rows plus
    extra rows cover every table in every block.
    """

    team: I64
    point: I64
    start: I64
    end: I64
    samplers: I64
    short_point: I64
    short_start: I64
    short_end: I64
    short_missing: I64
    extra_point: I64
    extra_start: I64
    extra_end: I64
    extra_samplers: I64
    coverage: I64
    edges: I64
    status: StaffingStatus
    stats: StaffingStats = field(repr=False)
    replan: StaffingResult | None = field(default=None, repr=False)

    def staffed_tables(self, tables: I64) -> I64:
        """Tables actually staffed per point and block: ``min(coverage, tables)`` (P, B)."""
        return np.minimum(self.coverage, tables[:, None]).astype(np.int64)

    def shortfall_matrix(self) -> I64:
        """Missing samplers per point and block (P, B)."""
        p = self.coverage.shape[0]
        out = np.zeros((p, self.edges.shape[0] - 1), dtype=np.int64)
        blk = np.searchsorted(self.edges, self.short_start)
        np.add.at(out, (self.short_point, blk), self.short_missing)
        return out


def _shift_end(edges: I64, limit: int, team_last: I64) -> I64:
    """End block index (exclusive) of a shift starting at each block, per team (K, B).

    ``team_last[k]`` is the last edge index the team may still be working at.
    """
    nb = edges.shape[0] - 1
    by_limit = np.searchsorted(edges, edges[:-1] + limit, side="right") - 1
    by_limit = np.minimum(by_limit, nb)
    out: I64 = np.minimum(by_limit[None, :], team_last[:, None]).astype(np.int64)
    return out


def coverage_from_rows(
    n_points: int, edges: I64, point: I64, start: I64, end: I64, samplers: I64
) -> I64:
    """Samplers on duty per point and block (P, B), recomputed from plan rows."""
    nb = edges.shape[0] - 1
    diff = np.zeros((n_points, nb + 1), dtype=np.int64)
    b0 = np.searchsorted(edges, start)
    b1 = np.searchsorted(edges, end)
    np.add.at(diff, (point, b0), samplers)
    np.add.at(diff, (point, b1), -samplers)
    return np.cumsum(diff[:, :nb], axis=1)


def capacity_plan(shortfall: I64, edges: I64, limit: int) -> tuple[I64, I64, I64, I64]:
    """Fewest extra samplers (one shift of at most ``limit`` minutes each) covering a shortfall.

    Greedy left to right per point: at the first block still short, start as many shifts as
    are missing, each as long as allowed. Optimal for covering a profile with intervals of one
    maximum length. Each shift is then cut back to the last block it is needed in
    (:func:`_trimmed`), so a shortfall of half an hour asks for half an hour, not a full shift.
    Returns ``(point, start, end, samplers)`` rows.
    """
    nb = shortfall.shape[1]
    end_blk = np.minimum(np.searchsorted(edges, edges[:-1] + limit, side="right") - 1, nb)
    rows: list[tuple[int, int, int, int]] = []
    for j in np.flatnonzero(shortfall.sum(axis=1) > 0).tolist():
        active = np.zeros(nb + 1, dtype=np.int64)
        on = 0
        need = shortfall[j]
        groups: list[tuple[int, int, int]] = []
        for b in range(nb):
            on -= int(active[b])
            d = int(need[b]) - on
            if d > 0:
                e = int(end_blk[b])
                groups.append((b, e, d))
                active[e] += d
                on += d
        rows.extend((j, int(edges[b]), int(edges[e]), d) for b, e, d in _trimmed(need, groups))
    if not rows:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy(), z.copy()
    arr = np.asarray(rows, dtype=np.int64)
    return arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy()


def _trimmed(need: I64, groups: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Cut the greedy's shift groups ``(start block, end block, samplers)`` back to the blocks
    they are needed in, keeping every block of ``need`` covered and the sampler count.

    Latest group first: each of its samplers ends after the last block where the others
    (earlier groups still whole, later ones already cut) leave that sampler needed. Every step
    keeps the cover, so the result covers ``need``; a group may split into rows that end at
    different blocks.
    """
    nb = need.shape[0]
    cover = np.zeros(nb, dtype=np.int64)
    for b, e, d in groups:
        cover[b:e] += d
    profiles: list[I64] = [np.zeros(0, dtype=np.int64)] * len(groups)
    for i in range(len(groups) - 1, -1, -1):
        b, e, d = groups[i]
        cover[b:e] -= d
        # samplers of this group needed in each of its blocks
        mine = np.clip(need[b:e] - cover[b:e], 0, d)
        # sampler ℓ works from b up to the last block needing at least ℓ of them (contiguous)
        levels = np.arange(1, d + 1)
        needed = mine[None, :] >= levels[:, None]  # (d, blocks)
        last = np.where(needed.any(axis=1), e - 1 - np.argmax(needed[:, ::-1], axis=1), b)
        span = np.zeros(e - b, dtype=np.int64)
        for end in last.tolist():
            span[: end - b + 1] += 1
        cover[b:e] += span
        profiles[i] = last
    out: list[tuple[int, int, int]] = []
    for (b, _, _), last in zip(groups, profiles, strict=True):
        ends, counts = np.unique(last + 1, return_counts=True)
        out.extend((b, int(end), int(n)) for end, n in zip(ends, counts, strict=True))
    return out


def extra_lower_bound(problem: StaffingProblem) -> int:
    """Extra samplers every plan needs: per-block head count and total sampler-block bounds."""
    edges = problem.edges()
    nb = edges.shape[0] - 1
    limit = problem.shift_limit
    first = np.searchsorted(edges, problem.team_from, side="left")
    last = np.searchsorted(edges, problem.team_to, side="right") - 1
    demand = int(problem.tables.sum())
    blk = np.arange(nb)
    usable = (first[:, None] <= blk[None, :]) & (last[:, None] >= blk[None, :] + 1)
    heads = (usable * problem.team_samplers[:, None]).sum(axis=0) if nb else np.zeros(0)
    lb1 = int(max(0, demand - int(heads.min()))) if nb and problem.n_teams else demand
    # sampler-blocks: one sampler works at most the longest shift inside its availability
    dur = edges[1:] - edges[:-1]
    longest = np.zeros(problem.n_teams, dtype=np.int64)
    end_blk = _shift_end(edges, limit, np.maximum(last, 0).astype(np.int64))
    cum = np.concatenate([[0], np.cumsum(dur)])
    for b in range(nb):
        ok = first <= b
        length = np.where(ok & (end_blk[:, b] > b), cum[end_blk[:, b]] - cum[b], 0)
        longest = np.maximum(longest, length)
    need = demand * int(cum[-1]) - int((longest * problem.team_samplers).sum())
    lb2 = max(0, math.ceil(need / limit))
    return max(lb1, lb2)


@dataclass
class _Work:
    """The effort counter shared by the passes: flow arcs solved, the cap, re-solves skipped."""

    cap: int
    arcs: int = 0
    flows: int = 0
    skipped: int = 0


def _sweep(
    problem: StaffingProblem,
    c: _Ctx,
    work: _Work,
    *,
    extras: bool,
) -> tuple[list[tuple[I64, I64, I64, I64, I64]], I64, list[tuple[int, int, int, int]], int]:
    """One pass over the blocks; ``extras``: cover what teams cannot with hypothetical samplers.

    Returns plan row chunks (team, point, start block, end block, samplers), the shortfall
    matrix (P, B), extra-sampler rows (point, start block, end block, samplers) and the number
    of flows solved in this pass. Once ``work`` has passed its cap, a step whose restricted
    flow leaves lanes uncovered while samplers are free is not re-solved with every arc (the
    skip is counted in ``work``).
    """
    p, k, nb = problem.n_points, problem.n_teams, c.nb
    free = problem.team_samplers.astype(np.int64).copy()
    present = np.zeros((k, p), dtype=bool)
    ends = np.zeros((p, nb + 1), dtype=np.int64)
    waiting = problem.tables.astype(np.int64).copy()
    short = np.zeros((p, nb), dtype=np.int64)
    rows: list[tuple[I64, I64, I64, I64, I64]] = []
    extra: list[tuple[int, int, int, int]] = []
    flows = 0
    for b in range(nb):
        waiting += ends[:, b]
        need_pts = np.flatnonzero(waiting > 0)
        if need_pts.size == 0:
            continue
        teams = np.flatnonzero((free > 0) & (c.first <= b) & (c.end_blk[:, b] > b))
        if teams.size:
            restrict = teams.size > _ALL_ARCS_BELOW
            while True:
                t_arr, j_arr, n_arr, arcs = _match_block(
                    b,
                    teams,
                    need_pts,
                    waiting,
                    free,
                    present,
                    c,
                    problem.split_penalty_m,
                    restrict=restrict,
                )
                flows += 1
                work.flows += 1
                work.arcs += arcs
                unmet = int(waiting[need_pts].sum() - n_arr.sum())
                spare = int(free[teams].sum() - n_arr.sum())
                if not restrict or unmet == 0 or spare == 0:
                    break
                if work.arcs > work.cap:
                    work.skipped += 1
                    break
                restrict = False
            if t_arr.size:
                e_arr = c.end_blk[t_arr, b]
                np.subtract.at(free, t_arr, n_arr)
                np.subtract.at(waiting, j_arr, n_arr)
                np.add.at(ends, (j_arr, e_arr), n_arr)
                present[t_arr, j_arr] = True
                rows.append((t_arr, j_arr, np.full_like(t_arr, b), e_arr, n_arr))
        left = need_pts[waiting[need_pts] > 0]
        if extras and left.size:
            e = int(c.full_end[b])
            extra.extend((int(j), b, e, int(waiting[j])) for j in left.tolist())
            ends[left, e] += waiting[left]
            waiting[left] = 0
        short[need_pts, b] = waiting[need_pts]
        # lanes still waiting ask again at the next block
    return rows, short, extra, flows


def solve_staffing(
    problem: StaffingProblem,
    *,
    seed: int = 0,
    time_limit: float = 10.0,
    work_limit: int | None = None,
) -> StaffingResult:
    """Assign teams to points and shifts; always returns a plan (see module docstring).

    ``seed`` is accepted for API symmetry (the solver is deterministic). With many usable teams
    each point first gets arcs from its 24 nearest teams (plus teams already there); if lanes
    stay uncovered while samplers are free, the step is re-solved with every arc. Once the
    flows have used ``work_limit`` arcs (default ``time_limit`` × :data:`ARCS_PER_SECOND`), the
    remaining steps skip that re-solve and ``stats.work_capped`` says so. ``time_limit`` is a
    work budget here, never read from a clock.
    """
    del seed
    started = time.perf_counter()
    cap = work_limit if work_limit is not None else int(time_limit * ARCS_PER_SECOND)
    work = _Work(cap=max(int(cap), 0))
    edges = problem.edges()
    nb = edges.shape[0] - 1
    p, k = problem.n_points, problem.n_teams
    limit = problem.shift_limit

    dist = np.sqrt(
        ((problem.team_xy[:, None, :] - problem.point_xy[None, :, :]) ** 2).sum(axis=2)
    )  # (K, P) metres
    dist_i = np.rint(dist).astype(np.int64)
    # first block a team may start (at any point), last edge it may work until
    first = np.searchsorted(edges, problem.team_from, side="left").astype(np.int64)
    last = (np.searchsorted(edges, problem.team_to, side="right") - 1).astype(np.int64)
    end_blk = _shift_end(edges, limit, np.maximum(last, 0).astype(np.int64))  # (K, B)
    full_end = np.minimum(np.searchsorted(edges, edges[:-1] + limit, side="right") - 1, nb)
    if problem.travel_delays_start:
        arrive = problem.team_from[:, None] + np.ceil(dist / problem.speed_m_per_min)
        first_kj = np.searchsorted(edges, arrive.ravel(), side="left").reshape(k, p)
    else:
        first_kj = np.broadcast_to(first[:, None], (k, p))
    nearest = np.argsort(dist_i, axis=0, kind="stable")  # (K, P) team order per point

    move = round(problem.move_penalty_m)
    c = _Ctx(
        nb, dist_i, first, last, end_blk, full_end, first_kj, nearest, problem.current_point(), move
    )
    rows, short, _, flows = _sweep(problem, c, work, extras=False)
    replan: StaffingResult | None = None
    extra = capacity_plan(short, edges, limit)
    if short.any():
        # same model, slack = a hypothetical sampler starting a full shift where lanes wait
        rows2, short2, extra2, flows2 = _sweep(problem, c, work, extras=True)
        flows += flows2
        if extra2 and sum(r[3] for r in extra2) < int(extra[3].sum()):
            arr = np.asarray(extra2, dtype=np.int64)
            ex2 = (arr[:, 0], edges[arr[:, 1]], edges[arr[:, 2]], arr[:, 3])
            replan = _assemble(problem, c, dist, rows2, short2, ex2, flows2, started, None, 0, work)
            extra = ex2
    lb = extra_lower_bound(problem) if short.any() else 0
    return _assemble(problem, c, dist, rows, short, extra, flows, started, replan, lb, work)


def _assemble(
    problem: StaffingProblem,
    c: _Ctx,
    dist: F64,
    rows: list[tuple[I64, I64, I64, I64, I64]],
    short: I64,
    extra: tuple[I64, I64, I64, I64],
    flows: int,
    started: float,
    replan: StaffingResult | None,
    lower_bound: int,
    work: _Work,
) -> StaffingResult:
    """Turn pass output into a :class:`StaffingResult` (rows sorted by team, point, start)."""
    edges = problem.edges()
    p, k = problem.n_points, problem.n_teams
    if rows:
        cat = [np.concatenate([r[i] for r in rows]) for i in range(5)]
        order = np.lexsort((cat[2], cat[1], cat[0]))
        team, point, sb, eb, samplers = (x[order].astype(np.int64) for x in cat)
    else:
        team = point = sb = eb = samplers = np.zeros(0, dtype=np.int64)
    start_min = edges[sb].astype(np.int64)
    end_min = edges[eb].astype(np.int64)
    coverage = coverage_from_rows(p, edges, point, start_min, end_min, samplers)
    ep, es, ee, en = (np.asarray(x, dtype=np.int64) for x in extra)
    sp, sbk = np.nonzero(short)
    pairs = np.unique(team * max(p, 1) + point) if team.size else np.zeros(0, dtype=np.int64)
    pair_team = pairs // max(p, 1)
    pair_point = pairs % max(p, 1)
    split = int((np.bincount(pair_team, minlength=k) > 1).sum()) if k else 0
    was = c.team_point[team] if team.size else np.zeros(0, dtype=np.int64)
    moved = np.unique(team[(was >= 0) & (was != point)]) if team.size else was
    stats = StaffingStats(
        seconds=time.perf_counter() - started,
        blocks=c.nb,
        flows_solved=flows,
        work_arcs=work.arcs,
        resolves_skipped=work.skipped,
        work_capped=work.skipped > 0,
        team_moves=int(moved.size),
        samplers_used=int(samplers.sum()),
        team_point_pairs=int(pairs.size),
        split_teams=split,
        travel_m=float(dist[pair_team, pair_point].sum()) if pairs.size else 0.0,
        sampler_travel_m=float((dist[team, point] * samplers).sum()) if team.size else 0.0,
        shortfall_lane_blocks=int(short.sum()),
        extra_samplers=int(en.sum()),
        extra_lower_bound=lower_bound,
    )
    return StaffingResult(
        team=team,
        point=point,
        start=start_min,
        end=end_min,
        samplers=samplers,
        short_point=sp.astype(np.int64),
        short_start=edges[sbk].astype(np.int64),
        short_end=edges[sbk + 1].astype(np.int64),
        short_missing=short[sp, sbk].astype(np.int64),
        extra_point=ep,
        extra_start=es,
        extra_end=ee,
        extra_samplers=en,
        coverage=coverage,
        edges=edges,
        status=StaffingStatus.SHORTFALL if short.any() else StaffingStatus.COVERED,
        stats=stats,
        replan=replan,
    )


def _match_block(
    b: int,
    teams: I64,
    pts: I64,
    waiting: I64,
    free: I64,
    present: B,
    c: _Ctx,
    split_penalty: float,
    *,
    restrict: bool,
) -> tuple[I64, I64, I64, int]:
    """Min-cost flow matching of waiting lanes at block ``b`` to free samplers.

    Returns ``(team, point, samplers)`` triples (only positive flows) and the arcs of the
    flow network (the work it cost).
    """
    nt, npt = teams.size, pts.size
    dist_i, first_kj, end_blk, full_end, last, nearest = (
        c.dist_i,
        c.first_kj,
        c.end_blk,
        c.full_end,
        c.last,
        c.nearest,
    )
    # arcs team -> point (local indices)
    if restrict:
        is_team = np.zeros(free.shape[0], dtype=bool)
        is_team[teams] = True
        cand = nearest[:, pts]  # (K, npt) team ids sorted by distance
        keep = is_team[cand]
        # first 24 usable teams per point by distance, plus teams already there
        rank = np.cumsum(keep, axis=0)
        sel = keep & (rank <= 24)
        tt, pp = np.nonzero(sel)
        arc_team = cand[tt, pp]
        arc_pl = pp
        pres = present[np.ix_(teams, pts)]
        pt_t, pt_p = np.nonzero(pres)
        arc_team = np.concatenate([arc_team, teams[pt_t]])
        arc_pl = np.concatenate([arc_pl, pt_p])
        key = np.unique(arc_team * npt + arc_pl)
        arc_team, arc_pl = key // npt, key % npt
        local = np.full(free.shape[0], -1, dtype=np.int64)
        local[teams] = np.arange(nt)
        arc_tl = local[arc_team]
    else:
        arc_tl = np.repeat(np.arange(nt), npt)
        arc_pl = np.tile(np.arange(npt), nt)
        arc_team = teams[arc_tl]
    arc_pt = pts[arc_pl]
    ok = first_kj[arc_team, arc_pt] <= b
    arc_tl, arc_pl, arc_team, arc_pt = arc_tl[ok], arc_pl[ok], arc_team[ok], arc_pt[ok]

    elsewhere: B = np.asarray(present[teams].any(axis=1), dtype=bool)
    here = present[arc_team, arc_pt]
    cost = dist_i[arc_team, arc_pt] + np.where(
        elsewhere[arc_tl] & ~here, np.int64(round(split_penalty)), 0
    )
    was = c.team_point[arc_team]
    cost = cost + np.where((was >= 0) & (was != arc_pt), np.int64(c.move_penalty), 0)
    # team-level costs: short shifts (team leaves early) and earliest-deadline tie-break
    e = end_blk[teams, b]
    lost = full_end[b] - e
    team_cost = lost * _SHORT_COST + (last[teams] - e) * _EDF_COST

    src, snk = 0, 1 + nt + npt
    t_node = 1 + np.arange(nt)
    p_node = 1 + nt + np.arange(npt)
    dem = waiting[pts]
    total = int(dem.sum())
    cap_big = np.int64(total)
    tails = np.concatenate(
        [np.zeros(nt, np.int64), t_node[arc_tl], np.zeros(npt, np.int64), p_node]
    )
    heads = np.concatenate([t_node, p_node[arc_pl], p_node, np.full(npt, snk, np.int64)])
    caps = np.concatenate([free[teams], np.full(arc_tl.size, cap_big), dem, dem])
    costs = np.concatenate(
        [team_cost, cost, np.full(npt, _SLACK_COST, np.int64), np.zeros(npt, np.int64)]
    )
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int64),
        heads.astype(np.int64),
        caps.astype(np.int64),
        costs.astype(np.int64),
    )
    nodes = np.arange(snk + 1, dtype=np.int64)
    sup = np.zeros(snk + 1, dtype=np.int64)
    sup[src] = total
    sup[snk] = -total
    mcf.set_nodes_supplies(nodes, sup)
    status = mcf.solve()
    if status != mcf.OPTIMAL:  # pragma: no cover - balanced network with slack is feasible
        raise RuntimeError(f"min-cost flow failed with status {status}")
    fl = np.asarray(mcf.flows(arcs), dtype=np.int64)
    mid = fl[nt : nt + arc_tl.size]
    pos = mid > 0
    return (
        arc_team[pos].astype(np.int64),
        arc_pt[pos].astype(np.int64),
        mid[pos],
        int(tails.size),
    )
