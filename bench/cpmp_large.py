"""Capacitated p-medians beyond the shared sets' size: 2,000–3,038 clients, 150–1,000 medians.

Usage::

    python bench/cpmp_large.py                     # the six instances below, 60 units each
    python bench/cpmp_large.py --only pcb3038_1000 --seed 1 --stats

The shared Stefanello set stops at 1,304 clients; the literature's large instances (pr2392,
p3038 of Lorena & Senne, fnl4461) are not here. These are generated in their format and with
their recipe (demand uniform in 1–99, every capacity ⌈Σ demand / (0.8 p)⌉, every client a
candidate site, exactly p open, plain Euclidean distances on all n² arcs) on three layouts:
``pcb`` (lattice points in rectangular blocks, like a drilled board: many equal distances),
``clu`` (Gaussian clusters, like a city) and ``uni`` (uniform). No best-known values exist, so
the figure is the gap to the engine's own lower bound (an upper estimate of the true gap), with
the seconds and the work spent: whether the engine keeps its budget, reports a bound that
means something and never says ``infeasible`` at this size. Instances are written once to
``--cache`` (default: the temporary folder) and read back through :func:`cpmp.run`, as
``bench/cpmp.py`` reads SJC.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from cpmp import run

# name: (layout, clients, medians, generator seed)
INSTANCES: dict[str, tuple[str, int, int, int]] = {
    "pcb3038_600": ("pcb", 3038, 600, 1),
    "pcb3038_1000": ("pcb", 3038, 1000, 1),
    "clu2392_150": ("clu", 2392, 150, 2),
    "clu2392_300": ("clu", 2392, 300, 2),
    "clu2392_700": ("clu", 2392, 700, 2),
    "uni2000_400": ("uni", 2000, 400, 3),
}


def layout(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct points of the given layout, coordinates in about [0, 20000]²."""
    if kind == "pcb":
        pts: set[tuple[int, int]] = set()
        while len(pts) < n:
            bx, by = (int(v) for v in rng.integers(0, 80, 2))
            w, h = (int(v) for v in rng.integers(2, 9, 2))
            for x in range(bx, bx + w):
                for y in range(by, by + h):
                    if rng.random() < 0.7:
                        pts.add((x, y))
        lattice = np.array(sorted(pts), dtype=np.float64)[:n] * 125.0
        rng.shuffle(lattice)
        return lattice
    if kind == "clu":
        centres = rng.uniform(0, 20000, (n // 40, 2))
        which = rng.integers(0, centres.shape[0], n)
        return np.asarray(np.round(centres[which] + rng.normal(0, 400, (n, 2))))
    return np.asarray(np.round(rng.uniform(0, 20000, (n, 2))))


def write_instance(name: str, folder: Path) -> Path:
    """The instance ``name`` (:data:`INSTANCES`) as an SJC-format file in ``folder``."""
    kind, n, p, seed = INSTANCES[name]
    path = folder / f"natplan-cpmp-{name}.dat"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    xy = layout(kind, n, rng)
    demand = rng.integers(1, 100, n)
    cap = math.ceil(int(demand.sum()) / (0.8 * p))
    rows = "".join(f"{x:.0f}\t{y:.0f}\t{cap}\t{d}\n" for (x, y), d in zip(xy, demand, strict=True))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{n}\t{p}\n" + rows)
    tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="these instances")
    ap.add_argument("--time-limit", type=float, default=60.0, help="work budget per instance")
    ap.add_argument("--wall-limit", type=float, default=None, help="wall-clock safety stop")
    ap.add_argument("--seed", type=int, default=0, help="the engine's random seed")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--stats", action="store_true", help="add the engine's statistics")
    args = ap.parse_args()
    names = args.only or list(INSTANCES)
    for name in names:
        path = write_instance(name, args.cache)
        row = run(path, args.time_limit, None, None, args.wall_limit, args.seed, args.stats)
        row["instance"] = name
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
