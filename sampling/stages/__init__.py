"""The planning stages, run in order by :func:`plan_campaign` (:mod:`~sampling.stages.planning`).

:mod:`~sampling.stages.assignment` (buildings to points, :mod:`solver.location`),
:mod:`~sampling.stages.day` (staffing, timetable, simulation, :mod:`solver.day`),
:mod:`~sampling.stages.home_visits` (routes, :mod:`solver.routing`); each returns a frozen plan
object, and :class:`CampaignPlan` holds them all. :mod:`~sampling.stages.kpis` summarises.
"""

from sampling.stages.planning import CampaignPlan, plan_campaign

__all__ = ["CampaignPlan", "plan_campaign"]
