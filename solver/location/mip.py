"""Exact MIP on a neighbourhood (or the whole problem) with SCIP.

Clients C, sites N and arcs A ⊆ C × N are free; every other client keeps its site. The model
is the full formulation of :mod:`solver.location.engine` restricted to C, N, A, with the global
limits turned into local ones: the number of open sites in N stays within
[count_lo, count_hi] and the tables in N within ``units_budget``. Grid penalties count the
sites a grid already uses outside N. Sites marked ``fixed_open`` stay open (their clients
may still move).

The model is assembled as one sparse matrix from numpy arrays and handed to OR-Tools'
``model_builder`` in a single call (no per-coefficient Python loop), so many small
neighbourhood MIPs per second stay cheap. SCIP (one thread, fixed seed) is deterministic: its
node limit is the limit that counts, and the call reports its nodes and LP iterations
(:class:`MipEffort`) so that the caller charges its work clock by counts, not by the time
SCIP happened to take (:func:`solver.location.work.mip_work`). SCIP has no limit on a call's
total LP iterations, so what a node limit cannot bound is capped by parameters: no single LP
may take more iterations than the call's allowance pays for, and a whole-problem MIP that
improves a given plan runs without LP dives (:func:`_effort_caps`). The time limit only
guards the caller's overall deadline; when it stops SCIP, ``MipEffort.wall_cut`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import ortools.linear_solver.linear_solver_pb2 as linear_solver_pb2
import ortools.linear_solver.pywraplp as pywraplp
from numpy.typing import NDArray
from ortools.linear_solver.python import model_builder_helper as mbh
from scipy import sparse

from solver.location import work
from solver.location.model import Instance

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class SubProblem:
    """A neighbourhood: free clients, free sites, arcs and local limits."""

    clients: I64
    sites: I64
    arcs: I64
    count_lo: int
    count_hi: int
    units_budget: int  # tables available to the sites in N (≥ 0; huge if unlimited)
    group_outside: dict[int, int]  # distinct sites used outside C by each touched group
    fixed_open: B | None = None  # per site of N: kept open (not a decision) if True


@dataclass(frozen=True)
class SubResult:
    """Solution of a sub-MIP."""

    site_of_client: I32  # per client of C: site or -1
    open_sites: B  # per site of N
    objective: float
    bound: float
    optimal: bool


@dataclass
class _Model:
    """Columns and rows collected as numpy blocks (COO triplets for the matrix)."""

    lo: list[F64] = field(default_factory=list)
    hi: list[F64] = field(default_factory=list)
    obj: list[F64] = field(default_factory=list)
    integer: list[B] = field(default_factory=list)
    n_cols: int = 0
    rows: list[I64] = field(default_factory=list)
    cols: list[I64] = field(default_factory=list)
    vals: list[F64] = field(default_factory=list)
    row_lo: list[F64] = field(default_factory=list)
    row_hi: list[F64] = field(default_factory=list)
    n_rows: int = 0

    def columns(self, lo: F64, hi: F64, obj: F64, integer: bool) -> int:
        """Append a block of columns; return the index of its first column."""
        first = self.n_cols
        self.lo.append(np.asarray(lo, dtype=np.float64))
        self.hi.append(np.asarray(hi, dtype=np.float64))
        self.obj.append(np.asarray(obj, dtype=np.float64))
        self.integer.append(np.full(lo.shape[0], integer, dtype=np.bool_))
        self.n_cols += lo.shape[0]
        return first

    def block(self, row: I64, col: I64, val: F64, lo: F64, hi: F64) -> None:
        """Append rows (``row`` is local to the block) with their bounds."""
        self.rows.append(np.asarray(row, dtype=np.int64) + self.n_rows)
        self.cols.append(np.asarray(col, dtype=np.int64))
        self.vals.append(np.asarray(val, dtype=np.float64))
        self.row_lo.append(np.asarray(lo, dtype=np.float64))
        self.row_hi.append(np.asarray(hi, dtype=np.float64))
        self.n_rows += lo.shape[0]

    @property
    def nonzeros(self) -> int:
        """Matrix coefficients so far."""
        return sum(v.shape[0] for v in self.vals)

    def build(self) -> mbh.ModelBuilderHelper:
        """One ``fill_model_from_sparse_data`` call plus integrality marks."""
        mat = sparse.csr_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_cols),
        )
        model = mbh.ModelBuilderHelper()
        # the generated stub's array types are unusable (ndarray[float64, ...]); plain call
        fill: Callable[..., None] = model.fill_model_from_sparse_data
        fill(
            np.concatenate(self.lo),
            np.concatenate(self.hi),
            np.concatenate(self.obj),
            np.concatenate(self.row_lo),
            np.concatenate(self.row_hi),
            mat,
        )
        for v in np.flatnonzero(np.concatenate(self.integer)).tolist():
            model.set_var_integrality(v, True)
        return model


def signature(sub: SubProblem, assign: I32, open_mask: B) -> bytes:
    """Identity of a neighbourhood together with the incumbent's part of it.

    A neighbourhood solved to optimality without gain need not be solved again while this
    stays the same.
    """
    return b"|".join(
        [
            sub.sites.tobytes(),
            sub.clients.tobytes(),
            sub.arcs.tobytes(),
            assign[sub.clients].tobytes(),
            open_mask[sub.sites].tobytes(),
            np.array([sub.count_lo, sub.count_hi, sub.units_budget], dtype=np.int64).tobytes(),
        ]
    )


@dataclass(frozen=True)
class MipEffort:
    """What one SCIP call did, in counts that do not depend on the machine.

    SCIP is deterministic for a fixed model, seed and node limit, so these counts repeat
    exactly whenever the wall-clock safety limit did not stop it (``wall_cut``).
    """

    rows: int
    cols: int
    nonzeros: int
    sites: int  # the model's sites (what an LP iteration's cost follows)
    nodes: int
    lp_iterations: int
    wall_cut: bool
    ran: bool = True  # False: the allowance did not cover the root node, SCIP was not called
    infeasible: bool = False  # SCIP proved that the model has no solution

    @property
    def work(self) -> float:
        """Estimated seconds to charge (:func:`solver.location.work.mip_work`)."""
        if not self.ran:
            return work.mip_build_work(self.nonzeros)
        return work.mip_work(self.nonzeros, max(1, self.nodes), self.lp_iterations, self.sites)


def _load(model: mbh.ModelBuilderHelper) -> pywraplp.Solver:
    """A SCIP ``MPSolver`` holding ``model`` (hints included).

    ``model_builder`` fills a model from sparse arrays in C++, but its solver interface does
    not report node or LP-iteration counts; ``MPSolver`` does. The model crosses over in
    memory as one ``MPModelProto`` (``to_mpmodel_proto``; no temporary file per call).
    """
    # untyped in the generated stub, like fill_model_from_sparse_data: plain call
    export: Callable[..., linear_solver_pb2.MPModelProto] = mbh.to_mpmodel_proto
    proto = export(model)
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        raise RuntimeError("OR-Tools was built without SCIP")
    error = solver.LoadModelFromProto(proto)
    if error:
        raise RuntimeError(f"SCIP model rejected: {error}")
    return solver


# SCIP's heuristics that dive in the LP (and the feasibility pump, which also solves LPs in
# diving mode). Their LP iterations count in the call's total (and so in its charge), but no
# node limit bounds them and their quotas do not either: SCIP lets every dive take at least
# 10,000 LP iterations, whatever its heuristic's quota (``MINLPITER`` in SCIP's
# heuristics.c). On the whole lin318_040 problem (8,268 columns, 36 nodes allowed by a
# 39-unit share) they took 172,000 of the call's 199,000 LP iterations — 114 units charged
# for 39 — and found no solution.
LP_DIVES = (
    "actconsdiving",
    "adaptivediving",
    "coefdiving",
    "conflictdiving",
    "distributiondiving",
    "farkasdiving",
    "feaspump",
    "fracdiving",
    "guideddiving",
    "indicatordiving",
    "intdiving",
    "linesearchdiving",
    "objpscostdiving",
    "pscostdiving",
    "rootsoldiving",
    "veclendiving",
)


def _effort_caps(lp_iterations: int, lp_dives: bool) -> str:
    """SCIP parameters that keep a call's LP iterations within what its work allowance pays
    for, where the node limit cannot: no single LP (root or node) may take more than
    ``lp_iterations``; without ``lp_dives`` no LP diving heuristic runs."""
    caps = f"lp/iterlim = {lp_iterations}\nlp/rootiterlim = {lp_iterations}\n"
    if not lp_dives:
        caps += "".join(f"heuristics/{name}/freq = -1\n" for name in LP_DIVES)
    return caps


def solve_sub_mip(
    inst: Instance,
    sub: SubProblem,
    *,
    hint_assign: I32 | None,
    hint_open: B | None,
    time_limit: float,
    node_limit: int,
    seed: int,
    work_limit: float = math.inf,
    root_iterations: float = work.MIP_ROOT_ITERATIONS,
    start_limit: float = 0.0,
    lp_dives: bool = True,
) -> tuple[SubResult | None, MipEffort]:
    """Build and solve the neighbourhood MIP with SCIP.

    Returns the result (None if SCIP found no solution or was not called) and the effort
    counts the caller charges to its work clock (``MipEffort.work``). The deterministic
    limit is the node limit: ``node_limit``, or fewer if ``work_limit`` (estimated seconds,
    :func:`solver.location.work.mip_node_limit`, with a root node of ``root_iterations`` LP
    iterations per column) affords fewer; when it does not afford the root node, SCIP runs
    the root node alone if that fits ``start_limit`` (the work left overall; each LP then
    capped by the root's estimate), else not at all. ``time_limit`` is only the wall-clock safety stop
    (``MipEffort.wall_cut`` says when it ended the call).

    ``lp_dives``: whether SCIP's LP diving heuristics run (:data:`LP_DIVES`). A
    whole-problem MIP that starts from a plan should turn them off: there they take most of
    the call's LP iterations, beyond what its node limit affords, and the plan they look for
    first is already there. A MIP without a plan (the rescue) keeps them: finding one
    matters more than its work there.
    """
    clients, sites, arcs = sub.clients, sub.sites, sub.arcs
    nc, ns, na = clients.shape[0], sites.shape[0], arcs.shape[0]
    cpos = np.full(inst.n, -1, dtype=np.int64)
    cpos[clients] = np.arange(nc)
    spos = np.full(inst.m, -1, dtype=np.int64)
    spos[sites] = np.arange(ns)
    a_c = cpos[inst.cli[arcs]]
    a_s = spos[inst.site[arcs]]
    d_a = inst.demand[inst.cli[arcs]].astype(np.float64)
    req = inst.status[sites] == 1
    if sub.fixed_open is not None:
        req = req | sub.fixed_open
    fin = np.flatnonzero(np.isfinite(inst.unserved[clients]))
    nz = fin.shape[0]
    ar, sr = np.arange(na), np.arange(ns)
    one_a, one_s = np.ones(na), np.ones(ns)
    mdl = _Model()
    x0 = mdl.columns(np.zeros(na), one_a, inst.cost[arcs], True)
    y0 = mdl.columns(req.astype(np.float64), one_s, np.zeros(ns), True)
    z0 = mdl.columns(np.zeros(nz), np.ones(nz), inst.unserved[clients[fin]], False)
    # assignment: Σ_j x_ij + z_i = 1
    mdl.block(
        np.r_[a_c, fin],
        np.r_[x0 + ar, z0 + np.arange(nz)],
        np.ones(na + nz),
        np.ones(nc),
        np.ones(nc),
    )
    # capacity: Σ_i d_i x_ij − Q_j y_j ≤ 0
    neg_s = np.full(ns, -np.inf)
    cap = inst.cap[sites].astype(np.float64)
    mdl.block(np.r_[a_s, sr], np.r_[x0 + ar, y0 + sr], np.r_[d_a, -cap], neg_s, np.zeros(ns))
    # strong linking: x_ij − y_j ≤ 0
    mdl.block(
        np.r_[ar, ar],
        np.r_[x0 + ar, y0 + a_s],
        np.r_[one_a, -one_a],
        np.full(na, -np.inf),
        np.zeros(na),
    )
    if inst.unit > 0 and sub.units_budget < int(inst.units_max[sites].sum()):
        umax = inst.units_max[sites].astype(np.float64)
        t0 = mdl.columns(np.zeros(ns), umax, np.zeros(ns), True)
        unit = np.full(ns, -float(inst.unit))
        mdl.block(np.r_[a_s, sr], np.r_[x0 + ar, t0 + sr], np.r_[d_a, unit], neg_s, np.zeros(ns))
        mdl.block(np.r_[sr, sr], np.r_[t0 + sr, y0 + sr], np.r_[one_s, -umax], neg_s, np.zeros(ns))
        mdl.block(
            np.zeros(ns, np.int64),
            t0 + sr,
            one_s,
            np.array([-np.inf]),
            np.array([float(sub.units_budget)]),
        )
    n_req = int(req.sum())
    if ns > n_req and (sub.count_lo > n_req or sub.count_hi < ns):
        lo_hi = np.array([float(max(sub.count_lo, n_req))]), np.array([float(sub.count_hi)])
        mdl.block(np.zeros(ns, np.int64), y0 + sr, one_s, *lo_hi)
    if inst.group is not None and inst.lam > 0 and na > 0:
        # grid penalty: w_g ≥ out_g − 1 + Σ_j zg_gj, zg_gj ≥ x_ij for members i of g
        g_arc = inst.group[inst.cli[arcs]].astype(np.int64)
        pairs, pair_of = np.unique(g_arc * inst.m + inst.site[arcs], return_inverse=True)
        gs, g_of = np.unique(pairs // inst.m, return_inverse=True)
        npair, ng = pairs.shape[0], gs.shape[0]
        p0 = mdl.columns(np.zeros(npair), np.ones(npair), np.zeros(npair), False)
        w0 = mdl.columns(np.zeros(ng), np.full(ng, np.inf), np.full(ng, inst.lam), False)
        mdl.block(
            np.r_[ar, ar],
            np.r_[x0 + ar, p0 + pair_of],
            np.r_[one_a, -one_a],
            np.full(na, -np.inf),
            np.zeros(na),
        )
        out = np.array([sub.group_outside.get(int(g), 0) for g in gs], dtype=np.float64)
        mdl.block(
            np.r_[np.arange(ng), g_of],
            np.r_[w0 + np.arange(ng), p0 + np.arange(npair)],
            np.r_[np.ones(ng), -np.ones(npair)],
            out - 1.0,
            np.full(ng, np.inf),
        )
    affordable = work.mip_node_limit(work_limit, mdl.n_cols, mdl.nonzeros, ns, root_iterations)
    # the work each LP's iteration cap follows: the call's allowance, and for the root node
    # alone on the work left the root's estimate (with a cap from the work left, one hard root
    # of a 120k-resident district's fixed-site model took 31,000 LP iterations, 29 units with
    # 10 left; another call on it, within its node limit, 49 units)
    allowance = work_limit
    root_work = work.mip_root_work(mdl.n_cols, mdl.nonzeros, ns, root_iterations)
    if affordable < 1 and root_work <= start_limit:
        affordable, allowance = 1, root_work
    nodes_allowed = min(int(node_limit), affordable)
    if nodes_allowed < 1:
        return None, MipEffort(mdl.n_rows, mdl.n_cols, mdl.nonzeros, ns, 0, 0, False, ran=False)
    model = mdl.build()
    if hint_assign is not None and hint_open is not None:
        hx = (hint_assign[inst.cli[arcs]] == inst.site[arcs]).astype(np.float64)
        hy = hint_open[sites].astype(np.float64)
        for v, val in zip(np.r_[x0 + ar, y0 + sr].tolist(), np.r_[hx, hy].tolist(), strict=True):
            model.add_hint(v, val)
    solver = _load(model)
    ok = solver.SetSolverSpecificParametersAsString(
        _effort_caps(work.mip_lp_iteration_cap(allowance, ns), lp_dives)
        + f"limits/nodes = {nodes_allowed}\n"
        # The caller is charged by LP iterations and nodes, so the effort must follow them: no
        # restarts (a restart re-runs presolve and the cut loop, far beyond its count), and
        # strong branching tied to the LP iterations (SCIP allows 100,000 iterations on top of
        # half the LP iterations by default, uncounted, seconds per node on large models)
        "presolving/maxrestarts = 0\n"
        "branching/relpscost/sbiterofs = 1000\n"
        f"randomization/randomseedshift = {int(seed) % 1000}\n"
        "misc/catchctrlc = FALSE\n"  # Ctrl-C stays natplan's (sampling.interrupt)
    )
    if not ok:
        raise RuntimeError("SCIP rejected natplan's parameters")
    limit_ms = max(10, int(1000 * float(time_limit)))
    solver.SetTimeLimit(limit_ms)
    status = solver.Solve()
    finished = status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.INFEASIBLE)
    effort = MipEffort(
        rows=mdl.n_rows,
        cols=mdl.n_cols,
        nonzeros=mdl.nonzeros,
        sites=ns,
        nodes=int(solver.nodes()),
        lp_iterations=int(solver.iterations()),
        # a call that neither finished nor used its nodes was stopped by the wall clock
        wall_cut=not finished
        and (solver.nodes() < nodes_allowed or solver.wall_time() >= 0.95 * limit_ms),
        infeasible=status == pywraplp.Solver.INFEASIBLE,
    )
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None, effort
    val = np.array([v.solution_value() for v in solver.variables()], dtype=np.float64)
    xv = val[x0 : x0 + na] > 0.5
    out_site = np.full(nc, -1, dtype=np.int32)
    out_site[a_c[xv]] = inst.site[arcs[xv]]
    open_s = (val[y0 : y0 + ns] > 0.5) | req
    open_s |= np.isin(sites, out_site[out_site >= 0])
    result = SubResult(
        site_of_client=out_site,
        open_sites=open_s,
        objective=float(solver.Objective().Value()),
        bound=float(solver.Objective().BestBound()),
        optimal=status == pywraplp.Solver.OPTIMAL,
    )
    return result, effort
