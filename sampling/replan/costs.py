"""What a change a person must be told about costs in the re-plan (:class:`ChangeCosts`).

Kept apart from the models that use it (:mod:`sampling.replan.reassign` for buildings, the
staffing of :mod:`sampling.replan.replan` for teams) so that the command line can offer the
options without loading them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ChangeCosts"]


@dataclass(frozen=True)
class ChangeCosts:
    """What a change a person must be told about costs in the re-plan's objectives.

    ``building_move_min``: moving a building to another point costs as much as every one of its
    residents still to come walking this many minutes more (the location engine's unit,
    resident-metres, at the header's walking speed). ``team_move_min``: moving a medical team
    on duty to another point costs as much as that many minutes of team travel (the staffing's
    unit, metres at the teams' travel speed); a lane left without a sampler costs far more, so
    a team moves when that covers one and no sampler off duty can. ``call_move_min``: telling
    a resident still to come that their call moved by more than a slot costs as much as that
    resident waiting this many minutes past the window end; the staff re-balance, which re-times
    the calls of the points it takes samplers from, is kept only when the waiting it saves
    exceeds what its call moves cost.
    """

    building_move_min: float = 10.0
    team_move_min: float = 20.0
    call_move_min: float = 10.0

    def __post_init__(self) -> None:
        """Every cost finite and ≥ 0."""
        for name in ("building_move_min", "team_move_min", "call_move_min"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and ≥ 0, got {value}")
