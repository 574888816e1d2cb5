"""Safe, collision-free file names for ids that come from the planner's tables.

Grid, point and team ids are whatever a district typed into its spreadsheet: ``一区/3网格``,
``../x``, 100 Chinese characters, a NUL byte, ``A#1`` and ``a#1``. Every document named after
an id goes through :func:`file_stems`, which returns a name that

* contains no path separator, control character or character Windows forbids, and is never
  ``.``/``..``, hidden, or a reserved device name (``CON``, ``NUL``, ``COM1`` …);
* is at most :data:`MAX_STEM_BYTES` bytes of UTF-8, so ``<stem>.html`` fits every file system;
* differs from every other id's name even where the file system ignores case (Windows, macOS).

An id that is already safe keeps its exact name, so ordinary plans keep their familiar paths;
any other id gets its cleaned name plus a short hash of the original id (deterministic, so
the same id has the same file in every run). Pages always show the original id; links use
:func:`href`, which percent-encodes the name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

MAX_STEM_BYTES = 120
"""Bytes of UTF-8 in a file stem: ext4/APFS/NTFS allow 255 per name; this leaves room for the
suffix, the hash and the temporary prefixes of atomic writes (``.<name>.XXXXXXXX.tmp``)."""

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|#%]')
"""Characters that are separators, control codes, forbidden on Windows, or break a URL."""

_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
"""Windows device names: ``NUL.html`` cannot be created there."""


def _clean(identifier: str) -> str:
    """``identifier`` with unsafe characters replaced and dots/spaces trimmed at the ends."""
    text = unicodedata.normalize("NFC", identifier)
    text = _UNSAFE.sub("_", text).strip(" .")
    if not text or text.split(".")[0].upper() in _RESERVED:
        text = f"_{text}"
    return text


def _truncate(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` UTF-8 bytes (whole characters)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore").rstrip(" .")


def _hashed(identifier: str, clean: str) -> str:
    """``clean`` shortened to fit, plus 8 hex digits of the SHA-256 of ``identifier``."""
    digest = hashlib.sha256(identifier.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
    return f"{_truncate(clean, MAX_STEM_BYTES - 9)}~{digest}"


def file_stems(identifiers: Iterable[str]) -> dict[str, str]:
    """Map each distinct id to a safe file stem, unique without regard to case.

    Ids that are safe as they are, short enough and not a case-variant of another id keep
    their own text; every other id gets a cleaned, shortened name with a hash of the id.
    """
    ids = sorted(set(identifiers))
    folded = Counter(i.casefold() for i in ids)
    stems: dict[str, str] = {}
    for identifier in ids:
        clean = _clean(identifier)
        keep = (
            clean == identifier
            and len(clean.encode("utf-8")) <= MAX_STEM_BYTES
            and folded[identifier.casefold()] == 1
            and "~" not in identifier
        )
        stems[identifier] = clean if keep else _hashed(identifier, clean)
    taken = Counter(s.casefold() for s in stems.values())
    clashes = [s for s, n in taken.items() if n > 1]
    if clashes:  # would need a SHA-256 prefix collision; refuse rather than overwrite
        raise ValueError(f"file names collide for ids: {clashes[:5]}")
    return stems


def href(relative_path: str) -> str:
    """``relative_path`` as a link target: every character outside ``A-Za-z0-9/._-~`` encoded."""
    return quote(relative_path, safe="/~")


def inside(root: Path, relative_path: str) -> Path:
    """``root / relative_path``, refusing any path that would resolve outside ``root``."""
    root_resolved = root.resolve()
    target = (root / relative_path).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise ValueError(f"{relative_path!r} would be written outside {root}")
    return root / relative_path


@dataclass(frozen=True)
class DocumentPaths:
    """Relative paths of the per-point, per-grid and per-team documents of one plan.

    Built once from every id of the plan, so two ids can never map to the same file; the
    stems are stable across runs (see :func:`file_stems`).
    """

    points: Mapping[str, str]
    grids: Mapping[str, str]
    teams: Mapping[str, str]

    @classmethod
    def of(
        cls, point_ids: Iterable[str], grid_ids: Iterable[str], team_ids: Iterable[str]
    ) -> DocumentPaths:
        """Safe stems for each kind of id (each kind has its own folder)."""
        return cls(file_stems(point_ids), file_stems(grid_ids), file_stems(team_ids))

    def point(self, point_id: str) -> str:
        """``points/<stem>.html``: the point's work sheet."""
        return f"points/{self.points[point_id]}.html"

    def grid(self, grid_id: str, suffix: str = ".html") -> str:
        """``grids/<stem>.html`` or ``.csv``: the grid's call list."""
        return f"grids/{self.grids[grid_id]}{suffix}"

    def team(self, team_id: str) -> str:
        """``teams/<stem>.html``: the home-visit team's itinerary."""
        return f"teams/{self.teams[team_id]}.html"
