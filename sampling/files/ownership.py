"""Which folders natplan may write into, checked before any work is done.

natplan replaces its output folder as a whole (see :mod:`sampling.files.atomic`), so it must only
ever replace a folder that holds nothing but its own files. Every folder natplan writes
carries a marker, ``.natplan.json``, listing the files it wrote. A folder may be (re)written
only when it is absent, empty, or marked by natplan for the same kind of output with no file
the marker does not list. Plan folders written before the marker existed are recognised by
their file names. Anything else — the scenario folder, its parents, the folder you are in,
``/``, a mount point, a folder of your own files — is refused with exit code 2, before solving.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from sampling.errors import Problem, ScenarioError

MARKER = ".natplan.json"
"""File inside every folder natplan writes: what wrote it and the files it wrote."""

MARKER_VERSION = 1
"""Format of the marker (not natplan's version, so identical inputs give identical folders)."""

MARKER_MAX_BYTES = 16 * 1024 * 1024
"""A marker listing ~100k documents is ~5 MB; anything far larger is not ours."""

Kind = Literal["plan", "scenario"]

LEGACY_PLAN_FILES = frozenset(
    {
        "assignments.parquet",
        "points.parquet",
        "shifts.parquet",
        "timetable.parquet",
        "shortfall.parquet",
        "capacity_plan.parquet",
        "not_called.parquet",
        "home_visits.parquet",
        "routes.parquet",
        "route_stops.parquet",
        "summary.json",
        "map.html",
        "index.html",
        "plan.xlsx",
    }
)
"""Top-level files of a plan folder written before the marker existed (natplan ≤ 0.1)."""

LEGACY_PLAN_FOLDERS = frozenset({"points", "grids", "teams"})
"""Document folders of such a plan; they hold only ``.html`` and ``.csv`` files."""


class OutputFolderError(ScenarioError):
    """natplan will not write to this folder (exit code 2, nothing was changed)."""

    def report(self) -> str:
        """``error: <folder>: <why> — <what to do>``; nothing was written."""
        return "\n".join(f"error: {p}" for p in self.problems)


def refuse(path: Path, message: str, expected: str) -> OutputFolderError:
    """An :class:`OutputFolderError` about ``path``."""
    return OutputFolderError([Problem(str(path), message, expected=expected)])


def write_marker(folder: Path, kind: Kind) -> None:
    """Write ``folder/.natplan.json`` listing every file and folder now inside ``folder``."""
    entries = sorted(e for e in relative_entries(folder) if e != MARKER)
    data = {"natplan_marker": MARKER_VERSION, "kind": kind, "entries": entries}
    (folder / MARKER).write_text(json.dumps(data, ensure_ascii=False, indent=0), "utf-8")


def relative_entries(folder: Path) -> list[str]:
    """Every file (``a/b.html``) and folder (``a/``) below ``folder``, symlinks not followed."""
    out: list[str] = []
    for base, dirs, files in os.walk(folder):
        rel = Path(base).relative_to(folder)
        out.extend(f"{(rel / d).as_posix()}/" for d in dirs)
        out.extend((rel / f).as_posix() for f in files)
    return out


def _marked_entries(folder: Path, kind: Kind) -> frozenset[str] | None:
    """The entries the marker of ``folder`` lists, or None when it has no valid marker."""
    marker = folder / MARKER
    try:
        if not marker.is_file() or marker.is_symlink():
            return None
        if marker.stat().st_size > MARKER_MAX_BYTES:
            return None
        data = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != kind:
        return None
    entries = data.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        return None
    return frozenset(entries) | {MARKER}


def _legacy_plan_foreign(folder: Path) -> list[str] | None:
    """Foreign entries of an unmarked plan folder, or None if it does not look like a plan."""
    top = {e.name for e in folder.iterdir()}
    if "summary.json" not in top or "assignments.parquet" not in top:
        return None
    foreign = []
    for entry in relative_entries(folder):
        parts = entry.rstrip("/").split("/")
        if len(parts) == 1:
            ok = (entry in LEGACY_PLAN_FILES) or (entry.rstrip("/") in LEGACY_PLAN_FOLDERS)
            ok = ok and entry.endswith("/") == (parts[0] in LEGACY_PLAN_FOLDERS)
        else:
            ok = (
                len(parts) == 2
                and parts[0] in LEGACY_PLAN_FOLDERS
                and not entry.endswith("/")
                and parts[1].endswith((".html", ".csv"))
            )
        if not ok:
            foreign.append(entry)
    return foreign


def foreign_entries(folder: Path, kind: Kind) -> list[str] | None:
    """Entries of ``folder`` natplan did not write; None when it is not a natplan folder."""
    allowed = _marked_entries(folder, kind)
    if allowed is None:
        return _legacy_plan_foreign(folder) if kind == "plan" else None
    return [e for e in relative_entries(folder) if e not in allowed]


def is_natplan_folder(folder: Path) -> bool:
    """Whether ``folder`` holds only what natplan wrote (of either kind), or is empty."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    if not any(folder.iterdir()):
        return True
    return any(foreign_entries(folder, kind) == [] for kind in ("plan", "scenario"))


def _listing(entries: Iterable[str], limit: int = 5) -> str:
    items = sorted(entries)
    text = ", ".join(items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _within(path: Path, other: Path) -> bool:
    """Whether ``path`` is ``other`` or one of its parents (both resolved)."""
    return path == other or path in other.parents


def check_location(
    path: Path,
    *,
    protected: Sequence[Path] = (),
    expected_other: str,
    inside_inputs: bool = True,
) -> Path:
    """Raise :class:`OutputFolderError` when ``path`` is a place natplan must never write
    whatever it holds, and return it resolved.

    Refused: a symbolic link, the root of the file system, the current folder or one of its
    parents, a ``protected`` input (the scenario folder, an OSM extract) or a folder containing
    one — or, unless ``inside_inputs``, a folder inside one —, an existing non-folder and a
    mount point. ``expected_other`` says what to choose instead.
    """
    path = Path(path)
    if path.is_symlink():
        raise refuse(path, "is a symbolic link", "give the folder itself")
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise refuse(path, "is the root of the file system", expected_other)
    if _within(resolved, Path.cwd().resolve()):
        raise refuse(path, "is the folder you are in, or one of its parents", expected_other)
    for item in protected:
        item_resolved = Path(item).resolve()
        if _within(resolved, item_resolved):
            raise refuse(path, f"is or contains an input of this run ({item})", expected_other)
        if not inside_inputs and item_resolved in resolved.parents:
            raise refuse(path, f"is inside an input of this run ({item})", expected_other)
    if path.exists():
        if not path.is_dir():
            raise refuse(path, "exists and is not a folder", expected_other)
        if os.path.ismount(resolved):
            raise refuse(path, "is a mount point", "give a folder inside it")
    return resolved


def check_output_folder(
    path: Path,
    *,
    kind: Kind,
    overwrite: bool = True,
    protected: Sequence[Path] = (),
) -> None:
    """Raise :class:`OutputFolderError` unless natplan may write its ``kind`` of output to ``path``.

    ``protected`` are inputs of the run (the scenario folder, an OSM extract): ``path`` may be
    neither one of them nor a folder that contains one. ``overwrite=False`` refuses any
    non-empty folder, even natplan's own (``generate`` without ``--overwrite``).
    """
    path = Path(path)
    expected_other = "choose a new or empty folder, or one natplan wrote before"
    resolved = check_location(path, protected=protected, expected_other=expected_other)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise refuse(path, "exists and is not empty", "use --overwrite or a new folder")
        foreign = foreign_entries(path, kind)
        if foreign is None:
            raise refuse(
                path,
                f"holds files natplan did not write (no {MARKER} of a natplan {kind})",
                expected_other + "; natplan never replaces your own files",
            )
        if foreign:
            raise refuse(
                path,
                f"holds files natplan did not write: {_listing(foreign)}",
                "move them elsewhere first; natplan never replaces your own files",
            )
    check_writable(resolved.parent)


def check_writable(folder: Path) -> None:
    """Raise :class:`OutputFolderError` unless a file can be created in ``folder``.

    When ``folder`` does not exist yet, its nearest existing parent must be writable.
    """
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise refuse(folder, f"cannot be created: {existing} is not a folder", "another folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".natplan-probe.", dir=existing)
    except OSError as error:
        raise refuse(
            folder, f"cannot write into {existing}: {error.strerror}", "a writable folder"
        ) from None
    os.close(handle)
    os.unlink(probe)
