"""Writing a CampaignPlan to its output folder, all at once or not at all."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sampling.atomic import atomic_dir
from sampling.planning import CampaignPlan


def write_plan(
    plan: CampaignPlan, out_dir: Path, *, extra_seconds: dict[str, float] | None = None
) -> Path:
    """Write ``plan`` into ``out_dir`` atomically: an earlier folder survives a failure.

    Files: ``assignments.parquet``, ``points.parquet``, ``summary.json``.
    """
    started = time.perf_counter()
    with atomic_dir(Path(out_dir), overwrite=True) as staging:
        plan.assignment.assignments.write_parquet(staging / "assignments.parquet")
        plan.assignment.points.write_parquet(staging / "points.parquet")
        summary = plan.summary()
        seconds = dict(summary["seconds"])  # type: ignore[call-overload]
        seconds.update({k: round(v, 3) for k, v in (extra_seconds or {}).items()})
        seconds["write"] = round(time.perf_counter() - started, 3)
        summary["seconds"] = seconds
        (staging / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return Path(out_dir)
