"""Writing outputs so a failed or interrupted run never leaves half-written files.

Files are written to a temporary sibling and renamed into place (``os.replace`` is atomic on
one file system). A folder of outputs is built in a temporary sibling folder (``.OUT.*.new``)
and swapped in only when complete, so an earlier folder stays intact if anything fails:

* only folders natplan wrote are ever replaced (:mod:`sampling.files.ownership`);
* one run at a time writes a given folder (:mod:`sampling.files.lock`), a second one is
  refused with exit code 2;
* the swap is one atomic exchange where the system has it (Linux ``renameat2``), otherwise two
  renames; a kill between those two leaves the old folder in ``.OUT.*.old/previous``, and the
  next run puts it back;
* temporary siblings left by a killed run are removed by the next run into the same folder;
* while a run writes, its temporary folder is registered with :mod:`sampling.interrupt`, which
  removes it when Ctrl-C has to stop the process the hard way.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sampling import interrupt
from sampling.files.lock import folder_lock
from sampling.files.ownership import Kind, check_output_folder, is_natplan_folder, write_marker

STAGING_MARKER = ".natplan-staging"
"""Written first into every temporary folder, so a later run knows the folder is its own."""


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
def atomic_dir(
    path: Path,
    *,
    kind: Kind,
    overwrite: bool = True,
    protected: Sequence[Path] = (),
) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; on success it becomes ``path``.

    ``path`` must be absent, empty, or a folder natplan wrote for the same ``kind`` holding
    nothing else (see :func:`sampling.files.ownership.check_output_folder`; ``overwrite=False``
    refuses any non-empty folder); otherwise :class:`~sampling.files.ownership.OutputFolderError`
    is raised before anything is written. On success the new folder carries natplan's marker.
    """
    path = Path(path)
    check_output_folder(path, kind=kind, overwrite=overwrite, protected=protected)
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(path):
        clean_stale_siblings(path)
        check_output_folder(path, kind=kind, overwrite=overwrite, protected=protected)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent))
        interrupt.register_cleanup(staging)
        try:
            (staging / STAGING_MARKER).touch()
            staging.chmod(0o755)  # mkdtemp makes 0700; outputs are for others to read too
            yield staging
            (staging / STAGING_MARKER).unlink()
            write_marker(staging, kind)
            _swap_in(staging, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            interrupt.unregister_cleanup(staging)


def _swap_in(staging: Path, path: Path) -> None:
    """Make ``staging`` the folder at ``path``; the old ``path`` (if any) ends up in ``staging``."""
    if not path.exists():
        os.replace(staging, path)
        return
    if _exchange(staging, path):
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, retired / "previous")
    os.replace(staging, path)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _sibling_pattern(path: Path) -> re.Pattern[str]:
    """Names ``tempfile.mkdtemp`` gives this module's temporary siblings of ``path``."""
    return re.compile(re.escape(f".{path.name}.") + r"[A-Za-z0-9_]{8}\.(new|old)")


def clean_stale_siblings(path: Path) -> list[Path]:
    """Remove temporary siblings of ``path`` that killed runs left; restore a stranded ``path``.

    Call only while holding :func:`~sampling.files.lock.folder_lock` for ``path``. A sibling is
    removed only when its name is one this module gives and its content is natplan's own.
    """
    pattern = _sibling_pattern(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for sibling in sorted(path.parent.iterdir()):
        match = pattern.fullmatch(sibling.name)
        if not match or sibling.is_symlink() or not sibling.is_dir():
            continue
        if match.group(1) == "new":
            if not ((sibling / STAGING_MARKER).is_file() or is_natplan_folder(sibling)):
                continue  # (after an exchange, .new holds the previous folder)
        else:
            previous = sibling / "previous"
            others = [e for e in sibling.iterdir() if e.name != "previous"]
            if others or (previous.exists() and not is_natplan_folder(previous)):
                continue
            if previous.is_dir() and not path.exists():
                os.replace(previous, path)  # a run was killed between its two renames
        shutil.rmtree(sibling, ignore_errors=True)
        removed.append(sibling)
    return removed
