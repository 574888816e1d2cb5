"""The day itself: progress, events, re-planning the rest of the day, what changed, catch-up.

``natplan replan OUT --at HH:MM [--progress FILE] [--events FILE] --out NEW`` reads a saved plan
(:mod:`sampling.replan.saved`), what has been swabbed by ``--at`` (:mod:`.progress`) and what
happened (:mod:`.events`), works out the situation at ``--at`` (:mod:`.state`), re-plans the rest
of the day touching only what it must (:mod:`.replan`), lists who must be told what
(:mod:`.changes`) and the residents still untested (:mod:`.catchup`), and writes a complete plan
folder (:mod:`.write`) with the notices and catch-up pages (:mod:`.pages`).
"""

from __future__ import annotations

__all__: list[str] = []
