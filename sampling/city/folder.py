"""The output folder of a city or sweep run: which folders it may write, and what is finished.

Unlike a plan folder, a city folder is never swapped as a whole: each district's plan folder
inside it is written atomically by :func:`~sampling.output.write.write_plan` (its own marker,
lock and swap), so a failed or interrupted run keeps every district that finished. The city
folder carries natplan's marker ``.natplan.json`` of kind ``city`` (or ``sweep``) naming its
own files and, per job, the fingerprint of the inputs its folder was planned from; the marker
is rewritten (atomically) as each job finishes, so a rerun plans only what is missing or
out of date. A city folder may be written only when it is absent, empty, or marked by natplan
for the same kind, and holds nothing but the listed files, job folders that are natplan plans,
and the temporary siblings and locks those leave behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

from sampling.files.atomic import atomic_file
from sampling.files.ownership import (
    MARKER,
    MARKER_MAX_BYTES,
    MARKER_VERSION,
    check_location,
    check_writable,
    foreign_entries,
    refuse,
)

RunKind = Literal["city", "sweep"]

CITY_FILES = ("summary.json", "districts.parquet", "index.html", "map.html")
"""Files a city run writes at the top of its folder."""
SWEEP_FILES = ("sweep.parquet", "sweep.html")
"""Files a sweep run writes at the top of its folder."""


def own_files(kind: RunKind) -> tuple[str, ...]:
    """The top-level files a run of ``kind`` writes."""
    return CITY_FILES if kind == "city" else SWEEP_FILES


def read_marker(folder: Path, kind: RunKind) -> dict[str, str] | None:
    """Fingerprints of the finished jobs by name, or None when ``folder`` has no marker of
    ``kind``."""
    marker = folder / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return None
        if marker.stat().st_size > MARKER_MAX_BYTES:
            return None
        data: Any = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != kind:
        return None
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not all(isinstance(v, str) for v in jobs.values()):
        return None
    return {str(k): v for k, v in jobs.items()}


def write_marker(folder: Path, kind: RunKind, jobs: dict[str, str]) -> None:
    """Write (atomically) the marker naming the run's files and its finished jobs."""
    data = {
        "natplan_marker": MARKER_VERSION,
        "kind": kind,
        "entries": sorted(own_files(kind)),
        "jobs": dict(sorted(jobs.items())),
    }
    with atomic_file(folder / MARKER) as temporary:
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")


def _leftover(name: str, jobs: Collection[str], kind: RunKind) -> bool:
    """Whether ``name`` is a lock or temporary sibling natplan's own writers leave behind."""
    for job in jobs:
        prefix = re.escape(f".{job}.")
        if re.fullmatch(prefix + r"(lock|[A-Za-z0-9_]{8}\.(new|old))", name):
            return True
    files = [*own_files(kind), MARKER]
    return any(re.fullmatch(re.escape(f".{f}.") + r".+\.tmp", name) for f in files)


def finished(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` holds a complete plan natplan wrote (and nothing else)."""
    target = folder / name
    return (
        target.is_dir()
        and not target.is_symlink()
        and (target / "summary.json").is_file()
        and foreign_entries(target, "plan") == []
    )


def check_run_folder(
    path: Path, *, kind: RunKind, jobs: Collection[str], protected: Sequence[Path] = ()
) -> dict[str, str]:
    """Raise OutputFolderError (exit 2) unless a ``kind`` run of ``jobs`` may write ``path``;
    return the fingerprints of its finished jobs (empty for a new folder)."""
    path = Path(path)
    other = "choose a new or empty folder, or one natplan wrote for the same kind of run"
    resolved = check_location(path, protected=protected, expected_other=other, inside_inputs=False)
    check_writable(resolved.parent)
    if not path.exists():
        return {}
    entries = sorted(e.name for e in path.iterdir())
    if not entries:
        return {}
    state = read_marker(path, kind)
    if state is None:
        raise refuse(
            path,
            f"holds files natplan did not write (no {MARKER} of a natplan {kind} run)",
            other + "; natplan never replaces your own files",
        )
    known = set(state) | set(jobs)
    allowed = {MARKER, *own_files(kind)}
    foreign = [
        e
        for e in entries
        if e not in allowed
        and not (e in known and (path / e).is_dir() and not (path / e).is_symlink())
        and not _leftover(e, known, kind)
    ]
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise refuse(
            path,
            f"holds files natplan did not write: {shown}",
            "move them elsewhere first; natplan never replaces your own files",
        )
    return state
