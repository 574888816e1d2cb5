"""The day at the points: staffing, call timetable and queue simulation.

:func:`~solver.day.staffing.solve_staffing` puts teams on points and shifts;
:func:`~solver.day.timetable.build_timetable` calls buildings down slot by slot;
:func:`~solver.day.queue_sim.simulate` checks the timetable with late residents and varying
swab times, and :func:`~solver.day.queue_sim.repair_timetable` re-spreads points that fail.
"""

from solver.day.queue_sim import repair_timetable, simulate
from solver.day.staffing import StaffingStatus, solve_staffing
from solver.day.timetable import build_timetable

__all__ = ["StaffingStatus", "build_timetable", "repair_timetable", "simulate", "solve_staffing"]
