"""Progress of a plan run as events, so the stages and solvers never print.

A caller that wants to follow a run (the ``natplan`` console, :mod:`sampling.console`) passes a
:data:`Progress` callback; the pipeline wraps each stage in :func:`stage`, which calls it once
when the stage starts and once when it ends, with the stage's wall-clock seconds and its
headline figures (the same keys as ``summary.json``). Without a callback nothing happens, so
library use and tests stay silent. Timings are reported, never used to decide anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["STAGES", "Progress", "StageEvent", "stage"]

STAGES = ("load", "assignment", "day", "home_visits", "transport", "tables", "map", "documents")
"""Stages of ``natplan plan`` in the order they run: reading the scenario, the planning stages
(:func:`sampling.stages.planning.plan_campaign`; ``transport`` only for a scenario with labs
and vehicles), then writing the output tables, the map and the documents
(:func:`sampling.output.write.write_plan`)."""


@dataclass(frozen=True)
class StageEvent:
    """A stage started (``done`` false) or ended (``done`` true, with ``seconds`` and
    ``figures``). ``limit_s`` is the stage's wall-clock safety stop when it has one;
    ``budget_s`` its work budget (seconds of work on the reference machine, ``--time-limit``)
    when its effort is counted in such work, which on a quiet machine is about when it ends."""

    stage: str
    done: bool
    seconds: float = 0.0
    figures: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    limit_s: float | None = None
    budget_s: float | None = None


Progress = Callable[[StageEvent], None]
"""A callback told of every :class:`StageEvent`; it must not raise."""


@contextmanager
def stage(
    progress: Progress | None,
    name: str,
    *,
    limit_s: float | None = None,
    budget_s: float | None = None,
) -> Iterator[dict[str, object]]:
    """Report the block as stage ``name``: an event at its start and one at its end.

    Yields a dict the block fills with the stage's figures (``summary.json`` keys), sent with
    the end event. A block that raises sends no end event (the caller reports the error).
    """
    figures: dict[str, object] = {}
    if progress is None:
        yield figures
        return
    progress(StageEvent(name, done=False, limit_s=limit_s, budget_s=budget_s))
    started = time.perf_counter()
    yield figures
    progress(
        StageEvent(
            name,
            done=True,
            seconds=time.perf_counter() - started,
            figures=MappingProxyType(dict(figures)),
            limit_s=limit_s,
            budget_s=budget_s,
        )
    )
