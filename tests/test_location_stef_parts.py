"""With many medians ``exact.reduced_lns`` runs its between step (site moves, the open sites'
assignment) also after each part of a pass that improved (``exact.BETWEEN_PARTS``), not only
after each pass; with few medians a pass is short and nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

from solver.location import engine, exact
from solver.location.model import evaluate
from tests.test_location_reduced import _complete_problem
from tests.test_location_stef_alternate import _state


def _search(n: int, p: int, parts: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, float]:
    """Neighbourhood MIPs from the flow plan of every (n ÷ p)-th site with a between step
    that finds nothing; returns how often the step ran and the plan's objective."""
    monkeypatch.setattr(exact, "BETWEEN_PARTS", parts)
    s = _state(_complete_problem(n, p), list(range(0, n, n // p)), 3.0)
    calls: list[float] = []

    def step() -> bool:
        calls.append(s.objective)
        return False

    exact.reduced_lns(s, np.zeros(s.inst.k), *engine._sub_functions(s), reserve=0.0, between=step)
    assert s.assign is not None and s.open_mask is not None
    ev = evaluate(s.inst, s.assign, s.open_mask)
    assert ev.feasible and ev.objective == pytest.approx(s.objective)
    return len(calls), s.objective


def test_many_medians_run_the_step_within_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # 90 clients, 30 medians: three clients per open site, level scale 3 (a part is ten
    # seeds); a poor start improves in the first pass, so the step runs inside it too
    assert exact.level_scale(90, 30) == 3
    per_pass, _ = _search(90, 30, False, monkeypatch)
    in_parts, _ = _search(90, 30, True, monkeypatch)
    assert per_pass >= 1
    assert in_parts > per_pass


def test_few_medians_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 clients, 4 medians: scale 1, one part is the whole pass
    assert exact.level_scale(40, 4) == 1
    assert _search(40, 4, False, monkeypatch) == _search(40, 4, True, monkeypatch)
