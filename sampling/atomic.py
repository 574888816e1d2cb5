"""Writing outputs so a failed run never leaves half-written files.

Files are written to a temporary sibling and renamed into place (``os.replace`` is atomic on
one file system). A folder of outputs is built in a temporary sibling folder and swapped in
only when complete, so an earlier folder stays intact if anything fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temp_path = Path(temporary)
    try:
        yield temp_path
        temp_path.chmod(0o644)  # mkstemp makes 0600
        os.replace(temp_path, path)
    finally:
        temp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; on success it becomes ``path``.

    An existing ``path`` is replaced only after the new folder is complete (and only when
    ``overwrite``; otherwise a non-empty existing folder raises FileExistsError up front).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent))
    staging.chmod(0o755)  # mkdtemp makes 0700; outputs are for others to read too
    try:
        yield staging
        if path.exists():
            retired = Path(
                tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent)
            )
            os.replace(path, retired / "previous")
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
