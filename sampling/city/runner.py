"""Run jobs on a Dask cluster: skip the finished ones, start the largest first, report each.

Each job is one task (:func:`~sampling.city.task.run_job`) submitted with the job's paths only.
Results arrive as tasks finish (:func:`distributed.as_completed`); each is recorded in the
run folder's marker at once (:mod:`sampling.city.folder`), so an interrupted run loses only the
jobs still running. A worker that dies (out of memory, killed) fails its job, not the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from distributed import Client, Future, as_completed

from sampling.city.folder import RunKind, finished, write_marker
from sampling.city.jobs import Job, JobResult
from sampling.city.task import run_job

Progress = Callable[[JobResult, int, int], None]
"""Called with each result, the number done so far and the number of jobs."""


def run_jobs(
    client: Client,
    jobs: Sequence[Job],
    folder: Path,
    *,
    kind: RunKind,
    state: dict[str, str],
    progress: Progress | None = None,
) -> dict[str, JobResult]:
    """Plan every job whose folder is not finished for its current inputs; results by name.

    ``state`` holds the fingerprints of the folder's finished jobs (from its marker); it is
    updated and the marker rewritten after each job.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_marker(folder, kind, state)
    results: dict[str, JobResult] = {}
    todo: list[tuple[Job, str]] = []
    for job in jobs:
        fingerprint = job.fingerprint()
        if state.get(job.name) == fingerprint and finished(folder, job.name):
            results[job.name] = JobResult(name=job.name, skipped=True)
        else:
            todo.append((job, fingerprint))
    total = len(jobs)
    for done, result in enumerate(results.values(), start=1):
        if progress is not None:
            progress(result, done, total)
    run = uuid.uuid4().hex[:8]
    futures: dict[Future[JobResult], tuple[Job, str]] = {}
    for job, fingerprint in sorted(todo, key=lambda item: -item[0].input_bytes()):
        future = client.submit(
            run_job,
            job,
            key=f"natplan-{job.name}-{run}",
            pure=False,
            priority=len(todo) - len(futures),
        )
        futures[future] = (job, fingerprint)
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            job, fingerprint = futures[future]
            try:
                result = future.result()
            except Exception as error:  # the worker died or the task was lost
                result = JobResult(
                    name=job.name,
                    error_kind="internal",
                    error=f"internal error: {type(error).__name__}: {error}",
                )
            if result.ok:
                state[job.name] = fingerprint
            else:
                state.pop(job.name, None)
            write_marker(folder, kind, state)
            results[job.name] = result
            if progress is not None:
                progress(result, len(results), total)
    finally:
        client.cancel([f for f in futures if not f.done()])  # type: ignore[no-untyped-call]
    return {job.name: results[job.name] for job in jobs}
