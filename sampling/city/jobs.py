"""One unit of distributed work: plan one scenario folder into one output folder.

A :class:`Job` holds only paths and a few header values, so sending it to a worker costs a few
hundred bytes whatever the district's size; the worker reads the scenario itself (workers must
see the same paths: one machine, a shared file system, or folders copied to the same place).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sampling import __version__

ErrorKind = Literal["", "input", "internal"]


def district_seed(name: str, base: int = 0) -> int:
    """The planning seed of the district (or variant) called ``name``: a hash of the name.

    Fixed by the name alone (and ``base``), so a city plans the same whatever the number of
    workers or the order they finish in; ``natplan plan DIR --seed <seed>`` repeats one alone.
    """
    digest = hashlib.sha256(f"{base}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


@dataclass(frozen=True)
class Job:
    """Plan ``scenario_dir`` (with header ``defaults`` under and ``overrides`` over its own
    values, and ``staff_ratio`` applied to a copy of its teams) into ``out_dir``."""

    name: str
    scenario_dir: str
    out_dir: str
    seed: int
    time_limit: float
    lang: str = "zh"
    wall_limit: float | None = None  # None: the default safety stop (sampling.stages.limits)
    defaults: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    staff_ratio: float | None = None

    def fingerprint(self) -> str:
        """A digest of everything the plan depends on: the job's values, natplan's version,
        and the name, size and modification time of every file in the scenario folder.

        A rerun skips a job whose finished folder was written for the same fingerprint, so an
        edited table or header (or another time limit) is planned again.
        """
        values = asdict(self)
        values.pop("out_dir")
        values["version"] = __version__
        values["files"] = _file_stats(Path(self.scenario_dir))
        text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def input_bytes(self) -> int:
        """Bytes in the scenario folder: the size used to start the largest jobs first."""
        return sum(size for _, size, _ in _file_stats(Path(self.scenario_dir)))


def _file_stats(root: Path) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of every regular file below ``root``, sorted."""
    out: list[tuple[str, int, int]] = []
    if not root.is_dir():
        return out
    for base, _, files in os.walk(root):
        for name in files:
            path = Path(base) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(out)


@dataclass(frozen=True)
class JobResult:
    """What a worker reports back for one job: small, whatever the district's size.

    ``error_kind``: ``""`` (planned), ``"input"`` (the scenario or the output folder is wrong:
    the message lists every problem, as ``natplan plan`` prints it) or ``"internal"`` (a bug,
    or a worker that died). ``peak_rss_mib`` is the worker process's peak resident memory so
    far (a worker plans one job at a time, so this is at least the largest job it ran).
    """

    name: str
    error_kind: ErrorKind = ""
    error: str = ""
    seconds: float = 0.0
    worker: str = ""
    peak_rss_mib: float = 0.0
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Whether the job's plan folder holds its plan (planned now or up to date)."""
        return self.error_kind == ""
