"""Tubes to the labs: ``TransportProblem`` in, :func:`solve_transport`, ``TransportResult`` out.

Modules: :mod:`~solver.transport.problem` (batches, labs, vehicles, rules),
:mod:`~solver.transport.solve` (rolling dispatch with OR-Tools routing per epoch),
:mod:`~solver.transport.labs` (lab queues, hourly load, the result-time lower bound),
:mod:`~solver.transport.check` (independent checker of the output tables),
:mod:`~solver.transport.baseline` (the fixed-round practice, for the benchmark).
"""

from solver.transport.check import CheckReport, check_transport
from solver.transport.problem import TransportProblem
from solver.transport.solve import REASONS, TransportParams, TransportResult, solve_transport

__all__ = [
    "REASONS",
    "CheckReport",
    "TransportParams",
    "TransportProblem",
    "TransportResult",
    "check_transport",
    "solve_transport",
]
