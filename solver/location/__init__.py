"""Assignment of buildings to sampling points: a capacitated single-source location model.

Entry point :func:`solve` (:mod:`~solver.location.engine`, which carries the formulation) takes
a :class:`LocationProblem` (:mod:`~solver.location.problem`) and returns a :class:`LocationResult` with plan, lower bound and gap.
Modules: :mod:`~solver.location.candidates` (building–point pairs within walking reach),
:mod:`~solver.location.model` (the solver's instance), :mod:`~solver.location.bound`
(Lagrangian bound), :mod:`~solver.location.assign` (transportation flows),
:mod:`~solver.location.pmedian` and :mod:`~solver.location.search` (site search),
:mod:`~solver.location.groups` (grid penalty), :mod:`~solver.location.mip`,
:mod:`~solver.location.cpsat` and :mod:`~solver.location.exact` (exact neighbourhoods),
:mod:`~solver.location.work` (the deterministic work clock).
"""

from solver.location.engine import solve
from solver.location.problem import LocationProblem, LocationResult

__all__ = ["LocationProblem", "LocationResult", "solve"]
