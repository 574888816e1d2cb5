"""One natplan run at a time per output folder.

Two plans written into the same folder at once would both report success while the last one
silently wins (or fail half-way). :func:`folder_lock` takes an exclusive, non-blocking
``flock`` on ``.OUT.lock`` beside the folder for the whole write; a second run is refused with
exit code 2 at once. ``natplan plan`` takes it before loading the scenario and holds it to the
end, so two runs never both report success for one folder. Nested use in one process is fine.
The lock file is removed on release; the kernel releases the lock when a process dies, so a
killed run never blocks the next one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sampling.files.ownership import refuse

_held: set[Path] = set()
"""Lock files this process holds (a nested :func:`folder_lock` must not lock itself out)."""


def lock_path(path: Path) -> Path:
    """The lock file of output folder ``path`` (a hidden sibling)."""
    return path.parent / f".{path.name}.lock"


@contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of output folder ``path``; raise OutputFolderError if taken."""
    if sys.platform == "win32":  # pragma: no cover - natplan is run on Linux and macOS
        yield
        return
    import fcntl

    target = lock_path(Path(os.path.abspath(path)))
    if target in _held:
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise refuse(
                path,
                "is being written by another natplan run",
                "wait for it to finish, or write to another folder",
            ) from None
        try:  # the holder before us may have removed the file after we opened it
            current = os.stat(target).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(handle)
    _held.add(target)
    try:
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        yield
    finally:
        _held.discard(target)
        try:
            os.unlink(target)
        finally:
            os.close(handle)
