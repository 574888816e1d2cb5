"""``natplan plan-city``: every district of a city planned in parallel on Dask.

A city folder holds one scenario folder per district (any sub-folder with a
``scenario.toml``) and optionally ``city.toml``: the city's ``name`` and ``description``, and
header values shared by every district (``date``, ``[window]``, ``[sampling]`` … as in
``scenario.toml``), which a district's own header overrides. Each district is planned with
its own seed (:func:`~sampling.city.jobs.district_seed`) into ``OUT/<district>/``.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sampling.city.citymap import render_city_map
from sampling.city.cluster import dashboard_link, dask_client, has_bokeh, worker_threads
from sampling.city.folder import CITY_FILES, check_run_folder
from sampling.city.jobs import Job, JobResult, district_seed
from sampling.city.outputs import (
    DistrictOutcome,
    alert_counts,
    alerts_text,
    read_summary,
    write_city_outputs,
    write_html,
)
from sampling.city.runner import run_jobs
from sampling.errors import Problem, ScenarioError
from sampling.files.lock import folder_lock
from sampling.report import counted, percent
from sampling.scenario.loader import HEADER_FILE

CITY_FILE = "city.toml"
MAX_CITY_BYTES = 1024**2
"""Largest ``city.toml`` read (1 MiB, like a scenario header)."""

Echo = Callable[[str], None]


@dataclass(frozen=True)
class City:
    """A city folder: its name, shared header defaults and district folders (sorted by name)."""

    root: Path
    name: str
    date: str | None
    defaults: dict[str, Any]
    districts: tuple[tuple[str, Path], ...]


@dataclass(frozen=True)
class CityRun:
    """The outcome of a city run: the districts, and the city summary written to OUT."""

    out: Path
    outcomes: tuple[DistrictOutcome, ...]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[DistrictOutcome]:
        """Districts that could not be planned."""
        return [o for o in self.outcomes if not o.result.ok]


def read_city(path: Path) -> City:
    """Read a city folder; raises ScenarioError (exit 2) listing what is wrong."""
    root = Path(path)
    if not root.is_dir():
        raise ScenarioError.single(
            str(root), "city folder not found (a folder of district folders)"
        )
    data: dict[str, Any] = {}
    header = root / CITY_FILE
    if header.exists():
        if not header.is_file() or header.stat().st_size > MAX_CITY_BYTES:
            raise ScenarioError.single(CITY_FILE, "not a regular file of at most 1 MiB")
        try:
            data = tomllib.loads(header.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ScenarioError.single(CITY_FILE, f"malformed TOML: {error}") from None
    name = data.pop("name", root.resolve().name)
    data.pop("description", None)
    problems: list[Problem] = []
    if not isinstance(name, str) or not name:
        problems.append(Problem(CITY_FILE, "name must be text", value=repr(name)))
    districts = tuple(
        (entry.name, entry)
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.is_dir() and not entry.name.startswith(".") and (entry / HEADER_FILE).is_file()
    )
    if not districts:
        problems.append(
            Problem(str(root), "no district folders", expected=f"sub-folders with {HEADER_FILE}")
        )
    clash = [n for n, _ in districts if n in CITY_FILES]
    if clash:
        problems.append(
            Problem(str(root), "district folder named like a city file", value=clash[0])
        )
    if problems:
        raise ScenarioError(problems)
    date = data.get("date")
    return City(
        root=root,
        name=str(name),
        date=None if date is None else str(date),
        defaults=data,
        districts=districts,
    )


def city_jobs(
    city: City,
    out: Path,
    *,
    time_limit: float,
    seed: int,
    lang: str,
    wall_limit: float | None = None,
) -> list[Job]:
    """One job per district: its folder, ``OUT/<district>``, its seed and the city defaults."""
    out = Path(out).absolute()
    return [
        Job(
            name=name,
            scenario_dir=str(folder.absolute()),
            out_dir=str(out / name),
            seed=district_seed(name, seed),
            time_limit=time_limit,
            wall_limit=wall_limit,
            lang=lang,
            defaults=dict(city.defaults),
        )
        for name, folder in city.districts
    ]


def progress_line(
    result: JobResult, done: int, total: int, summary: Mapping[str, Any] | None
) -> str:
    """One console line as a district finishes: its time, worker, memory and headline."""
    head = f"[{done}/{total}] {result.name}:"
    if not result.ok:
        first = result.error.strip().splitlines()
        return f"{head} FAILED ({result.error_kind}) {' '.join(first[:3])}"
    state = (
        "up to date (kept)"
        if result.skipped
        else f"planned in {result.seconds:.1f} s on {result.worker} (worker peak {result.peak_rss_mib:,.0f} MiB)"
    )
    if summary is None:
        return f"{head} {state}"
    counts = alert_counts(summary)
    return (
        f"{head} {state} — coverage {percent(summary.get('coverage'))},"
        + (
            f" last swab {summary['finish_time']}"
            if summary.get("finish_time")
            else " no one swabbed at a point"
        )
        + f" (window end {summary.get('window_end', '?')});"
        f" {('alerts: ' + alerts_text(counts)) if counts else 'no alerts'}"
    )


def describe_cluster(client: Any, echo: Echo) -> None:
    """Say which cluster runs the jobs, its dashboard, and whether workers hold one job each."""
    threads = worker_threads(client)
    link = dashboard_link(client)
    echo(
        f"dask: {counted(len(threads), 'worker')} ({counted(sum(threads.values()), 'thread')})"
        f" at {client.scheduler.address}"
        + (f"; dashboard {link}" if link else "; no dashboard")
        + ("" if has_bokeh() or not link else " (its pages need bokeh, not installed here)")
    )
    if any(n > 1 for n in threads.values()):
        echo(
            "note: some workers run several threads, so they may hold several districts in"
            " memory at once; start them with --nthreads 1"
        )


def plan_city(
    city_dir: Path,
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    time_limit: float = 30.0,
    wall_limit: float | None = None,
    seed: int = 0,
    lang: str = "zh",
    echo: Echo = print,
) -> CityRun:
    """Plan every district of ``city_dir`` into ``out`` and write the city's outputs.

    Districts whose folder already holds a plan of the same inputs are kept (a rerun plans
    only what is missing, failed or changed). Raises ScenarioError / OutputFolderError (exit 2)
    for a wrong city or output folder before anything is planned; a district that fails is
    reported in the outcome, and the others are written.
    """
    started = time.perf_counter()
    city = read_city(Path(city_dir))
    out = Path(out).absolute()
    jobs = city_jobs(city, out, time_limit=time_limit, wall_limit=wall_limit, seed=seed, lang=lang)
    names = [j.name for j in jobs]
    check_run_folder(out, kind="city", jobs=names, protected=(city.root,))
    with folder_lock(out):
        state = check_run_folder(out, kind="city", jobs=names, protected=(city.root,))
        summaries: dict[str, dict[str, Any] | None] = {}

        def report(result: JobResult, done: int, total: int) -> None:
            summary = read_summary(out / result.name) if result.ok else None
            summaries[result.name] = summary
            echo(progress_line(result, done, total, summary))

        with dask_client(scheduler, workers) as client:
            describe_cluster(client, echo)
            echo(f"{city.name}: {len(jobs)} districts → {out}")
            results = run_jobs(client, jobs, out, kind="city", state=state, progress=report)
        outcomes = tuple(
            DistrictOutcome(job, results[job.name], summaries.get(job.name)) for job in jobs
        )
        summary = write_city_outputs(
            out,
            city.name,
            city.date,
            outcomes,
            lang=lang,
            wall_seconds=time.perf_counter() - started,
        )
        tile_url = next(
            (
                str(o.summary["map"]["tile_url"])
                for o in outcomes
                if o.summary
                and isinstance(o.summary.get("map"), dict)
                and o.summary["map"].get("tile_url")
            ),
            None,
        )
        write_html(
            out / "map.html",
            render_city_map(out, summary["districts"], lang=lang, tile_url=tile_url),
        )
    return CityRun(out, outcomes, summary)
