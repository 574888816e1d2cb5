"""Home-visit routing: ``RoutingProblem`` in, :func:`solve`, ``RoutingResult`` out.

Modules: :mod:`~solver.routing.problem` (the VRPTW data), :mod:`~solver.routing.solve` (the
entry point), :mod:`~solver.routing.portfolio` (engines in parallel, best checked result),
:mod:`~solver.routing.engine_pyvrp` and :mod:`~solver.routing.engine_ortools` (the engines),
:mod:`~solver.routing.decompose` (regions for large districts), :mod:`~solver.routing.repair`,
:mod:`~solver.routing.check` (independent feasibility check), :mod:`~solver.routing.result`.
"""

from solver.routing.problem import (
    DEFAULT_PENALTY,
    MANDATORY,
    UNLIMITED,
    MatrixTravel,
    PlanarTravel,
    RoutingProblem,
)
from solver.routing.result import (
    RoutingResult,
    RoutingStatus,
    SolveStats,
    VehicleRoute,
    VisitReason,
)
from solver.routing.solve import solve

__all__ = [
    "DEFAULT_PENALTY",
    "MANDATORY",
    "UNLIMITED",
    "MatrixTravel",
    "PlanarTravel",
    "RoutingProblem",
    "RoutingResult",
    "RoutingStatus",
    "SolveStats",
    "VehicleRoute",
    "VisitReason",
    "solve",
]
