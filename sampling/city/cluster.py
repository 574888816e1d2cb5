"""The Dask client of a run: an embedded LocalCluster, or an existing scheduler.

By default a :class:`distributed.LocalCluster` of ``workers`` processes with one thread each
(nothing to install or start; one district at a time per process, so a worker's memory is
that of one district), whose worker processes are not daemonic, so the planning stages may
start their own child processes (the home-visit routing's engines). With ``scheduler``
(``tcp://host:8786``) the run uses a cluster started elsewhere (``dask scheduler``, and
``DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker tcp://host:8786 --nthreads 1`` on each
machine), whose workers must see the scenario and output folders at the same paths.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

from sampling.errors import ScenarioError

WORKER_DAEMON_NOTE = (
    "natplan's home-visit routing runs engines in child processes, which a daemonic process may"
    " not start: run Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
    " (dask worker tcp://HOST:8786 --nthreads 1)"
)
"""Why workers must not be daemonic processes (set for the embedded cluster; say it for others)."""

CONNECT_TIMEOUT_S = 20
"""Seconds to wait for an existing scheduler before reporting it unreachable (exit 2)."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[Client]:
    """A connected client; a LocalCluster it started is closed on exit."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as error:
            raise ScenarioError.single(
                "--scheduler", f"cannot reach the Dask scheduler ({error})", scheduler
            ) from None
        try:
            yield client
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return
    if workers < 1:
        raise ScenarioError.single("--workers", "must be at least 1", str(workers))
    with (
        dask.config.set({"distributed.worker.daemon": False}),  # see WORKER_DAEMON_NOTE
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: several runs may share a machine
            silence_logs=logging.CRITICAL,  # e.g. heartbeats lost while the cluster closes
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's address (None when the scheduler serves none); its pages need
    ``bokeh`` on the scheduler's machine, which :func:`has_bokeh` checks for this one."""
    try:
        services = client.scheduler_info().get("services", {})
    except (OSError, TimeoutError):
        return None
    return str(client.dashboard_link) if "dashboard" in services else None


def has_bokeh() -> bool:
    """Whether ``bokeh`` (the dashboard's pages) is installed here."""
    return importlib.util.find_spec("bokeh") is not None


def worker_threads(client: Client) -> dict[str, int]:
    """Threads of each worker: more than one means more than one district in memory at once."""
    workers = client.scheduler_info().get("workers", {})
    return {str(address): int(info.get("nthreads", 1)) for address, info in workers.items()}
