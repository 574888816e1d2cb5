"""How high the district lower bound can go, and how close the engine's bound refinement gets.

    python bench/bound_ceiling.py capture --residents 1000000 --seed 0      # engine run, state
    python bench/bound_ceiling.py replay --residents 1000000 --seed 0       # refinement only
    python bench/bound_ceiling.py ceiling --residents 1000000 --seed 0 --steps 5000
    python bench/bound_ceiling.py ceiling --residents 1000000 --steps 3000 --integer-steps 600
    python bench/bound_ceiling.py lp --residents 1000000 --seed 0           # LP (HiGHS)

Works on the cached location problems of ``bench/district_plans.py`` (``--cache``, default
``/tmp``). ``capture`` runs the engine as that script does (work budget ``--time-limit``) and
keeps, under ``--cache``, the state the whole-district bound refinement
(:func:`solver.location.engine._refine_bound`) started from: the first pass's multipliers,
the incumbent's walking + unserved cost (its Polyak target), the work left and spent, and the
final plan's walking + unserved cost. ``replay`` runs that refinement (its fractional steps,
then those with exact site knapsacks) again on the captured state with the code as it is now (``--set module.NAME=VALUE`` overrides a constant of
:mod:`solver.location.engine` or :mod:`solver.location.bound`), so a change to the refinement
is judged on exactly the engine's allowance. ``ceiling`` runs many subgradient steps with the
final plan's cost as the Polyak target and prints the bound at checkpoints: how high this
relaxation goes (``--integer-steps``: then with exact site knapsacks). ``lp`` solves the LP relaxation (continuous tables; ``bench/bound.py``).
Times are ``time.process_time`` of this process on a shared machine: pessimistic.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from district_plans import district_problem, run  # noqa: E402  (bench/ is the script's folder)

from solver.location import bound, engine  # noqa: E402
from solver.location.model import Instance, build_instance  # noqa: E402
from solver.location.work import WorkClock  # noqa: E402


def capture_path(cache: Path, residents: int, seed: int) -> Path:
    """Where ``capture`` keeps the refinement's starting state of a district."""
    return cache / f"natplan-refine-{residents}-{seed}.pkl"


def instance(residents: int, seed: int, cache: Path) -> Instance:
    """The district's location instance, built from its cached problem."""
    return build_instance(district_problem(residents, seed, cache))


def capture(residents: int, seed: int, cache: Path, time_limit: float) -> dict[str, Any]:
    """Run the engine on the district and keep the refinement's starting state."""
    state: dict[str, Any] = {}
    original = engine._refine_bound

    def spy(st: Any, lr: bound.LagrangeResult, share: float) -> bound.LagrangeResult:
        if engine._district(st.inst) and "lr" not in state:
            state.update(
                lr=lr,
                share=share,
                upper=st.relaxed_upper,
                assign=None if st.assign is None else st.assign.copy(),
                open_mask=None if st.open_mask is None else st.open_mask.copy(),
                left=st.left(),
                spent=st.clock.spent,
                first_work=st.stats.get("lagrangian_first_work", 0.0),
            )
            t = time.process_time()
            out = original(st, lr, share)
            state["refined"] = float(st.stats.get("lagrangian_bound", lr.bound))
            state["refine_cpu"] = time.process_time() - t
            state["refine_work"] = st.clock.spent - state["spent"]
            return out
        return original(st, lr, share)

    engine._refine_bound = spy
    try:
        figures = run(district_problem(residents, seed, cache), seed, time_limit)
    finally:
        engine._refine_bound = original
    state["final_relaxed"] = float(figures["without_grid"])  # type: ignore[arg-type]
    with capture_path(cache, residents, seed).open("wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    keep = ("share", "upper", "left", "spent", "first_work", "refined", "refine_cpu", "refine_work")
    return {**figures, "refine": {k: state[k] for k in keep}, "first_bound": state["lr"].bound}


def load_capture(cache: Path, residents: int, seed: int) -> dict[str, Any]:
    """The state ``capture`` kept."""
    with capture_path(cache, residents, seed).open("rb") as fh:
        state: dict[str, Any] = pickle.load(fh)
    return state


def replay(inst: Instance, state: dict[str, Any]) -> dict[str, float]:
    """The engine's district refinement on the captured state: the bound it reaches, its
    steps, the work it charged and its process seconds."""
    clock = WorkClock(budget=state["spent"] + state["left"], wall_deadline=math.inf)
    clock.spent = state["spent"]
    st = engine._Search(inst=inst, clock=clock, progress=None, seed=0)
    st.relaxed_upper = state["upper"]
    st.stats["lagrangian_first_work"] = state["first_work"]
    lr: bound.LagrangeResult = state["lr"]
    st.bound = lr.bound
    t = time.process_time()
    engine._refine_bound(st, lr, state["share"])
    return {
        "first_bound": lr.bound,
        "bound": float(st.stats.get("lagrangian_bound", lr.bound)),
        "captured_bound": state["refined"],
        "steps": float(st.stats.get("lagrangian_iterations", 0.0)),
        "work": clock.spent - state["spent"],
        "captured_work": state["refine_work"],
        "cpu_s": time.process_time() - t,
        "deflection": float(st.stats.get("lagrangian_refine_deflection", -1.0)),
        # the allowance's steps with exact site knapsacks (engine.INTEGER_SHARE)
        "integer_bound": float(st.stats.get("lagrangian_integer_bound", math.nan)),
        "integer_steps": float(st.stats.get("lagrangian_integer_iterations", 0.0)),
        "integer_work": float(st.stats.get("lagrangian_integer_work", 0.0)),
    }


def ceiling(
    inst: Instance,
    state: dict[str, Any],
    steps: int,
    gamma: float,
    patience: int,
    from_start: bool,
    upper: float,
    metric: bool,
    integer_steps: int = 0,
) -> dict[str, Any]:
    """``steps`` subgradient steps (deflection ``gamma``, θ halving after ``patience``
    stalls; ``metric``: :func:`~solver.location.bound.client_metric` steps) towards ``upper`` (default the final plan's walking + unserved cost), from the
    scarcity start or from the captured first pass; the best bound at checkpoints. Then
    ``integer_steps`` more with exact site knapsacks (``integer``, the same settings) from
    the best multipliers: how high the bound with whole buildings goes."""
    target = state["final_relaxed"] if math.isnan(upper) else upper
    marks = {150, 300, 600, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000}
    trace: dict[str, float] = {}
    best = [-math.inf]

    def on_iter(it: int, sel: Any, lag: float) -> None:
        best[0] = max(best[0], lag)
        if it in marks:
            trace[str(it)] = round(best[0], 1)

    lr0: bound.LagrangeResult = state["lr"]
    t = time.process_time()
    lr = bound.subgradient(
        inst,
        upper=lambda: target,
        on_iter=on_iter,
        max_iter=steps,
        exact=True,
        mu0=None if from_start else lr0.mu,
        nu0=0.0 if from_start else lr0.nu,
        theta0=1.0 if from_start else max(lr0.theta, 0.25),
        deflection=gamma,
        patience=patience,
        metric=bound.client_metric(inst) if metric else None,
    )
    out: dict[str, Any] = {
        "target": target,
        "bound": lr.bound,
        "iterations": lr.iterations,
        "theta": lr.theta,
        "cpu_s": round(time.process_time() - t, 1),
        "trace": trace,
        "gap_at_bound_pct": round(100 * (target - lr.bound) / lr.bound, 3),
    }
    if integer_steps > 0:
        marks = {1, 10, 50, 100, 200, 400, 600, 1000, 1500, 2000}
        trace = out["integer_trace"] = {}
        best[0] = -math.inf
        t = time.process_time()
        li = bound.subgradient(
            inst,
            upper=lambda: target,
            on_iter=on_iter,
            max_iter=integer_steps,
            exact=True,
            integer=True,
            mu0=lr.mu,
            nu0=lr.nu,
            theta0=max(lr.theta, engine.INTEGER_THETA),
            deflection=gamma,
            patience=patience,
            metric=bound.client_metric(inst) if metric else None,
        )
        out.update(
            integer_bound=li.bound,
            integer_iterations=li.iterations,
            integer_cpu_s=round(time.process_time() - t, 1),
            gap_at_integer_bound_pct=round(100 * (target - li.bound) / li.bound, 3),
        )
    return out


def demand_metric(power: float) -> Any:
    """Experiment: weights ``d_i^power`` (mean 1) in place of :func:`bound.client_metric`."""

    def weights(inst: Instance) -> Any:
        w = np.maximum(inst.demand.astype(np.float64), 1.0) ** power
        return w / w.mean()

    return weights


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["capture", "replay", "ceiling", "lp"])
    parser.add_argument("--residents", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--time-limit", type=float, default=30.0, help="capture: work budget")
    parser.add_argument("--steps", type=int, default=5000, help="ceiling: subgradient steps")
    parser.add_argument("--gamma", type=float, default=1.0, help="ceiling: deflection γ")
    parser.add_argument("--patience", type=int, default=50, help="ceiling: θ patience")
    parser.add_argument("--from-start", action="store_true", help="ceiling: scarcity start")
    parser.add_argument("--demand-power", type=float, default=math.nan, help="metric d^p")
    parser.add_argument("--metric", action="store_true", help="ceiling: client_metric steps")
    parser.add_argument("--upper", type=float, default=math.nan, help="ceiling: Polyak target")
    parser.add_argument(
        "--integer-steps", type=int, default=0, help="ceiling: then steps with exact knapsacks"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="MODULE.NAME=VALUE")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    modules = {"engine": engine, "bound": bound}
    if not math.isnan(args.demand_power):
        metric = demand_metric(args.demand_power)
        bound.client_metric = metric
        setattr(engine, "client_metric", metric)  # noqa: B010 (the engine's imported name)
    for item in args.set:
        name, value = item.split("=", 1)
        mod, attr = name.split(".", 1)
        old = getattr(modules[mod], attr)
        setattr(
            modules[mod],
            attr,
            value in ("1", "True") if isinstance(old, bool) else type(old)(value),
        )
    for residents in args.residents:
        for seed in args.seed:
            out: dict[str, Any] = {"residents": residents, "seed": seed, "set": args.set}
            if args.action == "capture":
                out.update(capture(residents, seed, args.cache, args.time_limit))
            elif args.action == "lp":
                from bound import lp_bound  # bench/bound.py

                out.update(lp_bound(instance(residents, seed, args.cache)))
            else:
                inst = instance(residents, seed, args.cache)
                state = load_capture(args.cache, residents, seed)
                if args.action == "replay":
                    out.update(replay(inst, state))
                else:
                    out.update(
                        ceiling(
                            inst,
                            state,
                            args.steps,
                            args.gamma,
                            args.patience,
                            args.from_start,
                            args.upper,
                            args.metric,
                            args.integer_steps,
                        )
                    )
            print(json.dumps(out, default=float), flush=True)


if __name__ == "__main__":
    main()
