"""What a Dask worker runs for one job: load by path, plan, write — as ``natplan plan`` does.

The worker returns a small :class:`~sampling.city.jobs.JobResult`; the plan itself stays in
the output folder. Input problems (a broken scenario, an output folder natplan may not
replace) come back as text, so one bad district never stops the others.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import time
from pathlib import Path

from sampling.city.cluster import WORKER_DAEMON_NOTE
from sampling.city.jobs import ErrorKind, Job, JobResult
from sampling.city.variants import with_staff_ratio
from sampling.errors import ScenarioError
from sampling.files.lock import folder_lock
from sampling.output.write import check_plan_folder, write_plan
from sampling.scenario.loader import load_scenario
from sampling.stages.planning import plan_campaign


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def worker_address() -> str:
    """The Dask worker this runs on (``local`` outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def run_job(job: Job) -> JobResult:
    """Plan ``job`` and write its plan folder; report failures instead of raising them."""
    started = time.perf_counter()
    kind: ErrorKind = ""
    error = ""
    try:
        if multiprocessing.current_process().daemon:
            raise ScenarioError.single(worker_address(), WORKER_DAEMON_NOTE)
        scenario = load_scenario(job.scenario_dir, defaults=job.defaults, overrides=job.overrides)
        if job.staff_ratio is not None:
            scenario = with_staff_ratio(scenario, job.staff_ratio)
        out = Path(job.out_dir)
        check_plan_folder(out, scenario)
        with folder_lock(out):
            loaded = time.perf_counter() - started
            plan = plan_campaign(
                scenario, time_limit=job.time_limit, wall_limit=job.wall_limit, seed=job.seed
            )
            write_plan(plan, out, lang=job.lang, extra_seconds={"load": loaded})
    except ScenarioError as problem:
        kind, error = "input", problem.report()
    except (FileExistsError, PermissionError) as problem:
        kind, error = "input", f"error: {problem}"
    except Exception as problem:  # a bug in one district must not stop the city
        kind, error = "internal", f"internal error: {type(problem).__name__}: {problem}"
    return JobResult(
        name=job.name,
        error_kind=kind,
        error=error,
        seconds=round(time.perf_counter() - started, 3),
        worker=worker_address(),
        peak_rss_mib=round(peak_rss_mib(), 1),
    )
